//! Request handlers, thin over the pure modules: authenticate, validate and plan,
//! presign, hand the job to its Durable Object, render job objects.

use job_spec::worker::{InputUrl, OutputTarget};
use job_spec::{MediaRef, Operation, PlanError, RefContext, WorkerJob};
use serde_json::{Value, json};
use worker::wasm_bindgen::JsValue;
use worker::{Env, Headers, Method, ObjectNamespace, Request, RequestInit, Response};

use super::job_object::CreateBody;
use super::runpod;
use super::util::{self, internal, json};
use crate::api_error::ApiError;
use crate::auth::{self, Tenant};
use crate::config::EdgeConfig;
use crate::presign::{self, Method as S3Method};
use crate::record::JobRecord;
use crate::routes::{Route, RouteError, route};

type HResult = std::result::Result<Response, ApiError>;

pub async fn dispatch(req: Request, env: &Env, request_id: &str) -> HResult {
    let r = match route(req.method().as_ref(), &req.path()) {
        Ok(r) => r,
        Err(RouteError::NotFound) => return Err(ApiError::not_found()),
        Err(RouteError::MethodNotAllowed(m)) => return Err(ApiError::new(405, "method-not-allowed", format!("use {m}"))),
    };
    match r {
        Route::Root => json(
            200,
            &json!({
                "name": "api-gpu",
                "version": env!("CARGO_PKG_VERSION"),
                "operations": Operation::ALL.iter().map(|o| o.path()).collect::<Vec<_>>(),
            }),
        )
        .map_err(internal("response")),
        Route::Health => health(env).await,
        Route::Submit(op) => submit(req, env, op, request_id).await,
        Route::GetJob(id) => get_job(&req, env, &id).await,
        Route::CancelJob(id) => cancel_job(&req, env, &id).await,
        Route::RunpodWebhook { job_id, token } => runpod_webhook(req, env, &job_id, &token).await,
        Route::OpenApi | Route::ListJobs | Route::QueueStats => {
            Err(ApiError::new(501, "not-implemented", "this route is part of the contract but not served by this version yet"))
        }
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

/// Job ids are Durable Object ids: 64 lowercase hex characters.
fn is_job_id(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

async fn call_job(
    ns: &ObjectNamespace,
    job_id: &str,
    method: Method,
    path: &str,
    body: Option<String>,
) -> std::result::Result<Response, ApiError> {
    // Not every 64-hex string is a Durable Object id (ids carry a checksum): unknown job.
    let stub = ns.id_from_string(job_id).map_err(|_| ApiError::not_found())?.get_stub().map_err(internal("job stub"))?;
    send_job(stub, method, path, body).await.map_err(internal("job object"))
}

async fn send_job(stub: worker::Stub, method: Method, path: &str, body: Option<String>) -> worker::Result<Response> {
    let mut init = RequestInit::new();
    init.with_method(method);
    if let Some(b) = body {
        let h = Headers::new();
        h.set("content-type", "application/json")?;
        init.with_headers(h);
        init.with_body(Some(JsValue::from_str(&b)));
    }
    stub.fetch_with_request(Request::new_with_init(&format!("https://job{path}"), &init)?).await
}

/// Output download URL: public base URL when configured, else a fresh presigned GET.
fn url_of(cfg: &EdgeConfig) -> impl Fn(&str) -> String + '_ {
    let now = util::now_system();
    move |key: &str| match &cfg.public_output_base_url {
        Some(base) => format!("{base}/{key}"),
        None => presign::presign(&cfg.s3, S3Method::Get, key, cfg.download_url_ttl, now).unwrap_or_default(),
    }
}

async fn health(env: &Env) -> HResult {
    let cfg = util::config(env)?;
    let (status, backend) = match runpod::health(&cfg).await {
        Ok(v) => (200, json!({"reachable": true, "health": v})),
        Err(e) => (503, json!({"reachable": false, "error": e.to_string()})),
    };
    json(status, &json!({"status": if status == 200 { "ok" } else { "degraded" }, "gpu_backend": backend})).map_err(internal("response"))
}

async fn submit(mut req: Request, env: &Env, op: Operation, request_id: &str) -> HResult {
    let cfg = util::config(env)?;
    let tenant = authenticate(&req, &cfg)?;
    let too_large = || ApiError::new(413, "body-too-large", format!("request bodies are limited to {} bytes", cfg.max_body_bytes));
    if let Some(len) = req.headers().get("content-length").ok().flatten().and_then(|v| v.parse::<usize>().ok())
        && len > cfg.max_body_bytes
    {
        return Err(too_large());
    }
    let body = req.bytes().await.map_err(internal("reading the body"))?;
    if body.len() > cfg.max_body_bytes {
        return Err(too_large());
    }
    let request = op.parse(&body).map_err(ApiError::validation)?;

    let ns = jobs(env)?;
    let id = ns.unique_id().map_err(internal("job id"))?;
    let job_id = id.to_string();
    let ctx = RefContext {
        allow_loopback_http: cfg.allow_loopback_http,
        bucket: Some(cfg.s3.bucket.clone()),
        tenant_prefix: Some(tenant.prefix.clone()),
    };
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

    let now = util::now_system();
    let ttl = cfg.job_url_ttl();
    let sign = |m, key: &str| presign::presign(&cfg.s3, m, key, ttl, now).map_err(|e| ApiError::internal(format!("presigning: {e}")));
    let mut inputs = Vec::with_capacity(plan.inputs.len());
    for i in &plan.inputs {
        let url = match &i.source {
            MediaRef::Url(u) => u.clone(),
            MediaRef::Object { key } => sign(S3Method::Get, key)?,
        };
        inputs.push(InputUrl { name: i.name.clone(), url });
    }
    let mut outputs = Vec::with_capacity(plan.outputs.len());
    for o in &plan.outputs {
        outputs.push(OutputTarget {
            name: o.name.clone(),
            key: o.key.clone(),
            put_url: sign(S3Method::Put, &o.key)?,
            content_type: o.content_type.clone(),
        });
    }
    let worker_job = WorkerJob { job_id: job_id.clone(), attempt: 1, inputs, outputs, task: plan.task.clone() };
    let now_ms = util::now_ms();
    // The deadline: queue time + execution + a minute for webhooks and polling.
    let deadline = now_ms + (ttl.as_millis() as i64) + 60_000;
    let record = JobRecord::new(job_id.clone(), tenant.name.clone(), request.common, plan.task, now_ms, deadline);
    let body = serde_json::to_string(&CreateBody { record, worker_job }).map_err(|e| ApiError::internal(e.to_string()))?;
    let mut resp = call_job(&ns, &job_id, Method::Post, "/create", Some(body)).await?;
    let status = resp.status_code();
    let record: JobRecord = resp.json().await.map_err(internal("job object answer"))?;
    util::log(
        &json!({"level": "info", "request_id": request_id, "msg": "job created", "job": job_id, "tenant": tenant.name, "operation": op.name(), "status": record.status}),
    );
    match status {
        200 => json(202, &record.view(&url_of(&cfg))).map_err(internal("response")),
        503 => Err(ApiError::new(503, "gpu-backend-unavailable", format!("the GPU backend is unreachable; job {job_id} was not started"))),
        _ => Err(ApiError::new(502, "gpu-backend-refused", format!("the GPU backend refused job {job_id}"))),
    }
}

async fn load_owned(env: &Env, tenant: &Tenant, job_id: &str) -> std::result::Result<(ObjectNamespace, JobRecord), ApiError> {
    if !is_job_id(job_id) {
        return Err(ApiError::not_found());
    }
    let ns = jobs(env)?;
    let mut resp = call_job(&ns, job_id, Method::Get, "/record", None).await?;
    if resp.status_code() == 404 {
        return Err(ApiError::not_found());
    }
    let record: JobRecord = resp.json().await.map_err(internal("job object answer"))?;
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
    json(200, &record.view(&url_of(&cfg))).map_err(internal("response"))
}

async fn cancel_job(req: &Request, env: &Env, job_id: &str) -> HResult {
    let cfg = util::config(env)?;
    let tenant = authenticate(req, &cfg)?;
    let (ns, _) = load_owned(env, tenant, job_id).await?;
    let mut resp = call_job(&ns, job_id, Method::Post, "/cancel", None).await?;
    let record: JobRecord = resp.json().await.map_err(internal("job object answer"))?;
    json(200, &record.view(&url_of(&cfg))).map_err(internal("response"))
}

async fn runpod_webhook(mut req: Request, env: &Env, job_id: &str, token: &str) -> HResult {
    let cfg = util::config(env)?;
    if !is_job_id(job_id) || !crate::token::verify_job_token(&cfg.webhook_token_secret, job_id, token) {
        return Err(ApiError::unauthorized());
    }
    let body: Value = req.json().await.map_err(|_| ApiError::new(400, "invalid-json", "the webhook body is not JSON"))?;
    let ns = jobs(env)?;
    let resp = call_job(&ns, job_id, Method::Post, "/runpod", Some(body.to_string())).await?;
    match resp.status_code() {
        404 => Err(ApiError::not_found()),
        _ => json(200, &json!({"ok": true})).map_err(internal("response")),
    }
}
