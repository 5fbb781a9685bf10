//! The loudness pass on long audio: ffmpeg's stderr is what it reads (ebur128's
//! summary), so what it prints, and what the worker keeps of it, must stay small however
//! long the input.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use gpu_worker::ops::music::{loudness_args, parse_integrated};
use gpu_worker::process::{CAPTURE_BYTES, run_capture};

/// 10 minutes of a sine (its loudness is -21.8 LUFS), AAC.
fn ten_minutes(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("long.m4a");
    let st = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-f", "lavfi", "-i", "sine=f=440:d=600", "-c:a", "aac"])
        .arg(&path)
        .status()
        .unwrap();
    assert!(st.success());
    path
}

#[tokio::test]
async fn the_loudness_pass_prints_its_summary_only() {
    let dir = tempfile::tempdir().unwrap();
    let src = ten_minutes(dir.path());
    let stderr = run_capture(Path::new("ffmpeg"), &loudness_args(&src), Duration::from_secs(120)).await.unwrap();
    // Before: a line per 100 ms of audio, ~750 KB for these 10 minutes.
    assert!(stderr.len() < 4096, "{} bytes of stderr:\n{}", stderr.len(), &stderr[..stderr.len().min(2000)]);
    let lufs = parse_integrated(&stderr).unwrap();
    assert!((lufs + 21.8).abs() < 0.5, "{lufs} LUFS");
}

/// Whatever ffmpeg prints (here ebur128's per-frame log, ~750 KB), `run_capture` keeps
/// only its last [`CAPTURE_BYTES`], from a line start: the summary is still read.
#[tokio::test]
async fn run_capture_keeps_a_bounded_tail() {
    let dir = tempfile::tempdir().unwrap();
    let src = ten_minutes(dir.path());
    let args: Vec<String> = ["-hide_banner", "-nostdin", "-i"]
        .into_iter()
        .map(str::to_owned)
        .chain([src.display().to_string()])
        .chain(["-map", "0:a:0", "-af", "ebur128", "-f", "null", "-"].map(str::to_owned))
        .collect();
    let stderr = run_capture(Path::new("ffmpeg"), &args, Duration::from_secs(120)).await.unwrap();
    assert!(stderr.len() <= CAPTURE_BYTES, "{} bytes kept", stderr.len());
    assert!(stderr.len() > CAPTURE_BYTES / 2, "the tail is kept, {} bytes", stderr.len());
    assert!(stderr.starts_with("[Parsed_ebur128_0"), "from a line start: {}", &stderr[..80]);
    assert!((parse_integrated(&stderr).unwrap() + 21.8).abs() < 0.5);
}
