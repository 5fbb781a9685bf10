//! Small helpers for the Workers runtime: config loading, JSON responses, clocks, ids,
//! structured logs.

use std::rc::Rc;
use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use serde::Serialize;
use serde::de::DeserializeOwned;
use worker::wasm_bindgen_futures::JsFuture;
use worker::{Env, Request, Response, Result};

use crate::api_error::ApiError;
use crate::body::CappedBody;
use crate::config::EdgeConfig;

thread_local! {
    static CONFIG: std::cell::OnceCell<Rc<EdgeConfig>> = const { std::cell::OnceCell::new() };
}

/// Reads every setting from Worker secrets, falling back to vars, once per isolate:
/// secrets and vars are fixed for an isolate's life (changing one deploys a new
/// version), and parsing them on every request and alarm cost each a few hundred µs.
/// A misconfiguration is not cached, so it is logged on every use.
pub fn config(env: &Env) -> std::result::Result<Rc<EdgeConfig>, ApiError> {
    if let Some(c) = CONFIG.with(|c| c.get().cloned()) {
        return Ok(c);
    }
    let parsed = EdgeConfig::from_lookup(|k| env.secret(k).ok().map(|s| s.to_string()).or_else(|| env.var(k).ok().map(|v| v.to_string())))
        .map_err(|e| {
            log(&serde_json::json!({"level": "error", "msg": "configuration", "error": e}));
            ApiError::new(500, "misconfigured", "the service is misconfigured; see the Worker logs")
        })?;
    Ok(CONFIG.with(|c| c.get_or_init(|| Rc::new(parsed)).clone()))
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

thread_local! {
    static REQUEST_ID: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// The id of the request (or alarm) being served: every log line carries it. The
/// isolate is single-threaded; Durable Objects take it from the `x-request-id` their
/// caller sends.
pub fn request_id() -> String {
    REQUEST_ID.with(|r| r.borrow().clone())
}

pub fn set_request_id(id: &str) {
    REQUEST_ID.with(|r| *r.borrow_mut() = id.to_owned());
}

/// Entering a Durable Object's `fetch`.
pub fn enter(req: &worker::Request) {
    let id = req.headers().get("x-request-id").ok().flatten().unwrap_or_else(random_id);
    set_request_id(&id);
}

/// Entering a Durable Object's alarm.
pub fn enter_alarm() {
    set_request_id(&format!("alarm-{}", random_id()));
}

/// One structured JSON log line, with the request id. Webhook tokens and URL queries
/// (presigned signatures) are redacted from every string in it.
pub fn log(v: &serde_json::Value) {
    let mut v = v.clone();
    crate::redact::redact_json(&mut v);
    if let Some(m) = v.as_object_mut() {
        m.entry("request_id").or_insert_with(|| serde_json::Value::String(request_id()));
    }
    worker::console_log!("{}", v);
}

/// Maps a runtime error to a 500 without leaking details.
pub fn internal(context: &str) -> impl Fn(worker::Error) -> ApiError + '_ {
    move |e| {
        log(&serde_json::json!({"level": "error", "msg": context, "error": e.to_string()}));
        ApiError::internal(format!("{context} failed"))
    }
}

/// Output download URL: public base URL when configured, else a fresh presigned GET.
pub fn url_of(cfg: &EdgeConfig) -> impl Fn(&str) -> String + '_ {
    let now = now_system();
    move |key: &str| match &cfg.public_output_base_url {
        Some(base) => crate::presign::public_url(base, key),
        None => crate::presign::presign(&cfg.s3, crate::presign::Method::Get, key, cfg.download_url_ttl, now).unwrap_or_default(),
    }
}

/// The JSON body of a request between the edge's own parts (an object's call, the
/// worker's callback), read whole by the runtime — one promise, then serde_json on the
/// string. workers-rs's `Request::json` walks the parsed JS object through
/// serde_wasm_bindgen, and its `Response::json` reads the stream chunk by chunk through a
/// reader: each costs many more calls between wasm and JavaScript, which showed in the
/// edge's CPU profile on every job.
pub async fn request_json<T: DeserializeOwned>(req: &Request) -> Result<T> {
    body_json(req.inner().text()?).await
}

/// [`request_json`] for a response (a Durable Object's answer, RunPod's).
pub async fn response_json<T: DeserializeOwned>(resp: &Response) -> Result<T> {
    body_json(web_sys_response(resp).text()?).await
}

/// The body of `resp` as text, read the same way.
pub async fn response_text(resp: &Response) -> Result<String> {
    body_text(web_sys_response(resp).text()?).await
}

fn web_sys_response(resp: &Response) -> worker::web_sys::Response {
    resp.into()
}

/// The string a body's `text()` promise resolves to.
async fn body_text(text: worker::js_sys::Promise) -> Result<String> {
    let v = JsFuture::from(text).await?;
    v.as_string().ok_or_else(|| worker::Error::RustError("the body is not text".into()))
}

async fn body_json<T: DeserializeOwned>(text: worker::js_sys::Promise) -> Result<T> {
    serde_json::from_str(&body_text(text).await?).map_err(worker::Error::from)
}

/// Reads a request body of at most `cap` bytes from its stream, chunk by chunk: past
/// the cap (declared or seen) it answers 413 `body-too-large` at once, and dropping the
/// stream cancels the rest of the upload. No body reads as empty.
pub async fn read_body(req: &mut Request, cap: usize) -> std::result::Result<Vec<u8>, ApiError> {
    let too_large = || ApiError::new(413, "body-too-large", format!("request bodies are limited to {cap} bytes"));
    let declared = req.headers().get("content-length").ok().flatten();
    let mut body = CappedBody::new(cap, declared.as_deref()).map_err(|_| too_large())?;
    if req.inner().body().is_none() {
        return Ok(vec![]);
    }
    let mut stream = req.stream().map_err(internal("reading the body"))?;
    while let Some(chunk) = stream.next().await {
        body.push(&chunk.map_err(internal("reading the body"))?).map_err(|_| too_large())?;
    }
    Ok(body.into_bytes())
}
