//! Single-output operations (everything but img2vid): download and probe the inputs,
//! build the operation's argv from the probes, run ffmpeg once, upload `output`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use job_spec::captions;
use job_spec::worker::{CaptionMode, CaptionTask, OUTPUT, SyncMode};
use job_spec::{Progress, Task, WorkerJob, WorkerOutput};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::error::JobError;
use crate::executor::{Executor, ProgressFn};
use crate::ops;
use crate::process::{self, Probe, ProcessError};

/// What one operation needs from its inputs.
struct Plan {
    args: Vec<String>,
    /// `copy` when the video stream is copied, else the encoder's name.
    video_encoder: &'static str,
    /// Frames the output will have (for progress); 0 for audio.
    frames: u64,
    extras: serde_json::Map<String, serde_json::Value>,
    /// Copied video cut to its audio: run by [`crate::cut`] instead of `args`.
    cut: Option<crate::cut::CopyCut>,
    /// ffmpeg runs before `args` or `cut`: the parts of a batched normalise.
    steps: Vec<Step>,
}

/// One ffmpeg run that writes a file the plan's own run reads.
struct Step {
    args: Vec<String>,
    out: PathBuf,
    /// Frames it makes (for progress).
    frames: u64,
}

/// The `i`-th downloaded input: the task's input names say how many there are, so one
/// missing is a task that does not match its operation, refused rather than a panic.
fn nth(inputs: &[(PathBuf, Probe)], i: usize) -> Result<&(PathBuf, Probe), JobError> {
    inputs.get(i).ok_or_else(|| JobError::InvalidTask(format!("the operation reads input {} and the task gives {}", i + 1, inputs.len())))
}

fn input_names(task: &Task) -> Vec<String> {
    let clips = |n: u32| (1..=n).map(|i| format!("clip_{i}")).collect();
    match task {
        // Not single-output tasks: executor.rs runs them (img2vid.rs, render.rs, ops/transcribe.rs,
        // ops/segment.rs, ops/transcribe_youtube.rs), or refuses them (those of the edge).
        Task::Img2vid(_)
        | Task::Render(_)
        | Task::Transcribe(_)
        | Task::SegmentAudio(_)
        | Task::TranscribeYoutube(_)
        | Task::ImagePrompts(_)
        | Task::ImageGenerate(_) => vec![],
        Task::AddAudio(_) => vec!["video".into(), "audio".into()],
        Task::Concatenate(t) => clips(t.clips),
        Task::AudioConcatenate(t) => clips(t.clips),
        Task::AudioTrim(_) => vec!["audio".into()],
        Task::Downsample(_) => vec!["video".into()],
        Task::VideoMusic(_) => vec!["video".into(), "music".into()],
        Task::AudioMusic(_) => vec!["audio".into(), "music".into()],
        Task::ConcatVideoAudio(t) => {
            let mut v: Vec<String> = clips(t.clips);
            v.push("audio".into());
            v
        }
        Task::Stage => vec!["source".into()],
        Task::Caption(_) => vec!["video".into()],
        Task::Encode(t) => {
            let mut v = vec!["video".to_owned()];
            if t.audio {
                v.push("audio".into());
            }
            v
        }
    }
}

fn need_video(name: &str, p: &Probe) -> Result<(), JobError> {
    match p.video() {
        Some(_) => Ok(()),
        None => Err(JobError::BadInput { name: name.into(), code: "input-missing-stream", message: "has no video stream".into() }),
    }
}

pub(crate) fn need_audio(name: &str, p: &Probe) -> Result<(), JobError> {
    match p.audio() {
        Some(_) => Ok(()),
        None => Err(JobError::BadInput { name: name.into(), code: "input-missing-stream", message: "has no audio stream".into() }),
    }
}

/// Shortest input a job takes: below a frame at 50 fps a clip cannot be cut or looped
/// (and the repeats it would need under a long narration are absurd).
pub(crate) const MIN_MEDIA_SECS: f64 = 0.02;

/// Fewest bits per second a real input carries. A duration is only a header's claim
/// (an MP3's Xing frame count, an MP4's `mvhd`); a file whose bytes spread over it come
/// below this cannot be that long — no codec codes sound or moving pictures in under
/// 32 bytes a second (MP3's floor is 8 kbps, Opus's 6 kbps, an H.264 skip frame ~10 bytes).
/// Trusting such a claim would loop, cut or allocate for hours of media that is not there.
pub(crate) const MIN_BITS_PER_SEC: f64 = 256.0;

/// Every duration the worker uses passes here: `secs` (what ffprobe claims for input
/// `name`, whose file has `size` bytes) must be a finite number between
/// [`MIN_MEDIA_SECS`] and `max` (`MAX_MEDIA_SECONDS`), and the file big enough to hold
/// it ([`MIN_BITS_PER_SEC`]); else `input-duration-out-of-range`, which no retry fixes.
pub(crate) fn checked_secs(name: &str, secs: Option<f64>, size: Option<u64>, max: f64) -> Result<f64, JobError> {
    // NaN passes here to be refused as out of range below.
    let Some(secs) = secs.filter(|d| d.is_nan() || *d > 0.0) else {
        return Err(JobError::BadInput { name: name.into(), code: "input-not-media", message: "has no readable duration".into() });
    };
    let refuse = |why: String| JobError::BadInput { name: name.into(), code: "input-duration-out-of-range", message: why };
    if !secs.is_finite() || secs > max {
        return Err(refuse(format!("claims to last {secs:.3} s; at most {max} s are accepted (MAX_MEDIA_SECONDS)")));
    }
    if secs < MIN_MEDIA_SECS {
        return Err(refuse(format!("lasts {secs:.3} s; at least {MIN_MEDIA_SECS} s are needed")));
    }
    if let Some(bytes) = size.filter(|b| (*b as f64) * 8.0 < secs * MIN_BITS_PER_SEC) {
        return Err(refuse(format!(
            "claims to last {secs:.3} s in {bytes} bytes, under {MIN_BITS_PER_SEC} bits a second: its header's duration is not believable"
        )));
    }
    Ok(secs)
}

/// The file's probed duration, checked ([`checked_secs`]).
pub(crate) fn duration(name: &str, p: &Probe, max: f64) -> Result<f64, JobError> {
    checked_secs(name, p.duration(), file_size(p), max)
}

fn file_size(p: &Probe) -> Option<u64> {
    p.format.size.as_deref().and_then(|s| s.parse().ok())
}

/// The length of an audio input that sets the output's length: what decoders give
/// ([`Probe::audio_duration`]), so the video cut to it ends with the sound; checked.
pub(crate) fn audio_duration(name: &str, p: &Probe, max: f64) -> Result<f64, JobError> {
    checked_secs(name, p.audio_duration(), file_size(p), max)
}

/// `too-many-repeats` when `pieces` clip entries (clips × repeats) would be laid end to
/// end to cover `audio_secs` of input `name`: past [`ops::cut::MAX_PIECES`].
pub(crate) fn check_pieces(name: &str, pieces: u64, audio_secs: f64) -> Result<(), JobError> {
    if pieces <= ops::cut::MAX_PIECES {
        return Ok(());
    }
    Err(JobError::BadInput {
        name: name.into(),
        code: "too-many-repeats",
        message: format!(
            "covering its {audio_secs:.3} s would repeat the clips into {pieces} pieces; at most {} are joined (use longer clips)",
            ops::cut::MAX_PIECES
        ),
    })
}

/// The video's frame rate, rounded; 30 when unknown or absurd.
fn fps(p: &Probe) -> u32 {
    p.video().and_then(|v| v.fps()).map(|f| f.round() as u32).filter(|f| (1..=120).contains(f)).unwrap_or(30)
}

/// The ASS to burn on frames of `size` for the caption text `text` (input `name`):
/// job-spec's generator for SRT (`caption`'s style, or the default) and words JSON
/// (`highlight`); an ASS file (no `caption`: encode's subtitles) is sanitised
/// ([`job_spec::ass_sanitizer`]).
pub(crate) async fn captions_to_ass(name: &str, text: &str, caption: Option<&CaptionTask>, size: (u32, u32)) -> Result<String, JobError> {
    let bad = |e: captions::CaptionError| JobError::BadInput { name: name.into(), code: e.code, message: e.message };
    Ok(match caption.map(|c| (&c.mode, c.uppercase)) {
        Some((CaptionMode::Highlight { style }, upper)) => {
            let words = captions::parse_words(text).map_err(bad)?;
            let (mut ass_style, mut karaoke) = (captions::AssStyle::highlight(style, size.1), captions::Karaoke::from_options(style));
            // A rounded background is drawn from measured text widths; without the font
            // file to measure with, fall back to the square per-line box.
            let measurer = match karaoke.rounded {
                Some(_) => crate::fonts::Measurer::load(&ass_style.font, ass_style.bold, ass_style.size).await,
                None => None,
            };
            if karaoke.rounded.is_some() && measurer.is_none() {
                tracing::warn!(font = %ass_style.font, "caption font not found by fc-match; square background instead of rounded");
                let square = job_spec::ops::StyleOptions { fundo_arredondado: Some(false), ..style.clone() };
                (ass_style, karaoke) = (captions::AssStyle::highlight(&square, size.1), captions::Karaoke::from_options(&square));
            }
            let measure = measurer.as_ref().map(|m| move |t: &str| m.width(t));
            captions::karaoke_ass(&words, &ass_style, &karaoke, size, upper, measure.as_ref().map(|f| f as &dyn Fn(&str) -> f64))
        }
        Some((CaptionMode::Segments { style }, upper)) => {
            captions::segments_ass(&captions::parse_srt(text).map_err(bad)?, &captions::AssStyle::segments(style, size.1), size, upper)
        }
        // The user's own ASS: re-emitted with only what captions need, values bounded.
        _ if text.contains("[Script Info]") => job_spec::ass_sanitizer::sanitize_ass(text).map_err(bad)?,
        _ => captions::segments_ass(&captions::parse_srt(text).map_err(bad)?, &captions::AssStyle::default_for(size.1), size, false),
    })
}

/// A downloaded caption file's text, its size bounded (`captions-too-large`) before it
/// is read, let alone parsed.
pub(crate) fn read_captions(name: &str, path: &Path) -> Result<String, JobError> {
    let size = std::fs::metadata(path).map_err(|e| JobError::Internal(format!("reading captions: {e}")))?.len();
    captions::check_caption_bytes("caption file", usize::try_from(size).unwrap_or(usize::MAX)).map_err(|e| JobError::BadInput {
        name: name.into(),
        code: e.code,
        message: e.message,
    })?;
    let bytes = std::fs::read(path).map_err(|e| JobError::Internal(format!("reading captions: {e}")))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

impl Executor {
    /// objects/stage: copy any file from its URL into storage, unprobed.
    pub(crate) async fn stage(
        &self,
        job: &WorkerJob,
        dir: &Path,
        progress: &ProgressFn,
        cancel: &CancellationToken,
        timings: &mut BTreeMap<String, u64>,
    ) -> Result<WorkerOutput, JobError> {
        let clock = Instant::now();
        progress(Progress::new("download", 0, 1));
        let file = dir.join("staged");
        self.fetch_input(job, "source", &file, cancel).await?;
        timings.insert("download".into(), clock.elapsed().as_millis() as u64);
        let clock = Instant::now();
        progress(Progress::new("upload", 0, 1));
        let outputs = self.upload_outputs(job, vec![(OUTPUT.to_owned(), file)], None, cancel).await?;
        timings.insert("upload".into(), clock.elapsed().as_millis() as u64);
        Ok(WorkerOutput { outputs, ..Default::default() })
    }

    pub(crate) async fn single_output(
        &self,
        job: &WorkerJob,
        task: &Task,
        dir: &Path,
        progress: &ProgressFn,
        cancel: &CancellationToken,
        timings: &mut BTreeMap<String, u64>,
    ) -> Result<WorkerOutput, JobError> {
        let names = input_names(task);
        let clock = Instant::now();
        progress(Progress::new("download", 0, names.len() as u64));
        let inputs = self.download_inputs(job, names.clone(), dir, cancel).await?;
        timings.insert("download".into(), clock.elapsed().as_millis() as u64);

        let out = dir.join("output");
        // Captions and subtitles are text: fetched unprobed and turned into ASS here.
        let subs = match task {
            Task::Caption(t) => Some(self.captions_ass(job, "captions", Some(t), &nth(&inputs, 0)?.1, dir, cancel).await?),
            Task::Encode(t) if t.subtitles => Some(self.captions_ass(job, "subtitles", None, &nth(&inputs, 0)?.1, dir, cancel).await?),
            _ => None,
        };
        let mut plan = self.plan(task, &names, &inputs, subs.as_deref(), dir, &out).await?;
        let videos: Vec<&Path> = inputs.iter().filter(|(_, p)| p.video().is_some()).map(|(path, _)| path.as_path()).collect();
        let decode = |args: Vec<String>| if self.cuda_decode { crate::encoder::with_cuda_decode(args, &videos) } else { args };
        if plan.cut.is_none() {
            plan.args = decode(std::mem::take(&mut plan.args));
        }
        let clock = Instant::now();
        let total = plan.frames;
        let limit = self.cfg.max_output_bytes;
        let failed = |e: ProcessError| if e == ProcessError::Cancelled { JobError::Cancelled } else { JobError::Ffmpeg(e) };
        // Frames the steps before made: each run reports its own count.
        let mut before = 0;
        for step in std::mem::take(&mut plan.steps) {
            let p = progress.clone();
            let on_frame = move |f: u32| p(Progress::new("render", (before + u64::from(f)).min(total), total));
            let args = ops::av::limit_output(&decode(step.args), limit);
            process::run_ffmpeg(&self.cfg.ffmpeg, &args, self.cfg.ffmpeg_timeout, cancel, on_frame).await.map_err(failed)?;
            if !ops::av::output_within(&step.out, limit) {
                return Err(JobError::OutputTooLarge { limit });
            }
            before += step.frames;
        }
        let p = progress.clone();
        let on_frame = move |f: u32| p(Progress::new("render", (before + u64::from(f)).min(total), total));
        if let Some(cut) = plan.cut.take() {
            let done = self.copy_cut(&cut, dir, &out, cancel, on_frame).await?;
            // Copied clips: `copy`, unless all was re-encoded; normalised ones were encoded.
            if plan.video_encoder == "copy" {
                plan.video_encoder = done.encoder;
            }
            plan.extras.insert("video_frames".into(), json!(done.frames));
            plan.extras.insert("encoded_frames".into(), json!(done.encoded));
        } else {
            let args = ops::av::limit_output(&plan.args, limit);
            process::run_ffmpeg(&self.cfg.ffmpeg, &args, self.cfg.ffmpeg_timeout, cancel, on_frame).await.map_err(failed)?;
        }
        // `-fs` ends the output at the limit and ffmpeg exits 0: a file that reached it
        // is cut short, not a result.
        if !ops::av::output_within(&out, limit) {
            return Err(JobError::OutputTooLarge { limit });
        }
        timings.insert("render".into(), clock.elapsed().as_millis() as u64);

        let clock = Instant::now();
        progress(Progress::new("upload", 0, 1));
        let outputs = self.upload_outputs(job, vec![(OUTPUT.to_owned(), out)], Some(plan.video_encoder), cancel).await?;
        timings.insert("upload".into(), clock.elapsed().as_millis() as u64);
        Ok(WorkerOutput { outputs, extras: plan.extras, ..Default::default() })
    }

    /// Integrated loudness (LUFS) of a file's first audio stream.
    pub(crate) async fn loudness(&self, path: &Path) -> Result<f64, JobError> {
        let stderr = process::run_capture(&self.cfg.ffmpeg, &ops::music::loudness_args(path), self.cfg.ffmpeg_timeout)
            .await
            .map_err(JobError::Ffmpeg)?;
        ops::music::parse_integrated(&stderr).ok_or_else(|| JobError::Internal("ebur128 printed no integrated loudness".into()))
    }

    /// Music gain for a voice and a music track, with the analysis for the result.
    pub(crate) async fn music_gain(
        &self,
        voice: Option<&Path>,
        music: &Path,
        reduction_db: f64,
    ) -> Result<(f64, serde_json::Value), JobError> {
        // Both measured at once.
        let voice = async {
            match voice {
                Some(v) => self.loudness(v).await.map(Some),
                None => Ok(None),
            }
        };
        let (voice_lufs, music_lufs) = tokio::try_join!(voice, self.loudness(music))?;
        let gain = ops::music::music_gain(voice_lufs, music_lufs, reduction_db);
        Ok((
            gain,
            json!({"voice_lufs": voice_lufs, "music_lufs": music_lufs, "music_gain_db": (gain * 100.0).round() / 100.0, "method": "ebur128"}),
        ))
    }

    /// Joins `clips`, cycled until the narration ends, under the narration: stream copy
    /// when the clips share parameters, else normalised when allowed.
    fn join_under(
        &self,
        clips: &[(PathBuf, Probe)],
        names: &[String],
        narration: &ops::concat::Narration<'_>,
        normalize: bool,
        out: &Path,
    ) -> Result<Plan, JobError> {
        let secs: Vec<f64> =
            clips.iter().zip(names).map(|((_, p), n)| duration(n, p, self.cfg.max_media_secs)).collect::<Result<_, _>>()?;
        let total: f64 = secs.iter().sum();
        let repeats = ((narration.secs / total).ceil() as usize).max(1);
        check_pieces("audio", (repeats as u64).saturating_mul(clips.len() as u64), narration.secs)?;
        let probes: Vec<&Probe> = clips.iter().map(|(_, p)| p).collect();
        let copy = ops::concat::can_copy(&probes);
        let mut extras = serde_json::Map::new();
        extras.insert("copied".into(), json!(copy));
        extras.insert("clips_duration".into(), json!(total));
        extras.insert("loops_applied".into(), json!(repeats));
        if copy {
            let cut = crate::cut::CopyCut {
                clips: clips.iter().zip(names).map(|((path, _), n)| (n.clone(), path.clone())).collect(),
                audio: narration.path.to_path_buf(),
                audio_secs: narration.secs,
                shortest: false,
            };
            return Ok(Plan { args: vec![], video_encoder: "copy", frames: 0, extras, cut: Some(cut), steps: vec![] });
        }
        if !normalize {
            return Err(JobError::BadInput {
                name: "video_urls".into(),
                code: "clips-differ",
                message: "the clips differ in codec, size or frame rate and normalize is false".into(),
            });
        }
        // Each clip normalised once (a batch of them per ffmpeg) into parts without audio,
        // which share their parameters: the parts are then cut to the narration as copied
        // clips are, cycled, instead of one filtergraph input per repeat.
        let (_, first) = nth(clips, 0)?;
        let target = self.normal_target(first)?;
        let normal: Vec<ops::concat::Clip<'_>> =
            clips.iter().zip(&secs).map(|((path, _), s)| ops::concat::Clip { path, secs: *s, has_audio: false }).collect();
        let steps = self.normalise_steps(&normal, target, false, out);
        let cut = crate::cut::CopyCut {
            clips: steps.iter().enumerate().map(|(k, s)| (format!("normalised clips (part {})", k + 1), s.out.clone())).collect(),
            audio: narration.path.to_path_buf(),
            audio_secs: narration.secs,
            shortest: false,
        };
        Ok(Plan {
            args: vec![],
            video_encoder: self.encoder.name(),
            frames: (narration.secs * f64::from(target.fps)).round() as u64,
            extras,
            cut: Some(cut),
            steps,
        })
    }

    /// What a normalising join makes of its clips: the first clip's size (even: 4:2:0)
    /// and frame rate, with the job's encoder.
    fn normal_target(&self, first: &Probe) -> Result<ops::concat::Target, JobError> {
        let v = first.video().ok_or_else(|| JobError::Internal("probed video vanished".into()))?;
        let size = (v.width.unwrap_or(1920) & !1, v.height.unwrap_or(1080) & !1);
        Ok(ops::concat::Target { size, fps: fps(first), encoder: self.encoder })
    }

    /// The runs normalising `clips` in batches of [`ops::concat::NORMALIZE_BATCH`] into
    /// parts beside `out`.
    fn normalise_steps(&self, clips: &[ops::concat::Clip<'_>], target: ops::concat::Target, audio: bool, out: &Path) -> Vec<Step> {
        let dir = out.parent().unwrap_or(Path::new("."));
        let batch = ops::concat::NORMALIZE_BATCH;
        ops::concat::parts(clips, target, audio, dir, batch)
            .into_iter()
            .zip(clips.chunks(batch))
            .map(|((args, out), chunk)| {
                let frames = (chunk.iter().map(|c| c.secs).sum::<f64>() * f64::from(target.fps)).round() as u64;
                Step { args, out, frames }
            })
            .collect()
    }

    /// Downloads a caption file and writes the ASS to burn on `video`'s frames (see
    /// [`captions_to_ass`]).
    async fn captions_ass(
        &self,
        job: &WorkerJob,
        name: &str,
        caption: Option<&CaptionTask>,
        video: &Probe,
        dir: &Path,
        cancel: &CancellationToken,
    ) -> Result<PathBuf, JobError> {
        let raw = dir.join(format!("{name}.txt"));
        self.fetch_input(job, name, &raw, cancel).await?;
        let text = read_captions(name, &raw)?;
        let v = video.video().ok_or_else(|| JobError::BadInput {
            name: "video".into(),
            code: "input-missing-stream",
            message: "has no video stream".into(),
        })?;
        let size = (v.width.unwrap_or(1920), v.height.unwrap_or(1080));
        let ass = captions_to_ass(name, &text, caption, size).await?;
        let path = dir.join(format!("{name}.ass"));
        std::fs::write(&path, ass).map_err(|e| JobError::Internal(format!("writing ASS: {e}")))?;
        Ok(path)
    }

    async fn plan(
        &self,
        task: &Task,
        names: &[String],
        inputs: &[(PathBuf, Probe)],
        subs: Option<&Path>,
        dir: &Path,
        out: &Path,
    ) -> Result<Plan, JobError> {
        let enc = self.encoder;
        let mut extras = serde_json::Map::new();
        let plan = match task {
            Task::Img2vid(_)
            | Task::Stage
            | Task::Render(_)
            | Task::Transcribe(_)
            | Task::SegmentAudio(_)
            | Task::TranscribeYoutube(_)
            | Task::ImagePrompts(_)
            | Task::ImageGenerate(_) => {
                return Err(JobError::Internal("not an ffmpeg single-output task".into()));
            }
            Task::AddAudio(t) => {
                let ((vpath, vprobe), (apath, aprobe)) = (nth(inputs, 0)?, nth(inputs, 1)?);
                need_video("video", vprobe)?;
                need_audio("audio", aprobe)?;
                let (video_secs, audio_secs, rate) = (
                    duration("video", vprobe, self.cfg.max_media_secs)?,
                    audio_duration("audio", aprobe, self.cfg.max_media_secs)?,
                    fps(vprobe),
                );
                let loops = if t.sync == SyncMode::LoopVideo { (audio_secs / video_secs).ceil() as u64 } else { 1 };
                extras.insert("sync".into(), json!(t.sync));
                extras.insert("loops_applied".into(), json!(loops));
                let secs = if t.sync == SyncMode::Shortest { video_secs.min(audio_secs) } else { audio_secs };
                let frames = (secs * f64::from(rate)).round() as u64;
                if t.sync == SyncMode::StretchVideo {
                    let job = ops::addaudio::Stretch { video: vpath, audio: apath, out, video_secs, audio_secs, fps: rate };
                    Plan { args: job.args(enc), video_encoder: enc.name(), frames, extras, cut: None, steps: vec![] }
                } else {
                    let cut = crate::cut::CopyCut {
                        clips: vec![("video".into(), vpath.clone())],
                        audio: apath.clone(),
                        audio_secs,
                        shortest: t.sync == SyncMode::Shortest,
                    };
                    Plan { args: vec![], video_encoder: "copy", frames, extras, cut: Some(cut), steps: vec![] }
                }
            }
            Task::Concatenate(_) => {
                for ((_, p), name) in inputs.iter().zip(names) {
                    need_video(name, p)?;
                }
                let probes: Vec<&Probe> = inputs.iter().map(|(_, p)| p).collect();
                let secs: f64 =
                    inputs.iter().zip(names).map(|((_, p), n)| duration(n, p, self.cfg.max_media_secs)).sum::<Result<f64, _>>()?;
                let first = &nth(inputs, 0)?.1;
                let copy = ops::concat::can_copy(&probes);
                extras.insert("copied".into(), json!(copy));
                extras.insert("clips".into(), json!(inputs.len()));
                if copy {
                    let list = dir.join("concat.txt");
                    let text: String = inputs.iter().map(|(path, _)| ops::av::concat_list_line(path)).collect();
                    std::fs::write(&list, text).map_err(|e| JobError::Internal(format!("concat list: {e}")))?;
                    Plan { args: ops::concat::copy_args(&list, out), video_encoder: "copy", frames: 0, extras, cut: None, steps: vec![] }
                } else {
                    let target = self.normal_target(first)?;
                    let clips: Vec<ops::concat::Clip<'_>> = inputs
                        .iter()
                        .zip(names)
                        .map(|((path, p), n)| {
                            Ok(ops::concat::Clip { path, secs: duration(n, p, self.cfg.max_media_secs)?, has_audio: p.audio().is_some() })
                        })
                        .collect::<Result<_, JobError>>()?;
                    let frames = (secs * f64::from(target.fps)).round() as u64;
                    if clips.len() <= ops::concat::NORMALIZE_BATCH {
                        let args = ops::concat::normalize_args(&clips, target.size, target.fps, None, out, enc);
                        Plan { args, video_encoder: enc.name(), frames, extras, cut: None, steps: vec![] }
                    } else {
                        // Normalised batch by batch into parts, joined by copy.
                        let audio = clips.iter().any(|c| c.has_audio);
                        let steps = self.normalise_steps(&clips, target, audio, out);
                        let list = dir.join("parts.txt");
                        let text: String = steps.iter().map(|s| ops::av::concat_list_line(&s.out)).collect();
                        std::fs::write(&list, text).map_err(|e| JobError::Internal(format!("concat list: {e}")))?;
                        extras.insert("parts".into(), json!(steps.len()));
                        let args = ops::concat::join_parts_args(&list, audio, out);
                        Plan { args, video_encoder: enc.name(), frames, extras, cut: None, steps }
                    }
                }
            }
            Task::AudioConcatenate(t) => {
                for ((_, p), name) in inputs.iter().zip(names) {
                    need_audio(name, p)?;
                }
                let srcs: Vec<&Path> = inputs.iter().map(|(p, _)| p.as_path()).collect();
                Plan {
                    args: ops::audio::concat_args(&srcs, t.format, out),
                    video_encoder: "none",
                    frames: 0,
                    extras,
                    cut: None,
                    steps: vec![],
                }
            }
            Task::AudioTrim(t) => {
                let (path, probe) = nth(inputs, 0)?;
                need_audio("audio", probe)?;
                let len = duration("audio", probe, self.cfg.max_media_secs)?;
                if t.start_sec >= len {
                    return Err(JobError::BadInput {
                        name: "audio".into(),
                        code: "start-beyond-end",
                        message: format!("start_sec {} is past the audio's end ({len:.3} s)", t.start_sec),
                    });
                }
                extras.insert("source_duration".into(), json!(len));
                Plan {
                    args: ops::audio::trim_args(path, t.start_sec, t.duration_sec, t.format, out),
                    video_encoder: "none",
                    frames: 0,
                    extras,
                    cut: None,
                    steps: vec![],
                }
            }
            Task::Downsample(t) => {
                let (path, probe) = nth(inputs, 0)?;
                need_video("video", probe)?;
                let rate = fps(probe);
                let frames = (duration("video", probe, self.cfg.max_media_secs)? * f64::from(rate)).round() as u64;
                Plan {
                    args: ops::downsample::args(path, t.height, rate, out, enc),
                    video_encoder: enc.name(),
                    frames,
                    extras,
                    cut: None,
                    steps: vec![],
                }
            }
            Task::VideoMusic(t) => {
                let ((vpath, vprobe), (mpath, mprobe)) = (nth(inputs, 0)?, nth(inputs, 1)?);
                need_video("video", vprobe)?;
                need_audio("music", mprobe)?;
                let (vsecs, msecs) =
                    (duration("video", vprobe, self.cfg.max_media_secs)?, duration("music", mprobe, self.cfg.max_media_secs)?);
                let has_voice = vprobe.audio().is_some();
                let (gain, analysis) = self.music_gain(has_voice.then_some(vpath.as_path()), mpath, t.reduction_db).await?;
                extras.insert("video_duration".into(), json!(vsecs));
                extras.insert("trilha_duration".into(), json!(msecs));
                extras.insert("loops_applied".into(), json!((vsecs / msecs).ceil() as u64));
                extras.insert("volume_reduction_db".into(), json!(t.reduction_db));
                extras.insert("audio_analysis".into(), analysis);
                Plan {
                    args: ops::music::video_args(vpath, mpath, has_voice, gain, vsecs, out),
                    video_encoder: "copy",
                    frames: 0,
                    extras,
                    cut: None,
                    steps: vec![],
                }
            }
            Task::AudioMusic(t) => {
                let ((apath, aprobe), (mpath, mprobe)) = (nth(inputs, 0)?, nth(inputs, 1)?);
                need_audio("audio", aprobe)?;
                need_audio("music", mprobe)?;
                let (asecs, msecs) =
                    (duration("audio", aprobe, self.cfg.max_media_secs)?, duration("music", mprobe, self.cfg.max_media_secs)?);
                let (gain, analysis) = self.music_gain(Some(apath), mpath, t.reduction_db).await?;
                extras.insert("audio_duration".into(), json!(asecs));
                extras.insert("trilha_duration".into(), json!(msecs));
                extras.insert("loops_applied".into(), json!((asecs / msecs).ceil() as u64));
                extras.insert("db_offset".into(), json!(t.reduction_db));
                extras.insert("audio_analysis".into(), analysis);
                Plan {
                    args: ops::music::audio_args(apath, mpath, gain, asecs, t.format, out),
                    video_encoder: "none",
                    frames: 0,
                    extras,
                    cut: None,
                    steps: vec![],
                }
            }
            Task::Caption(_) => {
                let (vpath, vprobe) = nth(inputs, 0)?;
                let ass = subs.ok_or_else(|| JobError::Internal("captions missing".into()))?;
                let rate = fps(vprobe);
                let frames = (duration("video", vprobe, self.cfg.max_media_secs)? * f64::from(rate)).round() as u64;
                Plan {
                    args: ops::burn::caption_args(vpath, ass, rate, out, enc),
                    video_encoder: enc.name(),
                    frames,
                    extras,
                    cut: None,
                    steps: vec![],
                }
            }
            Task::Encode(t) => {
                let (vpath, vprobe) = nth(inputs, 0)?;
                need_video("video", vprobe)?;
                let audio = if t.audio {
                    let (apath, aprobe) = nth(inputs, 1)?;
                    need_audio("audio", aprobe)?;
                    Some(apath.as_path())
                } else {
                    None
                };
                // The new audio is cut to the video stream's own length: the file's can be
                // its old audio track's, longer than the (copied) video.
                let vsecs = vprobe.video().and_then(|v| v.duration.as_deref()?.parse().ok()).filter(|d: &f64| *d > 0.0);
                let vsecs = match vsecs {
                    Some(s) => checked_secs("video", Some(s), file_size(vprobe), self.cfg.max_media_secs)?,
                    None => duration("video", vprobe, self.cfg.max_media_secs)?,
                };
                let rate = fps(vprobe);
                let frames = if subs.is_some() { (vsecs * f64::from(rate)).round() as u64 } else { 0 };
                let video_encoder = if subs.is_some() { enc.name() } else { "copy" };
                Plan {
                    args: ops::burn::encode_args(vpath, audio, subs, vsecs, rate, out, enc),
                    video_encoder,
                    frames,
                    extras,
                    cut: None,
                    steps: vec![],
                }
            }
            Task::ConcatVideoAudio(t) => {
                let Some(((apath, aprobe), clips)) = inputs.split_last() else { return Err(JobError::InvalidTask("no inputs".into())) };
                for ((_, p), name) in clips.iter().zip(names) {
                    need_video(name, p)?;
                }
                need_audio("audio", aprobe)?;
                let asecs = audio_duration("audio", aprobe, self.cfg.max_media_secs)?;
                let narration = ops::concat::Narration { path: apath, secs: asecs };
                let mut plan = self.join_under(clips, names, &narration, t.normalize, out)?;
                plan.extras.insert("audio_duration".into(), json!(asecs));
                plan
            }
        };
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIX_HOURS: f64 = job_spec::limits::MAX_MEDIA_SECONDS;

    fn code(r: Result<f64, JobError>) -> &'static str {
        r.map_or_else(|e| e.code(), |_| "ok")
    }

    #[test]
    fn probed_durations_are_bounded() {
        assert_eq!(checked_secs("audio", Some(12.5), Some(200_000), SIX_HOURS).unwrap(), 12.5);
        assert_eq!(checked_secs("audio", Some(12.5), None, SIX_HOURS).unwrap(), 12.5);
        assert_eq!(code(checked_secs("audio", None, Some(1), SIX_HOURS)), "input-not-media");
        assert_eq!(code(checked_secs("audio", Some(0.0), Some(1), SIX_HOURS)), "input-not-media");
        for (secs, bytes) in [(f64::NAN, 1000), (f64::INFINITY, 1000), (0.01, 1000), (SIX_HOURS + 1.0, 1 << 30), (309_237_645.24, 909)] {
            let e = checked_secs("audio", Some(secs), Some(bytes), SIX_HOURS).unwrap_err();
            assert_eq!((e.code(), e.is_retryable()), ("input-duration-out-of-range", false), "{secs} s in {bytes} bytes: {e}");
            assert!(e.to_string().contains("`audio`"), "{e}");
        }
        // 5 h claimed by 909 bytes: under the bound, not believable.
        let e = checked_secs("audio", Some(18_000.0), Some(909), SIX_HOURS).unwrap_err();
        assert!(e.to_string().contains("not believable"), "{e}");
        // An 8 kbps MP3 (the format's floor) of 6 h is believed.
        assert!(checked_secs("audio", Some(SIX_HOURS), Some(21_600_000), SIX_HOURS).is_ok());
        // The bound is the setting's.
        assert_eq!(code(checked_secs("audio", Some(61.0), None, 60.0)), "input-duration-out-of-range");
    }

    #[test]
    fn repeats_are_capped() {
        assert!(check_pieces("audio", ops::cut::MAX_PIECES, 100.0).is_ok());
        let e = check_pieces("audio", ops::cut::MAX_PIECES + 1, 21_600.0).unwrap_err();
        assert_eq!((e.code(), e.is_retryable()), ("too-many-repeats", false));
    }

    #[test]
    fn a_missing_input_is_an_invalid_task_not_a_panic() {
        let one = [(PathBuf::from("/w/in_0"), Probe::default())];
        assert_eq!(nth(&one, 0).unwrap().0, PathBuf::from("/w/in_0"));
        let e = nth(&one, 1).unwrap_err();
        assert_eq!((e.code(), e.is_retryable()), ("invalid-task", false));
        assert!(nth(&[], 0).is_err());
    }
}
