//! `/audio/transcribe` against inputs and requests that would hold the worker: through
//! `Executor::execute`, on the real Whisper tiny.en model (`scripts/models.sh` puts it in
//! `$API_GPU_CACHE/models`).
//!
//! - A FLAC whose header claims 10 s but that decodes to 30 min, under a 60 s
//!   `MAX_MEDIA_SECONDS`: refused with `input-duration-out-of-range` while ffmpeg's output
//!   is read, fast, without the resident memory growing with the real length; the same
//!   file with its true header is refused from the probe.
//! - The same half hour within the limit, with `enable_vad`: transcribed without holding
//!   its samples.
//! - A job cancelled while it transcribes minutes of speech: `execute` returns
//!   `cancelled` within about one 30 s window's work, and by then the work has stopped —
//!   the process is idle, no ffmpeg is left, and the next job runs at once.
//! - ffmpeg stuck on an input that never comes (a FIFO nobody writes): the engine gives up
//!   at its decode timeout, or at once when cancelled, and leaves no ffmpeg behind.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use common::{Env, ffmpeg_make};
use gpu_worker::transcribe::models::Registry;
use gpu_worker::transcribe::{Engine, Limits, TranscribeOptions};
use job_spec::worker::{InputUrl, OutputTarget, TranscribeTask};
use job_spec::{Progress, Task, WorkerError, WorkerJob, WorkerOutput};
use tokio_util::sync::CancellationToken;

/// One test at a time: two cores, one model, and they measure this process.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn models_dir() -> PathBuf {
    let cache = std::env::var_os("API_GPU_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/api-gpu"));
    let dir = cache.join("models");
    assert!(dir.join("tiny.en/.complete").is_file(), "Whisper tiny.en is missing from {}: run scripts/models.sh", dir.display());
    dir
}

/// One engine for the binary, as one worker process has: tiny.en stays loaded.
fn engine() -> Arc<Engine> {
    static ENGINE: OnceLock<Arc<Engine>> = OnceLock::new();
    ENGINE.get_or_init(|| Arc::new(Engine::new(Registry::new(Some(&models_dir()), None, Some("tiny.en".into())), "ffmpeg".into()))).clone()
}

/// An executor with `max_media_secs` and the shared engine.
async fn env(max_media_secs: f64) -> Env {
    let mut e = common::env_with(|c| gpu_worker::config::Config { max_media_secs, ..c }).await;
    e.exec.transcriber = engine();
    e
}

fn task(enable_vad: bool) -> TranscribeTask {
    TranscribeTask { model: None, language: None, enable_vad, beam_size: 5, temperature: 0.0 }
}

fn job(e: &Env, input: &str, t: TranscribeTask) -> WorkerJob {
    WorkerJob {
        progress_url: None,
        job_id: "hostile-transcribe".into(),
        attempt: 1,
        inputs: vec![InputUrl { name: "audio".into(), url: e.storage.url(input) }],
        outputs: TranscribeTask::OUTPUTS
            .iter()
            .map(|(name, file)| OutputTarget {
                name: (*name).into(),
                key: format!("subs/{file}"),
                put_url: e.storage.url(&format!("out/{file}")),
                content_type: job_spec::media::content_type_for(file).into(),
            })
            .collect(),
        task: Task::Transcribe(t),
    }
}

async fn run(e: &Env, input: &str, t: TranscribeTask) -> Result<WorkerOutput, WorkerError> {
    e.exec.execute(&job(e, input, t), Arc::new(|_| {}), &CancellationToken::new()).await.map_err(|e| e.to_worker_error())
}

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let v = status.lines().find_map(|l| l.strip_prefix(field)).unwrap().trim().trim_end_matches("kB").trim();
    v.parse().unwrap()
}

/// Resets this process's peak resident memory (`VmHWM`) to its current one; returns that.
fn reset_peak_rss() -> u64 {
    std::fs::write("/proc/self/clear_refs", "5").expect("clear_refs resets VmHWM (Linux ≥ 4.0)");
    status_kib("VmRSS:") * 1024
}

fn peak_rss() -> u64 {
    status_kib("VmHWM:") * 1024
}

/// CPU seconds this process has used (user + system), from `/proc/self/stat`.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    // After the command name: state is field 3, utime 14 and stime 15 (1-based in proc(5)).
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    ticks as f64 / 100.0
}

impl Env {
    fn silence(&self) {
        self.storage
            .put("silence.wav", ffmpeg_make(self.dir.path(), "silence.wav", &["-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", "5"]));
    }
}

/// A FLAC of `secs` of 8 kHz silence (a few hundred KB for half an hour), and the same
/// bytes with STREAMINFO's total-samples field (36 bits, ending byte 26) set to 10 s, so
/// ffprobe reports 10 s while ffmpeg decodes all of it.
fn long_flac(e: &Env, secs: u32) -> (Vec<u8>, Vec<u8>) {
    let secs = secs.to_string();
    let honest = ffmpeg_make(e.dir.path(), "long.flac", &["-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono", "-t", &secs, "-c:a", "flac"]);
    assert_eq!(&honest[..4], b"fLaC");
    let mut lying = honest.clone();
    let packed = u64::from_be_bytes(lying[18..26].try_into().unwrap());
    let patched = (packed >> 36 << 36) | 80_000;
    lying[18..26].copy_from_slice(&patched.to_be_bytes());
    let claimed = common::duration(&common::ffprobe_bytes(e.dir.path(), "lying.probe", &lying));
    assert!((claimed - 10.0).abs() < 0.01, "ffprobe believes the header: {claimed} s");
    (honest, lying)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audio_past_the_limit_is_refused_while_it_decodes() {
    let _g = SERIAL.lock().await;
    let e = env(60.0).await;
    e.silence();
    // The model is loaded (and the process's memory settled) before measuring.
    run(&e, "silence.wav", task(true)).await.unwrap();

    let (honest, lying) = long_flac(&e, 1800);
    e.storage.put("honest.flac", honest);
    e.storage.put("lying.flac", lying);
    for vad in [true, false] {
        let before = reset_peak_rss();
        let clock = Instant::now();
        let r = run(&e, "lying.flac", task(vad)).await;
        let (took, grew) = (clock.elapsed(), peak_rss().saturating_sub(before));
        eprintln!("vad {vad}: {took:?}, peak RSS +{} MB: {:?}", grew >> 20, r.as_ref().map(|o| &o.extras["duration"]));
        let err = r.expect_err("30 min of audio under a 60 s limit");
        assert_eq!((err.code.as_str(), err.retryable), ("input-duration-out-of-range", false), "{err:?}");
        assert!(err.message.contains("`audio`") && err.message.contains("MAX_MEDIA_SECONDS"), "{}", err.message);
        assert!(took < Duration::from_secs(20), "took {took:?}");
        // 60 s of 16 kHz f32 is 3.8 MB; the whole 30 min would be 115 MB per copy.
        assert!(grew < 40 << 20, "peak RSS grew by {grew} bytes");
        assert!(common::ffmpeg_children().is_empty(), "ffmpeg was stopped");
    }
    // Its true header is refused from the probe, before any decoding.
    let err = run(&e, "honest.flac", task(true)).await.expect_err("a 30 min claim");
    assert_eq!((err.code.as_str(), err.retryable), ("input-duration-out-of-range", false), "{err:?}");
    // And the worker keeps working.
    assert_eq!(run(&e, "silence.wav", task(false)).await.unwrap().extras["duration"], 5.0);
}

/// Half an hour within the limit: with `enable_vad` the first decode keeps only the gate's
/// levels and the second only the speech (here none: the first 30 s, for the language),
/// so memory does not grow by even one copy of the samples (115 MB here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_input_is_not_held_in_memory() {
    let _g = SERIAL.lock().await;
    let e = env(job_spec::limits::MAX_MEDIA_SECONDS).await;
    e.silence();
    run(&e, "silence.wav", task(true)).await.unwrap();
    let (honest, _) = long_flac(&e, 1800);
    e.storage.put("long.flac", honest);
    let before = reset_peak_rss();
    let out = run(&e, "long.flac", task(true)).await.unwrap();
    let grew = peak_rss().saturating_sub(before);
    eprintln!("30 min with VAD: peak RSS +{} MB, {}", grew >> 20, out.extras["stats"]);
    assert_eq!(out.extras["duration"], 1800.0);
    assert_eq!(out.extras["stats"]["vad_speech_seconds"], 0.0);
    assert!(grew < 40 << 20, "peak RSS grew by {grew} bytes");
}

const PARAGRAPH: &str = "Please send the report to the office before noon. We will meet again on Monday morning at the \
    station. Rain is expected later this week in the northern hills. She bought three apples and a loaf of fresh bread.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_transcription_stops_before_its_slot_is_free() {
    let _g = SERIAL.lock().await;
    let e = env(job_spec::limits::MAX_MEDIA_SECONDS).await;
    e.silence();
    run(&e, "silence.wav", task(false)).await.unwrap();
    // About 4 min of speech: espeak-ng's paragraph, looped.
    let wav = e.dir.path().join("paragraph.wav");
    let st = std::process::Command::new("espeak-ng").args(["-v", "en", "-s", "150", "-w"]).arg(&wav).arg(PARAGRAPH).status().unwrap();
    assert!(st.success(), "espeak-ng (make setup installs it)");
    // AAC, which ffmpeg decodes: the in-process formats (WAV, FLAC, MP3, Ogg Vorbis) decode
    // 4 min in a fraction of a second, too fast to cancel in the middle (their cancel is
    // tests/audio_decode.rs's), and this test watches ffmpeg.
    let m4a = ffmpeg_make(e.dir.path(), "speech.m4a", &["-stream_loop", "20", "-i", wav.to_str().unwrap(), "-c:a", "aac"]);
    let length = common::duration(&common::ffprobe_bytes(e.dir.path(), "speech.probe", &m4a));
    assert!(length > 200.0, "{length}");
    e.storage.put("speech.m4a", m4a);

    // Cancelled while the model works through its windows (ffmpeg has finished), and
    // while ffmpeg's output is still being read.
    for (vad, in_windows) in [(false, true), (true, false), (true, true)] {
        let cancel = CancellationToken::new();
        let transcribing = Arc::new(AtomicBool::new(false));
        let seen = transcribing.clone();
        let progress = Arc::new(move |p: Progress| {
            if p.stage == "transcribe" {
                seen.store(true, Ordering::SeqCst);
            }
        });
        // Greedy: a window is one CTranslate2 call that cannot be stopped half-way, and on
        // two cores one with a 5-wide beam takes ~12 s.
        let j = job(&e, "speech.m4a", TranscribeTask { beam_size: 1, ..task(vad) });
        let canceller = {
            let (cancel, transcribing) = (cancel.clone(), transcribing.clone());
            async move {
                let tick = Duration::from_millis(20);
                // Started: the transcribe stage reported, ffmpeg decoding.
                while !transcribing.load(Ordering::SeqCst) || common::ffmpeg_children().is_empty() {
                    tokio::time::sleep(tick).await;
                }
                if in_windows {
                    // ffmpeg gone for half a second: the audio is decoded, the model at work.
                    let mut quiet = Instant::now();
                    while quiet.elapsed() < Duration::from_millis(500) {
                        if !common::ffmpeg_children().is_empty() {
                            quiet = Instant::now();
                        }
                        tokio::time::sleep(tick).await;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                cancel.cancel();
                Instant::now()
            }
        };
        let (r, cancelled_at) = tokio::join!(e.exec.execute(&j, progress, &cancel), canceller);
        let answered = cancelled_at.elapsed();
        let err = r.map(|o| o.extras).expect_err("cancelled").to_worker_error();
        assert_eq!(err.code, "cancelled", "{err:?}");
        eprintln!("vad {vad}, in windows {in_windows}: answered {answered:?} after the cancel");
        // Within one window's work (tiny.en, greedy, in a debug build on two busy cores:
        // 10 to 15 s; all 4 min would take ~100 s).
        assert!(answered < Duration::from_secs(45), "answered {answered:?} after the cancel");
        // The work has stopped: no ffmpeg, and the process idles (a decode still running
        // would keep a core busy).
        assert!(common::ffmpeg_children().is_empty(), "no ffmpeg left");
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (cpu, clock) = (cpu_seconds(), Instant::now());
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let busy = (cpu_seconds() - cpu) / clock.elapsed().as_secs_f64();
        eprintln!("vad {vad}: {busy:.2} cores busy after the job returned");
        assert!(busy < 0.25, "{busy:.2} cores still busy after the job returned cancelled");
    }
    // The next job runs at once, on the same model.
    let clock = Instant::now();
    let out = run(&e, "silence.wav", task(false)).await.unwrap();
    assert_eq!(out.extras["stats"]["load_model_ms"], 0);
    assert!(clock.elapsed() < Duration::from_secs(10), "{:?}", clock.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_decode_times_out_or_is_cancelled() {
    let _g = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("never.wav");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let transcribe = |limits: Limits| {
        let fifo = fifo.clone();
        tokio::task::spawn_blocking(move || {
            let clock = Instant::now();
            let r = engine().transcribe(&fifo, &TranscribeOptions::default(), &limits);
            (r.map(|(t, _)| t).expect_err("nothing to decode"), clock.elapsed())
        })
    };
    let timeout = Limits { decode_timeout: Duration::from_secs(1), ..Limits::default() };
    let (err, took) = transcribe(timeout).await.unwrap();
    assert_eq!(err.code, "transcribe-failed", "{err:?}");
    assert!(err.message.contains("FFMPEG_TIMEOUT_SECS"), "{}", err.message);
    assert!(took >= Duration::from_secs(1) && took < Duration::from_secs(5), "{took:?}");
    assert!(common::ffmpeg_children().is_empty(), "ffmpeg was killed and reaped");

    let limits = Limits::default();
    let cancel = limits.cancel.clone();
    let run = transcribe(limits);
    // ffmpeg is blocked opening the FIFO when the job is cancelled.
    while common::ffmpeg_children().is_empty() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cancel.cancel();
    let clock = Instant::now();
    let (err, _) = run.await.unwrap();
    assert_eq!(err.code, "cancelled", "{err:?}");
    assert!(clock.elapsed() < Duration::from_secs(2), "{:?}", clock.elapsed());
    assert!(common::ffmpeg_children().is_empty(), "ffmpeg was killed and reaped");
}
