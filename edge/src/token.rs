//! Per-job tokens for RunPod's webhook URL: `HMAC-SHA256(secret, "runpod:" + job_id)`,
//! hex. RunPod cannot sign its webhooks, so the URL itself carries the proof.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &str, job_id: &str) -> HmacSha256 {
    let mut m = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    m.update(b"runpod:");
    m.update(job_id.as_bytes());
    m
}

pub fn job_token(secret: &str, job_id: &str) -> String {
    hex::encode(mac(secret, job_id).finalize().into_bytes())
}

/// Constant-time check of a presented token.
pub fn verify_job_token(secret: &str, job_id: &str, token: &str) -> bool {
    match hex::decode(token) {
        Ok(bytes) => mac(secret, job_id).verify_slice(&bytes).is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_bind_secret_and_job() {
        let t = job_token("s", "job1");
        assert_eq!(t.len(), 64);
        assert!(verify_job_token("s", "job1", &t));
        assert!(!verify_job_token("s", "job2", &t));
        assert!(!verify_job_token("s2", "job1", &t));
        assert!(!verify_job_token("s", "job1", "zz"));
        assert!(!verify_job_token("s", "job1", &t[..62]));
    }
}
