//! Request handlers, thin over the pure modules: authenticate, validate and plan,
//! admit through the tenant's object (rate limit, idempotency, index, lease), hand the
//! job to its Durable Object, render job objects. A submission's 202 costs those two
//! Durable Object round trips and nothing else: presigning and RunPod's `/run` happen
//! in the job's alarm, so a GPU backend that is slow or down never delays or fails it.

use job_spec::{Operation, PlanError, RefContext};
use serde::Serialize;
use serde_json::{Value, json};
use worker::wasm_bindgen::JsValue;
use worker::{Env, Headers, Method, ObjectNamespace, Request, RequestInit, Response, Stub};

use super::job_object::CreateBody;
use super::runpod;
use super::tenant_object::AdmitBody;
use super::util::{self, internal, json};
use crate::api_error::ApiError;
use crate::auth::{self, Tenant};
use crate::config::EdgeConfig;
use crate::record::JobRecord;
use crate::routes::{Route, RouteError};
use crate::tenant::{Admission, AdmitRequest, ListQuery, check_idempotency_key, request_sha256};

type HResult = std::result::Result<Response, ApiError>;

pub async fn dispatch(req: Request, env: &Env, route_result: Result<Route, RouteError>) -> HResult {
    let r = match route_result {
        Ok(r) => r,
        Err(RouteError::NotFound) => return Err(ApiError::not_found()),
        Err(RouteError::MethodNotAllowed(m)) => return Err(ApiError::new(405, "method-not-allowed", format!("use {m}"))),
    };
    // Tenant routes refuse an anonymous caller before any work (each handler then finds
    // its tenant again).
    if r.needs_api_key() {
        authenticate(&req, &*util::config(env)?)?;
    }
    match r {
        Route::Root => json(
            200,
            &json!({
                "name": "api-gpu",
                "version": env!("CARGO_PKG_VERSION"),
                "operations": Operation::ALL.iter().map(|o| o.path()).collect::<Vec<_>>(),
                "openapi": "/openapi.json",
            }),
        )
        .map_err(internal("response")),
        Route::Health => health(env).await,
        Route::OpenApi => {
            let cfg = util::config(env)?;
            json(200, &job_spec::openapi::document(Some(&cfg.edge_public_url))).map_err(internal("response"))
        }
        Route::Submit(op) => submit(req, env, op).await,
        Route::GetJob(id) => get_job(&req, env, &id).await,
        Route::CancelJob(id) => cancel_job(&req, env, &id).await,
        Route::ListJobs => list_jobs(&req, env).await,
        Route::QueueStats => queue_stats(&req, env).await,
        Route::PipelineStatus => {
            let cfg = util::config(env)?;
            let tenant = authenticate(&req, &cfg)?;
            super::pipeline::status(&req, &cfg, &tenant.prefix).await
        }
        Route::RunpodWebhook { job_id, token } => runpod_webhook(req, env, &job_id, &token).await,
        Route::WorkerProgress { job_id, token } => super::progress::post(req, env, &job_id, &token).await,
    }
}

fn authenticate<'a>(req: &Request, cfg: &'a EdgeConfig) -> std::result::Result<&'a Tenant, ApiError> {
    let h = req.headers();
    let key = auth::presented_key(h.get("x-api-key").ok().flatten().as_deref(), h.get("authorization").ok().flatten().as_deref());
    key.and_then(|k| auth::authenticate(&cfg.tenants, &k)).ok_or_else(ApiError::unauthorized)
}

fn jobs(env: &Env) -> std::result::Result<ObjectNamespace, ApiError> {
    env.durable_object("JOBS").map_err(internal("JOBS binding"))
}

fn tenant_stub(env: &Env, tenant: &Tenant) -> std::result::Result<Stub, ApiError> {
    let ns = env.durable_object("TENANT_OBJECTS").map_err(internal("TENANT_OBJECTS binding"))?;
    ns.id_from_name(&tenant.name).and_then(|id| id.get_stub()).map_err(internal("tenant object"))
}

/// Job ids are Durable Object ids: 64 lowercase hex characters.
fn is_job_id(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

async fn send(stub: Stub, method: Method, path: &str, body: Option<String>) -> worker::Result<Response> {
    let mut init = RequestInit::new();
    init.with_method(method);
    let h = Headers::new();
    h.set("x-request-id", &util::request_id())?;
    if let Some(b) = body {
        h.set("content-type", "application/json")?;
        init.with_body(Some(JsValue::from_str(&b)));
    }
    init.with_headers(h);
    stub.fetch_with_request(Request::new_with_init(&format!("https://do{path}"), &init)?).await
}

async fn call_job(ns: &ObjectNamespace, job_id: &str, method: Method, path: &str, body: Option<String>) -> HResult {
    // Not every 64-hex string is a Durable Object id (ids carry a checksum): unknown job.
    let stub = ns.id_from_string(job_id).map_err(|_| ApiError::not_found())?.get_stub().map_err(internal("job stub"))?;
    send(stub, method, path, body).await.map_err(internal("job object"))
}

async fn call_tenant<T: Serialize>(env: &Env, tenant: &Tenant, method: Method, path: &str, body: Option<&T>) -> HResult {
    let body = body.map(serde_json::to_string).transpose().map_err(|e| ApiError::internal(e.to_string()))?;
    send(tenant_stub(env, tenant)?, method, path, body).await.map_err(internal("tenant object"))
}

/// Anonymous: the edge answering is the liveness (always 200); the GPU backend's
/// reachability comes from a check at most [`crate::backend::HEALTH_TTL_MS`] old, so
/// callers cannot make the edge call RunPod at will.
async fn health(env: &Env) -> HResult {
    let cfg = util::config(env)?;
    let check = runpod::cached_health(&cfg).await;
    let status = if check.result.is_ok() { "ok" } else { "degraded" };
    json(200, &json!({"status": status, "edge": "ok", "gpu_backend": check.public_view(util::now_ms())})).map_err(internal("response"))
}

async fn submit(mut req: Request, env: &Env, op: Operation) -> HResult {
    let cfg = util::config(env)?;
    let tenant = authenticate(&req, &cfg)?;
    let idem_key = req.headers().get("idempotency-key").ok().flatten();
    if let Some(k) = &idem_key {
        check_idempotency_key(k).map_err(|m| ApiError::new(400, "invalid-idempotency-key", m))?;
    }
    let body = util::read_body(&mut req, cfg.max_body_bytes).await?;
    let mut request = op.parse(&body).map_err(ApiError::validation)?;

    let ns = jobs(env)?;
    let job_id = ns.unique_id().map_err(internal("job id"))?.to_string();
    let ctx = RefContext {
        allow_loopback_http: cfg.allow_loopback_http,
        bucket: Some(cfg.s3.bucket.clone()),
        tenant_prefix: Some(tenant.prefix.clone()),
        other_prefixes: cfg.tenants.iter().filter(|t| t.prefix != tenant.prefix).map(|t| t.prefix.clone()).collect(),
    };
    // `/pipeline/segment` with only `segments_uri`: the list is read now (one output per segment).
    super::pipeline::resolve_segments(&cfg, &ctx, &mut request).await?;
    let plan = match job_spec::plan(&request, &job_id, &ctx) {
        Ok(p) => p,
        Err(PlanError::Invalid(problems)) => return Err(ApiError::validation(problems)),
        Err(PlanError::NotImplemented(op)) => {
            return Err(ApiError::new(
                501,
                "operation-not-implemented",
                format!("{} is accepted by the contract but not rendered by this version yet", op.path()),
            ));
        }
    };
    // AI prompts and images need their provider's key (the local demo runs without).
    if let Some(e) = crate::providers::not_configured(&cfg.providers, &plan.task) {
        return Err(ApiError::new(503, e.code(), e.message()));
    }

    // The parts first: the tenant leases one slot per part.
    let parts = crate::fanout::split(&plan, cfg.fanout_clips, cfg.tenant_slots(tenant) as usize);
    // The tenant's object: rate limit, Idempotency-Key, index, lease — one round trip.
    let admit = AdmitBody {
        request: AdmitRequest {
            job_id: job_id.clone(),
            rate_per_minute: cfg.tenant_rate(tenant),
            idempotency: idem_key.map(|k| (k, request_sha256(op.name(), &body))),
            slots: parts.len() as u32,
            max: cfg.tenant_slots(tenant),
            ttl_ms: cfg.lease_ttl.as_millis() as i64,
        },
        operation: op.name().to_owned(),
        id_roteiro: request.common.id_roteiro,
    };
    let resp = call_tenant(env, tenant, Method::Post, "/admit", Some(&admit)).await?;
    let lease = match util::response_json::<Admission>(&resp).await.map_err(internal("tenant answer"))? {
        Admission::Admitted { lease } => lease,
        Admission::RateLimited { retry_after } => {
            let mut e = ApiError::new(
                429,
                "rate-limited",
                format!("this key may submit {} jobs per minute; retry in {retry_after} s", cfg.tenant_rate(tenant)),
            );
            e.retry_after_secs = Some(retry_after);
            return Err(e);
        }
        Admission::Replay { job_id } => {
            let (_, record) = load_owned(env, tenant, &job_id).await.map_err(|e| {
                if e.status == 404 {
                    ApiError::new(409, "idempotency-key-in-use", "a request with this Idempotency-Key is still being processed")
                } else {
                    e
                }
            })?;
            let mut r = json(200, &record.view(&util::url_of(&cfg), util::now_ms())).map_err(internal("response"))?;
            r.headers_mut().set("idempotent-replayed", "true").map_err(internal("headers"))?;
            return Ok(r);
        }
        Admission::Conflict { job_id } => {
            return Err(ApiError::new(
                409,
                "idempotency-key-reused",
                format!("this Idempotency-Key was used with a different request (job {job_id}) in the last 24 h"),
            ));
        }
    };

    let now_ms = util::now_ms();
    // The deadline: queue time + execution + a minute for webhooks and polling.
    let deadline = now_ms + cfg.job_url_ttl().as_millis() as i64 + 60_000;
    let mut record = JobRecord::new(
        job_id.clone(),
        tenant.name.clone(),
        request.common,
        plan.task,
        parts.len(),
        cfg.retry.max_attempts,
        now_ms,
        deadline,
    );
    record.admitted(lease);
    // The job's object stores it and arms its alarm for now; it calls nothing else.
    let body = serde_json::to_string(&CreateBody { record, plans: parts }).map_err(|e| ApiError::internal(e.to_string()))?;
    let resp = call_job(&ns, &job_id, Method::Post, "/create", Some(body)).await?;
    let record: JobRecord = util::response_json(&resp).await.map_err(internal("job object answer"))?;
    util::log(&json!({"level": "info", "msg": "job created", "job": job_id, "tenant": tenant.name, "operation": op.name(),
        "status": record.status, "parts": record.parts.len(), "lease_held": record.lease_held}));
    json(202, &record.view(&util::url_of(&cfg), util::now_ms())).map_err(internal("response"))
}

async fn load_owned(env: &Env, tenant: &Tenant, job_id: &str) -> std::result::Result<(ObjectNamespace, JobRecord), ApiError> {
    if !is_job_id(job_id) {
        return Err(ApiError::not_found());
    }
    let ns = jobs(env)?;
    let resp = call_job(&ns, job_id, Method::Get, "/record", None).await?;
    if resp.status_code() == 404 {
        return Err(ApiError::not_found());
    }
    let record: JobRecord = util::response_json(&resp).await.map_err(internal("job object answer"))?;
    // Another tenant's job does not exist for this caller.
    if record.tenant != tenant.name {
        return Err(ApiError::not_found());
    }
    Ok((ns, record))
}

async fn get_job(req: &Request, env: &Env, job_id: &str) -> HResult {
    let cfg = util::config(env)?;
    let tenant = authenticate(req, &cfg)?;
    let (_, record) = load_owned(env, tenant, job_id).await?;
    json(200, &record.view(&util::url_of(&cfg), util::now_ms())).map_err(internal("response"))
}

async fn cancel_job(req: &Request, env: &Env, job_id: &str) -> HResult {
    let cfg = util::config(env)?;
    let tenant = authenticate(req, &cfg)?;
    let (ns, _) = load_owned(env, tenant, job_id).await?;
    let resp = call_job(&ns, job_id, Method::Post, "/cancel", None).await?;
    let record: JobRecord = util::response_json(&resp).await.map_err(internal("job object answer"))?;
    json(200, &record.view(&util::url_of(&cfg), util::now_ms())).map_err(internal("response"))
}

async fn list_jobs(req: &Request, env: &Env) -> HResult {
    let cfg = util::config(env)?;
    let tenant = authenticate(req, &cfg)?;
    let query = req.url().map_err(internal("url"))?.query().unwrap_or("").to_owned();
    let q = ListQuery::parse(&query).map_err(|problems| {
        ApiError::validation(
            problems.into_iter().map(|(field, message)| job_spec::Problem { field, code: "invalid-query".into(), message }).collect(),
        )
    })?;
    let path =
        format!("/list?limit={}{}", q.limit, q.status.map(|s| format!("&status={}", json!(s).as_str().unwrap_or(""))).unwrap_or_default());
    let resp = call_tenant::<()>(env, tenant, Method::Get, &path, None).await?;
    let v: Value = util::response_json(&resp).await.map_err(internal("tenant answer"))?;
    json(200, &v).map_err(internal("response"))
}

async fn queue_stats(req: &Request, env: &Env) -> HResult {
    let cfg = util::config(env)?;
    let tenant = authenticate(req, &cfg)?;
    let resp = call_tenant::<()>(env, tenant, Method::Get, "/stats", None).await?;
    let mut v: Value = util::response_json(&resp).await.map_err(internal("tenant answer"))?;
    v["tenant"] = json!(tenant.name);
    v["max_concurrent_jobs"] = json!(cfg.tenant_slots(tenant));
    v["rate_limit_per_minute"] = json!(cfg.tenant_rate(tenant));
    v["gpu_backend"] = runpod::cached_health(&cfg).await.tenant_view(util::now_ms());
    json(200, &v).map_err(internal("response"))
}

async fn runpod_webhook(mut req: Request, env: &Env, job_id: &str, token: &str) -> HResult {
    let cfg = util::config(env)?;
    if !is_job_id(job_id) || !crate::token::verify_job_token(&cfg.webhook_token_secret, job_id, token) {
        return Err(ApiError::unauthorized());
    }
    let body = util::read_body(&mut req, crate::body::MAX_RUNPOD_WEBHOOK_BYTES).await?;
    let body: Value = serde_json::from_slice(&body).map_err(|_| ApiError::new(400, "invalid-json", "the webhook body is not JSON"))?;
    let ns = jobs(env)?;
    let resp = call_job(&ns, job_id, Method::Post, "/runpod", Some(body.to_string())).await?;
    match resp.status_code() {
        404 => Err(ApiError::not_found()),
        409 => Err(ApiError::new(409, "unplanned-output", "the body reports an output the job did not plan; nothing was changed")),
        _ => json(200, &json!({"ok": true})).map_err(internal("response")),
    }
}
