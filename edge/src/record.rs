//! The job record a Job Durable Object keeps in SQLite, its state machine, and the
//! public job object built from it. Pure: times are epoch milliseconds passed in.
//!
//! A job runs as one or more parts (one RunPod job each; more than one only when an
//! img2vid batch fans out). A part that fails retryably goes back to waiting and is
//! resubmitted with the same output keys after a backoff, up to `max_attempts`.
//! A part the GPU backend could not take (unreachable, or throttling) never ran: it
//! waits and is submitted again with its own backoff ([`submit_retry_delay_ms`]) until
//! the job's deadline, which then ends it TIMED_OUT with the backend's error code.
//! Transitions are monotonic: a terminal job never changes again, and RunPod bodies
//! for a RunPod id that is not a part's current one are ignored, so duplicate and late
//! webhooks (or a poll racing a webhook) are harmless.

use std::collections::BTreeMap;
use std::time::Duration;

use job_spec::job::{Execution, WebhookAttempt, WebhookView, build_result, rfc3339_from_ms};
use job_spec::ops::Common;
use job_spec::{JobError, JobStatus, JobView, Operation, Plan, Progress, Task, WorkerError, WorkerOutput};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::backend::BackendError;
use crate::fanout;
use crate::tenant::{Acquire, RETENTION_MS};
use crate::webhook::retry_delay;

/// A part that has been "submitting" this long without an answer is submitted again
/// (the object was evicted mid-request).
pub const SUBMIT_STALE_MS: i64 = 60_000;
/// Submissions the backend did not take are tried again after 1 s, doubling up to
/// [`SUBMIT_RETRY_MAX`] (or after the backend's `Retry-After` when it is longer).
pub const SUBMIT_RETRY_BASE: Duration = Duration::from_secs(1);
pub const SUBMIT_RETRY_MAX: Duration = Duration::from_secs(60);
/// A worker's progress stage is cut to this many characters.
pub const MAX_STAGE_CHARS: usize = 64;

/// How long a part waits after its `failures`-th submission in a row that the backend
/// did not take: the backoff, or the backend's `Retry-After` when that is longer.
pub fn submit_retry_delay_ms(failures: u32, retry_after_secs: Option<u64>) -> i64 {
    let backoff = retry_delay(failures.max(1), SUBMIT_RETRY_BASE, SUBMIT_RETRY_MAX).as_millis() as i64;
    backoff.max(retry_after_secs.map_or(0, |s| (s as i64).saturating_mul(1000)))
}

/// Up to a quarter more than `delay_ms`, spread by the job, part and failure count: jobs
/// queued while the backend was down do not all come back in the same millisecond when
/// it answers again. Never less than `delay_ms` (a `Retry-After` is honoured whole).
pub fn submit_retry_jitter_ms(job_id: &str, part: usize, failures: u32, delay_ms: i64) -> i64 {
    // FNV-1a: a stable, well-spread hash (the same on wasm32 and natively).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in job_id.bytes().chain(part.to_le_bytes()).chain(failures.to_le_bytes()) {
        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    let spread = (h >> 11) as f64 / (1u64 << 53) as f64;
    (delay_ms as f64 / 4.0 * spread) as i64
}

/// Retries of failed parts: exponential backoff from `base` capped at `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base: Duration,
    pub max: Duration,
}

/// Client webhook deliveries: exponential backoff, attempts for `window` after the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookPolicy {
    pub base: Duration,
    pub max: Duration,
    pub window: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartStatus {
    /// Not on RunPod: waiting for a lease, or for its retry time.
    Waiting,
    /// A `/run` request is in flight.
    Submitting,
    Submitted,
    Processing,
    Completed,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Part {
    pub status: PartStatus,
    pub runpod_id: Option<String>,
    pub attempts: u32,
    pub progress: Progress,
    pub output: Option<WorkerOutput>,
    /// Waiting parts are not submitted before this instant (retry backoff).
    pub not_before_ms: i64,
    pub submitting_since_ms: Option<i64>,
    /// The failure of the last attempt, kept when the part is retried.
    pub last_error: Option<JobError>,
    pub started_ms: Option<i64>,
    /// The output keys this part was planned (and presigned) to write, by output name.
    /// A COMPLETED body is checked against them: keys never come from the worker.
    #[serde(default)]
    pub planned_outputs: BTreeMap<String, String>,
    /// Submissions in a row the backend did not take (unreachable or busy); they are
    /// not attempts (the part never ran), and the count starts again once one is taken.
    #[serde(default)]
    pub submit_failures: u32,
}

impl Part {
    fn new() -> Part {
        Part {
            status: PartStatus::Waiting,
            runpod_id: None,
            attempts: 0,
            progress: Progress::new("queued", 0, 0),
            output: None,
            not_before_ms: 0,
            submitting_since_ms: None,
            last_error: None,
            started_ms: None,
            planned_outputs: BTreeMap::new(),
            submit_failures: 0,
        }
    }

    fn on_runpod(&self) -> bool {
        matches!(self.status, PartStatus::Submitted | PartStatus::Processing)
    }
}

/// Delivery state of the client webhook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookDelivery {
    pub url: String,
    /// `webhook-id`: the same for every attempt, so receivers can deduplicate.
    pub msg_id: String,
    pub attempts: Vec<WebhookAttempt>,
    pub delivered: bool,
    pub next_at_ms: Option<i64>,
    pub first_at_ms: Option<i64>,
    /// The client asked for `progress` deliveries too (`webhook_events`).
    #[serde(default)]
    pub progress_events: bool,
    /// The last `progress` delivery: when, and what it said.
    #[serde(default)]
    pub progress_sent: Option<ProgressSent>,
    /// How many `progress` deliveries were made (each has its own `webhook-id`).
    #[serde(default)]
    pub progress_count: u32,
}

/// What the last `progress` webhook said, so the next one goes only on a change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgressSent {
    pub at_ms: i64,
    pub status: JobStatus,
    pub progress: Progress,
}

/// At most one `progress` webhook per job in this long.
pub const PROGRESS_WEBHOOK_INTERVAL_MS: i64 = 5_000;

/// A job younger than this tells the tenant's index only its end (with the lease's
/// release, one call): `SUBMITTED` and `PROCESSING` reach `GET /jobs` this late at
/// most, and a job that ends sooner costs the tenant's object no index call at all.
pub const INDEX_LAG_MS: i64 = 2_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    pub job_id: String,
    pub tenant: String,
    pub operation: Operation,
    pub status: JobStatus,
    pub common: Common,
    pub task: Task,
    pub parts: Vec<Part>,
    pub max_attempts: u32,
    pub progress: Progress,
    pub output: Option<WorkerOutput>,
    pub error: Option<JobError>,
    pub created_ms: i64,
    pub started_ms: Option<i64>,
    pub completed_ms: Option<i64>,
    /// After this instant the job is ended as TIMED_OUT by its alarm.
    pub deadline_ms: i64,
    /// The tenant granted this job its slots (and they have not been given back).
    pub lease_held: bool,
    /// When the held lease expires unless renewed, as the tenant last said.
    #[serde(default)]
    pub lease_expires_ms: Option<i64>,
    /// The status the tenant's index last heard of.
    pub indexed_status: Option<JobStatus>,
    /// A terminal job's clean-up ran: RunPod parts cancelled, lease given back.
    #[serde(default)]
    pub finalized: bool,
    pub webhook: Option<WebhookDelivery>,
}

fn rank(s: JobStatus) -> u8 {
    match s {
        JobStatus::Queued => 0,
        JobStatus::Submitted => 1,
        JobStatus::Processing => 2,
        _ => 3,
    }
}

impl JobRecord {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        job_id: String,
        tenant: String,
        common: Common,
        task: Task,
        parts: usize,
        max_attempts: u32,
        now_ms: i64,
        deadline_ms: i64,
    ) -> Self {
        let webhook = common.webhook_url.clone().map(|url| WebhookDelivery {
            url,
            msg_id: format!("msg_{job_id}"),
            attempts: vec![],
            delivered: false,
            next_at_ms: None,
            first_at_ms: None,
            progress_events: common.wants_progress_webhooks(),
            progress_sent: None,
            progress_count: 0,
        });
        JobRecord {
            operation: task.operation(),
            job_id,
            tenant,
            status: JobStatus::Queued,
            common,
            task,
            parts: (0..parts.max(1)).map(|_| Part::new()).collect(),
            max_attempts: max_attempts.max(1),
            progress: Progress::new("queued", 0, 0),
            output: None,
            error: None,
            created_ms: now_ms,
            started_ms: None,
            completed_ms: None,
            deadline_ms,
            lease_held: false,
            lease_expires_ms: None,
            indexed_status: None,
            finalized: false,
            webhook,
        }
    }

    pub fn is_terminal(&self) -> bool {
        self.status.is_terminal()
    }

    /// The tenant admitted the job: its index row says QUEUED already, and it holds its
    /// lease or waits in line, as `lease` says.
    pub fn admitted(&mut self, lease: Acquire) {
        self.indexed_status = Some(JobStatus::Queued);
        self.lease_answered(lease);
    }

    /// The tenant's answer to a lease request (or its renewal). Returns whether anything
    /// changed (a renewal changes the lease's expiry). A job that lost its lease (it
    /// expired, and another job took the slots) submits nothing more until it is granted
    /// again.
    pub fn lease_answered(&mut self, lease: Acquire) -> bool {
        if self.is_terminal() {
            return false;
        }
        let before = (self.lease_held, self.lease_expires_ms, self.progress.clone());
        match lease {
            Acquire::Granted { expires_ms } => {
                if !self.lease_held && self.progress.stage.starts_with("queued (position") {
                    self.progress = Progress::new("queued", 0, 0);
                }
                self.lease_held = true;
                self.lease_expires_ms = Some(expires_ms);
            }
            Acquire::Waiting { position } => {
                self.lease_held = false;
                self.lease_expires_ms = None;
                if !self.parts.iter().any(Part::on_runpod) {
                    self.progress = Progress::new(&format!("queued (position {})", position + 1), 0, 0);
                }
            }
        }
        (self.lease_held, self.lease_expires_ms, &self.progress) != (before.0, before.1, &before.2)
    }

    /// Whether the job should ask the tenant for its lease now: it waits for one, or
    /// less than three quarters of a lease's lifetime (`ttl_ms`) is left on the one it
    /// holds. A job's first alarm, right after the tenant admitted it with its lease,
    /// asks nothing; an alarm every third of the lifetime renews it.
    pub fn lease_request_due(&self, now_ms: i64, ttl_ms: i64) -> bool {
        !self.is_terminal() && (!self.lease_held || self.lease_expires_ms.is_none_or(|e| e - now_ms < ttl_ms * 3 / 4))
    }

    /// Ends a job still running at its deadline as TIMED_OUT: `deadline-exceeded`, or,
    /// when a part was still waiting for the backend to take it, the backend's error
    /// (`gpu-backend-unavailable`, `gpu-backend-busy`). Returns whether it ended.
    pub fn deadline_passed(&mut self, now_ms: i64) -> bool {
        if self.is_terminal() || now_ms < self.deadline_ms {
            return false;
        }
        self.time_out(now_ms)
    }

    /// Ends the job TIMED_OUT, with the code [`Self::deadline_passed`] describes.
    fn time_out(&mut self, now_ms: i64) -> bool {
        let waiting_for_backend = self
            .parts
            .iter()
            .find(|p| matches!(p.status, PartStatus::Waiting | PartStatus::Submitting) && p.submit_failures > 0)
            .and_then(|p| Some((p.submit_failures, p.last_error.clone()?)));
        match waiting_for_backend {
            Some((failures, e)) => {
                let message = format!("the GPU backend did not take the job before its deadline ({failures} submissions failed)");
                let mut details = e.details.unwrap_or_else(|| json!({}));
                if let Value::Object(m) = &mut details {
                    m.insert("submissions".into(), failures.into());
                    m.insert("last_error".into(), e.message.into());
                }
                self.fail(JobStatus::TimedOut, &e.code, &message, Some(details), now_ms)
            }
            None => self.fail(JobStatus::TimedOut, "deadline-exceeded", "the job did not finish before its deadline", None, now_ms),
        }
    }

    /// The number of attempts shown to the client: the most any part needed.
    pub fn attempts(&self) -> u32 {
        self.parts.iter().map(|p| p.attempts).max().unwrap_or(0)
    }

    fn bump(&mut self, s: JobStatus) {
        if !self.is_terminal() && rank(s) > rank(self.status) {
            self.status = s;
        }
    }

    /// Parts to submit now (the caller holds the lease).
    pub fn due_parts(&self, now_ms: i64) -> Vec<usize> {
        if self.is_terminal() {
            return vec![];
        }
        (0..self.parts.len())
            .filter(|&i| {
                let p = &self.parts[i];
                match p.status {
                    PartStatus::Waiting => p.not_before_ms <= now_ms,
                    PartStatus::Submitting => p.submitting_since_ms.is_none_or(|s| s + SUBMIT_STALE_MS <= now_ms),
                    _ => false,
                }
            })
            .collect()
    }

    /// Whether any part still needs RunPod (so the job needs its lease).
    pub fn needs_lease(&self) -> bool {
        !self.is_terminal()
    }

    /// Records each part's planned outputs (`plans[i]` is part `i`'s plan). A part
    /// without them accepts no output at all.
    pub fn plan_outputs(&mut self, plans: &[Plan]) {
        for (p, plan) in self.parts.iter_mut().zip(plans) {
            p.planned_outputs = plan.outputs.iter().map(|o| (o.name.clone(), o.key.clone())).collect();
        }
    }

    /// The first output of `out` that part `i` was not planned to write (an unknown
    /// name, or a planned name with another key), as `(name, key)`.
    fn unplanned_output<'a>(&self, i: usize, out: &'a WorkerOutput) -> Option<(&'a str, &'a str)> {
        let planned = &self.parts[i].planned_outputs;
        out.outputs.iter().find(|o| planned.get(&o.name) != Some(&o.key)).map(|o| (o.name.as_str(), o.key.as_str()))
    }

    /// Claims part `i` for one `/run` call at `now_ms`: only a part that is due now can
    /// be claimed, and the claim (the part is marked submitting) must be saved before the
    /// call. Durable Objects run other events while a fetch is awaited, so the caller
    /// claims right before each submission, never from an older list of due parts: a part
    /// another event claimed meanwhile is not due, and is not sent twice. The claim is its
    /// instant, `submitting_since_ms`; `None` when the part is not due.
    pub fn claim_submit(&mut self, i: usize, now_ms: i64) -> Option<i64> {
        if i >= self.parts.len() || !self.due_parts(now_ms).contains(&i) {
            return None;
        }
        let p = &mut self.parts[i];
        p.status = PartStatus::Submitting;
        p.submitting_since_ms = Some(now_ms);
        Some(now_ms)
    }

    /// Whether part `i` is still submitting under `claim` (no other event took it over
    /// after it went stale, and the job has not ended).
    fn holds_claim(&self, i: usize, claim: i64) -> bool {
        !self.is_terminal() && self.parts.get(i).is_some_and(|p| p.status == PartStatus::Submitting && p.submitting_since_ms == Some(claim))
    }

    /// RunPod accepted part `i`, claimed at `claim`, as `runpod_id`. False when the job
    /// ended meanwhile or the claim was taken over: the caller then cancels that RunPod
    /// job, so a part never runs twice.
    pub fn submitted(&mut self, i: usize, claim: i64, runpod_id: String) -> bool {
        if !self.holds_claim(i, claim) {
            return false;
        }
        let p = &mut self.parts[i];
        p.status = PartStatus::Submitted;
        p.runpod_id = Some(runpod_id);
        p.attempts += 1;
        p.submitting_since_ms = None;
        p.submit_failures = 0;
        p.progress = Progress::new("submitted", 0, 0);
        self.bump(JobStatus::Submitted);
        self.recompute_progress();
        true
    }

    /// `/run` failed for part `i`, claimed at `claim`. Unreachable or busy: the part
    /// never ran, so this is no attempt; it waits (the job stays QUEUED, its progress
    /// says why) and is submitted again after [`submit_retry_delay_ms`], for as long as
    /// that is before the deadline; when it is not, the job ends TIMED_OUT with the
    /// backend's code. Refused (another 4xx): the job fails (`gpu-backend-refused`).
    /// Ignored when the claim is no longer held.
    pub fn submit_failed(&mut self, i: usize, claim: i64, error: &BackendError, now_ms: i64, policy: &RetryPolicy) {
        if !self.holds_claim(i, claim) {
            return;
        }
        let e = JobError {
            code: error.code().into(),
            message: format!("the GPU backend could not take the job: {error}"),
            details: error.retry_after_secs().map(|s| json!({ "retry_after_secs": s })),
        };
        if !error.is_retryable() {
            self.parts[i].attempts += 1;
            self.part_failed(i, e, false, now_ms, policy);
            return;
        }
        let p = &mut self.parts[i];
        p.submit_failures += 1;
        let failures = p.submit_failures;
        p.status = PartStatus::Waiting;
        p.submitting_since_ms = None;
        let delay = submit_retry_delay_ms(failures, error.retry_after_secs());
        p.not_before_ms = now_ms + delay + submit_retry_jitter_ms(&self.job_id, i, failures, delay);
        p.progress = Progress::new(&format!("waiting for the GPU backend (attempt {failures}): {error}"), 0, 0);
        p.last_error = Some(e);
        if p.not_before_ms >= self.deadline_ms {
            // The next try would come too late: the deadline's answer, now.
            self.time_out(now_ms);
            return;
        }
        let stage = p.progress.clone();
        self.recompute_progress();
        if self.status == JobStatus::Queued {
            // Nothing runs yet: the reason it waits is the job's progress.
            self.progress = stage;
        }
    }

    /// Ends the job (if it has not ended) with an error.
    pub fn fail(&mut self, status: JobStatus, code: &str, message: &str, details: Option<Value>, now_ms: i64) -> bool {
        if self.is_terminal() {
            return false;
        }
        self.status = status;
        self.error = Some(JobError { code: code.into(), message: message.into(), details });
        self.finish(now_ms);
        true
    }

    fn finish(&mut self, now_ms: i64) {
        self.completed_ms = Some(now_ms);
        if let Some(w) = &mut self.webhook {
            w.next_at_ms = Some(now_ms);
        }
    }

    /// Part `i`'s attempt failed. Retried after a backoff when the failure is
    /// retryable, attempts remain and the retry can still finish before the deadline;
    /// otherwise the whole job fails with this error.
    pub fn part_failed(&mut self, i: usize, error: JobError, retryable: bool, now_ms: i64, policy: &RetryPolicy) {
        if self.is_terminal() {
            return;
        }
        let attempts = self.parts[i].attempts;
        let delay = retry_delay(attempts.max(1), policy.base, policy.max).as_millis() as i64;
        if retryable && attempts < self.max_attempts && now_ms + delay < self.deadline_ms {
            let p = &mut self.parts[i];
            p.status = PartStatus::Waiting;
            p.runpod_id = None;
            p.not_before_ms = now_ms + delay;
            p.submitting_since_ms = None;
            p.progress = Progress::new("retrying", 0, 0);
            p.last_error = Some(error);
            self.recompute_progress();
            return;
        }
        let p = &mut self.parts[i];
        p.status = PartStatus::Failed;
        p.last_error = Some(error.clone());
        let mut details = error.details.clone().unwrap_or_else(|| json!({}));
        if let Value::Object(m) = &mut details {
            m.insert("attempts".into(), attempts.into());
            if self.parts.len() > 1 {
                m.insert("part".into(), i.into());
            }
        }
        self.status = JobStatus::Failed;
        self.error = Some(JobError { details: Some(details), ..error });
        self.finish(now_ms);
    }

    /// The backend no longer knows part `i`'s RunPod job (the worker or its queue was
    /// lost): a retryable failure.
    pub fn part_lost(&mut self, i: usize, now_ms: i64, policy: &RetryPolicy) {
        if self.is_terminal() || !self.parts[i].on_runpod() {
            return;
        }
        let e = JobError { code: "worker-lost".into(), message: "the GPU backend lost the job".into(), details: None };
        self.part_failed(i, e, true, now_ms, policy);
    }

    /// RunPod ids of parts still on RunPod (to cancel when the job ends early).
    pub fn active_runpod_ids(&self) -> Vec<String> {
        self.parts.iter().filter(|p| p.on_runpod()).filter_map(|p| p.runpod_id.clone()).collect()
    }

    /// Parts on RunPod, with their ids (to poll).
    pub fn polled_parts(&self) -> Vec<(usize, String)> {
        if self.is_terminal() {
            return vec![];
        }
        self.parts.iter().enumerate().filter(|(_, p)| p.on_runpod()).filter_map(|(i, p)| Some((i, p.runpod_id.clone()?))).collect()
    }

    fn recompute_progress(&mut self) {
        if let [p] = self.parts.as_slice() {
            self.progress = p.progress.clone();
            return;
        }
        let n = self.parts.len();
        let done = self.parts.iter().filter(|p| p.status == PartStatus::Completed).count();
        let pct: f64 =
            self.parts.iter().map(|p| if p.status == PartStatus::Completed { 100.0 } else { p.progress.percentage }).sum::<f64>()
                / n as f64;
        self.progress =
            Progress { stage: "parts".into(), completed: done as u64, total: n as u64, percentage: (pct * 10.0).round() / 10.0 };
    }

    /// Why a completion webhook is refused, if it is: it reports an output its part was
    /// not planned to write. A webhook is trusted less than a `/status` answer (anyone
    /// holding the job's webhook URL can send one), so such a body is refused and
    /// changes nothing; the next poll asks RunPod itself, and a `/status` answer saying
    /// the same fails the job in [`Self::apply_runpod`].
    pub fn webhook_refusal(&self, body: &Value) -> Option<String> {
        let id = body.get("id").and_then(Value::as_str)?;
        let i = self.parts.iter().position(|p| p.on_runpod() && p.runpod_id.as_deref() == Some(id))?;
        if body.get("status").and_then(Value::as_str).and_then(JobStatus::from_runpod) != Some(JobStatus::Completed) {
            return None;
        }
        let out = serde_json::from_value::<WorkerOutput>(body.get("output")?.clone()).ok()?;
        let (name, _) = self.unplanned_output(i, &out)?;
        Some(format!("output `{name}` is not under the key planned for it"))
    }

    /// The worker's own report of part `part`'s progress during attempt `attempt`,
    /// POSTed to the progress URL (so it shows without waiting for a status poll).
    /// Ignored (false) when the job has ended, when the part is not running that attempt
    /// (a retry superseded it, it completed, or the submission is not recorded yet), or
    /// when the report is older than the one kept (the same stage with fewer units done;
    /// a repeat). Otherwise the part, and so the job, is PROCESSING with that progress,
    /// aggregated over the parts as for status polls.
    pub fn apply_progress(&mut self, part: usize, attempt: u32, progress: Progress, now_ms: i64) -> bool {
        if self.is_terminal() {
            return false;
        }
        let Some(p) = self.parts.get_mut(part) else { return false };
        if !p.on_runpod() || p.attempts != attempt {
            return false;
        }
        // The report is the worker's word, shown to the client: bounded.
        let progress = Progress {
            stage: progress.stage.chars().take(MAX_STAGE_CHARS).collect(),
            percentage: progress.percentage.clamp(0.0, 100.0),
            ..progress
        };
        let older = p.progress == progress || (p.progress.stage == progress.stage && progress.completed < p.progress.completed);
        if p.status == PartStatus::Processing && older {
            return false;
        }
        if p.status != PartStatus::Processing {
            p.status = PartStatus::Processing;
            p.started_ms.get_or_insert(now_ms);
            self.started_ms.get_or_insert(now_ms);
        }
        if !older {
            p.progress = progress;
        }
        self.bump(JobStatus::Processing);
        self.recompute_progress();
        true
    }

    /// Applies a RunPod status object (`/status` answer or webhook body). Returns
    /// whether anything changed.
    pub fn apply_runpod(&mut self, body: &Value, now_ms: i64, policy: &RetryPolicy) -> bool {
        if self.is_terminal() {
            return false;
        }
        let Some(id) = body.get("id").and_then(Value::as_str) else { return false };
        let Some(i) = self.parts.iter().position(|p| p.on_runpod() && p.runpod_id.as_deref() == Some(id)) else { return false };
        let Some(status) = body.get("status").and_then(Value::as_str).and_then(JobStatus::from_runpod) else {
            return false;
        };
        // A part seen first as finished (webhook only): `executionTime` tells when it started.
        if status.is_terminal()
            && self.parts[i].started_ms.is_none()
            && let Some(exec) = body.get("executionTime").and_then(Value::as_i64)
        {
            self.parts[i].started_ms = Some(now_ms - exec);
            self.started_ms = Some(self.started_ms.map_or(now_ms - exec, |s| s.min(now_ms - exec)));
        }
        match status {
            JobStatus::Submitted | JobStatus::Queued => false,
            JobStatus::Processing => {
                let mut changed = false;
                let p = &mut self.parts[i];
                if p.status != PartStatus::Processing {
                    p.status = PartStatus::Processing;
                    p.started_ms.get_or_insert(now_ms);
                    self.started_ms.get_or_insert(now_ms);
                    self.bump(JobStatus::Processing);
                    changed = true;
                }
                // A poll answer older than the worker's own last report (the same stage, fewer
                // units done) does not take the progress back.
                if let Some(pr) = body.get("output").and_then(|o| serde_json::from_value::<Progress>(o.clone()).ok())
                    && pr != self.parts[i].progress
                    && !(pr.stage == self.parts[i].progress.stage && pr.completed < self.parts[i].progress.completed)
                {
                    self.parts[i].progress = pr;
                    changed = true;
                }
                if changed {
                    self.recompute_progress();
                }
                changed
            }
            JobStatus::Completed => {
                let parsed = body.get("output").map(|o| serde_json::from_value::<WorkerOutput>(o.clone()));
                // Output keys come from the plan, never from the worker: the worker only
                // holds PUT URLs for its planned keys, so an honest one never reports
                // another. One that does (a compromised worker, a forged body) fails the
                // job rather than have its key presigned for GET; the rest of such a body
                // cannot be trusted either, so no key is substituted.
                if let Some(Ok(out)) = &parsed
                    && let Some((name, _)) = self.unplanned_output(i, out)
                {
                    let e = JobError {
                        code: "worker-output-mismatch".into(),
                        message: format!("the worker reported output `{name}` under a key that was not planned for it"),
                        details: None,
                    };
                    self.part_failed(i, e, false, now_ms, policy);
                    return true;
                }
                match parsed {
                    // Output keys come from the plan, never from the worker: the worker
                    // only holds PUT URLs for its planned keys, so an honest one never
                    // reports another. One that does (a compromised worker, a forged
                    // body) fails the job rather than have its key presigned for GET —
                    // the rest of such a body cannot be trusted either.
                    Some(Ok(out)) => {
                        let p = &mut self.parts[i];
                        p.status = PartStatus::Completed;
                        p.output = Some(out);
                        p.progress = Progress::new("done", 1, 1);
                        self.started_ms.get_or_insert(now_ms);
                        if self.parts.iter().all(|p| p.status == PartStatus::Completed) {
                            let outs: Vec<WorkerOutput> = self.parts.iter().filter_map(|p| p.output.clone()).collect();
                            self.output = Some(fanout::merge(&outs));
                            self.status = JobStatus::Completed;
                            self.progress = Progress::new("done", 1, 1);
                            self.finish(now_ms);
                        } else {
                            self.bump(JobStatus::Processing);
                            self.recompute_progress();
                        }
                    }
                    _ => {
                        let e = JobError {
                            code: "invalid-worker-output".into(),
                            message: "the worker's output could not be read".into(),
                            details: None,
                        };
                        self.part_failed(i, e, false, now_ms, policy);
                    }
                }
                true
            }
            JobStatus::Failed => {
                let e = WorkerError::from_runpod_string(body.get("error").and_then(Value::as_str).unwrap_or("the worker failed"));
                let details = json!({ "retryable": e.retryable, "stderr_tail": e.stderr_tail });
                let err = JobError { code: e.code.clone(), message: e.message.clone(), details: Some(details) };
                self.part_failed(i, err, e.retryable, now_ms, policy);
                true
            }
            JobStatus::Cancelled => self.fail(JobStatus::Cancelled, "cancelled", "the job was cancelled on the GPU backend", None, now_ms),
            JobStatus::TimedOut => {
                self.fail(JobStatus::TimedOut, "execution-timeout", "the job ran longer than its execution timeout", None, now_ms)
            }
        }
    }

    /// Whether the tenant's index should hear of the status now: it changed since the
    /// index last heard, and the job has ended or is [`INDEX_LAG_MS`] old.
    pub fn index_due(&self, now_ms: i64) -> bool {
        self.indexed_status != Some(self.status) && (self.is_terminal() || now_ms >= self.created_ms + INDEX_LAG_MS)
    }

    /// When an ended job's storage is deleted: [`RETENTION_MS`] after it ended.
    pub fn expires_at_ms(&self) -> Option<i64> {
        self.is_terminal().then(|| self.completed_ms.unwrap_or(self.created_ms).saturating_add(RETENTION_MS))
    }

    /// Whether the job ended long enough ago that its object deletes it.
    pub fn expired(&self, now_ms: i64) -> bool {
        self.expires_at_ms().is_some_and(|t| t <= now_ms)
    }

    /// When the job's alarm should run next: the deadline, the next retry, the next
    /// status poll of parts on RunPod (or a lease request while queued), the index's
    /// update once the job is [`INDEX_LAG_MS`] old, the next webhook attempt; once the
    /// job has ended, the webhook's attempts and then the deletion of its storage.
    pub fn next_wake(&self, now_ms: i64, poll: Duration) -> Option<i64> {
        let poll_at = now_ms + poll.as_millis() as i64;
        let mut wake: Option<i64> = None;
        let mut at = |t: i64| wake = Some(wake.map_or(t, |w| w.min(t)));
        if let Some(t) = self.expires_at_ms() {
            at(t);
            if let Some(w) = &self.webhook
                && !w.delivered
                && let Some(t) = w.next_at_ms
            {
                at(t);
            }
            return wake;
        }
        at(self.deadline_ms);
        // Once past the lag, a failed index call waits for the next poll, like the rest.
        if self.indexed_status != Some(self.status) && now_ms < self.created_ms + INDEX_LAG_MS {
            at(self.created_ms + INDEX_LAG_MS);
        }
        if let Some(t) = self.progress_webhook_at(now_ms) {
            at(t);
        }
        for p in &self.parts {
            match p.status {
                // A lease is renewed at least every poll, however long the retry waits.
                PartStatus::Waiting if self.lease_held => at(p.not_before_ms.max(now_ms).min(poll_at)),
                PartStatus::Waiting => at(poll_at),
                PartStatus::Submitting => at(p.submitting_since_ms.unwrap_or(now_ms) + SUBMIT_STALE_MS),
                PartStatus::Submitted | PartStatus::Processing => at(poll_at),
                PartStatus::Completed | PartStatus::Failed => {}
            }
        }
        wake
    }

    /// When a `progress` webhook should go: the job runs, its client asked for them, its
    /// status or progress changed since the last one, and that one went at least
    /// [`PROGRESS_WEBHOOK_INTERVAL_MS`] ago. `None` when none is owed.
    pub fn progress_webhook_at(&self, now_ms: i64) -> Option<i64> {
        let w = self.webhook.as_ref().filter(|w| w.progress_events)?;
        if self.is_terminal() {
            return None;
        }
        match &w.progress_sent {
            None => Some(now_ms),
            Some(s) if s.status == self.status && s.progress == self.progress => None,
            Some(s) => Some((s.at_ms + PROGRESS_WEBHOOK_INTERVAL_MS).max(now_ms)),
        }
    }

    /// Whether a `progress` webhook is due now.
    pub fn progress_webhook_due(&self, now_ms: i64) -> bool {
        self.progress_webhook_at(now_ms).is_some_and(|t| t <= now_ms)
    }

    /// The `webhook-id` of the next `progress` delivery.
    pub fn progress_webhook_id(&self) -> Option<String> {
        self.webhook.as_ref().map(|w| format!("{}_progress_{}", w.msg_id, w.progress_count + 1))
    }

    /// Records a `progress` delivery that showed `status` and `progress` (one attempt,
    /// whatever its outcome: the next change brings a fresher one).
    pub fn progress_webhook_sent(&mut self, status: JobStatus, progress: Progress, now_ms: i64) {
        if let Some(w) = self.webhook.as_mut() {
            w.progress_count += 1;
            w.progress_sent = Some(ProgressSent { at_ms: now_ms, status, progress });
        }
    }

    /// Whether a webhook attempt is due.
    pub fn webhook_due(&self, now_ms: i64) -> bool {
        self.is_terminal() && self.webhook.as_ref().is_some_and(|w| !w.delivered && w.next_at_ms.is_some_and(|t| t <= now_ms))
    }

    /// Records a webhook attempt: `status` is the receiver's HTTP status, `error` what
    /// went wrong when there was none (or it was not 2xx). Schedules the next attempt
    /// with backoff while the window lasts.
    pub fn webhook_attempted(&mut self, now_ms: i64, status: Option<u16>, error: Option<String>, duration_ms: u64, policy: &WebhookPolicy) {
        let Some(w) = &mut self.webhook else { return };
        let first = *w.first_at_ms.get_or_insert(now_ms);
        let ok = status.is_some_and(|s| (200..300).contains(&s));
        let n = w.attempts.len() as u32 + 1;
        w.attempts.push(WebhookAttempt { attempt: n, at: rfc3339_from_ms(now_ms), status_code: status, error, duration_ms });
        if ok {
            w.delivered = true;
            w.next_at_ms = None;
            return;
        }
        let next = now_ms + retry_delay(n, policy.base, policy.max).as_millis() as i64;
        w.next_at_ms = (next - first <= policy.window.as_millis() as i64).then_some(next);
    }

    /// The public job object at `now_ms`; `url_of(key)` gives each output's download URL.
    pub fn view(&self, url_of: &dyn Fn(&str) -> String, now_ms: i64) -> JobView {
        let duration_ms = match (self.started_ms, self.completed_ms) {
            (Some(s), Some(e)) => Some((e - s).max(0) as u64),
            _ => None,
        };
        JobView {
            job_id: self.job_id.clone(),
            status: self.status,
            operation: self.operation.name().to_owned(),
            message: match &self.error {
                Some(e) if self.status == JobStatus::Failed || self.status == JobStatus::TimedOut => e.message.clone(),
                _ => self.status.message().to_owned(),
            },
            status_url: format!("/jobs/{}", self.job_id),
            processor: "GPU".to_owned(),
            timestamp: rfc3339_from_ms(now_ms),
            id_roteiro: self.common.id_roteiro,
            metadata: self.common.metadata.clone(),
            created_at: rfc3339_from_ms(self.created_ms),
            started_at: self.started_ms.map(rfc3339_from_ms),
            completed_at: self.completed_ms.map(rfc3339_from_ms),
            progress: self.progress.clone(),
            result: self.output.as_ref().map(|o| build_result(&self.task, o, url_of)),
            error: self.error.clone(),
            execution: Execution {
                start_time: self.started_ms.map(rfc3339_from_ms),
                end_time: self.completed_ms.map(rfc3339_from_ms),
                duration_ms,
                duration_seconds: duration_ms.map(|d| d as f64 / 1000.0),
            },
            attempts: self.attempts(),
            webhook: self.webhook.as_ref().map(|w| WebhookView {
                url: w.url.clone(),
                delivered: w.delivered,
                attempts: w.attempts.clone(),
                next_attempt_at: w.next_at_ms.filter(|_| !w.delivered).map(rfc3339_from_ms),
            }),
        }
    }
}

#[cfg(test)]
mod tests;
