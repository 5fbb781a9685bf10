//! End to end: `/video/transcribe_youtube` (and its seed alias) through the real edge and
//! the real worker of the local stack, against a loopback YouTube that speaks the
//! innertube player endpoint and timedtext in their documented shapes: the four files
//! land in the tenant's space and read back as a user would; YouTube's refusals fail the
//! job with their codes; a URL that names no video is refused before any job exists.
//!
//! The stand-in ([`common::youtube_stub`]) is served by this test binary on
//! `YOUTUBE_STUB_PORT`, where the stack's worker was told YouTube is
//! (`YOUTUBE_BASE_URL=http://127.0.0.1:$YOUTUBE_STUB_PORT` in the worker's environment).
//! The video id picks the scenario.
//!
//! `#[ignore]`d in a plain `cargo test`; run it against a fresh stack.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::youtube_stub::{self, ASR, MANUAL, PRIVATE};
use common::{Stack, stack, unique};
use serde_json::{Value, json};

async fn submit(s: &Stack, path: &str, body: &Value) -> Value {
    youtube_stub::start();
    let (status, job) = s.post(path, Some(&s.key), body).await;
    assert_eq!(status, 202, "{job:#}");
    s.wait_done(job["jobId"].as_str().unwrap()).await
}

async fn download(s: &Stack, url: &str) -> String {
    let resp = s.http.get(url).send().await.unwrap();
    assert_eq!(resp.status(), 200, "{url}");
    resp.text().await.unwrap()
}

#[tokio::test]
#[ignore = "needs the local stack with YOUTUBE_BASE_URL on YOUTUBE_STUB_PORT"]
async fn manual_captions_land_in_the_tenants_space() {
    let s = stack();
    let path = unique("yt");
    let job = submit(
        &s,
        "/vps/video/transcribe_youtube",
        &json!({"url": format!("https://www.youtube.com/watch?v={MANUAL}&t=3s"), "path": path, "id_roteiro": 7}),
    )
    .await;
    assert_eq!(job["status"], "COMPLETED", "{job:#}");
    assert_eq!(job["operation"], "video/transcribe_youtube");
    assert_eq!(job["idRoteiro"], 7);
    let r = &job["result"];
    assert_eq!((r["video_id"].as_str(), r["track"].as_str(), r["language"].as_str()), (Some(MANUAL), Some("manual"), Some("en")));
    assert_eq!(
        (r["title"].as_str(), r["word_timings"].as_bool(), r["duration"].as_f64()),
        (Some("Video manualTrk01"), Some(false), Some(30.0))
    );
    assert_eq!(r["transcription"], "Hello there, world. Second line.");
    assert_eq!(r["s3_keys"]["segments"]["srt"], format!("{}{path}/segments.srt", s.prefix));
    let srt = download(&s, r["files"]["segments"]["srt"].as_str().unwrap()).await;
    assert_eq!(srt, "1\n00:00:01,000 --> 00:00:03,000\nHello there, world.\n\n2\n00:00:03,500 --> 00:00:05,000\nSecond line.\n");
    assert_eq!(download(&s, r["files"]["words"]["json"].as_str().unwrap()).await, r#"{"words":[]}"#);
    let segments: Value = serde_json::from_str(&download(&s, r["files"]["segments"]["json"].as_str().unwrap()).await).unwrap();
    assert_eq!(segments[1]["text"], "Second line.");
    assert!(download(&s, r["files"]["words"]["ass_karaoke"].as_str().unwrap()).await.starts_with("[Script Info]"));
}

#[tokio::test]
#[ignore = "needs the local stack with YOUTUBE_BASE_URL on YOUTUBE_STUB_PORT"]
async fn auto_generated_captions_have_word_timings() {
    let s = stack();
    let job = submit(&s, "/video/transcribe_youtube", &json!({"url": format!("https://youtu.be/{ASR}"), "language": "pt-BR"})).await;
    assert_eq!(job["status"], "COMPLETED", "{job:#}");
    let r = &job["result"];
    assert_eq!((r["track"].as_str(), r["word_timings"].as_bool()), (Some("asr"), Some(true)));
    let words: Value = serde_json::from_str(&download(&s, r["files"]["words"]["json"].as_str().unwrap()).await).unwrap();
    let words: Vec<(&str, f64, f64)> = words["words"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (w["word"].as_str().unwrap(), w["start"].as_f64().unwrap(), w["end"].as_f64().unwrap()))
        .collect();
    // The first line is cut where the second starts (2.1 s).
    assert_eq!(words, [("olá", 0.5, 1.1), ("mundo", 1.1, 2.1), ("tudo", 2.1, 2.5), ("bem", 2.5, 4.1)]);
    let ass = download(&s, r["files"]["words"]["ass_karaoke"].as_str().unwrap()).await;
    assert!(ass.contains("Dialogue:") && ass.contains("mundo"), "{ass}");
}

#[tokio::test]
#[ignore = "needs the local stack with YOUTUBE_BASE_URL on YOUTUBE_STUB_PORT"]
async fn refusals_fail_the_job_with_their_codes() {
    let s = stack();
    let job = submit(&s, "/video/transcribe_youtube", &json!({"url": PRIVATE})).await;
    assert_eq!((job["status"].as_str(), job["error"]["code"].as_str()), (Some("FAILED"), Some("video-unavailable")), "{job:#}");
    assert!(job["error"]["message"].as_str().unwrap().contains("This video is private"), "{job:#}");
    let job = submit(&s, "/video/transcribe_youtube", &json!({"url": MANUAL, "language": "fr"})).await;
    assert_eq!(job["error"]["code"], "no-captions-in-language", "{job:#}");
    assert!(job["error"]["message"].as_str().unwrap().contains("en, en (asr)"), "{job:#}");
}

#[tokio::test]
#[ignore = "needs the local stack"]
async fn a_url_naming_no_video_is_refused_before_a_job() {
    let s = stack();
    for (url, code) in [("https://vimeo.com/123", "invalid-youtube-url"), ("https://www.youtube.com/watch?v=short", "invalid-video-id")] {
        let (status, body) = s.post("/vps/video/transcribe_youtube", Some(&s.key), &json!({"url": url, "language": "Portuguese"})).await;
        assert_eq!(status, 400, "{body:#}");
        let details: Vec<(&str, &str)> =
            body["details"].as_array().unwrap().iter().map(|d| (d["field"].as_str().unwrap(), d["code"].as_str().unwrap())).collect();
        assert_eq!(details, [("url", code), ("language", "invalid-language")]);
    }
}
