//! YouTube, pure: the video id in the URLs people paste, caption language tags, what the
//! innertube player endpoint answers (playability, title, length, caption tracks), which
//! track `/video/transcribe_youtube` takes, the json3 URL of that track, and the stable
//! error codes of all of it. The worker does the two requests; everything it decides is
//! here, tested without a network.

use serde::Deserialize;
use serde_json::Value;

/// A video id: 11 characters of `A–Z a–z 0–9 - _`.
pub const VIDEO_ID_LEN: usize = 11;

fn is_video_id(s: &str) -> bool {
    s.len() == VIDEO_ID_LEN && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The video id of a YouTube reference: a bare id, or an `http(s)` URL (the scheme may be
/// left out) of `youtube.com` / `www.` / `m.` / `music.` (`/watch?v=`, `/shorts/`,
/// `/live/`, `/embed/`, `/v/`, `/e/`), `youtube-nocookie.com/embed/`, or `youtu.be/`.
/// `Err((code, message))`: `invalid-youtube-url` (not such a URL) or `invalid-video-id`
/// (a YouTube URL without a well-formed id).
pub fn video_id(raw: &str) -> Result<String, (&'static str, String)> {
    let raw = raw.trim();
    if is_video_id(raw) {
        return Ok(raw.to_owned());
    }
    let with_scheme = if raw.contains("://") { raw.to_owned() } else { format!("https://{raw}") };
    let not_youtube = || ("invalid-youtube-url", format!("`{}` is not a YouTube video URL nor an 11-character video id", clip(raw)));
    let url = url::Url::parse(&with_scheme).map_err(|_| not_youtube())?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(not_youtube());
    }
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    let host = host.strip_prefix("www.").unwrap_or(&host);
    let segments: Vec<&str> = url.path_segments().map(|s| s.filter(|p| !p.is_empty()).collect()).unwrap_or_default();
    let candidate = match host {
        "youtu.be" => segments.first().map(|s| (*s).to_owned()),
        "youtube.com" | "m.youtube.com" | "music.youtube.com" | "youtube-nocookie.com" => match segments.as_slice() {
            ["watch"] => url.query_pairs().find(|(k, _)| k == "v").map(|(_, v)| v.into_owned()),
            ["shorts" | "live" | "embed" | "v" | "e", id, ..] => Some((*id).to_owned()),
            _ => None,
        },
        _ => return Err(not_youtube()),
    };
    match candidate {
        Some(id) if is_video_id(&id) => Ok(id),
        Some(id) => Err(("invalid-video-id", format!("`{}` is not a YouTube video id (11 characters of A-Z a-z 0-9 - _)", clip(&id)))),
        None => Err(("invalid-video-id", format!("`{}` names no video (use a watch, shorts or youtu.be URL)", clip(raw)))),
    }
}

fn clip(s: &str) -> String {
    s.chars().take(120).collect()
}

/// A caption language tag: a 2–3 letter language and up to three subtags of 2–8 letters
/// or digits (`en`, `pt-BR`, `zh-Hans`, `es-419`).
pub fn is_language_tag(s: &str) -> bool {
    let mut parts = s.split('-');
    let first = parts.next().unwrap_or_default();
    let rest: Vec<&str> = parts.collect();
    (2..=3).contains(&first.len())
        && first.chars().all(|c| c.is_ascii_alphabetic())
        && rest.len() <= 3
        && rest.iter().all(|p| (2..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// Why `/video/transcribe_youtube` failed, each with a stable code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum YoutubeProblem {
    /// Removed, private, never existed, not available here (YouTube's reason).
    VideoUnavailable(String),
    /// The video plays but has no caption track at all.
    CaptionsDisabled(String),
    /// No track in the language asked for; the ones there are.
    NoCaptionsInLanguage { requested: String, available: Vec<String> },
    /// Sign-in to confirm the viewer's age.
    AgeRestricted(String),
    /// A bot check, HTTP 429 or a reCAPTCHA: the address is blocked for now.
    RequestBlocked(String),
    /// The answer is not what this version understands (HTTP 400 from the player
    /// endpoint, unparseable JSON, missing fields).
    UpstreamChanged(String),
    /// The caption track needs a proof-of-origin token this service does not mint.
    PoTokenRequired(String),
}

impl YoutubeProblem {
    pub fn code(&self) -> &'static str {
        match self {
            YoutubeProblem::VideoUnavailable(_) => "video-unavailable",
            YoutubeProblem::CaptionsDisabled(_) => "captions-disabled",
            YoutubeProblem::NoCaptionsInLanguage { .. } => "no-captions-in-language",
            YoutubeProblem::AgeRestricted(_) => "age-restricted",
            YoutubeProblem::RequestBlocked(_) => "request-blocked",
            YoutubeProblem::UpstreamChanged(_) => "upstream-changed",
            YoutubeProblem::PoTokenRequired(_) => "po-token-required",
        }
    }

    /// Only a block passes with time (or another address).
    pub fn is_retryable(&self) -> bool {
        matches!(self, YoutubeProblem::RequestBlocked(_))
    }

    pub fn message(&self) -> String {
        match self {
            YoutubeProblem::VideoUnavailable(r) => format!("the video is unavailable: {r}"),
            YoutubeProblem::CaptionsDisabled(r) => format!("the video has no captions: {r}"),
            YoutubeProblem::NoCaptionsInLanguage { requested, available } => format!(
                "the video has no captions in `{requested}`; it has: {}",
                if available.is_empty() { "none".to_owned() } else { available.join(", ") }
            ),
            YoutubeProblem::AgeRestricted(r) => format!("the video is age-restricted (YouTube: {r})"),
            YoutubeProblem::RequestBlocked(r) => format!(
                "YouTube is refusing requests from this address for now ({r}); try again later, or set YOUTUBE_PROXY on the worker \
                 to send them through another address"
            ),
            YoutubeProblem::UpstreamChanged(r) => format!("YouTube's answer is not understood by this version: {r}"),
            YoutubeProblem::PoTokenRequired(r) => format!("YouTube asks for a proof-of-origin (PO) token for these captions: {r}"),
        }
    }
}

/// One caption track the player lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptionTrack {
    /// Where the track is (timedtext), as YouTube gives it.
    pub base_url: String,
    /// `en`, `pt-BR`, …
    pub language_code: String,
    /// The track's name as YouTube shows it (`English`, `English (auto-generated)`).
    pub name: String,
    /// Auto-generated (speech recognition).
    pub asr: bool,
}

impl CaptionTrack {
    /// `en` or `en (asr)`, for listings.
    pub fn label(&self) -> String {
        if self.asr { format!("{} (asr)", self.language_code) } else { self.language_code.clone() }
    }
}

/// What the player endpoint said of a playable video.
#[derive(Debug, Clone, PartialEq)]
pub struct PlayerAnswer {
    pub video_id: String,
    pub title: String,
    /// `videoDetails.lengthSeconds`, when given.
    pub length_seconds: Option<f64>,
    /// Empty when the video has no captions.
    pub tracks: Vec<CaptionTrack>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPlayer {
    playability_status: Option<RawPlayability>,
    #[serde(default)]
    video_details: Option<RawDetails>,
    #[serde(default)]
    captions: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPlayability {
    status: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    messages: Vec<String>,
    #[serde(default)]
    error_screen: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDetails {
    #[serde(default)]
    video_id: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    length_seconds: Option<Value>,
}

/// YouTube's text objects: `{"simpleText": …}` or `{"runs": [{"text": …}, …]}`.
fn text_of(v: &Value) -> Option<String> {
    if let Some(s) = v.get("simpleText").and_then(Value::as_str) {
        return Some(s.to_owned());
    }
    let runs = v.get("runs")?.as_array()?;
    Some(runs.iter().filter_map(|r| r.get("text").and_then(Value::as_str)).collect())
}

/// The reason YouTube gives: `reason`, else the error screen's, else its messages.
fn reason_of(p: &RawPlayability) -> String {
    let screen = p.error_screen.as_ref().and_then(|s| {
        let r = s.get("playerErrorMessageRenderer")?;
        let mut parts = vec![text_of(r.get("reason")?)?];
        if let Some(sub) = r.get("subreason").and_then(text_of) {
            parts.push(sub);
        }
        Some(parts.join(": "))
    });
    p.reason.clone().filter(|r| !r.is_empty()).or(screen).or_else(|| p.messages.first().cloned()).unwrap_or_default()
}

/// Reads the player endpoint's answer for `wanted_id`. `Ok` for a playable video (its
/// tracks may be empty); `Err` for every reason YouTube refuses it, classified from
/// `playabilityStatus.status` and its reason.
pub fn read_player(body: &[u8], wanted_id: &str) -> Result<PlayerAnswer, YoutubeProblem> {
    let raw: RawPlayer = serde_json::from_slice(body)
        .map_err(|e| YoutubeProblem::UpstreamChanged(format!("the player answer is not the JSON expected: {e}")))?;
    let Some(play) = raw.playability_status else {
        return Err(YoutubeProblem::UpstreamChanged("the player answer has no playabilityStatus".into()));
    };
    let status = play.status.clone().unwrap_or_default();
    let reason = reason_of(&play);
    let said = if reason.is_empty() { status.clone() } else { format!("{status}: {reason}") };
    let lower = reason.to_lowercase();
    if lower.contains("not a bot") || lower.contains("unusual traffic") || lower.contains("captcha") {
        return Err(YoutubeProblem::RequestBlocked(said));
    }
    match status.as_str() {
        "OK" => {}
        "AGE_VERIFICATION_REQUIRED" | "AGE_CHECK_REQUIRED" | "CONTENT_CHECK_REQUIRED" => return Err(YoutubeProblem::AgeRestricted(said)),
        "LOGIN_REQUIRED" | "UNPLAYABLE" | "ERROR" | "LIVE_STREAM_OFFLINE"
            if lower.contains("age") || lower.contains("inappropriate for some users") =>
        {
            return Err(YoutubeProblem::AgeRestricted(said));
        }
        "LOGIN_REQUIRED" | "UNPLAYABLE" | "ERROR" | "LIVE_STREAM_OFFLINE" => return Err(YoutubeProblem::VideoUnavailable(said)),
        "" => return Err(YoutubeProblem::UpstreamChanged("playabilityStatus has no status".into())),
        other => return Err(YoutubeProblem::UpstreamChanged(format!("unknown playability status {other} ({reason})"))),
    }
    let details = raw.video_details;
    let video_id = details.as_ref().and_then(|d| d.video_id.clone()).unwrap_or_else(|| wanted_id.to_owned());
    if video_id != wanted_id {
        return Err(YoutubeProblem::UpstreamChanged(format!("asked for video {wanted_id}, the answer is for {video_id}")));
    }
    let title = details.as_ref().and_then(|d| d.title.clone()).unwrap_or_default();
    let length_seconds = details.as_ref().and_then(|d| d.length_seconds.as_ref()).and_then(|v| match v {
        Value::String(s) => s.parse::<f64>().ok(),
        Value::Number(n) => n.as_f64(),
        _ => None,
    });
    let list = raw
        .captions
        .as_ref()
        .and_then(|c| c.get("playerCaptionsTracklistRenderer"))
        .and_then(|r| r.get("captionTracks"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut tracks = Vec::with_capacity(list.len());
    for t in &list {
        let (Some(base_url), Some(language_code)) =
            (t.get("baseUrl").and_then(Value::as_str), t.get("languageCode").and_then(Value::as_str))
        else {
            return Err(YoutubeProblem::UpstreamChanged("a caption track has no baseUrl or languageCode".into()));
        };
        let asr = t.get("kind").and_then(Value::as_str) == Some("asr")
            || t.get("vssId").and_then(Value::as_str).is_some_and(|v| v.starts_with("a."));
        let name = t.get("name").and_then(text_of).unwrap_or_else(|| language_code.to_owned());
        tracks.push(CaptionTrack { base_url: base_url.to_owned(), language_code: language_code.to_owned(), name, asr });
    }
    Ok(PlayerAnswer { video_id, title, length_seconds, tracks })
}

/// The language part of a tag, lower-cased (`pt-BR` → `pt`).
fn primary(tag: &str) -> String {
    tag.split('-').next().unwrap_or_default().to_ascii_lowercase()
}

/// The track to take: with `wanted`, a manual track in exactly that language, else a
/// manual one of the same primary language (`pt` for `pt-BR`), else an auto-generated
/// one likewise; without, the manual track in the video's own language (that of its
/// auto-generated track), else the auto-generated track, else the first manual one.
pub fn choose_track<'a>(tracks: &'a [CaptionTrack], wanted: Option<&str>) -> Result<&'a CaptionTrack, YoutubeProblem> {
    if tracks.is_empty() {
        return Err(YoutubeProblem::CaptionsDisabled("no caption tracks are listed for it".into()));
    }
    let exact = |asr: bool, lang: &str| tracks.iter().find(|t| t.asr == asr && t.language_code.eq_ignore_ascii_case(lang));
    let same = |asr: bool, lang: &str| tracks.iter().find(|t| t.asr == asr && primary(&t.language_code) == primary(lang));
    match wanted {
        Some(lang) => {
            exact(false, lang).or_else(|| same(false, lang)).or_else(|| exact(true, lang)).or_else(|| same(true, lang)).ok_or_else(|| {
                YoutubeProblem::NoCaptionsInLanguage {
                    requested: lang.to_owned(),
                    available: tracks.iter().map(CaptionTrack::label).collect(),
                }
            })
        }
        None => {
            let asr = tracks.iter().find(|t| t.asr);
            let own = asr.and_then(|a| exact(false, &a.language_code).or_else(|| same(false, &a.language_code)));
            Ok(own.or(asr).unwrap_or(&tracks[0]))
        }
    }
}

/// The URL of `track` in json3: `baseUrl` resolved against `origin` (the player
/// endpoint's origin; a relative `baseUrl` is on it), `fmt=json3` instead of any other
/// `fmt`, and `xosf` (a styling switch that garbles json3) dropped. The host must be
/// `origin`'s or a `youtube.com` one. A `baseUrl` whose `exp` says `xpe` needs a PO token.
pub fn json3_url(base_url: &str, origin: &url::Url) -> Result<url::Url, YoutubeProblem> {
    let url = origin.join(base_url).map_err(|e| YoutubeProblem::UpstreamChanged(format!("the track's baseUrl is not a URL: {e}")))?;
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    let ours = url.origin() == origin.origin() || host == "youtube.com" || host.ends_with(".youtube.com");
    if !ours || !matches!(url.scheme(), "http" | "https") {
        return Err(YoutubeProblem::UpstreamChanged(format!("the track is on an unexpected host `{host}`")));
    }
    let pairs: Vec<(String, String)> = url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    if pairs.iter().any(|(k, v)| k == "exp" && v.split(',').any(|x| x == "xpe")) {
        return Err(YoutubeProblem::PoTokenRequired("the caption track is marked exp=xpe".into()));
    }
    let mut out = url.clone();
    {
        let mut q = out.query_pairs_mut();
        q.clear();
        for (k, v) in pairs.iter().filter(|(k, _)| k != "fmt" && k != "xosf") {
            q.append_pair(k, v);
        }
        q.append_pair("fmt", "json3");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn video_ids_from_every_url_form() {
        let id = "dQw4w9WgXcQ";
        for raw in [
            "dQw4w9WgXcQ",
            " dQw4w9WgXcQ ",
            "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
            "https://www.youtube.com/watch?feature=share&v=dQw4w9WgXcQ&t=42s",
            "http://youtube.com/watch?v=dQw4w9WgXcQ",
            "youtube.com/watch?v=dQw4w9WgXcQ",
            "www.youtube.com/watch?v=dQw4w9WgXcQ&list=PL123",
            "https://m.youtube.com/watch?v=dQw4w9WgXcQ",
            "https://music.youtube.com/watch?v=dQw4w9WgXcQ",
            "https://www.youtube.com/shorts/dQw4w9WgXcQ",
            "https://youtube.com/shorts/dQw4w9WgXcQ?si=abc",
            "https://www.youtube.com/live/dQw4w9WgXcQ?feature=share",
            "https://www.youtube.com/embed/dQw4w9WgXcQ?start=10",
            "https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ",
            "https://www.youtube.com/v/dQw4w9WgXcQ",
            "https://youtu.be/dQw4w9WgXcQ",
            "https://youtu.be/dQw4w9WgXcQ?si=xyz&t=3",
            "youtu.be/dQw4w9WgXcQ",
            "HTTPS://WWW.YOUTUBE.COM/watch?v=dQw4w9WgXcQ",
        ] {
            assert_eq!(video_id(raw).as_deref(), Ok(id), "{raw}");
        }
        assert_eq!(video_id("a-_9A-_9a-_").as_deref(), Ok("a-_9A-_9a-_"));
        let code = |raw: &str| video_id(raw).unwrap_err().0;
        for raw in
            ["https://vimeo.com/12345", "ftp://youtube.com/watch?v=dQw4w9WgXcQ", "not a url at all", "", "https://evil.test/youtu.be/x"]
        {
            assert_eq!(code(raw), "invalid-youtube-url", "{raw}");
        }
        for raw in [
            "https://www.youtube.com/watch?v=short",
            "https://www.youtube.com/watch?v=dQw4w9WgXcQQ",
            "https://www.youtube.com/watch?list=PL1",
            "https://www.youtube.com/channel/UC123",
            "https://youtu.be/",
            "https://www.youtube.com/shorts/dQw4w9WgX%3F",
        ] {
            assert_eq!(code(raw), "invalid-video-id", "{raw}");
        }
        assert_eq!(code("dQw4w9WgXc!"), "invalid-youtube-url");
    }

    #[test]
    fn language_tags() {
        for ok in ["en", "pt", "pt-BR", "zh-Hans", "es-419", "fil", "sr-Latn-RS"] {
            assert!(is_language_tag(ok), "{ok}");
        }
        for bad in ["", "e", "english", "pt_BR", "pt-", "-BR", "pt-B", "en-US-x-y-z", "p1"] {
            assert!(!is_language_tag(bad), "{bad}");
        }
    }

    fn track(lang: &str, asr: bool) -> CaptionTrack {
        CaptionTrack { base_url: format!("/api/timedtext?lang={lang}"), language_code: lang.into(), name: lang.into(), asr }
    }

    #[test]
    fn track_choice() {
        let tracks = [track("en", false), track("pt-BR", false), track("pt", true), track("de", false)];
        let pick = |w: Option<&str>| choose_track(&tracks, w).map(CaptionTrack::label);
        // The video's own language is its ASR track's: the manual track in it wins.
        assert_eq!(pick(None), Ok("pt-BR".into()));
        assert_eq!(pick(Some("en")), Ok("en".into()));
        assert_eq!(pick(Some("EN")), Ok("en".into()));
        assert_eq!(pick(Some("pt")), Ok("pt-BR".into()), "a manual track of the same language beats the ASR one");
        assert_eq!(pick(Some("de-AT")), Ok("de".into()));
        assert_eq!(
            pick(Some("fr")),
            Err(YoutubeProblem::NoCaptionsInLanguage {
                requested: "fr".into(),
                available: vec!["en".into(), "pt-BR".into(), "pt (asr)".into(), "de".into()]
            })
        );
        // Only ASR in the language asked for.
        let tracks = [track("en", false), track("ja", true)];
        assert_eq!(choose_track(&tracks, Some("ja")).unwrap().label(), "ja (asr)");
        // No manual track in the video's language: its ASR track.
        assert_eq!(choose_track(&tracks, None).unwrap().label(), "ja (asr)");
        // No ASR track: the first manual one.
        assert_eq!(choose_track(&[track("fr", false), track("en", false)], None).unwrap().label(), "fr");
        assert_eq!(choose_track(&[], None).unwrap_err().code(), "captions-disabled");
    }

    #[test]
    fn json3_urls() {
        let origin = url::Url::parse("https://www.youtube.com").unwrap();
        let u = json3_url("https://www.youtube.com/api/timedtext?v=abc&lang=en&fmt=srv3&xosf=1&sparams=ip", &origin).unwrap();
        assert_eq!(u.as_str(), "https://www.youtube.com/api/timedtext?v=abc&lang=en&sparams=ip&fmt=json3");
        let u = json3_url("/api/timedtext?v=abc&kind=asr&lang=pt", &origin).unwrap();
        assert_eq!(u.as_str(), "https://www.youtube.com/api/timedtext?v=abc&kind=asr&lang=pt&fmt=json3");
        let local = url::Url::parse("http://127.0.0.1:4567").unwrap();
        assert_eq!(
            json3_url("http://127.0.0.1:4567/api/timedtext?v=x", &local).unwrap().as_str(),
            "http://127.0.0.1:4567/api/timedtext?v=x&fmt=json3"
        );
        assert_eq!(json3_url("https://evil.test/api/timedtext", &origin).unwrap_err().code(), "upstream-changed");
        assert_eq!(json3_url("https://www.youtube.com.evil.test/x", &origin).unwrap_err().code(), "upstream-changed");
        assert_eq!(json3_url("https://www.youtube.com/api/timedtext?v=a&exp=xpe", &origin).unwrap_err().code(), "po-token-required");
        assert_eq!(json3_url("https://www.youtube.com/api/timedtext?v=a&exp=xftt,xpe", &origin).unwrap_err().code(), "po-token-required");
    }

    fn player(status: &str, reason: Option<&str>) -> Vec<u8> {
        let mut p = serde_json::json!({"playabilityStatus": {"status": status}, "videoDetails": {"videoId": "dQw4w9WgXcQ", "title": "T", "lengthSeconds": "212"}});
        if let Some(r) = reason {
            p["playabilityStatus"]["reason"] = r.into();
        }
        serde_json::to_vec(&p).unwrap()
    }

    #[test]
    fn player_answers() {
        let ok = serde_json::json!({
            "playabilityStatus": {"status": "OK"},
            "videoDetails": {"videoId": "dQw4w9WgXcQ", "title": "Never Gonna Give You Up", "lengthSeconds": "212"},
            "captions": {"playerCaptionsTracklistRenderer": {"captionTracks": [
                {"baseUrl": "https://www.youtube.com/api/timedtext?v=dQw4w9WgXcQ&lang=en", "name": {"runs": [{"text": "English"}]},
                 "vssId": ".en", "languageCode": "en"},
                {"baseUrl": "https://www.youtube.com/api/timedtext?v=dQw4w9WgXcQ&lang=en&kind=asr", "name": {"simpleText": "English (auto-generated)"},
                 "vssId": "a.en", "languageCode": "en", "kind": "asr"}
            ]}}
        });
        let a = read_player(&serde_json::to_vec(&ok).unwrap(), "dQw4w9WgXcQ").unwrap();
        assert_eq!((a.title.as_str(), a.length_seconds), ("Never Gonna Give You Up", Some(212.0)));
        assert_eq!(
            a.tracks.iter().map(|t| (t.label(), t.name.as_str())).collect::<Vec<_>>(),
            [("en".to_owned(), "English"), ("en (asr)".to_owned(), "English (auto-generated)")]
        );
        // Playable without captions: no tracks (the caller says captions-disabled).
        assert!(read_player(&player("OK", None), "dQw4w9WgXcQ").unwrap().tracks.is_empty());
        let code = |status: &str, reason: Option<&str>| read_player(&player(status, reason), "dQw4w9WgXcQ").unwrap_err();
        assert_eq!(code("ERROR", Some("Video unavailable")), YoutubeProblem::VideoUnavailable("ERROR: Video unavailable".into()));
        assert_eq!(code("LOGIN_REQUIRED", Some("This video is private")).code(), "video-unavailable");
        assert_eq!(code("UNPLAYABLE", Some("The uploader has not made this video available in your country")).code(), "video-unavailable");
        assert_eq!(code("LOGIN_REQUIRED", Some("Sign in to confirm your age")).code(), "age-restricted");
        assert_eq!(code("AGE_VERIFICATION_REQUIRED", None).code(), "age-restricted");
        assert_eq!(code("UNPLAYABLE", Some("This video may be inappropriate for some users.")).code(), "age-restricted");
        let blocked = code("LOGIN_REQUIRED", Some("Sign in to confirm you’re not a bot"));
        assert_eq!((blocked.code(), blocked.is_retryable()), ("request-blocked", true));
        assert!(blocked.message().contains("not a bot") && blocked.message().contains("YOUTUBE_PROXY"), "{}", blocked.message());
        assert_eq!(code("SOMETHING_NEW", Some("x")).code(), "upstream-changed");
        // The reason from the error screen when `reason` is absent.
        let screen = serde_json::json!({"playabilityStatus": {"status": "ERROR", "errorScreen": {"playerErrorMessageRenderer": {
            "reason": {"simpleText": "Video unavailable"}, "subreason": {"runs": [{"text": "This video has been removed by the uploader"}]}}}}});
        let e = read_player(&serde_json::to_vec(&screen).unwrap(), "dQw4w9WgXcQ").unwrap_err();
        assert_eq!(e, YoutubeProblem::VideoUnavailable("ERROR: Video unavailable: This video has been removed by the uploader".into()));
        // Not JSON, or JSON of another shape, or another video.
        assert_eq!(read_player(b"<html>", "dQw4w9WgXcQ").unwrap_err().code(), "upstream-changed");
        assert_eq!(read_player(b"{}", "dQw4w9WgXcQ").unwrap_err().code(), "upstream-changed");
        assert_eq!(read_player(&player("OK", None), "aaaaaaaaaaa").unwrap_err().code(), "upstream-changed");
        for p in [
            YoutubeProblem::VideoUnavailable(String::new()),
            YoutubeProblem::CaptionsDisabled(String::new()),
            YoutubeProblem::NoCaptionsInLanguage { requested: "fr".into(), available: vec![] },
            YoutubeProblem::AgeRestricted(String::new()),
            YoutubeProblem::UpstreamChanged(String::new()),
            YoutubeProblem::PoTokenRequired(String::new()),
        ] {
            assert!(!p.is_retryable(), "{p:?}");
        }
    }
}
