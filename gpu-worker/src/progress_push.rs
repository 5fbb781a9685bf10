//! Progress pushed to the edge: a job's [`WorkerJob::progress_url`] receives its
//! [`Progress`] as JSON, so the edge shows it within a second whatever its status poll
//! period. Advisory and fire-and-forget: one task per job POSTs at most once per
//! interval (1 s) and at every stage change, one request in flight, each with a 5 s
//! timeout; updates that come meanwhile collapse into the latest, and the latest is
//! sent once the interval is over.
//!
//! Nothing goes in a job's first interval, and nothing once it has ended: the
//! completion (RunPod's webhook) carries the end, so a job shorter than a second costs
//! the edge no progress request at all — two events on its Durable Object's thread
//! (the request and the object's call) saved per push.
//! A progress endpoint that is down or slow costs the job nothing: errors are logged at
//! debug level, with the URL's token redacted.

use std::sync::Arc;
use std::time::Duration;

use job_spec::{Progress, WorkerJob};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::executor::ProgressFn;
use crate::transfer;

/// At most one POST per interval, stage changes aside.
pub const INTERVAL: Duration = Duration::from_secs(1);
/// One POST may take this long before it is dropped.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// `inner`, also pushing to the job's progress URL (when it has one the URL policy
/// allows) every [`INTERVAL`]. Must run inside a tokio runtime. The pushing task ends
/// once the returned callback (and its clones) are dropped and the last update is sent.
pub fn wrap(http: &reqwest::Client, allow_loopback_http: bool, job: &WorkerJob, inner: ProgressFn) -> ProgressFn {
    wrap_every(http, allow_loopback_http, job, inner, INTERVAL)
}

/// [`wrap`] with another interval.
pub fn wrap_every(http: &reqwest::Client, allow_loopback_http: bool, job: &WorkerJob, inner: ProgressFn, interval: Duration) -> ProgressFn {
    let Some(raw) = &job.progress_url else { return inner };
    let url = match transfer::check_url(raw, allow_loopback_http) {
        Ok(u) => u,
        Err(e) => {
            tracing::warn!(job = %job.job_id, url = %transfer::redacted(raw), error = ?e, "progress URL refused: progress is not pushed");
            return inner;
        }
    };
    let (tx, rx) = watch::channel(None::<Progress>);
    tokio::spawn(push(http.clone(), url, job.job_id.clone(), rx, interval));
    Arc::new(move |p: Progress| {
        inner(p.clone());
        tx.send_replace(Some(p));
    })
}

async fn push(http: reqwest::Client, url: url::Url, job_id: String, mut rx: watch::Receiver<Option<Progress>>, interval: Duration) {
    let redacted = transfer::redacted(url.as_str());
    // When the last POST went (the job's start before the first), and its stage.
    let mut last: (Instant, Option<String>) = (Instant::now(), None);
    loop {
        // Err: the job ended; what was not sent yet the completion carries.
        if rx.changed().await.is_err() {
            return;
        }
        // Throttled: wait out the interval, unless the stage changes (after the first
        // post) or the job ends.
        let until = last.0 + interval;
        while Instant::now() < until {
            if let Some(stage) = &last.1
                && rx.borrow().as_ref().is_some_and(|p| &p.stage != stage)
            {
                break;
            }
            tokio::select! {
                () = tokio::time::sleep_until(until) => break,
                r = rx.changed() => if r.is_err() { return },
            }
        }
        let Some(p) = rx.borrow_and_update().clone() else { continue };
        let sent = http.post(url.clone()).timeout(TIMEOUT).json(&p).send().await;
        match sent {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => tracing::debug!(job = %job_id, url = %redacted, status = %r.status(), "progress POST refused"),
            Err(e) => tracing::debug!(job = %job_id, url = %redacted, error = %e.without_url(), "progress POST failed"),
        }
        last = (Instant::now(), Some(p.stage));
    }
}
