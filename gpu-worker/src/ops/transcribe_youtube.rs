//! `/video/transcribe_youtube` in the worker (being built: issue 14).

use std::collections::BTreeMap;
use std::path::Path;

use job_spec::worker::TranscribeYoutubeTask;
use job_spec::{WorkerJob, WorkerOutput};
use tokio_util::sync::CancellationToken;

use crate::error::JobError;
use crate::executor::{Executor, ProgressFn};

impl Executor {
    pub(crate) async fn transcribe_youtube(
        &self,
        _job: &WorkerJob,
        _t: &TranscribeYoutubeTask,
        _dir: &Path,
        _progress: &ProgressFn,
        _cancel: &CancellationToken,
        _timings: &mut BTreeMap<String, u64>,
    ) -> Result<WorkerOutput, JobError> {
        Err(JobError::InvalidTask("/video/transcribe_youtube is not built into this worker yet".into()))
    }
}
