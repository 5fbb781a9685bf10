//! gpu-worker: the RunPod worker. Reads inputs from presigned GET URLs, renders with
//! ffmpeg, writes outputs to presigned PUT URLs; holds no storage credentials.

pub mod config;
mod cut;
pub mod encoder;
pub mod error;
pub mod executor;
pub mod fonts;
pub mod kenburns;
pub mod ops;
pub mod platform;
pub mod process;
pub mod progress_push;
pub mod render;
pub mod seed_task;
pub mod serve;
mod single;
pub mod transcribe;
pub mod transfer;
