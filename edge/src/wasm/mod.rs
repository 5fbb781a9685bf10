//! Workers runtime glue (wasm32 only): the fetch entry, handlers, the Job and Tenant
//! Durable Objects and the RunPod client. Logic lives in the pure modules of the crate.

mod handlers;
mod job_object;
mod pipeline;
mod progress;
mod provider_job;
mod runpod;
mod tenant_object;
mod util;

use worker::{Context, Env, Method, Request, Response, Result, event};

use crate::routes::route;

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let request_id = req.headers().get("cf-ray")?.unwrap_or_else(util::random_id);
    util::set_request_id(&request_id);
    let started = worker::Date::now().as_millis();
    let (method, path) = (req.method(), req.path());
    let origin = req.headers().get("origin")?;
    let cors = match (&origin, util::config(&env)) {
        (Some(o), Ok(cfg)) => cfg.cors_allow(o),
        _ => None,
    };
    let mut resp = if method == Method::Options {
        // CORS preflight: answered for any route; the browser checks the allow headers.
        let mut r = Response::empty()?.with_status(204);
        if cors.is_some() {
            let h = r.headers_mut();
            h.set("access-control-allow-methods", "GET, POST, OPTIONS")?;
            h.set("access-control-allow-headers", "authorization, x-api-key, content-type, idempotency-key")?;
            h.set("access-control-max-age", "600")?;
        }
        r
    } else {
        match handlers::dispatch(req, &env, route(method.as_ref(), &path)).await {
            Ok(r) => r,
            Err(e) => util::error_response(&e)?,
        }
    };
    let h = resp.headers_mut();
    h.set("x-request-id", &request_id)?;
    h.set("x-content-type-options", "nosniff")?;
    h.set("x-frame-options", "DENY")?;
    h.set("referrer-policy", "no-referrer")?;
    h.set("content-security-policy", "default-src 'none'; frame-ancestors 'none'")?;
    h.set("strict-transport-security", "max-age=31536000; includeSubDomains")?;
    h.set("cache-control", "no-store")?;
    if let Some(allow) = cors {
        h.set("access-control-allow-origin", &allow)?;
        h.set("access-control-expose-headers", "x-request-id, retry-after, idempotent-replayed")?;
        h.set("vary", "Origin")?;
    }
    util::log(&serde_json::json!({
        "level": "info",
        "msg": "request",
        "method": method.to_string(),
        "path": crate::redact::redact_path(&path),
        "status": resp.status_code(),
        "ms": worker::Date::now().as_millis().saturating_sub(started),
    }));
    Ok(resp)
}
