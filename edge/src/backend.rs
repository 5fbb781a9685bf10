//! The GPU backend's answers, pure: which HTTP statuses of the RunPod API are retried
//! (unreachable, 5xx, and 429 after its `Retry-After`), refused or unknown jobs; and
//! the cache of its health behind `GET /health` and `GET /queue/stats`, so anonymous
//! callers cannot make the edge call RunPod more than once per [`HEALTH_TTL_MS`].
//! Times are epoch milliseconds passed in.

use serde_json::{Value, json};

/// How long a health check of the backend is answered from the cache.
pub const HEALTH_TTL_MS: i64 = 15_000;
/// A `Retry-After` longer than this is read as this (a job's deadline is shorter).
pub const MAX_RETRY_AFTER_SECS: u64 = 24 * 3600;

/// Why a call to the backend did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendError {
    /// Could not reach RunPod, or it answered 5xx (or 408): retried.
    Unavailable(String),
    /// 429: RunPod is throttling us. Retried, not before `retry_after_secs` when it said.
    Busy { retry_after_secs: Option<u64>, message: String },
    /// RunPod refused the request (another 4xx) or answered something unreadable.
    Refused(String),
    /// RunPod does not know the job (404 from `/status` or `/cancel`).
    NotFound(String),
}

impl BackendError {
    /// Whether the same request may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, BackendError::Unavailable(_) | BackendError::Busy { .. })
    }

    /// The job error code a submission that failed this way ends with.
    pub fn code(&self) -> &'static str {
        match self {
            BackendError::Unavailable(_) => "gpu-backend-unavailable",
            BackendError::Busy { .. } => "gpu-backend-busy",
            BackendError::Refused(_) | BackendError::NotFound(_) => "gpu-backend-refused",
        }
    }

    /// The earliest a retry is worth it, in seconds, when the backend said.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            BackendError::Busy { retry_after_secs, .. } => *retry_after_secs,
            _ => None,
        }
    }
}

impl std::fmt::Display for BackendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BackendError::Unavailable(m) => write!(f, "unavailable: {m}"),
            BackendError::Busy { retry_after_secs: Some(s), message } => write!(f, "busy (retry after {s} s): {message}"),
            BackendError::Busy { retry_after_secs: None, message } => write!(f, "busy: {message}"),
            BackendError::Refused(m) => write!(f, "refused: {m}"),
            BackendError::NotFound(m) => write!(f, "not found: {m}"),
        }
    }
}

/// An HTTP answer of the RunPod API: `Ok(())` for 2xx (the caller reads the body), else
/// what kind of failure it is. `retry_after` is the `Retry-After` header.
pub fn classify(status: u16, retry_after: Option<&str>, body: &str, now_ms: i64) -> Result<(), BackendError> {
    let excerpt = || format!("HTTP {status}: {}", body.chars().take(300).collect::<String>());
    match status {
        200..=299 => Ok(()),
        429 => Err(BackendError::Busy { retry_after_secs: retry_after.and_then(|v| parse_retry_after(v, now_ms)), message: excerpt() }),
        408 | 500.. => Err(BackendError::Unavailable(format!("HTTP {status}"))),
        404 => Err(BackendError::NotFound(excerpt())),
        _ => Err(BackendError::Refused(excerpt())),
    }
}

/// `Retry-After` (RFC 9110 §10.2.3): whole seconds, or an HTTP date (IMF-fixdate, e.g.
/// `Wed, 21 Oct 2015 07:28:00 GMT`) read against `now_ms`. A date in the past is 0;
/// anything else is `None`. Capped at [`MAX_RETRY_AFTER_SECS`].
pub fn parse_retry_after(value: &str, now_ms: i64) -> Option<u64> {
    let v = value.trim();
    let secs = if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        v.parse::<u64>().unwrap_or(u64::MAX)
    } else {
        let at_ms = parse_imf_fixdate(v)?;
        // Rounded up: retrying a fraction of a second early would be throttled again.
        ((at_ms - now_ms).max(0) as u64).div_ceil(1000)
    };
    Some(secs.min(MAX_RETRY_AFTER_SECS))
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` → epoch milliseconds.
fn parse_imf_fixdate(v: &str) -> Option<i64> {
    let (_weekday, rest) = v.split_once(", ")?;
    let parts: Vec<&str> = rest.split(' ').collect();
    let [day, month, year, time, "GMT"] = parts.as_slice() else { return None };
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let month = MONTHS.iter().position(|m| m == month)? as i64 + 1;
    let num = |s: &str, len: usize| (s.len() == len && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse::<i64>().ok()).flatten();
    let (day, year) = (num(day, 2)?, num(year, 4)?);
    let hms: Vec<i64> = time.split(':').map(|t| num(t, 2)).collect::<Option<_>>()?;
    let [h, m, s] = hms.as_slice() else { return None };
    if !(1..=31).contains(&day) || *h > 23 || *m > 59 || *s > 60 {
        return None;
    }
    Some((days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s) * 1000)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// One health check of the backend: when, and RunPod's `/health` answer or what failed.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthCheck {
    pub checked_ms: i64,
    pub result: Result<Value, String>,
}

impl HealthCheck {
    /// For anyone (`GET /health`): reachable or not, and when that was seen. RunPod's
    /// counts and errors are for tenants only.
    pub fn public_view(&self, now_ms: i64) -> Value {
        json!({
            "reachable": self.result.is_ok(),
            "checked_at": job_spec::job::rfc3339_from_ms(self.checked_ms),
            "age_s": (now_ms - self.checked_ms).max(0) / 1000,
        })
    }

    /// For a tenant (`GET /queue/stats`): with RunPod's worker and job counts, or the error.
    pub fn tenant_view(&self, now_ms: i64) -> Value {
        let mut v = self.public_view(now_ms);
        match &self.result {
            Ok(h) => {
                v["workers"] = h.get("workers").cloned().unwrap_or(Value::Null);
                v["jobs"] = h.get("jobs").cloned().unwrap_or(Value::Null);
            }
            Err(e) => v["error"] = json!(e),
        }
        v
    }
}

/// What a health lookup should do.
#[derive(Debug, Clone, PartialEq)]
pub enum HealthLookup {
    /// Answer from the cache.
    Cached(HealthCheck),
    /// Ask the backend, then [`HealthCache::store`] the answer.
    Fetch,
}

/// The last health check, kept per isolate. While one request refreshes it, concurrent
/// ones answer the previous check instead of calling the backend too.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HealthCache {
    last: Option<HealthCheck>,
    refreshing_since_ms: Option<i64>,
}

impl HealthCache {
    pub fn lookup(&mut self, now_ms: i64) -> HealthLookup {
        let fresh = |t: i64| (0..HEALTH_TTL_MS).contains(&(now_ms - t));
        if let Some(last) = &self.last {
            // A refresh that never stored (its request died) stops counting after a TTL.
            if fresh(last.checked_ms) || self.refreshing_since_ms.is_some_and(fresh) {
                return HealthLookup::Cached(last.clone());
            }
        }
        self.refreshing_since_ms = Some(now_ms);
        HealthLookup::Fetch
    }

    pub fn store(&mut self, check: HealthCheck) {
        self.refreshing_since_ms = None;
        self.last = Some(check);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2015-10-21T07:28:00Z.
    const AT: i64 = 1_445_412_480_000;

    #[test]
    fn statuses_classify_and_429_is_retryable_with_its_retry_after() {
        assert_eq!(classify(200, None, "{}", 0), Ok(()));
        let busy = classify(429, Some("7"), "slow down", 0).unwrap_err();
        assert!(busy.is_retryable());
        assert_eq!((busy.code(), busy.retry_after_secs()), ("gpu-backend-busy", Some(7)));
        let busy = classify(429, None, "", 0).unwrap_err();
        assert_eq!((busy.is_retryable(), busy.retry_after_secs()), (true, None));
        for s in [500, 502, 503, 408] {
            let e = classify(s, Some("9"), "", 0).unwrap_err();
            assert_eq!((e.is_retryable(), e.code(), e.retry_after_secs()), (true, "gpu-backend-unavailable", None), "{s}");
        }
        for s in [400, 401, 403, 422] {
            let e = classify(s, None, "no", 0).unwrap_err();
            assert_eq!((e.is_retryable(), e.code()), (false, "gpu-backend-refused"), "{s}");
            assert!(e.to_string().contains(&format!("HTTP {s}: no")));
        }
        assert!(matches!(classify(404, None, "", 0), Err(BackendError::NotFound(_))));
    }

    #[test]
    fn retry_after_is_seconds_or_an_http_date() {
        assert_eq!(parse_retry_after("120", 0), Some(120));
        assert_eq!(parse_retry_after(" 0 ", 0), Some(0));
        assert_eq!(parse_retry_after("99999999999999999999999", 0), Some(MAX_RETRY_AFTER_SECS));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", AT - 30_000), Some(30));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", AT - 29_500), Some(30), "rounded up");
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", AT + 5_000), Some(0), "in the past");
        assert_eq!(parse_retry_after("Thu, 01 Jan 1970 00:00:10 GMT", 0), Some(10));
        assert_eq!(parse_imf_fixdate("Tue, 29 Feb 2028 00:00:00 GMT"), Some(21_243 * 86_400_000));
        for bad in
            ["", "-1", "1.5", "soon", "Wed, 21 Oct 2015 07:28:00 UTC", "Wed, 21 Foo 2015 07:28:00 GMT", "Wed, 21 Oct 2015 7:28:00 GMT"]
        {
            assert_eq!(parse_retry_after(bad, 0), None, "{bad}");
        }
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn health_is_fetched_once_per_ttl_and_concurrent_lookups_share_it() {
        let mut c = HealthCache::default();
        assert_eq!(c.lookup(0), HealthLookup::Fetch);
        // A second request while the first is fetching, with nothing cached yet: it fetches too.
        assert_eq!(c.lookup(10), HealthLookup::Fetch);
        let up = HealthCheck { checked_ms: 100, result: Ok(json!({"workers": {"idle": 1}, "jobs": {}})) };
        c.store(up.clone());
        assert_eq!(c.lookup(100 + HEALTH_TTL_MS - 1), HealthLookup::Cached(up.clone()));
        // Stale: one request refreshes, the others answer the last check meanwhile.
        assert_eq!(c.lookup(100 + HEALTH_TTL_MS), HealthLookup::Fetch);
        assert_eq!(c.lookup(200 + HEALTH_TTL_MS), HealthLookup::Cached(up.clone()));
        // A refresh that never came back does not block refreshing for ever.
        assert_eq!(c.lookup(100 + 2 * HEALTH_TTL_MS), HealthLookup::Fetch);
        let down = HealthCheck { checked_ms: 40_000, result: Err("unavailable: HTTP 502".into()) };
        c.store(down.clone());
        assert_eq!(c.lookup(41_000), HealthLookup::Cached(down.clone()));
        // A clock that went backwards does not keep an entry fresh.
        assert_eq!(c.lookup(0), HealthLookup::Fetch);
    }

    #[test]
    fn anonymous_callers_see_reachability_only() {
        let up = HealthCheck { checked_ms: 1_000, result: Ok(json!({"workers": {"idle": 2}, "jobs": {"inQueue": 3}})) };
        assert_eq!(up.public_view(4_500), json!({"reachable": true, "checked_at": "1970-01-01T00:00:01.000Z", "age_s": 3}));
        assert_eq!(up.tenant_view(4_500)["workers"], json!({"idle": 2}));
        let down = HealthCheck { checked_ms: 1_000, result: Err("refused: HTTP 401: secret detail".into()) };
        assert!(!down.public_view(1_000).to_string().contains("secret"));
        assert_eq!(down.tenant_view(1_000)["error"], "refused: HTTP 401: secret detail");
        // The OpenAPI document quotes the cache's lifetime.
        let doc = job_spec::openapi::document(None);
        let text = doc["paths"]["/health"]["get"]["description"].as_str().unwrap_or_default();
        assert!(text.contains(&format!("once every {} s", HEALTH_TTL_MS / 1000)), "{text}");
    }
}
