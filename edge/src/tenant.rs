//! What a tenant's Durable Object decides, pure: the rate-limit token bucket, the
//! concurrency leases and the FIFO of jobs waiting for one, `Idempotency-Key`
//! replays, the admission of a new job (all of those in one decision, so a submission
//! costs one round trip to the tenant), and the `GET /jobs` query. Times are epoch
//! milliseconds passed in.
//!
//! Leases expire: a job renews its lease every time its alarm runs, so a job that is
//! lost (its object never runs again) frees its slots after `lease_ttl` at most — no
//! admin route is needed to recover leaked slots.

use std::collections::VecDeque;

use job_spec::JobStatus;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Default requests per minute when a tenant sets none.
pub const DEFAULT_RATE_PER_MINUTE: u32 = 120;
/// Default concurrent jobs (lease slots) when a tenant sets none.
pub const DEFAULT_MAX_CONCURRENT: u32 = 10;
/// `Idempotency-Key` records live this long.
pub const IDEMPOTENCY_TTL_MS: i64 = 24 * 3600 * 1000;
/// Retention: a job's object deletes its storage this long after the job ended, and the
/// tenant's index forgets a job this long after its last change (its end).
pub const RETENTION_MS: i64 = 30 * 24 * 3600 * 1000;
/// Longest `Idempotency-Key` accepted.
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

/// A token bucket holding up to `per_minute` tokens, refilled continuously.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    pub tokens: f64,
    pub updated_ms: i64,
}

impl Bucket {
    pub fn full(per_minute: u32, now_ms: i64) -> Bucket {
        Bucket { tokens: per_minute as f64, updated_ms: now_ms }
    }

    /// Takes one token, or says in how many whole seconds one will be there.
    pub fn take(&mut self, per_minute: u32, now_ms: i64) -> Result<(), u64> {
        let cap = per_minute.max(1) as f64;
        let per_ms = cap / 60_000.0;
        let elapsed = (now_ms - self.updated_ms).max(0) as f64;
        self.tokens = (self.tokens + elapsed * per_ms).min(cap);
        self.updated_ms = now_ms.max(self.updated_ms);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let wait_ms = (1.0 - self.tokens) / per_ms;
            Err(((wait_ms / 1000.0).ceil() as u64).max(1))
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub job_id: String,
    pub slots: u32,
    pub expires_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waiter {
    pub job_id: String,
    pub slots: u32,
    pub since_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Acquire {
    Granted {
        expires_ms: i64,
    },
    /// 0 = next in line.
    Waiting {
        position: u32,
    },
}

/// The tenant's slots: leases held and jobs waiting, first come first served.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseBook {
    pub leases: Vec<Lease>,
    pub waiting: VecDeque<Waiter>,
}

impl LeaseBook {
    pub fn used(&self) -> u32 {
        self.leases.iter().map(|l| l.slots).sum()
    }

    /// Drops expired leases; returns their jobs.
    pub fn expire(&mut self, now_ms: i64) -> Vec<String> {
        let (gone, kept): (Vec<Lease>, Vec<Lease>) = self.leases.drain(..).partition(|l| l.expires_ms <= now_ms);
        self.leases = kept;
        gone.into_iter().map(|l| l.job_id).collect()
    }

    /// Grants (or renews) `slots` to `job_id`, or queues it. A job never needs more
    /// than `max` slots (it is clamped), so the head of the line always fits eventually.
    pub fn acquire(&mut self, job_id: &str, slots: u32, max: u32, now_ms: i64, ttl_ms: i64) -> Acquire {
        let max = max.max(1);
        let slots = slots.clamp(1, max);
        let expires_ms = now_ms + ttl_ms;
        self.expire(now_ms);
        if let Some(l) = self.leases.iter_mut().find(|l| l.job_id == job_id) {
            l.expires_ms = expires_ms;
            return Acquire::Granted { expires_ms };
        }
        let free = max.saturating_sub(self.used());
        match self.waiting.iter().position(|w| w.job_id == job_id) {
            Some(0) if slots <= free => {
                self.waiting.pop_front();
            }
            Some(pos) => return Acquire::Waiting { position: pos as u32 },
            None if self.waiting.is_empty() && slots <= free => {}
            None => {
                self.waiting.push_back(Waiter { job_id: job_id.to_owned(), slots, since_ms: now_ms });
                return Acquire::Waiting { position: self.waiting.len() as u32 - 1 };
            }
        }
        self.leases.push(Lease { job_id: job_id.to_owned(), slots, expires_ms });
        Acquire::Granted { expires_ms }
    }

    /// Frees the job's slots and takes it out of the line.
    pub fn release(&mut self, job_id: &str) {
        self.leases.retain(|l| l.job_id != job_id);
        self.waiting.retain(|w| w.job_id != job_id);
    }

    /// Waiting jobs that would be granted now, in order (to be woken up).
    pub fn promotable(&self, max: u32) -> Vec<String> {
        let mut free = max.max(1).saturating_sub(self.used());
        let mut out = vec![];
        for w in &self.waiting {
            if w.slots > free {
                break;
            }
            free -= w.slots;
            out.push(w.job_id.clone());
        }
        out
    }

    /// The earliest lease expiry, for the tenant's alarm.
    pub fn next_expiry(&self) -> Option<i64> {
        self.leases.iter().map(|l| l.expires_ms).min()
    }
}

/// What an `Idempotency-Key` means for a new request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Idempotency {
    /// No live record: this request creates the job (and the record).
    New,
    /// Same key, same request: answer with the job it created.
    Replay { job_id: String },
    /// Same key, different request.
    Conflict { job_id: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    pub request_sha256: String,
    pub job_id: String,
    pub created_ms: i64,
}

pub fn idempotency(existing: Option<&IdempotencyRecord>, request_sha256: &str, now_ms: i64) -> Idempotency {
    match existing {
        Some(r) if now_ms - r.created_ms < IDEMPOTENCY_TTL_MS => {
            if r.request_sha256 == request_sha256 {
                Idempotency::Replay { job_id: r.job_id.clone() }
            } else {
                Idempotency::Conflict { job_id: r.job_id.clone() }
            }
        }
        _ => Idempotency::New,
    }
}

/// What a submission asks of its tenant, in one call: a token, its `Idempotency-Key`
/// (key and request fingerprint), and `slots` lease slots of the tenant's `max`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdmitRequest {
    pub job_id: String,
    pub rate_per_minute: u32,
    pub idempotency: Option<(String, String)>,
    pub slots: u32,
    pub max: u32,
    pub ttl_ms: i64,
}

/// The tenant's answer to a submission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Admission {
    /// A new job: its index row (QUEUED) and `Idempotency-Key` record are to be written,
    /// and it holds its lease or waits in line, as `lease` says.
    Admitted {
        lease: Acquire,
    },
    RateLimited {
        retry_after: u64,
    },
    /// Same key, same request: the job it created, nothing new written.
    Replay {
        job_id: String,
    },
    /// Same key, another request.
    Conflict {
        job_id: String,
    },
}

/// Admits a submission, in order: the rate limit (a replay costs a token too, as any
/// request), the `Idempotency-Key` (`existing` is the key's record, if any), then a lease
/// or a place in line. `bucket` always changes (the caller saves it); `book` changes only
/// when the job is admitted. A refused or replayed request takes no lease and no place.
pub fn admit(
    bucket: &mut Bucket,
    book: &mut LeaseBook,
    existing: Option<&IdempotencyRecord>,
    req: &AdmitRequest,
    now_ms: i64,
) -> Admission {
    if let Err(retry_after) = bucket.take(req.rate_per_minute, now_ms) {
        return Admission::RateLimited { retry_after };
    }
    if let Some((_, sha)) = &req.idempotency {
        match idempotency(existing, sha, now_ms) {
            Idempotency::Replay { job_id } => return Admission::Replay { job_id },
            Idempotency::Conflict { job_id } => return Admission::Conflict { job_id },
            Idempotency::New => {}
        }
    }
    Admission::Admitted { lease: book.acquire(&req.job_id, req.slots, req.max, now_ms, req.ttl_ms) }
}

/// The request's fingerprint: the operation and the exact body bytes.
pub fn request_sha256(operation: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(operation.as_bytes());
    h.update(b"\n");
    h.update(body);
    hex::encode(h.finalize())
}

/// `Idempotency-Key`: 1–255 visible ASCII characters.
pub fn check_idempotency_key(key: &str) -> Result<(), String> {
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!("Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"));
    }
    Ok(())
}

/// `GET /jobs?limit=&status=`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListQuery {
    pub limit: u32,
    pub status: Option<JobStatus>,
}

pub const DEFAULT_LIST_LIMIT: u32 = 20;
pub const MAX_LIST_LIMIT: u32 = 100;

impl ListQuery {
    /// Parses the query string; every problem is returned as `(field, message)`.
    pub fn parse(query: &str) -> Result<ListQuery, Vec<(String, String)>> {
        let mut q = ListQuery { limit: DEFAULT_LIST_LIMIT, status: None };
        let mut problems = vec![];
        for (k, v) in url::form_urlencoded::parse(query.trim_start_matches('?').as_bytes()) {
            match k.as_ref() {
                "limit" => match v.parse::<u32>() {
                    Ok(n) if (1..=MAX_LIST_LIMIT).contains(&n) => q.limit = n,
                    _ => problems.push(("limit".to_owned(), format!("limit must be a whole number from 1 to {MAX_LIST_LIMIT}"))),
                },
                "status" => match serde_json::from_value::<JobStatus>(serde_json::Value::String(v.to_ascii_uppercase())) {
                    Ok(s) => q.status = Some(s),
                    Err(_) => problems.push((
                        "status".to_owned(),
                        "status must be one of QUEUED, SUBMITTED, PROCESSING, COMPLETED, FAILED, CANCELLED, TIMED_OUT".to_owned(),
                    )),
                },
                _ => {}
            }
        }
        if problems.is_empty() { Ok(q) } else { Err(problems) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_a_burst_then_paces() {
        let mut b = Bucket::full(3, 0);
        assert_eq!((b.take(3, 0), b.take(3, 0), b.take(3, 0)), (Ok(()), Ok(()), Ok(())));
        // Empty: one token every 20 s.
        assert_eq!(b.take(3, 0), Err(20));
        assert_eq!(b.take(3, 15_000), Err(5));
        assert_eq!(b.take(3, 20_000), Ok(()));
        assert_eq!(b.take(3, 20_001), Err(20));
        // Refill stops at the burst size.
        let mut b = Bucket { tokens: 0.0, updated_ms: 0 };
        b.take(3, 3_600_000).unwrap();
        assert_eq!(b.tokens, 2.0);
        // A clock going backwards does not mint tokens.
        let mut b = Bucket { tokens: 0.0, updated_ms: 10_000 };
        assert!(b.take(60, 5_000).is_err());
    }

    #[test]
    fn leases_are_fifo_and_bounded() {
        let mut book = LeaseBook::default();
        let ttl = 10_000;
        assert_eq!(book.acquire("a", 1, 2, 0, ttl), Acquire::Granted { expires_ms: 10_000 });
        assert_eq!(book.acquire("b", 1, 2, 0, ttl), Acquire::Granted { expires_ms: 10_000 });
        assert_eq!(book.acquire("c", 2, 2, 1, ttl), Acquire::Waiting { position: 0 });
        assert_eq!(book.acquire("d", 1, 2, 2, ttl), Acquire::Waiting { position: 1 });
        // Asking again keeps the place in line.
        assert_eq!(book.acquire("d", 1, 2, 3, ttl), Acquire::Waiting { position: 1 });
        book.release("a");
        // One slot is free but c needs two: d must not jump the line.
        assert!(book.promotable(2).is_empty());
        assert_eq!(book.acquire("d", 1, 2, 4, ttl), Acquire::Waiting { position: 1 });
        book.release("b");
        assert_eq!(book.promotable(2), vec!["c".to_owned()]);
        assert_eq!(book.acquire("c", 2, 2, 5, ttl), Acquire::Granted { expires_ms: 10_005 });
        assert_eq!(book.acquire("d", 1, 2, 6, ttl), Acquire::Waiting { position: 0 });
        assert_eq!(book.used(), 2);
        // More slots than the tenant has are clamped, so the job can still run.
        let mut book = LeaseBook::default();
        assert!(matches!(book.acquire("big", 50, 4, 0, ttl), Acquire::Granted { .. }));
        assert_eq!(book.used(), 4);
    }

    #[test]
    fn a_lost_job_cannot_hold_a_slot_forever() {
        let mut book = LeaseBook::default();
        book.acquire("lost", 1, 1, 0, 10_000);
        assert_eq!(book.acquire("next", 1, 1, 1_000, 10_000), Acquire::Waiting { position: 0 });
        // "lost" never renews; "alive" would have renewed before expiry.
        assert_eq!(book.next_expiry(), Some(10_000));
        assert_eq!(book.expire(9_999), Vec::<String>::new());
        assert_eq!(book.expire(10_000), vec!["lost".to_owned()]);
        assert_eq!(book.promotable(1), vec!["next".to_owned()]);
        assert!(matches!(book.acquire("next", 1, 1, 10_001, 10_000), Acquire::Granted { .. }));
        // Renewal moves the expiry.
        assert_eq!(book.acquire("next", 1, 1, 15_000, 10_000), Acquire::Granted { expires_ms: 25_000 });
        assert_eq!(book.expire(20_000), Vec::<String>::new());
    }

    #[test]
    fn idempotency_replays_conflicts_and_expires() {
        let sha = request_sha256("video/img2vid", br#"{"images":[]}"#);
        assert_ne!(sha, request_sha256("video/caption", br#"{"images":[]}"#));
        assert_ne!(sha, request_sha256("video/img2vid", br#"{"images": []}"#));
        let rec = IdempotencyRecord { request_sha256: sha.clone(), job_id: "j1".into(), created_ms: 0 };
        assert_eq!(idempotency(None, &sha, 0), Idempotency::New);
        assert_eq!(idempotency(Some(&rec), &sha, 1_000), Idempotency::Replay { job_id: "j1".into() });
        assert_eq!(idempotency(Some(&rec), "other", 1_000), Idempotency::Conflict { job_id: "j1".into() });
        assert_eq!(idempotency(Some(&rec), &sha, IDEMPOTENCY_TTL_MS), Idempotency::New);
        assert!(check_idempotency_key("order-42/a").is_ok());
        assert!(check_idempotency_key("").is_err());
        assert!(check_idempotency_key("has space").is_err());
        assert!(check_idempotency_key(&"k".repeat(256)).is_err());
    }

    fn req(job: &str, idem: Option<(&str, &str)>, slots: u32) -> AdmitRequest {
        AdmitRequest {
            job_id: job.into(),
            rate_per_minute: 3,
            idempotency: idem.map(|(k, s)| (k.into(), s.into())),
            slots,
            max: 2,
            ttl_ms: 10_000,
        }
    }

    #[test]
    fn one_admission_decides_rate_idempotency_and_lease() {
        let (mut bucket, mut book) = (Bucket::full(3, 0), LeaseBook::default());
        // A new job holds its lease from the start; the next one that does not fit waits in line.
        assert_eq!(
            admit(&mut bucket, &mut book, None, &req("a", Some(("k", "sha-a")), 2), 0),
            Admission::Admitted { lease: Acquire::Granted { expires_ms: 10_000 } }
        );
        assert_eq!(
            admit(&mut bucket, &mut book, None, &req("b", None, 1), 1),
            Admission::Admitted { lease: Acquire::Waiting { position: 0 } }
        );
        assert_eq!(book.used(), 2);
        assert_eq!(book.waiting.iter().map(|w| w.job_id.as_str()).collect::<Vec<_>>(), ["b"]);
        // A replay and a conflict take no slot and no place in line, but cost a token.
        let rec = IdempotencyRecord { request_sha256: "sha-a".into(), job_id: "a".into(), created_ms: 0 };
        let before = book.clone();
        assert_eq!(
            admit(&mut bucket, &mut book, Some(&rec), &req("c", Some(("k", "sha-a")), 1), 2),
            Admission::Replay { job_id: "a".into() }
        );
        assert_eq!(book, before);
        // The bucket is empty now: even a would-be conflict is rate limited first.
        assert_eq!(
            admit(&mut bucket, &mut book, Some(&rec), &req("d", Some(("k", "sha-d")), 1), 3),
            Admission::RateLimited { retry_after: 20 }
        );
        assert_eq!(
            admit(&mut bucket, &mut book, Some(&rec), &req("d", Some(("k", "sha-d")), 1), 20_003),
            Admission::Conflict { job_id: "a".into() }
        );
        assert_eq!(book, before, "refused requests leave the book alone");
        // An expired key admits a new job under it.
        let old = IdempotencyRecord { created_ms: -IDEMPOTENCY_TTL_MS, ..rec };
        assert!(matches!(
            admit(&mut Bucket::full(3, 0), &mut book, Some(&old), &req("e", Some(("k", "sha-a")), 1), 40_000),
            Admission::Admitted { .. }
        ));
        // The answer crosses the Durable Object boundary as JSON.
        let a = Admission::Admitted { lease: Acquire::Waiting { position: 3 } };
        assert_eq!(serde_json::from_str::<Admission>(&serde_json::to_string(&a).unwrap()).unwrap(), a);
    }

    #[test]
    fn list_query() {
        assert_eq!(ListQuery::parse(""), Ok(ListQuery { limit: 20, status: None }));
        assert_eq!(ListQuery::parse("?limit=5&status=completed"), Ok(ListQuery { limit: 5, status: Some(JobStatus::Completed) }));
        assert_eq!(ListQuery::parse("status=TIMED_OUT").unwrap().status, Some(JobStatus::TimedOut));
        let e = ListQuery::parse("limit=0&status=DONE").unwrap_err();
        assert_eq!(e.iter().map(|(f, _)| f.as_str()).collect::<Vec<_>>(), ["limit", "status"]);
        assert!(ListQuery::parse("limit=101").is_err());
    }
}
