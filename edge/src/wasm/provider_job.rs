//! Jobs whose task runs in the edge (`/image/prompts`, `/image/generate`): the job's
//! Durable Object calls the AI provider itself from its alarm instead of submitting
//! parts to RunPod, so waiting on a provider costs no GPU seconds. `step` calls
//! [`drive`] while the job holds its lease: it claims what is due in the job's
//! [`ProviderJob`] (saved in its own SQLite table beside the record), makes those calls
//! at once (each bounded by `PROVIDER_TIMEOUT_SECS`), applies and saves each answer as
//! it comes, then either sets the part's next wake (the record arms the alarm from it)
//! or ends the job through the record's own completion path, so the client webhook,
//! the result and the lease release work as for GPU jobs.
//!
//! Provider keys travel in `Authorization` headers only; logs carry codes, statuses
//! and timings, never keys, prompts or provider URLs' queries.

use std::collections::BTreeSet;
use std::time::Duration;

use futures_util::future::{Either, join_all, select};
use job_spec::worker::{ImageGenerateTask, ImagePromptsTask, OutputMeta};
use job_spec::{JobStatus, Progress, Task, WorkerOutput};
use serde::Deserialize;
use serde_json::{Value, json};
use worker::wasm_bindgen::JsValue;
use worker::{AbortController, Delay, Fetch, Headers, Method, Request, RequestInit, Result, SqlStorageValue, State};

use super::util;
use crate::config::EdgeConfig;
use crate::providers::openrouter::{self, PromptsInput, Scene};
use crate::providers::runware::{self, ImageSettings, TaskOutcome};
use crate::providers::state::{Outcome, ProviderJob, Stored, Work};
use crate::providers::{HttpAnswer, ProviderError, excerpt};
use crate::record::JobRecord;

/// The part's "RunPod id" once the edge has run it: completion goes through
/// [`JobRecord::apply_runpod`] like a GPU part's.
const EDGE_RUN_ID: &str = "edge";

fn bad(e: impl std::fmt::Display) -> worker::Error {
    worker::Error::RustError(e.to_string())
}

#[derive(Deserialize)]
struct StateRow {
    state: String,
}

#[derive(Deserialize)]
struct RecordRow {
    record: String,
}

/// The record as the job object saved it (`job` table): read again after every await,
/// since a cancel or a status request may have run meanwhile.
fn load_record(state: &State) -> Result<Option<JobRecord>> {
    let rows: Vec<RecordRow> = state.storage().sql().exec("SELECT record FROM job WHERE id = 1", None)?.to_array()?;
    rows.into_iter().next().map(|r| serde_json::from_str(&r.record).map_err(bad)).transpose()
}

fn save_record(state: &State, r: &JobRecord) -> Result<()> {
    let text = serde_json::to_string(r).map_err(bad)?;
    state.storage().sql().exec("UPDATE job SET record = ? WHERE id = 1", vec![SqlStorageValue::from(text)])?;
    Ok(())
}

fn schema(state: &State) -> Result<()> {
    state.storage().sql().exec("CREATE TABLE IF NOT EXISTS provider (id INTEGER PRIMARY KEY CHECK (id = 1), state TEXT NOT NULL)", None)?;
    Ok(())
}

fn load_state(state: &State) -> Result<Option<ProviderJob>> {
    let rows: Vec<StateRow> = state.storage().sql().exec("SELECT state FROM provider WHERE id = 1", None)?.to_array()?;
    rows.into_iter().next().map(|r| serde_json::from_str(&r.state).map_err(bad)).transpose()
}

fn save_state(state: &State, job: &ProviderJob) -> Result<()> {
    let text = serde_json::to_string(job).map_err(bad)?;
    state.storage().sql().exec("INSERT OR REPLACE INTO provider (id, state) VALUES (1, ?)", vec![SqlStorageValue::from(text)])?;
    Ok(())
}

/// The provider job a task starts as.
fn start(task: &Task) -> Option<ProviderJob> {
    match task {
        Task::ImagePrompts(t) => Some(ProviderJob::prompts(t.scenes.iter().map(|s| s.index))),
        Task::ImageGenerate(t) => Some(ProviderJob::images(t.images.iter().map(|i| (i.index, i.prompt.clone())))),
        _ => None,
    }
}

/// `/image/prompts`' inputs, with the service's own instructions when `agente` is absent.
fn prompts_input(t: &ImagePromptsTask) -> PromptsInput {
    PromptsInput {
        scenes: t.scenes.iter().map(|s| Scene { index: s.index, text: s.texto.clone() }).collect(),
        style: t.style.clone().unwrap_or_default(),
        style_detail: t.style_detail.clone().unwrap_or_default(),
        script: t.script.clone().unwrap_or_default(),
        agent: t.agent.clone().filter(|a| !a.trim().is_empty()).unwrap_or_else(|| openrouter::DEFAULT_AGENT.to_owned()),
    }
}

fn image_settings(t: &ImageGenerateTask) -> ImageSettings {
    ImageSettings {
        model: t.model.clone(),
        width: t.width,
        height: t.height,
        format: t.format,
        negative_prompt: t.negative_prompt.clone().filter(|n| !n.trim().is_empty()),
    }
}

/// Drives an edge-run job as far as it goes now; returns the saved record.
pub(super) async fn drive(state: &State, cfg: &EdgeConfig, r: JobRecord) -> Result<JobRecord> {
    let mut r = r;
    if r.is_terminal() {
        return Ok(r);
    }
    let now = util::now_ms();
    if let Some(e) = crate::providers::not_configured(&cfg.providers, &r.task) {
        // Its key was removed after the job was accepted.
        r.fail(JobStatus::Failed, e.code(), &e.message(), None, now);
        save_record(state, &r)?;
        return Ok(r);
    }
    schema(state)?;
    let Some(mut job) = load_state(state)?.or_else(|| start(&r.task)) else { return Ok(r) };
    let work = job.claim(now, &cfg.providers);
    save_state(state, &job)?;
    if r.status == JobStatus::Queued || r.status == JobStatus::Submitted {
        r.status = JobStatus::Processing;
        r.started_ms.get_or_insert(now);
    }
    show_progress(&mut r, &job);
    save_record(state, &r)?;
    if !work.is_empty() {
        join_all(work.into_iter().map(|w| run(state, cfg, &r, w))).await;
        r = load_record(state)?.unwrap_or(r);
        if r.is_terminal() {
            return Ok(r);
        }
    }
    let job = load_state(state)?.unwrap_or(job);
    conclude(&mut r, &job, cfg);
    save_record(state, &r)?;
    Ok(r)
}

fn show_progress(r: &mut JobRecord, job: &ProviderJob) {
    let (done, total) = job.counts();
    let stage = match &r.task {
        Task::ImagePrompts(_) if job.batch.is_some() => format!("asking the model for {total} prompts"),
        Task::ImagePrompts(_) => "prompts".to_owned(),
        _ => "images".to_owned(),
    };
    let p = Progress::new(&stage, done as u64, total as u64);
    r.parts[0].progress = p.clone();
    r.progress = p;
}

/// After the calls: the next wake while running, or the end through the record.
fn conclude(r: &mut JobRecord, job: &ProviderJob, cfg: &EdgeConfig) {
    let now = util::now_ms();
    match job.outcome() {
        Outcome::Running => {
            show_progress(r, job);
            r.parts[0].not_before_ms = job.next_wake(&cfg.providers).unwrap_or(now);
        }
        Outcome::Failed(e) => {
            util::log(&json!({"level": "warn", "msg": "provider job failed", "job": r.job_id, "code": e.code}));
            r.fail(JobStatus::Failed, &e.code, &e.message, Some(json!({ "failed": job.failures() })), now);
        }
        Outcome::Completed => {
            let out = output(r, job);
            // The same path as a GPU part's completion: planned outputs checked, result
            // kept, the job COMPLETED and its webhook scheduled.
            r.parts[0].not_before_ms = 0;
            let done = r.claim_submit(0, now).is_some_and(|claim| r.submitted(0, claim, EDGE_RUN_ID.into()))
                && r.apply_runpod(&json!({"id": EDGE_RUN_ID, "status": "COMPLETED", "output": out}), now, &cfg.retry);
            if !done {
                r.fail(JobStatus::Failed, "internal", "the job's result could not be recorded", None, now);
            }
        }
    }
}

/// The result as a worker output: prompts as facts; images as their stored outputs.
fn output(r: &JobRecord, job: &ProviderJob) -> WorkerOutput {
    let mut out = WorkerOutput::default();
    let facts = match &r.task {
        Task::ImagePrompts(_) => {
            let model = job.model.clone().unwrap_or_default();
            job.prompts_result(&model)
        }
        Task::ImageGenerate(t) => {
            for it in &job.items {
                if let Some(s) = &it.stored {
                    out.outputs.push(OutputMeta {
                        name: job_spec::worker::ImageJob::output_name(it.index),
                        key: s.key.clone(),
                        bytes: s.bytes,
                        content_type: s.content_type.clone(),
                        width: Some(t.width),
                        height: Some(t.height),
                        ..Default::default()
                    });
                }
            }
            json!({"failed": job.failures(), "model": t.model, "cost": job.cost})
        }
        _ => json!({}),
    };
    if let Value::Object(m) = facts {
        out.extras = m;
    }
    out
}

/// Makes one claimed call or copy and applies its outcome to the saved state.
async fn run(state: &State, cfg: &EdgeConfig, r: &JobRecord, w: Work) {
    let s = &cfg.providers;
    let applied = match (&r.task, w) {
        (Task::ImagePrompts(t), Work::Prompts { claim, indexes }) => {
            let answer = ask_prompts(cfg, r, t, &indexes).await;
            update(state, |j| {
                if let Some(o) = &s.openrouter {
                    j.model = Some(o.model.clone());
                }
                j.prompts_answered(claim, &indexes, answer, util::now_ms(), s)
            })
        }
        (Task::ImageGenerate(t), Work::Generate { claim, images }) => {
            let indexes: Vec<u32> = images.iter().map(|(i, _)| *i).collect();
            let answer = generate(cfg, r, t, &images).await;
            update(state, |j| j.generated(claim, &indexes, answer, util::now_ms(), s))
        }
        (Task::ImageGenerate(t), Work::Copy { claim, index }) => {
            let stored = copy(state, cfg, r, t, index).await;
            update(state, |j| j.copied(claim, index, stored, util::now_ms(), s))
        }
        _ => Ok(()),
    };
    if let Err(e) = applied {
        util::log(&json!({"level": "error", "msg": "provider state", "job": r.job_id, "error": e.to_string()}));
    }
}

/// Load, change, save — with no await between, so answers arriving together apply in turn.
fn update(state: &State, f: impl FnOnce(&mut ProviderJob)) -> Result<()> {
    let Some(mut j) = load_state(state)? else { return Ok(()) };
    f(&mut j);
    save_state(state, &j)
}

async fn ask_prompts(
    cfg: &EdgeConfig,
    r: &JobRecord,
    t: &ImagePromptsTask,
    indexes: &BTreeSet<u32>,
) -> Result<openrouter::Answer, ProviderError> {
    let Some(o) = &cfg.providers.openrouter else { return Err(not_configured("OPENROUTER_API_KEY")) };
    let body = openrouter::request_body(&o.model, &prompts_input(t), indexes);
    let started = util::now_ms();
    let answer = post_json(&format!("{}/chat/completions", o.base_url), &o.api_key, &body, cfg.providers.timeout).await;
    let result = answer.and_then(|(status, retry_after, text)| {
        openrouter::parse_answer(&HttpAnswer { status, retry_after: retry_after.as_deref(), body: &text, now_ms: util::now_ms() }, indexes)
    });
    log_call(r, "openrouter", indexes.len(), started, result.as_ref().err());
    result
}

async fn generate(
    cfg: &EdgeConfig,
    r: &JobRecord,
    t: &ImageGenerateTask,
    images: &[(u32, u32)],
) -> Result<Vec<(u32, TaskOutcome)>, ProviderError> {
    let Some(rw) = &cfg.providers.runware else { return Err(not_configured("RUNWARE_API_KEY")) };
    let tasks: Vec<(u32, String, String)> = images
        .iter()
        .filter_map(|&(index, attempt)| {
            let prompt = t.images.iter().find(|i| i.index == index)?.prompt.clone();
            Some((index, runware::task_uuid(&r.job_id, index, attempt), prompt))
        })
        .collect();
    let pairs: Vec<(String, String)> = tasks.iter().map(|(_, u, p)| (u.clone(), p.clone())).collect();
    let uuids: Vec<String> = pairs.iter().map(|(u, _)| u.clone()).collect();
    let body = runware::request_body(&pairs, &image_settings(t));
    let started = util::now_ms();
    let answer = post_json(&rw.base_url, &rw.api_key, &body, cfg.providers.timeout).await;
    let result = answer.and_then(|(status, retry_after, text)| {
        runware::parse_answer(&HttpAnswer { status, retry_after: retry_after.as_deref(), body: &text, now_ms: util::now_ms() }, &uuids)
    });
    log_call(r, "runware", tasks.len(), started, result.as_ref().err());
    let mut by_uuid = result?;
    Ok(tasks.into_iter().filter_map(|(index, uuid, _)| Some((index, by_uuid.remove(&uuid)?))).collect())
}

fn not_configured(key: &str) -> ProviderError {
    ProviderError::Refused { message: format!("{key} is not set") }
}

fn log_call(r: &JobRecord, provider: &str, items: usize, started: i64, error: Option<&ProviderError>) {
    util::log(&json!({
        "level": if error.is_some() { "warn" } else { "info" },
        "msg": "provider call", "provider": provider, "job": r.job_id, "items": items,
        "ms": util::now_ms() - started, "code": error.map(ProviderError::code), "error": error.map(ProviderError::message),
    }));
}

/// Copies image `index` from the provider's URL to its planned key (a presigned PUT).
async fn copy(state: &State, cfg: &EdgeConfig, r: &JobRecord, t: &ImageGenerateTask, index: u32) -> std::result::Result<Stored, String> {
    let job = load_state(state).map_err(|e| e.to_string())?.ok_or("no provider state")?;
    let url = job.items.iter().find(|i| i.index == index).and_then(|i| i.provider_url.clone()).ok_or("no image URL")?;
    let name = job_spec::worker::ImageJob::output_name(index);
    let key = r.parts[0].planned_outputs.get(&name).cloned().ok_or_else(|| format!("no planned output `{name}`"))?;
    runware::check_image_url(&url, cfg.allow_loopback_http)?;
    let started = util::now_ms();
    let result = async {
        let bytes = download(&url, cfg.providers.timeout).await?;
        let put = crate::presign::presign(&cfg.s3, crate::presign::Method::Put, &key, Duration::from_secs(900), util::now_system())?;
        let h = Headers::new();
        h.set("content-type", t.format.content_type()).map_err(|e| e.to_string())?;
        let len = bytes.len() as u64;
        let mut init = RequestInit::new();
        init.with_method(Method::Put).with_headers(h).with_body(Some(worker::js_sys::Uint8Array::from(bytes.as_slice()).into()));
        let req = Request::new_with_init(&put, &init).map_err(|e| e.to_string())?;
        // The download and the upload share one PROVIDER_TIMEOUT_SECS: a step's calls and
        // copies all end within it (the lease is renewed between steps).
        let left = (started + cfg.providers.timeout.as_millis() as i64 - util::now_ms()).max(1000) as u64;
        let (status, _, text) = send(req, Duration::from_millis(left)).await.map_err(|e| format!("storage: {}", e.message()))?;
        if !(200..300).contains(&status) {
            return Err(format!("storage answered HTTP {status}: {}", excerpt(&text)));
        }
        Ok(Stored { key: key.clone(), bytes: len, content_type: t.format.content_type().to_owned() })
    }
    .await;
    util::log(&json!({"level": if result.is_ok() { "info" } else { "warn" }, "msg": "image copied", "job": r.job_id, "index": index,
        "ms": util::now_ms() - started, "error": result.as_ref().err()}));
    result
}

/// GETs an image, at most [`runware::MAX_IMAGE_BYTES`].
async fn download(url: &str, timeout: Duration) -> std::result::Result<Vec<u8>, String> {
    let req = Request::new(url, Method::Get).map_err(|e| e.to_string())?;
    let controller = AbortController::default();
    let signal = controller.signal();
    let fetch = async {
        let mut resp = Fetch::Request(req).send_with_signal(&signal).await.map_err(|e| e.to_string())?;
        let status = resp.status_code();
        if !(200..300).contains(&status) {
            return Err(format!("the provider's image URL answered HTTP {status}"));
        }
        let declared = resp.headers().get("content-length").ok().flatten().and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > runware::MAX_IMAGE_BYTES) {
            return Err(format!("the image is larger than {} bytes", runware::MAX_IMAGE_BYTES));
        }
        let bytes = resp.bytes().await.map_err(|e| e.to_string())?;
        if bytes.len() as u64 > runware::MAX_IMAGE_BYTES {
            return Err(format!("the image is larger than {} bytes", runware::MAX_IMAGE_BYTES));
        }
        if bytes.is_empty() {
            return Err("the image is empty".into());
        }
        Ok(bytes)
    };
    match select(Box::pin(fetch), Box::pin(Delay::from(timeout))).await {
        Either::Left((r, _)) => r,
        Either::Right(_) => {
            controller.abort();
            Err(format!("the image did not download within {} s", timeout.as_secs()))
        }
    }
}

/// POSTs JSON with a bearer key; `(status, Retry-After, body)`, or why no answer came.
async fn post_json(
    url: &str,
    key: &str,
    body: &Value,
    timeout: Duration,
) -> std::result::Result<(u16, Option<String>, String), ProviderError> {
    let unavailable = |m: String| ProviderError::Unavailable { message: m };
    let h = Headers::new();
    for (k, v) in [
        ("authorization", format!("Bearer {key}").as_str()),
        ("content-type", "application/json"),
        ("accept", "application/json"),
        ("x-title", "api-gpu"),
    ] {
        h.set(k, v).map_err(|e| unavailable(e.to_string()))?;
    }
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_headers(h).with_body(Some(JsValue::from_str(&body.to_string())));
    let req = Request::new_with_init(url, &init).map_err(|e| unavailable(e.to_string()))?;
    send(req, timeout).await
}

/// Sends `req`, reading the whole answer within `timeout`.
async fn send(req: Request, timeout: Duration) -> std::result::Result<(u16, Option<String>, String), ProviderError> {
    let controller = AbortController::default();
    let signal = controller.signal();
    let call = async {
        let mut resp = Fetch::Request(req).send_with_signal(&signal).await?;
        let retry_after = resp.headers().get("retry-after").ok().flatten();
        let text = resp.text().await?;
        Ok::<_, worker::Error>((resp.status_code(), retry_after, text))
    };
    match select(Box::pin(call), Box::pin(Delay::from(timeout))).await {
        Either::Left((Ok(answer), _)) => Ok(answer),
        Either::Left((Err(e), _)) => Err(ProviderError::Unavailable { message: format!("no answer: {e}") }),
        Either::Right(_) => {
            controller.abort();
            Err(ProviderError::Unavailable { message: format!("no answer within {} s", timeout.as_secs()) })
        }
    }
}
