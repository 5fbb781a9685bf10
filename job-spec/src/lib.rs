//! job-spec: the wire types of every api-gpu operation, their validation, and pure
//! planning, shared by the edge (compiled to wasm32) and the GPU worker.
//!
//! No I/O, no clock, no randomness that is not passed in.
//!
//! Modules import one way. The layers below run bottom to top: each module names
//! (`crate::x`, `super::x`) only modules listed before it, so there are no import cycles
//! (`tests/import_order.rs` checks it against the same list).
//!
//! - [`problem`]: a problem of a request, with its JSON path and stable code;
//! - [`limits`]: the sizes, counts, ranges and accepted values a request must respect;
//! - [`values`]: parsed forms of request values (zoom, easing, colours, alignments, resolutions);
//! - [`media`]: media references (URLs, object keys), file names, content types;
//! - [`formats`]: the string formats and patterns of the OpenAPI schema;
//! - [`kenburns`]: Ken Burns crop boxes, frame by frame;
//! - [`timing`]: frame counts from durations, default frame size, pixels of a render;
//! - [`ops`]: the request body of every operation;
//! - [`request`]: operations and parsing a request body into a job request;
//! - [`captions`]: ASS subtitles from SRT cues and word timings;
//! - [`ass_sanitizer`]: a user's ASS file re-emitted with bounded values for libass;
//! - [`transcript`]: transcription results and the files written from them;
//! - [`youtube`]: YouTube video ids, the player endpoint's answer, caption track choice;
//! - [`youtube_captions`]: YouTube's json3 captions read into a transcript;
//! - [`mod@validate`]: every problem of a request at once;
//! - [`worker`]: the worker's payload: tasks, progress, outputs, errors;
//! - [`mod@plan`]: from a validated request to the worker's task;
//! - [`job`]: the job object the API answers with;
//! - [`openapi`]: the OpenAPI document.

pub mod ass_sanitizer;
pub mod captions;
pub mod formats;
pub mod job;
pub mod kenburns;
pub mod limits;
pub mod media;
pub mod openapi;
pub mod ops;
pub mod plan;
pub mod problem;
pub mod request;
pub mod timing;
pub mod transcript;
pub mod validate;
pub mod values;
pub mod worker;
pub mod youtube;
pub mod youtube_captions;

pub use job::{JobError, JobStatus, JobView};
pub use media::{MediaRef, RefContext};
pub use plan::{Plan, PlanError, plan};
pub use problem::Problem;
pub use request::{JobRequest, OpRequest, Operation};
pub use validate::validate;
pub use values::{ZoomType, alignment_number, parse_hex_color, resolution_height};
pub use worker::{Progress, Task, WorkerError, WorkerJob, WorkerOutput};
