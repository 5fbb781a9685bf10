//! The Job Durable Object: one per job. SQLite holds the truth (the record and the
//! parts' plans); nothing lives only in memory, and every change is saved before the
//! next await. `/create` only stores the record as the tenant admitted it (lease held
//! or place in line, index row written) and arms the alarm for now: it calls nothing,
//! so the submission's 202 never waits on RunPod. `step` drives the job: deadline,
//! lease renewal from the tenant, submission of due parts (presigned afresh for each
//! attempt; a backend that does not take them leaves the job QUEUED, retried with
//! backoff), clean-up when it ends, the tenant's index, and the next alarm. The alarm
//! also polls RunPod when no webhook came and delivers the client webhook with backoff.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use futures_util::future::{Either, select};
use job_spec::{JobStatus, Plan};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use worker::wasm_bindgen::JsValue;
use worker::{
    AbortController, Delay, DurableObject, Env, Fetch, Headers, Method, Request, RequestInit, RequestRedirect, Response, Result,
    SqlStorageValue, State, Stub, durable_object,
};

use super::runpod::{self, RunpodError};
use super::tenant_object::{IndexBody, LeaseBody};
use super::util::{self, json};
use crate::config::EdgeConfig;
use crate::record::JobRecord;
use crate::tenant::Acquire;

#[derive(Serialize, Deserialize)]
pub struct CreateBody {
    pub record: JobRecord,
    pub plans: Vec<Plan>,
}

#[derive(Deserialize)]
struct RecordRow {
    record: String,
}

#[derive(Deserialize)]
struct PlansRow {
    plans: String,
}

/// A worker's progress report for part `part`, attempt `attempt`, as the handler
/// forwards it to `/progress`.
#[derive(Debug, Serialize, Deserialize)]
pub struct ProgressBody {
    pub part: usize,
    pub attempt: u32,
    pub progress: job_spec::Progress,
}

#[durable_object]
pub struct JobObject {
    state: State,
    env: Env,
    /// The table exists (a cache of what storage holds: saves a storage call per event).
    schema_ready: Cell<bool>,
}

fn bad(e: impl std::fmt::Display) -> worker::Error {
    worker::Error::RustError(e.to_string())
}

impl DurableObject for JobObject {
    fn new(state: State, env: Env) -> Self {
        Self { state, env, schema_ready: Cell::new(false) }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        util::enter(&req);
        self.schema()?;
        match (req.method(), req.path().as_str()) {
            (Method::Post, "/create") => {
                let body: CreateBody = util::request_json(&req).await?;
                self.create(body).await
            }
            (Method::Get, "/record") => match self.load()? {
                // Past retention (its alarm deletes it): gone already.
                Some(r) if !r.expired(util::now_ms()) => {
                    // Jobs that ended before retention was kept have no alarm: arm it now.
                    if r.is_terminal() && self.state.storage().get_alarm().await?.is_none() {
                        self.arm(&*self.config()?).await?;
                    }
                    json(200, &r)
                }
                _ => Response::error("no such job", 404),
            },
            (Method::Post, "/runpod") => {
                let body: Value = util::request_json(&req).await?;
                let Some(mut r) = self.load()? else { return Response::error("no such job", 404) };
                if let Some(why) = r.webhook_refusal(&body) {
                    util::log(&json!({"level": "warn", "msg": "webhook refused", "job": r.job_id, "why": why}));
                    return Response::error(why, 409);
                }
                let cfg = self.config()?;
                if r.apply_runpod(&body, util::now_ms(), &cfg.retry) {
                    self.save(&r)?;
                }
                json(200, &self.step(&cfg).await?)
            }
            // The worker's progress report (checked by the handler): load, apply, save.
            // Nothing else: it comes every second and must stay cheap. A client that asked
            // for progress webhooks gets one from the alarm, which is moved up for it.
            (Method::Post, "/progress") => {
                let body: ProgressBody = util::request_json(&req).await?;
                let Some(mut r) = self.load()? else { return Response::error("no such job", 404) };
                let applied = r.apply_progress(body.part, body.attempt, body.progress, util::now_ms());
                if applied {
                    self.save(&r)?;
                    if r.progress_webhook_at(util::now_ms()).is_some() {
                        self.arm_for(&*self.config()?, &r).await?;
                    }
                }
                json(200, &json!({ "applied": applied }))
            }
            (Method::Post, "/cancel") => {
                let Some(mut r) = self.load()? else { return Response::error("no such job", 404) };
                let cfg = self.config()?;
                if r.fail(JobStatus::Cancelled, "cancelled", "the job was cancelled by the client", None, util::now_ms()) {
                    self.save(&r)?;
                }
                json(200, &self.step(&cfg).await?)
            }
            // The tenant says a slot may be free: run the alarm now.
            (_, "/wake") => {
                self.state.storage().set_alarm(Duration::from_millis(1)).await?;
                Response::ok("ok")
            }
            _ => Response::error("not found", 404),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        util::enter_alarm();
        self.schema()?;
        let Some(r) = self.load()? else { return Response::ok("gone") };
        if r.expired(util::now_ms()) {
            // Retention: the job ended RETENTION_MS ago (the tenant's index forgets it too).
            util::log(&json!({"level": "info", "msg": "job deleted after its retention period", "job": r.job_id}));
            self.state.storage().delete_alarm().await?;
            self.state.storage().delete_all().await?;
            return Response::ok("deleted");
        }
        let cfg = match util::config(&self.env) {
            Ok(c) => c,
            Err(_) => {
                // Misconfigured: try again later rather than lose the job.
                self.state.storage().set_alarm(Duration::from_secs(60)).await?;
                return Response::error("misconfigured", 500);
            }
        };
        // Poll RunPod for parts whose webhook has not come.
        for (i, id) in r.polled_parts() {
            let answer = runpod::status(&cfg, &id).await;
            let Some(mut r) = self.load()? else { return Response::ok("gone") };
            let now = util::now_ms();
            let changed = match answer {
                Ok(body) => r.apply_runpod(&body, now, &cfg.retry),
                Err(RunpodError::NotFound(_)) => {
                    util::log(&json!({"level": "warn", "msg": "the GPU backend lost a part", "job": r.job_id, "part": i, "runpod_id": id}));
                    r.part_lost(i, now, &cfg.retry);
                    true
                }
                Err(e) => {
                    util::log(&json!({"level": "warn", "msg": "runpod status poll failed", "job": r.job_id, "error": e.to_string()}));
                    false
                }
            };
            if changed {
                self.save(&r)?;
            }
        }
        let r = self.step(&cfg).await?;
        if r.webhook_due(util::now_ms()) {
            self.deliver_webhook(&cfg).await?;
            self.arm(&cfg).await?;
        } else if r.progress_webhook_due(util::now_ms()) {
            self.deliver_progress_webhook(&cfg, r).await?;
            self.arm(&cfg).await?;
        }
        Response::ok("ok")
    }
}

impl JobObject {
    fn config(&self) -> Result<Rc<EdgeConfig>> {
        util::config(&self.env).map_err(|e| bad(e.message))
    }

    /// Creates the table once per instance (each statement is a storage call).
    fn schema(&self) -> Result<()> {
        if self.schema_ready.get() {
            return Ok(());
        }
        self.state.storage().sql().exec(
            "CREATE TABLE IF NOT EXISTS job (id INTEGER PRIMARY KEY CHECK (id = 1), record TEXT NOT NULL, plans TEXT NOT NULL)",
            None,
        )?;
        self.schema_ready.set(true);
        Ok(())
    }

    /// The record as saved. The parts' plans are read only when a part is submitted.
    fn load(&self) -> Result<Option<JobRecord>> {
        let rows: Vec<RecordRow> = self.state.storage().sql().exec("SELECT record FROM job WHERE id = 1", None)?.to_array()?;
        let Some(row) = rows.into_iter().next() else { return Ok(None) };
        let mut r: JobRecord = serde_json::from_str(&row.record).map_err(bad)?;
        // Records stored before parts kept their planned output keys take them from the
        // stored plans (else their outputs would all be refused).
        if r.parts.iter().all(|p| p.planned_outputs.is_empty()) {
            r.plan_outputs(&self.plans()?);
        }
        Ok(Some(r))
    }

    fn plans(&self) -> Result<Vec<Plan>> {
        let rows: Vec<PlansRow> = self.state.storage().sql().exec("SELECT plans FROM job WHERE id = 1", None)?.to_array()?;
        let row = rows.into_iter().next().ok_or_else(|| bad("no such job"))?;
        serde_json::from_str(&row.plans).map_err(bad)
    }

    /// The saved record once an await let other events run, else `r` as it is.
    fn reload(&self, r: JobRecord) -> Result<JobRecord> {
        Ok(self.load()?.unwrap_or(r))
    }

    fn save(&self, record: &JobRecord) -> Result<()> {
        let text = serde_json::to_string(record).map_err(bad)?;
        self.state.storage().sql().exec("UPDATE job SET record = ? WHERE id = 1", vec![SqlStorageValue::from(text)])?;
        Ok(())
    }

    fn tenant(&self, r: &JobRecord) -> Result<Stub> {
        self.env.durable_object("TENANT_OBJECTS")?.id_from_name(&r.tenant)?.get_stub()
    }

    async fn tenant_call<T: Serialize>(&self, r: &JobRecord, path: &str, body: &T) -> Result<Response> {
        let mut init = RequestInit::new();
        let h = Headers::new();
        h.set("x-request-id", &util::request_id())?;
        init.with_method(Method::Post).with_headers(h);
        init.with_body(Some(JsValue::from_str(&serde_json::to_string(body).map_err(bad)?)));
        self.tenant(r)?.fetch_with_request(Request::new_with_init(&format!("https://tenant{path}"), &init)?).await
    }

    /// Sets the alarm from the saved record.
    async fn arm(&self, cfg: &EdgeConfig) -> Result<()> {
        match self.load()? {
            Some(r) => self.arm_for(cfg, &r).await,
            None => Ok(()),
        }
    }

    /// Sets the alarm from `r`: the next poll, retry, deadline or webhook.
    async fn arm_for(&self, cfg: &EdgeConfig, r: &JobRecord) -> Result<()> {
        let now = util::now_ms();
        // Jobs holding a lease renew it at least three times per lease lifetime.
        let poll = if r.lease_held { cfg.status_poll.min(cfg.lease_ttl / 3) } else { cfg.status_poll };
        match r.next_wake(now, poll) {
            Some(at) => self.state.storage().set_alarm(Duration::from_millis((at - now).max(1) as u64)).await,
            None => self.state.storage().delete_alarm().await,
        }
    }

    async fn create(&self, body: CreateBody) -> Result<Response> {
        if let Some(existing) = self.load()? {
            return json(200, &existing);
        }
        let mut record = body.record;
        record.plan_outputs(&body.plans);
        let plans = serde_json::to_string(&body.plans).map_err(bad)?;
        let text = serde_json::to_string(&record).map_err(bad)?;
        self.state.storage().sql().exec(
            "INSERT INTO job (id, record, plans) VALUES (1, ?, ?)",
            vec![SqlStorageValue::from(text), SqlStorageValue::from(plans)],
        )?;
        // The alarm submits it; the client has its 202 by then.
        self.state.storage().set_alarm(Duration::from_millis(1)).await?;
        json(200, &record)
    }

    /// Drives the job as far as it can go now; returns the saved record. The record is
    /// read again after each await (a webhook, a cancel or a progress report may have
    /// run meanwhile) and saved before the next one.
    async fn step(&self, cfg: &EdgeConfig) -> Result<JobRecord> {
        let Some(mut r) = self.load()? else { return Err(bad("no such job")) };
        if r.deadline_passed(util::now_ms()) {
            self.save(&r)?;
        }
        let tenant = cfg.tenants.iter().find(|t| t.name == r.tenant);
        let max = tenant.map_or(crate::tenant::DEFAULT_MAX_CONCURRENT, |t| cfg.tenant_slots(t));
        let ttl_ms = cfg.lease_ttl.as_millis() as i64;
        if r.lease_request_due(util::now_ms(), ttl_ms) {
            let lease = LeaseBody { job_id: r.job_id.clone(), slots: r.parts.len() as u32, max, ttl_ms, status: None };
            let answer = self.tenant_call(&r, "/lease", &lease).await;
            r = self.reload(r)?;
            match answer {
                Ok(resp) => match util::response_json::<Acquire>(&resp).await {
                    Ok(answer) => {
                        if r.lease_answered(answer) {
                            self.save(&r)?;
                        }
                    }
                    Err(e) => util::log(&json!({"level": "error", "msg": "tenant lease answer", "error": e.to_string()})),
                },
                Err(e) => util::log(&json!({"level": "error", "msg": "tenant lease failed", "error": e.to_string()})),
            }
        }
        if r.lease_held && r.task.runs_on_edge() {
            // AI prompts and images: this object calls the provider itself (provider_job.rs).
            r = super::provider_job::drive(&self.state, cfg, r).await?;
        } else if r.lease_held {
            let due = r.due_parts(util::now_ms());
            if !due.is_empty() {
                let plans = self.plans()?;
                for i in due {
                    self.submit_part(cfg, i, &plans[i]).await?;
                }
                r = self.reload(r)?;
            }
        }
        let r = self.finalize(cfg, max, r).await?;
        let r = self.index(r).await?;
        self.arm_for(cfg, &r).await?;
        Ok(r)
    }

    /// Submits part `i` if it is still due. The claim is saved before `/run` and
    /// checked again after it: events that ran during the await (a webhook, a cancel,
    /// another step) may have ended the job or submitted the part themselves.
    async fn submit_part(&self, cfg: &EdgeConfig, i: usize, plan: &Plan) -> Result<()> {
        let Some(mut r) = self.load()? else { return Err(bad("no such job")) };
        let Some(claim) = r.claim_submit(i, util::now_ms()) else { return Ok(()) };
        self.save(&r)?;
        let attempt = r.parts[i].attempts + 1;
        let submitted = match crate::presign::worker_job(&cfg.s3, plan, &r.job_id, attempt, cfg.job_url_ttl(), util::now_system()) {
            Ok(mut job) => {
                job.progress_url = Some(crate::token::progress_url(&cfg.edge_public_url, &cfg.webhook_token_secret, &r.job_id, i, attempt));
                let token = crate::token::job_token(&cfg.webhook_token_secret, &r.job_id);
                let webhook = format!("{}/internal/runpod/{}/{token}", cfg.edge_public_url, r.job_id);
                runpod::run(cfg, &job, &webhook).await
            }
            Err(e) => Err(RunpodError::Refused(format!("presigning failed: {e}"))),
        };
        let Some(mut r) = self.load()? else { return Err(bad("no such job")) };
        match submitted {
            Ok(runpod_id) => {
                if !r.submitted(i, claim, runpod_id.clone()) {
                    // The job ended, or another event took the part over, while RunPod
                    // took it: take this one back.
                    util::log(&json!({"level": "warn", "msg": "part no longer ours after /run: cancelling", "job": r.job_id,
                        "part": i, "runpod_id": runpod_id}));
                    let _ = runpod::cancel(cfg, &runpod_id).await;
                    return Ok(());
                }
                util::log(
                    &json!({"level": "info", "msg": "part submitted", "job": r.job_id, "part": i, "attempt": attempt, "runpod_id": runpod_id}),
                );
            }
            Err(e) => {
                util::log(&json!({"level": "error", "msg": "runpod submit failed", "job": r.job_id, "part": i, "error": e.to_string()}));
                r.submit_failed(i, claim, &e, util::now_ms(), &cfg.retry);
            }
        }
        self.save(&r)
    }

    /// A job that has ended cancels its parts still on RunPod and gives its slots back;
    /// the same call to the tenant writes its final status into the index.
    async fn finalize(&self, cfg: &EdgeConfig, max: u32, r: JobRecord) -> Result<JobRecord> {
        if !r.is_terminal() || r.finalized {
            return Ok(r);
        }
        if r.status != JobStatus::Completed {
            for id in r.active_runpod_ids() {
                if let Err(e) = runpod::cancel(cfg, &id).await {
                    util::log(&json!({"level": "warn", "msg": "runpod cancel failed", "job": r.job_id, "error": e.to_string()}));
                }
            }
        }
        // A terminal status does not change: the one sent is the one the index keeps.
        let status = r.status;
        let release = LeaseBody { job_id: r.job_id.clone(), slots: 0, max, ttl_ms: 0, status: Some(status) };
        let released = self.tenant_call(&r, "/release", &release).await;
        let mut r = self.reload(r)?;
        match released {
            Ok(_) => {
                r.lease_held = false;
                r.finalized = true;
                r.indexed_status = Some(status);
                util::log(&json!({"level": "info", "msg": "job ended", "job": r.job_id, "status": r.status, "attempts": r.attempts()}));
            }
            // The lease expires by itself; try again at the next alarm.
            Err(e) => util::log(&json!({"level": "warn", "msg": "lease release failed", "job": r.job_id, "error": e.to_string()})),
        }
        self.save(&r)?;
        Ok(r)
    }

    /// Tells the tenant's index about a status change, once it is due (`index_due`:
    /// a job's first seconds are told with its end).
    async fn index(&self, r: JobRecord) -> Result<JobRecord> {
        if !r.index_due(util::now_ms()) {
            return Ok(r);
        }
        let status = r.status;
        let told = self.tenant_call(&r, "/index", &IndexBody { job_id: r.job_id.clone(), status }).await.is_ok();
        let mut r = self.reload(r)?;
        if told {
            r.indexed_status = Some(status);
            self.save(&r)?;
        }
        Ok(r)
    }

    /// One delivery attempt of the client webhook, signed per Standard Webhooks.
    async fn deliver_webhook(&self, cfg: &EdgeConfig) -> Result<()> {
        let Some(r) = self.load()? else { return Ok(()) };
        let Some(w) = r.webhook.clone() else { return Ok(()) };
        let Some(tenant) = cfg.tenants.iter().find(|t| t.name == r.tenant) else { return Ok(()) };
        let mut view = r.view(&util::url_of(cfg), util::now_ms());
        view.webhook = None;
        let body = serde_json::to_string(&view).map_err(bad)?;
        let started = util::now_ms();
        let outcome = match crate::webhook::sign(&tenant.webhook_secret, &w.msg_id, started / 1000, &body) {
            Ok(h) => post_webhook(&w.url, &h, &body, cfg.webhook_timeout).await,
            Err(e) => (None, Some(format!("signing: {e}"))),
        };
        let Some(mut r) = self.load()? else { return Ok(()) };
        let now = util::now_ms();
        util::log(&json!({"level": if outcome.0.is_some_and(|s| (200..300).contains(&s)) { "info" } else { "warn" },
            "msg": "webhook attempt", "job": r.job_id, "status": outcome.0, "error": outcome.1}));
        r.webhook_attempted(now, outcome.0, outcome.1, (now - started).max(0) as u64, &cfg.webhooks);
        self.save(&r)
    }
}

impl JobObject {
    /// One `progress` delivery: the job object as it is now, signed like the final
    /// one but with its own `webhook-id`; one attempt, whatever its outcome.
    async fn deliver_progress_webhook(&self, cfg: &EdgeConfig, r: JobRecord) -> Result<()> {
        let (Some(w), Some(id)) = (r.webhook.clone(), r.progress_webhook_id()) else { return Ok(()) };
        let Some(tenant) = cfg.tenants.iter().find(|t| t.name == r.tenant) else { return Ok(()) };
        let mut view = r.view(&util::url_of(cfg), util::now_ms());
        view.webhook = None;
        let body = serde_json::to_string(&view).map_err(bad)?;
        let started = util::now_ms();
        let outcome = match crate::webhook::sign(&tenant.webhook_secret, &id, started / 1000, &body) {
            Ok(h) => post_webhook(&w.url, &h, &body, cfg.webhook_timeout).await,
            Err(e) => (None, Some(format!("signing: {e}"))),
        };
        util::log(&json!({"level": if outcome.0.is_some_and(|s| (200..300).contains(&s)) { "info" } else { "warn" },
            "msg": "progress webhook", "job": r.job_id, "status": outcome.0, "error": outcome.1}));
        let mut fresh = self.reload(r.clone())?;
        fresh.progress_webhook_sent(r.status, r.progress, util::now_ms());
        self.save(&fresh)
    }
}

/// POSTs a webhook; returns the receiver's status and, when it was not 2xx or none
/// came, what went wrong.
async fn post_webhook(url: &str, h: &crate::webhook::WebhookHeaders, body: &str, timeout: Duration) -> (Option<u16>, Option<String>) {
    let attempt = async {
        let headers = Headers::new();
        headers.set("content-type", "application/json")?;
        headers.set("user-agent", "api-gpu-webhooks/1")?;
        headers.set("webhook-id", &h.id)?;
        headers.set("webhook-timestamp", &h.timestamp)?;
        headers.set("webhook-signature", &h.signature)?;
        let mut init = RequestInit::new();
        // Never follow a redirect: its target was not checked like the webhook URL was.
        init.with_method(Method::Post)
            .with_headers(headers)
            .with_body(Some(JsValue::from_str(body)))
            .with_redirect(RequestRedirect::Manual);
        let controller = AbortController::default();
        let signal = controller.signal();
        let req = Request::new_with_init(url, &init)?;
        let fetch = Fetch::Request(req);
        let send = Box::pin(fetch.send_with_signal(&signal));
        match select(send, Box::pin(Delay::from(timeout))).await {
            Either::Left((resp, _)) => resp.map(|r| Some(r.status_code())),
            Either::Right(_) => {
                controller.abort();
                Ok(None)
            }
        }
    };
    match attempt.await {
        Ok(Some(s)) => (Some(s), crate::webhook::delivery_error(s)),
        Ok(None) => (None, Some(format!("no answer within {} s", timeout.as_secs()))),
        Err(e) => (None, Some(e.to_string())),
    }
}
