//! Per-job tokens for the URLs the GPU side calls back, each an HMAC-SHA256 of the job
//! id under the edge's secret, hex, with its own domain so one cannot stand for the
//! other: RunPod's completion webhook (`"runpod:" + job_id`) and the worker's progress
//! reports (`"progress:" + job_id`). Neither RunPod nor the worker can sign its
//! requests, so the URL itself carries the proof.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &str, domain: &[u8], job_id: &str) -> HmacSha256 {
    let mut m = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    m.update(domain);
    m.update(job_id.as_bytes());
    m
}

fn verify(secret: &str, domain: &[u8], job_id: &str, token: &str) -> bool {
    match hex::decode(token) {
        Ok(bytes) => mac(secret, domain, job_id).verify_slice(&bytes).is_ok(),
        Err(_) => false,
    }
}

const RUNPOD: &[u8] = b"runpod:";
const PROGRESS: &[u8] = b"progress:";

pub fn job_token(secret: &str, job_id: &str) -> String {
    hex::encode(mac(secret, RUNPOD, job_id).finalize().into_bytes())
}

/// Constant-time check of a presented completion-webhook token.
pub fn verify_job_token(secret: &str, job_id: &str, token: &str) -> bool {
    verify(secret, RUNPOD, job_id, token)
}

pub fn progress_token(secret: &str, job_id: &str) -> String {
    hex::encode(mac(secret, PROGRESS, job_id).finalize().into_bytes())
}

/// Constant-time check of a presented progress token.
pub fn verify_progress_token(secret: &str, job_id: &str, token: &str) -> bool {
    verify(secret, PROGRESS, job_id, token)
}

/// The URL the worker POSTs part `part`'s progress to during attempt `attempt`. The
/// token covers the job; part and attempt are checked against the job's record.
pub fn progress_url(edge_public_url: &str, secret: &str, job_id: &str, part: usize, attempt: u32) -> String {
    let token = progress_token(secret, job_id);
    format!("{}/internal/progress/{job_id}/{token}?part={part}&attempt={attempt}", edge_public_url.trim_end_matches('/'))
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

    #[test]
    fn a_completion_token_is_no_progress_token_and_back() {
        let (done, progress) = (job_token("s", "job1"), progress_token("s", "job1"));
        assert_ne!(done, progress);
        assert!(verify_progress_token("s", "job1", &progress));
        assert!(!verify_progress_token("s", "job1", &done));
        assert!(!verify_job_token("s", "job1", &progress));
        assert!(!verify_progress_token("s", "job2", &progress));
        assert!(!verify_progress_token("s2", "job1", &progress));
        assert_eq!(
            progress_url("https://edge.example/", "s", "job1", 2, 3),
            format!("https://edge.example/internal/progress/job1/{progress}?part=2&attempt=3")
        );
    }
}
