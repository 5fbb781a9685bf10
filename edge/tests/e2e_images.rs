//! End to end: `/image/prompts` and `/image/generate` run by the real edge under
//! `wrangler dev` against loopback stand-ins of OpenRouter and Runware that answer in
//! their documented shapes — success, 401, 429 with `Retry-After`, HTTP 200 carrying an
//! error body (OpenRouter), Runware's `errors[]` scoped to one task, malformed JSON —
//! and the chain prompts → images → img2vid on the generated images.
//!
//! The stand-ins ([`common::provider_stub`]) are served by this test binary on
//! `PROVIDER_STUB_PORT`, where the stack's edge was told to find them (`PROVIDER_STUB=1
//! scripts/dev.sh`, as `make test-e2e` runs it). Each test tags its requests (`RUN=…`,
//! `SCENARIO=…` in the script or the prompts) so the stand-ins pick its scenario and count
//! its calls alone.
//!
//! `#[ignore]`d in a plain `cargo test`; `make test` runs them against a fresh stack.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::provider_stub::{keys, stub};
use common::{Stack, ffprobe, stack, tempfile_dir, unique};
use serde_json::{Value, json};

async fn submit(s: &Stack, path: &str, body: &Value) -> Value {
    let (status, job) = s.post(path, Some(&s.key), body).await;
    assert_eq!(status, 202, "{job:#}");
    let job = s.wait_done(job["jobId"].as_str().unwrap()).await;
    let (openrouter_key, runware_key) = keys();
    let text = job.to_string();
    assert!(!text.contains(&openrouter_key) && !text.contains(&runware_key), "a provider key in a job object: {text}");
    job
}

fn prompts_body(run: &str, scenario: &str, scenes: u32) -> Value {
    json!({
        "cenas": (0..scenes).map(|i| json!({"index": i, "texto": format!("Scene {i}: the keeper climbs the lighthouse stairs.")})).collect::<Vec<_>>(),
        "estilo": "oil painting",
        "detalhe_estilo": "muted blues, heavy brush strokes",
        "roteiro": format!("RUN={run}; SCENARIO={scenario}; A keeper tends a lighthouse through one stormy night."),
        "agente": "You write one image prompt per scene.",
    })
}

fn images_body(run: &str, scenario: &str, prompts: &[(u32, &str)]) -> Value {
    json!({
        "prompts": prompts.iter().map(|(i, p)| json!({"index": i, "prompt": format!("{p} RUN={run} SCENARIO={scenario}")})).collect::<Vec<_>>(),
        "image_model": "runware:101@1",
        "altura": 320,
        "largura": 512,
        "path": format!("e2e-images/{run}"),
    })
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn prompts_then_images_then_img2vid() {
    let s = stack();
    let stub = stub();
    let (openrouter_key, runware_key) = keys();
    let run = unique("chain");

    // The seed's route and field names.
    let job = submit(&s, "/vps/imagem/gerarPrompts", &prompts_body(&run, "ok", 3)).await;
    assert_eq!(job["status"], "COMPLETED", "{job:#}");
    assert_eq!(job["operation"], "image/prompts");
    let r = &job["result"];
    let want: Vec<Value> = (0..3).map(|i| json!({"index": i, "prompt": format!("a cinematic picture of scene {i}")})).collect();
    assert_eq!(r["prompts"], json!(want), "sorted by index: {r:#}");
    assert_eq!(r["stats"], json!({"totalScenes": 3, "promptsGenerated": 3, "successRate": "100.0%"}));
    assert_eq!(r["usage"], json!({"prompt_tokens": 500, "completion_tokens": 120, "total_tokens": 620, "calls": 1}));
    assert_eq!(r["failed"], json!([]));
    // One call for every scene, the script sent once, the key in the header only.
    let calls = stub.calls(&run, "/openrouter/chat/completions");
    assert_eq!(calls.len(), 1, "{calls:#?}");
    let c = &calls[0];
    assert_eq!(c.authorization, format!("Bearer {openrouter_key}"));
    assert_eq!(c.body["model"], "stub/model");
    assert_eq!(c.body["response_format"]["type"], "json_schema");
    assert_eq!(c.body["messages"][0]["content"], "You write one image prompt per scene.");
    let user = c.body["messages"][1]["content"].as_str().unwrap();
    assert_eq!(user.matches("A keeper tends a lighthouse").count(), 1);
    assert!((0..3).all(|i| user.contains(&format!("[scene {i}]"))));

    // The prompts as they came, into /image/generate (its seed alias).
    let prompts: Vec<(u32, String)> = r["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["index"].as_u64().unwrap() as u32, p["prompt"].as_str().unwrap().to_owned()))
        .collect();
    let pairs: Vec<(u32, &str)> = prompts.iter().map(|(i, p)| (*i, p.as_str())).collect();
    let job = submit(&s, "/vps/imagem/gerarImagens", &images_body(&run, "ok", &pairs)).await;
    assert_eq!(job["status"], "COMPLETED", "{job:#}");
    let images = job["result"]["images"].as_array().unwrap().clone();
    assert_eq!(images.iter().map(|i| i["index"].as_u64().unwrap()).collect::<Vec<_>>(), vec![0, 1, 2]);
    assert_eq!(job["result"]["stats"], json!({"totalPrompts": 3, "imagesGenerated": 3, "successRate": "100.0%"}));
    let calls = stub.calls(&run, "/runware");
    assert_eq!(calls.len(), 1, "three images, one request");
    assert_eq!(calls[0].authorization, format!("Bearer {runware_key}"));
    let tasks = calls[0].body.as_array().unwrap();
    assert_eq!(tasks.len(), 3);
    assert_eq!(
        (tasks[0]["taskType"].as_str(), tasks[0]["width"].as_u64(), tasks[0]["height"].as_u64()),
        (Some("imageInference"), Some(512), Some(320))
    );
    assert_eq!(tasks.iter().map(|t| t["taskUUID"].as_str().unwrap()).collect::<BTreeSet<_>>().len(), 3, "a task id per image");
    for img in &images {
        let i = img["index"].as_u64().unwrap();
        // Stored in the tenant's space under `path`: our URL, not the provider's.
        assert_eq!(img["s3_key"].as_str().unwrap(), format!("{}e2e-images/{run}/image_{i}.jpg", s.prefix));
        assert_eq!((img["width"].as_u64(), img["height"].as_u64()), (Some(512), Some(320)));
        let url = img["image_url"].as_str().unwrap();
        assert!(url.starts_with(&s.s3.endpoint), "{url}");
        let bytes = s.http.get(url).send().await.unwrap().bytes().await.unwrap();
        assert_eq!(bytes.as_ref(), stub.jpeg.as_slice(), "image {i} is the generated one");
    }

    // The images into img2vid by their keys, `index` as `id`.
    let body = json!({
        "images": images.iter().map(|i| json!({"id": i["index"], "image_url": format!("r2://{}", i["s3_key"].as_str().unwrap()), "duracao": 0.5})).collect::<Vec<_>>(),
        "path": format!("e2e-images/{run}/clips"),
    });
    let job = submit(&s, "/video/img2vid", &body).await;
    assert_eq!(job["status"], "COMPLETED", "{job:#}");
    let videos = job["result"]["videos"].as_array().unwrap();
    assert_eq!(videos.iter().map(|v| v["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>(), vec!["0", "1", "2"]);
    let dir = tempfile_dir();
    let file = dir.join("clip.mp4");
    std::fs::write(&file, s.http.get(videos[0]["video_url"].as_str().unwrap()).send().await.unwrap().bytes().await.unwrap()).unwrap();
    assert_eq!(ffprobe(&file)["streams"][0]["nb_read_packets"], "12", "0.5 s at 24 fps");
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn a_scene_missing_from_the_answer_is_asked_again_alone() {
    let s = stack();
    let stub = stub();
    let run = unique("missing");
    let job = submit(&s, "/image/prompts", &prompts_body(&run, "missing", 4)).await;
    assert_eq!(job["status"], "COMPLETED", "{job:#}");
    assert_eq!(job["result"]["prompts"].as_array().unwrap().len(), 4);
    assert_eq!(job["result"]["usage"]["calls"], 2);
    let calls = stub.calls(&run, "/openrouter/chat/completions");
    assert_eq!(calls.len(), 2);
    let second = calls[1].body["messages"][1]["content"].as_str().unwrap();
    assert!(second.contains("[scene 3]") && !second.contains("[scene 0]") && !second.contains("[scene 2]"), "{second}");
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn openrouter_429_is_retried_after_retry_after() {
    let s = stack();
    let stub = stub();
    let run = unique("or429");
    let job = submit(&s, "/image/prompts", &prompts_body(&run, "ratelimit", 2)).await;
    assert_eq!(job["status"], "COMPLETED", "{job:#}");
    let calls = stub.calls(&run, "/openrouter/chat/completions");
    assert_eq!(calls.len(), 2);
    let gap = calls[1].at - calls[0].at;
    assert!(gap >= Duration::from_millis(1900), "Retry-After: 2 honoured: {gap:?}");
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn openrouter_error_body_with_http_200_is_an_error_and_retried() {
    let s = stack();
    let stub = stub();
    let run = unique("or200");
    let job = submit(&s, "/image/prompts", &prompts_body(&run, "error200", 2)).await;
    assert_eq!(job["status"], "COMPLETED", "{job:#}");
    assert_eq!(stub.calls(&run, "/openrouter/chat/completions").len(), 2);
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn a_provider_that_does_not_answer_in_time_is_asked_again() {
    let s = stack();
    let stub = stub();
    let run = unique("orslow");
    let job = submit(&s, "/image/prompts", &prompts_body(&run, "slow", 2)).await;
    assert_eq!(job["status"], "COMPLETED", "{job:#}");
    let calls = stub.calls(&run, "/openrouter/chat/completions");
    assert_eq!(calls.len(), 2, "the first call was given up after PROVIDER_TIMEOUT_SECS");
    let gap = calls[1].at - calls[0].at;
    assert!(gap >= Duration::from_secs(10) && gap < Duration::from_secs(16), "{gap:?}");
    assert_eq!(job["result"]["usage"]["calls"], 1, "only answers count tokens");
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn openrouter_401_fails_the_job_at_once() {
    let s = stack();
    let stub = stub();
    let run = unique("or401");
    let job = submit(&s, "/image/prompts", &prompts_body(&run, "auth", 2)).await;
    assert_eq!(job["status"], "FAILED", "{job:#}");
    assert_eq!(job["error"]["code"], "provider-auth-failed");
    assert_eq!(job["error"]["details"]["failed"].as_array().unwrap().len(), 2);
    assert_eq!(stub.calls(&run, "/openrouter/chat/completions").len(), 1, "a bad key is not retried");
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn openrouter_malformed_answers_fail_after_the_bounded_retries() {
    let s = stack();
    let stub = stub();
    let run = unique("orbad");
    let job = submit(&s, "/image/prompts", &prompts_body(&run, "malformed", 2)).await;
    assert_eq!(job["status"], "FAILED", "{job:#}");
    assert_eq!(job["error"]["code"], "provider-bad-answer");
    assert_eq!(stub.calls(&run, "/openrouter/chat/completions").len(), 4, "PROVIDER_MAX_ATTEMPTS");
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn runware_errors_for_one_task_are_listed_and_the_rest_completes() {
    let s = stack();
    let stub = stub();
    let run = unique("rwpartial");
    let job =
        submit(&s, "/image/generate", &images_body(&run, "partial", &[(1, "a lighthouse"), (2, "REFUSE this one"), (3, "a storm")])).await;
    assert_eq!(job["status"], "COMPLETED", "{job:#}");
    let r = &job["result"];
    assert_eq!(r["images"].as_array().unwrap().iter().map(|i| i["index"].as_u64().unwrap()).collect::<Vec<_>>(), vec![1, 3]);
    assert_eq!(r["failed"][0]["index"], 2);
    assert_eq!(r["failed"][0]["code"], "provider-refused");
    assert!(r["failed"][0]["message"].as_str().unwrap().contains("invalidPositivePrompt"));
    assert_eq!(r["stats"]["successRate"], "66.7%");
    assert_eq!(stub.calls(&run, "/runware").len(), 1, "a refused prompt is not asked again");
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn runware_429_is_retried_after_retry_after() {
    let s = stack();
    let stub = stub();
    let run = unique("rw429");
    let job = submit(&s, "/image/generate", &images_body(&run, "ratelimit", &[(0, "a lighthouse")])).await;
    assert_eq!(job["status"], "COMPLETED", "{job:#}");
    let calls = stub.calls(&run, "/runware");
    assert_eq!(calls.len(), 2);
    assert!(calls[1].at - calls[0].at >= Duration::from_millis(1900), "Retry-After: 2 honoured");
    assert_ne!(calls[0].body[0]["taskUUID"], calls[1].body[0]["taskUUID"], "each attempt its own task id");
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn runware_malformed_answer_is_retried() {
    let s = stack();
    let stub = stub();
    let run = unique("rwbad");
    let job = submit(&s, "/image/generate", &images_body(&run, "malformed", &[(0, "a lighthouse")])).await;
    assert_eq!(job["status"], "COMPLETED", "{job:#}");
    assert_eq!(stub.calls(&run, "/runware").len(), 2);
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn runware_401_and_every_image_refused_fail_the_job() {
    let s = stack();
    let stub = stub();
    let run = unique("rw401");
    let job = submit(&s, "/image/generate", &images_body(&run, "auth", &[(0, "a lighthouse"), (1, "a storm")])).await;
    assert_eq!(job["status"], "FAILED", "{job:#}");
    assert_eq!(job["error"]["code"], "provider-auth-failed");
    assert_eq!(stub.calls(&run, "/runware").len(), 1);

    let run = unique("rwrefuse");
    let job = submit(&s, "/image/generate", &images_body(&run, "refuse-all", &[(0, "a lighthouse"), (1, "a storm")])).await;
    assert_eq!(job["status"], "FAILED", "{job:#}");
    assert_eq!(job["error"]["code"], "provider-refused");
    assert_eq!(job["error"]["details"]["failed"].as_array().unwrap().len(), 2);
}
