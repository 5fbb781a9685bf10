//! Client webhooks per Standard Webhooks: `webhook-id`, `webhook-timestamp` and
//! `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, keyed by the
//! tenant's `whsec_` secret (base64 after the prefix), and the retry schedule.
//! Pure: the timestamp and attempt number are passed in.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookHeaders {
    pub id: String,
    pub timestamp: String,
    pub signature: String,
}

/// Signs `body` for delivery `msg_id` at `timestamp` (Unix seconds).
pub fn sign(secret: &str, msg_id: &str, timestamp: i64, body: &str) -> Result<WebhookHeaders, String> {
    let raw = secret.strip_prefix("whsec_").ok_or("webhook secrets start with whsec_")?;
    let key = STANDARD.decode(raw).map_err(|e| format!("webhook secret is not base64: {e}"))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|e| e.to_string())?;
    mac.update(format!("{msg_id}.{timestamp}.").as_bytes());
    mac.update(body.as_bytes());
    let sig = STANDARD.encode(mac.finalize().into_bytes());
    Ok(WebhookHeaders { id: msg_id.to_owned(), timestamp: timestamp.to_string(), signature: format!("v1,{sig}") })
}

/// The error of a delivery the receiver answered with `status`; `None` for 2xx.
/// Deliveries do not follow redirects (a receiver could point one at an address the
/// URL check refused), so a 3xx is a failed attempt, retried like any other.
pub fn delivery_error(status: u16) -> Option<String> {
    match status {
        200..=299 => None,
        300..=399 => Some(format!("HTTP {status}: redirects are not followed")),
        _ => Some(format!("HTTP {status}")),
    }
}

/// Delay before retry `attempt` (1 = the first retry): `base × 2^(attempt−1)`, capped at
/// `max`. Production uses minutes, local development seconds (configuration).
pub fn retry_delay(attempt: u32, base: Duration, max: Duration) -> Duration {
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(30));
    base.saturating_mul(factor).min(max)
}

/// Attempts made by the time `window` has passed since the first one, so a schedule can
/// be checked to cover at least 24 h.
pub fn attempts_within(window: Duration, base: Duration, max: Duration) -> u32 {
    let (mut elapsed, mut n) = (Duration::ZERO, 1);
    while n < 10_000 {
        let next = elapsed + retry_delay(n, base, max);
        if next > window {
            break;
        }
        elapsed = next;
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_standard_webhooks_test_vector() {
        let h = sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, r#"{"test": 2432232314}"#)
            .unwrap();
        assert_eq!(h.signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert_eq!((h.id.as_str(), h.timestamp.as_str()), ("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330"));
        assert!(sign("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "m", 1, "{}").is_err());
        assert!(sign("whsec_***", "m", 1, "{}").is_err());
    }

    #[test]
    fn redirects_are_failed_deliveries() {
        assert_eq!(delivery_error(200), None);
        assert_eq!(delivery_error(204), None);
        assert_eq!(delivery_error(302).as_deref(), Some("HTTP 302: redirects are not followed"));
        assert_eq!(delivery_error(307).as_deref(), Some("HTTP 307: redirects are not followed"));
        assert_eq!(delivery_error(500).as_deref(), Some("HTTP 500"));
    }

    #[test]
    fn backoff_doubles_to_a_cap_and_covers_a_day() {
        let (base, max) = (Duration::from_secs(60), Duration::from_secs(3600));
        let delays: Vec<u64> = (1..=8).map(|a| retry_delay(a, base, max).as_secs()).collect();
        assert_eq!(delays, [60, 120, 240, 480, 960, 1920, 3600, 3600]);
        // The first attempt, six doubling retries (60+…+1920 = 3780 s), then hourly:
        // 3780 + 22×3600 ≤ 86400, so 1 + 6 + 22 = 29 attempts fit in the first 24 h.
        assert_eq!(attempts_within(Duration::from_secs(24 * 3600), base, max), 29);
        assert_eq!(retry_delay(u32::MAX, base, max), max);
    }
}
