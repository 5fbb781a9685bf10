//! The Job Durable Object: one per job. SQLite storage holds the truth (the record
//! and the worker payload); nothing lives only in memory. It submits to RunPod,
//! applies RunPod's webhook and status answers, polls from its alarm when no webhook
//! comes, and ends stuck jobs at their deadline.

use std::time::Duration;

use job_spec::{JobStatus, WorkerJob};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use worker::{DurableObject, Env, Method, Request, Response, Result, SqlStorageValue, State, durable_object};

use super::runpod::{self, RunpodError};
use super::util::{self, json};
use crate::record::JobRecord;

#[derive(Serialize, Deserialize)]
pub struct CreateBody {
    pub record: JobRecord,
    pub worker_job: WorkerJob,
}

#[derive(Deserialize)]
struct Row {
    record: String,
    worker_job: String,
}

#[durable_object]
pub struct JobObject {
    state: State,
    env: Env,
}

impl DurableObject for JobObject {
    fn new(state: State, env: Env) -> Self {
        Self { state, env }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        self.schema()?;
        match (req.method(), req.path().as_str()) {
            (Method::Post, "/create") => {
                let body: CreateBody = req.json().await?;
                self.create(body).await
            }
            (Method::Get, "/record") => match self.load()? {
                Some((r, _)) => json(200, &r),
                None => Response::error("no such job", 404),
            },
            (Method::Post, "/runpod") => {
                let body: Value = req.json().await?;
                self.apply(&body)
            }
            (Method::Post, "/cancel") => self.cancel().await,
            _ => Response::error("not found", 404),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        self.schema()?;
        let Some((mut record, _)) = self.load()? else { return Response::ok("gone") };
        if record.status.is_terminal() {
            return Response::ok("done");
        }
        let cfg = match util::config(&self.env) {
            Ok(c) => c,
            Err(_) => return Response::error("misconfigured", 500),
        };
        let now = util::now_ms();
        if now >= record.deadline_ms {
            if let Some(id) = &record.runpod_id {
                let _ = runpod::cancel(&cfg, id).await;
            }
            record.fail(JobStatus::TimedOut, "deadline-exceeded", "the job did not finish before its deadline", None, now);
            self.save(&record)?;
            return Response::ok("timed out");
        }
        if let Some(id) = record.runpod_id.clone() {
            match runpod::status(&cfg, &id).await {
                Ok(body) => {
                    if record.apply_runpod(&body, util::now_ms()) {
                        self.save(&record)?;
                    }
                }
                Err(e) => {
                    util::log(&json!({"level": "warn", "msg": "runpod status poll failed", "job": record.job_id, "error": e.to_string()}))
                }
            }
        }
        if !record.status.is_terminal() {
            self.arm(&record, cfg.status_poll).await?;
        }
        Response::ok("polled")
    }
}

impl JobObject {
    fn schema(&self) -> Result<()> {
        self.state.storage().sql().exec(
            "CREATE TABLE IF NOT EXISTS job (id INTEGER PRIMARY KEY CHECK (id = 1), record TEXT NOT NULL, worker_job TEXT NOT NULL)",
            None,
        )?;
        Ok(())
    }

    fn load(&self) -> Result<Option<(JobRecord, String)>> {
        let rows: Vec<Row> = self.state.storage().sql().exec("SELECT record, worker_job FROM job WHERE id = 1", None)?.to_array()?;
        match rows.into_iter().next() {
            None => Ok(None),
            Some(row) => {
                Ok(Some((serde_json::from_str(&row.record).map_err(|e| worker::Error::RustError(e.to_string()))?, row.worker_job)))
            }
        }
    }

    fn save(&self, record: &JobRecord) -> Result<()> {
        let text = serde_json::to_string(record).map_err(|e| worker::Error::RustError(e.to_string()))?;
        self.state.storage().sql().exec("UPDATE job SET record = ? WHERE id = 1", vec![SqlStorageValue::from(text)])?;
        Ok(())
    }

    /// Next alarm: the poll interval, but never past the deadline.
    async fn arm(&self, record: &JobRecord, poll: Duration) -> Result<()> {
        let until_deadline = (record.deadline_ms - util::now_ms()).max(0) as u64;
        let delay = poll.min(Duration::from_millis(until_deadline + 50));
        self.state.storage().set_alarm(delay).await
    }

    async fn create(&self, body: CreateBody) -> Result<Response> {
        if let Some((existing, _)) = self.load()? {
            return json(200, &existing);
        }
        let mut record = body.record;
        let payload = serde_json::to_string(&body.worker_job).map_err(|e| worker::Error::RustError(e.to_string()))?;
        let text = serde_json::to_string(&record).map_err(|e| worker::Error::RustError(e.to_string()))?;
        self.state.storage().sql().exec(
            "INSERT INTO job (id, record, worker_job) VALUES (1, ?, ?)",
            vec![SqlStorageValue::from(text), SqlStorageValue::from(payload)],
        )?;
        let cfg = match util::config(&self.env) {
            Ok(c) => c,
            Err(e) => return util::error_response(&e),
        };
        let token = crate::token::job_token(&cfg.webhook_token_secret, &record.job_id);
        let webhook = format!("{}/internal/runpod/{}/{token}", cfg.edge_public_url, record.job_id);
        match runpod::run(&cfg, &body.worker_job, &webhook).await {
            Ok(runpod_id) => {
                record.submitted(runpod_id);
                self.save(&record)?;
                self.arm(&record, cfg.status_poll).await?;
                json(200, &record)
            }
            Err(e) => {
                let (status, code) = match &e {
                    RunpodError::Unavailable(_) => (503, "gpu-backend-unavailable"),
                    RunpodError::Refused(_) => (502, "gpu-backend-refused"),
                };
                util::log(&json!({"level": "error", "msg": "runpod submit failed", "job": record.job_id, "error": e.to_string()}));
                record.fail(JobStatus::Failed, code, "the GPU backend could not take the job", None, util::now_ms());
                self.save(&record)?;
                json(status, &record)
            }
        }
    }

    fn apply(&self, body: &Value) -> Result<Response> {
        let Some((mut record, _)) = self.load()? else { return Response::error("no such job", 404) };
        if record.apply_runpod(body, util::now_ms()) {
            self.save(&record)?;
        }
        json(200, &record)
    }

    async fn cancel(&self) -> Result<Response> {
        let Some((mut record, _)) = self.load()? else { return Response::error("no such job", 404) };
        if record.status.is_terminal() {
            return json(200, &record);
        }
        if let (Ok(cfg), Some(id)) = (util::config(&self.env), &record.runpod_id)
            && let Err(e) = runpod::cancel(&cfg, id).await
        {
            util::log(&json!({"level": "warn", "msg": "runpod cancel failed", "job": record.job_id, "error": e.to_string()}));
        }
        record.fail(JobStatus::Cancelled, "cancelled", "the job was cancelled by the client", None, util::now_ms());
        self.save(&record)?;
        json(200, &record)
    }
}
