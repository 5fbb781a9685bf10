//! End-to-end: the GPU backend dies mid-job. Run alone (after the other e2e tests),
//! because killing `gpu-worker serve` disturbs every job running at that moment.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{ffmpeg, stack, tempfile_dir, unique};
use serde_json::{Value, json};

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn a_worker_killed_mid_job_is_retried_and_the_job_completes() {
    let s = stack();
    let dir = tempfile_dir();
    let run = unique("kill");
    let img = dir.join("i.jpg");
    ffmpeg(&["-f", "lavfi", "-i", "testsrc2=s=1280x720", "-frames:v", "1", img.to_str().unwrap()]);
    let key = format!("{}inputs/{run}/i.jpg", s.prefix);
    s.upload(&key, &img).await;
    let (status, job) = s
        .post(
            "/video/img2vid",
            Some(&s.key),
            &json!({"images": [{"image_url": format!("r2://{key}"), "duracao": 4}], "width": 640, "height": 360}),
        )
        .await;
    assert_eq!(status, 202, "{job}");
    let id = job["jobId"].as_str().unwrap().to_owned();

    // Wait until the backend runs it, then kill the worker (SIGKILL: no goodbye).
    let (runpod, rp_key) = (std::env::var("RUNPOD_URL").unwrap(), std::env::var("RUNPOD_API_KEY").unwrap());
    let start = Instant::now();
    loop {
        let h: Value = s.http.get(format!("{runpod}/health")).bearer_auth(&rp_key).send().await.unwrap().json().await.unwrap();
        if h["jobs"]["inProgress"].as_u64() >= Some(1) {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "never started: {h}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pid = std::fs::read_to_string(std::env::var("GPU_WORKER_PIDFILE").unwrap()).unwrap();
    let killed = std::process::Command::new("kill").args(["-KILL", pid.trim()]).status().unwrap();
    assert!(killed.success());

    // The restarted backend does not know the job: the edge sees it lost and resubmits
    // it with the same output keys.
    let job = s.wait_done(&id).await;
    assert_eq!(job["status"], "COMPLETED", "{job:#}");
    assert_eq!(job["attempts"], 2, "{job:#}");
    let v = &job["result"]["videos"][0];
    assert_eq!(v["frames"], 96);
    assert_eq!(s.http.get(v["video_url"].as_str().unwrap()).send().await.unwrap().status(), 200);
}
