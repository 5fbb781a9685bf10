//! End-to-end faults on the real local stack: the GPU backend dies mid-job, the edge
//! (`wrangler dev`) is killed and restarted mid-job, the S3 server stops while a worker
//! uploads, RunPod's `/run` refuses for 20 s, duplicate and late completion webhooks; and
//! hostile callers (forged RunPod webhooks, an endless chunked body). Run alone and one
//! test at a time (`--test-threads 1`), because each fault disturbs every job running at
//! that moment. The services are killed and held down through scripts/dev.sh's pid and
//! hold files (`common::Service`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{Service, Stack, local_dir, stack, tempfile_dir, unique};
use serde_json::{Value, json};

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn a_worker_killed_mid_job_is_retried_and_the_job_completes() {
    let s = stack();
    let run = unique("kill");
    let key = s.test_image(&run, "1280x720").await;
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
    Service("gpu-worker").kill();

    // The restarted backend does not know the job: the edge sees it lost and resubmits
    // it with the same output keys.
    let job = s.wait_done(&id).await;
    assert_eq!(job["status"], "COMPLETED", "{job:#}");
    assert_eq!(job["attempts"], 2, "{job:#}");
    let v = &job["result"]["videos"][0];
    assert_eq!(v["frames"], 96);
    assert_eq!(s.http.get(v["video_url"].as_str().unwrap()).send().await.unwrap().status(), 200);
}

/// The RunPod id the edge gave part 0 of `job`, from its "part submitted" log line.
async fn runpod_id_of(job: &str) -> String {
    runpod_id_of_attempt(job, 1).await
}

/// The RunPod id the edge gave part 0 of `job` for its `attempt`-th attempt.
async fn runpod_id_of_attempt(job: &str, attempt: u64) -> String {
    let log = local_dir().join("logs/edge.log");
    let start = Instant::now();
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let found = text.lines().filter(|l| l.contains("part submitted") && l.contains(job)).find_map(|l| {
            let v: Value = serde_json::from_str(&l[l.find('{')?..]).ok()?;
            (v["attempt"].as_u64() == Some(attempt)).then_some(())?;
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
    let run = unique("forge");
    let key = s.test_image(&run, "1280x720").await;
    // Long enough (192 frames of 720p) to still be rendering while the forgeries come
    // (they take a second), short enough for a loaded CI machine.
    let body = json!({"images": [{"image_url": format!("r2://{key}"), "duracao": 8}], "width": 1280, "height": 720});
    let (status, job) = s.post("/video/img2vid", Some(&s.key), &body).await;
    assert_eq!(status, 202, "{job}");
    let id = job["jobId"].as_str().unwrap().to_owned();
    let runpod_id = runpod_id_of(&id).await;
    let secret = common::edge_env("WEBHOOK_TOKEN_SECRET");

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

/// A 1280×720 test picture uploaded under the first tenant; its `r2://` reference.
async fn picture(s: &Stack, run: &str) -> String {
    let key = s.test_image(run, "1280x720").await;
    format!("r2://{key}")
}

/// Submits an img2vid job of one clip of `seconds` at 24 fps; its id.
async fn submit_clip(s: &Stack, image: &str, seconds: u32, (width, height): (u32, u32)) -> String {
    let body = json!({"images": [{"image_url": image, "duracao": seconds}], "width": width, "height": height, "frame_rate": 24});
    let (status, job) = s.post("/video/img2vid", Some(&s.key), &body).await;
    assert_eq!(status, 202, "{job}");
    job["jobId"].as_str().unwrap().to_owned()
}

/// Polls `GET /jobs/{id}` until `pred` holds (60 s at most); that job object.
async fn wait_job(s: &Stack, id: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let (status, job) = s.get_job(id, &s.key).await;
        assert_eq!(status, 200, "{job}");
        if pred(&job) {
            return job;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "job {id} never {what}: {job:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn is_done(job: &Value) -> bool {
    ["COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"].contains(&job["status"].as_str().unwrap_or_default())
}

/// Waits (`within`) until `url` answers at all (any HTTP status).
async fn wait_listening(s: &Stack, url: &str, within: Duration) {
    let start = Instant::now();
    while s.http.get(url).timeout(Duration::from_secs(2)).send().await.is_err() {
        assert!(start.elapsed() < within, "{url} not back within {within:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The objects (name, size) under `prefix` in the S3 server's folder: what storage
/// really holds, whatever the job reports.
fn stored_objects(s: &Stack, prefix: &str) -> Vec<(String, u64)> {
    let dir = local_dir().join("s3").join(&s.s3.bucket).join(prefix);
    let mut found: Vec<(String, u64)> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .map(|e| (e.file_name().to_string_lossy().into_owned(), e.metadata().unwrap().len()))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn fault_the_edge_killed_mid_job_and_restarted_resumes_the_job_from_its_durable_object() {
    let wall = Instant::now();
    let s = stack();
    let dir = tempfile_dir();
    let image = picture(&s, &unique("edge-kill")).await;
    let started = Instant::now();
    let id = submit_clip(&s, &image, 4, (640, 360)).await;
    wait_job(&s, &id, "PROCESSING", |j| j["status"] == "PROCESSING").await;
    let runpod_id = runpod_id_of(&id).await;

    // Kill workerd (wrangler's whole process group) and keep it down until the worker has
    // finished the job and given up on its completion webhook (3 tries, 2 s apart): the
    // job's Durable Object, on disk, is all that knows about it.
    let edge = Service("edge");
    edge.hold();
    let old = edge.kill();
    assert!(s.http.get(format!("{}/health", s.edge)).send().await.is_err(), "the edge still answers");
    let (runpod, rp_key) = (std::env::var("RUNPOD_URL").unwrap(), std::env::var("RUNPOD_API_KEY").unwrap());
    let worker_log = local_dir().join("logs/gpu-worker.log");
    let start = Instant::now();
    loop {
        let st: Value = s.http.get(format!("{runpod}/status/{runpod_id}")).bearer_auth(&rp_key).send().await.unwrap().json().await.unwrap();
        let log = std::fs::read_to_string(&worker_log).unwrap_or_default();
        let gave_up = log.lines().any(|l| l.contains("webhook failed") && l.contains(&id) && l.contains(r#""attempt":2"#));
        if st["status"] == "COMPLETED" && gave_up {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(45), "the worker did not finish (or retried its webhook on): {st}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    edge.release();
    edge.restarted(old, Duration::from_secs(5)).await;
    wait_listening(&s, &format!("{}/health", s.edge), Duration::from_secs(60)).await;
    let down_for = start.elapsed();

    // The job's alarm, persisted with it, polls RunPod and finds the part done: completed
    // by its one attempt, its clip in storage.
    let job = s.wait_done(&id).await;
    assert_eq!((job["status"].as_str(), job["attempts"].as_u64()), (Some("COMPLETED"), Some(1)), "{job:#}");
    let videos = job["result"]["videos"].as_array().unwrap();
    assert_eq!(videos.len(), 1, "{job:#}");
    s.check_clip(&videos[0], 96, 24.0, &dir).await;
    assert_eq!(stored_objects(&s, &format!("{}jobs/{id}", s.prefix)), vec![("video_1.mp4".into(), videos[0]["bytes"].as_u64().unwrap())]);
    s.wait_queue_idle().await;
    println!(
        "edge down {:.1} s; job completed {:.1} s after its 202; wall {:.1} s",
        down_for.as_secs_f64(),
        started.elapsed().as_secs_f64(),
        wall.elapsed().as_secs_f64()
    );
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn fault_s3_stopped_for_10_s_while_the_worker_uploads_the_upload_is_retried_and_the_job_completes() {
    let wall = Instant::now();
    let s = stack();
    let dir = tempfile_dir();
    let image = picture(&s, &unique("s3-stop")).await;
    let id = submit_clip(&s, &image, 4, (1280, 720)).await;
    // The worker has its input and has rendered most frames: stop the S3 server now, so
    // the upload (milliseconds on loopback) meets it down. Progress comes about once a
    // second, so a render much shorter than that would go by unseen.
    let job = wait_job(&s, &id, "rendering", |j| {
        let p = &j["progress"];
        let rendered = p["completed"].as_u64().unwrap_or(0) * 10 >= p["total"].as_u64().unwrap_or(1) * 7;
        (p["stage"] == "render" && rendered) || p["stage"] == "upload" || is_done(j)
    })
    .await;
    assert_eq!(job["progress"]["stage"], "render", "the render went by unseen; a longer clip is needed: {job:#}");
    let s3 = Service("s3");
    s3.hold();
    let old = s3.kill();
    let stopped = Instant::now();
    let out_key = format!("{}jobs/{id}/video_1.mp4", s.prefix);
    // While it is down nothing is reported done, and nothing sits at the output key.
    let mut seen = vec![];
    while stopped.elapsed() < Duration::from_secs(10) {
        let (_, job) = s.get_job(&id, &s.key).await;
        assert!(!is_done(&job), "the job ended while storage was down: {job:#}");
        let line = format!("{} {} attempts={}", job["status"], job["progress"]["stage"], job["attempts"]);
        if seen.last() != Some(&line) {
            seen.push(line);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(stored_objects(&s, &format!("{}jobs/{id}", s.prefix)).is_empty(), "an object while the server was down");
    s3.release();
    s3.restarted(old, Duration::from_secs(5)).await;
    wait_listening(&s, &format!("{}/", s.s3.endpoint), Duration::from_secs(10)).await;

    // The worker's upload waited for the storage (not one byte could be sent) and went
    // through once it was back: one attempt, rendered once, its upload over the outage.
    let job = s.wait_done(&id).await;
    assert_eq!((job["status"].as_str(), job["attempts"].as_u64()), (Some("COMPLETED"), Some(1)), "while down: {seen:?}; {job:#}");
    let upload_ms = job["result"]["timings_ms"]["upload"].as_u64().unwrap();
    // (An upload of this clip on loopback takes about 100 ms.)
    assert!(upload_ms >= 1_000, "the upload did not meet the outage ({upload_ms} ms): {job:#}");
    let videos = job["result"]["videos"].as_array().unwrap();
    assert_eq!(videos.len(), 1, "{job:#}");
    assert_eq!(videos[0]["s3_key"], out_key.as_str());
    s.check_clip(&videos[0], 96, 24.0, &dir).await;
    assert_eq!(stored_objects(&s, &format!("{}jobs/{id}", s.prefix)), vec![("video_1.mp4".into(), videos[0]["bytes"].as_u64().unwrap())]);
    s.wait_queue_idle().await;
    println!("s3 down 10 s; job states meanwhile: {seen:?}; the upload took {upload_ms} ms; wall {:.1} s", wall.elapsed().as_secs_f64());
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn fault_runpod_refusing_for_20_s_leaves_jobs_queued_with_the_reason_then_they_run() {
    let wall = Instant::now();
    let s = stack();
    let dir = tempfile_dir();
    let image = picture(&s, &unique("rp-down")).await;
    // RunPod's /run refuses connections: gpu-worker serve killed and not restarted.
    let worker = Service("gpu-worker");
    worker.hold();
    let old = worker.kill();
    let down = Instant::now();

    // Submissions meanwhile are accepted (202) and wait, QUEUED, saying why.
    let ids = [submit_clip(&s, &image, 1, (640, 360)).await, submit_clip(&s, &image, 1, (640, 360)).await];
    for id in &ids {
        let job = wait_job(&s, id, "waiting for the GPU backend", |j| {
            j["progress"]["stage"].as_str().is_some_and(|st| st.starts_with("waiting for the GPU backend"))
        })
        .await;
        assert_eq!((job["status"].as_str(), job["attempts"].as_u64()), (Some("QUEUED"), Some(0)), "{job:#}");
    }
    tokio::time::sleep(Duration::from_secs(20).saturating_sub(down.elapsed())).await;
    for id in &ids {
        let (_, job) = s.get_job(id, &s.key).await;
        assert_eq!(job["status"], "QUEUED", "{job:#}");
        let stage = job["progress"]["stage"].as_str().unwrap();
        assert!(stage.starts_with("waiting for the GPU backend (attempt "), "{job:#}");
    }
    worker.release();
    worker.restarted(old, Duration::from_secs(5)).await;

    // Once it answers again, each job runs once and completes.
    for id in &ids {
        let job = s.wait_done(id).await;
        assert_eq!((job["status"].as_str(), job["attempts"].as_u64()), (Some("COMPLETED"), Some(1)), "{job:#}");
        let videos = job["result"]["videos"].as_array().unwrap();
        assert_eq!(videos.len(), 1, "{job:#}");
        s.check_clip(&videos[0], 24, 24.0, &dir).await;
    }
    s.wait_queue_idle().await;
    println!(
        "backend down 20 s; both jobs completed {:.1} s after it went down; wall {:.1} s",
        down.elapsed().as_secs_f64(),
        wall.elapsed().as_secs_f64()
    );
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn fault_a_duplicate_and_a_late_completion_webhook_of_an_earlier_attempt_are_ignored() {
    use job_spec::worker::{OutputMeta, WorkerOutput};

    let wall = Instant::now();
    let s = stack();
    let dir = tempfile_dir();
    let image = picture(&s, &unique("dup-hook")).await;
    let id = submit_clip(&s, &image, 4, (640, 360)).await;
    let first = runpod_id_of_attempt(&id, 1).await;
    wait_job(&s, &id, "PROCESSING", |j| j["status"] == "PROCESSING").await;
    // Attempt 1 is lost with its worker; attempt 2 runs under another RunPod id.
    Service("gpu-worker").kill();
    let second = runpod_id_of_attempt(&id, 2).await;
    assert_ne!(first, second);

    let token = edge::token::job_token(&common::edge_env("WEBHOOK_TOKEN_SECRET"), &id);
    let hook = |body: Value| {
        let url = format!("{}/internal/runpod/{id}/{token}", s.edge);
        let http = s.http.clone();
        async move {
            let resp = http.post(url).json(&body).send().await.unwrap();
            // Answered 2xx: RunPod is not to send it again.
            assert!(resp.status().is_success(), "{} for {body}", resp.status());
        }
    };
    // A late completion of attempt 1, with the planned key (as the lost worker would
    // have sent it): the job is running attempt 2 and stays so.
    let planned = format!("{}jobs/{id}/video_1.mp4", s.prefix);
    let late = json!({"id": first, "status": "COMPLETED", "executionTime": 10, "output": WorkerOutput {
        outputs: vec![OutputMeta { name: "video_1".into(), key: planned.clone(), bytes: 1, content_type: "video/mp4".into(), ..Default::default() }],
        ..Default::default()
    }});
    hook(late.clone()).await;
    let (_, job) = s.get_job(&id, &s.key).await;
    assert!(["SUBMITTED", "PROCESSING"].contains(&job["status"].as_str().unwrap()), "{job:#}");
    assert!(job["result"].is_null(), "{job:#}");

    let done = s.wait_done(&id).await;
    assert_eq!((done["status"].as_str(), done["attempts"].as_u64()), (Some("COMPLETED"), Some(2)), "{done:#}");

    // After it completed: the real completion once more (the body RunPod's /status gives
    // for attempt 2), attempt 1's completion and a failure of attempt 1.
    let (runpod, rp_key) = (std::env::var("RUNPOD_URL").unwrap(), std::env::var("RUNPOD_API_KEY").unwrap());
    let real: Value = s.http.get(format!("{runpod}/status/{second}")).bearer_auth(&rp_key).send().await.unwrap().json().await.unwrap();
    assert_eq!(real["status"], "COMPLETED", "{real}");
    hook(real).await;
    hook(late).await;
    hook(json!({"id": first, "status": "FAILED", "error": "worker lost"})).await;

    // Nothing changed: one output, the one attempt 2 wrote, as storage holds it.
    let (_, after) = s.get_job(&id, &s.key).await;
    let without_urls = |j: &Value| {
        let mut j = j.clone();
        for v in j["result"]["videos"].as_array_mut().unwrap() {
            v.as_object_mut().unwrap().retain(|k, _| k != "url" && k != "video_url");
        }
        j.as_object_mut().unwrap().retain(|k, _| k != "timestamp");
        j
    };
    assert_eq!(without_urls(&after), without_urls(&done));
    let videos = after["result"]["videos"].as_array().unwrap();
    assert_eq!(videos.len(), 1, "{after:#}");
    assert_eq!(videos[0]["s3_key"], planned.as_str());
    s.check_clip(&videos[0], 96, 24.0, &dir).await;
    assert_eq!(stored_objects(&s, &format!("{}jobs/{id}", s.prefix)), vec![("video_1.mp4".into(), videos[0]["bytes"].as_u64().unwrap())]);
    s.wait_queue_idle().await;
    println!("duplicate and late webhooks ignored; wall {:.1} s", wall.elapsed().as_secs_f64());
}
