//! Inputs that lie about their length, through `Executor::execute`: an MP3 of under a
//! kilobyte whose Xing header claims 309,237,645 s (0xFFFFFFFF frames of 576 samples at
//! 8 kHz), and one claiming 5 h (under `MAX_MEDIA_SECONDS`, but not in 900 bytes). Each
//! job must be refused fast with `input-duration-out-of-range`, not retried, without
//! allocating for the claimed length; and the same executor then completes a normal job.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Env, env, ffmpeg_make, ffprobe_bytes};
use job_spec::worker::{
    AddAudioTask, CaptionMode, CaptionTask, ClipTask, ConcatVideoAudioTask, Img2VidTask, InputUrl, OUTPUT, OutputTarget, RenderScene,
    RenderTask, SegmentAudioTask, SegmentCut, SyncMode,
};
use job_spec::{Task, WorkerError, WorkerJob, WorkerOutput, ZoomType};
use tokio_util::sync::CancellationToken;

/// One test at a time: two cores.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

impl Env {
    /// An 8 kHz mono MP3 of 0.5 s whose Xing header says it has `frames` frames (576
    /// samples each): LAME writes the tag in the first frame as `Xing`/`Info`, a flags
    /// word, then the frame count (big-endian) when flag 1 is set. Checks that ffprobe
    /// believes it, so the test is about a real lie.
    fn lying_mp3(&self, name: &str, frames: u32) -> f64 {
        let mut b = ffmpeg_make(
            self.dir.path(),
            name,
            &["-f", "lavfi", "-i", "sine=f=300:d=0.5:sample_rate=8000", "-ac", "1", "-c:a", "libmp3lame", "-b:a", "8k", "-write_xing", "1"],
        );
        let at = b.windows(4).position(|w| w == b"Xing" || w == b"Info").expect("LAME wrote a Xing/Info tag");
        assert_eq!(u32::from_be_bytes(b[at + 4..at + 8].try_into().unwrap()) & 1, 1, "the tag carries a frame count");
        b[at + 8..at + 12].copy_from_slice(&frames.to_be_bytes());
        let claimed = common::duration(&ffprobe_bytes(self.dir.path(), &format!("{name}.probe"), &b));
        let want = f64::from(frames) * 576.0 / 8000.0;
        assert!((claimed - want).abs() < 1.0, "ffprobe reports {claimed} s for {name}, want ~{want}");
        assert!(b.len() < 2000, "{} bytes", b.len());
        self.storage.put(name, b);
        claimed
    }

    /// A 1 s clip at 30 fps, as img2vid encodes one.
    fn clip(&self, name: &str) {
        self.make(name, &["-f", "lavfi", "-i", "testsrc2=s=320x240:r=30:d=1", "-c:v", "libx264", "-pix_fmt", "yuv420p"]);
    }

    async fn run(&self, inputs: &[(&str, &str)], task: Task) -> Result<WorkerOutput, WorkerError> {
        let job = WorkerJob {
            progress_url: None,
            job_id: "hostile".into(),
            attempt: 1,
            inputs: inputs.iter().map(|(n, k)| InputUrl { name: (*n).into(), url: self.storage.url(k) }).collect(),
            outputs: vec![OutputTarget {
                name: OUTPUT.into(),
                key: "out".into(),
                put_url: self.storage.url("out"),
                content_type: "video/mp4".into(),
            }],
            task,
        };
        self.exec.execute(&job, Arc::new(|_| {}), &CancellationToken::new()).await.map_err(|e| e.to_worker_error())
    }

    /// Runs a job that must be refused for input `audio`'s length: quickly, with the
    /// stable code, not retryable.
    async fn refused(&self, what: &str, inputs: &[(&str, &str)], task: Task, why: &str) {
        let clock = Instant::now();
        let e = self.run(inputs, task).await.expect_err(what);
        let took = clock.elapsed();
        eprintln!("{what}: {} in {took:?}: {}", e.code, e.message);
        assert_eq!(e.code, "input-duration-out-of-range", "{what}: {e:?}");
        assert!(!e.retryable, "{what}: a retry reads the same header");
        assert!(e.message.contains("`audio`") || e.message.contains("`narration`"), "{what}: names the input: {}", e.message);
        assert!(e.message.contains(why), "{what}: says why ({why}): {}", e.message);
        assert!(took < Duration::from_secs(30), "{what}: took {took:?}");
    }
}

/// Peak resident memory of this process (the worker runs in it), in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib = status.lines().find_map(|l| l.strip_prefix("VmHWM:")).unwrap().trim().trim_end_matches("kB").trim();
    kib.parse::<u64>().unwrap() * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lying_mp3_lengths_are_refused_and_the_worker_keeps_working() {
    let _g = SERIAL.lock().await;
    common::init_tracing();
    let e = env().await;
    e.clip("v.mp4");
    e.make("tone.wav", &["-f", "lavfi", "-i", "sine=f=300:d=2", "-ac", "2"]);
    let huge = e.lying_mp3("huge.mp3", u32::MAX);
    assert!(huge > 3e8, "{huge}");
    // 5 h: within MAX_MEDIA_SECONDS, but 900 bytes cannot hold it.
    let five_hours = e.lying_mp3("five_hours.mp3", 250_000);
    assert!(five_hours > 17_000.0 && five_hours < job_spec::limits::MAX_MEDIA_SECONDS, "{five_hours}");

    let loop_video = || Task::AddAudio(AddAudioTask { sync: SyncMode::LoopVideo });
    let under = || Task::ConcatVideoAudio(ConcatVideoAudioTask { clips: 2, normalize: false });
    let under_normalized = || Task::ConcatVideoAudio(ConcatVideoAudioTask { clips: 2, normalize: true });
    for (mp3, why) in [("huge.mp3", "MAX_MEDIA_SECONDS"), ("five_hours.mp3", "not believable")] {
        e.refused(&format!("addaudio loop_video, {mp3}"), &[("video", "v.mp4"), ("audio", mp3)], loop_video(), why).await;
        let clips = [("clip_1", "v.mp4"), ("clip_2", "v.mp4"), ("audio", mp3)];
        e.refused(&format!("concat_video_audio, {mp3}"), &clips, under(), why).await;
        e.refused(&format!("concat_video_audio normalize, {mp3}"), &clips, under_normalized(), why).await;
        let render = RenderTask {
            width: 320,
            height: 240,
            frame_rate: 24,
            scenes: vec![RenderScene {
                id: "s1".into(),
                input: "scene_1".into(),
                frames: 24,
                seconds: 1.0,
                zoom: ZoomType::Zoomin,
                easing: job_spec::values::EasingType::Linear,
            }],
            narration: true,
            fit_to_narration: true,
            music: None,
            captions: None,
        };
        e.make("still.png", &["-f", "lavfi", "-i", "color=c=0x2040a0:s=320x240", "-frames:v", "1"]);
        let inputs = [("scene_1", "still.png"), ("narration", mp3)];
        let clock = Instant::now();
        let r = e.run(&inputs, Task::Render(render)).await.expect_err("render fitted to a lying narration");
        eprintln!("render, {mp3}: {} in {:?}: {}", r.code, clock.elapsed(), r.message);
        assert_eq!(r.code, "input-duration-out-of-range", "{r:?}");
        assert!(clock.elapsed() < Duration::from_secs(30));
    }
    let peak = peak_rss();
    assert!(peak < 1 << 30, "peak RSS {peak} bytes");

    // The same executor still works: a normal loop_video job completes.
    let out = e.run(&[("video", "v.mp4"), ("audio", "tone.wav")], loop_video()).await.unwrap();
    assert_eq!(out.extras["loops_applied"], 2);
    let probe = ffprobe_bytes(e.dir.path(), "out.probe", &e.storage.get("out").expect("output uploaded"));
    assert!((common::duration(&probe) - 2.0).abs() < 0.1, "{probe}");
}

/// An output that reaches `MAX_OUTPUT_BYTES` is stopped there by `-fs` and refused
/// (`output-too-large`), not uploaded cut short: a 2 s loop_video of a 1 s clip (tens of
/// KB) under a 20 KB limit, both by stream copy (the exact-cut path) and re-encoded
/// (stretch_video).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outputs_stop_at_the_size_limit() {
    let _g = SERIAL.lock().await;
    let e = common::env_with(|c| gpu_worker::config::Config { max_output_bytes: 20_000, ..c }).await;
    e.clip("v.mp4");
    assert!(e.storage.get("v.mp4").unwrap().len() > 20_000, "the clip alone is over the limit");
    e.make("tone.wav", &["-f", "lavfi", "-i", "sine=f=300:d=2", "-ac", "2"]);
    for sync in [SyncMode::LoopVideo, SyncMode::StretchVideo] {
        let r = e.run(&[("video", "v.mp4"), ("audio", "tone.wav")], Task::AddAudio(AddAudioTask { sync })).await;
        let err = r.map(|o| o.outputs).expect_err("an output over the limit");
        assert_eq!((err.code.as_str(), err.retryable), ("output-too-large", false), "{sync:?}: {err:?}");
        assert!(e.storage.get("out").is_none(), "{sync:?}: nothing uploaded");
    }
}

/// A Ken Burns scene or clip of `frames` frames of the still `scene_1`.
fn scene(frames: u32) -> RenderScene {
    RenderScene {
        id: "s1".into(),
        input: "scene_1".into(),
        frames,
        seconds: f64::from(frames) / 24.0,
        zoom: ZoomType::Zoomin,
        easing: job_spec::values::EasingType::Linear,
    }
}

fn img2vid(size: u32, frame_rate: u32, frames: u32) -> Task {
    Task::Img2vid(Img2VidTask {
        width: size,
        height: size,
        frame_rate,
        clips: vec![ClipTask {
            id: "c1".into(),
            input: "scene_1".into(),
            output: OUTPUT.into(),
            frames,
            zoom: ZoomType::Zoomin,
            easing: job_spec::values::EasingType::Linear,
        }],
    })
}

/// img2vid clips, renders and the segmenter's decoded master stop at `MAX_OUTPUT_BYTES`
/// (`-fs`) and are refused (`output-too-large`, not retryable), not uploaded cut short
/// or left to fill the work dir: 2 s of moving noise, or 2 s of 48 kHz stereo PCM
/// (384 kB), under a 20 kB limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renders_and_decoded_audio_stop_at_the_size_limit() {
    let _g = SERIAL.lock().await;
    let e = common::env_with(|c| gpu_worker::config::Config { max_output_bytes: 20_000, ..c }).await;
    let work = e.dir.path().join("work");
    e.make("noise.png", &["-f", "lavfi", "-i", "testsrc2=s=640x480", "-vf", "noise=alls=100:allf=u", "-frames:v", "1"]);
    e.make("master.wav", &["-f", "lavfi", "-i", "sine=f=300:d=2:sample_rate=48000", "-ac", "2"]);
    let render = Task::Render(RenderTask {
        width: 320,
        height: 240,
        frame_rate: 24,
        scenes: vec![scene(48)],
        narration: false,
        fit_to_narration: false,
        music: None,
        captions: None,
    });
    let segment = Task::SegmentAudio(SegmentAudioTask {
        pipeline_id: "p1".into(),
        expected: 1,
        segments: vec![SegmentCut { index: 0, start_sec: 0.0, duration_sec: 1.0 }],
        master_key: "t/pipelines/p1/inputs/audio/master.bin".into(),
        stage_master: false,
        presenter_key: None,
        stage_presenter: false,
    });
    for (what, inputs, task) in [
        ("img2vid", [("scene_1", "noise.png")], img2vid(320, 24, 48)),
        ("render", [("scene_1", "noise.png")], render),
        ("segment", [(SegmentAudioTask::MASTER, "master.wav")], segment),
    ] {
        let err = e.run(&inputs, task).await.map(|o| o.outputs).expect_err(what);
        assert_eq!((err.code.as_str(), err.retryable), ("output-too-large", false), "{what}: {err:?}");
        assert!(e.storage.get("out").is_none(), "{what}: nothing uploaded");
        assert_eq!(common::entries(&work), 0, "{what}: the work dir is removed");
    }
}

/// The pixel budget (`MAX_RENDER_PIXELS`, 2 h of 1080p30) holds in the worker: a render
/// fitted to a narration renders what the narration's probed length asks for, which the
/// edge never saw. 460 s of narration at 4096×4096, 60 fps is 4.6 × 10¹¹ pixels, over
/// the 4.48 × 10¹¹ allowed: refused at once (`render-budget-exceeded`, not retryable),
/// as is an img2vid task over it sent past the edge, rather than rendered for hours.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renders_over_the_pixel_budget_are_refused_before_rendering() {
    let _g = SERIAL.lock().await;
    let e = env().await;
    e.make("still.png", &["-f", "lavfi", "-i", "color=c=0x2040a0:s=320x240", "-frames:v", "1"]);
    e.make("long.mp3", &["-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono:d=460", "-c:a", "libmp3lame", "-b:a", "8k"]);
    let fitted = Task::Render(RenderTask {
        width: 4096,
        height: 4096,
        frame_rate: 60,
        scenes: vec![scene(60)],
        narration: true,
        fit_to_narration: true,
        music: None,
        captions: None,
    });
    // 600 s at 60 fps of 4096×4096: one clip is 6 × 10¹¹ pixels.
    let clip = img2vid(4096, 60, 36_000);
    for (what, inputs, task) in [
        ("render fitted to 460 s", vec![("scene_1", "still.png"), ("narration", "long.mp3")], fitted),
        ("img2vid", vec![("scene_1", "still.png")], clip),
    ] {
        let clock = Instant::now();
        let r = tokio::time::timeout(Duration::from_secs(60), e.run(&inputs, task)).await;
        let err = r.unwrap_or_else(|_| panic!("{what}: still rendering after 60 s")).expect_err(what);
        assert_eq!((err.code.as_str(), err.retryable), ("render-budget-exceeded", false), "{what}: {err:?}");
        assert!(err.message.contains("MAX_RENDER_PIXELS"), "{what}: {}", err.message);
        assert!(clock.elapsed() < Duration::from_secs(20), "{what}: took {:?}", clock.elapsed());
    }
    // Within the budget the same fitted render is made (a short narration).
    e.make("short.wav", &["-f", "lavfi", "-i", "sine=f=300:d=1", "-ac", "1"]);
    let small = Task::Render(RenderTask {
        width: 320,
        height: 240,
        frame_rate: 24,
        scenes: vec![scene(24)],
        narration: true,
        fit_to_narration: true,
        music: None,
        captions: None,
    });
    e.run(&[("scene_1", "still.png"), ("narration", "short.wav")], small).await.unwrap();
    let probe = ffprobe_bytes(e.dir.path(), "out.probe", &e.storage.get("out").expect("output uploaded"));
    assert_eq!(common::frames(&probe), Some(24), "1 s of narration at 24 fps");
}

/// CRC-32 (IEEE) of a PNG chunk's type and data.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for b in bytes {
        crc ^= u32::from(*b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// A PNG of a few dozen bytes whose header claims `w`×`h` RGBA pixels.
fn claimed_png(w: u32, h: u32) -> Vec<u8> {
    let chunk = |kind: &[u8], data: &[u8]| {
        let mut c = (data.len() as u32).to_be_bytes().to_vec();
        let body = [kind, data].concat();
        c.extend(&body);
        c.extend(crc32(&body).to_be_bytes());
        c
    };
    let ihdr = [w.to_be_bytes().as_slice(), h.to_be_bytes().as_slice(), &[8, 6, 0, 0, 0]].concat();
    // A zlib stream of a few empty stored blocks: far too little data for the picture.
    let idat = [0x78, 0x01, 0x01, 0x00, 0x00, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01];
    [b"\x89PNG\r\n\x1a\n".as_slice(), &chunk(b"IHDR", &ihdr), &chunk(b"IDAT", &idat), &chunk(b"IEND", &[])].concat()
}

/// A picture past `MAX_IMAGE_PIXELS` (128 Mpx: 512 MiB as RGBA) is refused before it is
/// decoded (`image-too-large`, not retryable): a 12000×12000 PNG header of 70 bytes (the
/// image crate's decoder allocated the whole picture first), and a 12000×12000 TIFF of
/// 300 kB that only ffmpeg reads (its decoder's `-max_pixels`; `-fs` cannot stop the
/// one-packet PAM, which was 576 MB in the work dir before being refused as not media).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_pictures_are_refused_before_decoding() {
    let _g = SERIAL.lock().await;
    let e = env().await;
    e.storage.put("claims.png", claimed_png(12_000, 12_000));
    e.make("big.tiff", &["-f", "lavfi", "-i", "color=c=red:s=12000x12000", "-frames:v", "1", "-compression_algo", "deflate"]);
    assert!(e.storage.get("big.tiff").unwrap().len() < 1 << 20);
    for image in ["claims.png", "big.tiff"] {
        let clock = Instant::now();
        let err = e.run(&[("scene_1", image)], img2vid(320, 24, 2)).await.map(|o| o.outputs).expect_err(image);
        assert_eq!((err.code.as_str(), err.retryable), ("image-too-large", false), "{image}: {err:?}");
        assert!(err.message.contains("`scene_1`"), "{image}: {}", err.message);
        assert!(clock.elapsed() < Duration::from_secs(5), "{image}: took {:?}", clock.elapsed());
    }
}

/// A render's caption file over `MAX_CAPTION_BYTES` (4 MiB) is refused from its size,
/// before it is read or parsed, and before anything is rendered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_render_s_oversized_captions_are_refused_before_rendering() {
    let _g = SERIAL.lock().await;
    let e = env().await;
    e.make("still.png", &["-f", "lavfi", "-i", "color=c=0x2040a0:s=320x240", "-frames:v", "1"]);
    let cue = "1\n00:00:00,000 --> 00:00:01,000\nhello\n\n";
    e.storage.put("big.srt", cue.repeat((5 << 20) / cue.len()).into_bytes());
    let render = Task::Render(RenderTask {
        width: 320,
        height: 240,
        frame_rate: 24,
        scenes: vec![scene(24)],
        narration: false,
        fit_to_narration: false,
        music: None,
        captions: Some(CaptionTask { mode: CaptionMode::Segments { style: Default::default() }, uppercase: false }),
    });
    let clock = Instant::now();
    let err = e.run(&[("scene_1", "still.png"), ("captions", "big.srt")], render).await.expect_err("5 MiB of captions");
    assert_eq!((err.code.as_str(), err.retryable), ("captions-too-large", false), "{err:?}");
    assert!(err.message.contains("`captions`"), "names the input: {}", err.message);
    assert!(clock.elapsed() < Duration::from_secs(20), "took {:?}", clock.elapsed());
    assert!(e.storage.get("out").is_none(), "nothing uploaded");
}
