//! RunPod platform mode: the worker side of RunPod's serverless protocol as
//! runpod-python 1.12 speaks it (`rp_scale.py`, `rp_job.py`, `rp_http.py`,
//! `rp_ping.py`, `rp_progress.py`).
//!
//! Three loops and one task per job: job-take (one job per free slot), the job-stop
//! long-poll, and the heartbeat. Each job runs through the [`Executor`], posts
//! throttled progress and then its result to job-done. When `shutdown` fires the
//! loops end and running jobs are cancelled (the executor kills their ffmpeg); like a
//! stopped runpod-python job, a cancelled job reports nothing further. A job still
//! running at `JOB_DEADLINE_SECS` is cancelled the same way and reported failed
//! (`deadline-exceeded`), which frees its slot.

use std::collections::BTreeMap;
use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;
use job_spec::Progress;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::error::JobError;
use crate::executor::{Executor, ProgressFn};
use crate::seed_task;

/// Sent as `runpod_version` in heartbeats: the runpod-python protocol level this
/// worker follows, with our own version as semver build metadata.
pub const RUNPOD_VERSION: &str = concat!("1.12.0+api-gpu-worker.", env!("CARGO_PKG_VERSION"));

/// runpod-python bounds each job-take and job-stop long-poll at 90 s.
const LONG_POLL_TIMEOUT: Duration = Duration::from_secs(90);
/// One job-done POST (result or progress); results are small.
const POST_TIMEOUT: Duration = Duration::from_secs(30);
/// runpod-python's floor between job-stop polls that returned nothing, so a server
/// that answers at once is not spun on.
const EMPTY_STOP_PAUSE: Duration = Duration::from_secs(1);
/// After a failed take or stop poll (runpod-python retries the take at once; a pause
/// keeps a broken endpoint from being hammered).
const ERROR_PAUSE: Duration = Duration::from_secs(1);
/// How long a job past its deadline may take to wind down (the executor kills and
/// reaps its ffmpeg on cancel) before the slot is freed anyway.
const CANCEL_GRACE: Duration = Duration::from_secs(10);
/// Debug builds only: the job with this id panics when it starts (the tests' way to
/// reach the panic path; release builds do not read it).
const TEST_PANIC_JOB_VAR: &str = "GPU_WORKER_TEST_PANIC_JOB";

/// Platform mode's configuration, from the variables RunPod sets in a worker.
#[derive(Clone)]
pub struct PlatformConfig {
    /// `RUNPOD_POD_ID`: this worker's id.
    pub pod_id: String,
    /// `RUNPOD_AI_API_KEY`: sent raw as `Authorization` (no `Bearer`) on every request.
    pub api_key: String,
    /// `RUNPOD_WEBHOOK_GET_JOB` with `$ID` replaced by the pod id.
    pub job_take_url: String,
    /// `RUNPOD_WEBHOOK_POST_OUTPUT` with `$RUNPOD_POD_ID` replaced; `$ID` stays for the job id.
    pub job_done_url: String,
    /// `RUNPOD_WEBHOOK_PING` with `$RUNPOD_POD_ID` replaced; no heartbeat when unset.
    pub ping_url: Option<String>,
    /// `RUNPOD_PING_INTERVAL` in ms (default 10000).
    pub ping_interval: Duration,
    /// `RUNPOD_CONCURRENCY`: jobs running at once (default 1).
    pub concurrency: usize,
    /// `JOB_DEADLINE_SECS` (default 3600): a job still running this long after it
    /// started is cancelled (its ffmpeg killed) and fails as `deadline-exceeded`, not
    /// retried. Keep it under the endpoint's RunPod execution timeout, so the worker
    /// reports the failure and frees the slot before RunPod gives up on the job.
    pub job_deadline: Duration,
    /// Pause after a 429 from job-take or job-stop (runpod-python: 5 s).
    pub too_many_requests_pause: Duration,
    /// An empty take that came back sooner than this waits out the rest, so a server
    /// that answers at once (400 under FlashBoot) is polled at most this often
    /// (runpod-python has no floor here; default 1 s).
    pub min_take_interval: Duration,
    /// At most one progress POST per job per interval (1 s); the latest is never dropped.
    pub progress_interval: Duration,
    /// Pauses between job-done attempts on 5xx or network errors (runpod-python's
    /// `FibonacciRetry(attempts=3)`: 2 s, then 3 s).
    pub done_retry_delays: Vec<Duration>,
    /// `GPU_WORKER_TEST_PANIC_JOB`, read by debug builds only: the job with this id
    /// panics as it starts, which is how the tests reach the panic path.
    pub test_panic_job: Option<String>,
}

/// The key stays out of logs.
impl fmt::Debug for PlatformConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlatformConfig")
            .field("pod_id", &self.pod_id)
            .field("api_key", &"<redacted>")
            .field("job_take_url", &self.job_take_url)
            .field("job_done_url", &self.job_done_url)
            .field("ping_url", &self.ping_url)
            .field("ping_interval", &self.ping_interval)
            .field("concurrency", &self.concurrency)
            .field("job_deadline", &self.job_deadline)
            .finish_non_exhaustive()
    }
}

impl PlatformConfig {
    /// Reads the configuration through `lookup` (`std::env::var` in the binary) and
    /// reports every problem at once.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<PlatformConfig, String> {
        let get = |k: &str| lookup(k).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let mut problems = Vec::new();
        let mut required = |k: &str| {
            let v = get(k);
            if v.is_none() {
                problems.push(format!("{k} is not set"));
            }
            v.unwrap_or_default()
        };
        let pod_id = required("RUNPOD_POD_ID");
        let api_key = required("RUNPOD_AI_API_KEY");
        let take = required("RUNPOD_WEBHOOK_GET_JOB");
        let done = required("RUNPOD_WEBHOOK_POST_OUTPUT");
        let number = |k: &str, default: u64, problems: &mut Vec<String>| match get(k) {
            None => default,
            Some(v) => match v.parse::<u64>() {
                Ok(n) if n > 0 => n,
                _ => {
                    problems.push(format!("{k}={v:?} is not a positive whole number"));
                    default
                }
            },
        };
        let ping_ms = number("RUNPOD_PING_INTERVAL", 10_000, &mut problems);
        let concurrency = number("RUNPOD_CONCURRENCY", 1, &mut problems);
        let job_deadline_secs = number("JOB_DEADLINE_SECS", 3600, &mut problems);

        // The same substitutions as runpod-python (`worker_state.WORKER_ID` is the pod id).
        let job_take_url = take.replace("$ID", &pod_id);
        let job_done_url = done.replace("$RUNPOD_POD_ID", &pod_id);
        let ping_url = get("RUNPOD_WEBHOOK_PING").map(|p| p.replace("$RUNPOD_POD_ID", &pod_id));
        let mut check = |k: &str, url: &str| {
            if !url.is_empty() && !matches!(url::Url::parse(url), Ok(u) if matches!(u.scheme(), "http" | "https")) {
                problems.push(format!("{k}={url:?} is not an http(s) URL"));
            }
        };
        check("RUNPOD_WEBHOOK_GET_JOB", &job_take_url);
        check("RUNPOD_WEBHOOK_POST_OUTPUT", &job_done_url.replace("$ID", "job"));
        if let Some(p) = &ping_url {
            check("RUNPOD_WEBHOOK_PING", p);
        }
        if !problems.is_empty() {
            return Err(format!(
                "RunPod platform mode: {}. RunPod sets these in a serverless worker; \
                 to run elsewhere use `gpu-worker serve` or `gpu-worker run --test-input FILE`",
                problems.join("; ")
            ));
        }
        Ok(PlatformConfig {
            pod_id,
            api_key,
            job_take_url,
            job_done_url,
            ping_url,
            ping_interval: Duration::from_millis(ping_ms),
            concurrency: concurrency as usize,
            job_deadline: Duration::from_secs(job_deadline_secs),
            too_many_requests_pause: Duration::from_secs(5),
            min_take_interval: Duration::from_secs(1),
            progress_interval: Duration::from_secs(1),
            done_retry_delays: vec![Duration::from_secs(2), Duration::from_secs(3)],
            test_panic_job: if cfg!(debug_assertions) { get(TEST_PANIC_JOB_VAR) } else { None },
        })
    }

    /// runpod-python derives the stop channel from the job-take URL; none when the URL
    /// is not in that form.
    pub fn job_stop_url(&self) -> Option<String> {
        self.job_take_url.contains("/job-take/").then(|| self.job_take_url.replace("/job-take/", "/job-stop/"))
    }
}

/// Appends one `key=value` to a URL that may already have a query.
fn with_query(url: &str, pair: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{pair}")
}

/// The heartbeat URL: `job_id` (comma-separated, left out when idle, as `requests`
/// drops a `None` parameter) and `runpod_version`.
fn ping_url(base: &str, job_ids: &[String]) -> String {
    let Ok(mut url) = url::Url::parse(base) else { return base.to_owned() };
    {
        let mut q = url.query_pairs_mut();
        if !job_ids.is_empty() {
            q.append_pair("job_id", &job_ids.join(","));
        }
        q.append_pair("runpod_version", RUNPOD_VERSION);
    }
    url.into()
}

#[derive(Debug, thiserror::Error)]
enum CallError {
    #[error("answered {0}")]
    Status(StatusCode),
    #[error("request failed: {0}")]
    Network(#[from] reqwest::Error),
    #[error("unexpected answer: {0}")]
    Body(String),
}

impl CallError {
    /// runpod-python's job-done retry: server errors and failed requests, not 4xx.
    fn is_retryable(&self) -> bool {
        match self {
            CallError::Status(s) => s.is_server_error(),
            CallError::Network(_) => true,
            CallError::Body(_) => false,
        }
    }
}

/// One job as job-take hands it out (other fields, such as `webhook`, are RunPod's).
#[derive(Debug, Clone, Deserialize)]
struct TakenJob {
    id: String,
    input: Value,
}

enum Answer<T> {
    Got(T),
    Nothing,
    TooManyRequests,
}

/// A job-take body: one job, or a list (runpod-python's batch mode); list entries
/// that are not jobs are skipped.
fn parse_jobs(body: Value) -> Result<Vec<TakenJob>, CallError> {
    match body {
        Value::Object(_) => serde_json::from_value(body)
            .map(|j| vec![j])
            .map_err(|e| CallError::Body(format!("job has missing field(s): id or input ({e})"))),
        Value::Array(items) => Ok(items
            .into_iter()
            .filter_map(|v| serde_json::from_value(v).map_err(|e| tracing::warn!(error = %e, "job-take: list entry is not a job")).ok())
            .collect()),
        _ => Ok(Vec::new()),
    }
}

/// The body of a 2xx answer, or `None` when it is not JSON (runpod-python ignores those).
async fn json_body(resp: reqwest::Response) -> Result<Option<Value>, CallError> {
    let is_json = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json")));
    if !is_json {
        return Ok(None);
    }
    let bytes = resp.bytes().await?;
    if bytes.is_empty() {
        return Ok(None);
    }
    Ok(serde_json::from_slice(&bytes).map_err(|e| tracing::debug!(error = %e, "answer is not valid JSON")).ok())
}

struct Worker {
    cfg: PlatformConfig,
    exec: Executor,
    /// Carries the RunPod key: used for RunPod only, never for storage URLs.
    http: reqwest::Client,
    /// Jobs taken and not finished, with their stop tokens (runpod-python's `JobsProgress`).
    jobs: Mutex<BTreeMap<String, CancellationToken>>,
    shutdown: CancellationToken,
}

/// Runs platform mode until `shutdown` fires, then cancels running jobs and returns
/// once they (and their ffmpeg) are gone. Errors only when it cannot start.
pub async fn run(cfg: PlatformConfig, exec: Executor, shutdown: CancellationToken) -> Result<(), String> {
    let mut headers = HeaderMap::new();
    let mut key = HeaderValue::from_str(&cfg.api_key).map_err(|_| "RUNPOD_AI_API_KEY is not a valid header value".to_owned())?;
    key.set_sensitive(true);
    headers.insert(AUTHORIZATION, key);
    let http = reqwest::Client::builder()
        .default_headers(headers)
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("api-gpu-worker/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    tracing::info!(pod = %cfg.pod_id, concurrency = cfg.concurrency, encoder = exec.encoder.name(), "RunPod platform mode");
    let w = Arc::new(Worker { cfg, exec, http, jobs: Mutex::new(BTreeMap::new()), shutdown });
    let tracker = TaskTracker::new();
    match w.cfg.ping_url.clone() {
        Some(url) => drop(tracker.spawn(heartbeat(w.clone(), url))),
        None => tracing::warn!("RUNPOD_WEBHOOK_PING is not set: no heartbeat"),
    }
    match w.cfg.job_stop_url() {
        Some(url) => drop(tracker.spawn(stop_loop(w.clone(), url))),
        None => tracing::warn!("the job-take URL has no /job-take/: per-job stop is disabled"),
    }
    take_loop(&w, &tracker).await;
    tracker.close();
    tracker.wait().await;
    tracing::info!("platform mode stopped");
    Ok(())
}

/// Sleeps unless shutdown comes first; false on shutdown.
async fn pause(w: &Worker, d: Duration) -> bool {
    tokio::select! {
        () = tokio::time::sleep(d) => true,
        () = w.shutdown.cancelled() => false,
    }
}

/// Takes a job whenever a slot is free (runpod-python takes only below its
/// concurrency, so with one slot `job_in_progress` is always 0).
async fn take_loop(w: &Arc<Worker>, tracker: &TaskTracker) {
    let slots = Arc::new(Semaphore::new(w.cfg.concurrency.max(1)));
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
            () = w.shutdown.cancelled() => return,
        };
        let started = Instant::now();
        let answer = tokio::select! {
            r = tokio::time::timeout(LONG_POLL_TIMEOUT, w.take()) => r,
            () = w.shutdown.cancelled() => return,
        };
        let wait = match answer {
            Err(_) => Duration::ZERO, // the long-poll ran out: poll again
            Ok(Ok(Answer::Got(jobs))) if !jobs.is_empty() => {
                // Entries past the first wait for their own slot (runpod-python's queue).
                let mut permit = Some(permit);
                for job in jobs {
                    start_job(w, tracker, &slots, job, permit.take());
                }
                continue;
            }
            Ok(Ok(Answer::Nothing | Answer::Got(_))) => w.cfg.min_take_interval.saturating_sub(started.elapsed()),
            Ok(Ok(Answer::TooManyRequests)) => {
                tracing::debug!("job-take: too many requests");
                w.cfg.too_many_requests_pause
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "job-take failed");
                ERROR_PAUSE
            }
        };
        drop(permit);
        if !pause(w, wait).await {
            return;
        }
    }
}

impl Worker {
    fn lock_jobs(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, CancellationToken>> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn take(&self) -> Result<Answer<Vec<TakenJob>>, CallError> {
        let busy = if self.lock_jobs().is_empty() { "0" } else { "1" };
        let resp = self.http.get(with_query(&self.cfg.job_take_url, &format!("job_in_progress={busy}"))).send().await?;
        match resp.status() {
            // 400 is expected under FlashBoot (runpod-python).
            StatusCode::NO_CONTENT | StatusCode::BAD_REQUEST => return Ok(Answer::Nothing),
            StatusCode::TOO_MANY_REQUESTS => return Ok(Answer::TooManyRequests),
            s if !s.is_success() => return Err(CallError::Status(s)),
            _ => {}
        }
        match json_body(resp).await? {
            None => Ok(Answer::Nothing),
            Some(body) => parse_jobs(body).map(Answer::Got),
        }
    }

    async fn stop_signals(&self, url: &str) -> Result<Answer<Vec<String>>, CallError> {
        let resp = self.http.get(url).send().await?;
        match resp.status() {
            StatusCode::NO_CONTENT => return Ok(Answer::Nothing),
            StatusCode::TOO_MANY_REQUESTS => return Ok(Answer::TooManyRequests),
            s if !s.is_success() => return Err(CallError::Status(s)),
            _ => {}
        }
        let ids: Vec<String> = json_body(resp)
            .await?
            .and_then(|v| v.get("jobsToStop").and_then(Value::as_array).cloned())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        Ok(if ids.is_empty() { Answer::Nothing } else { Answer::Got(ids) })
    }

    /// POSTs to job-done the way runpod-python does: the JSON as a form-typed body,
    /// `X-Request-ID`, `&isStream=false`. Retries after each of `retry_delays` on
    /// server or network errors, until shutdown.
    async fn post_done(&self, job_id: &str, body: &Value, retry_delays: &[Duration]) -> Result<(), CallError> {
        let url = with_query(&self.cfg.job_done_url.replace("$ID", job_id), "isStream=false");
        let body = body.to_string();
        let mut delays = retry_delays.iter();
        loop {
            let sent = self
                .http
                .post(&url)
                .timeout(POST_TIMEOUT)
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header("charset", "utf-8")
                .header("x-request-id", job_id)
                .body(body.clone())
                .send()
                .await;
            let err = match sent {
                Ok(r) if r.status().is_success() => return Ok(()),
                Ok(r) => CallError::Status(r.status()),
                Err(e) => CallError::Network(e),
            };
            match delays.next() {
                Some(&d) if err.is_retryable() => {
                    tracing::warn!(job = %job_id, error = %err, "job-done POST failed; retrying");
                    if !pause(self, d).await {
                        return Err(err);
                    }
                }
                _ => return Err(err),
            }
        }
    }

    /// Stops one job at once (runpod-python cancels its task); unknown ids are ignored.
    fn stop(&self, job_id: &str) {
        match self.lock_jobs().get(job_id) {
            Some(token) => {
                tracing::info!(job = %job_id, "stopping job");
                token.cancel();
            }
            None => tracing::debug!(job = %job_id, "stop for a job not in progress"),
        }
    }
}

/// Registers a taken job and runs it on its own task.
fn start_job(w: &Arc<Worker>, tracker: &TaskTracker, slots: &Arc<Semaphore>, job: TakenJob, permit: Option<OwnedSemaphorePermit>) {
    let cancel = w.shutdown.child_token();
    {
        let mut jobs = w.lock_jobs();
        if jobs.contains_key(&job.id) {
            tracing::warn!(job = %job.id, "job-take handed out a job already in progress; ignored");
            return;
        }
        jobs.insert(job.id.clone(), cancel.clone());
    }
    let (w, slots) = (w.clone(), slots.clone());
    tracker.spawn(async move {
        let permit = match permit {
            Some(p) => Some(p),
            None => tokio::select! {
                p = slots.acquire_owned() => p.ok(),
                () = cancel.cancelled() => None,
            },
        };
        // Declared after the permit, so dropped before it: unregistered before the slot
        // frees (the next take reports the true state), and whatever ends this task.
        let _registered = Registered { w: &w, id: &job.id };
        if permit.is_some() {
            run_job(&w, &job, &cancel).await;
        }
    });
}

/// Takes a job out of the heartbeat's `job_in_progress` set when dropped.
struct Registered<'a> {
    w: &'a Worker,
    id: &'a str,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.w.lock_jobs().remove(self.id);
    }
}

async fn run_job(w: &Arc<Worker>, job: &TakenJob, cancel: &CancellationToken) {
    tracing::info!(job = %job.id, "started");
    // The edge's WorkerJob, or seed 004's task + parameters (crate::seed_task).
    let execution = async {
        if w.cfg.test_panic_job.as_ref() == Some(&job.id) {
            panic!("{TEST_PANIC_JOB_VAR} names job {}", job.id);
        }
        match seed_task::parse_input(job.input.clone(), w.exec.cfg.public_inputs.as_ref()) {
            Err(e) => Err(e),
            Ok(incoming) => {
                let (progress, finished, reporter) = progress_reporter(w, &job.id);
                let (job, exec) = (incoming.job(), &w.exec);
                let run = |token: CancellationToken| async move { exec.execute(job, progress, &token).await };
                let r = with_deadline(w.cfg.job_deadline, CANCEL_GRACE, cancel, run).await;
                if cancel.is_cancelled() {
                    reporter.abort();
                } else {
                    finished.cancel();
                    let _ = reporter.await;
                }
                r.map(|out| incoming.output_value(&out)).map_err(|e| e.to_worker_error())
            }
        }
    };
    // A panic is reported as the job's failure, never left for RunPod to time out.
    let result = match AssertUnwindSafe(execution).catch_unwind().await {
        Ok(r) => r,
        Err(panic) => Err(JobError::from_panic(&job.id, panic.as_ref()).to_worker_error()),
    };
    if cancel.is_cancelled() {
        tracing::info!(job = %job.id, "stopped; nothing reported");
        return;
    }
    let body = match &result {
        Ok(out) => json!({ "output": out }),
        Err(e) => {
            tracing::warn!(job = %job.id, code = %e.code, error = %e.message, "failed");
            json!({ "error": e.to_runpod_string() })
        }
    };
    match w.post_done(&job.id, &body, &w.cfg.done_retry_delays).await {
        Ok(()) => tracing::info!(job = %job.id, ok = result.is_ok(), "finished"),
        Err(e) => tracing::error!(job = %job.id, error = %e, "could not return the job's result"),
    }
}

/// Runs `job` with a child of `cancel`; at `deadline` that child is cancelled, the job
/// is given `grace` to kill and reap what it started, and the outcome is
/// `deadline-exceeded`. A stop or shutdown (`cancel`) reaches the job as before.
async fn with_deadline<T, F, Fut>(deadline: Duration, grace: Duration, cancel: &CancellationToken, job: F) -> Result<T, JobError>
where
    F: FnOnce(CancellationToken) -> Fut,
    Fut: std::future::Future<Output = Result<T, JobError>>,
{
    let token = cancel.child_token();
    let run = job(token.clone());
    tokio::pin!(run);
    tokio::select! {
        r = &mut run => r,
        () = tokio::time::sleep(deadline) => {
            token.cancel();
            if tokio::time::timeout(grace, run).await.is_err() {
                tracing::error!(?grace, "a job past its deadline did not end when cancelled; dropped");
            }
            Err(JobError::DeadlineExceeded { secs: deadline.as_secs() })
        }
    }
}

/// A progress callback for the executor and the task that posts what it reports:
/// `{"status":"IN_PROGRESS","output":<progress>}` to job-done (runpod-python's
/// `progress_update`), at most once per interval, always the latest. Cancel the token
/// when the job ends: the task sends what is still pending, then ends.
fn progress_reporter(w: &Arc<Worker>, job_id: &str) -> (ProgressFn, CancellationToken, tokio::task::JoinHandle<()>) {
    let (tx, mut rx) = watch::channel(None::<Progress>);
    let finished = CancellationToken::new();
    let (w, id, done) = (w.clone(), job_id.to_owned(), finished.clone());
    let task = tokio::spawn(async move {
        let mut last_sent: Option<Instant> = None;
        loop {
            tokio::select! {
                biased;
                changed = rx.changed() => if changed.is_err() { return },
                () = done.cancelled() => if !rx.borrow().has_changed() { return },
            }
            if let Some(t) = last_sent {
                tokio::time::sleep_until(t + w.cfg.progress_interval).await;
            }
            let Some(p) = rx.borrow_and_update().clone() else { continue };
            // Progress is advisory: one attempt; the next update supersedes it.
            if let Err(e) = w.post_done(&id, &json!({ "status": "IN_PROGRESS", "output": p }), &[]).await {
                tracing::debug!(job = %id, error = %e, "progress POST failed");
            }
            last_sent = Some(Instant::now());
        }
    });
    let progress: ProgressFn = Arc::new(move |p: Progress| {
        tx.send_replace(Some(p));
    });
    (progress, finished, task)
}

async fn heartbeat(w: Arc<Worker>, url: String) {
    loop {
        let ids: Vec<String> = w.lock_jobs().keys().cloned().collect();
        // runpod-python waits up to twice the interval for an answer.
        let req = w.http.get(ping_url(&url, &ids)).timeout(w.cfg.ping_interval * 2).send();
        tokio::select! {
            r = req => match r {
                Ok(r) if r.status().is_success() => tracing::debug!(jobs = ids.len(), "heartbeat"),
                Ok(r) => tracing::warn!(status = %r.status(), "heartbeat refused"),
                Err(e) => tracing::warn!(error = %e, "heartbeat failed"),
            },
            () = w.shutdown.cancelled() => return,
        }
        if !pause(&w, w.cfg.ping_interval).await {
            return;
        }
    }
}

/// Long-polls job-stop; each id it names is stopped at once.
async fn stop_loop(w: Arc<Worker>, url: String) {
    loop {
        let answer = tokio::select! {
            r = tokio::time::timeout(LONG_POLL_TIMEOUT, w.stop_signals(&url)) => r,
            () = w.shutdown.cancelled() => return,
        };
        let wait = match answer {
            Err(_) => Duration::ZERO,
            Ok(Ok(Answer::Got(ids))) => {
                ids.iter().for_each(|id| w.stop(id));
                Duration::ZERO
            }
            Ok(Ok(Answer::Nothing)) => EMPTY_STOP_PAUSE,
            Ok(Ok(Answer::TooManyRequests)) => w.cfg.too_many_requests_pause,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "job-stop poll failed");
                ERROR_PAUSE
            }
        };
        if !pause(&w, wait).await {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: BTreeMap<String, String> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        move |k| vars.get(k).cloned()
    }

    const RUNPOD: &[(&str, &str)] = &[
        ("RUNPOD_POD_ID", "pod-1"),
        ("RUNPOD_AI_API_KEY", "sekrit-key"),
        ("RUNPOD_WEBHOOK_GET_JOB", "https://api.runpod.ai/v2/ep/job-take/$ID?gpu=H100"),
        ("RUNPOD_WEBHOOK_POST_OUTPUT", "https://api.runpod.ai/v2/ep/job-done/$RUNPOD_POD_ID/$ID?gpu=H100"),
        ("RUNPOD_WEBHOOK_PING", "https://api.runpod.ai/v2/ep/ping/$RUNPOD_POD_ID?gpu=H100"),
    ];

    #[test]
    fn reads_runpods_variables_with_runpod_python_substitutions() {
        let c = PlatformConfig::from_lookup(env(RUNPOD)).unwrap();
        assert_eq!(c.job_take_url, "https://api.runpod.ai/v2/ep/job-take/pod-1?gpu=H100");
        assert_eq!(c.job_stop_url().as_deref(), Some("https://api.runpod.ai/v2/ep/job-stop/pod-1?gpu=H100"));
        assert_eq!(c.job_done_url, "https://api.runpod.ai/v2/ep/job-done/pod-1/$ID?gpu=H100");
        assert_eq!(c.ping_url.as_deref(), Some("https://api.runpod.ai/v2/ep/ping/pod-1?gpu=H100"));
        assert_eq!((c.concurrency, c.ping_interval, c.too_many_requests_pause), (1, Duration::from_secs(10), Duration::from_secs(5)));
        assert_eq!(c.job_deadline, Duration::from_secs(3600));
        assert_eq!(c.api_key, "sekrit-key");
        assert!(!format!("{c:?}").contains("sekrit"), "the key is redacted: {c:?}");
    }

    #[test]
    fn reports_every_missing_or_bad_variable() {
        let e = PlatformConfig::from_lookup(env(&[
            ("RUNPOD_WEBHOOK_GET_JOB", "not a url"),
            ("RUNPOD_CONCURRENCY", "0"),
            ("RUNPOD_PING_INTERVAL", "soon"),
            ("JOB_DEADLINE_SECS", "1h"),
        ]))
        .unwrap_err();
        for part in [
            "RUNPOD_POD_ID is not set",
            "RUNPOD_AI_API_KEY is not set",
            "RUNPOD_WEBHOOK_POST_OUTPUT is not set",
            "RUNPOD_WEBHOOK_GET_JOB=\"not a url\" is not an http(s) URL",
            "RUNPOD_CONCURRENCY=\"0\"",
            "RUNPOD_PING_INTERVAL=\"soon\"",
            "JOB_DEADLINE_SECS=\"1h\"",
        ] {
            assert!(e.contains(part), "{part:?} missing from: {e}");
        }
    }

    #[test]
    fn optional_settings_and_urls_without_a_query() {
        let mut vars = RUNPOD[..4].to_vec();
        vars.push(("RUNPOD_WEBHOOK_GET_JOB", "http://127.0.0.1:9/take/$ID"));
        vars.extend([("RUNPOD_CONCURRENCY", "3"), ("RUNPOD_PING_INTERVAL", "2500"), ("JOB_DEADLINE_SECS", "900")]);
        let c = PlatformConfig::from_lookup(env(&vars)).unwrap();
        assert_eq!((c.concurrency, c.ping_interval, c.ping_url.as_deref()), (3, Duration::from_millis(2500), None));
        assert_eq!(c.job_deadline, Duration::from_secs(900));
        assert_eq!(c.job_stop_url(), None, "no /job-take/, no stop channel");
        assert_eq!(with_query(&c.job_take_url, "job_in_progress=0"), "http://127.0.0.1:9/take/pod-1?job_in_progress=0");
        assert_eq!(with_query("http://h/done/x?gpu=a", "isStream=false"), "http://h/done/x?gpu=a&isStream=false");
    }

    #[test]
    fn ping_carries_job_ids_only_when_busy() {
        let idle = ping_url("http://h/ping/pod-1?gpu=a", &[]);
        assert!(idle.starts_with("http://h/ping/pod-1?gpu=a&runpod_version=1.12.0%2Bapi-gpu-worker."), "{idle}");
        let busy = ping_url("http://h/ping/pod-1", &["a".into(), "b".into()]);
        assert!(busy.starts_with("http://h/ping/pod-1?job_id=a%2Cb&runpod_version="), "{busy}");
    }

    #[tokio::test]
    async fn a_job_past_its_deadline_is_cancelled_and_fails_as_deadline_exceeded() {
        let (deadline, grace) = (Duration::from_millis(300), Duration::from_millis(200));
        let slack = Duration::from_millis(150);
        // Bounded, so a missing deadline fails the test instead of hanging it.
        async fn bounded<T>(f: impl std::future::Future<Output = T>) -> T {
            tokio::time::timeout(Duration::from_secs(5), f).await.expect("with_deadline returned within 5 s")
        }
        let saw_cancel = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let seen = saw_cancel.clone();
        let started = Instant::now();
        // A job that runs until cancelled, then winds down as the executor does.
        let r: Result<(), JobError> = bounded(with_deadline(deadline, grace, &CancellationToken::new(), |token| async move {
            token.cancelled().await;
            seen.store(true, std::sync::atomic::Ordering::SeqCst);
            Err(JobError::Cancelled)
        }))
        .await;
        let err = r.unwrap_err();
        assert_eq!((err.code(), err.is_retryable()), ("deadline-exceeded", false));
        assert!(saw_cancel.load(std::sync::atomic::Ordering::SeqCst), "the job's token was cancelled");
        let took = started.elapsed();
        assert!(took >= deadline && took < deadline + slack, "{took:?}");

        // Within the deadline the job's own outcome stands; a stop still reaches the job.
        let ok: Result<u8, JobError> = with_deadline(deadline, grace, &CancellationToken::new(), |_| async { Ok(7) }).await;
        assert_eq!(ok.unwrap(), 7);
        let stop = CancellationToken::new();
        stop.cancel();
        let r: Result<(), JobError> = with_deadline(deadline, grace, &stop, |token| async move {
            token.cancelled().await;
            Err(JobError::Cancelled)
        })
        .await;
        assert_eq!(r.unwrap_err().code(), "cancelled");

        // A job that ignores its cancel is dropped after the grace period.
        let started = Instant::now();
        let r: Result<(), JobError> = bounded(with_deadline(deadline, grace, &CancellationToken::new(), |_| std::future::pending())).await;
        assert_eq!(r.unwrap_err().code(), "deadline-exceeded");
        let took = started.elapsed();
        assert!(took >= deadline + grace && took < deadline + grace + slack, "{took:?}");
    }

    #[test]
    fn job_take_bodies() {
        let one = parse_jobs(json!({"id": "j1", "input": {"x": 1}, "webhook": null})).unwrap();
        assert_eq!((one.len(), one[0].id.as_str(), &one[0].input), (1, "j1", &json!({"x": 1})));
        let list = parse_jobs(json!([{"id": "a", "input": 1}, {"nope": 1}, {"id": "b", "input": null}])).unwrap();
        assert_eq!(list.iter().map(|j| j.id.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert!(parse_jobs(json!({"id": "j1"})).is_err(), "a job without input");
        assert!(parse_jobs(json!("text")).is_ok_and(|j| j.is_empty()));
    }
}
