//! The job record's state machine, step by step: submissions, RunPod answers, retries,
//! fan-out, webhooks, retention.

use super::*;
use crate::tenant::Acquire;
use job_spec::worker::{ClipTask, Img2VidTask, OutputMeta};

const POLICY: RetryPolicy = RetryPolicy { max_attempts: 3, base: Duration::from_secs(1), max: Duration::from_secs(4) };
const HOOKS: WebhookPolicy = WebhookPolicy { base: Duration::from_secs(1), max: Duration::from_secs(4), window: Duration::from_secs(10) };

fn task(n: usize) -> Task {
    Task::Img2vid(Img2VidTask {
        width: 1920,
        height: 1080,
        frame_rate: 24,
        clips: (1..=n)
            .map(|i| ClipTask {
                id: i.to_string(),
                input: format!("image_{i}"),
                output: format!("video_{i}"),
                frames: 24,
                zoom: job_spec::ZoomType::Zoomin,
                easing: Default::default(),
            })
            .collect(),
    })
}

fn record_with(parts: usize, webhook: Option<&str>) -> JobRecord {
    let common = Common { id_roteiro: Some(42), webhook_url: webhook.map(str::to_owned), ..Default::default() };
    let mut r = JobRecord::new("j".into(), "acme".into(), common, task(parts.max(1) * 2), parts, 3, 1_000, 100_000);
    // Part p is planned to write video_{2p+1} and video_{2p+2} (as fanout splits).
    for (p, part) in r.parts.iter_mut().enumerate() {
        part.planned_outputs = (2 * p + 1..=2 * p + 2).map(|n| (format!("video_{n}"), format!("t/video_{n}.mp4"))).collect();
    }
    r.lease_held = true;
    for i in 0..parts {
        assert!(r.due_parts(1_000).contains(&i));
        let c = r.claim_submit(i, 1_000).unwrap();
        assert!(r.submitted(i, c, format!("rp-{i}")));
    }
    // The tenant's index is up to date (`a_young_job_tells_the_index_its_end_only`).
    r.indexed_status = Some(r.status);
    r
}

fn record() -> JobRecord {
    record_with(1, None)
}

fn completed_body(id: &str, names: &[&str]) -> Value {
    let out = WorkerOutput {
        outputs: names
            .iter()
            .map(|n| OutputMeta { name: (*n).into(), key: format!("t/{n}.mp4"), duration: Some(1.0), ..Default::default() })
            .collect(),
        ..Default::default()
    };
    json!({"id": id, "status": "COMPLETED", "output": out})
}

fn failed_body(id: &str, code: &str, retryable: bool) -> Value {
    let err = WorkerError { code: code.into(), message: "boom".into(), retryable, stderr_tail: Some("tail".into()) };
    json!({"id": id, "status": "FAILED", "error": err.to_runpod_string()})
}

#[test]
fn lifecycle_to_completed() {
    let mut r = record();
    assert_eq!((r.status, r.attempts()), (JobStatus::Submitted, 1));
    assert!(r.apply_runpod(&json!({"id":"rp-0","status":"IN_PROGRESS"}), 2_000, &POLICY));
    assert!(r.apply_runpod(
        &json!({"id":"rp-0","status":"IN_PROGRESS","output":{"stage":"render","completed":12,"total":24,"percentage":50.0}}),
        2_500,
        &POLICY
    ));
    assert_eq!(r.progress.percentage, 50.0);
    assert!(r.apply_runpod(&completed_body("rp-0", &["video_1", "video_2"]), 3_000, &POLICY));
    assert_eq!(r.started_ms, Some(2_000), "IN_PROGRESS was seen first");
    let v = r.view(&|k| format!("https://dl/{k}"), 0);
    assert_eq!(v.status, JobStatus::Completed);
    assert_eq!(v.id_roteiro, Some(42));
    assert_eq!(v.execution.duration_ms, Some(1_000));
    assert_eq!(v.result.as_ref().unwrap()["videos"][0]["video_url"], "https://dl/t/video_1.mp4");
    let json = serde_json::to_value(&v).unwrap();
    assert_eq!(json["jobId"], "j");
    assert_eq!(json["idRoteiro"], 42);
    assert_eq!(json["operation"], "video/img2vid");
    assert!(json.get("webhook").is_none());
    // Nothing left to do but delete it after the retention period.
    assert_eq!(r.next_wake(3_000, Duration::from_secs(3)), Some(3_000 + RETENTION_MS));
}

#[test]
fn output_keys_come_from_the_plan_never_from_the_worker() {
    let forged = |name: &str, key: &str| {
        let out =
            WorkerOutput { outputs: vec![OutputMeta { name: name.into(), key: key.into(), ..Default::default() }], ..Default::default() };
        json!({"id": "rp-0", "status": "COMPLETED", "output": out})
    };
    // A planned name under another tenant's key, and a name that was never planned.
    for body in [forged("video_1", "tenants/other/secret.mp4"), forged("stolen", "tenants/other/secret.mp4")] {
        let mut r = record();
        assert!(r.apply_runpod(&body, 3_000, &POLICY));
        let asked = std::cell::RefCell::new(vec![]);
        let v = r.view(
            &|k| {
                asked.borrow_mut().push(k.to_owned());
                format!("https://dl/{k}")
            },
            0,
        );
        assert!(asked.borrow().is_empty(), "presigned {:?}", asked.borrow());
        assert!(!serde_json::to_string(&v).unwrap().contains("https://dl/tenants/other"));
        assert_eq!((v.status, v.error.as_ref().map(|e| e.code.as_str())), (JobStatus::Failed, Some("worker-output-mismatch")));
        assert_eq!(r.parts[0].status, PartStatus::Failed, "not retried");
    }
    // plan_outputs takes each part's keys from its plan.
    let mut r = JobRecord::new("j".into(), "t".into(), Common::default(), task(1), 1, 3, 0, 100_000);
    let out = job_spec::plan::PlannedOutput { name: "video_1".into(), key: "t/video_1.mp4".into(), content_type: "video/mp4".into() };
    r.plan_outputs(&[Plan { inputs: vec![], outputs: vec![out], task: task(1) }]);
    assert_eq!(r.parts[0].planned_outputs["video_1"], "t/video_1.mp4");
}

#[test]
fn webhooks_reporting_unplanned_keys_are_refused_and_change_nothing() {
    let forged = |name: &str, key: &str| {
        let out =
            WorkerOutput { outputs: vec![OutputMeta { name: name.into(), key: key.into(), ..Default::default() }], ..Default::default() };
        json!({"id": "rp-0", "status": "COMPLETED", "output": out})
    };
    let r = record();
    for body in [forged("video_1", "tenants/other/secret.mp4"), forged("stolen", "t/video_1.mp4")] {
        assert!(r.webhook_refusal(&body).is_some(), "{body}");
    }
    // Honest, foreign, late and non-completion bodies are not refused here.
    assert_eq!(r.webhook_refusal(&completed_body("rp-0", &["video_1", "video_2"])), None);
    assert_eq!(r.webhook_refusal(&json!({"id": "rp-9", "status": "COMPLETED", "output": {"outputs": []}})), None);
    assert_eq!(r.webhook_refusal(&json!({"id": "rp-0", "status": "IN_PROGRESS"})), None);
    let mut done = record();
    assert!(done.apply_runpod(&completed_body("rp-0", &["video_1"]), 2_000, &POLICY));
    assert_eq!(done.webhook_refusal(&forged("video_1", "tenants/other/secret.mp4")), None, "ignored anyway");
}

#[test]
fn webhook_only_jobs_take_their_start_from_execution_time() {
    let mut r = record();
    let mut body = completed_body("rp-0", &["video_1"]);
    body["executionTime"] = json!(1_500);
    assert!(r.apply_runpod(&body, 10_000, &POLICY));
    let v = r.view(&|k| k.to_owned(), 0);
    assert_eq!(v.execution.duration_ms, Some(1_500));
    assert_eq!(v.started_at.as_deref(), Some("1970-01-01T00:00:08.500Z"));
}

#[test]
fn duplicate_late_and_foreign_webhooks_change_nothing() {
    let mut r = record();
    assert!(r.apply_runpod(&completed_body("rp-0", &["video_1"]), 3_000, &POLICY));
    let snapshot = r.clone();
    assert!(!r.apply_runpod(&completed_body("rp-0", &["video_1"]), 4_000, &POLICY));
    assert!(!r.apply_runpod(&json!({"id":"rp-0","status":"IN_PROGRESS"}), 5_000, &POLICY));
    assert!(!r.apply_runpod(&json!({"id":"rp-0","status":"FAILED","error":"late"}), 5_000, &POLICY));
    assert_eq!(r, snapshot);
    let mut r = record();
    let snapshot = r.clone();
    assert!(!r.apply_runpod(&json!({"id":"rp-other","status":"FAILED","error":"x"}), 1, &POLICY));
    assert!(!r.apply_runpod(&json!({"id":"rp-0","status":"WEIRD"}), 1, &POLICY));
    assert!(!r.apply_runpod(&json!({"status":"FAILED"}), 1, &POLICY));
    assert_eq!(r, snapshot);
}

#[test]
fn permanent_failures_end_the_job_with_code_and_stderr() {
    let mut r = record();
    assert!(r.apply_runpod(&failed_body("rp-0", "input-not-media", false), 9, &POLICY));
    let e = r.error.as_ref().unwrap();
    assert_eq!((r.status, e.code.as_str()), (JobStatus::Failed, "input-not-media"));
    assert_eq!(e.details.as_ref().unwrap()["stderr_tail"], "tail");
    assert_eq!(e.details.as_ref().unwrap()["attempts"], 1);
    let mut r = record();
    assert!(r.apply_runpod(&json!({"id":"rp-0","status":"COMPLETED","output":"garbage"}), 9, &POLICY));
    assert_eq!(r.error.unwrap().code, "invalid-worker-output");
    let mut r = record();
    assert!(r.apply_runpod(&json!({"id":"rp-0","status":"TIMED_OUT"}), 9, &POLICY));
    assert_eq!(r.status, JobStatus::TimedOut);
}

#[test]
fn retryable_failures_are_resubmitted_with_backoff_then_give_up() {
    let mut r = record();
    assert!(r.apply_runpod(&failed_body("rp-0", "upload-failed", true), 2_000, &POLICY));
    assert_eq!(r.status, JobStatus::Submitted, "the job goes on");
    assert_eq!(r.parts[0].status, PartStatus::Waiting);
    assert_eq!(r.parts[0].last_error.as_ref().unwrap().code, "upload-failed");
    // Backoff: 1 s after the first failure.
    assert!(r.due_parts(2_999).is_empty());
    assert_eq!(r.next_wake(2_000, Duration::from_secs(3)), Some(3_000));
    assert_eq!(r.due_parts(3_000), vec![0]);
    let c = r.claim_submit(0, 3_000).unwrap();
    assert!(r.submitted(0, c, "rp-0b".into()));
    assert_eq!(r.attempts(), 2);
    // The first attempt's late webhook is ignored.
    assert!(!r.apply_runpod(&completed_body("rp-0", &["video_1"]), 3_100, &POLICY));
    // A lost worker is retryable too (2 s backoff after the second failure).
    r.part_lost(0, 4_000, &POLICY);
    assert_eq!(r.due_parts(6_000), vec![0]);
    let c = r.claim_submit(0, 6_000).unwrap();
    assert!(r.submitted(0, c, "rp-0c".into()));
    // The third attempt fails: no attempts left.
    assert!(r.apply_runpod(&failed_body("rp-0c", "upload-failed", true), 7_000, &POLICY));
    assert_eq!(r.status, JobStatus::Failed);
    assert_eq!(r.error.as_ref().unwrap().details.as_ref().unwrap()["attempts"], 3);
}

#[test]
fn no_retry_that_cannot_finish_before_the_deadline() {
    let mut r = record();
    r.deadline_ms = 2_500;
    assert!(r.apply_runpod(&failed_body("rp-0", "upload-failed", true), 2_000, &POLICY));
    assert_eq!(r.status, JobStatus::Failed);
}

#[test]
fn submission_failures() {
    // A refusal (another 4xx) fails the job: the client reads it from the job, not the POST.
    let mut r = JobRecord::new("j".into(), "t".into(), Common::default(), task(1), 1, 3, 0, 100_000);
    r.admitted(Acquire::Granted { expires_ms: 10_000 });
    let c = r.claim_submit(0, 0).unwrap();
    r.submit_failed(0, c, &BackendError::Refused("HTTP 401".into()), 0, &POLICY);
    let e = r.error.as_ref().unwrap();
    assert_eq!((r.status, e.code.as_str(), r.attempts()), (JobStatus::Failed, "gpu-backend-refused", 1));
    // A submission that never answered is retried once it is stale.
    let mut r = JobRecord::new("j".into(), "t".into(), Common::default(), task(1), 1, 3, 0, 100_000);
    let c = r.claim_submit(0, 0).unwrap();
    assert!(r.due_parts(SUBMIT_STALE_MS - 1).is_empty());
    assert_eq!(r.due_parts(SUBMIT_STALE_MS), vec![0]);
    // The job ended while a submission was in flight: the caller cancels it.
    r.fail(JobStatus::Cancelled, "cancelled", "x", None, 5);
    assert!(!r.submitted(0, c, "rp".into()));
}

#[test]
fn submissions_back_off_from_one_second_to_a_minute_or_the_retry_after() {
    let delays: Vec<i64> = (1..=9).map(|n| submit_retry_delay_ms(n, None) / 1000).collect();
    assert_eq!(delays, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
    assert_eq!(submit_retry_delay_ms(0, None), 1_000);
    assert_eq!(submit_retry_delay_ms(1, Some(30)), 30_000, "Retry-After, when longer");
    assert_eq!(submit_retry_delay_ms(7, Some(5)), 60_000, "the backoff, when longer");
    assert_eq!(submit_retry_delay_ms(1, Some(600)), 600_000, "Retry-After is not capped (the deadline bounds it)");
}

#[test]
fn submission_retries_are_spread_over_a_quarter_of_the_backoff_per_job() {
    let base = submit_retry_delay_ms(5, None);
    let waits: Vec<i64> = (0..200).map(|j| base + submit_retry_jitter_ms(&format!("job-{j}"), 0, 5, base)).collect();
    assert!(waits.iter().all(|w| (base..=base + base / 4).contains(w)), "{waits:?}");
    // Spread: 200 jobs land in many distinct instants, covering most of the quarter.
    let distinct: std::collections::BTreeSet<i64> = waits.iter().copied().collect();
    assert!(distinct.len() > 150, "{} distinct", distinct.len());
    let (lo, hi) = (waits.iter().min().unwrap(), waits.iter().max().unwrap());
    assert!(hi - lo > base / 5, "spread {lo}..{hi} of {base}");
    // The same job, part and failure count: the same wait (pure); another part: another.
    assert_eq!(submit_retry_jitter_ms("a", 0, 3, 8_000), submit_retry_jitter_ms("a", 0, 3, 8_000));
    assert_ne!(submit_retry_jitter_ms("a", 0, 3, 8_000), submit_retry_jitter_ms("a", 1, 3, 8_000));
}

#[test]
fn a_backend_down_is_a_queue_not_a_failure() {
    let down = BackendError::Unavailable("connection refused".into());
    // Fewer attempts than the backend will fail: submissions that never ran are no attempts.
    let mut r = JobRecord::new("j".into(), "t".into(), Common::default(), task(1), 1, 2, 0, 1_000_000);
    r.admitted(Acquire::Granted { expires_ms: 10_000 });
    let mut t = 0;
    for n in 1..=8u32 {
        let c = r.claim_submit(0, t).unwrap_or_else(|| panic!("due at {t} after {n} failures"));
        r.submit_failed(0, c, &down, t, &POLICY);
        assert_eq!((r.status, r.parts[0].status, r.attempts()), (JobStatus::Queued, PartStatus::Waiting, 0), "failure {n}");
        assert!(r.error.is_none());
        assert_eq!(r.progress.stage, format!("waiting for the GPU backend (attempt {n}): unavailable: connection refused"));
        let wait = submit_retry_delay_ms(n, None);
        assert!(r.due_parts(t + wait - 1).is_empty(), "backoff after failure {n}");
        let next = r.parts[0].not_before_ms;
        assert!((t + wait..=t + wait + wait / 4).contains(&next), "{next} after failure {n} at {t}: backoff plus at most a quarter");
        t = next;
    }
    // The backend answers again: the part is submitted, and the count starts over.
    let c = r.claim_submit(0, t).unwrap();
    assert!(r.submitted(0, c, "rp-0".into()));
    assert_eq!((r.status, r.attempts(), r.parts[0].submit_failures), (JobStatus::Submitted, 1, 0));
    // A worker failure later is retried as before; the deadline of a part that merely
    // waits for its retry is the usual one.
    assert!(r.apply_runpod(&failed_body("rp-0", "upload-failed", true), t + 1, &POLICY));
    assert!(r.deadline_passed(1_000_000));
    assert_eq!(r.error.as_ref().unwrap().code, "deadline-exceeded");
}

#[test]
fn a_backend_down_until_the_deadline_times_the_job_out_as_unavailable() {
    let down = BackendError::Unavailable("HTTP 502".into());
    let mut r = JobRecord::new("j".into(), "t".into(), Common::default(), task(1), 1, 3, 0, 10_000);
    r.admitted(Acquire::Granted { expires_ms: 10_000 });
    let c = r.claim_submit(0, 0).unwrap();
    r.submit_failed(0, c, &down, 0, &POLICY);
    assert!(!r.deadline_passed(9_999));
    assert!(r.deadline_passed(10_000));
    let e = r.error.as_ref().unwrap();
    assert_eq!((r.status, e.code.as_str()), (JobStatus::TimedOut, "gpu-backend-unavailable"));
    assert_eq!(e.details.as_ref().unwrap()["submissions"], 1);
    assert!(e.details.as_ref().unwrap()["last_error"].as_str().unwrap().contains("HTTP 502"), "{e:?}");
    assert_eq!(r.view(&|k| k.to_owned(), 10_000).message, e.message);
    // A retry that could only come after the deadline ends the job now, the same way.
    let mut r = JobRecord::new("j".into(), "t".into(), Common::default(), task(1), 1, 3, 0, 10_000);
    r.admitted(Acquire::Granted { expires_ms: 10_000 });
    let c = r.claim_submit(0, 9_500).unwrap();
    r.submit_failed(0, c, &down, 9_500, &POLICY);
    assert_eq!(
        (r.status, r.error.as_ref().unwrap().code.as_str(), r.completed_ms),
        (JobStatus::TimedOut, "gpu-backend-unavailable", Some(9_500))
    );
}

#[test]
fn a_busy_backend_is_retried_after_its_retry_after_not_refused() {
    let busy = |s| BackendError::Busy { retry_after_secs: s, message: "HTTP 429: throttled".into() };
    let mut r = JobRecord::new("j".into(), "t".into(), Common::default(), task(1), 1, 3, 0, 100_000);
    r.indexed_status = Some(JobStatus::Queued);
    r.lease_held = true;
    let c = r.claim_submit(0, 1_000).unwrap();
    r.submit_failed(0, c, &busy(Some(30)), 1_000, &POLICY);
    assert_eq!((r.status, r.parts[0].status), (JobStatus::Queued, PartStatus::Waiting), "not failed");
    assert_eq!(r.parts[0].last_error.as_ref().unwrap().code, "gpu-backend-busy");
    // Not before its Retry-After (longer than the 1 s backoff); the lease is renewed meanwhile.
    // (Plus its spread: at most a quarter more.)
    assert!(r.due_parts(30_999).is_empty());
    let at = r.parts[0].not_before_ms;
    assert!((31_000..=38_500).contains(&at), "{at}");
    assert_eq!(r.next_wake(1_000, Duration::from_secs(3)), Some(4_000));
    assert_eq!(r.next_wake(at - 2_000, Duration::from_secs(3)), Some(at));
    assert_eq!(r.due_parts(at), vec![0]);
    // Without a Retry-After, the backoff (2 s after the second failure, up to 2.5 s).
    let c = r.claim_submit(0, at).unwrap();
    r.submit_failed(0, c, &busy(None), at, &POLICY);
    assert!(r.due_parts(at + 1_999).is_empty());
    let next = r.parts[0].not_before_ms;
    assert!((at + 2_000..=at + 2_500).contains(&next), "{next}");
    assert_eq!(r.due_parts(next), vec![0]);
    // A Retry-After past the deadline ends the job, as busy.
    let c = r.claim_submit(0, next).unwrap();
    r.submit_failed(0, c, &busy(Some(3_600)), next, &POLICY);
    let e = r.error.unwrap();
    assert_eq!((r.status, e.code.as_str()), (JobStatus::TimedOut, "gpu-backend-busy"));
    assert_eq!(e.details.unwrap()["retry_after_secs"], 3_600);
}

#[test]
fn a_held_lease_is_asked_for_again_only_when_a_quarter_of_its_lifetime_is_gone() {
    let ttl = 15_000;
    let mut r = JobRecord::new("j".into(), "t".into(), Common::default(), task(1), 1, 3, 0, 100_000);
    assert!(r.lease_request_due(0, ttl), "no answer yet");
    r.admitted(Acquire::Granted { expires_ms: 15_000 });
    // The first alarm, right after the 202: the admission's lease is fresh.
    assert!(!r.lease_request_due(5, ttl));
    assert!(!r.lease_request_due(3_749, ttl));
    assert!(r.lease_request_due(3_751, ttl));
    // The alarm comes every third of the lifetime: it renews each time.
    assert!(r.lease_request_due(5_000, ttl));
    r.lease_answered(Acquire::Granted { expires_ms: 20_000 });
    assert!(!r.lease_request_due(5_001, ttl));
    // Waiting in line: asked at every alarm.
    r.lease_answered(Acquire::Waiting { position: 0 });
    assert!(r.lease_request_due(5_002, ttl));
    // Ended: never.
    r.fail(JobStatus::Cancelled, "cancelled", "x", None, 6_000);
    assert!(!r.lease_request_due(60_000, ttl));
}

#[test]
fn an_admitted_job_holds_its_lease_or_its_place_from_the_start() {
    let poll = Duration::from_secs(3);
    let mut r = JobRecord::new("j".into(), "t".into(), Common::default(), task(1), 1, 3, 0, 100_000);
    r.admitted(Acquire::Granted { expires_ms: 10_000 });
    // The tenant wrote its index row at admission; the alarm submits it at once.
    assert_eq!((r.status, r.lease_held, r.indexed_status), (JobStatus::Queued, true, Some(JobStatus::Queued)));
    assert_eq!(r.next_wake(0, poll), Some(0));
    let mut w = JobRecord::new("j".into(), "t".into(), Common::default(), task(1), 1, 3, 0, 100_000);
    w.admitted(Acquire::Waiting { position: 1 });
    assert_eq!((w.lease_held, w.progress.stage.as_str()), (false, "queued (position 2)"));
    assert_eq!(w.next_wake(0, poll), Some(3_000), "asks for its lease again at the next poll");
    // Granted later: the position goes from its progress.
    assert!(w.lease_answered(Acquire::Granted { expires_ms: 20_000 }));
    assert_eq!((w.lease_held, w.progress.stage.as_str()), (true, "queued"));
    assert!(w.lease_answered(Acquire::Granted { expires_ms: 30_000 }), "a renewal moves the expiry");
    assert_eq!((w.lease_held, w.lease_expires_ms, w.progress.stage.as_str()), (true, Some(30_000), "queued"));
    assert!(!w.lease_answered(Acquire::Granted { expires_ms: 30_000 }), "the same answer again changes nothing");
    // A lease lost (it expired and another job took the slot) stops submissions.
    assert!(w.lease_answered(Acquire::Waiting { position: 0 }));
    assert_eq!((w.lease_held, w.progress.stage.as_str()), (false, "queued (position 1)"));
}

#[test]
fn a_part_is_submitted_once_even_when_events_interleave() {
    let mut r = JobRecord::new("j".into(), "t".into(), Common::default(), task(2), 2, 3, 0, 1_000_000);
    r.lease_held = true;
    // One event lists the due parts, claims part 0 and awaits its /run call...
    let due = r.due_parts(0);
    assert_eq!(due, vec![0, 1]);
    let c0 = r.claim_submit(0, 0).unwrap();
    // ...meanwhile another event (a webhook, an alarm) claims part 1 and submits it.
    let c1 = r.claim_submit(1, 10).unwrap();
    assert!(r.submitted(1, c1, "rp-1".into()));
    // The first event goes on down its list: part 1 is no longer due, so not claimed.
    assert_eq!(r.claim_submit(1, 20), None);
    assert_eq!(r.claim_submit(0, 20), None, "claimed, not stale");
    assert!(r.submitted(0, c0, "rp-0".into()));
    assert_eq!(r.active_runpod_ids(), ["rp-0", "rp-1"]);
    assert_eq!(r.attempts(), 1);
    assert_eq!(r.claim_submit(2, 20), None, "no such part");

    // A claim gone stale is taken over; the first /run answering late is cancelled,
    // and a late failure of it changes nothing.
    let mut r = JobRecord::new("j".into(), "t".into(), Common::default(), task(1), 1, 3, 0, 1_000_000);
    let old = r.claim_submit(0, 0).unwrap();
    let new = r.claim_submit(0, SUBMIT_STALE_MS).unwrap();
    let snapshot = r.clone();
    r.submit_failed(0, old, &BackendError::Refused("HTTP 400".into()), SUBMIT_STALE_MS + 1, &POLICY);
    assert!(!r.submitted(0, old, "rp-old".into()), "the caller cancels rp-old");
    assert_eq!(r, snapshot);
    assert!(r.submitted(0, new, "rp-new".into()));
    assert_eq!(r.active_runpod_ids(), ["rp-new"]);
}

#[test]
fn fan_out_parts_merge_in_order_and_retry_alone() {
    let mut r = record_with(2, None);
    assert_eq!(r.polled_parts(), vec![(0, "rp-0".to_owned()), (1, "rp-1".to_owned())]);
    // The second part finishes first.
    assert!(r.apply_runpod(&completed_body("rp-1", &["video_3", "video_4"]), 2_000, &POLICY));
    assert_eq!((r.status, r.progress.completed, r.progress.total), (JobStatus::Processing, 1, 2));
    assert_eq!(r.progress.percentage, 50.0);
    // The first fails retryably: only it goes back.
    assert!(r.apply_runpod(&failed_body("rp-0", "worker-error", true), 2_100, &POLICY));
    assert_eq!(r.due_parts(10_000), vec![0]);
    assert_eq!(r.parts[1].status, PartStatus::Completed);
    let c = r.claim_submit(0, 10_000).unwrap();
    assert!(r.submitted(0, c, "rp-0b".into()));
    assert_eq!(r.parts[1].attempts, 1);
    assert!(r.apply_runpod(&completed_body("rp-0b", &["video_1", "video_2"]), 11_000, &POLICY));
    assert_eq!(r.status, JobStatus::Completed);
    let v = r.view(&|k| k.to_owned(), 0);
    let ids: Vec<&str> = v.result.as_ref().unwrap()["videos"].as_array().unwrap().iter().map(|x| x["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["1", "2", "3", "4"]);
    assert_eq!(r.output.as_ref().unwrap().extras["parts"], 2);
    assert_eq!(v.attempts, 2);
}

#[test]
fn a_failed_part_fails_the_job_and_names_the_others_to_cancel() {
    let mut r = record_with(3, None);
    assert!(r.apply_runpod(&json!({"id":"rp-2","status":"IN_PROGRESS"}), 2_000, &POLICY));
    assert!(r.apply_runpod(&failed_body("rp-0", "input-not-media", false), 2_100, &POLICY));
    assert_eq!(r.status, JobStatus::Failed);
    assert_eq!(r.error.as_ref().unwrap().details.as_ref().unwrap()["part"], 0);
    assert_eq!(r.active_runpod_ids(), vec!["rp-1".to_owned(), "rp-2".to_owned()]);
    assert!(r.polled_parts().is_empty());
}

#[test]
fn wakes_for_deadline_polls_and_queue() {
    let poll = Duration::from_secs(3);
    let mut r = JobRecord::new("j".into(), "t".into(), Common::default(), task(1), 1, 3, 0, 10_000);
    r.indexed_status = Some(JobStatus::Queued);
    // Queued without a lease: ask again at the next poll.
    assert_eq!(r.next_wake(0, poll), Some(3_000));
    r.lease_held = true;
    assert_eq!(r.next_wake(0, poll), Some(0), "due now");
    let c = r.claim_submit(0, 0).unwrap();
    assert!(r.submitted(0, c, "rp".into()));
    assert_eq!(r.next_wake(9_000, poll), Some(10_000), "the deadline comes before the poll");
    assert!(r.fail(JobStatus::TimedOut, "deadline-exceeded", "x", None, 10_000));
    assert!(!r.fail(JobStatus::Failed, "x", "x", None, 10_001), "terminal stays terminal");
    assert_eq!(r.status, JobStatus::TimedOut);
}

#[test]
fn progress_webhooks_go_on_changes_at_most_every_five_seconds_and_never_after_the_end() {
    let mut r = record_with(1, Some("https://hooks.test/h"));
    assert_eq!(r.progress_webhook_at(1_000), None, "not asked for: completed only");
    r.webhook.as_mut().unwrap().progress_events = true;
    // Never sent: due now (the job was just submitted).
    assert!(r.progress_webhook_due(1_000));
    assert_eq!(r.progress_webhook_id().as_deref(), Some("msg_j_progress_1"));
    r.progress_webhook_sent(r.status, r.progress.clone(), 1_000);
    assert_eq!(r.progress_webhook_at(1_500), None, "nothing changed");
    // The worker reports: owed, but not before 5 s after the last one.
    assert!(r.apply_progress(0, 1, Progress::new("rendering", 40, 100), 2_000));
    assert_eq!(r.progress_webhook_at(2_000), Some(6_000));
    assert!(!r.progress_webhook_due(5_999));
    // (PROCESSING reaches the tenant's index first, when the job is 2 s old.)
    assert_eq!(r.next_wake(2_000, Duration::from_secs(30)), Some(1_000 + INDEX_LAG_MS));
    r.indexed_status = Some(r.status);
    assert_eq!(r.next_wake(2_000, Duration::from_secs(30)), Some(6_000), "the alarm comes for it");
    assert!(r.progress_webhook_due(6_000));
    assert_eq!(r.progress_webhook_id().as_deref(), Some("msg_j_progress_2"));
    r.progress_webhook_sent(r.status, r.progress.clone(), 6_000);
    // A change that lands while a delivery of older progress was in flight is owed.
    assert!(r.apply_progress(0, 1, Progress::new("rendering", 80, 100), 6_500));
    assert_eq!(r.progress_webhook_at(7_000), Some(11_000));
    // The job ends: no more progress deliveries; the final one is due at once.
    assert!(r.apply_runpod(&completed_body("rp-0", &["video_1"]), 8_000, &POLICY));
    assert_eq!(r.progress_webhook_at(8_000), None);
    assert!(r.webhook_due(8_000));
    assert_eq!(r.webhook.as_ref().unwrap().msg_id, "msg_j", "the final delivery keeps its id");
}

#[test]
fn webhook_retries_until_delivered_and_records_every_attempt() {
    let mut r = record_with(1, Some("https://hooks.test/h"));
    assert!(!r.webhook_due(1_000));
    assert!(r.apply_runpod(&completed_body("rp-0", &["video_1"]), 2_000, &POLICY));
    assert!(r.webhook_due(2_000));
    r.webhook_attempted(2_000, Some(500), Some("HTTP 500".into()), 12, &HOOKS);
    assert_eq!(r.next_wake(2_000, Duration::from_secs(3)), Some(3_000), "1 s backoff");
    assert!(!r.webhook_due(2_999));
    r.webhook_attempted(3_000, None, Some("connection refused".into()), 3, &HOOKS);
    assert_eq!(r.webhook.as_ref().unwrap().next_at_ms, Some(5_000), "2 s backoff");
    r.webhook_attempted(5_000, Some(204), None, 8, &HOOKS);
    let v = r.view(&|k| k.to_owned(), 0).webhook.unwrap();
    assert!(v.delivered);
    assert_eq!(v.next_attempt_at, None);
    assert_eq!(v.attempts.iter().map(|a| (a.attempt, a.status_code)).collect::<Vec<_>>(), [(1, Some(500)), (2, None), (3, Some(204))]);
    assert_eq!(v.attempts[0].at, "1970-01-01T00:00:02.000Z");
    assert!(!r.webhook_due(100_000));
    assert_eq!(r.next_wake(100_000, Duration::from_secs(3)), Some(2_000 + RETENTION_MS));
}

#[test]
fn ended_jobs_are_deleted_after_the_retention_period() {
    let poll = Duration::from_secs(3);
    let mut r = record_with(1, Some("https://hooks.test/h"));
    assert_eq!((r.expires_at_ms(), r.expired(i64::MAX)), (None, false), "running jobs are kept");
    assert!(r.apply_runpod(&completed_body("rp-0", &["video_1"]), 5_000, &POLICY));
    // The webhook comes first, the deletion after.
    assert_eq!(r.next_wake(5_000, poll), Some(5_000));
    r.webhook_attempted(5_000, Some(200), None, 1, &HOOKS);
    let at = 5_000 + 30 * 24 * 3600 * 1000;
    assert_eq!((r.expires_at_ms(), r.next_wake(5_000, poll)), (Some(at), Some(at)));
    assert!(!r.expired(at - 1));
    assert!(r.expired(at));
    // Failed and cancelled jobs too, counted from when they ended.
    let mut r = record();
    r.fail(JobStatus::Cancelled, "cancelled", "x", None, 7_000);
    assert_eq!(r.next_wake(7_000, poll), Some(7_000 + RETENTION_MS));
}

#[test]
fn webhook_gives_up_after_its_window() {
    let mut r = record_with(1, Some("https://hooks.test/h"));
    r.fail(JobStatus::Cancelled, "cancelled", "x", None, 0);
    let mut t = 0;
    while r.webhook_due(t) {
        r.webhook_attempted(t, Some(503), None, 1, &HOOKS);
        t = r.webhook.as_ref().unwrap().next_at_ms.unwrap_or(i64::MAX);
    }
    // 0, 1, 3, 7 (+4 = 11 > 10 s window): four attempts.
    let w = r.webhook.as_ref().unwrap();
    assert_eq!((w.attempts.len(), w.delivered, w.next_at_ms), (4, false, None));
}

fn pr(stage: &str, completed: u64, total: u64) -> Progress {
    Progress::new(stage, completed, total)
}

#[test]
fn worker_progress_marks_the_job_processing_at_once() {
    let mut r = record();
    assert_eq!(r.status, JobStatus::Submitted);
    assert!(r.apply_progress(0, 1, pr("render", 6, 24), 2_000));
    assert_eq!((r.status, r.started_ms, r.parts[0].status), (JobStatus::Processing, Some(2_000), PartStatus::Processing));
    assert_eq!((r.progress.stage.as_str(), r.progress.percentage), ("render", 25.0));
    assert!(r.apply_progress(0, 1, pr("render", 12, 24), 2_500));
    assert_eq!((r.progress.percentage, r.started_ms), (50.0, Some(2_000)));
    // A repeat, or an older report of the same stage (reordered), changes nothing.
    assert!(!r.apply_progress(0, 1, pr("render", 12, 24), 2_600));
    assert!(!r.apply_progress(0, 1, pr("render", 6, 24), 2_700));
    assert_eq!(r.progress.percentage, 50.0);
    // So does a status poll that answers with an older report.
    let polled = json!({"id": "rp-0", "status": "IN_PROGRESS", "output": pr("render", 8, 24)});
    assert!(!r.apply_runpod(&polled, 2_750, &POLICY));
    assert_eq!(r.progress.percentage, 50.0);
    // A new stage starts from 0.
    assert!(r.apply_progress(0, 1, pr("upload", 0, 1), 2_800));
    assert_eq!((r.progress.stage.as_str(), r.progress.percentage), ("upload", 0.0));
    // The worker's word is bounded.
    let wild = Progress { stage: "x".repeat(1000), completed: 1, total: 1, percentage: 1e9 };
    assert!(r.apply_progress(0, 1, wild, 2_900));
    assert_eq!((r.progress.stage.len(), r.progress.percentage), (MAX_STAGE_CHARS, 100.0));
    // Completion ends it; later reports are ignored.
    assert!(r.apply_runpod(&completed_body("rp-0", &["video_1", "video_2"]), 3_000, &POLICY));
    assert!(!r.apply_progress(0, 1, pr("upload", 1, 1), 3_100));
    assert_eq!((r.status, r.progress.stage.as_str()), (JobStatus::Completed, "done"));
}

#[test]
fn worker_progress_of_another_attempt_or_part_is_ignored() {
    let mut r = record_with(2, None);
    assert!(!r.apply_progress(0, 2, pr("render", 1, 2), 2_000), "attempt 2 was never submitted");
    assert!(!r.apply_progress(5, 1, pr("render", 1, 2), 2_000), "no part 5");
    assert_eq!(r.status, JobStatus::Submitted);
    // Part 0 fails retryably: attempt 1's late reports no longer count, nor before
    // attempt 2 is on RunPod.
    assert!(r.apply_runpod(&failed_body("rp-0", "worker-lost", true), 2_000, &POLICY));
    assert!(!r.apply_progress(0, 1, pr("render", 1, 2), 2_100));
    let at = r.parts[0].not_before_ms;
    let c = r.claim_submit(0, at).unwrap();
    assert!(!r.apply_progress(0, 2, pr("render", 1, 2), at), "submitting, not on RunPod yet");
    assert!(r.submitted(0, c, "rp-0b".into()));
    assert!(r.apply_progress(0, 2, pr("render", 1, 2), at + 1));
    // Aggregated over parts, as for polls: part 0 at 50 %, part 1 at 0 %.
    assert_eq!((r.status, r.progress.stage.as_str(), r.progress.total, r.progress.percentage), (JobStatus::Processing, "parts", 2, 25.0));
    assert!(r.apply_runpod(&completed_body("rp-1", &["video_3", "video_4"]), at + 2, &POLICY));
    assert!(!r.apply_progress(1, 1, pr("render", 1, 2), at + 3), "part 1 is done");
    assert_eq!((r.progress.completed, r.progress.percentage), (1, 75.0));
}

#[test]
fn a_young_job_tells_the_index_its_end_only() {
    let poll = Duration::from_secs(30);
    // record(): created at 1 s, SUBMITTED at 1 s; the index heard QUEUED at admission.
    let mut r = record();
    r.indexed_status = Some(JobStatus::Queued);
    assert!(!r.index_due(1_500), "SUBMITTED waits for the lag");
    assert_eq!(r.next_wake(1_500, poll), Some(1_000 + INDEX_LAG_MS), "the alarm comes for it");
    assert!(r.index_due(1_000 + INDEX_LAG_MS));
    // Told: nothing owed, the alarm is the poll's again.
    r.indexed_status = Some(JobStatus::Submitted);
    assert!(!r.index_due(5_000));
    assert_eq!(r.next_wake(1_500, poll), Some(31_500));
    // Past the lag, a change is due at once; a failed call waits for the poll, no busy loop.
    assert!(r.apply_runpod(&json!({"id":"rp-0","status":"IN_PROGRESS"}), 4_000, &POLICY));
    assert!(r.index_due(4_000));
    assert_eq!(r.next_wake(4_000, poll), Some(34_000));
    // A job that ends within the lag: its end is due at once.
    let mut q = record();
    q.indexed_status = Some(JobStatus::Queued);
    assert!(q.apply_runpod(&completed_body("rp-0", &["video_1", "video_2"]), 1_200, &POLICY));
    assert!(q.index_due(1_200));
}
