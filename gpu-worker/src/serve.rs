//! `gpu-worker serve`: a local server with RunPod's public REST shape, so the edge
//! runs unchanged against it in development and tests.
//!
//! `POST /v2/{endpoint}/run` · `POST /v2/{endpoint}/runsync` · `GET /v2/{endpoint}/status/{id}` ·
//! `POST /v2/{endpoint}/cancel/{id}` · `POST /v2/{endpoint}/retry/{id}` ·
//! `POST /v2/{endpoint}/purge-queue` · `GET /v2/{endpoint}/health`, with RunPod's
//! statuses, `policy.executionTimeout` and `policy.ttl`, bounded concurrency behind a
//! FIFO queue, progress in `/status`, and the completion webhook POSTed to the `/run`
//! request's `webhook`.
//!
//! The webhook URL is the caller's: it goes out through the transfers' guarded client
//! ([`transfer::client`]: public addresses only, checked redirects), never a plain one.
//! Without an API key anyone who reaches the port runs jobs, so [`serve`] binds a
//! non-loopback address only with a key ([`check_bind`]).

// Handlers return an axum `Response` as their error: it is what they answer with.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::FutureExt;
use job_spec::Progress;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::error::JobError;
use crate::executor::Executor;
use crate::{seed_task, transfer};

#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub endpoint_id: String,
    /// When set, requests must carry `Authorization: Bearer <key>` (or the raw key).
    pub api_key: Option<String>,
    /// Jobs running at once; the rest wait in FIFO order.
    pub concurrency: usize,
    /// Completion webhook: extra attempts after the first, and the pause between them
    /// (RunPod: 2 retries, 10 s apart).
    pub webhook_retries: u32,
    pub webhook_retry_delay: Duration,
    /// Used when `/run` gives no `policy.executionTimeout` (RunPod's default: 10 min).
    pub default_execution_timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    InQueue,
    InProgress,
    Completed,
    Failed,
    Cancelled,
    TimedOut,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::InQueue => "IN_QUEUE",
            Status::InProgress => "IN_PROGRESS",
            Status::Completed => "COMPLETED",
            Status::Failed => "FAILED",
            Status::Cancelled => "CANCELLED",
            Status::TimedOut => "TIMED_OUT",
        }
    }

    fn is_terminal(self) -> bool {
        !matches!(self, Status::InQueue | Status::InProgress)
    }
}

/// How long a timed-out job may take to stop its work once cancelled.
const CANCEL_GRACE: Duration = Duration::from_secs(10);
/// What `/run` asked for, kept so that `/retry` can run the job again as submitted.
#[derive(Clone)]
struct Spec {
    input: Value,
    webhook: Option<String>,
    timeout: Duration,
    /// `policy.ttl`: how long the job may wait in the queue, from (re)submission.
    ttl: Option<Duration>,
}

struct Entry {
    spec: Spec,
    /// Bumped by each `/retry`; a run only writes to the entry while it is the current one.
    run: u32,
    status: Status,
    created: Instant,
    started: Option<Instant>,
    finished: Option<Instant>,
    progress: Option<Progress>,
    output: Option<Value>,
    error: Option<String>,
    cancel: CancellationToken,
    done: Arc<Notify>,
}

impl Entry {
    fn view(&self, id: &str) -> Value {
        // A job that ended in the queue (cancelled, purged, ttl) stops waiting when it ends.
        let delay = self.started.or(self.finished).unwrap_or_else(Instant::now).duration_since(self.created).as_millis() as u64;
        let exec = self.started.map(|s| self.finished.unwrap_or_else(Instant::now).duration_since(s).as_millis() as u64);
        let mut v = json!({ "id": id, "status": self.status.as_str(), "delayTime": delay, "workerId": "local" });
        if let Some(e) = exec {
            v["executionTime"] = json!(e);
        }
        match self.status {
            // RunPod shows a running job's progress updates as its `output`.
            Status::InProgress => {
                if let Some(p) = &self.progress {
                    v["output"] = json!(p);
                }
            }
            _ => {
                if let Some(o) = &self.output {
                    v["output"] = o.clone();
                }
                if let Some(e) = &self.error {
                    v["error"] = json!(e);
                }
            }
        }
        v
    }
}

struct AppState {
    cfg: ServeConfig,
    exec: Executor,
    jobs: Mutex<HashMap<String, Entry>>,
    slots: Arc<Semaphore>,
    shutdown: CancellationToken,
}

type Shared = Arc<AppState>;

#[derive(Deserialize)]
struct RunBody {
    input: Value,
    #[serde(default)]
    webhook: Option<String>,
    #[serde(default)]
    policy: Option<Policy>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Policy {
    /// Milliseconds.
    execution_timeout: Option<u64>,
    /// Milliseconds the job may stay IN_QUEUE before it ends as TIMED_OUT unrun.
    ttl: Option<u64>,
}

/// Builds the router; `shutdown` cancels every job when it fires.
pub fn router(cfg: ServeConfig, exec: Executor, shutdown: CancellationToken) -> Router {
    let state = Arc::new(AppState {
        slots: Arc::new(Semaphore::new(cfg.concurrency.max(1))),
        cfg,
        exec,
        jobs: Mutex::new(HashMap::new()),
        shutdown,
    });
    Router::new()
        .route("/v2/{endpoint}/run", post(run))
        .route("/v2/{endpoint}/runsync", post(runsync))
        .route("/v2/{endpoint}/status/{id}", get(status))
        .route("/v2/{endpoint}/cancel/{id}", post(cancel))
        .route("/v2/{endpoint}/retry/{id}", post(retry))
        .route("/v2/{endpoint}/purge-queue", post(purge_queue))
        .route("/v2/{endpoint}/health", get(health))
        .with_state(state)
}

/// `serve` on `addr` with `api_key`: a loopback address is this machine's alone; any
/// other needs a (non-empty) key, or anyone on the network could run jobs (and send
/// their webhooks) through it.
pub fn check_bind(addr: SocketAddr, api_key: Option<&str>) -> Result<(), String> {
    if addr.ip().is_loopback() || api_key.is_some_and(|k| !k.is_empty()) {
        return Ok(());
    }
    Err(format!(
        "serve: refusing to listen on {addr} without an API key: anyone who reaches it could run jobs; \
         set RUNPOD_API_KEY (--api-key) or bind a loopback address (SERVE_HOST=127.0.0.1)"
    ))
}

/// Serves until `shutdown` fires; running jobs are cancelled (their ffmpeg killed).
/// Refuses to start where [`check_bind`] does.
pub async fn serve(addr: SocketAddr, cfg: ServeConfig, exec: Executor, shutdown: CancellationToken) -> std::io::Result<()> {
    check_bind(addr, cfg.api_key.as_deref()).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(addr = %listener.local_addr()?, endpoint = %cfg.endpoint_id, "serving RunPod-shaped API");
    let app = router(cfg, exec, shutdown.clone());
    axum::serve(listener, app).with_graceful_shutdown(async move { shutdown.cancelled().await }).await
}

fn error(status: StatusCode, msg: &str) -> Response {
    (status, Json(json!({ "error": msg }))).into_response()
}

fn authorize(state: &AppState, endpoint: &str, headers: &HeaderMap) -> Result<(), Response> {
    if endpoint != state.cfg.endpoint_id {
        return Err(error(StatusCode::NOT_FOUND, "endpoint not found"));
    }
    let Some(key) = &state.cfg.api_key else { return Ok(()) };
    let given = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let given = given.strip_prefix("Bearer ").unwrap_or(given);
    if bool::from(subtle::ConstantTimeEq::ct_eq(given.as_bytes(), key.as_bytes())) {
        Ok(())
    } else {
        Err(error(StatusCode::UNAUTHORIZED, "unauthorized"))
    }
}

async fn run(State(s): State<Shared>, Path(endpoint): Path<String>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    match submit(&s, &endpoint, &headers, &body) {
        Ok((id, _)) => (StatusCode::OK, Json(json!({ "id": id, "status": "IN_QUEUE" }))).into_response(),
        Err(r) => r,
    }
}

async fn runsync(State(s): State<Shared>, Path(endpoint): Path<String>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let (id, done) = match submit(&s, &endpoint, &headers, &body) {
        Ok(x) => x,
        Err(r) => return r,
    };
    // Like RunPod, answer after at most ~90 s with whatever status the job has. The
    // short sleep covers a job that ended before we started waiting on `done`.
    let deadline = Instant::now() + Duration::from_secs(90);
    while Instant::now() < deadline && !update(&s, &id, |e| e.status.is_terminal()) {
        tokio::select! {
            () = done.notified() => {}
            () = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
    }
    view(&s, &id)
}

fn submit(s: &Shared, endpoint: &str, headers: &HeaderMap, body: &[u8]) -> Result<(String, Arc<Notify>), Response> {
    authorize(s, endpoint, headers)?;
    let body: RunBody = serde_json::from_slice(body).map_err(|e| error(StatusCode::BAD_REQUEST, &format!("invalid body: {e}")))?;
    let id = uuid::Uuid::new_v4().to_string();
    let cancel = s.shutdown.child_token();
    let done = Arc::new(Notify::new());
    let policy = body.policy.unwrap_or_default();
    let spec = Spec {
        input: body.input,
        webhook: body.webhook,
        timeout: policy.execution_timeout.map_or(s.cfg.default_execution_timeout, Duration::from_millis),
        ttl: policy.ttl.map(Duration::from_millis),
    };
    let entry = Entry {
        spec: spec.clone(),
        run: 0,
        status: Status::InQueue,
        created: Instant::now(),
        started: None,
        finished: None,
        progress: None,
        output: None,
        error: None,
        cancel: cancel.clone(),
        done: done.clone(),
    };
    s.jobs.lock().unwrap_or_else(|p| p.into_inner()).insert(id.clone(), entry);
    tokio::spawn(run_job(s.clone(), id.clone(), 0, spec, cancel));
    Ok((id, done))
}

/// Waits for a slot (or the ttl, or cancellation), then runs run number `run` of job `id`.
async fn run_job(s: Shared, id: String, run: u32, spec: Spec, cancel: CancellationToken) {
    let Spec { input, webhook, timeout, ttl } = spec;
    let expired = async {
        match ttl {
            Some(ttl) => tokio::time::sleep(ttl).await,
            None => std::future::pending().await,
        }
    };
    // FIFO: tokio's semaphore is fair.
    let permit = tokio::select! {
        p = s.slots.clone().acquire_owned() => p,
        () = cancel.cancelled() => return,
        () = expired => {
            let err = format!("ttl of {} ms elapsed before the job started", ttl.unwrap_or_default().as_millis());
            finish(&s, &id, run, Status::TimedOut, None, Some(err), webhook).await;
            return;
        }
    };
    let Ok(_permit) = permit else { return };
    if !update(&s, &id, |e| {
        if e.run == run && e.status == Status::InQueue {
            e.status = Status::InProgress;
            e.started = Some(Instant::now());
            true
        } else {
            false
        }
    }) {
        return;
    }
    tracing::info!(job = %id, "started");
    // The edge's WorkerJob, or seed 004's task + parameters (crate::seed_task).
    let (status, output, err) = match seed_task::parse_input(input, s.exec.cfg.public_inputs.as_ref()) {
        Err(we) => {
            tracing::warn!(job = %id, code = %we.code, error = %we.message, "refused");
            (Status::Failed, None, Some(we.to_runpod_string()))
        }
        Ok(incoming) => {
            let progress = {
                let (s, id) = (s.clone(), id.clone());
                Arc::new(move |p: Progress| {
                    update(&s, &id, |e| {
                        e.progress = Some(p);
                        e.run == run
                    });
                }) as crate::executor::ProgressFn
            };
            // A panic fails the job instead of leaving it IN_PROGRESS forever.
            let execution = AssertUnwindSafe(s.exec.execute(incoming.job(), progress, &cancel)).catch_unwind();
            let execution = async { execution.await.unwrap_or_else(|panic| Err(JobError::from_panic(&id, panic.as_ref()))) };
            let mut execution = std::pin::pin!(execution);
            match tokio::time::timeout(timeout, &mut execution).await {
                Err(_) => {
                    // Cancel (kills ffmpeg, stops a transcription at its next window), then
                    // wait for the job to let go of its work before its slot is free.
                    cancel.cancel();
                    if tokio::time::timeout(CANCEL_GRACE, execution).await.is_err() {
                        tracing::error!(job = %id, grace = ?CANCEL_GRACE, "a timed-out job did not end when cancelled; dropped");
                    }
                    (Status::TimedOut, None, Some(format!("execution timeout of {} ms exceeded", timeout.as_millis())))
                }
                Ok(Ok(out)) => (Status::Completed, Some(incoming.output_value(&out)), None),
                Ok(Err(JobError::Cancelled)) => (Status::Cancelled, None, None),
                Ok(Err(e)) => {
                    tracing::warn!(job = %id, code = e.code(), error = %e, "failed");
                    (Status::Failed, None, Some(e.to_worker_error().to_runpod_string()))
                }
            }
        }
    };
    finish(&s, &id, run, status, output, err, webhook).await;
}

/// Ends run `run` of job `id` unless it ended meanwhile (cancelled, purged, retried),
/// then sends the webhook.
async fn finish(s: &AppState, id: &str, run: u32, status: Status, output: Option<Value>, err: Option<String>, webhook: Option<String>) {
    let mut body = None;
    update(s, id, |e| {
        if e.run != run || e.status.is_terminal() {
            return false;
        }
        e.status = status;
        e.finished = Some(Instant::now());
        e.output = output;
        e.error = err;
        e.done.notify_waiters();
        body = Some(e.view(id));
        true
    });
    if body.is_some() {
        tracing::info!(job = %id, status = status.as_str(), "finished");
    }
    if let (Some(url), Some(body)) = (webhook, body) {
        send_webhook(s, &url, &body).await;
    }
}

/// How long one webhook attempt may take.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(30);

/// POSTs the job's status to `url` through the executor's guarded client: an IP literal
/// that is not public is refused here (the resolver only sees names), a name that
/// resolves inward by the client's resolver, a redirect inward by its policy.
async fn send_webhook(s: &AppState, url: &str, body: &Value) {
    let url = match transfer::check_url(url, s.exec.cfg.allow_loopback_http) {
        Ok(u) => u,
        Err(e) => {
            let e = match e {
                transfer::TransferError::Refused(why) => why,
                other => format!("{other:?}"),
            };
            tracing::warn!(url = %transfer::redacted(url), error = %e, "webhook not sent");
            return;
        }
    };
    for attempt in 0..=s.cfg.webhook_retries {
        if attempt > 0 {
            tokio::time::sleep(s.cfg.webhook_retry_delay).await;
        }
        match s.exec.http.post(url.clone()).timeout(WEBHOOK_TIMEOUT).json(body).send().await {
            Ok(r) if r.status().is_success() => return,
            Ok(r) => tracing::warn!(url = %transfer::redacted(url.as_str()), status = %r.status(), attempt, "webhook refused"),
            Err(e) => tracing::warn!(url = %transfer::redacted(url.as_str()), error = %e.without_url(), attempt, "webhook failed"),
        }
    }
}

fn update(s: &AppState, id: &str, f: impl FnOnce(&mut Entry) -> bool) -> bool {
    let mut jobs = s.jobs.lock().unwrap_or_else(|p| p.into_inner());
    jobs.get_mut(id).is_some_and(f)
}

fn view(s: &AppState, id: &str) -> Response {
    let jobs = s.jobs.lock().unwrap_or_else(|p| p.into_inner());
    match jobs.get(id) {
        Some(e) => Json(e.view(id)).into_response(),
        None => error(StatusCode::NOT_FOUND, "job not found"),
    }
}

async fn status(State(s): State<Shared>, Path((endpoint, id)): Path<(String, String)>, headers: HeaderMap) -> Response {
    if let Err(r) = authorize(&s, &endpoint, &headers) {
        return r;
    }
    view(&s, &id)
}

async fn cancel(State(s): State<Shared>, Path((endpoint, id)): Path<(String, String)>, headers: HeaderMap) -> Response {
    if let Err(r) = authorize(&s, &endpoint, &headers) {
        return r;
    }
    let found = {
        let mut jobs = s.jobs.lock().unwrap_or_else(|p| p.into_inner());
        jobs.get_mut(&id).map(|e| {
            if !e.status.is_terminal() {
                e.status = Status::Cancelled;
                e.finished = Some(Instant::now());
                e.cancel.cancel();
                e.done.notify_waiters();
            }
            e.status
        })
    };
    match found {
        Some(st) => Json(json!({ "id": id, "status": st.as_str() })).into_response(),
        None => error(StatusCode::NOT_FOUND, "job not found"),
    }
}

/// Like RunPod: only a FAILED or TIMED_OUT job can be retried; it goes back to the
/// end of the queue with the input, webhook and policy it was submitted with.
async fn retry(State(s): State<Shared>, Path((endpoint, id)): Path<(String, String)>, headers: HeaderMap) -> Response {
    if let Err(r) = authorize(&s, &endpoint, &headers) {
        return r;
    }
    let (run, spec, cancel) = {
        let mut jobs = s.jobs.lock().unwrap_or_else(|p| p.into_inner());
        let Some(e) = jobs.get_mut(&id) else { return error(StatusCode::NOT_FOUND, "job not found") };
        if !matches!(e.status, Status::Failed | Status::TimedOut) {
            return error(StatusCode::BAD_REQUEST, &format!("job is {}; only FAILED or TIMED_OUT jobs can be retried", e.status.as_str()));
        }
        // A fresh token: an execution timeout cancels the previous run's token.
        let cancel = s.shutdown.child_token();
        e.run += 1;
        e.status = Status::InQueue;
        e.created = Instant::now();
        e.started = None;
        e.finished = None;
        e.progress = None;
        e.output = None;
        e.error = None;
        e.cancel = cancel.clone();
        (e.run, e.spec.clone(), cancel)
    };
    tracing::info!(job = %id, run, "retried");
    tokio::spawn(run_job(s.clone(), id.clone(), run, spec, cancel));
    Json(json!({ "id": id, "status": Status::InQueue.as_str() })).into_response()
}

/// Cancels every queued job (running ones carry on); no webhooks, as with `/cancel`.
async fn purge_queue(State(s): State<Shared>, Path(endpoint): Path<String>, headers: HeaderMap) -> Response {
    if let Err(r) = authorize(&s, &endpoint, &headers) {
        return r;
    }
    let removed = {
        let mut jobs = s.jobs.lock().unwrap_or_else(|p| p.into_inner());
        let mut removed = 0;
        for e in jobs.values_mut().filter(|e| e.status == Status::InQueue) {
            e.status = Status::Cancelled;
            e.finished = Some(Instant::now());
            e.cancel.cancel();
            e.done.notify_waiters();
            removed += 1;
        }
        removed
    };
    tracing::info!(removed, "queue purged");
    Json(json!({ "removed": removed, "status": "completed" })).into_response()
}

async fn health(State(s): State<Shared>, Path(endpoint): Path<String>, headers: HeaderMap) -> Response {
    if let Err(r) = authorize(&s, &endpoint, &headers) {
        return r;
    }
    let jobs = s.jobs.lock().unwrap_or_else(|p| p.into_inner());
    let count = |st: Status| jobs.values().filter(|e| e.status == st).count();
    let running = count(Status::InProgress);
    Json(json!({
        "jobs": {
            "completed": count(Status::Completed),
            "failed": count(Status::Failed) + count(Status::TimedOut),
            "inProgress": running,
            "inQueue": count(Status::InQueue),
            "retried": jobs.values().map(|e| u64::from(e.run)).sum::<u64>()
        },
        "workers": { "idle": s.cfg.concurrency.saturating_sub(running), "running": running, "ready": s.cfg.concurrency, "initializing": 0, "throttled": 0, "unhealthy": 0 },
        "encoder": s.exec.encoder.name()
    }))
    .into_response()
}
