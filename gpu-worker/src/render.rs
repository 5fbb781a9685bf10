//! `/video/render`: a whole video in one pass and one encode.
//!
//! Stages (each timed): `download` the inputs (unprobed: the images are decoded by the
//! renderer, which reports what it cannot read), `analyse` (ffprobe of the narration and
//! the music, their EBU R128 loudness for the music's gain, the captions turned into ASS
//! at the video's size), `render` (every scene's Ken Burns frames streamed into one
//! ffmpeg that draws the captions, encodes once and mixes the audio alongside; see
//! [`crate::ops::render`]), `upload`.
//!
//! The images are decoded one scene ahead: scene k+1's source is prepared while scene
//! k's frames stream, and no more than those two are held.
//!
//! The same render runs on local files ([`Executor::render_local`], the
//! `gpu-worker render-local` command).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use job_spec::kenburns::Easing;
use job_spec::worker::{OUTPUT, RenderTask};
use job_spec::{Progress, WorkerJob, WorkerOutput, ZoomType};
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use crate::error::JobError;
use crate::executor::{Executor, ProgressFn, elapsed_ms};
use crate::kenburns::{self, Source};
use crate::ops::av::{limit_output, output_within};
use crate::ops::{img2vid, render::Render};
use crate::process::{self, Feed, ProcessError};
use crate::single::{captions_to_ass, duration, need_audio, read_captions};

const PROBE_TIMEOUT: Duration = Duration::from_secs(60);

/// A render's inputs as local files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RenderFiles {
    /// The scenes' images, in the task's order.
    pub scenes: Vec<PathBuf>,
    pub narration: Option<PathBuf>,
    pub music: Option<PathBuf>,
    /// SRT or words JSON (text).
    pub captions: Option<PathBuf>,
}

impl RenderFiles {
    /// The files of `t`'s inputs from files by input name (`scene_1`…, `narration`,
    /// `music`, `captions`): each input the task reads must be given, and nothing else.
    pub fn from_named(t: &RenderTask, named: &BTreeMap<String, PathBuf>) -> Result<RenderFiles, String> {
        let wanted = t.input_names();
        if let Some(extra) = named.keys().find(|k| !wanted.contains(k)) {
            return Err(format!("input `{extra}` is not one the task reads ({})", wanted.join(", ")));
        }
        let get = |name: &str| named.get(name).cloned().ok_or_else(|| format!("input `{name}` is missing"));
        let optional = |present: bool, name: &str| if present { get(name).map(Some) } else { Ok(None) };
        Ok(RenderFiles {
            scenes: t.scenes.iter().map(|s| get(&s.input)).collect::<Result<_, _>>()?,
            narration: optional(t.narration, RenderTask::NARRATION)?,
            music: optional(t.music.is_some(), RenderTask::MUSIC)?,
            captions: optional(t.captions.is_some(), RenderTask::CAPTIONS)?,
        })
    }
}

impl Executor {
    /// The worker job: download → [`Executor::render_files`] → upload.
    pub(crate) async fn render(
        &self,
        job: &WorkerJob,
        t: &RenderTask,
        dir: &Path,
        progress: &ProgressFn,
        cancel: &CancellationToken,
        timings: &mut BTreeMap<String, u64>,
    ) -> Result<WorkerOutput, JobError> {
        t.check().map_err(JobError::InvalidTask)?;
        let clock = Instant::now();
        let names = t.input_names();
        let count = names.len() as u64;
        progress(Progress::new("download", 0, count));
        let downloads = names.into_iter().enumerate().map(|(i, name)| async move {
            let dest = dir.join(format!("in_{i}"));
            self.fetch_input(job, &name, &dest, cancel).await?;
            Ok::<_, JobError>((name, dest))
        });
        let fetched: BTreeMap<String, PathBuf> = {
            use futures_util::{StreamExt, TryStreamExt};
            futures_util::stream::iter(downloads).buffered(self.cfg.transfer_parallelism).try_collect().await?
        };
        progress(Progress::new("download", count, count));
        timings.insert("download".into(), elapsed_ms(clock));

        let files = RenderFiles::from_named(t, &fetched).map_err(JobError::Internal)?;
        let out = dir.join("output.mp4");
        let extras = self.render_files(t, &files, dir, &out, progress, cancel, timings).await?;

        let clock = Instant::now();
        progress(Progress::new("upload", 0, 1));
        let outputs = self.upload_outputs(job, vec![(OUTPUT.to_owned(), out)], Some(self.encoder.name()), cancel).await?;
        progress(Progress::new("upload", 1, 1));
        timings.insert("upload".into(), elapsed_ms(clock));
        Ok(WorkerOutput { outputs, extras, ..Default::default() })
    }

    /// The render on local files (`gpu-worker render-local`): inputs by name (see
    /// [`RenderFiles::from_named`]), the MP4 written to `out`, scratch files in a work dir
    /// under the configured root (removed). Returns the result's extras and the stages'
    /// timings (`analyse`, `render`, `total`).
    pub async fn render_local(
        &self,
        t: &RenderTask,
        named: &BTreeMap<String, PathBuf>,
        out: &Path,
        progress: &ProgressFn,
        cancel: &CancellationToken,
    ) -> Result<(Map<String, Value>, BTreeMap<String, u64>), JobError> {
        let started = Instant::now();
        t.check().map_err(JobError::InvalidTask)?;
        let mut files = RenderFiles::from_named(t, named).map_err(JobError::InvalidTask)?;
        let dir = tempfile::Builder::new()
            .prefix("render-local-")
            .tempdir_in(&self.cfg.work_root)
            .map_err(|e| JobError::Internal(format!("work dir: {e}")))?;
        // The images are read through links in the work dir: an image the `image` crate
        // cannot read is decoded by ffmpeg next to its path, i.e. there, not beside the
        // caller's file.
        for (i, scene) in files.scenes.iter_mut().enumerate() {
            let target = std::fs::canonicalize(&*scene)
                .map_err(|e| JobError::InvalidTask(format!("input `{}` ({}): {e}", t.scenes[i].input, scene.display())))?;
            let link = dir.path().join(format!("scene_{i}"));
            std::os::unix::fs::symlink(&target, &link).map_err(|e| JobError::Internal(format!("linking {}: {e}", target.display())))?;
            *scene = link;
        }
        let mut timings = BTreeMap::new();
        let extras = self.render_files(t, &files, dir.path(), out, progress, cancel, &mut timings).await?;
        timings.insert("total".into(), elapsed_ms(started));
        Ok((extras, timings))
    }

    /// Analyses the inputs and renders the MP4 `out` (stages `analyse` and `render`);
    /// `dir` takes scratch files. Returns the result's extras.
    #[allow(clippy::too_many_arguments)]
    pub async fn render_files(
        &self,
        t: &RenderTask,
        files: &RenderFiles,
        dir: &Path,
        out: &Path,
        progress: &ProgressFn,
        cancel: &CancellationToken,
        timings: &mut BTreeMap<String, u64>,
    ) -> Result<Map<String, Value>, JobError> {
        // ---- analyse: probes, then the loudness and the captions at once.
        let clock = Instant::now();
        progress(Progress::new("analyse", 0, 1));
        let (narration_secs, music_secs) = tokio::try_join!(
            self.audio_secs(RenderTask::NARRATION, files.narration.as_deref()),
            self.audio_secs(RenderTask::MUSIC, files.music.as_deref()),
        )?;
        // The narration's length sets a fitted render's frames: the budget is checked on
        // them before anything costly (the loudness passes decode whole files).
        let frames = t.scene_frames(narration_secs);
        crate::ops::render::check_budget(frames.iter().copied(), (t.width, t.height))?;
        let gain = async {
            match (&t.music, files.music.as_deref()) {
                (Some(m), Some(music)) => match files.narration.as_deref() {
                    Some(voice) => self.music_gain(Some(voice), music, m.reduction_db).await.map(Some),
                    // No narration: the music at its own level.
                    None => Ok(Some((0.0, json!({"voice_lufs": null, "music_lufs": null, "music_gain_db": 0.0, "method": "none"})))),
                },
                _ => Ok(None),
            }
        };
        let ass = async {
            let (Some(c), Some(path)) = (&t.captions, files.captions.as_deref()) else { return Ok(None) };
            let text = read_captions(RenderTask::CAPTIONS, path)?;
            let ass = captions_to_ass(RenderTask::CAPTIONS, &text, Some(c), (t.width, t.height)).await?;
            let file = dir.join("captions.ass");
            std::fs::write(&file, ass).map_err(|e| JobError::Internal(format!("writing ASS: {e}")))?;
            Ok::<_, JobError>(Some(file))
        };
        let (gain, ass) = tokio::try_join!(gain, ass)?;
        progress(Progress::new("analyse", 1, 1));
        timings.insert("analyse".into(), elapsed_ms(clock));

        // ---- render: frames → one ffmpeg (captions, encode, audio).
        let clock = Instant::now();
        let total: u64 = frames.iter().map(|&f| u64::from(f)).sum();
        let size = (t.width, t.height);
        let run = Render {
            size,
            fps: t.frame_rate,
            frames: total,
            captions: ass.as_deref(),
            narration: files.narration.as_deref(),
            music: files.music.as_deref().zip(gain.as_ref().map(|(g, _)| *g)),
        };
        let limit = self.cfg.max_output_bytes;
        let args = limit_output(&run.args(out, self.encoder), limit);
        progress(Progress::new("render", 0, total));

        // Sources one scene ahead: the producer reserves the channel's one slot before
        // decoding, so it decodes scene k+1 only once the feed has taken scene k.
        let (tx, rx) = tokio::sync::mpsc::channel::<Source>(1);
        let producer = async {
            let tx = tx;
            for (scene, path) in t.scenes.iter().zip(&files.scenes) {
                // A closed channel: the feed stopped (ffmpeg failed); its error is reported.
                let Ok(slot) = tx.reserve().await else { return Ok(()) };
                slot.send(img2vid::load(&self.cfg.ffmpeg, &scene.input, path, size, scene.zoom, self.cfg.ffmpeg_timeout, cancel).await?);
            }
            Ok::<_, JobError>(())
        };
        let motions: Vec<(ZoomType, u32, Easing)> = t.scenes.iter().zip(&frames).map(|(s, &f)| (s.zoom, f, s.easing.into())).collect();
        let feed: Feed = Box::new(move |mut stdin| {
            let mut rx = rx;
            for (zoom, frames, easing) in motions {
                let source = rx.blocking_recv().ok_or_else(|| std::io::Error::other("a scene's image could not be prepared"))?;
                kenburns::write_clip(&source, size, zoom, frames, easing, &mut stdin)?;
            }
            Ok(())
        });
        let p = progress.clone();
        let on_frame = move |f: u32| p(Progress::new("render", u64::from(f).min(total), total));
        let encode = process::run_ffmpeg_fed(&self.cfg.ffmpeg, &args, self.cfg.ffmpeg_timeout, cancel, on_frame, feed);
        let (produced, encoded) = tokio::join!(producer, encode);
        // A scene that could not be decoded stopped the feed: its error is the cause.
        produced?;
        // `-fs` stops the file at the limit and ffmpeg exits 0 with frames left unread,
        // which the run reports as a feed error: a file at the limit is the cause.
        if !output_within(out, limit) {
            return Err(JobError::OutputTooLarge { limit });
        }
        encoded.map_err(|e| if e == ProcessError::Cancelled { JobError::Cancelled } else { JobError::Ffmpeg(e) })?;
        progress(Progress::new("render", total, total));
        timings.insert("render".into(), elapsed_ms(clock));

        let mut extras = Map::new();
        let mut start = 0u64;
        let scenes: Vec<Value> = t
            .scenes
            .iter()
            .zip(&frames)
            .map(|(s, &f)| {
                let fps = f64::from(t.frame_rate);
                let v = json!({"id": s.id, "frames": f, "start": start as f64 / fps, "duration": f64::from(f) / fps,
                    "zoom": s.zoom, "easing": s.easing});
                start += u64::from(f);
                v
            })
            .collect();
        extras.insert("scenes".into(), json!(scenes));
        extras.insert("frames".into(), json!(total));
        extras.insert("frame_rate".into(), json!(t.frame_rate));
        extras.insert("fitted_to_narration".into(), json!(t.fit_to_narration && narration_secs.is_some()));
        if let Some(secs) = narration_secs {
            extras.insert("narration_duration".into(), json!(secs));
        }
        if let (Some(m), Some((gain, analysis)), Some(secs)) = (&t.music, gain, music_secs) {
            extras.insert("music_gain_db".into(), json!((gain * 100.0).round() / 100.0));
            extras.insert("volume_reduction_db".into(), json!(m.reduction_db));
            extras.insert("trilha_duration".into(), json!(secs));
            extras.insert("loops_applied".into(), json!((run.seconds() / secs).ceil() as u64));
            extras.insert("audio_analysis".into(), analysis);
        }
        Ok(extras)
    }

    /// Probes an audio input, when given: its duration, or `input-not-media` /
    /// `input-missing-stream`.
    async fn audio_secs(&self, name: &str, path: Option<&Path>) -> Result<Option<f64>, JobError> {
        let Some(path) = path else { return Ok(None) };
        let p = match process::probe(&self.cfg.ffprobe, path, PROBE_TIMEOUT).await {
            Ok(p) => p,
            Err(ProcessError::Exited { stderr_tail, .. }) => return Err(JobError::InputNotMedia { name: name.into(), stderr_tail }),
            Err(e) => return Err(JobError::Ffmpeg(e)),
        };
        need_audio(name, &p)?;
        duration(name, &p, self.cfg.max_media_secs).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use job_spec::values::EasingType;
    use job_spec::worker::{CaptionMode, CaptionTask, MusicTask, RenderScene};

    fn task() -> RenderTask {
        let scene = |n: u32| RenderScene {
            id: n.to_string(),
            input: format!("scene_{n}"),
            frames: 24,
            seconds: 1.0,
            zoom: ZoomType::Zoomin,
            easing: EasingType::Linear,
        };
        RenderTask {
            width: 640,
            height: 360,
            frame_rate: 24,
            scenes: vec![scene(1), scene(2)],
            narration: true,
            fit_to_narration: true,
            music: Some(MusicTask { reduction_db: 20.0 }),
            captions: Some(CaptionTask { mode: CaptionMode::Segments { style: Default::default() }, uppercase: false }),
        }
    }

    #[test]
    fn local_files_by_input_name() {
        let t = task();
        let mut named: BTreeMap<String, PathBuf> = ["scene_2", "scene_1", "narration", "music", "captions"]
            .iter()
            .map(|n| ((*n).to_owned(), PathBuf::from(format!("/f/{n}"))))
            .collect();
        let f = RenderFiles::from_named(&t, &named).unwrap();
        assert_eq!(f.scenes, [PathBuf::from("/f/scene_1"), PathBuf::from("/f/scene_2")]);
        assert_eq!((f.narration, f.music, f.captions), (Some("/f/narration".into()), Some("/f/music".into()), Some("/f/captions".into())));
        named.remove("music");
        assert_eq!(RenderFiles::from_named(&t, &named).unwrap_err(), "input `music` is missing");
        named.insert("musik".into(), "/f/m".into());
        assert!(RenderFiles::from_named(&t, &named).unwrap_err().starts_with("input `musik` is not one the task reads"));
    }
}
