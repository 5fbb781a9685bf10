//! Workers runtime glue (wasm32 only): the fetch entry, handlers, the Job Durable
//! Object and the RunPod client. Logic lives in the pure modules of the crate.

mod handlers;
mod job_object;
mod runpod;
mod util;

use worker::{Context, Env, Request, Response, Result, event};

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let request_id = req.headers().get("cf-ray")?.unwrap_or_else(util::random_id);
    let started = worker::Date::now().as_millis();
    let (method, path) = (req.method().to_string(), req.path());
    let mut resp = match handlers::dispatch(req, &env, &request_id).await {
        Ok(r) => r,
        Err(e) => util::error_response(&e)?,
    };
    let h = resp.headers_mut();
    h.set("x-request-id", &request_id)?;
    h.set("x-content-type-options", "nosniff")?;
    h.set("referrer-policy", "no-referrer")?;
    h.set("cache-control", "no-store")?;
    util::log(&serde_json::json!({
        "level": "info",
        "request_id": request_id,
        "method": method,
        "path": path,
        "status": resp.status_code(),
        "ms": worker::Date::now().as_millis().saturating_sub(started),
    }));
    Ok(resp)
}
