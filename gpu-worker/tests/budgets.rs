//! A job's resource guards as a client sees them: the per-download deadline (a server
//! that trickles), the job's total download budget (checked while streaming, across
//! parallel downloads) and the free-space check before anything is downloaded. Each
//! test asserts the error code, its retry flag, and that it came fast.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::routing::get;
use gpu_worker::config::Config;
use gpu_worker::executor::Executor;
use job_spec::worker::{ClipTask, Img2VidTask, InputUrl, OutputTarget};
use job_spec::{Task, WorkerError, WorkerJob, ZoomType};
use tokio_util::sync::CancellationToken;

/// Chunk size of the streamed inputs.
const CHUNK: usize = 16 << 10;

/// Inputs streamed in [`CHUNK`]s without a Content-Length (so only the streaming check
/// can stop them), and `/drip`, one byte a second. Counts GETs.
#[derive(Clone, Default)]
struct Origin {
    files: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    gets: Arc<AtomicUsize>,
    base: String,
}

impl Origin {
    async fn start() -> Origin {
        let mut o = Origin::default();
        let app = Router::new().route("/in/{name}", get(chunked)).route("/drip", get(drip)).with_state(o.clone());
        o.base = common::spawn_server(app).await;
        o
    }
}

async fn chunked(State(o): State<Origin>, UrlPath(name): UrlPath<String>) -> Result<Body, StatusCode> {
    o.gets.fetch_add(1, Ordering::SeqCst);
    let bytes = o.files.lock().unwrap().get(&name).cloned().ok_or(StatusCode::NOT_FOUND)?;
    let chunks: Vec<Bytes> = bytes.chunks(CHUNK).map(Bytes::copy_from_slice).collect();
    let stream = futures_util::StreamExt::then(futures_util::stream::iter(chunks), |c| async move {
        tokio::time::sleep(Duration::from_millis(3)).await;
        Ok::<_, std::io::Error>(c)
    });
    Ok(Body::from_stream(stream))
}

async fn drip(State(o): State<Origin>) -> Body {
    o.gets.fetch_add(1, Ordering::SeqCst);
    let stream = futures_util::StreamExt::then(futures_util::stream::iter(0..3600), |_| async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        Ok::<_, std::io::Error>(Bytes::from_static(b"x"))
    });
    Body::from_stream(stream)
}

/// An img2vid job: one 1-frame clip per input URL.
fn job(urls: &[String]) -> WorkerJob {
    let (mut inputs, mut outputs, mut clips) = (Vec::new(), Vec::new(), Vec::new());
    for (i, url) in urls.iter().enumerate() {
        inputs.push(InputUrl { name: format!("image{i}"), url: url.clone() });
        outputs.push(OutputTarget {
            name: format!("video{i}"),
            put_url: "http://127.0.0.1:9/unused".into(),
            key: format!("out/video{i}.mp4"),
            content_type: "video/mp4".into(),
        });
        clips.push(ClipTask {
            id: format!("c{i}"),
            input: format!("image{i}"),
            output: format!("video{i}"),
            frames: 1,
            zoom: ZoomType::Zoomin,
            easing: Default::default(),
        });
    }
    WorkerJob {
        progress_url: None,
        job_id: "budget".into(),
        attempt: 1,
        inputs,
        outputs,
        task: Task::Img2vid(Img2VidTask { width: 320, height: 240, frame_rate: 24, clips }),
    }
}

/// Runs `job` on an executor with `cfg`; gives up (a failed test, not a hang) after 30 s.
async fn run(cfg: Config, job: &WorkerJob) -> (Result<(), WorkerError>, Duration) {
    let exec = Executor::new(cfg).await.unwrap();
    let started = Instant::now();
    let r = tokio::time::timeout(Duration::from_secs(30), exec.execute(job, Arc::new(|_| {}), &CancellationToken::new()))
        .await
        .expect("the job ended within 30 s");
    (r.map(drop).map_err(|e| e.to_worker_error()), started.elapsed())
}

/// Bytes in the files under `dir`, recursively.
fn bytes_under(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => bytes_under(&e.path()),
            _ => e.metadata().map_or(0, |m| m.len()),
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_input_that_trickles_fails_at_the_download_deadline() {
    let origin = Origin::start().await;
    let work = tempfile::tempdir().unwrap();
    // A byte a second never trips the 10 s read timeout; only the deadline ends it.
    let cfg = Config { download_deadline: Duration::from_secs(3), ..common::config(work.path()) };
    let (r, took) = run(cfg, &job(&[format!("{}/drip", origin.base)])).await;
    let err = r.unwrap_err();
    assert_eq!((err.code.as_str(), err.retryable), ("input-download-timeout", false), "{err:?}");
    assert!(err.message.contains("image0") && err.message.contains("DOWNLOAD_DEADLINE_SECS"), "{err:?}");
    assert!(took >= Duration::from_secs(3) && took < Duration::from_secs(5), "failed after {took:?}");
    assert_eq!(origin.gets.load(Ordering::SeqCst), 1, "a deadline is not retried");
    assert_eq!(common::entries(work.path()), 0, "the work dir is removed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inputs_past_the_job_budget_fail_while_streaming_and_never_fill_the_disk() {
    let origin = Origin::start().await;
    let media = tempfile::tempdir().unwrap();
    let image = common::still(media.path(), "still.bmp", "320x240");
    let size = image.len() as u64;
    for i in 0..4 {
        origin.files.lock().unwrap().insert(format!("{i}.bmp"), image.clone());
    }
    let work = tempfile::tempdir().unwrap();
    // Room for two and a half of the four inputs; each alone is well under MAX_INPUT_BYTES.
    let budget = size * 5 / 2;
    let cfg = Config { max_job_input_bytes: budget, min_free_work_bytes: 1, transfer_parallelism: 2, ..common::config(work.path()) };

    // What the work dir holds, sampled every millisecond while the job runs.
    let (peak, stop) = (Arc::new(AtomicU64::new(0)), CancellationToken::new());
    let sampler = {
        let (peak, stop, root) = (peak.clone(), stop.clone(), work.path().to_path_buf());
        tokio::spawn(async move {
            while !stop.is_cancelled() {
                peak.fetch_max(bytes_under(&root), Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
    };
    let urls: Vec<String> = (0..4).map(|i| format!("{}/in/{i}.bmp", origin.base)).collect();
    let (r, took) = run(cfg, &job(&urls)).await;
    stop.cancel();
    sampler.await.unwrap();

    let err = r.unwrap_err();
    assert_eq!((err.code.as_str(), err.retryable), ("job-inputs-too-large", false), "{err:?}");
    assert!(err.message.contains(&budget.to_string()) && err.message.contains("MAX_JOB_INPUT_BYTES"), "{err:?}");
    assert!(took < Duration::from_secs(10), "failed after {took:?}");
    let peak = peak.load(Ordering::SeqCst);
    assert!(peak <= budget, "the work dir held {peak} bytes; the budget is {budget}");
    assert!(peak >= 2 * size, "two inputs fit and were downloaded ({peak} bytes seen)");
    assert_eq!(common::entries(work.path()), 0, "the work dir is removed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_does_not_start_without_free_space() {
    let origin = Origin::start().await;
    origin.files.lock().unwrap().insert("a.bmp".into(), vec![0; 1000]);
    let work = tempfile::tempdir().unwrap();
    let free = gpu_worker::config::free_bytes(work.path()).unwrap();
    let cfg = Config { min_free_work_bytes: free + (1 << 40), ..common::config(work.path()) };
    let (r, took) = run(cfg, &job(&[format!("{}/in/a.bmp", origin.base)])).await;
    let err = r.unwrap_err();
    assert_eq!((err.code.as_str(), err.retryable), ("insufficient-disk", true), "{err:?}");
    assert!(err.message.contains("MIN_FREE_WORK_BYTES"), "{err:?}");
    assert!(took < Duration::from_secs(1), "refused after {took:?}");
    assert_eq!(origin.gets.load(Ordering::SeqCst), 0, "nothing was downloaded");
    assert_eq!(common::entries(work.path()), 0, "no work dir is left");
}
