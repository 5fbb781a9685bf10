//! `POST /internal/progress/{job}/{token}?part=…&attempt=…`: the worker's progress
//! reports. Anonymous; the token in the URL (HMAC of the job id, in its own domain: it
//! cannot post a completion) is the proof, and part and attempt are checked against the
//! job's record by its object. Each report is one cheap Durable Object call (load,
//! apply, save), so the job shows PROCESSING with it whatever the status poll period.

use worker::wasm_bindgen::JsValue;
use worker::{Env, Headers, Method, Request, RequestInit, Response};

use super::job_object::ProgressBody;
use super::util::{self, internal};
use crate::api_error::ApiError;

/// A report is one small [`job_spec::Progress`] object.
const MAX_PROGRESS_BYTES: usize = 4 << 10;

pub async fn post(mut req: Request, env: &Env, job_id: &str, token: &str) -> Result<Response, ApiError> {
    let cfg = util::config(env)?;
    let is_job_id = job_id.len() == 64 && job_id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !is_job_id || !crate::token::verify_progress_token(&cfg.webhook_token_secret, job_id, token) {
        return Err(ApiError::unauthorized());
    }
    let url = req.url().map_err(internal("url"))?;
    let query = |k: &str| url.query_pairs().find(|(n, _)| n == k).map(|(_, v)| v.into_owned());
    let bad = |m: &str| ApiError::new(400, "invalid-progress", m.to_owned());
    let part = query("part").and_then(|v| v.parse::<usize>().ok()).ok_or_else(|| bad("`part` is missing or not a number"))?;
    let attempt = query("attempt").and_then(|v| v.parse::<u32>().ok()).ok_or_else(|| bad("`attempt` is missing or not a number"))?;
    let body = util::read_body(&mut req, MAX_PROGRESS_BYTES).await?;
    let progress: job_spec::Progress = serde_json::from_slice(&body).map_err(|_| bad("the body is not a progress object"))?;
    let body = serde_json::to_string(&ProgressBody { part, attempt, progress }).map_err(|e| ApiError::internal(e.to_string()))?;
    let ns = env.durable_object("JOBS").map_err(internal("JOBS binding"))?;
    // Not every 64-hex string is a Durable Object id (ids carry a checksum): unknown job.
    let stub = ns.id_from_string(job_id).map_err(|_| ApiError::not_found())?.get_stub().map_err(internal("job stub"))?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post);
    let h = Headers::new();
    h.set("content-type", "application/json").map_err(internal("headers"))?;
    h.set("x-request-id", &util::request_id()).map_err(internal("headers"))?;
    init.with_headers(h).with_body(Some(JsValue::from_str(&body)));
    let do_req = Request::new_with_init("https://do/progress", &init).map_err(internal("job request"))?;
    let resp = stub.fetch_with_request(do_req).await.map_err(internal("job object"))?;
    match resp.status_code() {
        404 => Err(ApiError::not_found()),
        200 => Ok(Response::empty().map_err(internal("response"))?.with_status(204)),
        s => Err(ApiError::internal(format!("job object answered {s}"))),
    }
}
