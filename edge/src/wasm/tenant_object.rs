//! The Tenant Durable Object: one per tenant (named by the tenant). SQLite holds its
//! rate-limit bucket, its lease book (leases and the FIFO of waiting jobs), its
//! `Idempotency-Key` records and the job index behind `GET /jobs` and
//! `GET /queue/stats`. The decisions are `crate::tenant`'s; this file stores them.
//! `/admit` decides all a submission needs of the tenant in one call (and one
//! transaction): rate limit, `Idempotency-Key`, index row, lease.
//! Its alarm expires leases (waking the next waiting jobs) and prunes old records.

use std::cell::Cell;
use std::time::Duration;

use job_spec::JobStatus;
use job_spec::job::rfc3339_from_ms;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use worker::{DurableObject, Env, Method, Request, Response, Result, SqlStorageValue, State, durable_object};

use super::util::{self, json};
use crate::tenant::{Admission, AdmitRequest, Bucket, IdempotencyRecord, LeaseBook};

/// Index rows are kept this long after their last update (as job objects are).
const INDEX_RETENTION_MS: i64 = crate::tenant::RETENTION_MS;
/// The alarm runs at least this often while there is anything to expire or prune.
const HOUSEKEEPING_MS: i64 = 3600 * 1000;

/// `/admit`: the decision's input, and what the index row shows.
#[derive(Serialize, Deserialize)]
pub struct AdmitBody {
    #[serde(flatten)]
    pub request: AdmitRequest,
    pub operation: String,
    pub id_roteiro: Option<i64>,
}

#[derive(Serialize, Deserialize)]
pub struct LeaseBody {
    pub job_id: String,
    pub slots: u32,
    pub max: u32,
    pub ttl_ms: i64,
    /// On `/release`: the job's final status, for its index row (one round trip for
    /// both).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<JobStatus>,
}

#[derive(Serialize, Deserialize)]
pub struct IndexBody {
    pub job_id: String,
    pub status: JobStatus,
}

#[derive(Deserialize)]
struct KvRow {
    v: String,
}

#[derive(Deserialize)]
struct IdemRow {
    sha: String,
    job_id: String,
    created_ms: f64,
}

#[derive(Deserialize)]
struct JobRow {
    job_id: String,
    status: String,
    operation: String,
    created_ms: f64,
    updated_ms: f64,
    id_roteiro: Option<f64>,
}

#[derive(Deserialize)]
struct CountRow {
    status: String,
    n: f64,
}

#[durable_object]
pub struct TenantObject {
    state: State,
    env: Env,
    /// Caches of what storage holds, so a hot tenant skips storage calls: the tables
    /// exist; the alarm is set for this instant.
    schema_ready: Cell<bool>,
    armed_at: Cell<Option<i64>>,
}

fn bad(e: impl std::fmt::Display) -> worker::Error {
    worker::Error::RustError(e.to_string())
}

impl DurableObject for TenantObject {
    fn new(state: State, env: Env) -> Self {
        Self { state, env, schema_ready: Cell::new(false), armed_at: Cell::new(None) }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        util::enter(&req);
        self.schema()?;
        let now = util::now_ms();
        let path = req.path();
        match (req.method(), path.as_str()) {
            (Method::Post, "/admit") => {
                let b: AdmitBody = util::request_json(&req).await?;
                json(200, &self.admit(b, now).await?)
            }
            (Method::Post, "/lease") => {
                let b: LeaseBody = util::request_json(&req).await?;
                self.put("max", &b.max)?;
                let mut book = self.book()?;
                let expired = book.expire(now);
                let a = book.acquire(&b.job_id, b.slots, b.max, now, b.ttl_ms);
                self.put("book", &book)?;
                self.arm(&book, now).await?;
                if !expired.is_empty() {
                    util::log(&json!({"level": "warn", "msg": "leases expired", "jobs": expired}));
                    self.wake(&book.promotable(b.max)).await;
                }
                json(200, &a)
            }
            (Method::Post, "/release") => {
                let b: LeaseBody = util::request_json(&req).await?;
                let mut book = self.book()?;
                book.release(&b.job_id);
                book.expire(now);
                self.put("book", &book)?;
                if let Some(status) = b.status {
                    self.index(&b.job_id, status, now)?;
                }
                self.arm(&book, now).await?;
                self.wake(&book.promotable(b.max)).await;
                json(200, &json!({"ok": true}))
            }
            (Method::Post, "/index") => {
                let b: IndexBody = util::request_json(&req).await?;
                self.index(&b.job_id, b.status, now)?;
                json(200, &json!({"ok": true}))
            }
            (Method::Get, "/list") => {
                let url = req.url()?;
                let q = crate::tenant::ListQuery::parse(url.query().unwrap_or("")).map_err(|_| bad("bad query"))?;
                json(200, &self.list(&q)?)
            }
            (Method::Get, "/stats") => json(200, &self.stats()?),
            _ => Response::error("not found", 404),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        util::enter_alarm();
        self.schema()?;
        let now = util::now_ms();
        let mut book = self.book()?;
        let expired = book.expire(now);
        self.put("book", &book)?;
        self.sql("DELETE FROM idem WHERE created_ms <= ?", vec![((now - crate::tenant::IDEMPOTENCY_TTL_MS) as f64).into()])?;
        self.sql("DELETE FROM jobs WHERE updated_ms <= ?", vec![((now - INDEX_RETENTION_MS) as f64).into()])?;
        if !expired.is_empty() {
            util::log(&json!({"level": "warn", "msg": "leases expired", "jobs": expired}));
        }
        // The waiting jobs know their slot count; any of them fits the tenant's maximum.
        let max = self.max_slots();
        self.wake(&book.promotable(max)).await;
        self.arm(&book, now).await?;
        Response::ok("ok")
    }
}

fn status_text(s: JobStatus) -> String {
    serde_json::to_value(s).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

impl TenantObject {
    /// Creates the tables once per instance (each statement is a storage call).
    fn schema(&self) -> Result<()> {
        if self.schema_ready.get() {
            return Ok(());
        }
        let sql = self.state.storage().sql();
        sql.exec("CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v TEXT NOT NULL)", None)?;
        sql.exec(
            "CREATE TABLE IF NOT EXISTS idem (key TEXT PRIMARY KEY, sha TEXT NOT NULL, job_id TEXT NOT NULL, created_ms REAL NOT NULL)",
            None,
        )?;
        sql.exec(
            "CREATE TABLE IF NOT EXISTS jobs (job_id TEXT PRIMARY KEY, status TEXT NOT NULL, operation TEXT NOT NULL, \
             created_ms REAL NOT NULL, updated_ms REAL NOT NULL, id_roteiro REAL)",
            None,
        )?;
        sql.exec("CREATE INDEX IF NOT EXISTS jobs_created ON jobs (created_ms)", None)?;
        self.schema_ready.set(true);
        Ok(())
    }

    fn index(&self, job_id: &str, status: JobStatus, now: i64) -> Result<()> {
        self.sql(
            "UPDATE jobs SET status = ?, updated_ms = ? WHERE job_id = ?",
            vec![status_text(status).into(), (now as f64).into(), job_id.into()],
        )
    }

    fn sql(&self, q: &str, args: Vec<SqlStorageValue>) -> Result<()> {
        self.state.storage().sql().exec(q, Some(args))?;
        Ok(())
    }

    fn rows<T: DeserializeOwned>(&self, q: &str, args: Vec<SqlStorageValue>) -> Result<Vec<T>> {
        self.state.storage().sql().exec(q, Some(args))?.to_array()
    }

    fn get<T: DeserializeOwned>(&self, k: &str) -> Result<Option<T>> {
        let rows: Vec<KvRow> = self.rows("SELECT v FROM kv WHERE k = ?", vec![k.into()])?;
        rows.into_iter().next().map(|r| serde_json::from_str(&r.v).map_err(bad)).transpose()
    }

    fn put<T: Serialize>(&self, k: &str, v: &T) -> Result<()> {
        let text = serde_json::to_string(v).map_err(bad)?;
        self.sql("INSERT INTO kv (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v", vec![k.into(), text.into()])
    }

    fn book(&self) -> Result<LeaseBook> {
        Ok(self.get("book")?.unwrap_or_default())
    }

    /// The tenant's slot count, as the last lease request said (for the alarm).
    fn max_slots(&self) -> u32 {
        self.get::<u32>("max").ok().flatten().unwrap_or(crate::tenant::DEFAULT_MAX_CONCURRENT)
    }

    /// Alarm at the earliest lease expiry, and at least hourly for pruning. An alarm
    /// already armed between now and then stays (an early alarm only re-arms): most
    /// admissions add a lease that expires after the earliest one.
    async fn arm(&self, book: &LeaseBook, now: i64) -> Result<()> {
        let at = book.next_expiry().map_or(now + HOUSEKEEPING_MS, |e| e.min(now + HOUSEKEEPING_MS)).max(now) + 10;
        if self.armed_at.get().is_some_and(|a| now < a && a <= at) {
            return Ok(());
        }
        self.state.storage().set_alarm(Duration::from_millis((at - now) as u64)).await?;
        self.armed_at.set(Some(at));
        Ok(())
    }

    /// Tells waiting jobs that their turn may have come (each asks for its lease).
    async fn wake(&self, jobs: &[String]) {
        let Ok(ns) = self.env.durable_object("JOBS") else { return };
        for id in jobs {
            let stub = ns.id_from_string(id).and_then(|i| i.get_stub());
            if let Err(e) = match stub {
                Ok(s) => s.fetch_with_str("https://job/wake").await.map(|_| ()),
                Err(e) => Err(e),
            } {
                util::log(&json!({"level": "warn", "msg": "waking a job failed", "job": id, "error": e.to_string()}));
            }
        }
    }

    /// Admits a submission (see [`crate::tenant::admit`]) and stores what it decided:
    /// the bucket always; for a new job its `Idempotency-Key` record, its index row
    /// (QUEUED) and the lease book. All writes are synchronous SQLite calls with no await
    /// between them, so the runtime commits them together.
    async fn admit(&self, b: AdmitBody, now: i64) -> Result<Admission> {
        let req = &b.request;
        let mut bucket: Bucket = self.get("bucket")?.unwrap_or_else(|| Bucket::full(req.rate_per_minute, now));
        let existing = match &req.idempotency {
            Some((key, _)) => {
                let rows: Vec<IdemRow> = self.rows("SELECT sha, job_id, created_ms FROM idem WHERE key = ?", vec![key.as_str().into()])?;
                rows.into_iter().next().map(|r| IdempotencyRecord {
                    request_sha256: r.sha,
                    job_id: r.job_id,
                    created_ms: r.created_ms as i64,
                })
            }
            None => None,
        };
        let mut book = self.book()?;
        let expired = book.expire(now);
        let admission = crate::tenant::admit(&mut bucket, &mut book, existing.as_ref(), req, now);
        self.put("bucket", &bucket)?;
        if let Admission::Admitted { .. } = admission {
            if let Some((key, sha)) = &req.idempotency {
                self.sql(
                    "INSERT INTO idem (key, sha, job_id, created_ms) VALUES (?, ?, ?, ?) \
                     ON CONFLICT (key) DO UPDATE SET sha = excluded.sha, job_id = excluded.job_id, created_ms = excluded.created_ms",
                    vec![key.as_str().into(), sha.as_str().into(), req.job_id.as_str().into(), (now as f64).into()],
                )?;
            }
            self.sql(
                "INSERT OR IGNORE INTO jobs (job_id, status, operation, created_ms, updated_ms, id_roteiro) VALUES (?, ?, ?, ?, ?, ?)",
                vec![
                    req.job_id.as_str().into(),
                    status_text(JobStatus::Queued).into(),
                    b.operation.as_str().into(),
                    (now as f64).into(),
                    (now as f64).into(),
                    b.id_roteiro.map_or(SqlStorageValue::Null, |v| (v as f64).into()),
                ],
            )?;
            self.put("max", &req.max)?;
        }
        if !expired.is_empty() || matches!(admission, Admission::Admitted { .. }) {
            self.put("book", &book)?;
            self.arm(&book, now).await?;
        }
        if !expired.is_empty() {
            util::log(&json!({"level": "warn", "msg": "leases expired", "jobs": expired}));
            self.wake(&book.promotable(req.max)).await;
        }
        Ok(admission)
    }

    fn list(&self, q: &crate::tenant::ListQuery) -> Result<Value> {
        let cols = "SELECT job_id, status, operation, created_ms, updated_ms, id_roteiro FROM jobs";
        let rows: Vec<JobRow> = match q.status {
            Some(s) => self.rows(
                &format!("{cols} WHERE status = ? ORDER BY created_ms DESC LIMIT ?"),
                vec![status_text(s).into(), f64::from(q.limit).into()],
            )?,
            None => self.rows(&format!("{cols} ORDER BY created_ms DESC LIMIT ?"), vec![f64::from(q.limit).into()])?,
        };
        let jobs: Vec<Value> = rows
            .into_iter()
            .map(|r| {
                let mut v = json!({
                    "jobId": r.job_id,
                    "status": r.status,
                    "operation": r.operation,
                    "createdAt": rfc3339_from_ms(r.created_ms as i64),
                    "updatedAt": rfc3339_from_ms(r.updated_ms as i64),
                });
                if let Some(id) = r.id_roteiro {
                    v["idRoteiro"] = json!(id as i64);
                }
                v
            })
            .collect();
        Ok(json!({ "jobs": jobs }))
    }

    fn stats(&self) -> Result<Value> {
        let rows: Vec<CountRow> = self.rows("SELECT status, COUNT(*) AS n FROM jobs GROUP BY status", vec![])?;
        let mut counts = serde_json::Map::new();
        for s in ["QUEUED", "SUBMITTED", "PROCESSING", "COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"] {
            counts.insert(s.into(), json!(0));
        }
        for r in rows {
            counts.insert(r.status, json!(r.n as u64));
        }
        let mut book = self.book()?;
        book.expire(util::now_ms());
        Ok(json!({
            "counts": counts,
            "slots_in_use": book.used(),
            "waiting": book.waiting.len(),
        }))
    }
}
