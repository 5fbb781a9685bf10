//! RunPod REST client: `/run` (with webhook and policy), `/status`, `/cancel`, `/health`.
//! The base URL is configuration: RunPod in production, `gpu-worker serve` locally.

use serde_json::{Value, json};
use worker::wasm_bindgen::JsValue;
use worker::{Fetch, Headers, Method, Request, RequestInit};

use crate::config::EdgeConfig;

#[derive(Debug)]
pub enum RunpodError {
    /// Could not reach RunPod, or it answered 5xx.
    Unavailable(String),
    /// RunPod refused the request (4xx) or answered something unreadable.
    Refused(String),
    /// RunPod does not know the job (404 from `/status` or `/cancel`).
    NotFound(String),
}

impl std::fmt::Display for RunpodError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunpodError::Unavailable(m) => write!(f, "unavailable: {m}"),
            RunpodError::Refused(m) => write!(f, "refused: {m}"),
            RunpodError::NotFound(m) => write!(f, "not found: {m}"),
        }
    }
}

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
    let mut resp = Fetch::Request(req).send().await.map_err(|e| RunpodError::Unavailable(e.to_string()))?;
    let status = resp.status_code();
    let text = resp.text().await.map_err(|e| RunpodError::Unavailable(e.to_string()))?;
    if status >= 500 {
        return Err(RunpodError::Unavailable(format!("HTTP {status}")));
    }
    if status == 404 {
        return Err(RunpodError::NotFound(format!("HTTP 404: {}", text.chars().take(300).collect::<String>())));
    }
    if !(200..300).contains(&status) {
        return Err(RunpodError::Refused(format!("HTTP {status}: {}", text.chars().take(300).collect::<String>())));
    }
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
