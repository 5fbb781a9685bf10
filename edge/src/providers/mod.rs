//! Third-party AI providers the edge calls itself (issue 14): OpenRouter's chat
//! completions for scene prompts (`/image/prompts`) and Runware's `imageInference` for
//! images (`/image/generate`). Pure: request bodies are built and answers classified
//! here, clocks and ids passed in; the job's Durable Object does the fetching
//! (`wasm/provider_job.rs`) and drives [`state::ProviderJob`] from its alarm, so waiting
//! on a provider costs no GPU seconds.
//!
//! Keys are secrets (`OPENROUTER_API_KEY`, `RUNWARE_API_KEY`): they go in the
//! `Authorization` header of the provider calls only, never in a job, a result or a log.

pub mod openrouter;
pub mod runware;
pub mod state;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::backend::parse_retry_after;
use crate::webhook::retry_delay;

/// OpenRouter's API root (the chat completions endpoint is `<base>/chat/completions`).
pub const OPENROUTER_DEFAULT_BASE_URL: &str = "https://openrouter.ai/api/v1";
/// The seed's default model (`google/gemini-2.0-flash`), by its OpenRouter id.
pub const OPENROUTER_DEFAULT_MODEL: &str = "google/gemini-2.0-flash-001";
/// Runware's REST endpoint: a JSON array of tasks is POSTed to it.
pub const RUNWARE_DEFAULT_BASE_URL: &str = "https://api.runware.ai/v1";
/// Provider error texts kept in job errors and logs are cut to this many characters.
pub const MAX_EXCERPT_CHARS: usize = 300;

/// `OPENROUTER_*`: where scene prompts are asked (any OpenAI-compatible endpoint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenRouterSettings {
    pub api_key: String,
    pub model: String,
    pub base_url: String,
}

/// `RUNWARE_*`: where images are generated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunwareSettings {
    pub api_key: String,
    pub base_url: String,
}

/// Everything the edge needs to run provider jobs. A provider without its key is
/// `None`: its route answers 503 `provider-not-configured` (the local demo runs offline).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderSettings {
    pub openrouter: Option<OpenRouterSettings>,
    pub runware: Option<RunwareSettings>,
    /// `PROVIDER_TIMEOUT_SECS` (90): one provider call, or one image copy, at most this
    /// long. A step waits for its calls, and the job's lease is renewed between steps once
    /// less than 3/4 of `LEASE_TTL_SECS` is left: keep this at most 3/4 of it (120 s → 90 s).
    pub timeout: Duration,
    /// `PROVIDER_MAX_ATTEMPTS` (4): calls that may carry the same scene or image.
    pub max_attempts: u32,
    /// `PROVIDER_RETRY_BASE_SECS` (2) doubling to `PROVIDER_RETRY_MAX_SECS` (60): the
    /// backoff after a retryable failure, or the provider's `Retry-After` when longer.
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// `IMAGES_IN_FLIGHT` (4): images being generated or copied at once per job.
    pub images_in_flight: usize,
}

impl ProviderSettings {
    /// Reads the settings through the same lookup as the rest of the configuration.
    /// Base URLs must be https (loopback http only with `ALLOW_LOOPBACK_HTTP`).
    pub fn from_lookup(get: &dyn Fn(&str) -> Option<String>, allow_loopback_http: bool) -> Result<ProviderSettings, String> {
        let set = |k: &str| get(k).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let num = |k: &str, d: u64| -> Result<u64, String> {
            match set(k) {
                None => Ok(d),
                Some(v) => v.parse().map_err(|_| format!("{k}={v:?} is not a whole number")),
            }
        };
        let base = |k: &str, d: &str| -> Result<String, String> {
            let v = set(k).unwrap_or_else(|| d.to_owned()).trim_end_matches('/').to_owned();
            check_base_url(&v, allow_loopback_http).map_err(|e| format!("{k}: {e}"))?;
            Ok(v)
        };
        let openrouter = match set("OPENROUTER_API_KEY") {
            None => None,
            Some(api_key) => Some(OpenRouterSettings {
                api_key,
                model: set("OPENROUTER_MODEL").unwrap_or_else(|| OPENROUTER_DEFAULT_MODEL.to_owned()),
                base_url: base("OPENROUTER_BASE_URL", OPENROUTER_DEFAULT_BASE_URL)?,
            }),
        };
        let runware = match set("RUNWARE_API_KEY") {
            None => None,
            Some(api_key) => Some(RunwareSettings { api_key, base_url: base("RUNWARE_BASE_URL", RUNWARE_DEFAULT_BASE_URL)? }),
        };
        Ok(ProviderSettings {
            openrouter,
            runware,
            timeout: Duration::from_secs(num("PROVIDER_TIMEOUT_SECS", 90)?.max(1)),
            max_attempts: num("PROVIDER_MAX_ATTEMPTS", 4)?.clamp(1, 10) as u32,
            retry_base: Duration::from_secs(num("PROVIDER_RETRY_BASE_SECS", 2)?.max(1)),
            retry_max: Duration::from_secs(num("PROVIDER_RETRY_MAX_SECS", 60)?.max(1)),
            images_in_flight: num("IMAGES_IN_FLIGHT", 4)?.clamp(1, 32) as usize,
        })
    }

    /// When the next try of something that failed `attempts` times may start: the
    /// backoff, or the provider's `Retry-After` when that is longer.
    pub fn retry_at(&self, now_ms: i64, attempts: u32, retry_after_secs: Option<u64>) -> i64 {
        let backoff = retry_delay(attempts.max(1), self.retry_base, self.retry_max).as_millis() as i64;
        now_ms + backoff.max(retry_after_secs.map_or(0, |s| (s as i64).saturating_mul(1000)))
    }
}

fn check_base_url(url: &str, allow_loopback_http: bool) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("`{url}` is not a URL: {e}"))?;
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if allow_loopback_http && matches!(parsed.host_str(), Some("127.0.0.1" | "localhost" | "[::1]")) => Ok(()),
        _ => Err(format!("`{url}` must be https (http only to loopback with ALLOW_LOOPBACK_HTTP)")),
    }
}

/// A route whose provider has no key: the request is answered 503
/// `provider-not-configured` (the local stack and the demo run without keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotConfigured {
    pub provider: &'static str,
    pub key: &'static str,
}

impl NotConfigured {
    pub fn code(&self) -> &'static str {
        "provider-not-configured"
    }

    pub fn message(&self) -> String {
        format!("{} is not configured on this service ({} is not set)", self.provider, self.key)
    }
}

/// Whether the provider `task` needs is missing; `None` for tasks that need none.
pub fn not_configured(s: &ProviderSettings, task: &job_spec::Task) -> Option<NotConfigured> {
    match task {
        job_spec::Task::ImagePrompts(_) if s.openrouter.is_none() => {
            Some(NotConfigured { provider: "OpenRouter", key: "OPENROUTER_API_KEY" })
        }
        job_spec::Task::ImageGenerate(_) if s.runware.is_none() => Some(NotConfigured { provider: "Runware", key: "RUNWARE_API_KEY" }),
        _ => None,
    }
}

/// Why a provider call did not give what was asked. Each has a stable code; the
/// retryable ones are tried again (bounded) after a backoff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProviderError {
    /// 401, or the provider's own "invalid key" code: every later call would fail too.
    Auth { message: String },
    /// 402, or the provider's "insufficient credits" code.
    Credits { message: String },
    /// 429: retried, not before `retry_after_secs` when the provider said.
    RateLimited { retry_after_secs: Option<u64>, message: String },
    /// Unreachable, no answer in time, 408 or 5xx (also inside a 200 body): retried.
    Unavailable { message: String },
    /// Another 4xx, a moderation refusal, or a task the provider failed for good.
    Refused { message: String },
    /// A 2xx answer that is not what was asked (not JSON, not the schema): retried.
    BadAnswer { message: String },
}

impl ProviderError {
    pub fn code(&self) -> &'static str {
        match self {
            ProviderError::Auth { .. } => "provider-auth-failed",
            ProviderError::Credits { .. } => "provider-credits-exhausted",
            ProviderError::RateLimited { .. } => "provider-rate-limited",
            ProviderError::Unavailable { .. } => "provider-unavailable",
            ProviderError::Refused { .. } => "provider-refused",
            ProviderError::BadAnswer { .. } => "provider-bad-answer",
        }
    }

    pub fn is_retryable(&self) -> bool {
        matches!(self, ProviderError::RateLimited { .. } | ProviderError::Unavailable { .. } | ProviderError::BadAnswer { .. })
    }

    /// Whether every other call of the job would fail the same way (a bad key, no credit).
    pub fn is_fatal(&self) -> bool {
        matches!(self, ProviderError::Auth { .. } | ProviderError::Credits { .. })
    }

    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            ProviderError::RateLimited { retry_after_secs, .. } => *retry_after_secs,
            _ => None,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            ProviderError::Auth { message }
            | ProviderError::Credits { message }
            | ProviderError::RateLimited { message, .. }
            | ProviderError::Unavailable { message }
            | ProviderError::Refused { message }
            | ProviderError::BadAnswer { message } => message,
        }
    }

    /// The error for an HTTP `status` (a real one, or the `code` of an error body sent
    /// with 200), with `message` from the provider.
    pub fn from_status(status: u16, retry_after_secs: Option<u64>, message: String) -> ProviderError {
        match status {
            401 => ProviderError::Auth { message },
            402 => ProviderError::Credits { message },
            429 => ProviderError::RateLimited { retry_after_secs, message },
            408 | 500.. => ProviderError::Unavailable { message },
            _ => ProviderError::Refused { message },
        }
    }
}

impl std::fmt::Display for ProviderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code(), self.message())
    }
}

/// What an HTTP answer of a provider was, before its body is read for results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpAnswer<'a> {
    pub status: u16,
    /// The `Retry-After` header.
    pub retry_after: Option<&'a str>,
    pub body: &'a str,
    pub now_ms: i64,
}

impl HttpAnswer<'_> {
    pub fn retry_after_secs(&self) -> Option<u64> {
        self.retry_after.and_then(|v| parse_retry_after(v, self.now_ms))
    }

    /// The error a non-2xx answer is, from its status alone (its body's words in the message).
    pub fn status_error(&self) -> Option<ProviderError> {
        if (200..300).contains(&self.status) {
            return None;
        }
        Some(ProviderError::from_status(self.status, self.retry_after_secs(), format!("HTTP {}: {}", self.status, excerpt(self.body))))
    }
}

/// At most [`MAX_EXCERPT_CHARS`] characters of a provider's text, on one line.
pub fn excerpt(s: &str) -> String {
    let one_line: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).take(MAX_EXCERPT_CHARS).collect();
    one_line.trim().to_owned()
}

/// Token usage of the chat completions a job made (OpenRouter's `usage`), summed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    /// Chat completion requests made.
    pub calls: u32,
}

impl Usage {
    pub fn add(&mut self, other: &Usage) {
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
        self.total_tokens += other.total_tokens;
        self.calls += other.calls;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)], loopback: bool) -> Result<ProviderSettings, String> {
        let m: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        ProviderSettings::from_lookup(&|k| m.get(k).cloned(), loopback)
    }

    #[test]
    fn providers_without_keys_are_not_configured_and_defaults_apply() {
        let s = settings(&[], false).unwrap();
        assert_eq!((s.openrouter, s.runware), (None, None));
        assert_eq!((s.timeout, s.max_attempts, s.images_in_flight), (Duration::from_secs(90), 4, 4));
        let s = settings(&[("OPENROUTER_API_KEY", "sk-or"), ("RUNWARE_API_KEY", "rw")], false).unwrap();
        let o = s.openrouter.unwrap();
        assert_eq!((o.model.as_str(), o.base_url.as_str()), (OPENROUTER_DEFAULT_MODEL, OPENROUTER_DEFAULT_BASE_URL));
        assert_eq!(s.runware.unwrap().base_url, RUNWARE_DEFAULT_BASE_URL);
    }

    #[test]
    fn each_image_route_needs_its_provider_key() {
        let prompts = job_spec::Task::ImagePrompts(job_spec::worker::ImagePromptsTask {
            scenes: vec![],
            style: None,
            style_detail: None,
            script: None,
            agent: None,
        });
        let images = job_spec::Task::ImageGenerate(job_spec::worker::ImageGenerateTask {
            model: "runware:101@1".into(),
            width: 1024,
            height: 576,
            negative_prompt: None,
            format: job_spec::worker::ImageFormat::Jpg,
            images: vec![],
        });
        let none = settings(&[], false).unwrap();
        let e = not_configured(&none, &prompts).unwrap();
        assert_eq!(
            (e.code(), e.message().as_str()),
            ("provider-not-configured", "OpenRouter is not configured on this service (OPENROUTER_API_KEY is not set)")
        );
        assert_eq!(not_configured(&none, &images).unwrap().key, "RUNWARE_API_KEY");
        assert_eq!(not_configured(&none, &job_spec::Task::Stage), None);
        let both = settings(&[("OPENROUTER_API_KEY", "k"), ("RUNWARE_API_KEY", "k")], false).unwrap();
        assert_eq!((not_configured(&both, &prompts), not_configured(&both, &images)), (None, None));
    }

    #[test]
    fn base_urls_are_https_or_loopback_when_allowed() {
        let vars = [("OPENROUTER_API_KEY", "k"), ("OPENROUTER_BASE_URL", "http://127.0.0.1:9/openrouter/")];
        assert!(settings(&vars, false).unwrap_err().starts_with("OPENROUTER_BASE_URL"));
        assert_eq!(settings(&vars, true).unwrap().openrouter.unwrap().base_url, "http://127.0.0.1:9/openrouter");
        let vars = [("RUNWARE_API_KEY", "k"), ("RUNWARE_BASE_URL", "http://example.com")];
        assert!(settings(&vars, true).unwrap_err().contains("must be https"));
        assert!(settings(&[("PROVIDER_TIMEOUT_SECS", "soon")], false).unwrap_err().starts_with("PROVIDER_TIMEOUT_SECS"));
    }

    #[test]
    fn statuses_map_to_codes_and_retryability() {
        let cases = [
            (401, "provider-auth-failed", false, true),
            (402, "provider-credits-exhausted", false, true),
            (429, "provider-rate-limited", true, false),
            (500, "provider-unavailable", true, false),
            (502, "provider-unavailable", true, false),
            (408, "provider-unavailable", true, false),
            (400, "provider-refused", false, false),
            (403, "provider-refused", false, false),
        ];
        for (status, code, retryable, fatal) in cases {
            let e = ProviderError::from_status(status, None, "m".into());
            assert_eq!((e.code(), e.is_retryable(), e.is_fatal()), (code, retryable, fatal), "{status}");
        }
        let a = HttpAnswer { status: 429, retry_after: Some("7"), body: "slow\ndown", now_ms: 0 };
        let e = a.status_error().unwrap();
        assert_eq!(e.retry_after_secs(), Some(7));
        assert_eq!(e.message(), "HTTP 429: slow down");
        assert_eq!(HttpAnswer { status: 200, retry_after: None, body: "", now_ms: 0 }.status_error(), None);
    }

    #[test]
    fn retries_wait_the_backoff_or_retry_after_whichever_is_longer() {
        let s = settings(&[], false).unwrap();
        assert_eq!(s.retry_at(1_000, 1, None), 3_000);
        assert_eq!(s.retry_at(1_000, 3, None), 9_000);
        assert_eq!(s.retry_at(1_000, 1, Some(30)), 31_000);
        assert_eq!(s.retry_at(0, 20, None), 60_000);
    }

    #[test]
    fn excerpts_are_bounded_and_on_one_line() {
        assert_eq!(excerpt(&"é".repeat(1000)).chars().count(), MAX_EXCERPT_CHARS);
        assert_eq!(excerpt(" a\r\nb "), "a  b");
    }
}
