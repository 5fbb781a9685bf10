//! The edge's one typed configuration, read from Worker vars and secrets through a
//! lookup function (so it is built and tested natively). Missing or malformed values
//! fail the request with a message that says which variable to fix.

use std::time::Duration;

use crate::auth::Tenant;
use crate::record::{RetryPolicy, WebhookPolicy};

#[derive(Debug, Clone)]
pub struct EdgeConfig {
    pub s3: S3Config,
    /// `PUBLIC_OUTPUT_BASE_URL`: when set, output URLs are `<base>/<key>` instead of
    /// presigned GETs.
    pub public_output_base_url: Option<String>,
    /// `RUNPOD_BASE_URL` (`https://api.runpod.ai` in production; `gpu-worker serve` locally).
    pub runpod_base_url: String,
    pub runpod_endpoint_id: String,
    pub runpod_api_key: String,
    /// `EDGE_PUBLIC_URL`: this Worker's own URL, for RunPod's completion webhook.
    pub edge_public_url: String,
    /// `WEBHOOK_TOKEN_SECRET`: HMAC key of the per-job token in RunPod webhook URLs.
    pub webhook_token_secret: String,
    pub tenants: Vec<Tenant>,
    /// `ALLOW_LOOPBACK_HTTP=true`: local development only.
    pub allow_loopback_http: bool,
    /// `EXECUTION_TIMEOUT_SECS`: RunPod `policy.executionTimeout`.
    pub execution_timeout: Duration,
    /// `QUEUE_TTL_SECS`: how long a job may wait in RunPod's queue (`policy.ttl` is this
    /// plus the execution timeout).
    pub queue_ttl: Duration,
    /// `STATUS_POLL_SECS`: how often the job's alarm polls RunPod when no webhook came.
    pub status_poll: Duration,
    /// `DOWNLOAD_URL_TTL_SECS`: lifetime of presigned output GETs minted by `GET /jobs/{id}`.
    pub download_url_ttl: Duration,
    /// `MAX_BODY_BYTES`: larger request bodies get 413.
    pub max_body_bytes: usize,
    /// `MAX_ATTEMPTS`, `RETRY_BASE_SECS`, `RETRY_MAX_SECS`: resubmission of retryable
    /// failures (production: minutes; local development: seconds).
    pub retry: RetryPolicy,
    /// `WEBHOOK_RETRY_BASE_SECS`, `WEBHOOK_RETRY_MAX_SECS`, `WEBHOOK_RETRY_WINDOW_SECS`:
    /// client webhook backoff (production: from a minute, hourly, for 25 h).
    pub webhooks: WebhookPolicy,
    /// `WEBHOOK_TIMEOUT_SECS`: a receiver slower than this counts as a failed attempt.
    pub webhook_timeout: Duration,
    /// `LEASE_TTL_SECS`: a concurrency lease not renewed for this long is freed.
    pub lease_ttl: Duration,
    /// `FANOUT_CLIPS`: img2vid batches with more clips are split into parts of about
    /// this many clips (0 = never split).
    pub fanout_clips: usize,
    /// `CORS_ORIGINS`: comma-separated allowed origins, or `*`; empty = no CORS.
    pub cors_origins: Vec<String>,
    /// `OPENROUTER_*`, `RUNWARE_*`, `PROVIDER_*`, `IMAGES_IN_FLIGHT`: the AI providers
    /// `/image/prompts` and `/image/generate` call from the job's Durable Object.
    pub providers: crate::providers::ProviderSettings,
}

#[derive(Debug, Clone)]
pub struct S3Config {
    /// `S3_ENDPOINT`, e.g. `https://<account>.r2.cloudflarestorage.com`.
    pub endpoint: String,
    /// `S3_REGION` (`auto` for R2).
    pub region: String,
    pub bucket: String,
    pub access_key: String,
    pub secret_key: String,
    /// `S3_PATH_STYLE` (default true): `<endpoint>/<bucket>/<key>`; false gives
    /// `<bucket>.<endpoint host>/<key>`.
    pub path_style: bool,
}

impl EdgeConfig {
    /// Presigned input/output URLs live for the queue time plus the execution timeout,
    /// and no longer.
    pub fn job_url_ttl(&self) -> Duration {
        self.queue_ttl + self.execution_timeout
    }

    /// The `Access-Control-Allow-Origin` value for a request's `Origin`, if allowed.
    pub fn cors_allow(&self, origin: &str) -> Option<String> {
        if self.cors_origins.iter().any(|o| o == "*") {
            return Some("*".into());
        }
        self.cors_origins.iter().any(|o| o.eq_ignore_ascii_case(origin)).then(|| origin.to_owned())
    }

    pub fn tenant_rate(&self, t: &Tenant) -> u32 {
        t.rate_limit_per_minute.unwrap_or(crate::tenant::DEFAULT_RATE_PER_MINUTE).max(1)
    }

    pub fn tenant_slots(&self, t: &Tenant) -> u32 {
        t.max_concurrent_jobs.unwrap_or(crate::tenant::DEFAULT_MAX_CONCURRENT).max(1)
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<EdgeConfig, String> {
        let req =
            |k: &str| get(k).filter(|v| !v.trim().is_empty()).ok_or_else(|| format!("{k} is not set (a var or secret of the Worker)"));
        let num = |k: &str, d: u64| -> Result<u64, String> {
            match get(k).filter(|v| !v.is_empty()) {
                None => Ok(d),
                Some(v) => v.trim().parse().map_err(|_| format!("{k}={v:?} is not a whole number")),
            }
        };
        let secs = |k: &str, d: u64| num(k, d).map(Duration::from_secs);
        let flag = |k: &str, d: bool| match get(k).as_deref().map(str::trim) {
            Some("true" | "1" | "yes") => true,
            Some("false" | "0" | "no") => false,
            _ => d,
        };
        let providers = crate::providers::ProviderSettings::from_lookup(&get, flag("ALLOW_LOOPBACK_HTTP", false))?;
        let tenants_json = req("TENANTS")?;
        let tenants: Vec<Tenant> =
            serde_json::from_str(&tenants_json).map_err(|e| format!("TENANTS is not a JSON list of tenants: {e}"))?;
        check_tenants(&tenants)?;
        let webhook_token_secret = req("WEBHOOK_TOKEN_SECRET")?;
        if webhook_token_secret.len() < MIN_TOKEN_SECRET_BYTES {
            return Err(format!("WEBHOOK_TOKEN_SECRET must be at least {MIN_TOKEN_SECRET_BYTES} bytes (e.g. `openssl rand -hex 32`)"));
        }
        Ok(EdgeConfig {
            s3: S3Config {
                endpoint: req("S3_ENDPOINT")?.trim_end_matches('/').to_owned(),
                region: get("S3_REGION").filter(|v| !v.is_empty()).unwrap_or_else(|| "auto".into()),
                bucket: req("S3_BUCKET")?,
                access_key: req("S3_ACCESS_KEY")?,
                secret_key: req("S3_SECRET_KEY")?,
                path_style: flag("S3_PATH_STYLE", true),
            },
            public_output_base_url: get("PUBLIC_OUTPUT_BASE_URL").filter(|v| !v.is_empty()).map(|v| v.trim_end_matches('/').to_owned()),
            runpod_base_url: get("RUNPOD_BASE_URL")
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| "https://api.runpod.ai".into())
                .trim_end_matches('/')
                .to_owned(),
            runpod_endpoint_id: req("RUNPOD_ENDPOINT_ID")?,
            runpod_api_key: req("RUNPOD_API_KEY")?,
            edge_public_url: req("EDGE_PUBLIC_URL")?.trim_end_matches('/').to_owned(),
            webhook_token_secret,
            tenants,
            allow_loopback_http: flag("ALLOW_LOOPBACK_HTTP", false),
            execution_timeout: secs("EXECUTION_TIMEOUT_SECS", 600)?,
            queue_ttl: secs("QUEUE_TTL_SECS", 1800)?,
            status_poll: secs("STATUS_POLL_SECS", 30)?,
            download_url_ttl: secs("DOWNLOAD_URL_TTL_SECS", 3600)?,
            max_body_bytes: num("MAX_BODY_BYTES", 1 << 20)? as usize,
            retry: RetryPolicy {
                max_attempts: num("MAX_ATTEMPTS", 3)?.clamp(1, 20) as u32,
                base: secs("RETRY_BASE_SECS", 30)?,
                max: secs("RETRY_MAX_SECS", 300)?,
            },
            webhooks: WebhookPolicy {
                base: secs("WEBHOOK_RETRY_BASE_SECS", 60)?,
                max: secs("WEBHOOK_RETRY_MAX_SECS", 3600)?,
                window: secs("WEBHOOK_RETRY_WINDOW_SECS", 25 * 3600)?,
            },
            webhook_timeout: secs("WEBHOOK_TIMEOUT_SECS", 10)?,
            lease_ttl: secs("LEASE_TTL_SECS", 120)?,
            fanout_clips: num("FANOUT_CLIPS", 12)? as usize,
            cors_origins: get("CORS_ORIGINS")
                .unwrap_or_default()
                .split(',')
                .map(|o| o.trim().trim_end_matches('/').to_owned())
                .filter(|o| !o.is_empty())
                .collect(),
            providers,
        })
    }
}

/// `WEBHOOK_TOKEN_SECRET` keys an HMAC-SHA256: at least its output's length.
pub const MIN_TOKEN_SECRET_BYTES: usize = 32;

/// Each tenant well-formed, and no two that could be confused: names, key hashes and
/// prefixes unique, and no prefix inside another (`tenants/a/` and `tenants/a/b/` would
/// share objects).
pub fn check_tenants(tenants: &[Tenant]) -> Result<(), String> {
    if tenants.is_empty() {
        return Err("TENANTS lists no tenant".into());
    }
    for (i, t) in tenants.iter().enumerate() {
        t.check().map_err(|e| format!("TENANTS: {e}"))?;
        for u in &tenants[..i] {
            if u.name == t.name {
                return Err(format!("TENANTS: two tenants are named `{}`", t.name));
            }
            if u.key_sha256.eq_ignore_ascii_case(&t.key_sha256) {
                return Err(format!("TENANTS: tenants `{}` and `{}` have the same key_sha256", u.name, t.name));
            }
            if u.prefix.starts_with(&t.prefix) || t.prefix.starts_with(&u.prefix) {
                return Err(format!(
                    "TENANTS: the prefixes of `{}` ({}) and `{}` ({}) overlap; each tenant needs its own folder",
                    u.name, u.prefix, t.name, t.prefix
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::HashMap;

    pub fn vars() -> HashMap<&'static str, String> {
        HashMap::from([
            ("S3_ENDPOINT", "http://127.0.0.1:9000/".to_owned()),
            ("S3_BUCKET", "media".to_owned()),
            ("S3_ACCESS_KEY", "AK".to_owned()),
            ("S3_SECRET_KEY", "SK".to_owned()),
            ("RUNPOD_BASE_URL", "http://127.0.0.1:8000".to_owned()),
            ("RUNPOD_ENDPOINT_ID", "local".to_owned()),
            ("RUNPOD_API_KEY", "rp".to_owned()),
            ("EDGE_PUBLIC_URL", "http://127.0.0.1:8787".to_owned()),
            ("WEBHOOK_TOKEN_SECRET", "0123456789abcdef0123456789abcdef".to_owned()),
            (
                "TENANTS",
                r#"[{"name":"acme","key_sha256":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","prefix":"tenants/acme/","webhook_secret":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}]"#.to_owned(),
            ),
        ])
    }

    pub fn config() -> EdgeConfig {
        let v = vars();
        EdgeConfig::from_lookup(|k| v.get(k).cloned()).unwrap()
    }

    #[test]
    fn defaults_and_overrides() {
        let c = config();
        assert_eq!(c.s3.endpoint, "http://127.0.0.1:9000");
        assert_eq!(c.s3.region, "auto");
        assert!(c.s3.path_style);
        assert_eq!(c.execution_timeout, Duration::from_secs(600));
        assert_eq!(c.job_url_ttl(), Duration::from_secs(2400));
        assert!(!c.allow_loopback_http);
        assert_eq!(c.max_body_bytes, 1 << 20);
        assert_eq!(c.retry.max_attempts, 3);
        // The production webhook schedule retries for at least 24 h.
        assert!(crate::webhook::attempts_within(Duration::from_secs(24 * 3600), c.webhooks.base, c.webhooks.max) > 20);
        assert!(c.webhooks.window >= Duration::from_secs(24 * 3600));
        assert!(c.cors_origins.is_empty());
        assert_eq!(c.cors_allow("https://app.test"), None);
        let mut v = vars();
        v.insert("CORS_ORIGINS", "https://app.test/, https://b.test".into());
        let c = EdgeConfig::from_lookup(|k| v.get(k).cloned()).unwrap();
        assert_eq!(c.cors_allow("https://app.test").as_deref(), Some("https://app.test"));
        assert_eq!(c.cors_allow("https://evil.test"), None);
        v.insert("CORS_ORIGINS", "*".into());
        let c = EdgeConfig::from_lookup(|k| v.get(k).cloned()).unwrap();
        assert_eq!(c.cors_allow("https://any.test").as_deref(), Some("*"));
    }

    #[test]
    fn says_what_to_fix() {
        let mut v = vars();
        v.remove("S3_BUCKET");
        assert_eq!(EdgeConfig::from_lookup(|k| v.get(k).cloned()).unwrap_err(), "S3_BUCKET is not set (a var or secret of the Worker)");
        let mut v = vars();
        v.insert("EXECUTION_TIMEOUT_SECS", "ten".into());
        assert!(EdgeConfig::from_lookup(|k| v.get(k).cloned()).unwrap_err().starts_with("EXECUTION_TIMEOUT_SECS"));
        let mut v = vars();
        v.insert("TENANTS", r#"[{"name":"x","key_sha256":"abc","prefix":"p/","webhook_secret":"whsec_x"}]"#.into());
        assert!(EdgeConfig::from_lookup(|k| v.get(k).cloned()).unwrap_err().contains("key_sha256"));
    }

    #[test]
    fn bad_tenants_and_short_secrets_fail_at_load() {
        let load = |v: &HashMap<&'static str, String>| EdgeConfig::from_lookup(|k| v.get(k).cloned());
        let tenant = |name: &str, key: &str, prefix: &str, secret: &str| {
            format!(r#"{{"name":"{name}","key_sha256":"{}","prefix":"{prefix}","webhook_secret":"{secret}"}}"#, key.repeat(64))
        };
        let ok = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let cases = [
            (format!("[{},{}]", tenant("a", "1", "t/a/", ok), tenant("a", "2", "t/b/", ok)), "two tenants are named `a`"),
            (format!("[{},{}]", tenant("a", "1", "t/a/", ok), tenant("b", "1", "t/b/", ok)), "the same key_sha256"),
            (format!("[{},{}]", tenant("a", "1", "t/a/", ok), tenant("b", "2", "t/a/b/", ok)), "overlap"),
            (format!("[{},{}]", tenant("a", "1", "t/a/b/", ok), tenant("b", "2", "t/a/", ok)), "overlap"),
            (format!("[{},{}]", tenant("a", "1", "t/", ok), tenant("b", "2", "t/", ok)), "overlap"),
            (format!("[{}]", tenant("a", "1", "t/a/", "whsec_not*base64")), "webhook_secret"),
            (format!("[{}]", tenant("a", "1", "t/a/", "whsec_")), "webhook_secret"),
        ];
        for (tenants, want) in cases {
            let mut v = vars();
            v.insert("TENANTS", tenants.clone());
            let err = load(&v).unwrap_err();
            assert!(err.contains(want), "{tenants}: {err}");
        }
        // Sibling prefixes that share a leading string are fine: `t/a/` and `t/ab/`.
        let mut v = vars();
        v.insert("TENANTS", format!("[{},{}]", tenant("a", "1", "t/a/", ok), tenant("b", "2", "t/ab/", ok)));
        assert_eq!(load(&v).unwrap().tenants.len(), 2);
        let mut v = vars();
        v.insert("WEBHOOK_TOKEN_SECRET", "x".repeat(MIN_TOKEN_SECRET_BYTES - 1));
        assert!(load(&v).unwrap_err().starts_with("WEBHOOK_TOKEN_SECRET must be at least 32 bytes"));
    }
}
