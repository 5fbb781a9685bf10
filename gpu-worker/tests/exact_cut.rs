//! Copied video ends with its audio: `addaudio` (`shortest`, `loop_video`) and
//! `concat_video_audio`'s copy path, through `Executor::execute` on clips encoded the way
//! img2vid encodes them (libx264, B-frames, GOP 2 s), at several frame rates. The user's
//! check: ffprobe says the video has round(T × fps) frames and lasts T within one frame,
//! the audio lasts T, and ffmpeg decodes the file end to end without an error.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{Env, Storage, env, ffprobe_bytes, frames, stream, streams};
use gpu_worker::encoder::Encoder;
use gpu_worker::executor::Executor;
use job_spec::worker::{AddAudioTask, ConcatVideoAudioTask, InputUrl, OUTPUT, OutputTarget, SyncMode};
use job_spec::{Task, WorkerJob, WorkerOutput};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// One test at a time: two cores.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// [`env`] for files of any size: the worker's input limit lifted, and a storage server
/// without axum's 2 MB body limit.
async fn big_env() -> Env {
    use axum::body::Bytes;
    use axum::extract::{DefaultBodyLimit, Path as Key, State};
    use axum::http::StatusCode;
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let cfg = gpu_worker::config::Config { max_input_bytes: 1 << 30, ..common::config(&work) };
    let mut storage = Storage::default();
    let get = |State(s): State<Storage>, Key(k): Key<String>| async move { s.get(&k).ok_or(StatusCode::NOT_FOUND) };
    let put = |State(s): State<Storage>, Key(k): Key<String>, body: Bytes| async move {
        s.put(&k, body.to_vec());
        StatusCode::OK
    };
    let app = axum::Router::new()
        .route("/o/{*key}", axum::routing::get(get).put(put))
        .layer(DefaultBodyLimit::disable())
        .with_state(storage.clone());
    storage.base = common::spawn_server(app).await;
    Env { storage, exec: Executor::new(cfg).await.unwrap(), dir }
}

/// A frame rate as lavfi and ffmpeg spell it, and its value.
#[derive(Clone, Copy)]
struct Rate(&'static str, f64);

const RATES: [Rate; 4] = [Rate("24", 24.0), Rate("25", 25.0), Rate("30", 30.0), Rate("30000/1001", 30000.0 / 1001.0)];

impl Env {
    /// `secs` of testsrc2 at `rate`, encoded as img2vid encodes a clip (Encoder::video_args
    /// and its colour tags); `extra` lavfi sources become extra streams (e.g. a track).
    fn clip(&self, name: &str, rate: Rate, secs: f64, extra: &[&str]) {
        let src = format!("testsrc2=s=320x240:r={}:d={secs}", rate.0);
        let mut a: Vec<String> = ["-f", "lavfi", "-i", &src].map(str::to_owned).to_vec();
        for e in extra {
            a.extend(["-f", "lavfi", "-i", e].map(str::to_owned));
        }
        a.extend(["-vf", "setsar=1"].map(str::to_owned));
        a.extend(Encoder::Libx264.video_args(rate.1.round() as u32));
        a.extend(["-color_range", "tv", "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709"].map(str::to_owned));
        if !extra.is_empty() {
            a.extend(["-c:a", "aac"].map(str::to_owned));
        }
        self.make(name, &a.iter().map(String::as_str).collect::<Vec<_>>());
    }

    fn tone(&self, name: &str, secs: f64) {
        self.make(name, &["-f", "lavfi", "-i", &format!("sine=f=300:d={secs}"), "-ac", "2"]);
    }

    async fn run(&self, inputs: &[(&str, &str)], task: Task) -> WorkerOutput {
        let job = WorkerJob {
            progress_url: None,
            job_id: "exact-cut".into(),
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
        self.exec.execute(&job, Arc::new(|_| {}), &CancellationToken::new()).await.map_err(|e| e.to_worker_error()).unwrap()
    }

    /// Checks the output as a user would and returns its probe.
    fn check(&self, what: &str, rate: Rate, want_secs: f64) -> Value {
        let path = self.dir.path().join("out.mp4");
        std::fs::write(&path, self.storage.get("out").expect("output uploaded")).unwrap();
        let p = ffprobe_bytes(self.dir.path(), "out.probe", &std::fs::read(&path).unwrap());
        assert_eq!((streams(&p, "video"), streams(&p, "audio")), (1, 1), "{what}");
        let secs = |kind: &str| -> f64 { stream(&p, kind).unwrap()["duration"].as_str().unwrap().parse().unwrap() };
        let (video, audio, n) = (secs("video"), secs("audio"), frames(&p).unwrap());
        let want_frames = (want_secs * rate.1).round() as u64;
        eprintln!("{what} @ {}: video {video:.6} s, {n} frames; audio {audio:.6} s; want {want_secs} s, {want_frames} frames", rate.0);
        assert_eq!(n, want_frames, "{what} @ {}: frames", rate.0);
        assert!((video - want_secs).abs() <= 1.0 / rate.1 + 1e-6, "{what} @ {}: video {video} s, want {want_secs}", rate.0);
        assert!((audio - want_secs).abs() <= 0.005, "{what} @ {}: audio {audio} s, want {want_secs}", rate.0);
        let decode = std::process::Command::new("ffmpeg")
            .args(["-hide_banner", "-nostdin", "-v", "error", "-i"])
            .arg(&path)
            .args(["-f", "null", "-"])
            .output()
            .unwrap();
        assert!(decode.status.success() && decode.stderr.is_empty(), "{what}: {}", String::from_utf8_lossy(&decode.stderr));
        assert_eq!(decoded_frames(&path), want_frames, "{what} @ {}: decoded frames", rate.0);
        p
    }
}

/// Frames re-encoded (the smart cut's tail), from the output's extra fields.
fn encoded(out: &WorkerOutput) -> u64 {
    out.extras["encoded_frames"].as_u64().unwrap()
}

/// Frames ffmpeg decodes from the first video stream.
fn decoded_frames(path: &Path) -> u64 {
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

#[tokio::test]
async fn addaudio_shortest_cuts_the_video_to_the_audio() {
    let _g = SERIAL.lock().await;
    let e = env().await;
    e.tone("a.wav", 3.3);
    let mut tails = vec![];
    for rate in RATES {
        e.clip("v.mp4", rate, 5.0, &[]);
        let out = e.run(&[("video", "v.mp4"), ("audio", "a.wav")], Task::AddAudio(AddAudioTask { sync: SyncMode::Shortest })).await;
        assert_eq!(out.outputs[0].encoder.as_deref(), Some("copy"));
        tails.push(encoded(&out));
        e.check("shortest", rate, 3.3);
    }
    eprintln!("shortest: frames re-encoded {tails:?}");
    assert!(tails.iter().any(|&t| t > 0) && tails.iter().all(|&t| t < 8), "a few frames re-encoded: {tails:?}");
    // Audio longer than the video: the video is copied whole, the audio cut to it.
    e.tone("long.wav", 6.0);
    let rate = RATES[0];
    e.clip("v.mp4", rate, 5.0, &[]);
    e.run(&[("video", "v.mp4"), ("audio", "long.wav")], Task::AddAudio(AddAudioTask { sync: SyncMode::Shortest })).await;
    e.check("shortest, audio longer", rate, 5.0);
}

#[tokio::test]
async fn addaudio_loop_video_ends_with_the_audio() {
    let _g = SERIAL.lock().await;
    let e = env().await;
    e.tone("a.wav", 8.5);
    let mut tails = vec![];
    for rate in RATES {
        // Its own track (longer than its video) must not shift the loops.
        e.clip("v.mp4", rate, 3.0, &["sine=f=500:d=3.4"]);
        let out = e.run(&[("video", "v.mp4"), ("audio", "a.wav")], Task::AddAudio(AddAudioTask { sync: SyncMode::LoopVideo })).await;
        assert_eq!(out.outputs[0].encoder.as_deref(), Some("copy"));
        tails.push(encoded(&out));
        e.check("loop_video", rate, 8.5);
    }
    eprintln!("loop_video: frames re-encoded {tails:?}");
    assert!(tails.iter().any(|&t| t > 0) && tails.iter().all(|&t| t < 8), "a few frames re-encoded: {tails:?}");
}

/// The measurement: a narration MP3 of 12.00 s (it probes as 12.024 s: the encoder
/// delay ffprobe counts and decoders skip) under a 30 fps clip looped: 360 frames, not 361.
#[tokio::test]
async fn loop_video_under_an_mp3_ends_with_its_decoded_sound() {
    let _g = SERIAL.lock().await;
    let e = env().await;
    e.make("n.mp3", &["-f", "lavfi", "-i", "sine=f=300:d=12:sample_rate=48000", "-c:a", "libmp3lame", "-b:a", "128k"]);
    let rate = Rate("30", 30.0);
    e.clip("v.mp4", rate, 5.0, &[]);
    e.run(&[("video", "v.mp4"), ("audio", "n.mp3")], Task::AddAudio(AddAudioTask { sync: SyncMode::LoopVideo })).await;
    e.check("loop_video under a 12.00 s MP3", rate, 12.0);
}

#[tokio::test]
async fn concat_video_audio_copy_ends_with_the_audio() {
    let _g = SERIAL.lock().await;
    let e = env().await;
    e.tone("speech.wav", 10.2);
    let mut tails = vec![];
    for rate in RATES {
        e.clip("k1.mp4", rate, 2.5, &[]);
        e.clip("k2.mp4", rate, 1.5, &[]);
        let task = Task::ConcatVideoAudio(ConcatVideoAudioTask { clips: 2, normalize: false });
        let out = e.run(&[("clip_1", "k1.mp4"), ("clip_2", "k2.mp4"), ("audio", "speech.wav")], task).await;
        assert_eq!((out.extras["copied"].clone(), out.outputs[0].encoder.as_deref()), (true.into(), Some("copy")));
        tails.push(encoded(&out));
        e.check("concat_video_audio", rate, 10.2);
    }
    eprintln!("concat_video_audio: frames re-encoded {tails:?}");
    assert!(tails.iter().any(|&t| t > 0) && tails.iter().all(|&t| t < 8), "a few frames re-encoded: {tails:?}");
}

#[tokio::test]
async fn a_clean_cut_encodes_nothing_and_unmatched_tails_reencode_whole() {
    let _g = SERIAL.lock().await;
    let e = env().await;
    let rate = RATES[1];
    // 3 s at 25 fps, keyframes every 50 frames; 8 s = 75 + 75 + 50 frames.
    e.clip("v.mp4", rate, 3.0, &[]);
    e.tone("a.wav", 8.0);
    let out = e.run(&[("video", "v.mp4"), ("audio", "a.wav")], Task::AddAudio(AddAudioTask { sync: SyncMode::LoopVideo })).await;
    assert_eq!((out.outputs[0].encoder.as_deref(), out.extras["encoded_frames"].as_u64()), (Some("copy"), Some(0)));
    e.check("loop_video on a keyframe", rate, 8.0);

    // Other encoders. Without B-frames every frame is a cut point: copied exactly, any
    // codec. With B-frames the last frames need a tail our encoder cannot match (three
    // reference frames; another codec): the whole video is re-encoded, still exact.
    e.tone("short.wav", 2.36);
    let foreign: [(&[&str], &str, u64); 4] = [
        (&["-c:v", "libx264", "-preset", "ultrafast"], "copy", 0),
        (&["-c:v", "mpeg4"], "copy", 0),
        (&["-c:v", "libx264", "-preset", "medium"], "libx264", 59),
        (&["-c:v", "mpeg4", "-bf", "2"], "libx264", 59),
    ];
    for (args, encoder, encoded) in foreign {
        let mut a = vec!["-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=3"];
        a.extend(args);
        a.extend(["-f", "mp4"]);
        e.make("f.mp4", &a);
        let out = e.run(&[("video", "f.mp4"), ("audio", "short.wav")], Task::AddAudio(AddAudioTask { sync: SyncMode::Shortest })).await;
        assert_eq!(out.outputs[0].encoder.as_deref(), Some(encoder), "{args:?}");
        assert_eq!(out.extras["encoded_frames"].as_u64(), Some(encoded), "{args:?}");
        e.check("shortest, another encoder", rate, 2.36);
    }
}

#[tokio::test]
async fn encode_cuts_the_new_audio_to_the_video_stream() {
    let _g = SERIAL.lock().await;
    let e = env().await;
    let rate = RATES[0];
    // The video's own track (3.4 s) outlasts its video (3 s): the file lasts 3.4 s.
    e.clip("v.mp4", rate, 3.0, &["sine=f=500:d=3.4"]);
    e.tone("voice.wav", 5.0);
    let task = Task::Encode(job_spec::worker::EncodeTask { audio: true, subtitles: false });
    let out = e.run(&[("video", "v.mp4"), ("audio", "voice.wav")], task).await;
    assert_eq!(out.outputs[0].encoder.as_deref(), Some("copy"));
    e.check("encode", rate, 3.0);
}

/// CPU-seconds of this process's finished children (`/proc/self/stat` cutime + cstime,
/// in clock ticks of 1/100 s).
fn children_cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let rest = stat.rsplit_once(')').unwrap().1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields 16 and 17 of stat(5), counted from the state (field 3) here.
    (f[13].parse::<f64>().unwrap() + f[14].parse::<f64>().unwrap()) / 100.0
}

/// The note's numbers: 60 s of 1080p30 under 62.5 s of audio (loop_video), the smart cut
/// against a full re-encode of the same output. Slow (the full encode): run by hand with
/// `cargo test -p gpu-worker --test exact_cut -- --ignored --nocapture`.
#[tokio::test]
#[ignore = "benchmark: a minute of 1080p encoding"]
async fn cpu_seconds_smart_cut_against_a_full_reencode() {
    use gpu_worker::ops::cut::{Piece, Rate, list, reencode_args};
    let _g = SERIAL.lock().await;
    let e = big_env().await;
    let rate = Rate { num: 30, den: 1 };
    let mut a: Vec<String> = ["-f", "lavfi", "-i", "testsrc2=s=1920x1080:r=30:d=60", "-vf", "setsar=1"].map(str::to_owned).to_vec();
    a.extend(Encoder::Libx264.video_args(30));
    e.make("hd.mp4", &a.iter().map(String::as_str).collect::<Vec<_>>());
    // 62.5 s ends on a clean split (nothing encoded); 62.6 s needs a tail.
    for secs in [62.6, 62.5] {
        e.tone("a.wav", secs);
        let before = children_cpu_secs();
        let out = e.run(&[("video", "hd.mp4"), ("audio", "a.wav")], Task::AddAudio(AddAudioTask { sync: SyncMode::LoopVideo })).await;
        let smart = children_cpu_secs() - before;
        assert_eq!(out.outputs[0].encoder.as_deref(), Some("copy"));
        e.check("loop_video 1080p", Rate("30", 30.0), secs);
        eprintln!("CPU-s, smart cut, 60 s 1080p30 looped under {secs} s: {smart:.2} (whole job, {} frames re-encoded)", encoded(&out));
    }

    let (hd, wav) = (e.dir.path().join("hd.mp4"), e.dir.path().join("a.wav"));
    let list_path = e.dir.path().join("full.txt");
    std::fs::write(&list_path, list(&[Piece { path: &hd, secs: Some(60.0) }, Piece { path: &hd, secs: None }])).unwrap();
    let full_out = e.dir.path().join("full.mp4");
    let before = children_cpu_secs();
    let st = std::process::Command::new("ffmpeg")
        .args(["-loglevel", "error"])
        .args(reencode_args(&list_path, &wav, 62.5, 1875, rate, Encoder::Libx264, &full_out))
        .status()
        .unwrap();
    let full = children_cpu_secs() - before;
    assert!(st.success());
    eprintln!("CPU-s, full re-encode of the same 62.5 s: {full:.2}");
}
