//! Settings the binary refuses at start, before it probes the GPU or takes a job: the
//! process exits non-zero at once with a message that says how to fix it.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `gpu-worker` with `args` and `env` (no other RunPod variables), for at most 20 s:
/// its exit code (`None`: still running, killed) and stderr.
fn run(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, Duration) {
    let work = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gpu-worker"));
    cmd.args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).env("WORK_DIR", work.path()).env("ENCODER", "libx264");
    for k in ["ALLOW_LOOPBACK_HTTP", "RUNPOD_WEBHOOK_GET_JOB", "RUNPOD_API_KEY", "SERVE_HOST", "SERVE_PORT"] {
        cmd.env_remove(k);
    }
    cmd.envs(env.iter().copied());
    let started = Instant::now();
    let mut child = cmd.spawn().unwrap();
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if started.elapsed() > Duration::from_secs(20) {
            child.kill().unwrap();
            child.wait().unwrap();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    (code, stderr, started.elapsed())
}

/// Platform mode (RunPod's variables set) with `ALLOW_LOOPBACK_HTTP=1` stops at start:
/// a job's URL could otherwise reach http:// services on the pod's loopback.
#[test]
fn platform_mode_refuses_allow_loopback_http() {
    let platform = [
        ("RUNPOD_WEBHOOK_GET_JOB", "http://127.0.0.1:9/job-take/$ID"),
        ("RUNPOD_WEBHOOK_POST_OUTPUT", "http://127.0.0.1:9/job-done/$RUNPOD_POD_ID/$ID"),
        ("RUNPOD_POD_ID", "pod"),
        ("RUNPOD_AI_API_KEY", "key"),
    ];
    let mut env = platform.to_vec();
    env.push(("ALLOW_LOOPBACK_HTTP", "1"));
    let (code, stderr, took) = run(&[], &env);
    assert_eq!(code, Some(1), "exits with an error, not serving: {stderr}");
    assert!(stderr.contains("ALLOW_LOOPBACK_HTTP") && stderr.contains("refused in RunPod platform mode"), "{stderr}");
    assert!(took < Duration::from_secs(10), "at start: {took:?}");
}

/// `serve` on a non-loopback address without `RUNPOD_API_KEY` stops at start.
#[test]
fn serve_refuses_a_public_bind_without_a_key() {
    let (code, stderr, _) = run(&["serve", "--host", "0.0.0.0", "--port", "0"], &[]);
    assert_eq!(code, Some(1), "exits with an error, not serving: {stderr}");
    assert!(stderr.contains("without an API key") && stderr.contains("RUNPOD_API_KEY"), "{stderr}");
}
