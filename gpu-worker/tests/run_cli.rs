//! `gpu-worker run --test-input FILE`: one job from a file, the output JSON on stdout,
//! exit 0 on success and 1 on failure (like RunPod's `--test_input`).
#![allow(clippy::unwrap_used)]

mod common;

use common::{Storage, ffmpeg_make};
use serde_json::{Value, json};

/// `run --test-input`: its exit code and printed JSON.
fn run(input: &Value, work: &std::path::Path) -> (Option<i32>, Value) {
    let (code, out, _) = common::run_test_input(input, work, &[]);
    (code, out)
}

#[tokio::test(flavor = "multi_thread")]
async fn run_prints_the_output_and_exits_by_outcome() {
    let storage = Storage::start().await;
    let dir = tempfile::tempdir().unwrap();
    storage.put("a.wav", ffmpeg_make(dir.path(), "a.wav", &["-f", "lavfi", "-i", "sine=d=2"]));
    let job = |key: &str| {
        json!({"input": {
            "job_id": "cli",
            "inputs": [{"name": "audio", "url": storage.url(key)}],
            "outputs": [{"name": "output", "key": "k/out.mp3", "put_url": storage.url("out.mp3"), "content_type": "audio/mpeg"}],
            "task": {"operation": "audio_trim", "params": {"start_sec": 0.5, "duration_sec": 1.0, "format": "mp3"}}
        }})
    };
    let work = dir.path().to_owned();
    let ok = job("a.wav");
    let (code, out) = tokio::task::spawn_blocking(move || run(&ok, &work)).await.unwrap();
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(out["output"]["outputs"][0]["key"], "k/out.mp3");
    assert!(out["output"]["outputs"][0]["bytes"].as_u64().unwrap() > 1000);
    assert!(storage.get("out.mp3").is_some(), "uploaded");

    let work = dir.path().to_owned();
    let missing = job("missing.wav");
    let (code, out) = tokio::task::spawn_blocking(move || run(&missing, &work)).await.unwrap();
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(out["error"]["code"], "input-download-failed");
    assert_eq!(out["error"]["retryable"], false);
}
