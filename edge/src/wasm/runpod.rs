//! RunPod REST client: `/run` (with webhook and policy), `/status`, `/cancel`, `/health`.
//! The base URL is configuration: RunPod in production, `gpu-worker serve` locally.

use serde_json::{Value, json};
use worker::wasm_bindgen::JsValue;
use worker::{Fetch, Headers, Method, Request, RequestInit};

use std::cell::RefCell;

use crate::backend::{self, BackendError, HealthCache, HealthCheck, HealthLookup};
use crate::config::EdgeConfig;

/// How a call failed; classified by [`crate::backend::classify`] (429 is retried after
/// its `Retry-After`, not refused).
pub type RunpodError = BackendError;

async fn call(cfg: &EdgeConfig, method: Method, path: &str, body: Option<&Value>) -> Result<Value, RunpodError> {
    let url = format!("{}/v2/{}/{path}", cfg.runpod_base_url, cfg.runpod_endpoint_id);
    let headers = Headers::new();
    let set = |k: &str, v: &str| headers.set(k, v).map_err(|e| RunpodError::Refused(e.to_string()));
    set("authorization", &format!("Bearer {}", cfg.runpod_api_key))?;
    set("accept", "application/json")?;
    let mut init = RequestInit::new();
    init.with_method(method);
    if let Some(b) = body {
        set("content-type", "application/json")?;
        init.with_body(Some(JsValue::from_str(&b.to_string())));
    }
    init.with_headers(headers);
    let req = Request::new_with_init(&url, &init).map_err(|e| RunpodError::Refused(e.to_string()))?;
    let resp = Fetch::Request(req).send().await.map_err(|e| RunpodError::Unavailable(e.to_string()))?;
    let status = resp.status_code();
    let retry_after = resp.headers().get("retry-after").ok().flatten();
    let text = super::util::response_text(&resp).await.map_err(|e| RunpodError::Unavailable(e.to_string()))?;
    backend::classify(status, retry_after.as_deref(), &text, super::util::now_ms())?;
    serde_json::from_str(&text).map_err(|e| RunpodError::Refused(format!("unreadable answer: {e}")))
}

/// Submits a job; returns RunPod's id.
pub async fn run(cfg: &EdgeConfig, input: &job_spec::WorkerJob, webhook: &str) -> Result<String, RunpodError> {
    let body = json!({
        "input": input,
        "webhook": webhook,
        "policy": {
            "executionTimeout": cfg.execution_timeout.as_millis() as u64,
            "ttl": cfg.job_url_ttl().as_millis() as u64,
        }
    });
    let v = call(cfg, Method::Post, "run", Some(&body)).await?;
    v.get("id").and_then(Value::as_str).map(str::to_owned).ok_or_else(|| RunpodError::Refused("no id in /run answer".into()))
}

pub async fn status(cfg: &EdgeConfig, id: &str) -> Result<Value, RunpodError> {
    call(cfg, Method::Get, &format!("status/{id}"), None).await
}

pub async fn cancel(cfg: &EdgeConfig, id: &str) -> Result<Value, RunpodError> {
    call(cfg, Method::Post, &format!("cancel/{id}"), None).await
}

pub async fn health(cfg: &EdgeConfig) -> Result<Value, RunpodError> {
    call(cfg, Method::Get, "health", None).await
}

thread_local! {
    /// The isolate's last health check of the backend (isolates are single-threaded).
    static HEALTH: RefCell<HealthCache> = RefCell::default();
}

/// The backend's health, asked at most once per [`backend::HEALTH_TTL_MS`] by this
/// isolate, whoever calls (`GET /health` is anonymous).
pub async fn cached_health(cfg: &EdgeConfig) -> HealthCheck {
    if let HealthLookup::Cached(c) = HEALTH.with(|h| h.borrow_mut().lookup(super::util::now_ms())) {
        return c;
    }
    let result = health(cfg).await.map_err(|e| e.to_string());
    let check = HealthCheck { checked_ms: super::util::now_ms(), result };
    HEALTH.with(|h| h.borrow_mut().store(check.clone()));
    check
}
