//! Seed 004's direct RunPod payloads (`{"input": {"task": …, "parameters": {…}}}`) end to
//! end: through `serve` (the real router on loopback) and `run --test-input` (the binary),
//! with real ffmpeg, inputs on a loopback storage server (also standing in for the
//! public base of `R2_PUBLIC_BASE_URL`) and outputs PUT to it.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common::{Storage, ffmpeg_make, ffprobe_bytes, spawn_server, stream, streams};
use gpu_worker::config::PublicInputs;
use gpu_worker::executor::Executor;
use gpu_worker::serve::{ServeConfig, router};
use job_spec::WorkerError;
use serde_json::{Value, json};
use tokio_util::sync::{CancellationToken, DropGuard};

/// One test at a time: the machine has few cores.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The bucket the public base serves in these tests.
const BUCKET: &str = "videos";

struct Harness {
    /// `http://127.0.0.1:port/v2/test`
    api: String,
    storage: Storage,
    http: reqwest::Client,
    media: tempfile::TempDir,
    _work_root: tempfile::TempDir,
    _shutdown: DropGuard,
    _serial: tokio::sync::MutexGuard<'static, ()>,
}

/// The public base that serves `s3://videos/<key>` as the storage's `<key>`.
fn public_base(storage: &Storage) -> String {
    format!("{}/o", storage.base)
}

/// `serve` with `R2_PUBLIC_BASE_URL` at the loopback storage (bucket `videos`), or none.
async fn start(with_public_base: bool) -> Harness {
    let serial = SERIAL.lock().await;
    common::init_tracing();
    let storage = Storage::start().await;
    let work_root = tempfile::tempdir().unwrap();
    let mut cfg = common::config(work_root.path());
    cfg.public_inputs = with_public_base.then(|| PublicInputs { base: public_base(&storage), bucket: Some(BUCKET.into()) });
    let exec = Executor::new(cfg).await.unwrap();
    let scfg = ServeConfig {
        endpoint_id: "test".into(),
        api_key: None,
        concurrency: 1,
        webhook_retries: 0,
        webhook_retry_delay: Duration::from_millis(100),
        default_execution_timeout: Duration::from_secs(120),
    };
    let shutdown = CancellationToken::new();
    let api = format!("{}/v2/test", spawn_server(router(scfg, exec, shutdown.clone())).await);
    Harness {
        api,
        storage,
        http: reqwest::Client::new(),
        media: tempfile::tempdir().unwrap(),
        _work_root: work_root,
        _shutdown: shutdown.drop_guard(),
        _serial: serial,
    }
}

impl Harness {
    /// Makes a file with ffmpeg and stores it under `key`; returns its bytes.
    fn make(&self, key: &str, args: &[&str]) -> Vec<u8> {
        let name = key.replace('/', "_");
        let bytes = ffmpeg_make(self.media.path(), &name, args);
        self.storage.put(key, bytes.clone());
        bytes
    }

    /// A presigned-looking PUT URL for `key`: the receiver ignores the query.
    fn put_url(&self, key: &str) -> String {
        format!("{}?X-Amz-Signature=deadbeef&X-Amz-Expires=3600", self.storage.url(key))
    }

    async fn post(&self, path: &str, body: &Value) -> Value {
        let resp = self.http.post(format!("{}/{path}", self.api)).json(body).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), StatusCode::OK.as_u16());
        resp.json().await.unwrap()
    }

    /// POST /runsync with `{"input": input}`: the finished job's status object.
    async fn runsync(&self, input: Value) -> Value {
        let v = self.post("runsync", &json!({ "input": input })).await;
        assert!(!matches!(v["status"].as_str(), Some("IN_QUEUE" | "IN_PROGRESS")), "runsync returned early: {v}");
        v
    }

    /// POST /run, then GET /status until the job ends.
    async fn run_and_wait(&self, input: Value) -> Value {
        let v = self.post("run", &json!({ "input": input })).await;
        assert_eq!(v["status"], "IN_QUEUE", "{v}");
        let id = v["id"].as_str().unwrap();
        let start = Instant::now();
        loop {
            let v: Value = self.http.get(format!("{}/status/{id}", self.api)).send().await.unwrap().json().await.unwrap();
            if !matches!(v["status"].as_str(), Some("IN_QUEUE" | "IN_PROGRESS")) {
                return v;
            }
            assert!(start.elapsed() < Duration::from_secs(120), "still running: {v}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The output of a COMPLETED job, after checking that the receiver got exactly the
    /// bytes the output reports (the object at `put_key`).
    fn completed(&self, v: &Value, put_key: &str) -> (Value, Vec<u8>) {
        assert_eq!(v["status"], "COMPLETED", "{v}");
        let out = v["output"].clone();
        let got = self.storage.get(put_key).unwrap_or_else(|| panic!("nothing PUT at {put_key}: {out}"));
        assert_eq!(out["bytes"].as_u64(), Some(got.len() as u64), "{out}");
        assert_eq!(out["size_bytes"], out["bytes"]);
        assert_eq!(out["outputs"][0]["bytes"], out["bytes"], "the WorkerOutput is there too");
        // `url` is the PUT URL without its signature.
        assert_eq!(out["url"], self.storage.url(put_key));
        (out, got)
    }
}

fn failure(v: &Value) -> WorkerError {
    assert_eq!(v["status"], "FAILED", "{v}");
    WorkerError::from_runpod_string(v["error"].as_str().unwrap())
}

/// Samples in the first audio stream of a WAV (its `duration_ts`), and the sample rate.
fn wav_samples(probe: &Value) -> (u64, u64) {
    let a = stream(probe, "audio").unwrap();
    assert_eq!(a["codec_name"], "pcm_s16le", "{a}");
    (a["duration_ts"].as_u64().unwrap(), a["sample_rate"].as_str().unwrap().parse().unwrap())
}

/// Gray pixels brighter than 128 in a `w`×`h` region centred in the frame at `t` s.
fn bright_in_centre(media: &std::path::Path, video: &[u8], t: f64, (fw, fh): (usize, usize), (w, h): (usize, usize)) -> usize {
    let path = media.join("frame_src.mp4");
    std::fs::write(&path, video).unwrap();
    let out = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-ss", &t.to_string(), "-i"])
        .arg(&path)
        .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "gray", "-"])
        .output()
        .unwrap();
    assert_eq!(out.stdout.len(), fw * fh, "one gray frame");
    let (x0, y0) = ((fw - w) / 2, (fh - h) / 2);
    (y0..y0 + h).flat_map(|y| (x0..x0 + w).map(move |x| (x, y))).filter(|&(x, y)| out.stdout[y * fw + x] > 128).count()
}

/// An ASS script for `w`×`h` frames: one big white line in the middle for 0–3 s.
fn ass_script(w: u32, h: u32) -> String {
    format!(
        "[Script Info]\nScriptType: v4.00+\nPlayResX: {w}\nPlayResY: {h}\n\n[V4+ Styles]\n\
         Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, Underline, \
         StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding\n\
         Style: Default,DejaVu Sans,60,&H00FFFFFF,&H00FFFFFF,&H00000000,&H00000000,1,0,0,0,100,100,0,0,1,0,0,5,10,10,10,1\n\n\
         [Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n\
         Dialogue: 0,0:00:00.00,0:00:03.00,Default,,0,0,0,,HELLO SEED\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audio_trim_from_s3_through_the_public_base_writes_an_exact_wav() {
    let h = start(true).await;
    // The seed's layout: the master under pipelines/<job>/inputs, a WAV segment out.
    h.make("pipelines/job-123/inputs/audio/master.m4a", &["-f", "lavfi", "-i", "sine=f=440:d=20:sample_rate=48000", "-c:a", "aac"]);
    let (start_sec, duration_sec) = (12.5, 6.2);
    let put_key = "put/segment_0.wav";
    let v = h
        .runsync(json!({"task": "AUDIO_TRIM", "parameters": {
            "source_uri": "s3://videos/pipelines/job-123/inputs/audio/master.m4a",
            "start_sec": start_sec, "duration_sec": duration_sec,
            "output_video_uri": "s3://videos/pipelines/job-123/stage/segmentation/audio_segments/segment_0.wav",
            "output_put_url": h.put_url(put_key),
        }}))
        .await;
    let (out, wav) = h.completed(&v, put_key);
    assert_eq!(out["task"], "AUDIO_TRIM");
    assert_eq!(out["key"], "pipelines/job-123/stage/segmentation/audio_segments/segment_0.wav");
    assert_eq!(out["output_video_uri"], "s3://videos/pipelines/job-123/stage/segmentation/audio_segments/segment_0.wav");
    assert_eq!(out["content_type"], "audio/wav");
    assert_eq!(h.storage.put_headers.lock().unwrap()[put_key]["content-type"], "audio/wav");
    let probe = ffprobe_bytes(h.media.path(), "segment_0.wav", &wav);
    let (samples, rate) = wav_samples(&probe);
    assert_eq!(rate, 48000);
    assert_eq!(samples, (duration_sec * rate as f64).round() as u64, "exactly duration_sec of samples");
    assert!((out["duration"].as_f64().unwrap() - duration_sec).abs() < 0.01, "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downsampling_through_run_and_status_is_360_high_and_even_wide() {
    let h = start(true).await;
    // 702x396: 360 high makes 638.18 wide, rounded to even.
    h.make("in/source.mp4", &["-f", "lavfi", "-i", "testsrc2=s=702x396:r=24:d=2", "-c:v", "libx264", "-preset", "ultrafast"]);
    let put_key = "exports/downsampled.mp4";
    // No output_video_uri: the key is the PUT URL's path and the URIs echo its address.
    let v = h
        .run_and_wait(json!({"task": "DOWNSAMPLING", "parameters": {
            "original_video_uri": h.storage.url("in/source.mp4"),
            "output_put_url": h.put_url(put_key),
            "resolution": "360p",
        }}))
        .await;
    let (out, video) = h.completed(&v, put_key);
    assert_eq!(out["key"], format!("o/{put_key}"));
    assert_eq!(out["output_video_uri"], h.storage.url(put_key));
    assert_eq!(out["resolution"], "360p");
    let probe = ffprobe_bytes(h.media.path(), "down.mp4", &video);
    let v = stream(&probe, "video").unwrap();
    let (w, ht) = (v["width"].as_u64().unwrap(), v["height"].as_u64().unwrap());
    assert_eq!(ht, 360);
    assert_eq!(w % 2, 0, "width {w} even");
    assert!((637..=640).contains(&w), "aspect kept: {w}");
    assert_eq!((out["width"].as_u64(), out["height"].as_u64()), (Some(w), Some(360)));
    // A number works as well as "360p".
    let v = h
        .runsync(json!({"task": "DOWNSAMPLING", "parameters": {
            "original_video_uri": "s3://videos/in/source.mp4", "output_put_url": h.put_url("exports/n.mp4"), "resolution": 240,
        }}))
        .await;
    let (_, video) = h.completed(&v, "exports/n.mp4");
    assert_eq!(stream(&ffprobe_bytes(h.media.path(), "n.mp4", &video), "video").unwrap()["height"], 240);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encoding_burns_ass_subtitles_and_muxes_the_audio() {
    let h = start(false).await;
    h.make("in/video.mp4", &["-f", "lavfi", "-i", "color=c=black:s=640x360:r=24:d=2", "-c:v", "libx264", "-preset", "ultrafast"]);
    h.make("in/audio.wav", &["-f", "lavfi", "-i", "sine=f=300:d=3", "-ac", "2"]);
    h.storage.put("in/subtitles_en.ass", ass_script(640, 360).into_bytes());
    let put_key = "exports/job-123/output.mp4";
    let v = h
        .runsync(json!({"task": "ENCODING", "parameters": {
            "id": "job-123", "language": "en", "subtitles": true,
            "input_video_uri": h.storage.url("in/video.mp4"),
            "input_audio_uri": h.storage.url("in/audio.wav"),
            "subtitles_uri": h.storage.url("in/subtitles_en.ass"),
            "output_video_uri": "gs://my-bucket/exports/job-123/output.mp4",
            "output_put_url": h.put_url(put_key),
        }}))
        .await;
    let (out, video) = h.completed(&v, put_key);
    assert_eq!((&out["task"], &out["id"]), (&json!("ENCODING"), &json!("job-123")));
    assert_eq!(out["key"], "exports/job-123/output.mp4", "the key of output_video_uri");
    assert_eq!(out["output_video_uri"], "gs://my-bucket/exports/job-123/output.mp4");
    assert_eq!(out["output_uri"], out["output_video_uri"]);
    assert_eq!(out["outputs"][0]["encoder"], "libx264", "re-encoded to burn");
    let probe = ffprobe_bytes(h.media.path(), "encoded.mp4", &video);
    assert_eq!((streams(&probe, "video"), streams(&probe, "audio")), (1, 1));
    assert!((out["duration"].as_f64().unwrap() - 2.0).abs() < 0.1, "the video's length: {out}");
    // The input is black: bright pixels in the middle are the burned text.
    let (frame, centre) = ((640, 360), (400, 100));
    let source = h.storage.get("in/video.mp4").unwrap();
    assert_eq!(bright_in_centre(h.media.path(), &source, 1.0, frame, centre), 0);
    let lit = bright_in_centre(h.media.path(), &video, 1.0, frame, centre);
    assert!(lit > 500, "subtitles burned: {lit} bright pixels");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stage_object_copies_the_bytes_exactly() {
    let h = start(false).await;
    // Not media: staged unprobed, byte for byte.
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    h.storage.put("src/master.m4a", bytes.clone());
    let put_key = "staged/master.m4a";
    let v = h
        .runsync(json!({"task": "STAGE_OBJECT", "parameters": {
            "source_uri": h.storage.url("src/master.m4a"),
            "dest_uri": "s3://videos/pipelines/job-123/inputs/audio/master.m4a",
            "output_put_url": h.put_url(put_key),
        }}))
        .await;
    let (out, got) = h.completed(&v, put_key);
    assert!(got == bytes, "staged bytes differ");
    assert_eq!(out["dest_uri"], "s3://videos/pipelines/job-123/inputs/audio/master.m4a");
    assert_eq!(out["key"], "pipelines/job-123/inputs/audio/master.m4a");
    assert_eq!(out["content_type"], "audio/mp4");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outputs_and_inputs_without_credentials_fail_with_no_storage_credentials() {
    let h = start(false).await;
    h.make("in/video.mp4", &["-f", "lavfi", "-i", "color=c=black:s=320x240:r=24:d=1", "-c:v", "libx264", "-preset", "ultrafast"]);
    // The seed's ENCODING example as written: a gs:// output and no output_put_url.
    let v = h
        .runsync(json!({"task": "ENCODING", "parameters": {
            "input_video_uri": h.storage.url("in/video.mp4"),
            "output_video_uri": "gs://my-bucket/exports/job-123/output.mp4",
        }}))
        .await;
    let e = failure(&v);
    assert_eq!((e.code.as_str(), e.retryable), ("no-storage-credentials", false));
    for needle in ["gs://my-bucket/exports/job-123/output.mp4", "`output_put_url`", "R2_PUBLIC_BASE_URL"] {
        assert!(e.message.contains(needle), "{needle}: {}", e.message);
    }
    // An s3:// input with no public base configured.
    let v = h
        .run_and_wait(json!({"task": "AUDIO_TRIM", "parameters": {
            "source_uri": "s3://videos/pipelines/job-123/inputs/audio/master.m4a", "start_sec": 0, "duration_sec": 1,
            "output_put_url": h.put_url("put/x.wav"),
        }}))
        .await;
    let e = failure(&v);
    assert_eq!(e.code, "no-storage-credentials");
    assert!(e.message.contains("R2_PUBLIC_BASE_URL is not set") && e.message.contains("`output_put_url`"), "{}", e.message);
    // Unknown tasks, and nothing was uploaded.
    let e = failure(&h.runsync(json!({"task": "TRANSCODE", "parameters": {}})).await);
    assert_eq!(e.code, "invalid-task");
    assert!(h.storage.objects.lock().unwrap().keys().all(|k| k.starts_with("in/")), "nothing written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_other_than_r2_public_bucket_is_refused() {
    let h = start(true).await;
    let v = h
        .runsync(json!({"task": "STAGE_OBJECT", "parameters": {
            "source_uri": "s3://private/key.bin", "output_put_url": h.put_url("put/k.bin"),
        }}))
        .await;
    let e = failure(&v);
    assert_eq!(e.code, "no-storage-credentials");
    assert!(e.message.contains("only bucket `videos`"), "{}", e.message);
}

#[tokio::test(flavor = "multi_thread")]
async fn run_test_input_trims_from_s3_and_refuses_without_a_public_base() {
    let _serial = SERIAL.lock().await;
    let storage = Storage::start().await;
    let dir = tempfile::tempdir().unwrap();
    storage
        .put("pipelines/j/inputs/audio/master.wav", ffmpeg_make(dir.path(), "m.wav", &["-f", "lavfi", "-i", "sine=d=5:sample_rate=44100"]));
    let put_key = "put/segment_1.wav";
    let input = json!({"input": {"task": "AUDIO_TRIM", "parameters": {
        "source_uri": "s3://videos/pipelines/j/inputs/audio/master.wav", "start_sec": 1.25, "duration_sec": 2.5,
        "output_video_uri": "s3://videos/pipelines/j/stage/segmentation/audio_segments/segment_1.wav",
        "output_put_url": format!("{}?sig=1", storage.url(put_key)),
    }}});
    let (work, i, base) = (dir.path().to_owned(), input.clone(), public_base(&storage));
    let (code, out, stderr) = tokio::task::spawn_blocking(move || {
        common::run_test_input(&i, &work, &[("R2_PUBLIC_BASE_URL", &base), ("R2_PUBLIC_BUCKET", BUCKET)])
    })
    .await
    .unwrap();
    assert_eq!(code, Some(0), "{out} {stderr}");
    let out = &out["output"];
    let wav = storage.get(put_key).unwrap();
    assert_eq!(out["bytes"].as_u64(), Some(wav.len() as u64));
    assert_eq!(out["key"], "pipelines/j/stage/segmentation/audio_segments/segment_1.wav");
    assert_eq!(out["url"], storage.url(put_key));
    let (samples, rate) = wav_samples(&ffprobe_bytes(dir.path(), "seg.wav", &wav));
    assert_eq!((samples, rate), (110_250, 44_100), "2.5 s at 44.1 kHz");

    // No public base: refused like a failed job, exit 1.
    let work = dir.path().to_owned();
    let (code, out, stderr) = tokio::task::spawn_blocking(move || common::run_test_input(&input, &work, &[])).await.unwrap();
    assert_eq!(code, Some(1), "{out} {stderr}");
    assert_eq!(out["error"]["code"], "no-storage-credentials");
    assert!(out["error"]["message"].as_str().unwrap().contains("R2_PUBLIC_BASE_URL"), "{out}");

    // A base that is not http(s) stops the worker at start, saying how to fix it.
    let work = dir.path().to_owned();
    let (code, _, stderr) =
        tokio::task::spawn_blocking(move || common::run_test_input(&json!({}), &work, &[("R2_PUBLIC_BASE_URL", "videos.example.com")]))
            .await
            .unwrap();
    assert_ne!(code, Some(0));
    assert!(stderr.contains("R2_PUBLIC_BASE_URL") && stderr.contains("http(s)"), "{stderr}");
}
