//! Shared helpers of the end-to-end tests: the stack's settings from `dev.env`,
//! uploads through presigned PUTs, job submission and polling, ffmpeg/ffprobe; the
//! loopback stand-ins of YouTube ([`youtube_stub`]) and of OpenRouter and Runware
//! ([`provider_stub`]). Every test binary compiles all of it and uses some (hence
//! `dead_code` allowed here, for the submodules too).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod provider_stub;
pub mod youtube_stub;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use edge::config::S3Config;
use edge::presign::{self, Method};
use serde_json::Value;

pub struct Stack {
    pub edge: String,
    pub key: String,
    pub key2: String,
    pub prefix: String,
    pub prefix2: String,
    pub s3: S3Config,
    pub http: reqwest::Client,
}

pub fn stack() -> Stack {
    let var = |k: &str| {
        std::env::var(k).unwrap_or_else(|_| panic!("{k} is not set: run these tests through `make test` (scripts/with-stack.sh)"))
    };
    Stack {
        edge: var("EDGE_URL"),
        key: var("API_KEY"),
        key2: var("API_KEY_2"),
        prefix: var("TENANT_PREFIX"),
        prefix2: var("TENANT_PREFIX_2"),
        s3: S3Config {
            endpoint: var("S3_ENDPOINT"),
            region: "auto".into(),
            bucket: var("S3_BUCKET"),
            access_key: var("S3_ACCESS_KEY"),
            secret_key: var("S3_SECRET_KEY"),
            path_style: true,
        },
        http: reqwest::Client::new(),
    }
}

pub fn unique(tag: &str) -> String {
    let n = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos();
    format!("{tag}-{n:x}")
}

pub fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg").args(["-hide_banner", "-loglevel", "error", "-y"]).args(args).output().unwrap();
    assert!(out.status.success(), "ffmpeg {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

pub fn ffprobe(path: &Path) -> Value {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-count_packets", "-print_format", "json", "-show_streams", "-show_format"])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "ffprobe: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

impl Stack {
    /// Uploads a file to the local S3 server through a presigned PUT, as a client would.
    pub async fn upload(&self, key: &str, path: &Path) {
        let url = presign::presign(&self.s3, Method::Put, key, Duration::from_secs(300), SystemTime::now()).unwrap();
        let body = std::fs::read(path).unwrap();
        let resp = self.http.put(url).body(body).send().await.unwrap();
        assert_eq!(resp.status(), 200, "upload {key}: {}", resp.text().await.unwrap());
    }

    pub async fn post(&self, path: &str, key: Option<&str>, body: &Value) -> (u16, Value) {
        let mut req = self.http.post(format!("{}{path}", self.edge)).json(body);
        if let Some(k) = key {
            req = req.header("x-api-key", k);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        assert!(resp.headers().contains_key("x-request-id"), "every response carries a request id");
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn get_job(&self, id: &str, key: &str) -> (u16, Value) {
        let resp = self.http.get(format!("{}/jobs/{id}", self.edge)).bearer_auth(key).send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn wait_done(&self, id: &str) -> Value {
        let start = Instant::now();
        loop {
            let (status, job) = self.get_job(id, &self.key).await;
            assert_eq!(status, 200, "{job}");
            if ["COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"].contains(&job["status"].as_str().unwrap()) {
                return job;
            }
            assert!(start.elapsed() < Duration::from_secs(240), "job {id} still {} after 240 s", job["status"]);
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

pub fn tempfile_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(unique("api-gpu-e2e"));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// An HTTP/1.1 request's head as the loopback servers here read it: method, target and
/// headers (names lowercased); `None` when the peer sent nothing.
pub async fn read_head(r: &mut tokio::io::BufReader<tokio::net::TcpStream>) -> Option<(String, String, Vec<(String, String)>)> {
    use tokio::io::AsyncBufReadExt;
    let mut line = String::new();
    if r.read_line(&mut line).await.unwrap_or(0) == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or("").to_owned(), parts.next().unwrap_or("").to_owned());
    let mut headers = vec![];
    loop {
        line.clear();
        if r.read_line(&mut line).await.unwrap_or(0) == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.trim_end().split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    Some((method, target, headers))
}

/// The `content-length` among `headers` (lowercased names), 0 when absent.
pub fn content_length(headers: &[(String, String)]) -> usize {
    headers.iter().find(|(k, _)| k == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0)
}

/// A request a [`HookReceiver`] got.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// When it arrived.
    pub at: std::time::Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// A webhook receiver on loopback that answers the given statuses in turn (the last
/// one from then on) and records every request.
pub struct HookReceiver {
    pub url: String,
    pub got: std::sync::Arc<std::sync::Mutex<Vec<Received>>>,
}

pub async fn hook_receiver(statuses: Vec<u16>) -> HookReceiver {
    use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Received>::new()));
    let log = got.clone();
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else { return };
            let mut r = BufReader::new(sock);
            let Some((_, _, headers)) = read_head(&mut r).await else { continue };
            let len = content_length(&headers);
            let mut body = vec![0; len];
            let _ = r.read_exact(&mut body).await;
            let n = {
                let mut g = log.lock().unwrap();
                g.push(Received { headers, body: String::from_utf8_lossy(&body).into_owned(), at: std::time::Instant::now() });
                g.len()
            };
            let status = statuses.get(n - 1).or(statuses.last()).copied().unwrap_or(200);
            let resp = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            let _ = r.get_mut().write_all(resp.as_bytes()).await;
        }
    });
    HookReceiver { url, got }
}

impl Stack {
    /// A `testsrc2` JPEG of `size` (`WxH`) uploaded under the tenant's `inputs/{run}/`;
    /// returns its key.
    pub async fn test_image(&self, run: &str, size: &str) -> String {
        let img = tempfile_dir().join("i.jpg");
        ffmpeg(&["-f", "lavfi", "-i", &format!("testsrc2=s={size}"), "-frames:v", "1", img.to_str().unwrap()]);
        let key = format!("{}inputs/{run}/i.jpg", self.prefix);
        self.upload(&key, &img).await;
        key
    }
}

/// A setting of the stack's edge, as `scripts/dev.sh` wrote it into `edge.env`.
pub fn edge_env(name: &str) -> String {
    let text = std::fs::read_to_string(local_dir().join("edge.env")).unwrap();
    text.lines().find_map(|l| l.strip_prefix(&format!("{name}="))).unwrap_or_else(|| panic!("{name} not in edge.env")).to_owned()
}

/// The running stack's state folder (scripts/with-stack.sh exports `LOCAL_DIR`).
pub fn local_dir() -> std::path::PathBuf {
    std::env::var("LOCAL_DIR").expect("LOCAL_DIR: run through scripts/with-stack.sh").into()
}

/// A service of scripts/dev.sh (`s3`, `gpu-worker`, `edge`). dev.sh restarts it 0.3 s
/// after it dies unless `$LOCAL_DIR/<name>.hold` exists; its process group id is in
/// `$LOCAL_DIR/<name>.pid`.
pub struct Service(pub &'static str);

impl Service {
    pub fn pid(&self) -> i32 {
        let path = local_dir().join(format!("{}.pid", self.0));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).trim().parse().unwrap()
    }

    /// From now on, a death is not followed by a restart.
    pub fn hold(&self) {
        std::fs::write(local_dir().join(format!("{}.hold", self.0)), b"").unwrap();
    }

    /// Restarted (0.3 s after [`Self::hold`] is undone, if it is down).
    pub fn release(&self) {
        std::fs::remove_file(local_dir().join(format!("{}.hold", self.0))).unwrap();
    }

    /// SIGKILL to the service's whole process group (no goodbye), and waits until every
    /// process of it is gone. Returns the pid it had.
    pub fn kill(&self) -> i32 {
        let pid = self.pid();
        let group = format!("-{pid}");
        let killed = Command::new("kill").args(["-KILL", "--", &group]).status().unwrap();
        assert!(killed.success(), "kill {} ({group})", self.0);
        let start = Instant::now();
        while Command::new("kill").args(["-0", "--", &group]).stderr(std::process::Stdio::null()).status().unwrap().success() {
            assert!(start.elapsed() < Duration::from_secs(10), "{} still alive", self.0);
            std::thread::sleep(Duration::from_millis(20));
        }
        pid
    }

    /// Waits until dev.sh has started the service again (a new pid).
    pub async fn restarted(&self, old_pid: i32, within: Duration) {
        let start = Instant::now();
        while std::fs::read_to_string(local_dir().join(format!("{}.pid", self.0))).ok().and_then(|p| p.trim().parse().ok()) == Some(old_pid)
        {
            assert!(start.elapsed() < within, "{} not restarted within {within:?}", self.0);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Stack {
    /// `GET /queue/stats` for the first tenant.
    pub async fn queue_stats(&self) -> Value {
        let resp = self.http.get(format!("{}/queue/stats", self.edge)).header("x-api-key", &self.key).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        resp.json().await.unwrap()
    }

    /// Waits (30 s at most) until the first tenant holds no slot and nothing waits for one.
    pub async fn wait_queue_idle(&self) -> Value {
        let start = Instant::now();
        loop {
            let stats = self.queue_stats().await;
            if stats["slots_in_use"] == 0 && stats["waiting"] == 0 {
                return stats;
            }
            assert!(start.elapsed() < Duration::from_secs(30), "leases still held after every job ended: {stats:#}");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// The size of the object at `key` (a presigned HEAD), `None` when there is none.
    pub async fn object_size(&self, key: &str) -> Option<u64> {
        let url = presign::presign(&self.s3, Method::Head, key, Duration::from_secs(300), SystemTime::now()).unwrap();
        let resp = self.http.head(url).send().await.unwrap();
        match resp.status().as_u16() {
            200 => Some(resp.headers()["content-length"].to_str().unwrap().parse().unwrap()),
            404 => None,
            s => panic!("HEAD {key}: {s}"),
        }
    }

    /// Checks one `result.videos[]` entry of an img2vid job the way its user would: the
    /// object at `s3_key` has the reported size, and the download at `video_url` is that
    /// many bytes, decodes as an H.264 stream of `frames` frames lasting `frames / fps`.
    pub async fn check_clip(&self, v: &Value, frames: u64, fps: f64, dir: &Path) {
        let key = v["s3_key"].as_str().unwrap();
        let bytes = v["bytes"].as_u64().unwrap();
        assert_eq!(self.object_size(key).await, Some(bytes), "the object at {key} vs the reported size: {v}");
        let resp = self.http.get(v["video_url"].as_str().unwrap()).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{v}");
        let body = resp.bytes().await.unwrap();
        assert_eq!(body.len() as u64, bytes, "download vs the reported size: {v}");
        let file = dir.join(unique("clip") + ".mp4");
        std::fs::write(&file, &body).unwrap();
        let probe = ffprobe(&file);
        let st = &probe["streams"][0];
        assert_eq!(st["codec_name"], "h264", "{probe}");
        assert_eq!(st["nb_read_packets"].as_str().unwrap().parse::<u64>().unwrap(), frames, "frame count of {key}");
        let duration: f64 = probe["format"]["duration"].as_str().unwrap().parse().unwrap();
        assert!((duration - frames as f64 / fps).abs() <= 1.0 / fps + 1e-6, "duration {duration} of {key}");
        assert_eq!(v["frames"].as_u64(), Some(frames), "{v}");
    }
}
