//! Helpers shared by gpu-worker's integration tests: an in-process storage server
//! (GET inputs, PUT outputs, recording headers), media made with lavfi, ffprobe,
//! polling, and this process's ffmpeg children.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use gpu_worker::config::Config;
use gpu_worker::encoder::EncoderChoice;
use serde_json::Value;

/// What a test of the executor needs: in-process storage, an executor working in `dir`.
pub struct Env {
    pub storage: Storage,
    pub exec: gpu_worker::executor::Executor,
    pub dir: tempfile::TempDir,
}

/// A fresh [`Env`]: a temporary folder (the executor's work root under it) and storage.
pub async fn env() -> Env {
    env_with(|c| c).await
}

/// [`env`] with the test's settings changed by `adjust`. The work root is `dir/work`.
pub async fn env_with(adjust: impl FnOnce(Config) -> Config) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    Env { storage: Storage::start().await, exec: gpu_worker::executor::Executor::new(adjust(config(&work))).await.unwrap(), dir }
}

impl Env {
    /// Makes an input with ffmpeg (its arguments, then the file) and stores it under its name.
    pub fn make(&self, name: &str, args: &[&str]) {
        self.storage.put(name, ffmpeg_make(self.dir.path(), name, args));
    }
}

/// Objects by key, and the headers each PUT carried.
#[derive(Clone, Default)]
pub struct Storage {
    pub objects: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    pub put_headers: Arc<Mutex<HashMap<String, HeaderMap>>>,
    pub base: String,
}

impl Storage {
    /// Starts the server on 127.0.0.1:0.
    pub async fn start() -> Storage {
        let mut s = Storage::default();
        let app = Router::new().route("/o/{*key}", get(get_object).put(put_object)).with_state(s.clone());
        s.base = spawn_server(app).await;
        s
    }

    pub fn url(&self, key: &str) -> String {
        format!("{}/o/{key}", self.base)
    }

    pub fn put(&self, key: &str, bytes: Vec<u8>) {
        self.objects.lock().unwrap().insert(key.to_owned(), bytes);
    }

    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.objects.lock().unwrap().get(key).cloned()
    }
}

async fn get_object(State(s): State<Storage>, UrlPath(key): UrlPath<String>) -> Result<Vec<u8>, StatusCode> {
    s.objects.lock().unwrap().get(&key).cloned().ok_or(StatusCode::NOT_FOUND)
}

async fn put_object(State(s): State<Storage>, UrlPath(key): UrlPath<String>, headers: HeaderMap, body: Bytes) -> StatusCode {
    s.objects.lock().unwrap().insert(key.clone(), body.to_vec());
    s.put_headers.lock().unwrap().insert(key, headers);
    StatusCode::OK
}

/// Serves `app` on 127.0.0.1:0; returns `http://addr`.
pub async fn spawn_server(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// A worker configuration for tests: libx264, loopback allowed, a private work dir.
pub fn config(work_root: &Path) -> Config {
    Config {
        ffmpeg: "ffmpeg".into(),
        ffprobe: "ffprobe".into(),
        work_root: work_root.to_path_buf(),
        encoder: EncoderChoice::Libx264,
        cuda_decode: false,
        allow_loopback_http: true,
        max_input_bytes: 50 << 20,
        max_job_input_bytes: 8 << 30,
        min_free_work_bytes: 0,
        download_deadline: Duration::from_secs(600),
        transfer_parallelism: 2,
        render_parallelism: 2,
        nvenc_sessions: 8,
        ffmpeg_timeout: Duration::from_secs(120),
        http_timeout: Duration::from_secs(10),
        max_media_secs: job_spec::limits::MAX_MEDIA_SECONDS,
        max_output_bytes: 8 << 30,
        public_inputs: None,
        whisper_compute_type: Default::default(),
        whisper_batch_size: 8,
        youtube: Default::default(),
    }
}

/// Sends `tracing` output to the test's captured output (once per test binary).
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
}

/// Entries in `dir`: work dirs that jobs left behind under a work root.
pub fn entries(dir: &Path) -> usize {
    std::fs::read_dir(dir).unwrap().count()
}

/// Runs ffmpeg (quiet, overwrite) and returns the output file's bytes.
pub fn ffmpeg_make(dir: &Path, name: &str, args: &[&str]) -> Vec<u8> {
    std::fs::read(ffmpeg_file(dir, name, args)).unwrap()
}

/// Runs `ffmpeg … args … dir/name` (quiet, overwrite) and returns the output's path.
pub fn ffmpeg_file(dir: &Path, name: &str, args: &[&str]) -> std::path::PathBuf {
    let out = dir.join(name);
    let st = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y"])
        .args(args)
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success(), "ffmpeg {args:?}");
    out
}

/// A still made by lavfi's testsrc2 of `size` (`WxH`), written to `dir/name` (the
/// name's extension picks the format); returns its bytes.
pub fn still(dir: &Path, name: &str, size: &str) -> Vec<u8> {
    ffmpeg_make(dir, name, &["-f", "lavfi", "-i", &format!("testsrc2=s={size}"), "-frames:v", "1"])
}

/// ffprobe of bytes (streams with packet counts, and format).
pub fn ffprobe_bytes(dir: &Path, name: &str, bytes: &[u8]) -> Value {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-count_packets", "-print_format", "json", "-show_streams", "-show_format"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "ffprobe {name}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

pub fn duration(probe: &Value) -> f64 {
    probe["format"]["duration"].as_str().unwrap().parse().unwrap()
}

pub fn stream<'a>(probe: &'a Value, kind: &str) -> Option<&'a Value> {
    probe["streams"].as_array().unwrap().iter().find(|s| s["codec_type"] == kind)
}

pub fn streams(probe: &Value, kind: &str) -> usize {
    probe["streams"].as_array().unwrap().iter().filter(|s| s["codec_type"] == kind).count()
}

/// Packets (frames) counted in the first video stream.
pub fn frames(probe: &Value) -> Option<u64> {
    stream(probe, "video")?["nb_read_packets"].as_str()?.parse().ok()
}

/// Polls `cond` every 100 ms for up to 5 s; returns its last value.
pub async fn eventually(cond: impl Fn() -> bool) -> bool {
    let start = Instant::now();
    while !cond() && start.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    cond()
}

/// Pids of this process's `ffmpeg` children, zombies included (from `/proc/*/stat`).
pub fn ffmpeg_children() -> Vec<u32> {
    let me = std::process::id();
    let child = |stat: &str| -> Option<u32> {
        let (head, rest) = stat.rsplit_once(')')?;
        let (pid, comm) = head.split_once(" (")?;
        let ppid: u32 = rest.split_whitespace().nth(1)?.parse().ok()?;
        if ppid == me && comm == "ffmpeg" { pid.trim().parse().ok() } else { None }
    };
    std::fs::read_dir("/proc").unwrap().filter_map(|e| child(&std::fs::read_to_string(e.ok()?.path().join("stat")).ok()?)).collect()
}

/// The `gpu-worker` binary's `run --test-input` on `input`, working in `work`, with the
/// environment given (over a loopback-allowing, libx264 base); (exit code, stdout JSON,
/// stderr).
pub fn run_test_input(input: &Value, work: &std::path::Path, env: &[(&str, &str)]) -> (Option<i32>, Value, String) {
    let file = work.join("test_input.json");
    std::fs::write(&file, input.to_string()).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gpu-worker"))
        .args(["run", "--test-input"])
        .arg(&file)
        .env("ALLOW_LOOPBACK_HTTP", "1")
        .env("WORK_DIR", work.join("jobs"))
        .env("ENCODER", "libx264")
        .env("HWACCEL", "off")
        .env("RUST_LOG", "warn")
        .env_remove("R2_PUBLIC_BASE_URL")
        .env_remove("R2_PUBLIC_BUCKET")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    (out.status.code(), serde_json::from_str(&stdout).unwrap_or(Value::Null), String::from_utf8_lossy(&out.stderr).into_owned())
}
