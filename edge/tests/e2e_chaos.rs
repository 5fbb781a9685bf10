//! End-to-end: the GPU backend dies mid-job; hostile callers (forged RunPod webhooks,
//! an endless chunked body). Run alone and one test at a time (`--test-threads 1`), because killing
//! `gpu-worker serve` disturbs every job running at that moment.

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

/// A value of the running stack's edge configuration (`$LOCAL_DIR/edge.env`, written by
/// scripts/dev.sh; scripts/with-stack.sh exports LOCAL_DIR).
fn edge_setting(name: &str) -> String {
    let dir = std::env::var("LOCAL_DIR").expect("LOCAL_DIR: run through scripts/with-stack.sh");
    let text = std::fs::read_to_string(format!("{dir}/edge.env")).unwrap();
    let line = text.lines().find_map(|l| l.strip_prefix(&format!("{name}="))).unwrap_or_else(|| panic!("{name} not in edge.env"));
    line.to_owned()
}

/// The RunPod id the edge gave part 0 of `job`, from its "part submitted" log line.
async fn runpod_id_of(job: &str) -> String {
    let log = format!("{}/logs/edge.log", std::env::var("LOCAL_DIR").unwrap());
    let start = Instant::now();
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let found = text.lines().filter(|l| l.contains("part submitted") && l.contains(job)).find_map(|l| {
            let v: Value = serde_json::from_str(&l[l.find('{')?..]).ok()?;
            Some(v["runpod_id"].as_str()?.to_owned())
        });
        if let Some(id) = found {
            return id;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "job {job} was never submitted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn hardening_forged_completion_webhooks_are_refused_and_change_nothing() {
    use job_spec::worker::{OutputMeta, WorkerOutput};

    let s = stack();
    let dir = tempfile_dir();
    let run = unique("forge");
    let img = dir.join("i.jpg");
    ffmpeg(&["-f", "lavfi", "-i", "testsrc2=s=1280x720", "-frames:v", "1", img.to_str().unwrap()]);
    let key = format!("{}inputs/{run}/i.jpg", s.prefix);
    s.upload(&key, &img).await;
    // Long enough (192 frames of 720p) to still be rendering while the forgeries come
    // (they take a second), short enough for a loaded CI machine.
    let body = json!({"images": [{"image_url": format!("r2://{key}"), "duracao": 8}], "width": 1280, "height": 720});
    let (status, job) = s.post("/video/img2vid", Some(&s.key), &body).await;
    assert_eq!(status, 202, "{job}");
    let id = job["jobId"].as_str().unwrap().to_owned();
    let runpod_id = runpod_id_of(&id).await;
    let secret = edge_setting("WEBHOOK_TOKEN_SECRET");

    let completed = |name: &str, key: String| {
        let out = WorkerOutput {
            outputs: vec![OutputMeta { name: name.into(), key, bytes: 1, content_type: "video/mp4".into(), ..Default::default() }],
            ..Default::default()
        };
        json!({"id": runpod_id, "status": "COMPLETED", "executionTime": 10, "output": out})
    };
    let stolen = format!("{}secret/other.mp4", s.prefix2);
    let hook = |token: &str, body: &Value| s.http.post(format!("{}/internal/runpod/{id}/{token}", s.edge)).json(body).send();
    let (_, before) = s.get_job(&id, &s.key).await;
    assert!(["QUEUED", "SUBMITTED", "PROCESSING"].contains(&before["status"].as_str().unwrap()), "{before:#}");

    // Wrong tokens: another job's, a guess, not even hex.
    let other_job = edge::token::job_token(&secret, &"b".repeat(64));
    for token in [other_job.as_str(), &"0".repeat(64), "not-a-token"] {
        let resp = hook(token, &completed("video_1", format!("{}jobs/{id}/video_1.mp4", s.prefix))).await.unwrap();
        assert_eq!(resp.status(), 401, "token {token}");
    }
    // The right job's token, but keys the plan did not give: another tenant's, a name never planned.
    let token = edge::token::job_token(&secret, &id);
    for body in [completed("video_1", stolen.clone()), completed("stolen", stolen.clone())] {
        let resp = hook(&token, &body).await.unwrap();
        assert_eq!(resp.status(), 409, "{body}");
        let err: Value = resp.json().await.unwrap();
        assert_eq!(err["code"], "unplanned-output");
    }

    // Nothing changed: the job runs on, then completes with its planned output only.
    let (_, now) = s.get_job(&id, &s.key).await;
    assert!(["SUBMITTED", "PROCESSING"].contains(&now["status"].as_str().unwrap()), "{now:#}");
    assert!(now["result"].is_null() && now["error"].is_null(), "{now:#}");
    let job = s.wait_done(&id).await;
    assert_eq!((job["status"].as_str(), job["attempts"].as_u64()), (Some("COMPLETED"), Some(1)), "{job:#}");
    let text = job.to_string();
    assert!(!text.contains("secret/other.mp4") && !text.contains(&s.prefix2), "{job:#}");
    let url = job["result"]["videos"][0]["video_url"].as_str().unwrap();
    assert!(url.contains(&format!("{}jobs/{id}/video_1.mp4", s.prefix)), "{url}");
    assert_eq!(s.http.get(url).send().await.unwrap().status(), 200);
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn hardening_a_chunked_body_is_refused_at_the_cap_not_buffered_whole() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let s = stack();
    let log = format!("{}/logs/edge.log", std::env::var("LOCAL_DIR").expect("LOCAL_DIR: run through scripts/with-stack.sh"));
    let refused = || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        text.lines().filter(|l| l.contains(r#""path":"/video/img2vid""#) && l.contains(r#""status":413"#)).count()
    };
    let refused_before = refused();
    let edge = url::Url::parse(&s.edge).unwrap();
    let host = format!("{}:{}", edge.host_str().unwrap(), edge.port_or_known_default().unwrap());
    let (mut rd, mut wr) = tokio::net::TcpStream::connect(&host).await.unwrap().into_split();
    let head = format!(
        "POST /video/img2vid HTTP/1.1\r\nhost: {host}\r\nx-api-key: {}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n",
        s.key
    );
    wr.write_all(head.as_bytes()).await.unwrap();
    // Up to 200 MB of JSON whitespace, without Content-Length, for as long as the edge reads.
    let sent = Arc::new(AtomicU64::new(0));
    let counter = sent.clone();
    let writer = tokio::spawn(async move {
        let chunk = [&b"10000\r\n"[..], &[b' '; 0x10000], b"\r\n"].concat();
        for _ in 0..(200 << 20) / 0x10000 {
            if wr.write_all(&chunk).await.is_err() {
                return;
            }
            counter.fetch_add(0x10000, Ordering::SeqCst);
        }
        let _ = wr.write_all(b"0\r\n\r\n").await;
    });
    let mut answer = vec![0u8; 8192];
    let read = tokio::time::timeout(Duration::from_secs(120), rd.read(&mut answer)).await.expect("no answer");
    let at_answer = sent.load(Ordering::SeqCst);
    // `wrangler dev`'s proxy may also reset the connection it stopped reading: an answer too.
    let n = match read {
        Ok(n) => n,
        Err(e) if matches!(e.kind(), std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe) => 0,
        Err(e) => panic!("reading the answer: {e}"),
    };
    answer.truncate(n);
    // The rest of the answer (its body may come in a later segment).
    let mut rest = vec![0u8; 8192];
    while let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(2), rd.read(&mut rest)).await {
        if n == 0 || answer.len() > 65_536 {
            break;
        }
        answer.extend_from_slice(&rest[..n]);
        if String::from_utf8_lossy(&answer).contains("body-too-large") {
            break;
        }
    }
    writer.abort();
    let text = String::from_utf8_lossy(&answer);
    // The cap is 1 MB; what is in flight in socket buffers and proxies is a few MB at most.
    assert!(at_answer < 50 << 20, "the edge answered after {at_answer} bytes: it read the body whole first");
    // The edge answered 413. (`wrangler dev`'s proxy turns an answer given before the
    // upload ended into its own 500 "Network connection lost", or resets the connection;
    // Cloudflare's edge sends the 413.)
    let start = Instant::now();
    while refused() == refused_before && start.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(refused(), refused_before + 1, "the edge logged no 413; the client got: {text}");
    if text.starts_with("HTTP/1.1 413") {
        assert!(text.contains("body-too-large"), "{text}");
    } else if !text.is_empty() {
        assert!(text.starts_with("HTTP/1.1 500"), "{text}");
    }
}
