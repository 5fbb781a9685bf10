//! End to end: `/video/transcribe_youtube` (and its seed alias) through the real edge and
//! the real worker of the local stack, against a loopback YouTube that speaks the
//! innertube player endpoint and timedtext in their documented shapes: the four files
//! land in the tenant's space and read back as a user would; YouTube's refusals fail the
//! job with their codes; a URL that names no video is refused before any job exists.
//!
//! The stand-in is served by this test binary on `YOUTUBE_STUB_PORT`, where the stack's
//! worker was told YouTube is (`YOUTUBE_BASE_URL=http://127.0.0.1:$YOUTUBE_STUB_PORT` in
//! the worker's environment). The video id picks the scenario.
//!
//! `#[ignore]`d in a plain `cargo test`; run it against a fresh stack.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::OnceLock;

use common::{Stack, stack, unique};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

const MANUAL: &str = "manualTrk01";
const ASR: &str = "asrTrack002";
const PRIVATE: &str = "privateVid3";

fn port() -> u16 {
    std::env::var("YOUTUBE_STUB_PORT")
        .expect("YOUTUBE_STUB_PORT is not set: run with YOUTUBE_BASE_URL=http://127.0.0.1:$YOUTUBE_STUB_PORT in the stack's environment")
        .parse()
        .unwrap()
}

/// The stand-in, started once per test binary on its own thread and runtime.
fn youtube() {
    static STARTED: OnceLock<()> = OnceLock::new();
    STARTED.get_or_init(|| {
        let listener = std::net::TcpListener::bind(("127.0.0.1", port())).expect("bind YOUTUBE_STUB_PORT");
        listener.set_nonblocking(true).unwrap();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                loop {
                    let Ok((sock, _)) = listener.accept().await else { continue };
                    tokio::spawn(serve(sock));
                }
            });
        });
    });
}

async fn serve(sock: tokio::net::TcpStream) {
    let mut r = BufReader::new(sock);
    let mut line = String::new();
    if r.read_line(&mut line).await.unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or("").to_owned(), parts.next().unwrap_or("").to_owned());
    let mut len = 0;
    loop {
        line.clear();
        if r.read_line(&mut line).await.unwrap_or(0) == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.trim_end().split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            len = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).await.unwrap();
    let (status, answer) = route(&method, &target, &body);
    let text = answer.to_string();
    let head =
        format!("HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", text.len());
    let sock = r.get_mut();
    let _ = sock.write_all(head.as_bytes()).await;
    let _ = sock.write_all(text.as_bytes()).await;
    let _ = sock.shutdown().await;
}

fn track(id: &str, lang: &str, asr: bool) -> Value {
    let kind = if asr { "&kind=asr" } else { "" };
    let mut t = json!({
        "baseUrl": format!("http://127.0.0.1:{}/api/timedtext?v={id}&lang={lang}{kind}&xosf=1&fmt=srv3", port()),
        "name": {"simpleText": lang},
        "vssId": format!("{}.{lang}", if asr { "a" } else { "" }),
        "languageCode": lang,
    });
    if asr {
        t["kind"] = json!("asr");
    }
    t
}

fn route(method: &str, target: &str, body: &[u8]) -> (u16, Value) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    match (method, path) {
        ("POST", "/youtubei/v1/player") => {
            let req: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
            let id = req["videoId"].as_str().unwrap_or_default();
            let details = json!({"videoId": id, "title": format!("Video {id}"), "lengthSeconds": "30"});
            let tracks = match id {
                MANUAL => vec![track(id, "en", false), track(id, "en", true)],
                ASR => vec![track(id, "pt", true)],
                PRIVATE => {
                    return (200, json!({"playabilityStatus": {"status": "LOGIN_REQUIRED", "reason": "This video is private"}}));
                }
                _ => return (200, json!({"playabilityStatus": {"status": "ERROR", "reason": "Video unavailable"}})),
            };
            (
                200,
                json!({"playabilityStatus": {"status": "OK"}, "videoDetails": details,
                       "captions": {"playerCaptionsTracklistRenderer": {"captionTracks": tracks}}}),
            )
        }
        ("GET", "/api/timedtext") => {
            if !query.contains("fmt=json3") || query.contains("xosf") {
                return (400, json!({"error": "not json3"}));
            }
            if query.contains("kind=asr") {
                (
                    200,
                    json!({"events": [
                        {"tStartMs": 0, "dDurationMs": 30000, "id": 1},
                        {"tStartMs": 500, "dDurationMs": 3000, "segs": [{"utf8": "olá"}, {"utf8": " mundo", "tOffsetMs": 600}]},
                        {"tStartMs": 2000, "dDurationMs": 10, "aAppend": 1, "segs": [{"utf8": "\n"}]},
                        {"tStartMs": 2100, "dDurationMs": 2000, "segs": [{"utf8": "tudo"}, {"utf8": " bem", "tOffsetMs": 400}]},
                    ]}),
                )
            } else {
                (
                    200,
                    json!({"events": [
                        {"tStartMs": 1000, "dDurationMs": 2000, "segs": [{"utf8": "Hello there,\nworld."}]},
                        {"tStartMs": 3500, "dDurationMs": 1500, "segs": [{"utf8": "Second line."}]},
                    ]}),
                )
            }
        }
        _ => (404, json!({"error": "no such route"})),
    }
}

async fn submit(s: &Stack, path: &str, body: &Value) -> Value {
    youtube();
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
