//! End-to-end tests against the real local stack: client → edge under `wrangler dev`
//! (workerd, Durable Objects) → `gpu-worker serve` → ffmpeg → s3s-fs.
//!
//! They need the stack's `dev.env` in the environment, so they are `#[ignore]`d in a
//! plain `cargo test`; `make test` (`make test-e2e`) starts a fresh stack on free ports
//! and runs them with `--ignored`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{ffmpeg, ffprobe, stack, tempfile_dir, unique};
use serde_json::{Value, json};

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
    // The 202 comes before any call to the GPU backend: the job's alarm submits it.
    assert_eq!((job["status"].as_str(), job["attempts"].as_u64()), (Some("QUEUED"), Some(0)), "{job:#}");

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

    // Unknown jobs and routes are 404.
    let (status, _) = s.get_job(&"a".repeat(64), &s.key).await;
    assert_eq!(status, 404);
    let (status, _) = s.get_job("not-a-job", &s.key).await;
    assert_eq!(status, 404);
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

/// An `objects/stage` request (the cheapest job): copies a small uploaded object,
/// through its presigned URL, to `dest` in the caller's space.
async fn stage_body(s: &common::Stack, run: &str, dest_prefix: &str) -> Value {
    let dir = tempfile_dir();
    let src = dir.join("blob.bin");
    std::fs::write(&src, format!("payload {run}")).unwrap();
    let key = format!("{}inputs/{run}/blob.bin", s.prefix);
    s.upload(&key, &src).await;
    let url =
        edge::presign::presign(&s.s3, edge::presign::Method::Get, &key, std::time::Duration::from_secs(600), std::time::SystemTime::now())
            .unwrap();
    json!({"source_uri": url, "dest_uri": format!("r2://{dest_prefix}staged/{run}/copy.bin")})
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn idempotency_rate_limit_listing_and_stats() {
    let s = stack();
    let run = unique("idem");
    let body = stage_body(&s, &run, &s.prefix).await;
    let post = |key: &str, idem: Option<&str>, body: &Value| {
        let mut req = s.http.post(format!("{}/objects/stage", s.edge)).header("x-api-key", key).json(body);
        if let Some(k) = idem {
            req = req.header("idempotency-key", k);
        }
        req.send()
    };
    // Same key, same body: the same job, marked as a replay.
    let first = post(&s.key, Some(&run), &body).await.unwrap();
    assert_eq!(first.status(), 202);
    let first: Value = first.json().await.unwrap();
    let again = post(&s.key, Some(&run), &body).await.unwrap();
    assert_eq!(again.status(), 200);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["jobId"], first["jobId"]);
    // Same key, another body: 409.
    let mut other = body.clone();
    other["dest_uri"] = json!(format!("r2://{}staged/{run}/other.bin", s.prefix));
    let conflict = post(&s.key, Some(&run), &other).await.unwrap();
    assert_eq!(conflict.status(), 409);
    assert_eq!(conflict.json::<Value>().await.unwrap()["code"], "idempotency-key-reused");
    // The key is per tenant: another tenant's same key is a new job of its own.
    let mut theirs = stage_body(&s, &format!("{run}-2"), &s.prefix2).await;
    theirs["source_uri"] = body["source_uri"].clone();
    let r = post(&s.key2, Some(&run), &theirs).await.unwrap();
    assert_eq!(r.status(), 202);
    let theirs: Value = r.json().await.unwrap();
    assert_ne!(theirs["jobId"], first["jobId"]);
    let bad = post(&s.key, Some("has spaces"), &body).await.unwrap();
    assert_eq!(bad.status(), 400);

    let id = first["jobId"].as_str().unwrap();
    let job = s.wait_done(id).await;
    assert_eq!(job["status"], "COMPLETED", "{job:#}");

    // GET /jobs lists the tenant's jobs, newest first, with filters; never another's.
    let list = |key: &str, q: &str| s.http.get(format!("{}/jobs{q}", s.edge)).bearer_auth(key).send();
    let mine: Value = list(&s.key, "?limit=50").await.unwrap().json().await.unwrap();
    let ids: Vec<&str> = mine["jobs"].as_array().unwrap().iter().map(|j| j["jobId"].as_str().unwrap()).collect();
    assert!(ids.contains(&id), "{mine:#}");
    assert!(!ids.contains(&theirs["jobId"].as_str().unwrap()));
    let completed: Value = list(&s.key, "?status=COMPLETED&limit=100").await.unwrap().json().await.unwrap();
    assert!(completed["jobs"].as_array().unwrap().iter().all(|j| j["status"] == "COMPLETED"));
    assert!(completed["jobs"].as_array().unwrap().iter().any(|j| j["jobId"] == id), "{completed:#}");
    let r = list(&s.key, "?limit=0&status=DONE").await.unwrap();
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["details"].as_array().unwrap().len(), 2, "{e}");
    let theirs_list: Value = list(&s.key2, "").await.unwrap().json().await.unwrap();
    assert!(theirs_list["jobs"].as_array().unwrap().iter().all(|j| j["jobId"] != id));
    assert_eq!(list("agk_nope", "").await.unwrap().status(), 401);

    // Queue stats: counts by status for this tenant, slots, and the GPU backend.
    let stats: Value =
        s.http.get(format!("{}/queue/stats", s.edge)).header("x-api-key", &s.key).send().await.unwrap().json().await.unwrap();
    assert_eq!(stats["tenant"], "dev");
    assert!(stats["counts"]["COMPLETED"].as_u64().unwrap() >= 1, "{stats:#}");
    assert_eq!(stats["max_concurrent_jobs"], 4);
    assert_eq!(stats["gpu_backend"]["reachable"], true, "{stats:#}");
    assert!(stats["gpu_backend"]["workers"].is_object(), "{stats:#}");

    // The rate limit (2 per minute for this tenant): the third request is 429 with Retry-After.
    let key3 = std::env::var("API_KEY_3").unwrap();
    let prefix3 = std::env::var("TENANT_PREFIX_3").unwrap();
    let mut codes = vec![];
    let mut retry_after = None;
    for i in 0..3 {
        let mut b = body.clone();
        b["dest_uri"] = json!(format!("r2://{prefix3}staged/{run}/{i}.bin"));
        let r = post(&key3, None, &b).await.unwrap();
        codes.push(r.status().as_u16());
        if r.status() == 429 {
            retry_after = r.headers().get("retry-after").map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
            assert_eq!(r.json::<Value>().await.unwrap()["code"], "rate-limited");
        }
    }
    assert_eq!(codes, [202, 202, 429]);
    assert!(retry_after.is_some_and(|s| (1..=60).contains(&s)), "{retry_after:?}");
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn client_webhook_is_signed_and_retried_until_delivered() {
    let s = stack();
    let secret = std::env::var("WEBHOOK_SECRET").unwrap();
    let hook = common::hook_receiver(vec![500, 500, 200]).await;
    let run = unique("hook");
    let mut body = stage_body(&s, &run, &s.prefix).await;
    body["webhook_url"] = json!(hook.url);
    body["id_roteiro"] = json!(9);
    let (status, job) = s.post("/objects/stage", Some(&s.key), &body).await;
    assert_eq!(status, 202, "{job}");
    let id = job["jobId"].as_str().unwrap().to_owned();
    let start = std::time::Instant::now();
    while hook.got.lock().unwrap().len() < 3 {
        assert!(start.elapsed() < std::time::Duration::from_secs(90), "webhook attempts: {}", hook.got.lock().unwrap().len());
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let got = hook.got.lock().unwrap().clone();
    let msg_id = got[0].header("webhook-id").unwrap().to_owned();
    for r in &got {
        // The same message id on every attempt; each signature verifies.
        assert_eq!(r.header("webhook-id"), Some(msg_id.as_str()));
        let ts: i64 = r.header("webhook-timestamp").unwrap().parse().unwrap();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        assert!((now - ts).abs() < 120, "timestamp {ts}");
        let want = edge::webhook::sign(&secret, &msg_id, ts, &r.body).unwrap();
        assert_eq!(r.header("webhook-signature"), Some(want.signature.as_str()), "signature over id.timestamp.body");
        let payload: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!((payload["jobId"].as_str(), payload["status"].as_str()), (Some(id.as_str()), Some("COMPLETED")));
        assert_eq!(payload["idRoteiro"], 9);
    }
    // A signature made with another tenant's secret does not verify.
    let other = std::env::var("WEBHOOK_SECRET_2").unwrap();
    let ts: i64 = got[2].header("webhook-timestamp").unwrap().parse().unwrap();
    assert_ne!(
        got[2].header("webhook-signature"),
        Some(edge::webhook::sign(&other, &msg_id, ts, &got[2].body).unwrap().signature.as_str())
    );

    // Every attempt is on the job.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let (_, job) = s.get_job(&id, &s.key).await;
    let w = &job["webhook"];
    assert_eq!(w["delivered"], true, "{job:#}");
    let codes: Vec<u64> = w["attempts"].as_array().unwrap().iter().map(|a| a["statusCode"].as_u64().unwrap()).collect();
    assert_eq!(codes, [500, 500, 200], "{job:#}");
    assert!(w.get("nextAttemptAt").is_none());
    // Three attempts only: nothing more arrives.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(hook.got.lock().unwrap().len(), 3);

    // Webhook targets are checked like inputs.
    let mut bad = body.clone();
    bad["webhook_url"] = json!("http://10.1.2.3/hook");
    let (status, err) = s.post("/objects/stage", Some(&s.key), &bad).await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["details"][0]["field"], "webhook_url");
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn progress_webhooks_come_while_the_job_runs_at_most_every_five_seconds_then_the_final_one() {
    use std::time::Duration;
    let s = stack();
    let secret = std::env::var("WEBHOOK_SECRET").unwrap();
    let hook = common::hook_receiver(vec![200]).await;
    let plain = common::hook_receiver(vec![200]).await;
    let run = unique("progress-hooks");
    let key = s.test_image(&run, "1280x720").await;
    let body = |url: &str, events: Option<Value>| {
        // Long enough a render (several seconds) for more than one progress delivery.
        let mut b =
            json!({"images": [{"image_url": format!("r2://{key}"), "duracao": 8}], "width": 960, "height": 540, "webhook_url": url});
        if let Some(e) = events {
            b["webhook_events"] = e;
        }
        b
    };
    let (status, job) = s.post("/video/img2vid", Some(&s.key), &body(&hook.url, Some(json!(["progress", "completed"])))).await;
    assert_eq!(status, 202, "{job}");
    let id = job["jobId"].as_str().unwrap().to_owned();
    let (status, other) = s.post("/video/img2vid", Some(&s.key), &body(&plain.url, None)).await;
    assert_eq!(status, 202, "{other}");
    let done = s.wait_done(&id).await;
    assert_eq!(done["status"], "COMPLETED", "{done:#}");
    assert_eq!(s.wait_done(other["jobId"].as_str().unwrap()).await["status"], "COMPLETED");
    tokio::time::sleep(Duration::from_secs(2)).await;

    let got = hook.got.lock().unwrap().clone();
    let parsed: Vec<(String, Value)> =
        got.iter().map(|r| (r.header("webhook-id").unwrap().to_owned(), serde_json::from_str(&r.body).unwrap())).collect();
    for (r, (msg_id, payload)) in got.iter().zip(&parsed) {
        eprintln!("{msg_id} {} {}", payload["status"], payload["progress"]);
        // Each delivery is signed with the tenant's secret over its own id.
        let ts: i64 = r.header("webhook-timestamp").unwrap().parse().unwrap();
        let want = edge::webhook::sign(&secret, msg_id, ts, &r.body).unwrap();
        assert_eq!(r.header("webhook-signature"), Some(want.signature.as_str()));
        assert_eq!(payload["jobId"].as_str(), Some(id.as_str()));
    }
    // Progress while it ran, each with its own id, then exactly one final delivery, last.
    let (last, progress) = parsed.split_last().unwrap();
    assert_eq!((last.0.as_str(), last.1["status"].as_str()), (format!("msg_{id}").as_str(), Some("COMPLETED")));
    assert!(progress.len() >= 2, "progress deliveries: {}", progress.len());
    for (n, (msg_id, payload)) in progress.iter().enumerate() {
        assert_eq!(msg_id, &format!("msg_{id}_progress_{}", n + 1));
        let st = payload["status"].as_str().unwrap();
        assert!(["QUEUED", "SUBMITTED", "PROCESSING"].contains(&st), "{payload:#}");
    }
    assert!(
        progress
            .iter()
            .any(|(_, p)| p["status"] == "PROCESSING" && p["progress"]["percentage"].as_f64().is_some_and(|x| x > 0.0 && x < 100.0)),
        "a delivery shows the render under way"
    );
    // At most one per 5 s (arrival times; the edge's clock decides, so allow 0.5 s).
    for w in got[..progress.len()].windows(2) {
        let gap = w[1].at - w[0].at;
        assert!(gap >= Duration::from_millis(4_500), "progress deliveries {gap:?} apart");
    }
    // Without webhook_events: the final delivery only.
    let plain = plain.got.lock().unwrap().clone();
    assert_eq!(plain.len(), 1, "{:?}", plain.iter().map(|r| r.header("webhook-id")).collect::<Vec<_>>());
    assert_eq!(serde_json::from_str::<Value>(&plain[0].body).unwrap()["status"], "COMPLETED");

    // An unknown event, or events with nowhere to go, are 400s.
    let mut bad = body(&hook.url, Some(json!(["progress", "started"])));
    let (status, err) = s.post("/video/img2vid", Some(&s.key), &bad).await;
    assert_eq!((status, err["details"][0]["field"].as_str()), (400, Some("webhook_events[1]")), "{err}");
    bad = body(&hook.url, Some(json!(["progress"])));
    bad.as_object_mut().unwrap().remove("webhook_url");
    let (status, err) = s.post("/video/img2vid", Some(&s.key), &bad).await;
    assert_eq!((status, err["details"][0]["code"].as_str()), (400, Some("requires-webhook-url")), "{err}");
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn a_big_batch_fans_out_and_merges_in_order() {
    let s = stack();
    let dir = tempfile_dir();
    let run = unique("fan");
    let img = dir.join("i.png");
    ffmpeg(&["-f", "lavfi", "-i", "testsrc2=s=320x240", "-frames:v", "1", img.to_str().unwrap()]);
    let key = format!("{}inputs/{run}/i.png", s.prefix);
    s.upload(&key, &img).await;
    // FANOUT_CLIPS=2 locally: five clips become three RunPod jobs (the tenant may run 4).
    let images: Vec<Value> = (1..=5).map(|i| json!({"id": format!("c{i}"), "image_url": format!("r2://{key}"), "duracao": 0.5})).collect();
    let (status, job) = s.post("/video/img2vid", Some(&s.key), &json!({"images": images, "width": 320, "height": 240})).await;
    assert_eq!(status, 202, "{job}");
    let job = s.wait_done(job["jobId"].as_str().unwrap()).await;
    assert_eq!(job["status"], "COMPLETED", "{job:#}");
    assert_eq!(job["result"]["parts"], 3, "{job:#}");
    let videos = job["result"]["videos"].as_array().unwrap();
    let ids: Vec<&str> = videos.iter().map(|v| v["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["c1", "c2", "c3", "c4", "c5"]);
    for (i, v) in videos.iter().enumerate() {
        assert_eq!(v["filename"], format!("video_{}.mp4", i + 1));
        assert_eq!(v["frames"], 12);
        let r = s.http.get(v["video_url"].as_str().unwrap()).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn cancel_a_running_job() {
    let s = stack();
    let run = unique("cancel");
    let key = s.test_image(&run, "1280x720").await;
    let (status, job) =
        s.post("/video/img2vid", Some(&s.key), &json!({"images": [{"image_url": format!("r2://{key}"), "duracao": 120}]})).await;
    assert_eq!(status, 202, "{job}");
    let id = job["jobId"].as_str().unwrap().to_owned();
    let start = std::time::Instant::now();
    loop {
        let (_, job) = s.get_job(&id, &s.key).await;
        if job["status"] == "PROCESSING" {
            break;
        }
        assert!(start.elapsed() < std::time::Duration::from_secs(60), "{job:#}");
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    // Another tenant cannot cancel it.
    let r = s.http.post(format!("{}/jobs/{id}/cancel", s.edge)).header("x-api-key", &s.key2).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let r = s.http.post(format!("{}/jobs/{id}/cancel", s.edge)).header("x-api-key", &s.key).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let job: Value = r.json().await.unwrap();
    assert_eq!(job["status"], "CANCELLED", "{job:#}");
    assert_eq!(job["error"]["code"], "cancelled");
    // It stays cancelled (late RunPod answers change nothing), and the backend stopped it.
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    let (_, job) = s.get_job(&id, &s.key).await;
    assert_eq!(job["status"], "CANCELLED", "{job:#}");
    assert!(job["result"].is_null());
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn openapi_cors_and_security_headers() {
    let s = stack();
    let r = s.http.get(format!("{}/openapi.json", s.edge)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert!(r.headers().contains_key("x-request-id"));
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    for p in ["/video/img2vid", "/video/caption_style", "/jobs/{jobId}", "/jobs", "/queue/stats"] {
        assert!(doc["paths"].get(p).is_some(), "{p} missing");
    }
    let pre = |origin: &'static str| {
        s.http
            .request(reqwest::Method::OPTIONS, format!("{}/video/img2vid", s.edge))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .send()
    };
    let ok = pre("http://localhost:3000").await.unwrap();
    assert_eq!(ok.status(), 204);
    assert_eq!(ok.headers()["access-control-allow-origin"], "http://localhost:3000");
    assert!(ok.headers()["access-control-allow-headers"].to_str().unwrap().contains("idempotency-key"));
    let no = pre("https://evil.example").await.unwrap();
    assert!(no.headers().get("access-control-allow-origin").is_none());
    let r = s.http.get(format!("{}/", s.edge)).header("origin", "http://localhost:3000").send().await.unwrap();
    assert_eq!(r.headers()["access-control-allow-origin"], "http://localhost:3000");
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn worker_progress_shows_on_the_job_within_a_second() {
    use std::time::{Duration, Instant};
    let s = stack();
    let run = unique("progress");
    let key = s.test_image(&run, "1280x720").await;
    let body = json!({"images": [{"image_url": format!("r2://{key}"), "duracao": 8}], "width": 1280, "height": 720});
    let (status, job) = s.post("/video/img2vid", Some(&s.key), &body).await;
    assert_eq!(status, 202, "{job}");
    let id = job["jobId"].as_str().unwrap().to_owned();

    // Every change of status or progress, as a client polling every 100 ms sees it.
    let start = Instant::now();
    let mut changes: Vec<(Duration, String, Value)> = vec![];
    let job = loop {
        let (_, job) = s.get_job(&id, &s.key).await;
        let status = job["status"].as_str().unwrap().to_owned();
        if changes.last().is_none_or(|(_, st, p)| (st, p) != (&status, &job["progress"])) {
            changes.push((start.elapsed(), status.clone(), job["progress"].clone()));
        }
        if ["COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"].contains(&status.as_str()) {
            break job;
        }
        assert!(start.elapsed() < Duration::from_secs(240), "{job:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(job["status"], "COMPLETED", "{job:#}");
    let running: Vec<&(Duration, String, Value)> =
        changes.iter().filter(|(_, st, p)| st == "PROCESSING" && p["percentage"].as_f64().is_some_and(|x| x > 0.0 && x < 100.0)).collect();
    for (t, st, p) in &changes {
        eprintln!("{:6.2} s {st} {p}", t.as_secs_f64());
    }
    assert!(running.len() >= 3, "PROCESSING with 0 < percentage < 100 seen {} times", running.len());
    // The edge polls the backend every 3 s (STATUS_POLL_SECS): progress that changes about
    // every second on the job object can only come from the worker's own reports.
    let mut gaps: Vec<f64> = running.windows(2).map(|w| (w[1].0 - w[0].0).as_secs_f64()).collect();
    gaps.sort_by(f64::total_cmp);
    let median = gaps[gaps.len() / 2];
    eprintln!("progress changes while rendering: {}, median gap {median:.2} s, gaps {gaps:.2?}", running.len());
    assert!(median < 2.0, "progress changed every {median:.2} s: only as often as the status polls");

    // The progress URL's token is its own: the completion webhook's token, another job's,
    // a guess are refused; the right one for an ended job changes nothing.
    let secret = common::edge_env("WEBHOOK_TOKEN_SECRET");
    let report = json!({"stage": "render", "completed": 1, "total": 2, "percentage": 50.0});
    let post = |token: String, query: &str, body: Value| {
        s.http.post(format!("{}/internal/progress/{id}/{token}{query}", s.edge)).json(&body).send()
    };
    let q = "?part=0&attempt=1";
    for token in [edge::token::job_token(&secret, &id), edge::token::progress_token(&secret, &"b".repeat(64)), "0".repeat(64)] {
        assert_eq!(post(token, q, report.clone()).await.unwrap().status(), 401);
    }
    let token = edge::token::progress_token(&secret, &id);
    assert_eq!(post(token.clone(), "", report.clone()).await.unwrap().status(), 400, "no part and attempt");
    assert_eq!(post(token.clone(), q, json!({"stage": 1})).await.unwrap().status(), 400, "not a progress object");
    assert_eq!(post(token, q, report).await.unwrap().status(), 204);
    let (_, after) = s.get_job(&id, &s.key).await;
    assert_eq!((after["status"].as_str(), after["progress"]["stage"].as_str()), (Some("COMPLETED"), Some("done")), "{after:#}");
}
