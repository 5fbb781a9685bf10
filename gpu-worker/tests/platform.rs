//! End-to-end tests of RunPod platform mode: the real loops against an in-process fake
//! RunPod (job-take, job-stop, job-done, ping; every request recorded), real ffmpeg
//! (libx264) and an in-process storage server (GET inputs, PUT outputs).
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use common::{Storage, eventually, ffmpeg_children, ffprobe_bytes, frames, spawn_server};
use gpu_worker::executor::Executor;
use gpu_worker::platform::{self, PlatformConfig};
use job_spec::worker::{ClipTask, ConcatenateTask, Img2VidTask, InputUrl, OutputTarget};
use job_spec::{Task, WorkerError, WorkerJob, ZoomType};
use serde_json::{Value, json};
use tokio_util::sync::{CancellationToken, DropGuard};

/// One test at a time: the machine has few cores, and the stop test counts this
/// process's ffmpeg children.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const KEY: &str = "rp-key-123";
const POD: &str = "pod-1";
/// The fake's answer pause on an idle job-take / job-stop (RunPod holds both open).
const TAKE_HOLD: Duration = Duration::from_millis(200);
const STOP_HOLD: Duration = Duration::from_secs(1);
/// Set in the worker's config to keep the tests fast (defaults: 5 s, 2 s then 3 s).
const TOO_MANY_PAUSE: Duration = Duration::from_millis(300);
const RETRY_DELAY: Duration = Duration::from_millis(300);

/// One request the fake RunPod answered.
#[derive(Clone, Debug)]
struct Req {
    at: Instant,
    answered: Instant,
    status: u16,
    method: Method,
    path: String,
    query: String,
    headers: HeaderMap,
    body: String,
}

impl Req {
    fn param(&self, name: &str) -> Option<String> {
        url::form_urlencoded::parse(self.query.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
    }
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    fn is_take(&self) -> bool {
        self.path.contains("/job-take/")
    }
    fn is_stop(&self) -> bool {
        self.path.contains("/job-stop/")
    }
    fn is_ping(&self) -> bool {
        self.path.contains("/ping/")
    }
    fn is_done_for(&self, id: &str) -> bool {
        self.path == format!("/v2/ep/job-done/{POD}/{id}")
    }
    fn is_progress_for(&self, id: &str) -> bool {
        self.is_done_for(id) && self.json()["status"] == "IN_PROGRESS"
    }
    fn is_result_for(&self, id: &str) -> bool {
        self.is_done_for(id) && self.json()["status"] != "IN_PROGRESS"
    }
}

enum TakeReply {
    Status(u16),
    Job(Value),
}

/// RunPod's worker-facing endpoints, scripted.
#[derive(Clone, Default)]
struct FakeRunPod {
    log: Arc<Mutex<Vec<Req>>>,
    /// Answers for the next job-takes; an idle take waits [`TAKE_HOLD`], then 204.
    takes: Arc<Mutex<VecDeque<TakeReply>>>,
    /// Ids the next job-stop poll hands out.
    stops: Arc<Mutex<Vec<String>>>,
    /// job-done result POSTs (not progress) still to refuse with 500.
    failing_results: Arc<Mutex<u32>>,
}

async fn runpod(State(f): State<FakeRunPod>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let at = Instant::now();
    let path = uri.path().to_owned();
    let body = String::from_utf8_lossy(&body).into_owned();
    let resp = if path.contains("/job-take/") {
        let next = f.takes.lock().unwrap().pop_front();
        match next {
            Some(TakeReply::Status(s)) => StatusCode::from_u16(s).unwrap().into_response(),
            Some(TakeReply::Job(j)) => axum::Json(j).into_response(),
            None => {
                tokio::time::sleep(TAKE_HOLD).await;
                StatusCode::NO_CONTENT.into_response()
            }
        }
    } else if path.contains("/job-stop/") {
        let mut ids = Vec::new();
        while ids.is_empty() && at.elapsed() < STOP_HOLD {
            ids = std::mem::take(&mut *f.stops.lock().unwrap());
            if ids.is_empty() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        if ids.is_empty() { StatusCode::NO_CONTENT.into_response() } else { axum::Json(json!({ "jobsToStop": ids })).into_response() }
    } else if path.contains("/job-done/") {
        let progress = serde_json::from_str::<Value>(&body).is_ok_and(|v| v["status"] == "IN_PROGRESS");
        let mut failing = f.failing_results.lock().unwrap();
        if !progress && *failing > 0 {
            *failing -= 1;
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        } else {
            StatusCode::OK.into_response()
        }
    } else if path.contains("/ping/") {
        StatusCode::OK.into_response()
    } else {
        StatusCode::NOT_FOUND.into_response()
    };
    let query = uri.query().unwrap_or_default().to_owned();
    let status = resp.status().as_u16();
    f.log.lock().unwrap().push(Req { at, answered: Instant::now(), status, method, path, query, headers, body });
    resp
}

struct Harness {
    runpod: FakeRunPod,
    storage: Storage,
    media: tempfile::TempDir,
    work_root: tempfile::TempDir,
    shutdown: CancellationToken,
    worker: tokio::task::JoinHandle<Result<(), String>>,
    _stop_on_panic: DropGuard,
    _serial: tokio::sync::MutexGuard<'static, ()>,
}

/// Starts the platform loop against a fake RunPod whose first job-takes answer `takes`.
async fn start(takes: Vec<TakeReply>) -> Harness {
    start_with(takes, |cfg| cfg).await
}

/// [`start`], with the platform configuration changed by `tweak`.
async fn start_with(takes: Vec<TakeReply>, tweak: impl FnOnce(PlatformConfig) -> PlatformConfig) -> Harness {
    let serial = SERIAL.lock().await;
    common::init_tracing();
    let storage = Storage::start().await;
    let runpod = FakeRunPod::default();
    runpod.takes.lock().unwrap().extend(takes);
    let api = spawn_server(Router::new().fallback(self::runpod).with_state(runpod.clone())).await;

    let work_root = tempfile::tempdir().unwrap();
    let exec = Executor::new(common::config(work_root.path())).await.unwrap();
    // The URL shapes RunPod sets, placeholders included.
    let vars = HashMap::from([
        ("RUNPOD_POD_ID", POD.to_owned()),
        ("RUNPOD_AI_API_KEY", KEY.to_owned()),
        ("RUNPOD_WEBHOOK_GET_JOB", format!("{api}/v2/ep/job-take/$ID?gpu=test")),
        ("RUNPOD_WEBHOOK_POST_OUTPUT", format!("{api}/v2/ep/job-done/$RUNPOD_POD_ID/$ID?gpu=test")),
        ("RUNPOD_WEBHOOK_PING", format!("{api}/v2/ep/ping/$RUNPOD_POD_ID?gpu=test")),
        ("RUNPOD_PING_INTERVAL", "200".to_owned()),
        // Debug builds: this job panics as it starts (no other test uses the id).
        ("GPU_WORKER_TEST_PANIC_JOB", "rp-panic".to_owned()),
    ]);
    let cfg = tweak(PlatformConfig {
        too_many_requests_pause: TOO_MANY_PAUSE,
        min_take_interval: Duration::from_millis(100),
        done_retry_delays: vec![RETRY_DELAY, RETRY_DELAY],
        ..PlatformConfig::from_lookup(|k| vars.get(k).cloned()).unwrap()
    });
    let shutdown = CancellationToken::new();
    let worker = tokio::spawn(platform::run(cfg, exec, shutdown.clone()));
    Harness {
        runpod,
        storage,
        media: tempfile::tempdir().unwrap(),
        work_root,
        _stop_on_panic: shutdown.clone().drop_guard(),
        shutdown,
        worker,
        _serial: serial,
    }
}

impl Harness {
    /// Stores a still made by lavfi's testsrc2 under `key`.
    fn put_image(&self, key: &str, size: &str) {
        self.storage.put(key, common::still(self.media.path(), "still.jpg", size));
    }

    /// An img2vid job of one clip from `input_key` to `out/{job_id}/video.mp4`.
    fn job(&self, job_id: &str, input_key: &str, frames: u32, (width, height): (u32, u32)) -> WorkerJob {
        let key = format!("out/{job_id}/video.mp4");
        WorkerJob {
            progress_url: None,
            job_id: job_id.into(),
            attempt: 1,
            inputs: vec![InputUrl { name: "image".into(), url: self.storage.url(input_key) }],
            outputs: vec![OutputTarget { name: "video".into(), put_url: self.storage.url(&key), key, content_type: "video/mp4".into() }],
            task: Task::Img2vid(Img2VidTask {
                width,
                height,
                frame_rate: 24,
                clips: vec![ClipTask {
                    id: "img".into(),
                    input: "image".into(),
                    output: "video".into(),
                    frames,
                    zoom: ZoomType::Zoomin,
                    easing: Default::default(),
                }],
            }),
        }
    }

    fn queue(&self, id: &str, input: Value) {
        self.runpod.takes.lock().unwrap().push_back(TakeReply::Job(json!({ "id": id, "input": input })));
    }

    fn log(&self) -> Vec<Req> {
        self.runpod.log.lock().unwrap().clone()
    }

    /// Polls the request log until `done` holds; panics with a summary after `timeout`.
    async fn wait_for(&self, timeout: Duration, what: &str, done: impl Fn(&[Req]) -> bool) -> Vec<Req> {
        let start = Instant::now();
        loop {
            let log = self.log();
            if done(&log) {
                return log;
            }
            if start.elapsed() > timeout {
                let summary: Vec<String> = log.iter().map(|r| format!("{} {}?{} → {}", r.method, r.path, r.query, r.status)).collect();
                panic!("no {what} after {timeout:?}; requests:\n{}", summary.join("\n"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The accepted result POST of job `id`.
    async fn result(&self, id: &str, timeout: Duration) -> Req {
        let log = self.wait_for(timeout, &format!("result for {id}"), |l| l.iter().any(|r| r.is_result_for(id) && r.status == 200)).await;
        log.into_iter().find(|r| r.is_result_for(id) && r.status == 200).unwrap()
    }

    /// Waits until ffmpeg reports rendered frames of job `id` in a progress POST.
    async fn rendering(&self, id: &str) {
        self.wait_for(Duration::from_secs(20), "render progress", |l| {
            l.iter().any(|r| {
                r.is_progress_for(id) && r.json()["output"]["stage"] == "render" && r.json()["output"]["completed"].as_u64() > Some(0)
            })
        })
        .await;
    }

    fn work_dirs_left(&self) -> usize {
        common::entries(self.work_root.path())
    }

    /// Fires shutdown; the loop must return (jobs cancelled, ffmpeg reaped) promptly.
    async fn finish(self) -> Vec<Req> {
        self.shutdown.cancel();
        let started = Instant::now();
        let ended = tokio::time::timeout(Duration::from_secs(10), self.worker).await;
        assert!(matches!(ended, Ok(Ok(Ok(())))), "platform::run did not return cleanly: {ended:?}");
        assert!(ffmpeg_children().is_empty(), "ffmpeg outlived shutdown: {:?}", ffmpeg_children());
        tracing::info!(took = ?started.elapsed(), "platform loop stopped");
        let log = self.runpod.log.lock().unwrap().clone();
        for r in &log {
            assert_eq!(r.header("authorization"), Some(KEY), "raw key, no Bearer, on {} {}", r.method, r.path);
        }
        log
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn takes_renders_and_posts_progress_heartbeats_and_the_result() {
    let h = start(vec![TakeReply::Status(204)]).await;
    h.put_image("in/a.jpg", "640x360");
    h.queue("rp-1", serde_json::to_value(h.job("e2e", "in/a.jpg", 24, (640, 360))).unwrap());

    let result = h.result("rp-1", Duration::from_secs(30)).await;
    // A few heartbeats after the job, to see the idle shape again.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let video = h.storage.get("out/e2e/video.mp4").expect("the video was uploaded");
    assert_eq!(frames(&ffprobe_bytes(h.media.path(), "video.mp4", &video)), Some(24));
    assert!(eventually(|| h.work_dirs_left() == 0).await, "the job's work dir is removed");
    let log = h.finish().await;

    // job-take: the 204 is followed by another take, which hands out the job; with one
    // slot every take says `job_in_progress=0`, and none happens while the job runs.
    let takes: Vec<&Req> = log.iter().filter(|r| r.is_take()).collect();
    assert!(takes.len() >= 3, "{takes:?}");
    let handing = takes.iter().position(|t| t.status == 200).unwrap();
    assert!(handing >= 1 && takes[..handing].iter().all(|t| t.status == 204), "{takes:?}");
    assert!(takes[1].at - takes[0].answered < Duration::from_secs(1), "a 204 is followed by a prompt take");
    for t in &takes {
        assert_eq!((t.method.as_str(), t.path.as_str()), ("GET", "/v2/ep/job-take/pod-1"));
        assert_eq!(t.query, "gpu=test&job_in_progress=0", "take while idle");
    }
    let (handed_out, finished) = (takes[handing].answered, result.at);
    assert!(!takes.iter().any(|t| t.at > handed_out && t.at < finished), "no take while the only slot is busy");

    // The result: RunPod's job-done URL with `isStream=false`, `{"output": WorkerOutput}`.
    assert_eq!((result.method.as_str(), result.query.as_str()), ("POST", "gpu=test&isStream=false"));
    assert_eq!(result.header("x-request-id"), Some("rp-1"));
    let body = result.json();
    assert_eq!(body.as_object().unwrap().keys().collect::<Vec<_>>(), ["output"], "{body}");
    let out = &body["output"]["outputs"][0];
    assert_eq!((out["name"].as_str(), out["key"].as_str()), (Some("video"), Some("out/e2e/video.mp4")), "{body}");
    assert_eq!((out["bytes"].as_u64(), out["frames"].as_u64()), (Some(video.len() as u64), Some(24)), "{body}");
    assert_eq!((out["width"].as_u64(), out["height"].as_u64(), out["codec"].as_str()), (Some(640), Some(360), Some("h264")));
    assert_eq!(log.iter().filter(|r| r.is_result_for("rp-1")).count(), 1, "one result POST");

    // Progress: IN_PROGRESS posts to the same URL, before the result, at most one a
    // second, and the last one the executor reported is not dropped.
    let progress: Vec<&Req> = log.iter().filter(|r| r.is_progress_for("rp-1")).collect();
    assert!(!progress.is_empty(), "at least one progress POST");
    for p in &progress {
        assert_eq!(p.query, "gpu=test&isStream=false");
        assert!(p.at < result.at, "progress after the result");
    }
    for pair in progress.windows(2) {
        assert!(pair[1].at - pair[0].at >= Duration::from_millis(900), "progress throttled to 1/s");
    }
    assert_eq!(
        progress.last().unwrap().json()["output"],
        json!({"stage": "upload", "completed": 1, "total": 1, "percentage": 100.0}),
        "the final progress is sent"
    );

    // Heartbeats: `job_id` is the running job, and absent when idle.
    let pings: Vec<&Req> = log.iter().filter(|r| r.is_ping()).collect();
    assert!(pings.iter().all(|p| p.param("runpod_version").is_some_and(|v| v.starts_with("1.12.0+api-gpu-worker"))));
    assert!(pings.iter().all(|p| p.param("gpu").as_deref() == Some("test")));
    assert!(pings.iter().any(|p| p.param("job_id").as_deref() == Some("rp-1")), "a ping during the job names it");
    assert!(pings.iter().filter(|p| p.at > result.answered + Duration::from_millis(50)).all(|p| p.param("job_id").is_none()));
    assert!(pings.iter().any(|p| p.param("job_id").is_none()), "idle pings");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_job_answers_poll_again_and_429_pauses_the_take_loop() {
    let h = start(vec![TakeReply::Status(400), TakeReply::Status(204), TakeReply::Status(429), TakeReply::Status(204)]).await;
    h.wait_for(Duration::from_secs(10), "six takes", |l| l.iter().filter(|r| r.is_take()).count() >= 6).await;
    let log = h.finish().await;
    let takes: Vec<&Req> = log.iter().filter(|r| r.is_take()).collect();
    assert_eq!(takes[..4].iter().map(|t| t.status).collect::<Vec<_>>(), [400, 204, 429, 204]);
    for i in [1, 2, 4] {
        assert!(takes[i].at - takes[i - 1].answered < Duration::from_millis(250), "take {i} follows a no-job answer promptly");
    }
    let after_429 = takes[3].at - takes[2].answered;
    assert!(after_429 >= TOO_MANY_PAUSE, "429 pauses the take loop: next take {after_429:?} later");
    assert!(!log.iter().any(|r| r.path.contains("/job-done/")), "nothing to report");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_posted_as_worker_error_strings() {
    let h = start(vec![]).await;
    h.storage.put("in/notes.txt", b"these are my notes, not an image\n".to_vec());
    h.queue("rp-text", serde_json::to_value(h.job("text", "in/notes.txt", 24, (640, 360))).unwrap());
    h.queue("rp-junk", json!({ "hello": "world" }));
    // Zero clips and no inputs: the executors index the first clip.
    let no_clips =
        WorkerJob { inputs: vec![], task: Task::Concatenate(ConcatenateTask { clips: 0 }), ..h.job("none", "in/x.jpg", 24, (640, 360)) };
    h.queue("rp-no-clips", serde_json::to_value(no_clips).unwrap());

    for (id, code) in [("rp-text", "input-not-media"), ("rp-junk", "invalid-task"), ("rp-no-clips", "invalid-task")] {
        let body = h.result(id, Duration::from_secs(20)).await.json();
        assert_eq!(body.as_object().unwrap().keys().collect::<Vec<_>>(), ["error"], "{body}");
        let err = WorkerError::from_runpod_string(body["error"].as_str().expect("the error is a string"));
        assert_eq!((err.code.as_str(), err.retryable), (code, false), "{id}: {err:?}");
    }
    assert!(h.storage.put_headers.lock().unwrap().is_empty(), "nothing uploaded");
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_job_is_reported_and_leaves_the_heartbeat() {
    let h = start(vec![]).await;
    h.queue("rp-panic", json!({ "any": "input" }));
    let result = h.result("rp-panic", Duration::from_secs(10)).await;
    let err = WorkerError::from_runpod_string(result.json()["error"].as_str().expect("the error is a string"));
    assert_eq!((err.code.as_str(), err.retryable), ("internal-error", false), "{err:?}");
    assert!(!err.message.contains("GPU_WORKER_TEST_PANIC_JOB"), "the panic message stays in the log: {err:?}");

    // The worker goes on taking jobs, and its heartbeat no longer names the panicked one.
    h.queue("rp-next", json!({ "not": "a job" }));
    h.result("rp-next", Duration::from_secs(10)).await;
    let after = result.answered + Duration::from_millis(50);
    h.wait_for(Duration::from_secs(5), "pings after the result", |l| l.iter().filter(|r| r.is_ping() && r.at > after).count() >= 2).await;
    let log = h.finish().await;
    let pings: Vec<&Req> = log.iter().filter(|r| r.is_ping() && r.at > after).collect();
    assert!(pings.iter().all(|p| p.param("job_id").is_none_or(|ids| !ids.contains("rp-panic"))), "{pings:?}");
    assert_eq!(log.iter().filter(|r| r.is_result_for("rp-panic")).count(), 1, "one result");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_post_answered_500_is_retried() {
    let h = start(vec![]).await;
    *h.runpod.failing_results.lock().unwrap() = 1;
    h.queue("rp-retry", json!({ "not": "a job" }));
    h.result("rp-retry", Duration::from_secs(10)).await;
    tokio::time::sleep(RETRY_DELAY * 3).await; // time for an unwanted third attempt
    let log = h.finish().await;
    let posts: Vec<&Req> = log.iter().filter(|r| r.is_result_for("rp-retry")).collect();
    assert_eq!(posts.iter().map(|p| p.status).collect::<Vec<_>>(), [500, 200], "retried once, then done");
    assert_eq!(posts[0].body, posts[1].body, "the same result again");
    assert_eq!(posts[1].query, "gpu=test&isStream=false");
    assert!(posts[1].at - posts[0].answered >= RETRY_DELAY, "with a pause between attempts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_stop_kills_ffmpeg_and_the_job_reports_nothing_more() {
    let h = start(vec![]).await;
    h.put_image("in/a.jpg", "640x360");
    h.queue("rp-long", serde_json::to_value(h.job("long", "in/a.jpg", 600, (1280, 720))).unwrap());
    h.rendering("rp-long").await;
    assert!(!ffmpeg_children().is_empty(), "ffmpeg should be running");

    h.runpod.stops.lock().unwrap().push("rp-long".into());
    let log = h.wait_for(Duration::from_secs(5), "job-stop answer", |l| l.iter().any(|r| r.is_stop() && r.status == 200)).await;
    let stop = log.iter().find(|r| r.is_stop() && r.status == 200).unwrap().clone();
    assert_eq!((stop.method.as_str(), stop.path.as_str(), stop.query.as_str()), ("GET", "/v2/ep/job-stop/pod-1", "gpu=test"));
    assert!(
        eventually(|| ffmpeg_children().is_empty()).await,
        "ffmpeg still running (or unreaped) 5 s after the stop: {:?}",
        ffmpeg_children()
    );
    assert!(eventually(|| h.work_dirs_left() == 0).await, "the work dir is removed");

    // The worker is idle again: a take and a ping after the stop say so.
    let after = stop.answered + Duration::from_millis(300);
    let log = h
        .wait_for(Duration::from_secs(5), "idle take and ping", |l| {
            l.iter().any(|r| r.is_take() && r.at > after) && l.iter().any(|r| r.is_ping() && r.at > after)
        })
        .await;
    assert!(log.iter().filter(|r| r.is_ping() && r.at > after).all(|p| p.param("job_id").is_none()));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let log = h.finish().await;
    assert!(!log.iter().any(|r| r.is_result_for("rp-long")), "a stopped job posts no result");
    assert!(!log.iter().any(|r| r.is_progress_for("rp-long") && r.at > stop.answered + Duration::from_millis(250)), "nor progress");
    assert!(log.iter().filter(|r| r.is_take()).all(|t| t.query == "gpu=test&job_in_progress=0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_cancels_the_running_job_and_returns() {
    let h = start(vec![]).await;
    h.put_image("in/a.jpg", "640x360");
    h.queue("rp-long", serde_json::to_value(h.job("long", "in/a.jpg", 600, (1280, 720))).unwrap());
    h.rendering("rp-long").await;
    assert!(!ffmpeg_children().is_empty(), "ffmpeg should be running");
    let storage = h.storage.clone();
    let started = Instant::now();
    // `finish` asserts the loop returns and no ffmpeg child remains.
    let log = h.finish().await;
    assert!(started.elapsed() < Duration::from_secs(5), "shutdown took {:?}", started.elapsed());
    assert!(!log.iter().any(|r| r.is_result_for("rp-long")), "a cancelled job posts no result");
    assert!(storage.put_headers.lock().unwrap().is_empty(), "nothing uploaded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_past_its_deadline_is_stopped_reported_and_frees_its_slot() {
    let deadline = Duration::from_secs(3);
    let h = start_with(vec![], |cfg| PlatformConfig { job_deadline: deadline, ..cfg }).await;
    h.put_image("in/a.jpg", "640x360");
    h.queue("rp-slow", serde_json::to_value(h.job("slow", "in/a.jpg", 600, (1280, 720))).unwrap());
    h.rendering("rp-slow").await;
    assert!(!ffmpeg_children().is_empty(), "ffmpeg should be running");

    let result = h.result("rp-slow", deadline + Duration::from_secs(10)).await;
    // ffmpeg is killed and reaped before the result is posted.
    assert!(ffmpeg_children().is_empty(), "ffmpeg outlived the deadline: {:?}", ffmpeg_children());
    let err = WorkerError::from_runpod_string(result.json()["error"].as_str().expect("the error is a string"));
    assert_eq!((err.code.as_str(), err.retryable), ("deadline-exceeded", false), "{err:?}");
    assert!(err.message.contains("JOB_DEADLINE_SECS"), "{err:?}");
    let log = h.log();
    let taken = log.iter().find(|r| r.is_take() && r.status == 200).expect("the take that handed out the job").answered;
    let took = result.at - taken;
    assert!(took >= deadline && took < deadline + Duration::from_secs(3), "reported {took:?} after the take");
    assert!(eventually(|| h.work_dirs_left() == 0).await, "the work dir is removed");
    assert!(h.storage.put_headers.lock().unwrap().is_empty(), "nothing uploaded");

    // The slot is free: the next job is taken and finished.
    h.queue("rp-next", json!({ "not": "a job" }));
    h.result("rp-next", Duration::from_secs(10)).await;
    let log = h.finish().await;
    assert_eq!(log.iter().filter(|r| r.is_result_for("rp-slow")).count(), 1, "one result");
}
