//! Runs one [`WorkerJob`]: work dir → download inputs → render → probe → upload.
//! The same function serves every mode (RunPod platform, `serve`, `run`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{StreamExt, TryStreamExt};
use job_spec::worker::{Img2VidTask, OutputMeta};
use job_spec::{Progress, Task, WorkerJob, WorkerOutput};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::encoder::Encoder;
use crate::error::JobError;
use crate::ops::av::{limit_output, output_within};
use crate::ops::img2vid;
use crate::process::{self, ProcessError};
use crate::transfer::{self, TransferError};

/// Milliseconds since `clock`, for a job's `timings_ms`.
pub(crate) fn elapsed_ms(clock: Instant) -> u64 {
    clock.elapsed().as_millis() as u64
}

/// Receives progress updates; must be cheap (called per ffmpeg progress line).
pub type ProgressFn = Arc<dyn Fn(Progress) + Send + Sync>;

/// Everything a job needs that outlives it.
#[derive(Clone)]
pub struct Executor {
    pub cfg: Arc<Config>,
    pub http: reqwest::Client,
    pub encoder: Encoder,
    /// `-hwaccel cuda` for video inputs (probed at start).
    pub cuda_decode: bool,
    /// The Whisper engine: one per process, so loaded models stay warm across jobs.
    pub transcriber: Arc<crate::transcribe::Engine>,
    /// The running job's download budget (`MAX_JOB_INPUT_BYTES`): [`Executor::execute`]
    /// runs each job on a copy holding its own. `None` outside a job.
    input_budget: Option<Arc<transfer::Budget>>,
}

const PROBE_TIMEOUT: Duration = Duration::from_secs(60);

impl Executor {
    pub async fn new(cfg: Config) -> Result<Executor, String> {
        let http = transfer::client(&cfg)?;
        let encoder = crate::encoder::detect(&cfg.ffmpeg, cfg.encoder).await;
        let cuda_decode = cfg.cuda_decode && crate::encoder::detect_cuda_decode(&cfg.ffmpeg, &cfg.work_root).await;
        // The model registry from the environment (WHISPER_MODELS_DIR, WHISPER_MODELS,
        // WHISPER_DEFAULT_MODEL); nothing is loaded until a job asks for a model.
        let transcriber = Arc::new(
            crate::transcribe::Engine::new(crate::transcribe::models::Registry::from_env(), cfg.ffmpeg.clone())
                .with_compute_type(cfg.whisper_compute_type)
                .with_batch_size(cfg.whisper_batch_size),
        );
        Ok(Executor { cfg: Arc::new(cfg), http, encoder, cuda_decode, transcriber, input_budget: None })
    }

    /// Runs the job to completion, failure or cancellation.
    pub async fn execute(&self, job: &WorkerJob, progress: ProgressFn, cancel: &CancellationToken) -> Result<WorkerOutput, JobError> {
        // The edge runs these itself; one sent here is a routing mistake, never retried.
        if job.task.runs_on_edge() {
            return Err(JobError::WrongRunner(job.task.operation().name()));
        }
        let started = Instant::now();
        // The edge hears of progress from the worker itself, not only through RunPod.
        let progress = crate::progress_push::wrap(&self.http, self.cfg.allow_loopback_http, job, progress);
        // Every download of this job, whichever operation makes it, draws on one budget.
        let this = &Executor { input_budget: Some(Arc::new(transfer::Budget::new(self.cfg.max_job_input_bytes))), ..self.clone() };
        let dir = tempfile::Builder::new()
            .prefix(&format!("job-{}-", sanitize(&job.job_id)))
            .tempdir_in(&self.cfg.work_root)
            .map_err(|e| JobError::Internal(format!("work dir: {e}")))?;
        check_counts(&job.task)?;
        check_free_space(&self.cfg.work_root, self.cfg.min_free_work_bytes)?;
        let mut timings = BTreeMap::new();
        let mut out = match &job.task {
            Task::Img2vid(t) => this.img2vid(job, t, dir.path(), &progress, cancel, &mut timings).await?,
            Task::Stage => this.stage(job, dir.path(), &progress, cancel, &mut timings).await?,
            Task::Render(t) => this.render(job, t, dir.path(), &progress, cancel, &mut timings).await?,
            Task::Transcribe(t) => this.transcribe(job, t, dir.path(), &progress, cancel, &mut timings).await?,
            Task::SegmentAudio(t) => this.segment_audio(job, t, dir.path(), &progress, cancel, &mut timings).await?,
            Task::TranscribeYoutube(t) => this.transcribe_youtube(job, t, dir.path(), &progress, cancel, &mut timings).await?,
            single => this.single_output(job, single, dir.path(), &progress, cancel, &mut timings).await?,
        };
        timings.insert("total".into(), started.elapsed().as_millis() as u64);
        out.timings_ms = timings;
        Ok(out)
    }

    /// Downloads the named inputs in parallel (bounded) and probes each: a file ffprobe
    /// cannot read, or without audio or video, is `input-not-media`.
    pub(crate) async fn download_inputs(
        &self,
        job: &WorkerJob,
        names: Vec<String>,
        dir: &Path,
        cancel: &CancellationToken,
    ) -> Result<Vec<(PathBuf, process::Probe)>, JobError> {
        // Owned items: a stream of futures borrowing from the iterator is not `Send`
        // for every lifetime (rustc's higher-ranked closure limitation).
        let jobs = names.into_iter().enumerate().map(|(i, name)| async move {
            let name = name.as_str();
            let dest = dir.join(format!("in_{i}"));
            self.fetch_input(job, name, &dest, cancel).await?;
            match process::probe(&self.cfg.ffprobe, &dest, PROBE_TIMEOUT).await {
                Ok(p) if p.video().is_some() || p.audio().is_some() => Ok((dest, p)),
                Ok(_) => Err(JobError::InputNotMedia { name: name.into(), stderr_tail: "no audio or video stream".into() }),
                Err(ProcessError::Exited { stderr_tail, .. }) => Err(JobError::InputNotMedia { name: name.into(), stderr_tail }),
                Err(e) => Err(JobError::Ffmpeg(e)),
            }
        });
        futures_util::stream::iter(jobs).buffered(self.cfg.transfer_parallelism).try_collect().await
    }

    /// Downloads one named input to `dest` (URL policy, size limit, retries, cancel).
    pub(crate) async fn fetch_input(&self, job: &WorkerJob, name: &str, dest: &Path, cancel: &CancellationToken) -> Result<u64, JobError> {
        let input = job.input(name).ok_or_else(|| JobError::InvalidTask(format!("no input named `{name}`")))?;
        let url = transfer::check_url(&input.url, self.cfg.allow_loopback_http)
            .map_err(|e| JobError::InputRefused { name: name.into(), reason: format!("{e:?}") })?;
        let limits = transfer::DownloadLimits {
            max_bytes: self.cfg.max_input_bytes,
            budget: self.input_budget.clone().unwrap_or_else(|| Arc::new(transfer::Budget::new(self.cfg.max_job_input_bytes))),
            deadline: self.cfg.download_deadline,
        };
        let fut = transfer::download(&self.http, &url, dest, &limits);
        let res = tokio::select! { r = fut => r, () = cancel.cancelled() => return Err(JobError::Cancelled) };
        res.map_err(|e| match e {
            TransferError::TooLarge { limit } => JobError::InputTooLarge { name: name.into(), limit },
            TransferError::OverBudget { limit } => JobError::JobInputsTooLarge { name: name.into(), limit },
            TransferError::Deadline { after } => JobError::DownloadTimeout { name: name.into(), secs: after.as_secs() },
            TransferError::Refused(reason) => JobError::InputRefused { name: name.into(), reason },
            TransferError::Failed { detail, retryable } => JobError::Download { name: name.into(), detail, retryable },
        })
    }

    /// Probes (media outputs) and uploads outputs; `video_encoder` is reported for
    /// outputs with video. `video_encoder == None` marks non-media outputs (not probed).
    pub(crate) async fn upload_outputs(
        &self,
        job: &WorkerJob,
        files: Vec<(String, PathBuf)>,
        video_encoder: Option<&str>,
        cancel: &CancellationToken,
    ) -> Result<Vec<OutputMeta>, JobError> {
        let jobs = files.into_iter().map(|(name, path)| async move {
            let target = job.output(&name).ok_or_else(|| JobError::InvalidTask(format!("no output named `{name}`")))?;
            let probe = match video_encoder {
                Some(_) => process::probe(&self.cfg.ffprobe, &path, PROBE_TIMEOUT).await.map_err(JobError::Ffmpeg)?,
                None => process::Probe::default(),
            };
            let url = transfer::check_url(&target.put_url, self.cfg.allow_loopback_http)
                .map_err(|e| JobError::InvalidTask(format!("output `{name}` URL refused: {e:?}")))?;
            let fut = transfer::upload(&self.http, &url, &path, &target.content_type);
            let bytes =
                tokio::select! { r = fut => r, () = cancel.cancelled() => return Err(JobError::Cancelled) }.map_err(|e| match e {
                    TransferError::Failed { detail, retryable } => JobError::Upload { name: name.clone(), detail, retryable },
                    other => JobError::Upload { name: name.clone(), detail: format!("{other:?}"), retryable: false },
                })?;
            let video = probe.video();
            Ok(OutputMeta {
                name: name.clone(),
                key: target.key.clone(),
                bytes,
                content_type: target.content_type.clone(),
                duration: probe.duration(),
                codec: video.map(|v| v.codec_name.clone()),
                encoder: video.and(video_encoder).map(str::to_owned),
                width: video.and_then(|v| v.width),
                height: video.and_then(|v| v.height),
                frames: video.and_then(|v| v.nb_read_packets.as_deref()?.parse().ok()),
            })
        });
        futures_util::stream::iter(jobs).buffered(self.cfg.transfer_parallelism).try_collect().await
    }

    async fn img2vid(
        &self,
        job: &WorkerJob,
        t: &Img2VidTask,
        dir: &Path,
        progress: &ProgressFn,
        cancel: &CancellationToken,
        timings: &mut BTreeMap<String, u64>,
    ) -> Result<WorkerOutput, JobError> {
        check_img2vid(t)?;
        let clock = Instant::now();
        progress(Progress::new("download", 0, t.clips.len() as u64));
        let names: Vec<String> = t.clips.iter().map(|c| c.input.clone()).collect();
        let inputs = self.download_inputs(job, names, dir, cancel).await?;
        timings.insert("download".into(), clock.elapsed().as_millis() as u64);

        let clock = Instant::now();
        let total: u64 = t.clips.iter().map(|c| u64::from(c.frames)).sum();
        let done = Arc::new(AtomicU64::new(0));
        let size = (t.width, t.height);
        let decodes = &tokio::sync::Semaphore::new(img2vid::DECODES_IN_FLIGHT);
        let plan = img2vid::clip_plan(
            t.clips.len(),
            size,
            self.encoder,
            img2vid::Capacity {
                cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
                max_in_flight: self.cfg.render_parallelism,
                nvenc_sessions: self.cfg.nvenc_sessions,
                memory_bytes: crate::config::available_memory(),
            },
        );
        tracing::debug!(clips = t.clips.len(), in_flight = plan.in_flight, threads = ?plan.threads, "img2vid clip plan");
        let renders = t.clips.iter().cloned().zip(inputs.into_iter().map(|(path, _)| path)).enumerate().map(|(i, (clip, input))| {
            let out = dir.join(format!("out_{i}.mp4"));
            let limit = self.cfg.max_output_bytes;
            let args = limit_output(&img2vid::clip_args(&out, size, t.frame_rate, self.encoder, plan.threads), limit);
            let (done, progress) = (done.clone(), progress.clone());
            async move {
                // Decode once (a bounded number at a time), then render into ffmpeg's stdin.
                let source = {
                    let _permit = decodes.acquire().await.map_err(|e| JobError::Internal(e.to_string()))?;
                    img2vid::load(&self.cfg.ffmpeg, &clip.input, &input, size, clip.zoom, self.cfg.ffmpeg_timeout, cancel).await?
                };
                // Progress: frames of finished clips plus this clip's frames so far.
                let on_frame = {
                    let (progress, done) = (progress.clone(), done.clone());
                    move |f: u32| progress(Progress::new("render", (done.load(Ordering::Relaxed) + u64::from(f)).min(total), total))
                };
                let feed = img2vid::feed(source, size, clip.zoom, clip.frames, clip.easing.into());
                let encoded = process::run_ffmpeg_fed(&self.cfg.ffmpeg, &args, self.cfg.ffmpeg_timeout, cancel, on_frame, feed).await;
                // `-fs` stopped a clip at the limit (ffmpeg exits 0, its input unread).
                if !output_within(&out, limit) {
                    return Err(JobError::OutputTooLarge { limit });
                }
                encoded.map_err(|e| if e == ProcessError::Cancelled { JobError::Cancelled } else { JobError::Ffmpeg(e) })?;
                let now = done.fetch_add(u64::from(clip.frames), Ordering::Relaxed) + u64::from(clip.frames);
                progress(Progress::new("render", now, total));
                Ok::<_, JobError>((clip.output.clone(), out))
            }
        });
        let files: Vec<(String, PathBuf)> = futures_util::stream::iter(renders).buffered(plan.in_flight).try_collect().await?;
        timings.insert("render".into(), clock.elapsed().as_millis() as u64);

        let clock = Instant::now();
        progress(Progress::new("upload", 0, files.len() as u64));
        let outputs = self.upload_outputs(job, files, Some(self.encoder.name()), cancel).await?;
        progress(Progress::new("upload", outputs.len() as u64, outputs.len() as u64));
        timings.insert("upload".into(), clock.elapsed().as_millis() as u64);
        Ok(WorkerOutput { outputs, ..Default::default() })
    }
}

/// The worker re-checks what it renders, whoever sent the task.
fn check_img2vid(t: &Img2VidTask) -> Result<(), JobError> {
    use job_spec::validate::limits::*;
    let bad = |m: String| Err(JobError::InvalidTask(m));
    if !(MIN_FPS..=MAX_FPS).contains(&t.frame_rate) {
        return bad(format!("frame_rate {} outside {MIN_FPS}–{MAX_FPS}", t.frame_rate));
    }
    for d in [t.width, t.height] {
        if !(MIN_DIMENSION..=MAX_DIMENSION).contains(&d) || d % 2 == 1 {
            return bad(format!("dimension {d} must be even and within {MIN_DIMENSION}–{MAX_DIMENSION}"));
        }
    }
    if t.clips.is_empty() || t.clips.len() > MAX_IMAGES {
        return bad(format!("{} clips; 1–{MAX_IMAGES} allowed", t.clips.len()));
    }
    let max_frames = (MAX_IMAGE_SECONDS * f64::from(t.frame_rate)).ceil() as u32;
    if let Some(c) = t.clips.iter().find(|c| c.frames == 0 || c.frames > max_frames) {
        return bad(format!("clip `{}` has {} frames; 1–{max_frames} allowed", c.id, c.frames));
    }
    crate::ops::render::check_budget(t.clips.iter().map(|c| c.frames), (t.width, t.height))
}

/// A job starts only with `min_free` bytes free where its work dir goes: downloads,
/// renders and outputs share that file system (with `/dev/shm`, the container's RAM).
fn check_free_space(work_root: &Path, min_free: u64) -> Result<(), JobError> {
    if min_free == 0 {
        return Ok(());
    }
    let free = crate::config::free_bytes(work_root)
        .ok_or_else(|| JobError::Internal(format!("work dir {}: free space unreadable", work_root.display())))?;
    if free < min_free {
        tracing::warn!(free, min_free, work_root = %work_root.display(), "refusing a job: too little free space");
        return Err(JobError::InsufficientDisk { free, needed: min_free });
    }
    Ok(())
}

/// Job ids become part of a directory name: keep `[A-Za-z0-9_-]`, at most 40 chars.
fn sanitize(id: &str) -> String {
    id.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').take(40).collect()
}

/// The counts the executors index by (`inputs[0]`, the first clip): a job not built
/// by the edge can say zero clips, which would be an index panic, not an error.
fn check_counts(task: &Task) -> Result<(), JobError> {
    let clips = match task {
        Task::Concatenate(t) => t.clips,
        Task::AudioConcatenate(t) => t.clips,
        Task::ConcatVideoAudio(t) => t.clips,
        _ => return Ok(()),
    };
    if clips == 0 {
        return Err(JobError::InvalidTask("`clips` must be at least 1".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitizes_ids_for_paths() {
        assert_eq!(sanitize("../../etc/passwd"), "etcpasswd");
        assert_eq!(sanitize("job-1_a"), "job-1_a");
    }
}
