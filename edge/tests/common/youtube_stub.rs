//! A loopback YouTube for the end-to-end tests: the innertube player endpoint and
//! timedtext in their documented shapes, served by the test binary on
//! `YOUTUBE_STUB_PORT`, where the stack's worker was told YouTube is
//! (`YOUTUBE_BASE_URL=http://127.0.0.1:$YOUTUBE_STUB_PORT`, as `PROVIDER_STUB=1
//! scripts/dev.sh` sets it). The video id picks the scenario: [`MANUAL`] and [`SEED`] (the
//! seed's documented example) have a manual English track and an auto-generated one,
//! [`ASR`] an auto-generated Portuguese one, [`PRIVATE`] is private, any other id is
//! unavailable.

use std::sync::OnceLock;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};

/// Manual English captions (and an auto-generated English track beside them).
pub const MANUAL: &str = "manualTrk01";
/// The video of the seed's `/vps/video/transcribe_youtube` example: as [`MANUAL`].
pub const SEED: &str = "dQw4w9WgXcQ";
/// Auto-generated Portuguese captions only, with word timings.
pub const ASR: &str = "asrTrack002";
/// Private: the player answers LOGIN_REQUIRED.
pub const PRIVATE: &str = "privateVid3";

pub fn port() -> u16 {
    std::env::var("YOUTUBE_STUB_PORT")
        .expect("YOUTUBE_STUB_PORT is not set: run with YOUTUBE_BASE_URL=http://127.0.0.1:$YOUTUBE_STUB_PORT in the stack's environment")
        .parse()
        .unwrap()
}

/// The stand-in, started once per test binary on its own thread and runtime (each test
/// has its own runtime; the server outlives them).
pub fn start() {
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
    let Some((method, target, headers)) = super::read_head(&mut r).await else { return };
    let len = super::content_length(&headers);
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
                MANUAL | SEED => vec![track(id, "en", false), track(id, "en", true)],
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
