//! No presigned URL's signature leaves the worker: failed downloads, uploads and
//! webhooks, run through `serve`'s real router, leave no `X-Amz-Signature` in the
//! job's status, its webhook body or any log line (every line captured, debug level).
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, put};
use common::{Storage, spawn_server};
use gpu_worker::executor::Executor;
use gpu_worker::serve::{ServeConfig, router};
use job_spec::worker::{ClipTask, Img2VidTask, InputUrl, OutputTarget};
use job_spec::{Task, WorkerError, WorkerJob, ZoomType};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const SIGNED: &str = "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=k%2F20261204&X-Amz-Signature=deadbeefdeadbeef";

/// Every log line of this test binary.
static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct Capture;

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn leaks(text: &str) -> bool {
    text.contains("X-Amz-Signature") || text.contains("deadbeef")
}

/// A server that accepts connections and closes them at once.
async fn resetting_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            drop(conn);
        }
    });
    base
}

fn job(job_id: &str, input_url: String, put_url: String) -> WorkerJob {
    WorkerJob {
        progress_url: None,
        job_id: job_id.into(),
        attempt: 1,
        inputs: vec![InputUrl { name: "image".into(), url: input_url }],
        outputs: vec![OutputTarget {
            name: "video".into(),
            put_url,
            key: format!("out/{job_id}/video.mp4"),
            content_type: "video/mp4".into(),
        }],
        task: Task::Img2vid(Img2VidTask {
            width: 320,
            height: 180,
            frame_rate: 24,
            clips: vec![ClipTask {
                id: "img".into(),
                input: "image".into(),
                output: "video".into(),
                frames: 12,
                zoom: ZoomType::Zoomin,
                easing: Default::default(),
            }],
        }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_signature_in_job_errors_webhooks_or_logs() {
    tracing_subscriber::fmt().with_max_level(tracing::Level::DEBUG).with_ansi(false).with_writer(|| Capture).init();
    let storage = Storage::start().await;
    let media = tempfile::tempdir().unwrap();
    storage.put("in/a.jpg", common::still(media.path(), "a.jpg", "320x180"));
    // Storage that refuses: S3 echoes the signature it was given in its XML error body.
    let echo = "<Error><Code>SignatureDoesNotMatch</Code><SignatureProvided>deadbeefdeadbeef</SignatureProvided></Error>";
    let refusing = spawn_server(
        Router::new()
            .route("/in.jpg", get(move || async move { (StatusCode::FORBIDDEN, echo) }))
            .route("/out.mp4", put(move || async move { (StatusCode::INTERNAL_SERVER_ERROR, echo) })),
    )
    .await;
    let reset = resetting_server().await;
    let hooks = Arc::new(Mutex::new(Vec::new()));
    let h = hooks.clone();
    let hook_base = spawn_server(Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(v): axum::Json<Value>| {
            h.lock().unwrap().push(v);
            async { StatusCode::OK }
        }),
    ))
    .await;

    let work_root = tempfile::tempdir().unwrap();
    let exec = Executor::new(common::config(work_root.path())).await.unwrap();
    let cfg = ServeConfig {
        endpoint_id: "test".into(),
        api_key: None,
        concurrency: 2,
        webhook_retries: 1,
        webhook_retry_delay: Duration::from_millis(100),
        default_execution_timeout: Duration::from_secs(120),
    };
    let shutdown = CancellationToken::new();
    let _stop = shutdown.clone().drop_guard();
    let api = format!("{}/v2/test", spawn_server(router(cfg, exec, shutdown)).await);
    let http = reqwest::Client::new();
    let good_put = |id: &str| format!("{}{SIGNED}", storage.url(&format!("out/{id}/video.mp4")));

    // (job, expected code, webhook URL): a connection reset and a 403 on download, a 500
    // on upload; the last one's webhook (itself signed) resets too.
    let cases = [
        (job("reset-get", format!("{reset}/in.jpg{SIGNED}"), good_put("reset-get")), "input-download-failed", format!("{hook_base}/hook")),
        (
            job("forbidden-get", format!("{refusing}/in.jpg{SIGNED}"), good_put("forbidden-get")),
            "input-download-failed",
            format!("{hook_base}/hook"),
        ),
        (
            job("failing-put", format!("{}{SIGNED}", storage.url("in/a.jpg")), format!("{refusing}/out.mp4{SIGNED}")),
            "upload-failed",
            format!("{reset}/hook{SIGNED}"),
        ),
    ];
    let mut ids = Vec::new();
    for (job, _, webhook) in &cases {
        let resp = http.post(format!("{api}/run")).json(&json!({ "input": job, "webhook": webhook })).send().await.unwrap();
        let v: Value = resp.json().await.unwrap();
        ids.push(v["id"].as_str().unwrap().to_owned());
    }
    for (id, (_, code, _)) in ids.iter().zip(&cases) {
        let started = Instant::now();
        let status = loop {
            let v: Value = http.get(format!("{api}/status/{id}")).send().await.unwrap().json().await.unwrap();
            if v["status"] != "IN_QUEUE" && v["status"] != "IN_PROGRESS" {
                break v;
            }
            assert!(started.elapsed() < Duration::from_secs(60), "{id} still running: {v}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(status["status"], "FAILED", "{status}");
        let err = WorkerError::from_runpod_string(status["error"].as_str().unwrap());
        assert_eq!(err.code, *code, "{err:?}");
        assert!(!leaks(&status.to_string()), "the status of {id} leaks the signature: {status}");
    }
    // The webhook to the resetting server fails twice (one retry), logging each time.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let delivered = hooks.lock().unwrap().clone();
    assert_eq!(delivered.len(), 2, "{delivered:?}");
    assert!(delivered.iter().all(|v| !leaks(&v.to_string())), "{delivered:?}");

    let logs = String::from_utf8_lossy(&LOGS.lock().unwrap()).into_owned();
    assert!(logs.contains("webhook failed") && logs.contains("upload-failed"), "the failures were logged:\n{logs}");
    let leaked: Vec<&str> = logs.lines().filter(|l| leaks(l)).collect();
    assert!(leaked.is_empty(), "log lines leak the signature:\n{}", leaked.join("\n"));
}
