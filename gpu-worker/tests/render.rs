//! Real-ffmpeg tests of `render` (`/video/render`'s worker side) through
//! `Executor::execute`, and of `gpu-worker render-local` on the same kind of files:
//! images, narration and music made with lavfi, served by an in-process storage server,
//! the output checked with ffprobe, its pixels and its audio levels.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use common::{Env, duration, env, ffmpeg_make, ffprobe_bytes, frames, stream, streams};
use job_spec::values::EasingType;
use job_spec::worker::{CaptionMode, CaptionTask, InputUrl, MusicTask, OUTPUT, OutputTarget, RenderScene, RenderTask};
use job_spec::{Progress, Task, WorkerError, WorkerJob, WorkerOutput, ZoomType};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// One test at a time: two cores.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

impl Env {
    /// Runs the render with `inputs` (input name → stored key); returns the output (or
    /// error) and the progress reported.
    async fn run(&self, inputs: &[(&str, &str)], task: RenderTask) -> (Result<WorkerOutput, WorkerError>, Vec<Progress>) {
        let job = WorkerJob {
            progress_url: None,
            job_id: "render-test".into(),
            attempt: 1,
            inputs: inputs.iter().map(|(n, k)| InputUrl { name: (*n).into(), url: self.storage.url(k) }).collect(),
            outputs: vec![OutputTarget {
                name: OUTPUT.into(),
                key: "out".into(),
                put_url: self.storage.url("out"),
                content_type: "video/mp4".into(),
            }],
            task: Task::Render(task),
        };
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let clock = Instant::now();
        let r = self
            .exec
            .execute(&job, Arc::new(move |p| log.lock().unwrap().push(p)), &CancellationToken::new())
            .await
            .map_err(|e| e.to_worker_error());
        if let Ok(out) = &r {
            eprintln!("render: {:.2} s wall, timings_ms {:?}", clock.elapsed().as_secs_f64(), out.timings_ms);
        }
        let leftovers = std::fs::read_dir(self.dir.path().join("work")).unwrap().count();
        assert_eq!(leftovers, 0, "the job's work dir is removed");
        let seen = seen.lock().unwrap().clone();
        (r, seen)
    }

    /// The uploaded output, written to a file.
    fn output_file(&self) -> std::path::PathBuf {
        let path = self.dir.path().join("out.mp4");
        std::fs::write(&path, self.storage.get("out").expect("output uploaded")).unwrap();
        path
    }

    fn output(&self) -> Value {
        ffprobe_bytes(self.dir.path(), "out.probe", &self.storage.get("out").expect("output uploaded"))
    }
}

fn scene(n: u32, frames: u32, zoom: ZoomType, easing: EasingType) -> RenderScene {
    RenderScene { id: format!("s{n}"), input: format!("scene_{n}"), frames, seconds: f64::from(frames) / 24.0, zoom, easing }
}

/// 3 scenes of `frames` at 24 fps, `size`, no audio, no captions.
fn task(size: (u32, u32), frames: [u32; 3]) -> RenderTask {
    RenderTask {
        width: size.0,
        height: size.1,
        frame_rate: 24,
        scenes: vec![
            scene(1, frames[0], ZoomType::Zoomin, EasingType::Linear),
            scene(2, frames[1], ZoomType::Zoomout, EasingType::EaseInOut),
            scene(3, frames[2], ZoomType::Zoompanright, EasingType::Linear),
        ],
        narration: false,
        fit_to_narration: false,
        music: None,
        captions: None,
    }
}

/// Three dark, flat images of different sizes and aspects (caption colours stand out).
fn make_scenes(e: &Env) {
    e.make("a.jpg", &["-f", "lavfi", "-i", "color=c=0x2040a0:s=800x600", "-frames:v", "1"]);
    e.make("b.png", &["-f", "lavfi", "-i", "color=c=0x206030:s=1280x720", "-frames:v", "1"]);
    e.make("c.jpg", &["-f", "lavfi", "-i", "color=c=0x602020:s=500x900", "-frames:v", "1"]);
}

const SCENES: [(&str, &str); 3] = [("scene_1", "a.jpg"), ("scene_2", "b.png"), ("scene_3", "c.jpg")];

fn num(v: &Value) -> f64 {
    v.as_f64().or_else(|| v.as_str()?.parse().ok()).unwrap_or_else(|| panic!("not a number: {v}"))
}

/// One RGB frame of `path` at `t` seconds (`w`×`h`).
fn frame_rgb(path: &Path, t: f64, (w, h): (usize, usize)) -> Vec<u8> {
    let out = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-ss", &t.to_string(), "-i"])
        .arg(path)
        .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .unwrap();
    assert_eq!(out.stdout.len(), w * h * 3, "one {w}x{h} frame");
    out.stdout
}

/// Pixels of a 640-wide RGB frame in rows `y0..y1` matching `pred(r, g, b)`.
fn count(rgb: &[u8], y0: usize, y1: usize, pred: impl Fn(u8, u8, u8) -> bool) -> usize {
    rgb[y0 * 640 * 3..y1 * 640 * 3].chunks(3).filter(|p| pred(p[0], p[1], p[2])).count()
}

fn whiteish(r: u8, g: u8, b: u8) -> bool {
    r > 200 && g > 200 && b > 200
}

fn yellowish(r: u8, g: u8, b: u8) -> bool {
    r > 190 && g > 190 && b < 90
}

/// The loudest sample (dBFS) of the first audio stream within `[from, from + len)` s.
fn max_volume(path: &Path, from: f64, len: f64) -> f64 {
    let out = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-nostats", "-nostdin", "-i"])
        .arg(path)
        .args(["-map", "0:a:0", "-af", &format!("atrim=start={from}:duration={len},volumedetect"), "-f", "null", "-"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "volumedetect: {stderr}");
    stderr
        .lines()
        .find_map(|l| l.split("max_volume:").nth(1)?.trim().strip_suffix("dB")?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no max_volume: {stderr}"))
}

#[tokio::test]
async fn renders_scenes_captions_narration_and_music_in_one_pass() {
    let _g = SERIAL.lock().await;
    let e = env().await;
    make_scenes(&e);
    // 2.5 s of narration: a 440 Hz tone for 1 s, then silence (where the music alone plays).
    e.make("narration.wav", &["-f", "lavfi", "-i", "sine=f=440:d=1:sample_rate=48000,apad=whole_dur=2.5", "-ac", "1"]);
    e.make("music.mp3", &["-f", "lavfi", "-i", "sine=f=880:d=0.8", "-ac", "2", "-c:a", "libmp3lame"]);
    e.storage.put(
        "words.json",
        br#"{"words":[{"word":"um","start":0.2,"end":0.9},{"word":"dois","start":1.0,"end":1.9},{"word":"tr\u00eas","start":2.0,"end":2.4}]}"#.to_vec(),
    );
    let style: job_spec::ops::StyleOptions = serde_json::from_value(
        json!({"texto_cor": "#FFFFFF", "highlight_texto_cor": "#FFFF00", "position": "top_center", "words_per_line": 3}),
    )
    .unwrap();
    // Planned 1 s + 0.5 s + 1.25 s; fitted to the 2.5 s narration: 60 frames, 22/11/27.
    let t = RenderTask {
        narration: true,
        fit_to_narration: true,
        music: Some(MusicTask { reduction_db: 20.0 }),
        captions: Some(CaptionTask { mode: CaptionMode::Highlight { style }, uppercase: true }),
        ..task((640, 360), [24, 12, 30])
    };
    assert_eq!(t.scene_frames(Some(2.5)), [22, 11, 27]);
    let inputs = [&SCENES[..], &[("narration", "narration.wav"), ("music", "music.mp3"), ("captions", "words.json")]].concat();
    let (out, progress) = e.run(&inputs, t).await;
    let out = out.unwrap();

    // The result: one MP4, its facts, the stages' timings.
    let meta = &out.outputs[0];
    assert_eq!((meta.encoder.as_deref(), meta.frames, meta.width, meta.height), (Some("libx264"), Some(60), Some(640), Some(360)));
    let x = &out.extras;
    assert_eq!(x["frames"], 60);
    assert_eq!(x["scenes"].as_array().unwrap().iter().map(|s| s["frames"].as_u64().unwrap()).collect::<Vec<_>>(), [22, 11, 27]);
    assert_eq!((x["scenes"][1]["id"].as_str(), num(&x["scenes"][1]["start"])), (Some("s2"), 22.0 / 24.0));
    assert_eq!(x["fitted_to_narration"], true);
    assert!((num(&x["narration_duration"]) - 2.5).abs() < 0.01, "{x:?}");
    assert!(x["music_gain_db"].is_number() && x["audio_analysis"]["voice_lufs"].is_number(), "{x:?}");
    for stage in ["download", "analyse", "render", "upload", "total"] {
        assert!(out.timings_ms.contains_key(stage), "timing `{stage}`: {:?}", out.timings_ms);
    }
    // Progress: the stages in order, and every frame rendered.
    let stages: Vec<&str> = progress.iter().map(|p| p.stage.as_str()).fold(vec![], |mut v, s| {
        if v.last() != Some(&s) {
            v.push(s);
        }
        v
    });
    assert_eq!(stages, ["download", "analyse", "render", "upload"]);
    let last = progress.iter().rfind(|p| p.stage == "render").unwrap();
    assert_eq!((last.completed, last.total), (60, 60));

    // The streams: h264 640x360 square pixels, exactly the fitted frames; AAC for 2.5 s.
    let p = e.output();
    assert_eq!((streams(&p, "video"), streams(&p, "audio")), (1, 1));
    let v = stream(&p, "video").unwrap();
    assert_eq!((v["codec_name"].as_str(), v["width"].as_u64(), v["height"].as_u64()), (Some("h264"), Some(640), Some(360)));
    assert_eq!(v["sample_aspect_ratio"], "1:1");
    assert_eq!(v["color_space"], "bt709");
    assert_eq!(frames(&p), Some(60));
    let a = stream(&p, "audio").unwrap();
    assert_eq!(a["codec_name"], "aac");
    assert!((num(&a["duration"]) - 2.5).abs() < 0.03, "audio {}", a["duration"]);
    assert!((duration(&p) - 2.5).abs() < 0.03, "{}", duration(&p));

    // The captions: at the top while a word is spoken, the spoken word highlighted.
    let file = e.output_file();
    let f = frame_rgb(&file, 1.5, (640, 360));
    assert!(count(&f, 0, 120, yellowish) > 100, "the spoken word is highlighted");
    assert!(count(&f, 0, 120, whiteish) > 100, "the other words stay white");
    assert_eq!(count(&f, 240, 360, whiteish) + count(&f, 240, 360, yellowish), 0, "nothing at the bottom");

    // The audio: the narration at its own loudness (amix without normalisation; the mono
    // narration is spread on both channels 3 dB lower each), the music looped under it
    // about 20 dB lower: alone in the narration's silent part.
    let source = e.dir.path().join("narration.wav");
    let (voice_in, voice) = (max_volume(&source, 0.1, 0.8), max_volume(&file, 0.1, 0.8));
    let music = max_volume(&file, 1.2, 1.1);
    assert!((voice - (voice_in - 3.01)).abs() < 1.0, "narration {voice_in} dB in (mono), {voice} dB per channel in the mix");
    assert!(music > -60.0, "music audible in the silent part: {music} dB");
    assert!((voice - music - 20.0).abs() < 3.0, "music {music} dB vs narration {voice} dB: want about 20 dB below");
}

#[tokio::test]
async fn renders_without_narration_and_without_audio() {
    let _g = SERIAL.lock().await;
    let e = env().await;
    make_scenes(&e);
    e.make("music.mp3", &["-f", "lavfi", "-i", "sine=f=880:d=0.8", "-ac", "2", "-c:a", "libmp3lame"]);
    e.make("narration.wav", &["-f", "lavfi", "-i", "sine=f=440:d=2.5:sample_rate=48000"]);
    let size = (320, 180);

    // Music only: the scenes' own frames (66 = 2.75 s), the music looped at its own level.
    let t = RenderTask { music: Some(MusicTask { reduction_db: 20.0 }), ..task(size, [24, 12, 30]) };
    let (out, _) = e.run(&[&SCENES[..], &[("music", "music.mp3")]].concat(), t).await;
    let out = out.unwrap();
    assert_eq!((out.extras["frames"].as_u64(), out.extras["fitted_to_narration"].as_bool()), (Some(66), Some(false)));
    assert!(!out.extras.contains_key("narration_duration"));
    assert_eq!(out.extras["music_gain_db"], 0.0);
    let p = e.output();
    assert_eq!((streams(&p, "video"), streams(&p, "audio"), frames(&p)), (1, 1, Some(66)));
    assert!((num(&stream(&p, "audio").unwrap()["duration"]) - 2.75).abs() < 0.03, "{p}");
    let (file, music) = (e.output_file(), e.dir.path().join("music.mp3"));
    let (got, want) = (max_volume(&file, 1.0, 1.5), max_volume(&music, 0.1, 0.6));
    assert!((got - want).abs() < 1.5, "music at its level: {got} dB, source {want} dB");

    // No audio inputs: no audio stream.
    let (out, _) = e.run(&SCENES, task(size, [24, 12, 30])).await;
    assert_eq!(out.unwrap().outputs[0].frames, Some(66));
    let p = e.output();
    assert_eq!((streams(&p, "video"), streams(&p, "audio"), frames(&p)), (1, 0, Some(66)));
    assert!((duration(&p) - 2.75).abs() < 0.01, "{}", duration(&p));

    // A narration not fitted: followed by silence to the video's end, or cut at it.
    for (frames_each, want) in [([24, 24, 24], 3.0), ([16, 16, 16], 2.0)] {
        let t = RenderTask { narration: true, ..task(size, frames_each) };
        let (out, _) = e.run(&[&SCENES[..], &[("narration", "narration.wav")]].concat(), t).await;
        let out = out.unwrap();
        assert_eq!(out.extras["fitted_to_narration"], false);
        let p = e.output();
        assert_eq!(frames(&p), Some(u64::from(frames_each.iter().sum::<u32>())));
        let a = num(&stream(&p, "audio").unwrap()["duration"]);
        assert!((a - want).abs() < 0.03, "audio {a} s, want {want}");
    }

    // An input that is no image fails with its code, naming the scene.
    let (out, _) = e.run(&[("scene_1", "a.jpg"), ("scene_2", "music.mp3"), ("scene_3", "c.jpg")], task(size, [4, 4, 4])).await;
    let err = out.unwrap_err();
    assert_eq!((err.code.as_str(), err.retryable), ("input-not-media", false), "{err:?}");
    assert!(err.message.contains("scene_2"), "{err:?}");
}

#[test]
fn render_local_renders_local_files() {
    let _g = SERIAL.blocking_lock();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ffmpeg_make(d, "a.jpg", &["-f", "lavfi", "-i", "testsrc2=s=400x300", "-frames:v", "1"]);
    ffmpeg_make(d, "b.png", &["-f", "lavfi", "-i", "testsrc2=s=300x400", "-frames:v", "1"]);
    ffmpeg_make(d, "n.wav", &["-f", "lavfi", "-i", "sine=d=1.5"]);
    std::fs::write(d.join("s.srt"), "1\n00:00:00,000 --> 00:00:01,000\nHello\n").unwrap();
    let mut t = task((160, 90), [12, 12, 12]);
    t.scenes.truncate(2);
    t.narration = true;
    t.fit_to_narration = true;
    t.captions = Some(CaptionTask { mode: CaptionMode::Segments { style: Default::default() }, uppercase: false });
    std::fs::write(d.join("task.json"), serde_json::to_vec(&t).unwrap()).unwrap();
    let run = |inputs: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_gpu-worker"));
        cmd.current_dir(d).args(["render-local", "--task", "task.json", "--output", "out.mp4"]);
        for i in inputs {
            cmd.args(["--input", i]);
        }
        let out =
            cmd.env("WORK_DIR", d.join("work")).env("ENCODER", "libx264").env("HWACCEL", "off").env("RUST_LOG", "warn").output().unwrap();
        (out.status.code(), serde_json::from_slice::<Value>(&out.stdout).unwrap_or(Value::Null))
    };
    let (code, report) = run(&["scene_1=a.jpg", "scene_2=b.png", "narration=n.wav", "captions=s.srt"]);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!((report["frames"].as_u64(), report["fitted_to_narration"].as_bool()), (Some(36), Some(true)), "{report}");
    for stage in ["analyse", "render", "total"] {
        assert!(report["timings_ms"][stage].is_u64(), "timing `{stage}`: {report}");
    }
    let p = ffprobe_bytes(d, "probe.mp4", &std::fs::read(d.join("out.mp4")).unwrap());
    assert_eq!((streams(&p, "video"), streams(&p, "audio"), frames(&p)), (1, 1, Some(36)));
    assert_eq!(std::fs::read_dir(d.join("work")).unwrap().count(), 0, "the work dir is removed");

    // An input the task does not read, or one missing: refused before any work.
    let (code, report) = run(&["scene_1=a.jpg", "scene_2=b.png", "narration=n.wav", "captions=s.srt", "music=n.wav"]);
    assert_eq!((code, report["error"]["code"].as_str()), (Some(1), Some("invalid-task")), "{report}");
    let (code, report) = run(&["scene_1=a.jpg", "narration=n.wav", "captions=s.srt"]);
    assert_eq!((code, report["error"]["code"].as_str()), (Some(1), Some("invalid-task")), "{report}");
    assert!(report["error"]["message"].as_str().unwrap().contains("scene_2"), "{report}");
}
