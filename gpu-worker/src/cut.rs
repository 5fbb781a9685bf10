//! Runs the exact cut of copied video under an audio track ([`crate::ops::cut`] plans it
//! and builds every argv): `addaudio`'s `shortest` and `loop_video`, and
//! `concat_video_audio`'s copy path.
//!
//! Steps: list each clip's packets (no decode); lay the clips end to end until they hold
//! round(T × fps) frames; copy the cut clip's head up to its last cut point; re-encode
//! the few frames after it (B-frames only) with the job's encoder (then libx264) and
//! keep that tail only if its parameter sets hash the same as the clips'; join all by
//! stream copy under the audio. When a tail is needed and the clip is not H.264 or no
//! tail matches it, the whole video is re-encoded instead (`encoder` then says so).

use std::path::{Path, PathBuf};

use tokio_util::sync::CancellationToken;

use crate::encoder::Encoder;
use crate::error::JobError;
use crate::executor::Executor;
use crate::ops::av::limit_output;
use crate::ops::cut::{self, Piece, Rate, Stream};
use crate::process::{self, ProcessError};

/// Clips laid under an audio track, cut to it.
pub(crate) struct CopyCut {
    /// The clips (input name, path), cycled in order.
    pub clips: Vec<(String, PathBuf)>,
    pub audio: PathBuf,
    pub audio_secs: f64,
    /// Ends with the shorter of the clips (once through) and the audio; else with the
    /// audio, the clips cycled.
    pub shortest: bool,
}

/// How the video was made.
pub(crate) struct CutDone {
    /// `copy`, or the encoder's name when the whole video was re-encoded.
    pub encoder: &'static str,
    /// The output's video frames.
    pub frames: u64,
    /// Frames re-encoded (the tail; all of them on a full re-encode).
    pub encoded: u64,
}

fn ffmpeg_error(e: ProcessError) -> JobError {
    if e == ProcessError::Cancelled { JobError::Cancelled } else { JobError::Ffmpeg(e) }
}

impl Executor {
    pub(crate) async fn copy_cut(
        &self,
        job: &CopyCut,
        dir: &Path,
        out: &Path,
        cancel: &CancellationToken,
        on_frame: impl Fn(u32) + Send + 'static,
    ) -> Result<CutDone, JobError> {
        let mut streams = Vec::with_capacity(job.clips.len());
        for (name, path) in &job.clips {
            streams.push(self.packets(name, path).await?);
        }
        let (Some(first), Some((first_name, _))) = (streams.first(), job.clips.first()) else {
            return Err(JobError::InvalidTask("no clips to lay under the audio".into()));
        };
        let rate = first.rate.unwrap_or(Rate { num: 30, den: 1 });
        let once: u64 = streams.iter().map(|s| s.frames).sum();
        let secs = if job.shortest { job.audio_secs.min(rate.secs(once)) } else { job.audio_secs };
        let frames = rate.frames_in(secs);
        if once > 0 {
            crate::single::check_pieces("audio", frames.div_ceil(once).saturating_mul(streams.len() as u64), secs)?;
        }
        let refs: Vec<&Stream> = streams.iter().collect();
        let seq = cut::sequence(&refs, frames);
        if seq.is_empty() {
            return Err(JobError::BadInput {
                name: first_name.clone(),
                code: "input-missing-stream",
                message: "has no video frames".into(),
            });
        }
        let entries: Vec<&Stream> = seq.iter().map(|&i| refs[i]).collect();
        let piece = |i: usize| Piece { path: &job.clips[i].1, secs: Some(rate.secs(streams[i].frames)) };
        let list = dir.join("cut.txt");
        let write_list =
            |pieces: &[Piece<'_>]| std::fs::write(&list, cut::list(pieces)).map_err(|e| JobError::Internal(format!("concat list: {e}")));

        let plan = cut::plan(&entries, frames);
        let tail = dir.join("cut_tail.mp4");
        let tail_ok = match plan.as_ref().and_then(|c| c.partial.map(|p| (seq[c.whole], p))) {
            Some((clip, p)) if p.encoded > 0 => {
                streams[clip].codec == "h264"
                    && self.matching_tail(&job.clips[clip].1, p, rate, first.extradata.as_deref(), &tail, cancel).await?
            }
            _ => true,
        };
        let Some(plan) = plan.filter(|_| tail_ok) else {
            tracing::info!(frames, "copied video cannot be cut exactly here; re-encoding it whole");
            write_list(&seq.iter().map(|&i| piece(i)).collect::<Vec<_>>())?;
            let args =
                limit_output(&cut::reencode_args(&list, &job.audio, secs, frames, rate, self.encoder, out), self.cfg.max_output_bytes);
            process::run_ffmpeg(&self.cfg.ffmpeg, &args, self.cfg.ffmpeg_timeout, cancel, on_frame).await.map_err(ffmpeg_error)?;
            return Ok(CutDone { encoder: self.encoder.name(), frames, encoded: frames });
        };

        let mut pieces: Vec<Piece<'_>> = seq[..plan.whole].iter().map(|&i| piece(i)).collect();
        let head = dir.join("cut_head.mp4");
        if let Some(p) = plan.partial {
            if p.copied > 0 {
                let args = limit_output(&cut::head_args(&job.clips[seq[plan.whole]].1, p.copied, &head), self.cfg.max_output_bytes);
                process::run_ffmpeg(&self.cfg.ffmpeg, &args, self.cfg.ffmpeg_timeout, cancel, |_| {}).await.map_err(ffmpeg_error)?;
                pieces.push(Piece { path: &head, secs: Some(rate.secs(p.copied)) });
            }
            if p.encoded > 0 {
                pieces.push(Piece { path: &tail, secs: None });
            }
        }
        write_list(&pieces)?;
        let args = limit_output(&cut::join_args(&list, &job.audio, secs, out), self.cfg.max_output_bytes);
        process::run_ffmpeg(&self.cfg.ffmpeg, &args, self.cfg.ffmpeg_timeout, cancel, on_frame).await.map_err(ffmpeg_error)?;
        Ok(CutDone { encoder: "copy", frames, encoded: plan.encoded() })
    }

    /// The clip's video packets, read from its index.
    async fn packets(&self, name: &str, path: &Path) -> Result<Stream, JobError> {
        let text = match process::probe_stdout(&self.cfg.ffprobe, &cut::packets_args(path), self.cfg.ffmpeg_timeout).await {
            Ok(t) => t,
            Err(ProcessError::Exited { stderr_tail, .. }) => return Err(JobError::InputNotMedia { name: name.into(), stderr_tail }),
            Err(e) => return Err(JobError::Ffmpeg(e)),
        };
        cut::parse_packets(&text).ok_or_else(|| JobError::BadInput {
            name: name.into(),
            code: "input-missing-stream",
            message: "has no video stream".into(),
        })
    }

    /// Encodes the cut clip's tail into `tail` with the job's encoder, then libx264, until
    /// its parameter sets hash as `want` (the header the joined MP4 keeps). False when
    /// none does.
    async fn matching_tail(
        &self,
        src: &Path,
        p: cut::Partial,
        rate: Rate,
        want: Option<&str>,
        tail: &Path,
        cancel: &CancellationToken,
    ) -> Result<bool, JobError> {
        let Some(want) = want else { return Ok(false) };
        let mut encoders = vec![self.encoder];
        if self.encoder != Encoder::Libx264 {
            encoders.push(Encoder::Libx264);
        }
        for enc in encoders {
            let args = limit_output(&cut::tail_args(src, p.start_secs, p.encoded, rate, enc, tail), self.cfg.max_output_bytes);
            match process::run_ffmpeg(&self.cfg.ffmpeg, &args, self.cfg.ffmpeg_timeout, cancel, |_| {}).await {
                Ok(()) => {}
                Err(ProcessError::Cancelled) => return Err(JobError::Cancelled),
                Err(e) => {
                    tracing::info!(encoder = enc.name(), error = %e, "tail encode failed");
                    continue;
                }
            }
            let got = self.packets("tail", tail).await?;
            if got.extradata.as_deref() == Some(want) && got.frames == p.encoded {
                return Ok(true);
            }
            tracing::info!(encoder = enc.name(), "the tail's parameter sets differ from the clip's");
        }
        Ok(false)
    }
}
