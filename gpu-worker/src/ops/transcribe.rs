//! `/audio/transcribe` in the worker: download `audio` → probe (it must have an audio
//! stream) → the Whisper engine ([`crate::transcribe::Engine`], blocking, on tokio's
//! blocking pool) → the four files of [`job_spec::transcript`] → upload.
//!
//! Stages (each timed, and reported as progress): `download`, `transcribe` (audio
//! decoding, model loading when it is not loaded yet, decoding), `write`, `upload`.
//!
//! The engine lives in the [`Executor`] (one per process, shared by every job), so a
//! model loaded by one job stays loaded for the next. The job's input is probed first: a
//! claimed length past `MAX_MEDIA_SECONDS` (or not believable for its size) is refused
//! before any decoding, and the engine enforces the same limit on the samples themselves.
//!
//! A cancelled job stops its work before it returns: the engine is given the job's cancel
//! token (ffmpeg is killed, the decoding stops before its next 30 s window — CTranslate2
//! cannot stop a call half-way) and the job waits for the blocking task to end, so the
//! worker's slot is free only once the CPU or GPU is.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use job_spec::transcript::{self, Transcript};
use job_spec::worker::{OutputMeta, TranscribeTask};
use job_spec::{Progress, WorkerJob, WorkerOutput};
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use crate::error::JobError;
use crate::executor::{Executor, ProgressFn, elapsed_ms};
use crate::single::{audio_duration, need_audio};
use crate::transcribe::{Limits, TranscribeError, TranscribeOptions, TranscribeStats};

/// The engine's options for a task.
pub fn options(t: &TranscribeTask) -> TranscribeOptions {
    TranscribeOptions {
        model: t.model.clone(),
        language: t.language.clone(),
        enable_vad: t.enable_vad,
        beam_size: t.beam_size as usize,
        temperature: t.temperature as f32,
    }
}

/// The engine's error as the job's: its stable code; `unknown-model`, `input-not-media`
/// and `input-duration-out-of-range` (the audio decodes past `MAX_MEDIA_SECONDS`, named
/// as the input's fault) are the request's fault (no retry helps), a model that failed to
/// load or a decode that failed may be a passing fault of the GPU (retried).
pub fn job_error(e: TranscribeError) -> JobError {
    match e.code {
        "cancelled" => JobError::Cancelled,
        "input-duration-out-of-range" => JobError::BadInput { name: TranscribeTask::AUDIO.into(), code: e.code, message: e.message },
        code => JobError::Transcribe { code, message: e.message, retryable: matches!(code, "model-load-failed" | "transcribe-failed") },
    }
}

/// The four files' names (output name, file in the work dir) and contents.
pub fn files(t: &Transcript) -> [(&'static str, &'static str, String); 4] {
    [
        (TranscribeTask::SEGMENTS_SRT, "segments.srt", transcript::segments_srt(t)),
        (TranscribeTask::SEGMENTS_JSON, "segments.json", transcript::segments_json(t)),
        (TranscribeTask::WORDS_JSON, "words.json", transcript::words_json(t)),
        (TranscribeTask::KARAOKE_ASS, "karaoke.ass", transcript::karaoke_ass(t)),
    ]
}

/// What ran, as `stats.engine`: the seed's `/runpod/audio/transcribe` (faster-whisper) and
/// `/runpod/audio/transcribe-whisper` ("OpenAI Whisper official") are both served here by
/// this one engine on the same model files.
pub const ENGINE: &str = "faster-whisper (CTranslate2); /transcribe-whisper is served by the same engine and model files";

/// `stats.device`, as the seed reports it.
pub const DEVICE: &str = if cfg!(feature = "cuda") { "cuda" } else { "cpu" };

/// The result's facts: `transcription`, `language`, `language_probability`, `duration`,
/// `stats` (the engine's timings, the model, the real-time factor — seconds of audio per
/// second of transcription — and the counts).
pub fn extras(t: &Transcript, s: &TranscribeStats) -> Map<String, Value> {
    let words: usize = t.segments.iter().map(|seg| seg.words.len()).sum();
    let compute_ms = s.decode_audio_ms + s.transcribe_ms;
    let rtf = (compute_ms > 0).then(|| (s.audio_seconds / (compute_ms as f64 / 1000.0) * 100.0).round() / 100.0);
    let mut m = Map::new();
    m.insert("transcription".into(), json!(transcript::full_text(t)));
    m.insert("language".into(), json!(t.language));
    m.insert("language_probability".into(), json!((t.language_probability * 10_000.0).round() / 10_000.0));
    m.insert("duration".into(), json!((t.duration * 1000.0).round() / 1000.0));
    m.insert(
        "stats".into(),
        json!({
            "model": s.model,
            "requested_model": s.requested_model,
            "engine": ENGINE,
            "device": DEVICE,
            "compute_type": s.compute_type.name(),
            "audio_seconds": s.audio_seconds,
            "vad_speech_seconds": s.vad_speech_seconds,
            "batch_size": s.batch_size,
            "decode_audio_ms": s.decode_audio_ms,
            "audio_decoder": s.audio_decoder.name(),
            "load_model_ms": s.load_model_ms,
            "transcribe_ms": s.transcribe_ms,
            "real_time_factor": rtf,
            "segments": t.segments.len(),
            "words": words,
        }),
    );
    m
}

impl Executor {
    pub(crate) async fn transcribe(
        &self,
        job: &WorkerJob,
        t: &TranscribeTask,
        dir: &Path,
        progress: &ProgressFn,
        cancel: &CancellationToken,
        timings: &mut BTreeMap<String, u64>,
    ) -> Result<WorkerOutput, JobError> {
        t.check().map_err(JobError::InvalidTask)?;
        // An unknown model fails before anything is downloaded.
        if let Some(m) = &t.model
            && !self.transcriber.has_model(m)
        {
            return Err(job_error(TranscribeError {
                code: "unknown-model",
                message: format!("no model `{m}` on this worker (configured: {})", self.transcriber.model_names().join(", ")),
            }));
        }

        let clock = Instant::now();
        progress(Progress::new("download", 0, 1));
        let mut inputs = self.download_inputs(job, vec![TranscribeTask::AUDIO.to_owned()], dir, cancel).await?;
        let (audio, probe) = inputs.pop().ok_or_else(|| JobError::Internal("no input downloaded".into()))?;
        need_audio(TranscribeTask::AUDIO, &probe)?;
        audio_duration(TranscribeTask::AUDIO, &probe, self.cfg.max_media_secs)?;
        progress(Progress::new("download", 1, 1));
        timings.insert("download".into(), elapsed_ms(clock));

        let clock = Instant::now();
        progress(Progress::new("transcribe", 0, 1));
        let engine = Arc::clone(&self.transcriber);
        let opts = options(t);
        // The engine's own token: cancelled with the job, and also when this future is
        // dropped (a caller's timeout), so the blocking work stops at its next window even
        // when nobody waits for it.
        let stop = cancel.child_token();
        let _stop_on_drop = stop.clone().drop_guard();
        let limits = Limits { max_seconds: self.cfg.max_media_secs, decode_timeout: self.cfg.ffmpeg_timeout, cancel: stop };
        // Awaited to its end even when the job is cancelled: the engine sees the token and
        // stops within a window, and only then is the job's slot released.
        let run = tokio::task::spawn_blocking(move || engine.transcribe(&audio, &opts, &limits)).await;
        if cancel.is_cancelled() {
            return Err(JobError::Cancelled);
        }
        let (text, stats) = run.map_err(|e| JobError::Internal(format!("transcription task: {e}")))?.map_err(job_error)?;
        progress(Progress::new("transcribe", 1, 1));
        timings.insert("transcribe".into(), elapsed_ms(clock));
        tracing::info!(
            job_id = %job.job_id, model = %stats.model, language = %text.language, audio_seconds = stats.audio_seconds,
            load_model_ms = stats.load_model_ms, transcribe_ms = stats.transcribe_ms, segments = text.segments.len(), "transcribed"
        );

        let outputs = self.store_transcript(job, &text, dir, progress, cancel, timings).await?;
        Ok(WorkerOutput { outputs, extras: extras(&text, &stats), ..Default::default() })
    }

    /// Writes the four transcript [`files`] into `dir` and uploads them through the
    /// job's PUT URLs (stages `write` and `upload`): `/audio/transcribe`'s and
    /// `/video/transcribe_youtube`'s outputs.
    pub(crate) async fn store_transcript(
        &self,
        job: &WorkerJob,
        text: &Transcript,
        dir: &Path,
        progress: &ProgressFn,
        cancel: &CancellationToken,
        timings: &mut BTreeMap<String, u64>,
    ) -> Result<Vec<OutputMeta>, JobError> {
        let clock = Instant::now();
        progress(Progress::new("write", 0, 1));
        let mut written: Vec<(String, PathBuf)> = Vec::with_capacity(4);
        for (name, file, content) in files(text) {
            let path = dir.join(file);
            std::fs::write(&path, content).map_err(|e| JobError::Internal(format!("writing {file}: {e}")))?;
            written.push((name.to_owned(), path));
        }
        progress(Progress::new("write", 1, 1));
        timings.insert("write".into(), elapsed_ms(clock));

        let clock = Instant::now();
        let count = written.len() as u64;
        progress(Progress::new("upload", 0, count));
        let outputs = self.upload_outputs(job, written, None, cancel).await?;
        progress(Progress::new("upload", count, count));
        timings.insert("upload".into(), elapsed_ms(clock));
        Ok(outputs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use job_spec::transcript::{TranscriptSegment, TranscriptWord};

    #[test]
    fn task_to_engine_options() {
        let t = TranscribeTask { model: Some("base".into()), language: None, enable_vad: true, beam_size: 3, temperature: 0.25 };
        assert_eq!(
            options(&t),
            TranscribeOptions { model: Some("base".into()), language: None, enable_vad: true, beam_size: 3, temperature: 0.25 }
        );
    }

    #[test]
    fn engine_errors_keep_their_codes() {
        let e = |code| job_error(TranscribeError { code, message: "m".into() }).to_worker_error();
        assert_eq!((e("unknown-model").code.as_str(), e("unknown-model").retryable), ("unknown-model", false));
        assert_eq!((e("input-not-media").code.as_str(), e("input-not-media").retryable), ("input-not-media", false));
        assert!(e("model-load-failed").retryable && e("transcribe-failed").retryable);
        let long = e("input-duration-out-of-range");
        assert_eq!((long.code.as_str(), long.retryable), ("input-duration-out-of-range", false));
        assert!(long.message.contains("`audio`"), "names the input: {}", long.message);
        assert_eq!(e("cancelled").code, "cancelled");
        assert_eq!(e("transcribe-failed").message, "transcription failed: m");
    }

    #[test]
    fn result_facts() {
        let t = Transcript {
            language: "en".into(),
            language_probability: 0.987654,
            duration: 12.34567,
            segments: vec![TranscriptSegment {
                start: 0.0,
                end: 1.0,
                text: " Hello  there.".into(),
                avg_logprob: -0.2,
                no_speech_prob: 0.0,
                words: vec![
                    TranscriptWord { word: " Hello".into(), start: 0.0, end: 0.4, probability: 0.9 },
                    TranscriptWord { word: " there.".into(), start: 0.4, end: 1.0, probability: 0.9 },
                ],
            }],
        };
        let s = TranscribeStats {
            audio_seconds: 12.34567,
            decode_audio_ms: 100,
            audio_decoder: crate::transcribe::audio::Decoder::Symphonia,
            load_model_ms: 0,
            transcribe_ms: 1900,
            model: "tiny.en".into(),
            requested_model: "large-v3".into(),
            compute_type: crate::transcribe::models::ComputeType::Int8,
            vad_speech_seconds: Some(1.5),
            batch_size: Some(8),
        };
        assert_eq!(
            Value::Object(extras(&t, &s)),
            json!({
                "transcription": "Hello there.",
                "language": "en",
                "language_probability": 0.9877,
                "duration": 12.346,
                "stats": {"model": "tiny.en", "requested_model": "large-v3", "engine": ENGINE, "device": DEVICE, "compute_type": "int8", "audio_seconds": 12.34567, "vad_speech_seconds": 1.5, "batch_size": 8, "decode_audio_ms": 100,
                          "audio_decoder": "symphonia", "load_model_ms": 0, "transcribe_ms": 1900, "real_time_factor": 6.17, "segments": 1, "words": 2},
            })
        );
        assert_eq!(
            TranscribeTask::OUTPUTS.to_vec(),
            files(&t).iter().map(|(n, f, _)| (*n, *f)).collect::<Vec<_>>(),
            "the planned files are the ones written"
        );
    }
}
