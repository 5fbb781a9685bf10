//! Ours: the Ken Burns renderer of gpu-worker, run as a child process like the seed's
//! ffmpeg (so CPU and RSS are accounted alike), and `gpu-worker render-local` for the
//! faceless video.
//!
//! `bench __render IMAGE WxH FPS FRAMES null|raw FILE|mp4 FILE` decodes the image once
//! ([`gpu_worker::kenburns::decode`], [`Source::new`]), renders a zoomin clip
//! ([`gpu_worker::kenburns::write_clip`], img2vid's easing) and writes the yuv420p frames
//! to `/dev/null`, to a raw file, or into ffmpeg's stdin with img2vid's exact encoder
//! argv ([`clip_args`], libx264).

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};
use gpu_worker::encoder::Encoder;
use gpu_worker::kenburns::{self, Source};
use gpu_worker::ops::img2vid::{DEFAULT_EASING, clip_args};
use job_spec::ZoomType;
use job_spec::values::EasingType;
use job_spec::worker::{CaptionMode, CaptionTask, MusicTask, RenderScene, RenderTask};

pub const SUBCOMMAND: &str = "__render";

/// Where the rendered frames go.
#[derive(Debug, Clone, PartialEq)]
pub enum Sink {
    /// `/dev/null`: the render stage alone.
    Null,
    /// A raw yuv420p file.
    Raw(PathBuf),
    /// An MP4, through ffmpeg's stdin (img2vid's encode).
    Mp4(PathBuf),
}

/// The argv (this binary first) rendering a clip of `img`.
pub fn render_argv(exe: &Path, img: &Path, (w, h): (u32, u32), fps: u32, frames: u32, sink: &Sink) -> Vec<String> {
    let mut a = vec![exe.display().to_string(), SUBCOMMAND.into(), img.display().to_string(), format!("{w}x{h}")];
    a.extend([fps.to_string(), frames.to_string()]);
    match sink {
        Sink::Null => a.push("null".into()),
        Sink::Raw(f) => a.extend(["raw".into(), f.display().to_string()]),
        Sink::Mp4(f) => a.extend(["mp4".into(), f.display().to_string()]),
    }
    a
}

/// The hidden subcommand.
pub fn command(args: &[String]) -> anyhow::Result<()> {
    let usage = || format!("usage: bench {SUBCOMMAND} IMAGE WxH FPS FRAMES null|raw FILE|mp4 FILE");
    let (img, size, fps, frames, sink) = match args {
        [img, size, fps, frames, rest @ ..] => {
            let (w, h) = size.split_once('x').with_context(usage)?;
            let sink = match rest {
                [k] if k == "null" => Sink::Null,
                [k, f] if k == "raw" => Sink::Raw(f.into()),
                [k, f] if k == "mp4" => Sink::Mp4(f.into()),
                _ => bail!(usage()),
            };
            (PathBuf::from(img), (w.parse::<u32>()?, h.parse::<u32>()?), fps.parse::<u32>()?, frames.parse::<u32>()?, sink)
        }
        _ => bail!(usage()),
    };
    // As img2vid prepares a clip: decode, build the working image, drop the RGB.
    let source = {
        let rgb = kenburns::decode(&img).with_context(|| format!("decoding {}", img.display()))?;
        Source::new(&rgb, size, ZoomType::Zoomin).map_err(anyhow::Error::msg)?
    };
    let clip = |mut out: &mut dyn Write| kenburns::write_clip(&source, size, ZoomType::Zoomin, frames, DEFAULT_EASING, &mut out);
    match sink {
        Sink::Null => clip(&mut std::fs::File::create("/dev/null")?)?,
        Sink::Raw(f) => clip(&mut BufWriter::with_capacity(1 << 20, std::fs::File::create(f)?))?,
        Sink::Mp4(f) => {
            let mut child = Command::new("ffmpeg")
                .args(clip_args(&f, size, fps, Encoder::Libx264, None))
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .spawn()
                .context("starting ffmpeg")?;
            let mut stdin = child.stdin.take().context("ffmpeg's stdin")?;
            let written = clip(&mut stdin);
            drop(stdin);
            let status = child.wait()?;
            written?;
            anyhow::ensure!(status.success(), "ffmpeg: {status}");
        }
    }
    Ok(())
}

/// The faceless video as one `/video/render` task: every scene a linear zoomin of
/// `frames`, the narration, the music `reduction_db` under it, highlight karaoke captions
/// in the default style.
pub fn render_task((width, height): (u32, u32), fps: u32, scenes: usize, frames: u32, reduction_db: f64) -> RenderTask {
    RenderTask {
        width,
        height,
        frame_rate: fps,
        scenes: (1..=scenes)
            .map(|i| RenderScene {
                id: i.to_string(),
                input: format!("scene_{i}"),
                frames,
                seconds: f64::from(frames) / f64::from(fps),
                zoom: ZoomType::Zoomin,
                easing: EasingType::Linear,
            })
            .collect(),
        narration: true,
        fit_to_narration: false,
        music: Some(MusicTask { reduction_db }),
        captions: Some(CaptionTask { mode: CaptionMode::Highlight { style: Default::default() }, uppercase: false }),
    }
}

/// `gpu-worker render-local --task TASK --input NAME=PATH … --output OUT`, with libx264,
/// no CUDA decode and the worker's scratch files under `work`.
pub fn render_local_argv(worker: &Path, task: &Path, inputs: &[(String, PathBuf)], work: &Path, out: &Path) -> Vec<String> {
    let mut a: Vec<String> = ["env", "ENCODER=libx264", "HWACCEL=off"].map(str::to_owned).to_vec();
    a.push(format!("WORK_DIR={}", work.display()));
    a.extend([worker.display().to_string(), "render-local".into(), "--task".into(), task.display().to_string()]);
    for (name, path) in inputs {
        a.extend(["--input".into(), format!("{name}={}", path.display())]);
    }
    a.extend(["--output".into(), out.display().to_string()]);
    a
}

/// True when `worker` has the `render-local` subcommand.
pub fn has_render_local(worker: &Path) -> bool {
    Command::new(worker).args(["render-local", "--help"]).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_task_wire_shape() {
        let v = serde_json::to_value(render_task((1920, 1080), 24, 2, 120, 20.0)).unwrap();
        assert_eq!(
            v["scenes"][1],
            serde_json::json!({"id": "2", "input": "scene_2", "frames": 120, "seconds": 5.0, "zoom": "zoomin", "easing": "linear"})
        );
        assert_eq!((v["narration"].as_bool(), v["fit_to_narration"].as_bool()), (Some(true), Some(false)));
        assert_eq!(v["captions"]["mode"]["type"], "highlight");
        assert_eq!(v["music"]["reduction_db"], 20.0);
    }

    #[test]
    fn argv_shapes() {
        let a = render_argv(Path::new("/b/bench"), Path::new("/i/g.jpg"), (1920, 1080), 24, 156, &Sink::Mp4("/o/c.mp4".into()));
        assert_eq!(a.join(" "), "/b/bench __render /i/g.jpg 1920x1080 24 156 mp4 /o/c.mp4");
        let r = render_local_argv(
            Path::new("/t/gpu-worker"),
            Path::new("/w/task.json"),
            &[("scene_1".into(), "/i/1.jpg".into())],
            Path::new("/w/tmp"),
            Path::new("/w/o.mp4"),
        );
        assert_eq!(
            r.join(" "),
            "env ENCODER=libx264 HWACCEL=off WORK_DIR=/w/tmp /t/gpu-worker render-local --task /w/task.json --input scene_1=/i/1.jpg --output /w/o.mp4"
        );
    }
}
