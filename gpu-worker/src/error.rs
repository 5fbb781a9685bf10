//! The worker's job errors: each has a stable code and knows whether a retry can help.

use job_spec::WorkerError;

use crate::process::ProcessError;

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("the task is invalid: {0}")]
    InvalidTask(String),
    #[error("input `{name}` refused: {reason}")]
    InputRefused { name: String, reason: String },
    #[error("input `{name}` could not be downloaded: {detail}")]
    Download { name: String, detail: String, retryable: bool },
    #[error("input `{name}` is larger than the {limit}-byte limit")]
    InputTooLarge { name: String, limit: u64 },
    /// The job's inputs together passed `MAX_JOB_INPUT_BYTES` while downloading; `name`
    /// is the input whose bytes crossed it.
    #[error("the job's inputs are larger than the {limit}-byte total allowed (MAX_JOB_INPUT_BYTES); `{name}` crossed it")]
    JobInputsTooLarge { name: String, limit: u64 },
    /// One input's download (every attempt together) ran past `DOWNLOAD_DEADLINE_SECS`.
    #[error("input `{name}` was not downloaded within {secs} s (DOWNLOAD_DEADLINE_SECS)")]
    DownloadTimeout { name: String, secs: u64 },
    /// The work dir's file system had less free space than `MIN_FREE_WORK_BYTES` when
    /// the job started; another worker (or this one later) may have room.
    #[error("the worker's disk has {free} bytes free; jobs start with at least {needed} (MIN_FREE_WORK_BYTES)")]
    InsufficientDisk { free: u64, needed: u64 },
    /// Platform mode: the job ran past `JOB_DEADLINE_SECS` and was cancelled.
    #[error("the job ran past the worker's {secs} s deadline (JOB_DEADLINE_SECS) and was stopped")]
    DeadlineExceeded { secs: u64 },
    #[error("input `{name}` is not a media file ffmpeg can read")]
    InputNotMedia { name: String, stderr_tail: String },
    /// The input is media but unusable for this operation (a stream missing, a range
    /// outside it); `code` is stable.
    #[error("input `{name}`: {message}")]
    BadInput { name: String, code: &'static str, message: String },
    /// An ffmpeg output reached `MAX_OUTPUT_BYTES` (`-fs` stopped it there).
    #[error("the output reached the {limit}-byte limit (MAX_OUTPUT_BYTES)")]
    OutputTooLarge { limit: u64 },
    /// A render would make more pixels (Σ frames × width × height) than
    /// `MAX_RENDER_PIXELS` allows: the edge checks the task, the worker again once the
    /// narration's length (which sets a fitted render's frames) is known.
    #[error("the render needs {pixels} pixels (frames × width × height); at most {limit} are allowed (MAX_RENDER_PIXELS)")]
    RenderBudget { pixels: u64, limit: u64 },
    #[error("output `{name}` could not be uploaded: {detail}")]
    Upload { name: String, detail: String, retryable: bool },
    #[error("ffmpeg failed: {0}")]
    Ffmpeg(ProcessError),
    /// The transcription engine failed; `code` is stable (`unknown-model`,
    /// `model-load-failed`, `input-not-media`, `transcribe-failed`).
    #[error("transcription failed: {message}")]
    Transcribe { code: &'static str, message: String, retryable: bool },
    /// `/video/transcribe_youtube` failed; `code` is stable (`video-unavailable`,
    /// `captions-disabled`, `no-captions-in-language`, `age-restricted`, `request-blocked`,
    /// `upstream-changed`, `po-token-required`, `youtube-unreachable`).
    #[error("{message}")]
    Youtube { code: &'static str, message: String, retryable: bool },
    /// A task another runner executes (the edge runs `/image/prompts` and
    /// `/image/generate`): this worker never does, so resubmitting cannot help.
    #[error("operation `{0}` runs in the API itself, not on the GPU worker; send it to the API's /{0} route")]
    WrongRunner(&'static str),
    #[error("the job was cancelled")]
    Cancelled,
    #[error("internal error: {0}")]
    Internal(String),
    /// The job's execution panicked: a bug in the worker. Not retryable, so one bad
    /// job cannot crash-loop through the queue; the panic itself is in the log.
    #[error("internal error: the worker failed on this job (a bug; see the worker's log)")]
    Panicked,
}

impl JobError {
    pub fn code(&self) -> &'static str {
        match self {
            JobError::InvalidTask(_) => "invalid-task",
            JobError::InputRefused { .. } => "input-refused",
            JobError::Download { .. } => "input-download-failed",
            JobError::InputTooLarge { .. } => "input-too-large",
            JobError::JobInputsTooLarge { .. } => "job-inputs-too-large",
            JobError::DownloadTimeout { .. } => "input-download-timeout",
            JobError::InsufficientDisk { .. } => "insufficient-disk",
            JobError::DeadlineExceeded { .. } => "deadline-exceeded",
            JobError::InputNotMedia { .. } => "input-not-media",
            JobError::BadInput { code, .. } => code,
            JobError::OutputTooLarge { .. } => "output-too-large",
            JobError::RenderBudget { .. } => "render-budget-exceeded",
            JobError::Upload { .. } => "upload-failed",
            JobError::Ffmpeg(e) => e.code(),
            JobError::Transcribe { code, .. } => code,
            JobError::Youtube { code, .. } => code,
            JobError::WrongRunner(_) => "wrong-runner",
            JobError::Cancelled => "cancelled",
            JobError::Internal(_) | JobError::Panicked => "internal-error",
        }
    }

    pub fn is_retryable(&self) -> bool {
        match self {
            JobError::Download { retryable, .. }
            | JobError::Upload { retryable, .. }
            | JobError::Transcribe { retryable, .. }
            | JobError::Youtube { retryable, .. } => *retryable,
            JobError::Ffmpeg(e) => matches!(e, ProcessError::Timeout { .. } | ProcessError::Io(_)),
            // Free space is this worker's state at this moment, not the job's fault.
            JobError::Internal(_) | JobError::InsufficientDisk { .. } => true,
            _ => false,
        }
    }

    /// Logs a caught panic's message (the job error names none of it) and returns
    /// [`JobError::Panicked`].
    pub fn from_panic(job_id: &str, payload: &(dyn std::any::Any + Send)) -> JobError {
        let msg = payload.downcast_ref::<&str>().copied().or_else(|| payload.downcast_ref::<String>().map(String::as_str));
        tracing::error!(job = %job_id, panic = msg.unwrap_or("(not a string)"), "job panicked");
        JobError::Panicked
    }

    pub fn to_worker_error(&self) -> WorkerError {
        let stderr_tail = match self {
            JobError::Ffmpeg(e) => e.stderr_tail().map(str::to_owned),
            JobError::InputNotMedia { stderr_tail, .. } => Some(stderr_tail.clone()),
            _ => None,
        };
        WorkerError { code: self.code().into(), message: self.to_string(), retryable: self.is_retryable(), stderr_tail }
    }
}
