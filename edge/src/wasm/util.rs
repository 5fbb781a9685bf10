//! Small helpers for the Workers runtime: config loading, JSON responses, clocks, ids,
//! structured logs.

use std::time::{Duration, SystemTime};

use serde::Serialize;
use worker::{Env, Response, Result};

use crate::api_error::ApiError;
use crate::config::EdgeConfig;

/// Reads every setting from Worker secrets, falling back to vars.
pub fn config(env: &Env) -> std::result::Result<EdgeConfig, ApiError> {
    EdgeConfig::from_lookup(|k| env.secret(k).ok().map(|s| s.to_string()).or_else(|| env.var(k).ok().map(|v| v.to_string()))).map_err(|e| {
        log(&serde_json::json!({"level": "error", "msg": "configuration", "error": e}));
        ApiError::new(500, "misconfigured", "the service is misconfigured; see the Worker logs")
    })
}

pub fn now_ms() -> i64 {
    worker::Date::now().as_millis() as i64
}

/// `SystemTime::now()` panics on wasm32: build it from `Date.now()`.
pub fn now_system() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(worker::Date::now().as_millis())
}

pub fn json<T: Serialize>(status: u16, body: &T) -> Result<Response> {
    Ok(Response::from_json(body)?.with_status(status))
}

pub fn error_response(e: &ApiError) -> Result<Response> {
    let mut r = Response::ok(e.body())?.with_status(e.status);
    r.headers_mut().set("content-type", "application/json")?;
    if let Some(s) = e.retry_after_secs {
        r.headers_mut().set("retry-after", &s.to_string())?;
    }
    Ok(r)
}

pub fn random_id() -> String {
    let hi = (worker::js_sys::Math::random() * 4_294_967_296.0) as u64;
    let lo = (worker::js_sys::Math::random() * 4_294_967_296.0) as u64;
    format!("{:016x}", (hi << 32) | lo)
}

pub fn log(v: &serde_json::Value) {
    worker::console_log!("{}", v);
}

/// Maps a runtime error to a 500 without leaking details.
pub fn internal(context: &str) -> impl Fn(worker::Error) -> ApiError + '_ {
    move |e| {
        log(&serde_json::json!({"level": "error", "msg": context, "error": e.to_string()}));
        ApiError::internal(format!("{context} failed"))
    }
}
