//! edge: the Cloudflare Worker in front of api-gpu.
//!
//! Pure modules (config, auth, presigning, tokens, routes, job records, the backend's
//! answers and health cache, capped bodies) compile and are tested natively; the Workers
//! runtime glue (`worker_entry`, handlers, the Job Durable Object, the RunPod client)
//! exists only on wasm32.

pub mod api_error;
pub mod auth;
pub mod backend;
pub mod body;
pub mod config;
pub mod fanout;
pub mod pipeline;
pub mod presign;
pub mod providers;
pub mod record;
pub mod redact;
pub mod routes;
pub mod tenant;
pub mod token;
pub mod webhook;

#[cfg(target_arch = "wasm32")]
mod wasm;
