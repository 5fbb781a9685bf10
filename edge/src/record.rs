//! The job record a Job Durable Object keeps in SQLite, its state transitions, and the
//! public job object built from it. Pure: times are passed in as epoch milliseconds.
//!
//! Transitions are monotonic: a terminal job never changes again, so duplicate and late
//! RunPod webhooks (or a poll racing a webhook) are harmless.

use job_spec::job::{Execution, build_result, rfc3339_from_ms};
use job_spec::ops::Common;
use job_spec::{JobError, JobStatus, JobView, Operation, Progress, Task, WorkerError, WorkerOutput};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    pub job_id: String,
    pub tenant: String,
    pub operation: Operation,
    pub status: JobStatus,
    pub common: Common,
    pub task: Task,
    pub runpod_id: Option<String>,
    pub progress: Progress,
    pub output: Option<WorkerOutput>,
    pub error: Option<JobError>,
    pub created_ms: i64,
    pub started_ms: Option<i64>,
    pub completed_ms: Option<i64>,
    /// After this instant the job is ended as TIMED_OUT by its alarm.
    pub deadline_ms: i64,
    pub attempts: u32,
}

impl JobRecord {
    pub fn new(job_id: String, tenant: String, common: Common, task: Task, now_ms: i64, deadline_ms: i64) -> Self {
        JobRecord {
            job_id,
            tenant,
            operation: task.operation(),
            status: JobStatus::Queued,
            common,
            task,
            runpod_id: None,
            progress: Progress::new("queued", 0, 0),
            output: None,
            error: None,
            created_ms: now_ms,
            started_ms: None,
            completed_ms: None,
            deadline_ms,
            attempts: 0,
        }
    }

    /// RunPod accepted the job.
    pub fn submitted(&mut self, runpod_id: String) {
        if self.status == JobStatus::Queued {
            self.status = JobStatus::Submitted;
            self.runpod_id = Some(runpod_id);
            self.attempts += 1;
            self.progress = Progress::new("submitted", 0, 0);
        }
    }

    /// Ends the job (if it has not ended) with an error.
    pub fn fail(&mut self, status: JobStatus, code: &str, message: &str, details: Option<Value>, now_ms: i64) -> bool {
        if self.status.is_terminal() {
            return false;
        }
        self.status = status;
        self.error = Some(JobError { code: code.into(), message: message.into(), details });
        self.completed_ms = Some(now_ms);
        true
    }

    /// Applies a RunPod status object (`/status` answer or webhook body). Returns whether
    /// anything changed. Bodies for another RunPod job id are ignored.
    pub fn apply_runpod(&mut self, body: &Value, now_ms: i64) -> bool {
        if self.status.is_terminal() {
            return false;
        }
        if let (Some(ours), Some(theirs)) = (&self.runpod_id, body.get("id").and_then(Value::as_str))
            && ours != theirs
        {
            return false;
        }
        let Some(status) = body.get("status").and_then(Value::as_str).and_then(JobStatus::from_runpod) else {
            return false;
        };
        // A job seen first as finished (webhook only): RunPod's `executionTime` tells
        // when it started.
        if status.is_terminal()
            && self.started_ms.is_none()
            && let Some(exec) = body.get("executionTime").and_then(Value::as_i64)
        {
            self.started_ms = Some(now_ms - exec);
        }
        match status {
            JobStatus::Submitted | JobStatus::Queued => false,
            JobStatus::Processing => {
                let mut changed = false;
                if self.status != JobStatus::Processing {
                    self.status = JobStatus::Processing;
                    self.started_ms.get_or_insert(now_ms);
                    changed = true;
                }
                if let Some(p) = body.get("output").and_then(|o| serde_json::from_value::<Progress>(o.clone()).ok())
                    && p != self.progress
                {
                    self.progress = p;
                    changed = true;
                }
                changed
            }
            JobStatus::Completed => match body.get("output").map(|o| serde_json::from_value::<WorkerOutput>(o.clone())) {
                Some(Ok(out)) => {
                    self.status = JobStatus::Completed;
                    self.started_ms.get_or_insert(now_ms);
                    self.completed_ms = Some(now_ms);
                    self.progress = Progress::new("done", 1, 1);
                    self.output = Some(out);
                    true
                }
                _ => self.fail(JobStatus::Failed, "invalid-worker-output", "the worker's output could not be read", None, now_ms),
            },
            JobStatus::Failed => {
                let e = WorkerError::from_runpod_string(body.get("error").and_then(Value::as_str).unwrap_or("the worker failed"));
                let details = json!({ "retryable": e.retryable, "stderr_tail": e.stderr_tail });
                self.fail(JobStatus::Failed, &e.code, &e.message, Some(details), now_ms)
            }
            JobStatus::Cancelled => self.fail(JobStatus::Cancelled, "cancelled", "the job was cancelled", None, now_ms),
            JobStatus::TimedOut => {
                self.fail(JobStatus::TimedOut, "execution-timeout", "the job ran longer than its execution timeout", None, now_ms)
            }
        }
    }

    /// The public job object; `url_of(key)` gives each output's download URL.
    pub fn view(&self, url_of: &dyn Fn(&str) -> String) -> JobView {
        let duration_ms = match (self.started_ms, self.completed_ms) {
            (Some(s), Some(e)) => Some((e - s).max(0) as u64),
            _ => None,
        };
        JobView {
            job_id: self.job_id.clone(),
            status: self.status,
            operation: self.operation.name().to_owned(),
            id_roteiro: self.common.id_roteiro,
            metadata: self.common.metadata.clone(),
            created_at: rfc3339_from_ms(self.created_ms),
            started_at: self.started_ms.map(rfc3339_from_ms),
            completed_at: self.completed_ms.map(rfc3339_from_ms),
            progress: self.progress.clone(),
            result: self.output.as_ref().map(|o| build_result(&self.task, o, url_of)),
            error: self.error.clone(),
            execution: Execution {
                start_time: self.started_ms.map(rfc3339_from_ms),
                end_time: self.completed_ms.map(rfc3339_from_ms),
                duration_ms,
                duration_seconds: duration_ms.map(|d| d as f64 / 1000.0),
            },
            attempts: self.attempts,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use job_spec::worker::{ClipTask, Img2VidTask, OutputMeta};

    fn record() -> JobRecord {
        let task = Task::Img2vid(Img2VidTask {
            width: 1920,
            height: 1080,
            frame_rate: 24,
            clips: vec![ClipTask {
                id: "1".into(),
                input: "image_1".into(),
                output: "video_1".into(),
                frames: 24,
                zoom: job_spec::ZoomType::Zoomin,
            }],
        });
        let common = Common { id_roteiro: Some(42), ..Default::default() };
        let mut r = JobRecord::new("j".into(), "acme".into(), common, task, 1_000, 100_000);
        r.submitted("rp-1".into());
        r
    }

    fn completed_body() -> Value {
        let out = WorkerOutput {
            outputs: vec![OutputMeta { name: "video_1".into(), key: "t/video_1.mp4".into(), duration: Some(1.0), ..Default::default() }],
            ..Default::default()
        };
        json!({"id": "rp-1", "status": "COMPLETED", "output": out})
    }

    #[test]
    fn lifecycle_to_completed() {
        let mut r = record();
        assert_eq!((r.status, r.attempts), (JobStatus::Submitted, 1));
        assert!(r.apply_runpod(&json!({"id":"rp-1","status":"IN_PROGRESS"}), 2_000));
        assert!(r.apply_runpod(
            &json!({"id":"rp-1","status":"IN_PROGRESS","output":{"stage":"render","completed":12,"total":24,"percentage":50.0}}),
            2_500
        ));
        assert_eq!(r.progress.percentage, 50.0);
        assert!(r.apply_runpod(&completed_body(), 3_000));
        assert_eq!(r.started_ms, Some(2_000), "IN_PROGRESS was seen first");
        let v = r.view(&|k| format!("https://dl/{k}"));
        assert_eq!(v.status, JobStatus::Completed);
        assert_eq!(v.id_roteiro, Some(42));
        assert_eq!(v.execution.duration_ms, Some(1_000));
        assert_eq!(v.result.as_ref().unwrap()["videos"][0]["video_url"], "https://dl/t/video_1.mp4");
        let json = serde_json::to_value(&v).unwrap();
        assert_eq!(json["jobId"], "j");
        assert_eq!(json["idRoteiro"], 42);
        assert_eq!(json["operation"], "video/img2vid");
    }

    #[test]
    fn webhook_only_jobs_take_their_start_from_execution_time() {
        let mut r = record();
        let mut body = completed_body();
        body["executionTime"] = json!(1_500);
        assert!(r.apply_runpod(&body, 10_000));
        let v = r.view(&|k| k.to_owned());
        assert_eq!(v.execution.duration_ms, Some(1_500));
        assert_eq!(v.started_at.as_deref(), Some("1970-01-01T00:00:08.500Z"));
    }

    #[test]
    fn duplicate_late_and_foreign_webhooks_change_nothing() {
        let mut r = record();
        assert!(r.apply_runpod(&completed_body(), 3_000));
        let snapshot = r.clone();
        assert!(!r.apply_runpod(&completed_body(), 4_000));
        assert!(!r.apply_runpod(&json!({"id":"rp-1","status":"IN_PROGRESS"}), 5_000));
        assert!(!r.apply_runpod(&json!({"id":"rp-1","status":"FAILED","error":"late"}), 5_000));
        assert_eq!(r, snapshot);
        let mut r = record();
        assert!(!r.apply_runpod(&json!({"id":"rp-other","status":"FAILED","error":"x"}), 1));
        assert!(!r.apply_runpod(&json!({"id":"rp-1","status":"WEIRD"}), 1));
        assert_eq!(r.status, JobStatus::Submitted);
    }

    #[test]
    fn failures_keep_code_and_stderr() {
        let mut r = record();
        let err = WorkerError {
            code: "input-not-media".into(),
            message: "input `image_1` is not media".into(),
            retryable: false,
            stderr_tail: Some("Invalid data".into()),
        };
        assert!(r.apply_runpod(&json!({"id":"rp-1","status":"FAILED","error": err.to_runpod_string()}), 9));
        let e = r.error.as_ref().unwrap();
        assert_eq!((r.status, e.code.as_str()), (JobStatus::Failed, "input-not-media"));
        assert_eq!(e.details.as_ref().unwrap()["stderr_tail"], "Invalid data");
        let mut r = record();
        assert!(r.apply_runpod(&json!({"id":"rp-1","status":"COMPLETED","output":"garbage"}), 9));
        assert_eq!(r.error.unwrap().code, "invalid-worker-output");
        let mut r = record();
        assert!(r.apply_runpod(&json!({"id":"rp-1","status":"TIMED_OUT"}), 9));
        assert_eq!(r.status, JobStatus::TimedOut);
    }
}
