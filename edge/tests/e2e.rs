//! End-to-end tests against the real local stack: client → edge under `wrangler dev`
//! (workerd, Durable Objects) → `gpu-worker serve` → ffmpeg → s3s-fs.
//!
//! They need the stack's `dev.env` in the environment, so they are `#[ignore]`d in a
//! plain `cargo test`; `make test` (`make test-e2e`) starts a fresh stack on free ports
//! and runs them with `--ignored`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use edge::config::S3Config;
use edge::presign::{self, Method};
use serde_json::{Value, json};

struct Stack {
    edge: String,
    key: String,
    key2: String,
    prefix: String,
    prefix2: String,
    s3: S3Config,
    http: reqwest::Client,
}

fn stack() -> Stack {
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

fn unique(tag: &str) -> String {
    let n = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos();
    format!("{tag}-{n:x}")
}

fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg").args(["-hide_banner", "-loglevel", "error", "-y"]).args(args).output().unwrap();
    assert!(out.status.success(), "ffmpeg {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn ffprobe(path: &Path) -> Value {
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
    async fn upload(&self, key: &str, path: &Path) {
        let url = presign::presign(&self.s3, Method::Put, key, Duration::from_secs(300), SystemTime::now()).unwrap();
        let body = std::fs::read(path).unwrap();
        let resp = self.http.put(url).body(body).send().await.unwrap();
        assert_eq!(resp.status(), 200, "upload {key}: {}", resp.text().await.unwrap());
    }

    async fn post(&self, path: &str, key: Option<&str>, body: &Value) -> (u16, Value) {
        let mut req = self.http.post(format!("{}{path}", self.edge)).json(body);
        if let Some(k) = key {
            req = req.header("x-api-key", k);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        assert!(resp.headers().contains_key("x-request-id"), "every response carries a request id");
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn get_job(&self, id: &str, key: &str) -> (u16, Value) {
        let resp = self.http.get(format!("{}/jobs/{id}", self.edge)).bearer_auth(key).send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn wait_done(&self, id: &str) -> Value {
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

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn img2vid_through_the_real_stack() {
    let s = stack();
    let dir = tempfile_dir();
    let (landscape, portrait) = (dir.join("landscape.jpg"), dir.join("portrait.png"));
    ffmpeg(&["-f", "lavfi", "-i", "testsrc2=s=1280x720", "-frames:v", "1", landscape.to_str().unwrap()]);
    ffmpeg(&["-f", "lavfi", "-i", "smptebars=s=360x640", "-frames:v", "1", portrait.to_str().unwrap()]);
    let run = unique("e2e");
    let (k1, k2) = (format!("{}inputs/{run}/a.jpg", s.prefix), format!("{}inputs/{run}/b.png", s.prefix));
    s.upload(&k1, &landscape).await;
    s.upload(&k2, &portrait).await;

    // Seed field names, one English alias, and the two reference forms.
    let body = json!({
        "images": [
            {"id": "intro", "image_url": format!("r2://{k1}"), "duracao": 1.0},
            {"id": 2, "image_url": format!("s3://{}/{k2}", s.s3.bucket), "duration": 0.77}
        ],
        "path": format!("e2e/{run}"),
        "frame_rate": 24,
        "idRoteiro": 77,
        "metadata": {"episode": "e2e"}
    });
    let (status, job) = s.post("/video/img2vid", Some(&s.key), &body).await;
    assert_eq!(status, 202, "{job}");
    let id = job["jobId"].as_str().unwrap().to_owned();
    assert_eq!(job["operation"], "video/img2vid");
    assert_eq!(job["idRoteiro"], 77);

    let job = s.wait_done(&id).await;
    assert_eq!(job["status"], "COMPLETED", "{job:#}");
    assert_eq!(job["metadata"]["episode"], "e2e");
    assert_eq!(job["attempts"], 1);
    let videos = job["result"]["videos"].as_array().unwrap();
    assert_eq!(videos.len(), 2);
    for (v, (want_id, seconds)) in videos.iter().zip([("intro", 1.0f64), ("2", 0.77)]) {
        assert_eq!(v["id"], want_id);
        let frames = (seconds * 24.0).round() as u64; // 24 and 18
        let key = v["s3_key"].as_str().unwrap();
        assert!(key.starts_with(&format!("{}e2e/{run}/video_", s.prefix)), "{key}");
        // The output URL is a presigned GET a client can download.
        let bytes = s.http.get(v["video_url"].as_str().unwrap()).send().await.unwrap().bytes().await.unwrap();
        let file = dir.join(v["filename"].as_str().unwrap());
        std::fs::write(&file, &bytes).unwrap();
        let probe = ffprobe(&file);
        let streams = probe["streams"].as_array().unwrap();
        assert_eq!(streams.len(), 1, "one video stream: {probe}");
        let st = &streams[0];
        assert_eq!((st["codec_type"].as_str(), st["codec_name"].as_str()), (Some("video"), Some("h264")));
        assert_eq!((st["width"].as_u64(), st["height"].as_u64()), (Some(1920), Some(1080)));
        assert!(matches!(st["sample_aspect_ratio"].as_str(), None | Some("1:1")), "SAR {}", st["sample_aspect_ratio"]);
        assert_eq!(st["nb_read_packets"].as_str().unwrap().parse::<u64>().unwrap(), frames, "frame count");
        let duration: f64 = probe["format"]["duration"].as_str().unwrap().parse().unwrap();
        assert!((duration - frames as f64 / 24.0).abs() <= 1.0 / 24.0 + 1e-6, "duration {duration}");
        assert_eq!(v["frames"].as_u64(), Some(frames));
    }

    // The clips chain into the next steps by their keys: concatenate (stream copy, the
    // clips share encoder parameters), then addaudio with a narration.
    let clip_keys: Vec<String> = videos.iter().map(|v| format!("r2://{}", v["s3_key"].as_str().unwrap())).collect();
    let (status, job) = s
        .post(
            "/video/concatenate",
            Some(&s.key),
            &json!({"video_urls": clip_keys.iter().map(|k| json!({"video_url": k})).collect::<Vec<_>>(), "path": format!("e2e/{run}")}),
        )
        .await;
    assert_eq!(status, 202, "{job}");
    let job = s.wait_done(job["jobId"].as_str().unwrap()).await;
    assert_eq!(job["status"], "COMPLETED", "{job:#}");
    assert_eq!(job["result"]["copied"], true);
    assert_eq!(job["result"]["encoder"], "copy");
    let joined = job["result"]["s3_key"].as_str().unwrap().to_owned();
    assert_eq!(joined, format!("{}e2e/{run}/concatenated.mp4", s.prefix));
    let narration = dir.join("narration.wav");
    ffmpeg(&["-f", "lavfi", "-i", "sine=f=220:d=2.5", "-ac", "2", narration.to_str().unwrap()]);
    let nkey = format!("{}inputs/{run}/narration.wav", s.prefix);
    s.upload(&nkey, &narration).await;
    let (status, job) = s
        .post(
            "/video/addaudio",
            Some(&s.key),
            &json!({"url_video": format!("r2://{joined}"), "url_audio": format!("r2://{nkey}"), "sync": "loop_video", "output_filename": "final.mp4", "path": format!("e2e/{run}")}),
        )
        .await;
    assert_eq!(status, 202, "{job}");
    let job = s.wait_done(job["jobId"].as_str().unwrap()).await;
    assert_eq!(job["status"], "COMPLETED", "{job:#}");
    let file = dir.join("final.mp4");
    std::fs::write(&file, s.http.get(job["result"]["video_url"].as_str().unwrap()).send().await.unwrap().bytes().await.unwrap()).unwrap();
    let probe = ffprobe(&file);
    let kinds: Vec<&str> = probe["streams"].as_array().unwrap().iter().map(|st| st["codec_type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["video", "audio"]);
    // The audio is cut exactly; the copied video stops at the first packet past the cut
    // in decode order, so it may run a few B-frames longer.
    let audio_secs: f64 = probe["streams"][1]["duration"].as_str().unwrap().parse().unwrap();
    assert!((audio_secs - 2.5).abs() < 0.03, "narration kept whole: {audio_secs}");
    let duration: f64 = probe["format"]["duration"].as_str().unwrap().parse().unwrap();
    assert!((2.5..2.5 + 4.0 / 24.0 + 0.01).contains(&duration), "looped to the narration's 2.5 s: {duration}");

    // Tenant isolation: the other tenant cannot see the job …
    let (status, _) = s.get_job(&id, &s.key2).await;
    assert_eq!(status, 404);
    // … nor use this tenant's objects as inputs.
    let (status, err) =
        s.post("/video/img2vid", Some(&s.key2), &json!({"images":[{"image_url": format!("r2://{k1}"), "duracao": 1}]})).await;
    assert_eq!(status, 400);
    assert_eq!(err["details"][0]["code"], "key-outside-tenant");
    assert_eq!(err["details"][0]["field"], "images[0].image_url");
    // A tampered presigned URL is refused by the storage (signatures are verified).
    let url = videos[0]["video_url"].as_str().unwrap().replace(&format!("{}e2e", s.prefix), &format!("{}e2f", s.prefix));
    assert_eq!(s.http.get(url).send().await.unwrap().status(), 403);
    let _ = s.prefix2;
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn auth_validation_and_errors() {
    let s = stack();
    let ok_body = json!({"images":[{"image_url":"https://cdn.example.com/a.jpg","duracao":1}]});
    // 401 without a key, with a wrong key; the body reveals nothing else.
    let (status, err) = s.post("/video/img2vid", None, &ok_body).await;
    assert_eq!((status, err["code"].as_str()), (401, Some("unauthorized")));
    let (status, _) = s.post("/video/img2vid", Some("agk_wrong"), &ok_body).await;
    assert_eq!(status, 401);
    let resp = s.http.get(format!("{}/jobs/{}", s.edge, "0".repeat(64))).send().await.unwrap();
    assert_eq!(resp.status(), 401);

    // 400 lists every problem with its JSON path and code.
    let bad = json!({
        "images":[{"image_url":"ftp://x/a.jpg","duracao":0},{"image_url":"r2://tenants/dev/../x.jpg","duracao":700}],
        "frame_rate": 0, "width": 1921, "path": "/abs"
    });
    let (status, err) = s.post("/runpod/video/img2vid", Some(&s.key), &bad).await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["code"], "validation-failed");
    let got: Vec<(String, String)> = err["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["field"].as_str().unwrap().to_owned(), d["code"].as_str().unwrap().to_owned()))
        .collect();
    for want in [
        ("images[0].image_url", "unsupported-scheme"),
        ("images[0].duracao", "out-of-range"),
        ("images[1].image_url", "path-traversal"),
        ("images[1].duracao", "out-of-range"),
        ("frame_rate", "out-of-range"),
        ("width", "odd-dimension"),
        ("path", "absolute-path"),
    ] {
        assert!(got.contains(&(want.0.to_owned(), want.1.to_owned())), "missing {want:?} in {got:?}");
    }
    let (status, err) = s.post("/video/img2vid", Some(&s.key), &json!({"images": "nope"})).await;
    assert_eq!((status, err["details"][0]["field"].as_str()), (400, Some("images")));

    // Unknown jobs and routes are 404; contract operations not rendered yet are 501.
    let (status, _) = s.get_job(&"a".repeat(64), &s.key).await;
    assert_eq!(status, 404);
    let (status, _) = s.get_job("not-a-job", &s.key).await;
    assert_eq!(status, 404);
    let (status, err) = s.post("/audio/transcribe", Some(&s.key), &json!({"audio_url":"https://x.example/a.mp3"})).await;
    assert_eq!((status, err["code"].as_str()), (501, Some("operation-not-implemented")));
    let resp = s.http.get(format!("{}/nope", s.edge)).send().await.unwrap();
    assert_eq!(resp.status(), 404);

    // A body over the limit is 413.
    let big = json!({"images":[{"image_url":"https://cdn.example.com/a.jpg","duracao":1}],"metadata":{"pad":"x".repeat(1_100_000)}});
    let (status, err) = s.post("/video/img2vid", Some(&s.key), &big).await;
    assert_eq!((status, err["code"].as_str()), (413, Some("body-too-large")));

    // Health reports the GPU backend.
    let health: Value = s.http.get(format!("{}/health", s.edge)).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["gpu_backend"]["reachable"], true);
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn a_bad_input_fails_the_job_with_a_code() {
    let s = stack();
    let dir = tempfile_dir();
    let text = dir.join("not-an-image.jpg");
    std::fs::write(&text, "hello, I am not a picture").unwrap();
    let key = format!("{}inputs/{}/x.jpg", s.prefix, unique("bad"));
    s.upload(&key, &text).await;
    let (status, job) = s.post("/video/img2vid", Some(&s.key), &json!({"images":[{"image_url": format!("r2://{key}"),"duracao":1}]})).await;
    assert_eq!(status, 202, "{job}");
    let job = s.wait_done(job["jobId"].as_str().unwrap()).await;
    assert_eq!(job["status"], "FAILED");
    assert_eq!(job["error"]["code"], "input-not-media");
    assert_eq!(job["error"]["details"]["retryable"], false);
    assert!(job["error"]["details"]["stderr_tail"].as_str().is_some_and(|t| !t.is_empty()), "{job}");
}

fn tempfile_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(unique("api-gpu-e2e"));
    std::fs::create_dir_all(&d).unwrap();
    d
}
