//! `/video/transcribe_youtube` in the worker: YouTube's own captions of a video, without a
//! browser and without the audio.
//!
//! 1. `POST <YOUTUBE_BASE_URL>/youtubei/v1/player` as a mobile innertube client
//!    (`YOUTUBE_CLIENT`, `YOUTUBE_CLIENT_VERSION`: yt-dlp's `android` entry by default).
//!    An HTTP 400 (the client's version retired) or an answer listing no caption track is
//!    asked again as the second client (`YOUTUBE_FALLBACK_CLIENT`: `android_vr`).
//! 2. The track: [`job_spec::youtube::choose_track`]; its `baseUrl` with `fmt=json3`
//!    ([`job_spec::youtube::json3_url`]).
//! 3. json3 → [`job_spec::youtube_captions::parse_json3`] → the four files of
//!    `/audio/transcribe` ([`crate::ops::transcribe::files`]) → the job's PUT URLs.
//!
//! Both requests go through `YOUTUBE_PROXY` when it is set. What YouTube refuses is read
//! by job-spec into a stable code; this module adds `youtube-unreachable` (the network or
//! a 5xx: retried). The worker holds no storage credential: the files go to the presigned
//! PUT URLs of the job, as every output does.
//!
//! Stages (timed, reported as progress): `player`, `captions`, `write`, `upload`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use job_spec::worker::TranscribeYoutubeTask;
use job_spec::youtube::{self, CaptionTrack, PlayerAnswer, YoutubeProblem};
use job_spec::youtube_captions::{Captions, parse_json3};
use job_spec::{Progress, WorkerJob, WorkerOutput, transcript};
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use crate::config::{YoutubeClient, YoutubeConfig};
use crate::error::JobError;
use crate::executor::{Executor, ProgressFn, elapsed_ms};

/// The player answer is small (tens of KiB); a json3 track of a 6-hour video is a few MiB.
const MAX_PLAYER_BYTES: usize = 8 << 20;
const MAX_CAPTION_BYTES: usize = 32 << 20;

/// The `context.client` object and the User-Agent of an innertube client. The two
/// mobile clients yt-dlp uses get their device fields; any other name is sent bare.
pub fn client_context(c: &YoutubeClient) -> (Value, String) {
    let mut ctx = json!({ "clientName": c.name, "clientVersion": c.version, "hl": "en", "gl": "US" });
    let agent = match c.name.as_str() {
        "ANDROID" => {
            for (k, v) in [("androidSdkVersion", json!(30)), ("osName", json!("Android")), ("osVersion", json!("11"))] {
                ctx[k] = v;
            }
            format!("com.google.android.youtube/{} (Linux; U; Android 11) gzip", c.version)
        }
        "ANDROID_VR" => {
            for (k, v) in [
                ("deviceMake", json!("Oculus")),
                ("deviceModel", json!("Quest 3")),
                ("androidSdkVersion", json!(32)),
                ("osName", json!("Android")),
                ("osVersion", json!("12L")),
            ] {
                ctx[k] = v;
            }
            format!(
                "com.google.android.apps.youtube.vr.oculus/{} (Linux; U; Android 12L; eureka-user Build/SQ3A.220605.009.A1) gzip",
                c.version
            )
        }
        _ => format!("api-gpu-worker/{}", env!("CARGO_PKG_VERSION")),
    };
    ctx["userAgent"] = json!(agent);
    (ctx, agent)
}

/// innertube's numeric client id (`X-YouTube-Client-Name`), for the clients it is known of.
fn client_number(name: &str) -> Option<u32> {
    Some(match name {
        "WEB" => 1,
        "MWEB" => 2,
        "ANDROID" => 3,
        "IOS" => 5,
        "TVHTML5" => 7,
        "ANDROID_VR" => 28,
        _ => return None,
    })
}

/// The player request's body.
pub fn player_body(c: &YoutubeClient, video_id: &str) -> Value {
    json!({ "context": { "client": client_context(c).0 }, "videoId": video_id, "contentCheckOk": true, "racyCheckOk": true })
}

/// What went wrong asking YouTube: one of job-spec's problems, or the network / a 5xx.
#[derive(Debug)]
enum Failure {
    Youtube(YoutubeProblem),
    Unreachable(String),
    Cancelled,
}

impl From<YoutubeProblem> for Failure {
    fn from(p: YoutubeProblem) -> Self {
        Failure::Youtube(p)
    }
}

impl Failure {
    fn job_error(self) -> JobError {
        match self {
            Failure::Youtube(p) => JobError::Youtube { code: p.code(), message: p.message(), retryable: p.is_retryable() },
            Failure::Unreachable(m) => JobError::Youtube { code: "youtube-unreachable", message: m, retryable: true },
            Failure::Cancelled => JobError::Cancelled,
        }
    }
}

/// An HTTP status that is not 200, read as YouTube means it: 429 (and 403, its other
/// refusal of an address) is a block; 5xx is YouTube down (retried); any other is an
/// answer this version does not expect.
fn status_failure(what: &str, status: reqwest::StatusCode, body: &str) -> Failure {
    let said: String = body.chars().filter(|c| !c.is_control()).take(300).collect();
    let lower = said.to_lowercase();
    match status.as_u16() {
        429 | 403 => Failure::Youtube(YoutubeProblem::RequestBlocked(format!("the {what} answered HTTP {status}"))),
        _ if lower.contains("captcha") || lower.contains("unusual traffic") => {
            Failure::Youtube(YoutubeProblem::RequestBlocked(format!("the {what} answered HTTP {status} with a bot check")))
        }
        500..=599 => Failure::Unreachable(format!("YouTube's {what} answered HTTP {status}; tried again later")),
        _ => Failure::Youtube(YoutubeProblem::UpstreamChanged(format!("the {what} answered HTTP {status}: {said}"))),
    }
}

/// The HTTP client for YouTube: `YOUTUBE_PROXY` or no proxy at all (not the
/// environment's: what the requests go through is this setting's business only).
fn youtube_http(cfg: &YoutubeConfig, timeout: Duration) -> Result<reqwest::Client, JobError> {
    let b = reqwest::Client::builder().connect_timeout(timeout).read_timeout(timeout).timeout(timeout * 3);
    let b = match &cfg.proxy {
        Some(p) => b.proxy(reqwest::Proxy::all(p).map_err(|e| JobError::Internal(format!("YOUTUBE_PROXY: {e}")))?),
        None => b.no_proxy(),
    };
    b.build().map_err(|e| JobError::Internal(format!("YouTube HTTP client: {e}")))
}

/// Reads a body up to `limit` bytes.
async fn read_limited(resp: reqwest::Response, limit: usize, what: &str) -> Result<Vec<u8>, Failure> {
    use futures_util::StreamExt;
    let mut body = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| Failure::Unreachable(format!("reading YouTube's {what}: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(YoutubeProblem::UpstreamChanged(format!("the {what} is larger than {limit} bytes")).into());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn network(what: &str, proxy: bool, e: &reqwest::Error) -> Failure {
    let via = if proxy { " through YOUTUBE_PROXY" } else { "" };
    Failure::Unreachable(format!("YouTube's {what} could not be reached{via}: {e}"))
}

struct Asker<'a> {
    http: reqwest::Client,
    cfg: &'a YoutubeConfig,
    cancel: &'a CancellationToken,
}

impl Asker<'_> {
    /// One player request as client `c`.
    async fn player(&self, c: &YoutubeClient, video_id: &str) -> Result<PlayerAnswer, Failure> {
        let url = self.cfg.base_url.join("youtubei/v1/player?prettyPrint=false").map_err(|e| Failure::Unreachable(e.to_string()))?;
        let (_, agent) = client_context(c);
        let mut req = self
            .http
            .post(url)
            .header(reqwest::header::USER_AGENT, agent)
            .header("X-YouTube-Client-Version", &c.version)
            .json(&player_body(c, video_id));
        if let Some(n) = client_number(&c.name) {
            req = req.header("X-YouTube-Client-Name", n.to_string());
        }
        let send = async {
            let resp = req.send().await.map_err(|e| network("player endpoint", self.cfg.proxy.is_some(), &e))?;
            let status = resp.status();
            let body = read_limited(resp, MAX_PLAYER_BYTES, "player answer").await?;
            if status != reqwest::StatusCode::OK {
                return Err(status_failure("player endpoint", status, &String::from_utf8_lossy(&body)));
            }
            Ok(youtube::read_player(&body, video_id)?)
        };
        tokio::select! { r = send => r, () = self.cancel.cancelled() => Err(Failure::Cancelled) }
    }

    /// The player answer with caption tracks: the client, then the fallback on HTTP 400
    /// or no tracks. Returns the answer and the client that gave it.
    async fn answer(&self, video_id: &str) -> Result<(PlayerAnswer, &YoutubeClient), Failure> {
        let clients = std::iter::once(&self.cfg.client).chain(self.cfg.fallback.as_ref());
        let mut last = None;
        for c in clients {
            match self.player(c, video_id).await {
                Ok(a) if a.tracks.is_empty() => {
                    tracing::info!(video_id, client = %c.name, "the player lists no caption tracks");
                    last = Some(Failure::Youtube(YoutubeProblem::CaptionsDisabled(format!(
                        "YouTube lists no caption track for it (asked as {} {})",
                        c.name, c.version
                    ))));
                }
                Ok(a) => return Ok((a, c)),
                Err(Failure::Youtube(YoutubeProblem::UpstreamChanged(m))) if m.contains("HTTP 400") => {
                    tracing::warn!(video_id, client = %c.name, version = %c.version, "the player refused the client: {m}");
                    last = Some(Failure::Youtube(YoutubeProblem::UpstreamChanged(format!(
                        "{m} (as client {} {}: check YOUTUBE_CLIENT_VERSION)",
                        c.name, c.version
                    ))));
                }
                Err(other) => return Err(other),
            }
        }
        Err(last.unwrap_or_else(|| Failure::Unreachable("no client was asked".into())))
    }

    /// The chosen track in json3.
    async fn captions(&self, track: &CaptionTrack, answer: &PlayerAnswer) -> Result<Captions, Failure> {
        let url = youtube::json3_url(&track.base_url, &self.cfg.base_url)?;
        let fetch = async {
            let resp = self.http.get(url).send().await.map_err(|e| network("caption track", self.cfg.proxy.is_some(), &e))?;
            let status = resp.status();
            let body = read_limited(resp, MAX_CAPTION_BYTES, "caption track").await?;
            if status != reqwest::StatusCode::OK {
                return Err(status_failure("caption track", status, &String::from_utf8_lossy(&body)));
            }
            Ok(parse_json3(&body, &track.language_code, track.asr, answer.length_seconds)?)
        };
        tokio::select! { r = fetch => r, () = self.cancel.cancelled() => Err(Failure::Cancelled) }
    }
}

/// The result's facts.
fn extras(answer: &PlayerAnswer, track: &CaptionTrack, c: &Captions, client: &YoutubeClient) -> Map<String, Value> {
    let t = &c.transcript;
    let mut m = Map::new();
    m.insert("video_id".into(), json!(answer.video_id));
    m.insert("title".into(), json!(answer.title));
    m.insert("language".into(), json!(track.language_code));
    m.insert("track".into(), json!(if track.asr { "asr" } else { "manual" }));
    m.insert("track_name".into(), json!(track.name));
    m.insert("transcription".into(), json!(transcript::full_text(t)));
    m.insert("duration".into(), json!(t.duration));
    m.insert("word_timings".into(), json!(c.word_timings));
    m.insert("segments_count".into(), json!(t.segments.iter().filter(|s| !s.text.trim().is_empty()).count()));
    m.insert("available_languages".into(), json!(answer.tracks.iter().map(CaptionTrack::label).collect::<Vec<_>>()));
    m.insert("client".into(), json!(format!("{} {}", client.name, client.version)));
    m
}

impl Executor {
    pub(crate) async fn transcribe_youtube(
        &self,
        job: &WorkerJob,
        t: &TranscribeYoutubeTask,
        dir: &Path,
        progress: &ProgressFn,
        cancel: &CancellationToken,
        timings: &mut BTreeMap<String, u64>,
    ) -> Result<WorkerOutput, JobError> {
        t.check().map_err(JobError::InvalidTask)?;
        let cfg = &self.cfg.youtube;
        let asker = Asker { http: youtube_http(cfg, self.cfg.http_timeout)?, cfg, cancel };

        let clock = Instant::now();
        progress(Progress::new("player", 0, 1));
        let (answer, client) = asker.answer(&t.video_id).await.map_err(Failure::job_error)?;
        let track = youtube::choose_track(&answer.tracks, t.language.as_deref()).map_err(|p| Failure::from(p).job_error())?.clone();
        progress(Progress::new("player", 1, 1));
        timings.insert("player".into(), elapsed_ms(clock));

        let clock = Instant::now();
        progress(Progress::new("captions", 0, 1));
        let captions = asker.captions(&track, &answer).await.map_err(Failure::job_error)?;
        progress(Progress::new("captions", 1, 1));
        timings.insert("captions".into(), elapsed_ms(clock));
        tracing::info!(
            job_id = %job.job_id, video_id = %t.video_id, client = %client.name, language = %track.language_code, asr = track.asr,
            segments = captions.transcript.segments.len(), "captions read"
        );

        let outputs = self.store_transcript(job, &captions.transcript, dir, progress, cancel, timings).await?;
        Ok(WorkerOutput { outputs, extras: extras(&answer, &track, &captions, client), ..Default::default() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn player_requests_as_the_configured_client() {
        let android = YoutubeClient { name: "ANDROID".into(), version: "21.02.35".into() };
        let body = player_body(&android, "dQw4w9WgXcQ");
        assert_eq!(body["videoId"], "dQw4w9WgXcQ");
        assert_eq!(body["context"]["client"]["clientName"], "ANDROID");
        assert_eq!(body["context"]["client"]["clientVersion"], "21.02.35");
        assert_eq!(body["context"]["client"]["androidSdkVersion"], 30);
        assert_eq!(client_context(&android).1, "com.google.android.youtube/21.02.35 (Linux; U; Android 11) gzip");
        let vr = YoutubeClient { name: "ANDROID_VR".into(), version: "1.71.26".into() };
        let (ctx, agent) = client_context(&vr);
        assert_eq!((ctx["deviceModel"].as_str(), ctx["osVersion"].as_str()), (Some("Quest 3"), Some("12L")));
        assert!(agent.starts_with("com.google.android.apps.youtube.vr.oculus/1.71.26 "), "{agent}");
        assert_eq!((client_number("ANDROID"), client_number("ANDROID_VR"), client_number("NEW")), (Some(3), Some(28), None));
        let other = client_context(&YoutubeClient { name: "NEW".into(), version: "1.0".into() }).0;
        assert!(other.get("androidSdkVersion").is_none());
    }

    #[test]
    fn statuses_are_classified() {
        use reqwest::StatusCode as S;
        let code = |s: u16, body: &str| {
            let e = status_failure("player endpoint", S::from_u16(s).unwrap(), body).job_error();
            (e.code(), e.is_retryable())
        };
        assert_eq!(code(429, ""), ("request-blocked", true));
        assert_eq!(code(403, ""), ("request-blocked", true));
        assert_eq!(code(400, "{\"error\":{\"code\":400,\"message\":\"Precondition check failed.\"}}"), ("upstream-changed", false));
        assert_eq!(code(404, "<html>"), ("upstream-changed", false));
        assert_eq!(code(302, "Our systems have detected unusual traffic from your computer network"), ("request-blocked", true));
        assert_eq!(code(503, ""), ("youtube-unreachable", true));
    }
}
