//! job-spec: the wire types of every api-gpu operation, their validation, and pure
//! planning, shared by the edge (compiled to wasm32) and the GPU worker.
//!
//! No I/O, no clock, no randomness that is not passed in.

pub mod captions;
pub mod job;
pub mod kenburns;
pub mod media;
pub mod openapi;
pub mod ops;
pub mod plan;
pub mod problem;
pub mod request;
pub mod transcript;
pub mod validate;
pub mod values;
pub mod worker;

pub use job::{JobError, JobStatus, JobView};
pub use media::{MediaRef, RefContext};
pub use plan::{Plan, PlanError, plan};
pub use problem::Problem;
pub use request::{JobRequest, OpRequest, Operation};
pub use validate::validate;
pub use values::{ZoomType, alignment_number, parse_hex_color, resolution_height};
pub use worker::{Progress, Task, WorkerError, WorkerJob, WorkerOutput};
