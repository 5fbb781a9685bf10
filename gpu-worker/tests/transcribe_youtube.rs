//! `/video/transcribe_youtube` as a worker job, through `Executor::execute`, against a
//! loopback YouTube: an in-process server speaking the innertube player endpoint
//! (`POST /youtubei/v1/player`) and timedtext (`GET /api/timedtext`) in their documented
//! shapes, each test scripting what it answers per client. The four files go to an
//! in-process storage server through PUT URLs and are read back. Every error code of the
//! operation has a test here, and so does `YOUTUBE_PROXY` (the requests reach YouTube's
//! host only through the proxy) and the fallback to the second client.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use common::Env;
use gpu_worker::config::{Config, YoutubeConfig};
use job_spec::worker::{ImagePromptsTask, OutputTarget, TranscribeTask, TranscribeYoutubeTask};
use job_spec::{Progress, Task, WorkerError, WorkerJob, WorkerOutput};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const VIDEO: &str = "dQw4w9WgXcQ";

/// What the fake answers.
#[derive(Clone)]
enum Reply {
    Json(Value),
    Status(u16, String),
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        match self {
            Reply::Json(v) => (StatusCode::OK, axum::Json(v)).into_response(),
            Reply::Status(s, body) => (StatusCode::from_u16(s).unwrap(), body).into_response(),
        }
    }
}

/// The loopback YouTube: player answers by client name (absent: the `*` entry), tracks
/// by `lang` (+ `kind`), and every request it got.
#[derive(Clone, Default)]
struct Fake {
    player: Arc<Mutex<HashMap<String, Reply>>>,
    tracks: Arc<Mutex<HashMap<String, Reply>>>,
    player_calls: Arc<Mutex<Vec<PlayerCall>>>,
    /// The query string of each timedtext request.
    track_calls: Arc<Mutex<Vec<String>>>,
}

/// (client name, User-Agent, X-YouTube-Client-Name, body) of a player request.
type PlayerCall = (String, String, String, Value);

async fn player(State(f): State<Fake>, headers: HeaderMap, body: Bytes) -> Reply {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let client = body["context"]["client"]["clientName"].as_str().unwrap_or_default().to_owned();
    let header = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    f.player_calls.lock().unwrap().push((client.clone(), header("user-agent"), header("x-youtube-client-name"), body));
    let answers = f.player.lock().unwrap();
    answers.get(&client).or_else(|| answers.get("*")).cloned().unwrap_or(Reply::Status(500, "unscripted".into()))
}

async fn timedtext(State(f): State<Fake>, RawQuery(q): RawQuery) -> Reply {
    let q = q.unwrap_or_default();
    f.track_calls.lock().unwrap().push(q.clone());
    let pairs: HashMap<String, String> = url::form_urlencoded::parse(q.as_bytes()).into_owned().collect();
    let key = format!("{}{}", pairs.get("lang").cloned().unwrap_or_default(), if pairs.contains_key("kind") { ":asr" } else { "" });
    f.tracks.lock().unwrap().get(&key).cloned().unwrap_or(Reply::Status(404, String::new()))
}

impl Fake {
    async fn start() -> (Fake, String) {
        let f = Fake::default();
        let app = Router::new().route("/youtubei/v1/player", post(player)).route("/api/timedtext", get(timedtext)).with_state(f.clone());
        let base = common::spawn_server(app).await;
        (f, base)
    }

    fn answer(&self, client: &str, r: Reply) {
        self.player.lock().unwrap().insert(client.into(), r);
    }

    fn track(&self, key: &str, r: Reply) {
        self.tracks.lock().unwrap().insert(key.into(), r);
    }
}

/// A track entry as the player lists it; `origin` is where its baseUrl points.
fn track(origin: &str, lang: &str, asr: bool) -> Value {
    let kind = if asr { "&kind=asr" } else { "" };
    let mut t = json!({
        "baseUrl": format!("{origin}/api/timedtext?v={VIDEO}&ei=x&caps=asr&opi=1&xoaf=5&xosf=1&hl=en&ip=0.0.0.0&sparams=ip,ipbits&lang={lang}{kind}&fmt=srv3"),
        "name": {"runs": [{"text": if asr { format!("{lang} (auto-generated)") } else { lang.to_owned() }}]},
        "vssId": if asr { format!("a.{lang}") } else { format!(".{lang}") },
        "languageCode": lang,
        "isTranslatable": true,
    });
    if asr {
        t["kind"] = json!("asr");
    }
    t
}

fn playable(tracks: Vec<Value>) -> Reply {
    let mut v = json!({
        "responseContext": {},
        "playabilityStatus": {"status": "OK", "playableInEmbed": true},
        "videoDetails": {"videoId": VIDEO, "title": "Never Gonna Give You Up", "lengthSeconds": "212", "author": "Rick Astley"},
    });
    if !tracks.is_empty() {
        v["captions"] =
            json!({"playerCaptionsTracklistRenderer": {"captionTracks": tracks, "audioTracks": [{"captionTrackIndices": [0]}]}});
    }
    Reply::Json(v)
}

fn refused(status: &str, reason: &str) -> Reply {
    Reply::Json(json!({"playabilityStatus": {"status": status, "reason": reason, "errorScreen": {}}}))
}

fn manual_json3() -> Reply {
    Reply::Json(json!({"wireMagic": "pb3", "pens": [{}], "events": [
        {"tStartMs": 0, "dDurationMs": 212000, "id": 1, "wpWinPosId": 1, "wsWinStyleId": 1},
        {"tStartMs": 18800, "dDurationMs": 2200, "segs": [{"utf8": "♪ We're no strangers\nto love ♪"}]},
        {"tStartMs": 22640, "dDurationMs": 4000, "segs": [{"utf8": "♪ You know the rules\nand so do I ♪"}]},
    ]}))
}

fn asr_json3() -> Reply {
    Reply::Json(json!({"wireMagic": "pb3", "events": [
        {"tStartMs": 0, "dDurationMs": 212000, "id": 1, "wWinId": 1},
        {"tStartMs": 1360, "dDurationMs": 3040, "wWinId": 1, "segs": [
            {"utf8": "nunca", "acAsrConf": 0}, {"utf8": " vou", "tOffsetMs": 480, "acAsrConf": 0},
            {"utf8": " desistir", "tOffsetMs": 800, "acAsrConf": 0}]},
        {"tStartMs": 3190, "dDurationMs": 1210, "wWinId": 1, "aAppend": 1, "segs": [{"utf8": "\n"}]},
        {"tStartMs": 3200, "dDurationMs": 3000, "wWinId": 1, "segs": [
            {"utf8": "de"}, {"utf8": " você", "tOffsetMs": 320}]},
    ]}))
}

async fn env_for(base: &str, adjust: impl FnOnce(YoutubeConfig) -> YoutubeConfig) -> Env {
    let yt = adjust(YoutubeConfig { base_url: url::Url::parse(base).unwrap(), ..YoutubeConfig::default() });
    common::env_with(|c| Config { youtube: yt, ..c }).await
}

fn job(e: &Env, task: Task) -> WorkerJob {
    WorkerJob {
        progress_url: None,
        job_id: "youtube-test".into(),
        attempt: 1,
        inputs: vec![],
        outputs: TranscribeTask::OUTPUTS
            .iter()
            .map(|(name, file)| OutputTarget {
                name: (*name).into(),
                key: format!("t/acme/yt/{file}"),
                put_url: e.storage.url(&format!("out/{file}")),
                content_type: job_spec::media::content_type_for(file).into(),
            })
            .collect(),
        task,
    }
}

async fn run(e: &Env, language: Option<&str>) -> (Result<WorkerOutput, WorkerError>, Vec<String>) {
    let task = Task::TranscribeYoutube(TranscribeYoutubeTask { video_id: VIDEO.into(), language: language.map(Into::into) });
    run_task(e, task).await
}

async fn run_task(e: &Env, task: Task) -> (Result<WorkerOutput, WorkerError>, Vec<String>) {
    let stages = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = stages.clone();
    let progress = Arc::new(move |p: Progress| {
        let mut s = seen.lock().unwrap();
        if s.last() != Some(&p.stage) {
            s.push(p.stage);
        }
    });
    let r = e.exec.execute(&job(e, task), progress, &CancellationToken::new()).await.map_err(|e| e.to_worker_error());
    assert_eq!(std::fs::read_dir(e.dir.path().join("work")).unwrap().count(), 0, "the job's work dir is removed");
    let stages = stages.lock().unwrap().clone();
    (r, stages)
}

fn file(e: &Env, name: &str) -> String {
    String::from_utf8(e.storage.get(&format!("out/{name}")).unwrap_or_else(|| panic!("{name} uploaded"))).unwrap()
}

/// The video's own manual track (English, beside its ASR one): the four files, no word
/// timings, the result's facts; asked as yt-dlp's ANDROID client; json3 without `xosf`.
#[tokio::test]
async fn manual_track_becomes_the_four_files() {
    let (f, base) = Fake::start().await;
    f.answer("ANDROID", playable(vec![track(&base, "de", false), track(&base, "en", false), track(&base, "en", true)]));
    f.track("en", manual_json3());
    let e = env_for(&base, |y| y).await;
    let (out, stages) = run(&e, None).await;
    let out = out.unwrap();
    assert_eq!(stages, ["player", "captions", "write", "upload"]);
    assert_eq!(
        file(&e, "segments.srt"),
        "1\n00:00:18,800 --> 00:00:21,000\n♪ We're no strangers to love ♪\n\n2\n00:00:22,640 --> 00:00:26,640\n♪ You know the rules and so do I ♪\n"
    );
    assert_eq!(file(&e, "words.json"), r#"{"words":[]}"#);
    let segments: Value = serde_json::from_str(&file(&e, "segments.json")).unwrap();
    assert_eq!(segments.as_array().unwrap().len(), 2);
    assert!(file(&e, "karaoke.ass").starts_with("[Script Info]"));
    let x = &out.extras;
    assert_eq!(
        (x["video_id"].as_str(), x["title"].as_str(), x["language"].as_str(), x["track"].as_str(), x["word_timings"].as_bool()),
        (Some(VIDEO), Some("Never Gonna Give You Up"), Some("en"), Some("manual"), Some(false))
    );
    assert_eq!(x["duration"], 212.0);
    assert_eq!(x["transcription"], "♪ We're no strangers to love ♪ ♪ You know the rules and so do I ♪");
    assert_eq!(x["available_languages"], json!(["de", "en", "en (asr)"]));
    let mut names: Vec<&str> = out.outputs.iter().map(|o| o.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["karaoke_ass", "segments_json", "segments_srt", "words_json"]);
    for k in ["player", "captions", "write", "upload", "total"] {
        assert!(out.timings_ms.contains_key(k), "{k}: {:?}", out.timings_ms);
    }
    // One player request, as the ANDROID client.
    let calls = f.player_calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 1);
    let (client, agent, number, body) = &calls[0];
    assert_eq!((client.as_str(), number.as_str()), ("ANDROID", "3"));
    assert_eq!(agent, "com.google.android.youtube/21.02.35 (Linux; U; Android 11) gzip");
    assert_eq!((body["videoId"].as_str(), body["context"]["client"]["clientVersion"].as_str()), (Some(VIDEO), Some("21.02.35")));
    // The track in json3, its other parameters kept, `xosf` and the old `fmt` gone.
    let q = f.track_calls.lock().unwrap().clone();
    assert_eq!(q.len(), 1);
    assert!(q[0].ends_with("&fmt=json3") && q[0].contains("lang=en") && !q[0].contains("xosf") && !q[0].contains("srv3"), "{}", q[0]);
}

/// A language asked for that only has an auto-generated track: its words are timed.
#[tokio::test]
async fn asr_track_in_the_language_asked_for_has_word_timings() {
    let (f, base) = Fake::start().await;
    f.answer("ANDROID", playable(vec![track(&base, "en", false), track(&base, "pt", true)]));
    f.track("pt:asr", asr_json3());
    let e = env_for(&base, |y| y).await;
    let out = run(&e, Some("pt-BR")).await.0.unwrap();
    assert_eq!((out.extras["track"].as_str(), out.extras["language"].as_str()), (Some("asr"), Some("pt")));
    assert_eq!(out.extras["word_timings"], true);
    let words: Value = serde_json::from_str(&file(&e, "words.json")).unwrap();
    let words: Vec<(String, f64, f64)> = words["words"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (w["word"].as_str().unwrap().to_owned(), w["start"].as_f64().unwrap(), w["end"].as_f64().unwrap()))
        .collect();
    assert_eq!(
        words,
        [
            ("nunca".into(), 1.36, 1.84),
            ("vou".into(), 1.84, 2.16),
            ("desistir".into(), 2.16, 3.2),
            ("de".into(), 3.2, 3.52),
            ("você".into(), 3.52, 6.2),
        ]
    );
    // The rolling first line is cut where the second starts.
    assert!(file(&e, "segments.srt").starts_with("1\n00:00:01,360 --> 00:00:03,200\nnunca vou desistir\n"), "{}", file(&e, "segments.srt"));
    let ass = file(&e, "karaoke.ass");
    assert!(ass.contains("Dialogue:") && ass.contains("desistir"), "{ass}");
}

/// HTTP 400 for the first client (its version retired), or no tracks: the second client.
#[tokio::test]
async fn falls_back_to_the_second_client() {
    let (f, base) = Fake::start().await;
    f.answer(
        "ANDROID",
        Reply::Status(400, r#"{"error":{"code":400,"message":"Precondition check failed.","status":"FAILED_PRECONDITION"}}"#.into()),
    );
    f.answer("ANDROID_VR", playable(vec![track(&base, "en", true)]));
    f.track("en:asr", asr_json3());
    let e = env_for(&base, |y| y).await;
    let out = run(&e, None).await.0.unwrap();
    assert_eq!(out.extras["client"], "ANDROID_VR 1.71.26");
    let calls = f.player_calls.lock().unwrap().clone();
    assert_eq!(calls.iter().map(|c| (c.0.as_str(), c.2.as_str())).collect::<Vec<_>>(), [("ANDROID", "3"), ("ANDROID_VR", "28")]);
    assert!(calls[1].1.starts_with("com.google.android.apps.youtube.vr.oculus/1.71.26 "), "{}", calls[1].1);

    // No tracks for the first client: the second one lists them.
    f.answer("ANDROID", playable(vec![]));
    assert!(run(&e, None).await.0.is_ok());
    // Configured versions are the ones sent.
    let e = env_for(&base, |mut y| {
        y.client.version = "99.01.1".into();
        y.fallback = None;
        y
    })
    .await;
    f.answer("ANDROID", playable(vec![track(&base, "en", true)]));
    assert!(run(&e, None).await.0.is_ok());
    let last = f.player_calls.lock().unwrap().last().cloned().unwrap();
    assert_eq!(last.3["context"]["client"]["clientVersion"], "99.01.1");
}

async fn failure(f: &Fake, base: &str, language: Option<&str>, script: impl FnOnce(&Fake)) -> WorkerError {
    f.player.lock().unwrap().clear();
    f.tracks.lock().unwrap().clear();
    script(f);
    let e = env_for(base, |y| y).await;
    let (r, _) = run(&e, language).await;
    let err = r.unwrap_err();
    assert!(e.storage.objects.lock().unwrap().is_empty(), "{}: nothing uploaded", err.code);
    err
}

/// Every refusal has its code, YouTube's reason in the message, and the right retryability.
#[tokio::test]
async fn every_refusal_has_its_code() {
    let (f, base) = Fake::start().await;
    let b = base.clone();

    let e = failure(&f, &base, None, |f| f.answer("*", refused("ERROR", "Video unavailable"))).await;
    assert_eq!((e.code.as_str(), e.retryable), ("video-unavailable", false));
    assert!(e.message.contains("Video unavailable"), "{}", e.message);
    let e = failure(&f, &base, None, |f| f.answer("*", refused("LOGIN_REQUIRED", "This video is private"))).await;
    assert_eq!(e.code, "video-unavailable");
    assert!(e.message.contains("This video is private"), "{}", e.message);

    let e = failure(&f, &base, None, |f| f.answer("*", refused("LOGIN_REQUIRED", "Sign in to confirm your age"))).await;
    assert_eq!((e.code.as_str(), e.retryable), ("age-restricted", false));
    assert!(e.message.contains("Sign in to confirm your age"), "{}", e.message);

    let e = failure(&f, &base, None, |f| f.answer("*", refused("LOGIN_REQUIRED", "Sign in to confirm you’re not a bot"))).await;
    assert_eq!((e.code.as_str(), e.retryable), ("request-blocked", true));
    assert!(e.message.contains("not a bot") && e.message.contains("YOUTUBE_PROXY"), "{}", e.message);
    let e = failure(&f, &base, None, |f| f.answer("*", Reply::Status(429, "Too Many Requests".into()))).await;
    assert_eq!((e.code.as_str(), e.retryable), ("request-blocked", true));
    assert!(e.message.contains("429"), "{}", e.message);
    // A block on the caption track itself.
    let e = failure(&f, &base, None, |f| {
        f.answer("*", playable(vec![track(&b, "en", false)]));
        f.track("en", Reply::Status(429, "<html>Our systems have detected unusual traffic</html>".into()));
    })
    .await;
    assert_eq!((e.code.as_str(), e.retryable), ("request-blocked", true));

    // Playable, no tracks from either client.
    let e = failure(&f, &base, None, |f| f.answer("*", playable(vec![]))).await;
    assert_eq!((e.code.as_str(), e.retryable), ("captions-disabled", false));
    assert_eq!(f.player_calls.lock().unwrap().iter().rev().take(2).map(|c| c.0.clone()).collect::<Vec<_>>(), ["ANDROID_VR", "ANDROID"]);

    let e = failure(&f, &base, Some("fr"), |f| f.answer("*", playable(vec![track(&b, "en", false), track(&b, "es", true)]))).await;
    assert_eq!((e.code.as_str(), e.retryable), ("no-captions-in-language", false));
    assert!(e.message.contains("`fr`") && e.message.contains("en, es (asr)"), "{}", e.message);

    // HTTP 400 from both clients, an answer that is not JSON, a track that is not json3.
    let e = failure(&f, &base, None, |f| f.answer("*", Reply::Status(400, "Precondition check failed.".into()))).await;
    assert_eq!((e.code.as_str(), e.retryable), ("upstream-changed", false));
    assert!(e.message.contains("HTTP 400") && e.message.contains("YOUTUBE_CLIENT_VERSION"), "{}", e.message);
    let e = failure(&f, &base, None, |f| f.answer("*", Reply::Status(200, "<html>consent</html>".into()))).await;
    assert_eq!(e.code, "upstream-changed");
    let e = failure(&f, &base, None, |f| {
        f.answer("*", playable(vec![track(&b, "en", false)]));
        f.track("en", Reply::Status(200, "<?xml version=\"1.0\"?><timedtext/>".into()));
    })
    .await;
    assert_eq!(e.code, "upstream-changed");

    // A track marked for a PO token, and one that comes back empty.
    let e = failure(&f, &base, None, |f| {
        let mut t = track(&b, "en", false);
        t["baseUrl"] = json!(format!("{b}/api/timedtext?v={VIDEO}&lang=en&exp=xpe"));
        f.answer("*", playable(vec![t]));
    })
    .await;
    assert_eq!((e.code.as_str(), e.retryable), ("po-token-required", false));
    let e = failure(&f, &base, None, |f| {
        f.answer("*", playable(vec![track(&b, "en", false)]));
        f.track("en", Reply::Status(200, String::new()));
    })
    .await;
    assert_eq!(e.code, "po-token-required");

    // YouTube down: retried later.
    let e = failure(&f, &base, None, |f| f.answer("*", Reply::Status(503, "Service Unavailable".into()))).await;
    assert_eq!((e.code.as_str(), e.retryable), ("youtube-unreachable", true));
    let e = failure(&f, &base, None, |f| {
        f.answer("*", playable(vec![track(&b, "en", false)]));
        f.track("en", Reply::Status(502, String::new()));
    })
    .await;
    assert_eq!((e.code.as_str(), e.retryable), ("youtube-unreachable", true));
    // A track on a host that is not YouTube's is not fetched.
    let before = f.track_calls.lock().unwrap().len();
    let e = failure(&f, &base, None, |f| {
        let mut t = track(&b, "en", false);
        t["baseUrl"] = json!("http://169.254.169.254/latest/meta-data?lang=en");
        f.answer("*", playable(vec![t]));
    })
    .await;
    assert_eq!(e.code, "upstream-changed");
    assert_eq!(f.track_calls.lock().unwrap().len(), before);
}

/// With `YOUTUBE_PROXY`, both requests go through the proxy: YouTube's host here does not
/// resolve, so only a proxy that forwards them can answer (the fake serves as that proxy,
/// reading the absolute-form requests a proxy gets).
#[tokio::test]
async fn requests_go_through_youtube_proxy() {
    let (f, proxy) = Fake::start().await;
    let youtube = "http://www.youtube.invalid";
    f.answer("ANDROID", playable(vec![track(youtube, "en", false)]));
    f.track("en", manual_json3());
    let e = env_for(youtube, |mut y| {
        y.proxy = Some(proxy.clone());
        y
    })
    .await;
    let out = run(&e, None).await.0.unwrap();
    assert_eq!(out.extras["track"], "manual");
    assert_eq!((f.player_calls.lock().unwrap().len(), f.track_calls.lock().unwrap().len()), (1, 1));
    // Without the proxy the same host cannot be reached: retryable, and says so.
    let e = env_for(youtube, |y| y).await;
    let err = run(&e, None).await.0.unwrap_err();
    assert_eq!((err.code.as_str(), err.retryable), ("youtube-unreachable", true));
    // A proxy that is down is named in the message.
    let e = env_for(youtube, |mut y| {
        y.proxy = Some("http://127.0.0.1:9".into());
        y
    })
    .await;
    let err = run(&e, None).await.0.unwrap_err();
    assert!(err.message.contains("YOUTUBE_PROXY"), "{}", err.message);
}

/// A minimal SOCKS5 proxy (no authentication, CONNECT only) that connects every request,
/// whatever host it names, to `upstream`; counts the connections it made.
async fn socks5_proxy(upstream: std::net::SocketAddr) -> (String, Arc<Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hosts = Arc::new(Mutex::new(Vec::new()));
    let seen = hosts.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut c, _)) = listener.accept().await else { return };
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut head = [0u8; 2];
                c.read_exact(&mut head).await.unwrap();
                let mut methods = vec![0u8; usize::from(head[1])];
                c.read_exact(&mut methods).await.unwrap();
                c.write_all(&[5, 0]).await.unwrap();
                let mut req = [0u8; 4];
                c.read_exact(&mut req).await.unwrap();
                assert_eq!(req[..2], [5, 1], "a CONNECT");
                let host = match req[3] {
                    1 => {
                        let mut ip = [0u8; 4];
                        c.read_exact(&mut ip).await.unwrap();
                        std::net::Ipv4Addr::from(ip).to_string()
                    }
                    3 => {
                        let mut n = [0u8; 1];
                        c.read_exact(&mut n).await.unwrap();
                        let mut name = vec![0u8; usize::from(n[0])];
                        c.read_exact(&mut name).await.unwrap();
                        String::from_utf8(name).unwrap()
                    }
                    other => panic!("address type {other}"),
                };
                let mut port = [0u8; 2];
                c.read_exact(&mut port).await.unwrap();
                seen.lock().unwrap().push(format!("{host}:{}", u16::from_be_bytes(port)));
                let mut up = tokio::net::TcpStream::connect(upstream).await.unwrap();
                c.write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0]).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut c, &mut up).await;
            });
        }
    });
    (format!("socks5h://{addr}"), hosts)
}

/// A SOCKS5 `YOUTUBE_PROXY`: the host name is resolved by the proxy (`socks5h`), so
/// YouTube's host needs no DNS here.
#[tokio::test]
async fn requests_go_through_a_socks5_proxy() {
    let (f, fake) = Fake::start().await;
    let upstream: std::net::SocketAddr = fake.trim_start_matches("http://").parse().unwrap();
    let (proxy, hosts) = socks5_proxy(upstream).await;
    let youtube = "http://www.youtube.invalid";
    f.answer("ANDROID", playable(vec![track(youtube, "en", true)]));
    f.track("en:asr", asr_json3());
    let e = env_for(youtube, |mut y| {
        y.proxy = Some(proxy.clone());
        y
    })
    .await;
    let out = run(&e, None).await.0.unwrap();
    assert_eq!(out.extras["track"], "asr");
    let hosts = hosts.lock().unwrap().clone();
    assert!(!hosts.is_empty() && hosts.iter().all(|h| h == "www.youtube.invalid:80"), "{hosts:?}");
}

/// The image operations run in the API: a worker given one refuses it for good.
#[tokio::test]
async fn edge_tasks_are_refused_for_good() {
    let (_f, base) = Fake::start().await;
    let e = env_for(&base, |y| y).await;
    let task = Task::ImagePrompts(ImagePromptsTask { scenes: vec![], style: None, style_detail: None, script: None, agent: None });
    let err = run_task(&e, task).await.0.unwrap_err();
    assert_eq!((err.code.as_str(), err.retryable), ("wrong-runner", false));
    assert!(err.message.contains("image/prompts"), "{}", err.message);
    // A task whose id is not a video id never reaches YouTube.
    let bad = Task::TranscribeYoutube(TranscribeYoutubeTask { video_id: "https://youtu.be/x".into(), language: None });
    assert_eq!(run_task(&e, bad).await.0.unwrap_err().code, "invalid-task");
}
