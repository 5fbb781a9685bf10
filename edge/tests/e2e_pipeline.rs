//! End to end: `POST /pipeline/segment` and `GET /pipeline/status` through the real local
//! stack (client → edge under `wrangler dev` → `gpu-worker serve` → ffmpeg → s3s-fs).
//!
//! - Five inline segments of a master already in storage: fanned out into three RunPod
//!   jobs (`FANOUT_CLIPS=2` locally), merged in order; each WAV downloads from the
//!   result's URL with exactly round(duration × rate) samples, equal to the master's at
//!   the offset. `GET /pipeline/status` before (nothing ready) and after (every one, its
//!   `bytes`, a URL that downloads it), with and without `expected`, under its alias, and
//!   for another tenant (nothing).
//! - A master and a presenter image given by http URLs (presigned loopback URLs, accepted
//!   locally) staged to their keys byte for byte, segments read from `segments_uri` (a
//!   tenant key).
//! - 400s: a `segments_uri` that does not exist or holds bad segments, bad status
//!   queries; a segment past the end fails the job `start-beyond-end`.
//!
//! `#[ignore]`d in a plain `cargo test`; `make test` runs it against a fresh stack.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, SystemTime};

use common::{Stack, ffmpeg, stack, tempfile_dir, unique};
use edge::presign::{self, Method};
use serde_json::{Value, json};

const RATE: usize = 48_000;

/// The master: 10 s of 48 kHz mono, a signal whose every sample differs from its
/// neighbours, as 16-bit WAV (so its decoded samples are its bytes).
fn master(dir: &std::path::Path) -> (Vec<u8>, Vec<i16>) {
    let path = dir.join("master.wav");
    ffmpeg(&["-f", "lavfi", "-i", "aevalsrc=0.8*sin(2*PI*(200+300*t)*t):s=48000:d=10", "-c:a", "pcm_s16le", path.to_str().unwrap()]);
    let raw = dir.join("master.raw");
    ffmpeg(&["-i", path.to_str().unwrap(), "-f", "s16le", "-c:a", "pcm_s16le", raw.to_str().unwrap()]);
    let pcm = std::fs::read(raw).unwrap().chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]])).collect();
    (std::fs::read(path).unwrap(), pcm)
}

/// A downloaded segment: `(rate, channels, samples)` from its WAV header and data.
fn wav(b: &[u8]) -> (u32, u16, Vec<i16>) {
    assert!(b.len() >= 44 && &b[0..4] == b"RIFF" && &b[8..16] == b"WAVEfmt " && &b[36..40] == b"data", "a canonical WAV");
    let data = u32::from_le_bytes(b[40..44].try_into().unwrap()) as usize;
    assert_eq!(data, b.len() - 44, "data size");
    let samples = b[44..].chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]])).collect();
    (u32::from_le_bytes(b[24..28].try_into().unwrap()), u16::from_le_bytes(b[22..24].try_into().unwrap()), samples)
}

/// `GET <path>` with a key; status and JSON body.
async fn get(s: &Stack, path: &str, key: &str) -> (u16, Value) {
    let resp = s.http.get(format!("{}{path}", s.edge)).header("x-api-key", key).send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
}

async fn download(s: &Stack, url: &str) -> Vec<u8> {
    let resp = s.http.get(url).send().await.unwrap();
    assert_eq!(resp.status(), 200, "GET {url}");
    resp.bytes().await.unwrap().to_vec()
}

fn presigned_get(s: &Stack, key: &str) -> String {
    presign::presign(&s.s3, Method::Get, key, Duration::from_secs(900), SystemTime::now()).unwrap()
}

/// Submits and waits; the finished job.
async fn run(s: &Stack, body: &Value) -> Value {
    let (status, job) = s.post("/pipeline/segment", Some(&s.key), body).await;
    assert_eq!(status, 202, "{job}");
    assert_eq!(job["operation"], "pipeline/segment", "{job}");
    s.wait_done(job["jobId"].as_str().unwrap()).await
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn inline_segments_fan_out_and_status_follows_them() {
    let s = stack();
    let dir = tempfile_dir();
    let pid = unique("pipe");
    let (_, pcm) = master(&dir);
    let master_key = format!("{}pipelines/{pid}/inputs/audio/master.wav", s.prefix);
    s.upload(&master_key, &dir.join("master.wav")).await;

    // Before: nothing.
    let (status, before) = get(&s, &format!("/pipeline/status?job_id={pid}&expected=5"), &s.key).await;
    assert_eq!(status, 200, "{before}");
    assert_eq!((before["ready"].clone(), before["complete"].clone(), before["expected"].clone()), (json!(0), json!(false), json!(5)));
    assert_eq!(before["segments"].as_array().unwrap().len(), 5);
    assert!(before["segments"].as_array().unwrap().iter().all(|v| v["ready"] == false && v.get("url").is_none()));

    let asked = [(0.0, 1.25), (1.234_56, 2.5), (3.9, 0.000_01), (6.666_67, 1.111_11), (9.2, 5.0)];
    let segments: Vec<Value> = asked.iter().map(|(a, d)| json!({"start_sec": a, "duration_sec": d})).collect();
    let job =
        run(&s, &json!({"job_id": pid, "master_audio_r2_uri": format!("s3://{}/{master_key}", s.s3.bucket), "segments": segments})).await;
    assert_eq!(job["status"], "COMPLETED", "{job}");
    let r = &job["result"];
    assert_eq!(r["parts"], 3, "5 segments over FANOUT_CLIPS=2: {r}");
    assert_eq!((r["job_id"].as_str(), r["expected"].as_u64(), r["ready"].as_u64()), (Some(pid.as_str()), Some(5), Some(5)));
    assert_eq!(r["status_url"], format!("/pipeline/status?job_id={pid}&expected=5"));
    assert_eq!((r["master"].as_str(), r["master_staged"].as_bool()), (Some(master_key.as_str()), Some(false)));
    assert_eq!((r["sample_rate"].as_u64(), r["channels"].as_u64()), (Some(48_000), Some(1)));
    let listed = r["segments"].as_array().unwrap();
    assert_eq!(listed.len(), 5);
    let mut sizes = vec![];
    for (i, &(start, dur)) in asked.iter().enumerate() {
        let v = &listed[i];
        let first = (start * RATE as f64).round() as usize;
        let want = ((dur * RATE as f64).round() as usize).max(1);
        let n = want.min(10 * RATE - first);
        let key = format!("{}pipelines/{pid}/stage/segmentation/audio_segments/segment_{i}.wav", s.prefix);
        assert_eq!((v["index"].as_u64(), v["key"].as_str()), (Some(i as u64), Some(key.as_str())), "{v}");
        assert_eq!((v["samples"].as_u64(), v["truncated"].as_bool()), (Some(n as u64), Some(n < want)), "{v}");
        let got = download(&s, v["url"].as_str().unwrap()).await;
        assert_eq!(v["bytes"].as_u64(), Some(got.len() as u64));
        let (rate, channels, samples) = wav(&got);
        assert_eq!((rate, channels, samples.len()), (48_000, 1, n), "segment {i}");
        assert!(samples == pcm[first..first + n], "segment {i}: the master's samples from {first}");
        sizes.push(got.len() as u64);
    }

    // After: every one ready, with its size and a URL that downloads it.
    let (status, after) = get(&s, &format!("/pipeline/status?job_id={pid}&expected=5"), &s.key).await;
    assert_eq!(status, 200, "{after}");
    assert_eq!((after["ready"].clone(), after["complete"].clone()), (json!(5), json!(true)), "{after}");
    for (i, v) in after["segments"].as_array().unwrap().iter().enumerate() {
        assert_eq!((v["index"].as_u64(), v["ready"].as_bool(), v["bytes"].as_u64()), (Some(i as u64), Some(true), Some(sizes[i])), "{v}");
        assert_eq!(download(&s, v["url"].as_str().unwrap()).await.len() as u64, sizes[i]);
    }
    // Without `expected`: the first 64 looked at, 5 there; the alias answers the same.
    let (status, open) = get(&s, &format!("/api/pipeline/status?job_id={pid}"), &s.key).await;
    assert_eq!(status, 200, "{open}");
    assert_eq!((open["expected"].clone(), open["probed"].clone(), open["ready"].clone()), (Value::Null, json!(64), json!(5)));
    let ready: Vec<u64> =
        open["segments"].as_array().unwrap().iter().filter(|v| v["ready"] == true).map(|v| v["index"].as_u64().unwrap()).collect();
    assert_eq!(ready, [0, 1, 2, 3, 4]);
    // Another tenant asking for the same pipeline id sees nothing (its own prefix).
    let (status, other) = get(&s, &format!("/pipeline/status?job_id={pid}&expected=5"), &s.key2).await;
    assert_eq!((status, other["ready"].clone()), (200, json!(0)), "{other}");
    // Bad queries, and no key.
    for q in ["job_id=x&expected=0", "job_id=x&expected=1001", "expected=3", "job_id=..", "job_id=a%2Fb"] {
        let (status, e) = get(&s, &format!("/pipeline/status?{q}"), &s.key).await;
        assert_eq!((status, e["code"].as_str()), (400, Some("validation-failed")), "{q}: {e}");
    }
    let (status, e) = get(&s, "/pipeline/status?job_id=x&expected=0", &s.key).await;
    assert_eq!(
        (status, e["details"][0]["field"].as_str(), e["details"][0]["code"].as_str()),
        (400, Some("expected"), Some("out-of-range"))
    );
    let resp = s.http.get(format!("{}/pipeline/status?job_id={pid}", s.edge)).send().await.unwrap();
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn url_sources_are_staged_and_segments_come_from_segments_uri() {
    let s = stack();
    let dir = tempfile_dir();
    let pid = unique("pipe");
    let (bytes, pcm) = master(&dir);
    // The sources live somewhere reachable by URL: here, presigned GETs of uploads.
    let (src_master, src_face) = (format!("{}incoming/{pid}/voice.wav", s.prefix), format!("{}incoming/{pid}/face.png", s.prefix));
    s.upload(&src_master, &dir.join("master.wav")).await;
    let face = dir.join("face.png");
    ffmpeg(&["-f", "lavfi", "-i", "testsrc2=s=64x64", "-frames:v", "1", face.to_str().unwrap()]);
    s.upload(&src_face, &face).await;
    let list_key = format!("{}pipelines/{pid}/stage/segmentation/segments.json", s.prefix);
    let list = dir.join("segments.json");
    std::fs::write(
        &list,
        r#"[{"start_sec": 0.5, "duration_sec": 0.75}, {"start": 2.000021, "duration": 3}, {"start_sec": 8, "duration_sec": 1}]"#,
    )
    .unwrap();
    s.upload(&list_key, &list).await;

    let job = run(
        &s,
        &json!({"job_id": pid, "master_audio_http_url": presigned_get(&s, &src_master),
                "presenter_image_http_url": presigned_get(&s, &src_face), "segments_uri": format!("r2://{list_key}")}),
    )
    .await;
    assert_eq!(job["status"], "COMPLETED", "{job}");
    let r = &job["result"];
    // 3 segments over FANOUT_CLIPS=2: two parts, the first of which staged the sources.
    assert_eq!(r["parts"], 2, "{r}");
    let staged = format!("{}pipelines/{pid}/inputs/audio/master.wav", s.prefix);
    assert_eq!((r["master"].as_str(), r["master_staged"].as_bool()), (Some(staged.as_str()), Some(true)), "{r}");
    let presenter = format!("{}pipelines/{pid}/inputs/image/presenter.png", s.prefix);
    assert_eq!((r["presenter"].as_str(), r["presenter_staged"].as_bool()), (Some(presenter.as_str()), Some(true)), "{r}");
    assert_eq!(download(&s, &presigned_get(&s, &staged)).await, bytes, "the master staged byte for byte");
    assert_eq!(download(&s, &presigned_get(&s, &presenter)).await, std::fs::read(&face).unwrap(), "the presenter staged");
    let listed = r["segments"].as_array().unwrap();
    assert_eq!(listed.len(), 3, "{r}");
    for (i, (start, n)) in [(0.5, 36_000), (2.000_021, 144_000), (8.0, 48_000)].into_iter().enumerate() {
        let (rate, _, samples) = wav(&download(&s, listed[i]["url"].as_str().unwrap()).await);
        let first = (start * RATE as f64).round() as usize;
        assert_eq!((rate, samples.len()), (48_000, n), "segment {i}");
        assert!(samples == pcm[first..first + n], "segment {i}");
    }
    let (_, status) = get(&s, &format!("/pipeline/status?job_id={pid}&expected=3"), &s.key).await;
    assert_eq!((status["ready"].clone(), status["complete"].clone()), (json!(3), json!(true)), "{status}");
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn unreadable_or_bad_lists_are_400_and_impossible_segments_fail() {
    let s = stack();
    let dir = tempfile_dir();
    let pid = unique("pipe");
    let master_key = format!("{}pipelines/{pid}/inputs/audio/master.wav", s.prefix);
    master(&dir);
    s.upload(&master_key, &dir.join("master.wav")).await;
    let master = format!("r2://{master_key}");
    // A list that is not there.
    let missing = json!({"job_id": pid, "master_audio_uri": master, "segments_uri": format!("r2://{}nope/{pid}.json", s.prefix)});
    let (status, e) = s.post("/pipeline/segment", Some(&s.key), &missing).await;
    assert_eq!(
        (status, e["details"][0]["field"].as_str(), e["details"][0]["code"].as_str()),
        (400, Some("segments_uri"), Some("unreadable")),
        "{e}"
    );
    // A list with bad segments: every problem, with its path.
    let key = format!("{}pipelines/{pid}/bad.json", s.prefix);
    std::fs::write(
        dir.join("bad.json"),
        r#"[{"start_sec": -1, "duration_sec": 1}, {"start_sec": 0}, {"start_sec": 1, "duration_sec": 0}]"#,
    )
    .unwrap();
    s.upload(&key, &dir.join("bad.json")).await;
    let (status, e) = s
        .post("/pipeline/segment", Some(&s.key), &json!({"job_id": pid, "master_audio_uri": master, "segments_uri": format!("r2://{key}")}))
        .await;
    assert_eq!(status, 400, "{e}");
    let fields: Vec<&str> = e["details"].as_array().unwrap().iter().map(|d| d["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["segments_uri[1]"], "shape problems first: {e}");
    std::fs::write(dir.join("bad.json"), r#"[{"start_sec": -1, "duration_sec": 1}, {"start_sec": 1, "duration_sec": 0}]"#).unwrap();
    s.upload(&key, &dir.join("bad.json")).await;
    let (status, e) = s
        .post("/pipeline/segment", Some(&s.key), &json!({"job_id": pid, "master_audio_uri": master, "segments_uri": format!("r2://{key}")}))
        .await;
    let fields: Vec<&str> = e["details"].as_array().unwrap().iter().map(|d| d["field"].as_str().unwrap()).collect();
    assert_eq!((status, fields), (400, vec!["segments_uri[0].start_sec", "segments_uri[1].duration_sec"]), "{e}");
    // Nothing at all: the master and the segments are required.
    let (status, e) = s.post("/pipeline/segment", Some(&s.key), &json!({"job_id": pid})).await;
    let fields: Vec<&str> = e["details"].as_array().unwrap().iter().map(|d| d["field"].as_str().unwrap()).collect();
    assert_eq!((status, fields), (400, vec!["master_audio_uri", "segments"]), "{e}");
    // A segment that starts after the 10 s master: the job fails, naming it.
    let job = run(
        &s,
        &json!({"job_id": pid, "master_audio_uri": master,
        "segments": [{"start_sec": 0, "duration_sec": 1}, {"start_sec": 10.5, "duration_sec": 1}]}),
    )
    .await;
    assert_eq!((job["status"].as_str(), job["error"]["code"].as_str()), (Some("FAILED"), Some("start-beyond-end")), "{job}");
    assert!(job["error"]["message"].as_str().unwrap().contains("segment 1"), "{job}");
}
