use std::collections::BTreeMap;
use std::time::Duration;

use super::*;
use crate::providers::openrouter::Answer;

fn settings() -> ProviderSettings {
    ProviderSettings {
        openrouter: None,
        runware: None,
        timeout: Duration::from_secs(60),
        max_attempts: 3,
        retry_base: Duration::from_secs(2),
        retry_max: Duration::from_secs(60),
        images_in_flight: 2,
    }
}

fn answer(prompts: &[(u32, &str)]) -> Answer {
    Answer {
        prompts: prompts.iter().map(|(i, p)| (*i, (*p).to_owned())).collect::<BTreeMap<_, _>>(),
        usage: Usage { prompt_tokens: 100, completion_tokens: 10, total_tokens: 110, calls: 1 },
    }
}

fn prompts_work(w: &[Work]) -> Vec<(i64, BTreeSet<u32>)> {
    w.iter()
        .map(|w| match w {
            Work::Prompts { claim, indexes } => (*claim, indexes.clone()),
            other => panic!("{other:?}"),
        })
        .collect()
}

fn rate_limited(secs: u64) -> ProviderError {
    ProviderError::RateLimited { retry_after_secs: Some(secs), message: "HTTP 429".into() }
}

#[test]
fn one_call_for_every_scene_then_the_missing_ones_alone() {
    let s = settings();
    let mut j = ProviderJob::prompts([2, 0, 1, 1]);
    let w = prompts_work(&j.claim(1000, &s));
    assert_eq!(w, vec![(1000, BTreeSet::from([0, 1, 2]))]);
    // Nothing else while that call is out.
    assert!(j.claim(1001, &s).is_empty());
    j.prompts_answered(1000, &w[0].1, Ok(answer(&[(0, "dawn"), (2, "storm")])), 1500, &s);
    assert_eq!(j.outcome(), Outcome::Running);
    // Scene 1 alone, at once.
    assert_eq!(j.next_wake(&s), Some(1500));
    let w = prompts_work(&j.claim(1500, &s));
    assert_eq!(w, vec![(1500, BTreeSet::from([1]))]);
    j.prompts_answered(1500, &w[0].1, Ok(answer(&[(1, "rowing")])), 1600, &s);
    assert_eq!(j.outcome(), Outcome::Completed);
    let r = j.prompts_result("m");
    assert_eq!(r["prompts"], json!([{"index": 0, "prompt": "dawn"}, {"index": 1, "prompt": "rowing"}, {"index": 2, "prompt": "storm"}]));
    assert_eq!(r["stats"], json!({"totalScenes": 3, "promptsGenerated": 3, "successRate": "100.0%"}));
    assert_eq!(r["usage"], json!({"prompt_tokens": 200, "completion_tokens": 20, "total_tokens": 220, "calls": 2}));
    assert_eq!(r["failed"], json!([]));
    assert_eq!(j.next_wake(&s), None);
}

#[test]
fn a_scene_the_model_keeps_leaving_out_fails_alone_after_the_reasks() {
    let s = settings();
    let mut j = ProviderJob::prompts([0, 1]);
    let w = prompts_work(&j.claim(0, &s));
    j.prompts_answered(0, &w[0].1, Ok(answer(&[(0, "dawn")])), 10, &s);
    for n in 0..MAX_REASKS {
        let now = 100 * (i64::from(n) + 1);
        let w = prompts_work(&j.claim(now, &s));
        assert_eq!(w, vec![(now, BTreeSet::from([1]))]);
        j.prompts_answered(now, &w[0].1, Ok(answer(&[])), now + 1, &s);
    }
    assert!(j.claim(10_000, &s).is_empty());
    assert_eq!(j.outcome(), Outcome::Completed);
    let r = j.prompts_result("m");
    assert_eq!(r["failed"][0]["index"], 1);
    assert_eq!(r["failed"][0]["code"], "prompt-missing");
    assert_eq!(r["stats"]["successRate"], "50.0%");
    assert_eq!(r["usage"]["calls"], 1 + MAX_REASKS);
}

#[test]
fn a_rate_limited_call_waits_for_retry_after_then_is_made_again() {
    let s = settings();
    let mut j = ProviderJob::prompts([0, 1]);
    let w = prompts_work(&j.claim(0, &s));
    j.prompts_answered(0, &w[0].1, Err(rate_limited(30)), 100, &s);
    // 30 s from the answer (longer than the 2 s backoff), the whole call again.
    assert_eq!(j.next_wake(&s), Some(30_100));
    assert!(j.claim(30_099, &s).is_empty());
    let w = prompts_work(&j.claim(30_100, &s));
    assert_eq!(w, vec![(30_100, BTreeSet::from([0, 1]))]);
    j.prompts_answered(30_100, &w[0].1, Ok(answer(&[(0, "a"), (1, "b")])), 30_200, &s);
    assert_eq!(j.outcome(), Outcome::Completed);
}

#[test]
fn retryable_failures_of_the_one_call_are_bounded() {
    let s = settings();
    let mut j = ProviderJob::prompts([0, 1]);
    let mut now = 0;
    for _ in 0..s.max_attempts {
        let w = prompts_work(&j.claim(now, &s));
        assert_eq!(w.len(), 1);
        j.prompts_answered(now, &w[0].1, Err(ProviderError::BadAnswer { message: "not JSON".into() }), now, &s);
        now = j.next_wake(&s).unwrap_or(now);
    }
    assert_eq!(
        j.outcome(),
        Outcome::Failed(ItemError { code: "provider-bad-answer".into(), message: "every scene failed: not JSON".into() })
    );
}

#[test]
fn a_bad_key_fails_every_scene_at_once() {
    let s = settings();
    let mut j = ProviderJob::prompts([0, 1, 2]);
    let w = prompts_work(&j.claim(0, &s));
    j.prompts_answered(0, &w[0].1, Err(ProviderError::Auth { message: "401: No auth credentials found".into() }), 5, &s);
    let Outcome::Failed(e) = j.outcome() else { panic!("{:?}", j.outcome()) };
    assert_eq!(e.code, "provider-auth-failed");
    assert_eq!(j.failures().len(), 3);
    assert_eq!(j.next_wake(&s), None);
}

#[test]
fn a_call_lost_with_the_object_is_made_again_and_its_late_answer_ignored() {
    let s = settings();
    let mut j = ProviderJob::prompts([0]);
    let w = prompts_work(&j.claim(0, &s));
    let stale = s.timeout.as_millis() as i64 + STALE_GRACE_MS;
    assert_eq!(j.next_wake(&s), Some(stale));
    assert!(j.claim(stale - 1, &s).is_empty());
    let w2 = prompts_work(&j.claim(stale, &s));
    assert_eq!(w2, vec![(stale, BTreeSet::from([0]))]);
    // The first call's answer comes after all: not under the current claim.
    j.prompts_answered(w[0].0, &w[0].1, Ok(answer(&[(0, "late")])), stale + 1, &s);
    assert_eq!(j.outcome(), Outcome::Running);
    j.prompts_answered(stale, &w2[0].1, Ok(answer(&[(0, "fresh")])), stale + 2, &s);
    assert_eq!(j.prompts_result("m")["prompts"], json!([{"index": 0, "prompt": "fresh"}]));
}

fn images(n: u32) -> ProviderJob {
    ProviderJob::images((0..n).rev().map(|i| (i, format!("prompt {i}"))))
}

fn stored(i: u32) -> Stored {
    Stored { key: format!("t/p/image_{i}.jpg"), bytes: 1000 + u64::from(i), content_type: "image/jpeg".into() }
}

fn image(i: u32) -> (u32, TaskOutcome) {
    (i, TaskOutcome::Image { url: format!("https://im.test/{i}.jpg"), cost: Some(0.5) })
}

#[test]
fn images_are_generated_then_copied_with_a_bounded_number_in_flight() {
    let s = settings();
    let mut j = images(3);
    let w = j.claim(0, &s);
    assert_eq!(w, vec![Work::Generate { claim: 0, images: vec![(0, 1), (1, 1)] }]);
    assert!(j.claim(1, &s).is_empty(), "two in flight already");
    j.generated(0, &[0, 1], Ok(vec![image(0), image(1)]), 10, &s);
    // Copies first, and they take the slots.
    assert_eq!(j.claim(10, &s), vec![Work::Copy { claim: 10, index: 0 }, Work::Copy { claim: 10, index: 1 }]);
    j.copied(10, 0, Ok(stored(0)), 20, &s);
    assert_eq!(j.claim(20, &s), vec![Work::Generate { claim: 20, images: vec![(2, 1)] }]);
    j.copied(10, 1, Ok(stored(1)), 30, &s);
    j.generated(20, &[2], Ok(vec![image(2)]), 40, &s);
    assert_eq!(j.claim(40, &s), vec![Work::Copy { claim: 40, index: 2 }]);
    assert_eq!(j.outcome(), Outcome::Running);
    j.copied(40, 2, Ok(stored(2)), 50, &s);
    assert_eq!(j.outcome(), Outcome::Completed);
    let stored_in_order: Vec<Option<Stored>> = j.items.iter().map(|it| it.stored.clone()).collect();
    assert_eq!(stored_in_order, vec![Some(stored(0)), Some(stored(1)), Some(stored(2))]);
    assert_eq!(j.items[1].prompt.as_deref(), Some("prompt 1"));
    assert_eq!(j.counts(), (3, 3));
    assert_eq!(j.cost, 1.5);
    assert!(j.failures().is_empty());
}

#[test]
fn a_throttled_request_retries_its_images_after_retry_after_with_new_task_ids() {
    let s = settings();
    let mut j = images(2);
    j.claim(0, &s);
    j.generated(0, &[0, 1], Err(rate_limited(5)), 100, &s);
    assert_eq!(j.next_wake(&s), Some(5_100));
    assert!(j.claim(5_000, &s).is_empty());
    assert_eq!(j.claim(5_100, &s), vec![Work::Generate { claim: 5_100, images: vec![(0, 2), (1, 2)] }]);
}

#[test]
fn per_image_failures_are_listed_and_the_rest_completes() {
    let s = settings();
    let mut j = images(2);
    j.claim(0, &s);
    let refused = ProviderError::Refused { message: "invalidPositivePrompt: too short".into() };
    j.generated(0, &[0, 1], Ok(vec![image(0), (1, TaskOutcome::Failed(refused))]), 10, &s);
    j.claim(10, &s);
    j.copied(10, 0, Ok(stored(0)), 20, &s);
    assert_eq!(j.outcome(), Outcome::Completed);
    assert_eq!(j.failures(), vec![json!({"index": 1, "code": "provider-refused", "message": "invalidPositivePrompt: too short"})]);
    assert_eq!(j.counts(), (1, 2));
}

#[test]
fn every_image_failing_fails_the_job_with_their_code_or_a_general_one() {
    let s = settings();
    let mut j = images(2);
    j.claim(0, &s);
    let refused = || TaskOutcome::Failed(ProviderError::Refused { message: "nsfw".into() });
    j.generated(0, &[0, 1], Ok(vec![(0, refused()), (1, refused())]), 10, &s);
    let Outcome::Failed(e) = j.outcome() else { panic!() };
    assert_eq!(e.code, "provider-refused");

    let mut j = images(2);
    j.claim(0, &s);
    j.generated(0, &[0, 1], Ok(vec![image(0), (1, refused())]), 10, &s);
    j.claim(10, &s);
    for n in 0..s.max_attempts {
        j.copied(j.items[0].since_ms.unwrap(), 0, Err("HTTP 404 from the provider's URL".into()), 10 + i64::from(n), &s);
        let at = j.next_wake(&s).unwrap_or(0);
        j.claim(at, &s);
    }
    let Outcome::Failed(e) = j.outcome() else { panic!("{:?}", j.outcome()) };
    assert_eq!(e.code, "image-generation-failed");
    assert!(e.message.contains("image-copy-failed") && e.message.contains("provider-refused"), "{}", e.message);
}

#[test]
fn a_bad_key_in_one_task_stops_every_image() {
    let s = settings();
    let mut j = images(3);
    j.claim(0, &s);
    let auth = TaskOutcome::Failed(ProviderError::Auth { message: "invalidApiKey".into() });
    j.generated(0, &[0, 1], Ok(vec![image(0), (1, auth)]), 10, &s);
    let Outcome::Failed(e) = j.outcome() else { panic!() };
    assert_eq!(e.code, "provider-auth-failed");
    assert!(j.claim(20, &s).is_empty());
}

#[test]
fn transient_image_failures_are_retried_up_to_the_limit() {
    let s = settings();
    let mut j = images(1);
    let mut now = 0;
    for attempt in 1..=s.max_attempts {
        assert_eq!(j.claim(now, &s), vec![Work::Generate { claim: now, images: vec![(0, attempt)] }]);
        j.generated(now, &[0], Err(ProviderError::Unavailable { message: "HTTP 502".into() }), now, &s);
        now = j.next_wake(&s).unwrap_or(now);
    }
    let Outcome::Failed(e) = j.outcome() else { panic!() };
    assert_eq!(e.code, "provider-unavailable");
}

#[test]
fn the_state_survives_a_save_and_load() {
    let s = settings();
    let mut j = images(2);
    j.claim(0, &s);
    let text = serde_json::to_string(&j).unwrap();
    assert_eq!(serde_json::from_str::<ProviderJob>(&text).unwrap(), j);
}
