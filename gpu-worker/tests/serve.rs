//! End-to-end tests of `gpu-worker serve`'s RunPod-shaped API: the real router on
//! loopback, real ffmpeg (libx264), an in-process storage server (GET inputs, PUT
//! outputs) and an in-process webhook receiver.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use common::{Storage, eventually, ffmpeg_children, ffprobe_bytes, spawn_server};
use gpu_worker::executor::Executor;
use gpu_worker::serve::{ServeConfig, router};
use job_spec::worker::{ClipTask, Img2VidTask, InputUrl, OutputTarget};
use job_spec::{Task, WorkerError, WorkerJob, ZoomType};
use serde_json::{Value, json};
use tokio_util::sync::{CancellationToken, DropGuard};

/// One test at a time: the machine has few cores, and the cancel test counts this
/// process's ffmpeg children.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const FPS: u32 = 24;

struct Harness {
    /// `http://127.0.0.1:port/v2`
    api: String,
    storage: Storage,
    hooks: Arc<Mutex<Vec<Value>>>,
    hook_url: String,
    http: reqwest::Client,
    media: tempfile::TempDir,
    work_root: tempfile::TempDir,
    _shutdown: DropGuard,
    _serial: tokio::sync::MutexGuard<'static, ()>,
}

async fn start() -> Harness {
    let serial = SERIAL.lock().await;
    common::init_tracing();
    let storage = Storage::start().await;
    let hooks = Arc::new(Mutex::new(Vec::new()));
    let h = hooks.clone();
    let hook_app = Router::new().route(
        "/hook",
        post(move |Json(v): Json<Value>| {
            h.lock().unwrap().push(v);
            async { StatusCode::OK }
        }),
    );
    let hook_url = format!("{}/hook", spawn_server(hook_app).await);

    let work_root = tempfile::tempdir().unwrap();
    let exec = Executor::new(common::config(work_root.path())).await.unwrap();
    let cfg = ServeConfig {
        endpoint_id: "test".into(),
        api_key: Some("k".into()),
        concurrency: 1,
        webhook_retries: 2,
        webhook_retry_delay: Duration::from_millis(200),
        default_execution_timeout: Duration::from_secs(120),
    };
    let shutdown = CancellationToken::new();
    let api = format!("{}/v2", spawn_server(router(cfg, exec, shutdown.clone())).await);
    Harness {
        api,
        storage,
        hooks,
        hook_url,
        http: reqwest::Client::new(),
        media: tempfile::tempdir().unwrap(),
        work_root,
        _shutdown: shutdown.drop_guard(),
        _serial: serial,
    }
}

impl Harness {
    /// Stores a still made by lavfi's testsrc2 (`file` picks the format) under `key`.
    fn put_image(&self, key: &str, file: &str, size: &str) {
        self.storage.put(key, common::still(self.media.path(), file, size));
    }

    /// A job with one clip per `(input key, frames, zoom)`; output `video_{i}` goes to `out/{job_id}/video_{i}.mp4`.
    fn job(&self, job_id: &str, clips: &[(&str, u32, ZoomType)], (width, height): (u32, u32)) -> WorkerJob {
        let n = |i: usize| i + 1;
        WorkerJob {
            progress_url: None,
            job_id: job_id.into(),
            attempt: 1,
            inputs: (0..clips.len()).map(|i| InputUrl { name: format!("image_{}", n(i)), url: self.storage.url(clips[i].0) }).collect(),
            outputs: (0..clips.len())
                .map(|i| {
                    let key = format!("out/{job_id}/video_{}.mp4", n(i));
                    OutputTarget { name: format!("video_{}", n(i)), put_url: self.storage.url(&key), key, content_type: "video/mp4".into() }
                })
                .collect(),
            task: Task::Img2vid(Img2VidTask {
                width,
                height,
                frame_rate: FPS,
                clips: clips
                    .iter()
                    .enumerate()
                    .map(|(i, &(_, frames, zoom))| ClipTask {
                        id: format!("img{}", n(i)),
                        input: format!("image_{}", n(i)),
                        output: format!("video_{}", n(i)),
                        frames,
                        zoom,
                        easing: Default::default(),
                    })
                    .collect(),
            }),
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, key: Option<&str>, body: Option<Value>) -> (StatusCode, Value) {
        let mut req = self.http.request(method, format!("{}/{path}", self.api));
        if let Some(k) = key {
            req = req.header("authorization", format!("Bearer {k}"));
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = StatusCode::from_u16(resp.status().as_u16()).unwrap();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::GET, path, Some("k"), None).await
    }

    async fn post(&self, path: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::POST, path, Some("k"), None).await
    }

    async fn status_of(&self, id: &str) -> Value {
        self.get(&format!("test/status/{id}")).await.1
    }

    /// Submits a job too long to finish during a test (cancel it at the end) and waits
    /// until ffmpeg renders it, so that with concurrency 1 later jobs stay queued.
    async fn occupy_the_slot(&self) -> String {
        self.put_image("in/a.jpg", "a.jpg", "640x360");
        let id = self.submit(&self.job("long", &[("in/a.jpg", 600, ZoomType::Zoomin)], (1280, 720))).await;
        self.wait_for(&id, Duration::from_secs(60), |v| {
            v["status"] == "IN_PROGRESS" && v["output"]["stage"] == "render" && v["output"]["completed"].as_u64() > Some(0)
        })
        .await;
        id
    }

    /// Cancels the job holding the slot and waits for its ffmpeg to be gone.
    async fn release_the_slot(&self, id: &str) {
        let (code, v) = self.post(&format!("test/cancel/{id}")).await;
        assert_eq!((code, v["status"].as_str()), (StatusCode::OK, Some("CANCELLED")), "{v}");
        assert!(eventually(|| ffmpeg_children().is_empty()).await, "ffmpeg outlived cancel: {:?}", ffmpeg_children());
    }

    async fn submit(&self, job: &WorkerJob) -> String {
        self.submit_body(json!({ "input": job, "webhook": self.hook_url })).await
    }

    async fn submit_body(&self, body: Value) -> String {
        let (code, v) = self.call(reqwest::Method::POST, "test/run", Some("k"), Some(body)).await;
        assert_eq!((code, v["status"].as_str()), (StatusCode::OK, Some("IN_QUEUE")), "{v}");
        v["id"].as_str().unwrap().to_owned()
    }

    /// Polls `/status` until `done` holds; panics with the last status after `timeout`.
    async fn wait_for(&self, id: &str, timeout: Duration, done: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            let (code, v) = self.get(&format!("test/status/{id}")).await;
            assert_eq!(code, StatusCode::OK, "{v}");
            if done(&v) {
                return v;
            }
            assert!(start.elapsed() < timeout, "gave up after {timeout:?}; last status: {v}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn wait_finished(&self, id: &str) -> Value {
        self.wait_for(id, Duration::from_secs(120), |v| !matches!(v["status"].as_str(), Some("IN_QUEUE" | "IN_PROGRESS"))).await
    }

    /// The job's error, decoded the way the edge decodes it.
    async fn failure(&self, id: &str) -> WorkerError {
        let v = self.wait_finished(id).await;
        assert_eq!(v["status"], "FAILED", "{v}");
        WorkerError::from_runpod_string(v["error"].as_str().unwrap())
    }

    /// Waits for `n` webhook POSTs, then a little longer to catch extra ones.
    async fn webhooks(&self, n: usize) -> Vec<Value> {
        let start = Instant::now();
        while self.hooks.lock().unwrap().len() < n && start.elapsed() < Duration::from_secs(10) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(600)).await;
        self.hooks.lock().unwrap().clone()
    }

    fn work_dirs_left(&self) -> usize {
        common::entries(self.work_root.path())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn img2vid_renders_uploads_reports_and_calls_the_webhook() {
    let h = start().await;
    h.put_image("in/a.jpg", "a.jpg", "640x360");
    h.put_image("in/b.png", "b.png", "300x500");
    let clips = [("in/a.jpg", 24, ZoomType::Zoomin), ("in/b.png", 31, ZoomType::Zoompanright)];
    let id = h.submit(&h.job("e2e", &clips, (640, 360))).await;

    let v = h.wait_finished(&id).await;
    assert_eq!(v["status"], "COMPLETED", "{v}");
    assert_eq!(v["id"], id.as_str());
    let outputs = v["output"]["outputs"].as_array().unwrap();
    assert_eq!(outputs.len(), 2, "{v}");

    for (i, &(_, frames, _)) in clips.iter().enumerate() {
        let key = format!("out/e2e/video_{}.mp4", i + 1);
        let meta = outputs.iter().find(|o| o["name"] == format!("video_{}", i + 1)).unwrap();
        let bytes = h.storage.get(&key).unwrap_or_else(|| panic!("no PUT of {key}"));
        let headers = h.storage.put_headers.lock().unwrap()[&key].clone();
        assert_eq!(headers.get("content-length").unwrap().to_str().unwrap(), bytes.len().to_string(), "PUT {key} needs Content-Length");
        assert!(headers.get("transfer-encoding").is_none(), "PUT {key} must not be chunked");
        assert_eq!(headers.get("content-type").unwrap(), "video/mp4");
        assert_eq!(meta["key"], key.as_str());
        assert_eq!(meta["bytes"], bytes.len() as u64);
        assert_eq!(meta["frames"], u64::from(frames));
        assert_eq!((meta["width"].as_u64(), meta["height"].as_u64(), meta["codec"].as_str()), (Some(640), Some(360), Some("h264")));

        let probe = ffprobe_bytes(h.media.path(), &format!("video_{}.mp4", i + 1), &bytes);
        let streams = probe["streams"].as_array().unwrap();
        assert_eq!(streams.len(), 1, "{probe}");
        let s = &streams[0];
        assert_eq!((s["codec_type"].as_str(), s["codec_name"].as_str()), (Some("video"), Some("h264")), "{probe}");
        assert_eq!((s["width"].as_u64(), s["height"].as_u64()), (Some(640), Some(360)));
        assert_eq!(s["pix_fmt"], "yuv420p");
        assert!(matches!(s["sample_aspect_ratio"].as_str(), None | Some("1:1")), "SAR {}", s["sample_aspect_ratio"]);
        assert_eq!(s["nb_read_packets"].as_str(), Some(frames.to_string().as_str()), "frame count of {key}");
        let duration: f64 = s["duration"].as_str().or(probe["format"]["duration"].as_str()).unwrap().parse().unwrap();
        let expected = f64::from(frames) / f64::from(FPS);
        assert!((duration - expected).abs() <= 1.0 / f64::from(FPS) + 1e-3, "{key}: duration {duration}, expected {expected}");
    }

    let hooks = h.webhooks(1).await;
    assert_eq!(hooks.len(), 1, "exactly one webhook POST: {hooks:?}");
    assert_eq!((hooks[0]["id"].as_str(), hooks[0]["status"].as_str()), (Some(id.as_str()), Some("COMPLETED")));
    assert_eq!(hooks[0]["output"]["outputs"], v["output"]["outputs"]);

    let (code, health) = h.get("test/health").await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(health["jobs"]["completed"], 1, "{health}");
    assert_eq!((health["jobs"]["inProgress"].as_u64(), health["jobs"]["inQueue"].as_u64()), (Some(0), Some(0)), "{health}");
    assert_eq!(health["encoder"], "libx264");
    assert_eq!(h.work_dirs_left(), 0, "the job's work dir is removed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_need_the_key_a_known_endpoint_and_a_known_job() {
    use reqwest::Method;
    let h = start().await;
    let body = || Some(json!({ "input": {} }));
    for (method, path) in [
        (Method::POST, "test/run"),
        (Method::GET, "test/health"),
        (Method::GET, "test/status/x"),
        (Method::POST, "test/cancel/x"),
        (Method::POST, "test/retry/x"),
        (Method::POST, "test/purge-queue"),
    ] {
        let b = if method == Method::POST { body() } else { None };
        assert_eq!(h.call(method.clone(), path, None, b.clone()).await.0, StatusCode::UNAUTHORIZED, "{path} without key");
        assert_eq!(h.call(method, path, Some("wrong"), b).await.0, StatusCode::UNAUTHORIZED, "{path} with wrong key");
    }
    assert_eq!(h.call(Method::POST, "other/run", Some("k"), body()).await.0, StatusCode::NOT_FOUND);
    assert_eq!(h.call(Method::GET, "other/health", Some("k"), None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(h.get("test/status/no-such-job").await.0, StatusCode::NOT_FOUND);
    assert_eq!(h.call(Method::POST, "test/cancel/no-such-job", Some("k"), None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(h.call(Method::POST, "test/retry/no-such-job", Some("k"), None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(h.call(Method::POST, "test/run", Some("k"), None).await.0, StatusCode::BAD_REQUEST, "no body");
    assert_eq!(h.get("test/health").await.0, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_input_that_is_not_media_fails_for_good() {
    let h = start().await;
    h.storage.put("in/notes.txt", b"these are my notes, not an image\n".to_vec());
    let id = h.submit(&h.job("text", &[("in/notes.txt", 24, ZoomType::Zoomin)], (640, 360))).await;
    let err = h.failure(&id).await;
    assert_eq!((err.code.as_str(), err.retryable), ("input-not-media", false), "{err:?}");
    assert!(err.message.contains("image_1"), "the message names the input: {err:?}");
    assert!(h.storage.put_headers.lock().unwrap().is_empty(), "nothing uploaded");
    let hooks = h.webhooks(1).await;
    assert_eq!((hooks.len(), hooks[0]["status"].as_str()), (1, Some("FAILED")), "{hooks:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_input_fails_for_good() {
    let h = start().await;
    let id = h.submit(&h.job("missing", &[("in/nothing-here.jpg", 24, ZoomType::Zoomin)], (640, 360))).await;
    let err = h.failure(&id).await;
    assert_eq!((err.code.as_str(), err.retryable), ("input-download-failed", false), "{err:?}");
    assert!(err.message.contains("404"), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_kills_ffmpeg_and_the_job_stays_cancelled() {
    let h = start().await;
    h.put_image("in/a.jpg", "a.jpg", "640x360");
    let id = h.submit(&h.job("long", &[("in/a.jpg", 600, ZoomType::Zoomin)], (1280, 720))).await;
    // Rendering: ffmpeg has reported frames.
    h.wait_for(&id, Duration::from_secs(60), |v| {
        v["status"] == "IN_PROGRESS" && v["output"]["stage"] == "render" && v["output"]["completed"].as_u64() > Some(0)
    })
    .await;
    assert!(!ffmpeg_children().is_empty(), "ffmpeg should be running");
    // Concurrency 1: a second job waits in the queue, and can be cancelled there.
    let queued = h.submit(&h.job("queued", &[("in/a.jpg", 24, ZoomType::Zoomin)], (640, 360))).await;
    assert_eq!(h.get(&format!("test/status/{queued}")).await.1["status"], "IN_QUEUE");

    for job in [&queued, &id] {
        let (code, v) = h.call(reqwest::Method::POST, &format!("test/cancel/{job}"), Some("k"), None).await;
        assert_eq!((code, v["status"].as_str()), (StatusCode::OK, Some("CANCELLED")), "{v}");
        assert_eq!(h.get(&format!("test/status/{job}")).await.1["status"], "CANCELLED");
    }
    assert!(
        eventually(|| ffmpeg_children().is_empty()).await,
        "ffmpeg still running (or unreaped) 5 s after cancel: {:?}",
        ffmpeg_children()
    );
    assert!(eventually(|| h.work_dirs_left() == 0).await, "the work dir is removed");

    tokio::time::sleep(Duration::from_secs(1)).await;
    for job in [&queued, &id] {
        let v = h.get(&format!("test/status/{job}")).await.1;
        assert_eq!(v["status"], "CANCELLED", "{v}");
        assert!(v.get("error").is_none() && v.get("output").is_none(), "{v}");
    }
    assert!(ffmpeg_children().is_empty(), "the queued job never started");
    assert!(h.storage.put_headers.lock().unwrap().is_empty(), "nothing uploaded");
    let (_, health) = h.get("test/health").await;
    assert_eq!((health["jobs"]["inProgress"].as_u64(), health["jobs"]["inQueue"].as_u64()), (Some(0), Some(0)), "{health}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execution_timeout_kills_ffmpeg_and_reports_timed_out() {
    let h = start().await;
    h.put_image("in/a.jpg", "a.jpg", "640x360");
    let job = h.job("slow", &[("in/a.jpg", 600, ZoomType::Zoomin)], (1280, 720));
    let id = h.submit_body(json!({ "input": job, "webhook": h.hook_url, "policy": { "executionTimeout": 1500 } })).await;
    let v = h.wait_finished(&id).await;
    assert_eq!(v["status"], "TIMED_OUT", "{v}");
    assert!(eventually(|| ffmpeg_children().is_empty()).await, "ffmpeg outlived the timeout: {:?}", ffmpeg_children());
    assert!(eventually(|| h.work_dirs_left() == 0).await, "the work dir is removed");
    let hooks = h.webhooks(1).await;
    assert_eq!((hooks.len(), hooks[0]["status"].as_str()), (1, Some("TIMED_OUT")), "{hooks:?}");
    let (_, health) = h.get("test/health").await;
    assert_eq!(health["jobs"]["failed"], 1, "{health}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_runs_a_failed_job_again_with_its_input_and_webhook() {
    let h = start().await;
    let id = h.submit(&h.job("retry", &[("in/later.jpg", 12, ZoomType::Zoomin)], (320, 180))).await;
    let err = h.failure(&id).await;
    assert_eq!(err.code, "input-download-failed", "{err:?}");
    assert!(err.message.contains("404"), "{err:?}");

    // Only FAILED and TIMED_OUT can be retried: a completed job cannot, see below.
    h.put_image("in/later.jpg", "later.jpg", "320x180");
    let (code, v) = h.post(&format!("test/retry/{id}")).await;
    assert_eq!((code, v), (StatusCode::OK, json!({ "id": id, "status": "IN_QUEUE" })));
    let v = h.wait_finished(&id).await;
    assert_eq!(v["status"], "COMPLETED", "{v}");
    assert!(v.get("error").is_none(), "the first run's error is gone: {v}");
    assert_eq!(v["output"]["outputs"][0]["frames"], 12, "{v}");
    assert!(h.storage.objects.lock().unwrap().contains_key("out/retry/video_1.mp4"), "the retry uploaded its output");

    let hooks = h.webhooks(2).await;
    let seen: Vec<_> = hooks.iter().map(|v| (v["id"].as_str().unwrap(), v["status"].as_str().unwrap())).collect();
    assert_eq!(seen, [(id.as_str(), "FAILED"), (id.as_str(), "COMPLETED")], "one webhook per run, same URL");

    let (code, v) = h.post(&format!("test/retry/{id}")).await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["error"].as_str().unwrap().contains("COMPLETED"), "{v}");
    let (_, health) = h.get("test/health").await;
    assert_eq!((health["jobs"]["completed"].as_u64(), health["jobs"]["retried"].as_u64()), (Some(1), Some(1)), "{health}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_queue_cancels_queued_jobs_and_leaves_the_running_one() {
    let h = start().await;
    let long = h.occupy_the_slot().await;
    let queued = [
        h.submit(&h.job("q1", &[("in/a.jpg", 12, ZoomType::Zoomin)], (320, 180))).await,
        h.submit(&h.job("q2", &[("in/a.jpg", 12, ZoomType::Zoomout)], (320, 180))).await,
    ];
    for id in &queued {
        assert_eq!(h.status_of(id).await["status"], "IN_QUEUE");
        let (code, _) = h.post(&format!("test/retry/{id}")).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "a queued job cannot be retried");
    }

    let (code, v) = h.post("test/purge-queue").await;
    assert_eq!((code, v), (StatusCode::OK, json!({ "removed": 2, "status": "completed" })));
    for id in &queued {
        assert_eq!(h.status_of(id).await["status"], "CANCELLED");
    }
    assert_eq!(h.status_of(&long).await["status"], "IN_PROGRESS", "the running job carries on");
    assert_eq!(h.post("test/purge-queue").await.1["removed"], 0, "nothing left to purge");

    // With the slot free, purged jobs would start now if they were still queued.
    h.release_the_slot(&long).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    for id in &queued {
        let v = h.status_of(id).await;
        assert_eq!(v["status"], "CANCELLED", "{v}");
        assert!(v.get("executionTime").is_none() && v.get("output").is_none(), "never started: {v}");
    }
    assert!(ffmpeg_children().is_empty(), "the purged jobs never ran");
    assert!(h.storage.put_headers.lock().unwrap().is_empty(), "nothing uploaded");
    assert!(h.hooks.lock().unwrap().is_empty(), "cancelled jobs get no webhook, as with /cancel");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_times_out_a_job_still_in_queue_and_sends_its_webhook() {
    let h = start().await;
    let long = h.occupy_the_slot().await;
    let job = h.job("ttl", &[("in/a.jpg", 12, ZoomType::Zoomin)], (320, 180));
    let submitted = Instant::now();
    let id = h.submit_body(json!({ "input": job, "webhook": h.hook_url, "policy": { "ttl": 500 } })).await;
    let v = h.wait_for(&id, Duration::from_secs(10), |v| v["status"] != "IN_QUEUE").await;
    let waited = submitted.elapsed();
    assert_eq!(v["status"], "TIMED_OUT", "{v}");
    assert!(waited >= Duration::from_millis(500) && waited < Duration::from_secs(3), "timed out after {waited:?}");
    assert!(v.get("executionTime").is_none(), "never started: {v}");
    assert!(v["error"].as_str().unwrap().contains("ttl of 500 ms"), "{v}");
    assert_eq!(h.status_of(&long).await["status"], "IN_PROGRESS", "the running job is untouched");

    let hooks = h.webhooks(1).await;
    assert_eq!(hooks.len(), 1, "{hooks:?}");
    assert_eq!((hooks[0]["id"].as_str(), hooks[0]["status"].as_str()), (Some(id.as_str()), Some("TIMED_OUT")), "{hooks:?}");

    // A retry queues it again with a fresh ttl, which runs out again behind the long job.
    assert_eq!(h.post(&format!("test/retry/{id}")).await.1["status"], "IN_QUEUE");
    let v = h.wait_for(&id, Duration::from_secs(10), |v| v["status"] != "IN_QUEUE").await;
    assert_eq!(v["status"], "TIMED_OUT", "{v}");
    assert_eq!(h.webhooks(2).await.len(), 2);

    h.release_the_slot(&long).await;
    assert!(h.storage.put_headers.lock().unwrap().is_empty(), "the ttl job never ran");
}

/// A webhook URL is the caller's: it goes out through the guarded client, so one that
/// points inward (here loopback as an IPv4-mapped literal, which the plain client
/// reached) gets nothing, while the job's status is unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_to_private_addresses_are_not_sent() {
    let h = start().await;
    let port = h.hook_url.rsplit(':').next().unwrap().trim_end_matches("/hook").to_owned();
    let inward = format!("http://[::ffff:127.0.0.1]:{port}/hook");
    let job = h.job("inward", &[("in/missing.jpg", 12, ZoomType::Zoomin)], (320, 180));
    let refused = h.submit_body(json!({ "input": job, "webhook": inward })).await;
    assert_eq!(h.failure(&refused).await.code, "input-download-failed");
    let job = h.job("control", &[("in/missing.jpg", 12, ZoomType::Zoomin)], (320, 180));
    let sent = h.submit(&job).await;
    h.wait_finished(&sent).await;

    let hooks = h.webhooks(1).await;
    let ids: Vec<&str> = hooks.iter().map(|v| v["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [sent.as_str()], "only the loopback hook (allowed in tests) was called");
}

/// Without an API key, `serve` listens on loopback only: a non-loopback bind fails at
/// start with a message naming the fix; with a key it serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_a_non_loopback_bind_without_a_key() {
    let _serial = SERIAL.lock().await;
    let work_root = tempfile::tempdir().unwrap();
    let cfg = |key: Option<&str>| ServeConfig {
        endpoint_id: "test".into(),
        api_key: key.map(str::to_owned),
        concurrency: 1,
        webhook_retries: 0,
        webhook_retry_delay: Duration::from_millis(10),
        default_execution_timeout: Duration::from_secs(10),
    };
    let start = |addr: &str, key: Option<&str>| {
        let (addr, cfg, root) = (addr.parse().unwrap(), cfg(key), work_root.path().to_owned());
        async move {
            let exec = Executor::new(common::config(&root)).await.unwrap();
            let shutdown = CancellationToken::new();
            let stop = shutdown.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(2)).await;
                stop.cancel();
            });
            let started = Instant::now();
            let r = tokio::time::timeout(Duration::from_secs(10), gpu_worker::serve::serve(addr, cfg, exec, shutdown)).await.unwrap();
            (r, started.elapsed())
        }
    };
    for (addr, key) in [("0.0.0.0:0", None), ("0.0.0.0:0", Some("")), ("[::]:0", None)] {
        let (r, took) = start(addr, key).await;
        let e = r.expect_err(addr);
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{addr}: {e}");
        assert!(e.to_string().contains("without an API key") && e.to_string().contains("RUNPOD_API_KEY"), "{e}");
        assert!(took < Duration::from_secs(1), "{addr}: refused at once, not after serving ({took:?})");
    }
    for (addr, key) in [("127.0.0.1:0", None), ("[::1]:0", None), ("0.0.0.0:0", Some("k"))] {
        let (r, took) = start(addr, key).await;
        assert!(r.is_ok(), "{addr} {key:?}: {r:?}");
        assert!(took >= Duration::from_secs(2), "{addr} {key:?}: served until shutdown");
    }
}
