//! Load through the real local stack: `LOAD_JOBS` small img2vid jobs (default 40; `make
//! bench` runs 200) submitted by 8 concurrent clients. Every submission answers 202,
//! every job completes with its clip, and no lease is left held (`/queue/stats` back to
//! zero slots in use). Prints the submission latency percentiles and the time to drain;
//! no timing is asserted (machines are shared and noisy), only outcomes.
//!
//! Run alone (after the other e2e tests): it fills the tenant's slots for a while.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{ffmpeg, stack, tempfile_dir, unique};
use serde_json::{Value, json};

const CLIENTS: usize = 8;

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p / 100.0).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the local stack: make test"]
async fn many_small_jobs_from_concurrent_clients_all_complete() {
    let s = Arc::new(stack());
    let n: usize = std::env::var("LOAD_JOBS").ok().and_then(|v| v.parse().ok()).unwrap_or(40);
    let dir = tempfile_dir();
    let still = dir.join("still.jpg");
    ffmpeg(&["-f", "lavfi", "-i", "testsrc2=s=320x240", "-frames:v", "1", still.to_str().unwrap()]);
    let run = unique("load");
    let key = format!("{}inputs/{run}/still.jpg", s.prefix);
    s.upload(&key, &still).await;

    // 8 clients, each submitting the next job as soon as its previous answer came.
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..CLIENTS {
        let (s, next, key, run) = (s.clone(), next.clone(), key.clone(), run.clone());
        clients.spawn(async move {
            let mut answers = vec![];
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return answers;
                }
                let body = json!({
                    "images": [{"id": i, "image_url": format!("r2://{key}"), "duracao": 0.5}],
                    "width": 320, "height": 240, "frame_rate": 24, "path": format!("load/{run}/{i}")
                });
                let clock = Instant::now();
                let (status, job) = s.post("/video/img2vid", Some(&s.key), &body).await;
                answers.push((status, job, clock.elapsed()));
            }
        });
    }
    let mut answers = vec![];
    while let Some(a) = clients.join_next().await {
        answers.extend(a.unwrap());
    }
    let submitted_in = started.elapsed();
    assert_eq!(answers.len(), n);
    for (status, job, _) in &answers {
        assert_eq!(*status, 202, "every submission is accepted: {job}");
    }
    let mut pending: Vec<String> = answers.iter().map(|(_, job, _)| job["jobId"].as_str().unwrap().to_owned()).collect();
    pending.sort();
    pending.dedup();
    assert_eq!(pending.len(), n, "one job per submission");
    let mut latencies: Vec<Duration> = answers.iter().map(|(_, _, d)| *d).collect();
    latencies.sort();

    // Drain: every job completes with its one clip of 12 frames.
    let deadline = Instant::now() + Duration::from_secs(120 + 3 * n as u64);
    while !pending.is_empty() {
        assert!(Instant::now() < deadline, "{} jobs still unfinished after {:?}", pending.len(), started.elapsed());
        let mut still_pending = vec![];
        for id in pending {
            let (status, job) = s.get_job(&id, &s.key).await;
            assert_eq!(status, 200, "{job}");
            match job["status"].as_str().unwrap() {
                "COMPLETED" => {
                    let videos = job["result"]["videos"].as_array().unwrap();
                    assert_eq!(videos.len(), 1, "{job:#}");
                    assert_eq!(videos[0]["frames"], 12, "{job:#}");
                }
                "QUEUED" | "SUBMITTED" | "PROCESSING" => still_pending.push(id),
                other => panic!("job {id} ended {other}: {job:#}"),
            }
        }
        pending = still_pending;
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    let drained_in = started.elapsed();

    // No lease left held: the tenant's slots come back to zero in use, nobody waiting.
    let stats_deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let stats: Value =
            s.http.get(format!("{}/queue/stats", s.edge)).header("x-api-key", &s.key).send().await.unwrap().json().await.unwrap();
        if stats["slots_in_use"] == 0 && stats["waiting"] == 0 {
            break;
        }
        assert!(Instant::now() < stats_deadline, "leases still held after every job ended: {stats:#}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    println!(
        "load: {n} img2vid jobs from {CLIENTS} clients submitted in {:.1} s; submit latency p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms; all completed (drained) in {:.1} s",
        submitted_in.as_secs_f64(),
        percentile(&latencies, 50.0),
        percentile(&latencies, 90.0),
        percentile(&latencies, 99.0),
        percentile(&latencies, 100.0),
        drained_in.as_secs_f64()
    );
}
