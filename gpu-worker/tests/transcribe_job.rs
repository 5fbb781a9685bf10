//! `/audio/transcribe` as a worker job, through `Executor::execute`: espeak-ng speech
//! served by an in-process storage server, the real Whisper tiny.en model
//! (`scripts/models.sh` puts it in `$API_GPU_CACHE/models`; `make setup` runs it), the
//! four files uploaded through PUT URLs and read back the way a user would use them.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use common::{Env, ffmpeg_make};
use gpu_worker::transcribe::Engine;
use gpu_worker::transcribe::models::{ComputeType, Registry};
use job_spec::captions;
use job_spec::worker::{InputUrl, OutputTarget, TranscribeTask};
use job_spec::{Progress, Task, WorkerError, WorkerJob, WorkerOutput};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// One test at a time: two cores, one model.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn models_dir() -> PathBuf {
    let cache = std::env::var_os("API_GPU_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/api-gpu"));
    let dir = cache.join("models");
    assert!(
        dir.join("tiny.en/.complete").is_file(),
        "Whisper tiny.en is missing from {}: run scripts/models.sh (make setup installs it)",
        dir.display()
    );
    dir
}

/// One engine for the test binary, as one worker process has: tiny.en is the default, and
/// the seed's `large-v3` is an operator alias for it (`WHISPER_MODEL_ALIASES`).
fn engine() -> Arc<Engine> {
    static ENGINE: OnceLock<Arc<Engine>> = OnceLock::new();
    ENGINE
        .get_or_init(|| {
            let registry =
                Registry::new(Some(&models_dir()), None, Some("tiny.en".into())).with_aliases(Some("large-v3=tiny.en,medium=gone"));
            Arc::new(Engine::new(registry, "ffmpeg".into()))
        })
        .clone()
}

/// [`common::env`] with the shared engine, so the model stays warm from test to test.
async fn env() -> Env {
    let mut e = common::env().await;
    e.exec.transcriber = engine();
    e
}

fn task(model: Option<&str>) -> TranscribeTask {
    TranscribeTask { model: model.map(str::to_owned), language: None, enable_vad: true, beam_size: 5, temperature: 0.0 }
}

impl Env {
    /// Runs a transcription of the stored object `input`; returns the result and the
    /// progress stages in order (deduplicated).
    async fn run(&self, input: &str, t: TranscribeTask) -> (Result<WorkerOutput, WorkerError>, Vec<String>) {
        let job = WorkerJob {
            progress_url: None,
            job_id: "transcribe-test".into(),
            attempt: 1,
            inputs: vec![InputUrl { name: "audio".into(), url: self.storage.url(input) }],
            outputs: TranscribeTask::OUTPUTS
                .iter()
                .map(|(name, file)| OutputTarget {
                    name: (*name).into(),
                    key: format!("t/acme/subs/{file}"),
                    put_url: self.storage.url(&format!("out/{file}")),
                    content_type: job_spec::media::content_type_for(file).into(),
                })
                .collect(),
            task: Task::Transcribe(t),
        };
        let stages = Arc::new(Mutex::new(Vec::<String>::new()));
        let seen = stages.clone();
        let progress = Arc::new(move |p: Progress| {
            let mut s = seen.lock().unwrap();
            if s.last() != Some(&p.stage) {
                s.push(p.stage);
            }
        });
        let r = self.exec.execute(&job, progress, &CancellationToken::new()).await.map_err(|e| e.to_worker_error());
        assert_eq!(std::fs::read_dir(self.dir.path().join("work")).unwrap().count(), 0, "the job's work dir is removed");
        let stages = stages.lock().unwrap().clone();
        (r, stages)
    }

    fn file(&self, name: &str) -> String {
        String::from_utf8(self.storage.get(&format!("out/{name}")).unwrap_or_else(|| panic!("{name} uploaded"))).unwrap()
    }
}

/// Lower case, letters and digits only: "Fox." → "fox".
fn norm(w: &str) -> String {
    w.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

const SPEECH: &str = "Please send the report to the office before noon. We will meet again on Monday morning at the station.";

#[tokio::test(flavor = "multi_thread")]
async fn speech_becomes_the_four_files() {
    let _g = SERIAL.lock().await;
    let e = env().await;
    // espeak-ng's English, 1.5 s of silence put before it, as an MP3.
    let wav = e.dir.path().join("speech.wav");
    let st = std::process::Command::new("espeak-ng").args(["-v", "en", "-s", "150", "-w"]).arg(&wav).arg(SPEECH).status().unwrap();
    assert!(st.success(), "espeak-ng (make setup installs it)");
    let mp3 = ffmpeg_make(e.dir.path(), "speech.mp3", &["-i", wav.to_str().unwrap(), "-af", "adelay=1500:all=1", "-c:a", "libmp3lame"]);
    let length = common::duration(&common::ffprobe_bytes(e.dir.path(), "probe.mp3", &mp3));
    e.storage.put("speech.mp3", mp3);

    let (out, stages) = e.run("speech.mp3", task(None)).await;
    let out = out.unwrap();
    assert_eq!(stages, ["download", "transcribe", "write", "upload"]);
    for k in ["download", "transcribe", "write", "upload", "total"] {
        assert!(out.timings_ms.contains_key(k), "timing {k}: {:?}", out.timings_ms);
    }
    // Every output uploaded to its key with its content type.
    let mut keys: Vec<(&str, &str, &str)> =
        out.outputs.iter().map(|o| (o.name.as_str(), o.key.as_str(), o.content_type.as_str())).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            ("karaoke_ass", "t/acme/subs/karaoke.ass", "text/x-ssa"),
            ("segments_json", "t/acme/subs/segments.json", "application/json"),
            ("segments_srt", "t/acme/subs/segments.srt", "application/x-subrip"),
            ("words_json", "t/acme/subs/words.json", "application/json"),
        ]
    );
    let headers = e.storage.put_headers.lock().unwrap().clone();
    assert_eq!(headers["out/words.json"]["content-type"], "application/json");

    // words.json is what caption_style highlight reads: the words spoken, in order, timed
    // after the 1.5 s of silence and inside the audio.
    let words = captions::parse_words(&e.file("words.json")).unwrap();
    let said: Vec<String> = words.iter().map(|w| norm(&w.word)).collect();
    let expected: Vec<String> = SPEECH.split_whitespace().map(norm).collect();
    let missing: Vec<&String> = expected.iter().filter(|w| !said.contains(w)).collect();
    // tiny.en on espeak-ng: at most 2 of the 19 words may be misheard (≈ 10 %).
    assert!(missing.len() <= 2, "missing {missing:?} from {said:?}");
    for w in ["report", "office", "monday", "morning"] {
        assert!(said.contains(&w.to_owned()), "{w} in {said:?}");
    }
    assert!(words[0].start >= 1.2, "first word at {} s, after the 1.5 s pause", words[0].start);
    assert!(words.windows(2).all(|p| p[0].start <= p[1].start && p[0].end <= p[1].start + 0.01), "monotonic: {words:?}");
    assert!(words.iter().all(|w| w.end >= w.start && w.end <= length + 0.05), "inside {length} s: {words:?}");
    let raw: Value = serde_json::from_str(&e.file("words.json")).unwrap();
    let first = &raw["words"][0];
    assert!(first["probability"].as_f64().is_some_and(|p| (0.0..=1.0).contains(&p)), "{first}");
    assert_eq!(first["word"].as_str().unwrap(), first["word"].as_str().unwrap().trim(), "trimmed");

    // The SRT parses, and its cues hold the same words.
    let cues = captions::parse_srt(&e.file("segments.srt")).unwrap();
    assert!(cues[0].start >= 1.0, "{cues:?}");
    let srt_words: Vec<String> = cues.iter().flat_map(|c| c.text.split_whitespace().map(norm).collect::<Vec<_>>()).collect();
    assert_eq!(srt_words, said, "the SRT says what words.json says");

    // segments.json: the same cues, with the decoder's scores.
    let segments: Value = serde_json::from_str(&e.file("segments.json")).unwrap();
    let segments = segments.as_array().unwrap();
    assert_eq!(segments.len(), cues.len());
    for (i, s) in segments.iter().enumerate() {
        assert_eq!(s["id"], i + 1);
        assert_eq!(s["text"].as_str().unwrap(), cues[i].text);
        assert!(s["avg_logprob"].as_f64().unwrap() <= 0.0, "{s}");
        assert!((0.0..=1.0).contains(&s["no_speech_prob"].as_f64().unwrap()), "{s}");
    }

    // karaoke.ass: a script libass reads, one event per highlighted word.
    let ass = e.file("karaoke.ass");
    assert!(ass.starts_with("[Script Info]") && ass.contains("PlayResY: 1080"), "{ass}");
    let events: Vec<&str> = ass.lines().filter(|l| l.starts_with("Dialogue:")).collect();
    assert!(!events.is_empty() && events.len() <= words.len(), "{} events for {} words", events.len(), words.len());
    assert!(events.iter().all(|l| l.contains("{\\c&H0000FFFF}")), "each event highlights its word");

    // The result's facts.
    assert_eq!(out.extras["language"], "en");
    assert_eq!(out.extras["language_probability"], 1.0, "tiny.en: English, not detected");
    let text = out.extras["transcription"].as_str().unwrap();
    assert_eq!(text.split_whitespace().map(norm).collect::<Vec<_>>(), said);
    assert!((out.extras["duration"].as_f64().unwrap() - length).abs() < 0.1, "{} vs {length}", out.extras["duration"]);
    let stats = &out.extras["stats"];
    assert_eq!(stats["model"], "tiny.en");
    assert_eq!(stats["requested_model"], "tiny.en", "the default model ran: {stats}");
    assert!(stats["engine"].as_str().unwrap().contains("CTranslate2"), "{stats}");
    assert_eq!(stats["compute_type"], "float32", "a CPU worker's default: {stats}");
    assert_eq!(stats["words"].as_u64().unwrap() as usize, words.len());
    assert!(stats["real_time_factor"].as_f64().unwrap() > 0.0, "{stats}");
    assert_eq!(stats["audio_decoder"], "symphonia", "an MP3 is decoded in-process: {stats}");

    // The model stays loaded for the next job of this worker: 5 s of silence now, which
    // also shows empty files are written and uploaded as such.
    e.make_silence();
    let (out, _) = e.run("silence.wav", task(Some("tiny.en"))).await;
    let out = out.unwrap();
    assert_eq!(out.extras["stats"]["load_model_ms"], 0, "warm model: {}", out.extras["stats"]);
    assert_eq!(out.extras["transcription"], "");
    // The seed's model name runs on the model its alias names, and the result says both.
    let (aliased, _) = e.run("silence.wav", task(Some("large-v3"))).await;
    let stats = &aliased.unwrap().extras["stats"];
    assert_eq!((stats["model"].as_str(), stats["requested_model"].as_str()), (Some("tiny.en"), Some("large-v3")), "{stats}");
    assert_eq!(e.file("words.json"), r#"{"words":[]}"#);
    assert_eq!(e.file("segments.srt"), "");
    assert_eq!(e.file("segments.json"), "[]");
    assert!(!e.file("karaoke.ass").contains("Dialogue:"));
    assert_eq!(out.outputs.iter().find(|o| o.name == "segments_srt").unwrap().bytes, 0);
}

impl Env {
    fn make_silence(&self) {
        let bytes = ffmpeg_make(self.dir.path(), "silence.wav", &["-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", "5"]);
        self.storage.put("silence.wav", bytes);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_fail_with_stable_codes() {
    let _g = SERIAL.lock().await;
    let e = env().await;
    e.make_silence();
    // A model the worker does not have: refused before anything is downloaded, not retried.
    let (r, stages) = e.run("silence.wav", task(Some("large-v9"))).await;
    let err = r.unwrap_err();
    assert_eq!((err.code.as_str(), err.retryable), ("unknown-model", false), "{err:?}");
    assert!(err.message.contains("tiny.en"), "names the models it has: {}", err.message);
    assert!(stages.is_empty(), "{stages:?}");
    // An alias whose model this worker does not carry is no model either.
    let err = e.run("silence.wav", task(Some("medium"))).await.0.unwrap_err();
    assert_eq!(err.code, "unknown-model", "{err:?}");
    // Not media at all.
    e.storage.put("notes.txt", b"hello, I am text".to_vec());
    let err = e.run("notes.txt", task(None)).await.0.unwrap_err();
    assert_eq!((err.code.as_str(), err.retryable), ("input-not-media", false), "{err:?}");
    // A picture: media, but no audio to transcribe.
    e.storage.put("still.png", common::still(e.dir.path(), "still.png", "64x64"));
    let err = e.run("still.png", task(None)).await.0.unwrap_err();
    assert_eq!((err.code.as_str(), err.retryable), ("input-missing-stream", false), "{err:?}");
    // A task the validator would have refused.
    let err = e.run("silence.wav", TranscribeTask { beam_size: 0, ..task(None) }).await.0.unwrap_err();
    assert_eq!(err.code, "invalid-task");
    assert!(e.storage.get("out/words.json").is_none(), "no failed job uploaded anything");
}

/// `WHISPER_COMPUTE_TYPE=int8`: the worker transcribes in 8-bit weights, as accurately, and
/// `stats.compute_type` says so.
#[tokio::test(flavor = "multi_thread")]
async fn int8_worker_says_what_ran() {
    let _g = SERIAL.lock().await;
    let mut e = common::env().await;
    e.exec.transcriber = Arc::new(
        Engine::new(Registry::new(Some(&models_dir()), None, Some("tiny.en".into())), "ffmpeg".into()).with_compute_type(ComputeType::Int8),
    );
    let wav = e.dir.path().join("speech.wav");
    let st = std::process::Command::new("espeak-ng").args(["-v", "en", "-s", "150", "-w"]).arg(&wav).arg(SPEECH).status().unwrap();
    assert!(st.success(), "espeak-ng (make setup installs it)");
    e.storage.put("speech.wav", std::fs::read(&wav).unwrap());
    let out = e.run("speech.wav", task(None)).await.0.unwrap();
    let stats = &out.extras["stats"];
    assert_eq!(stats["compute_type"], "int8", "{stats}");
    let said: Vec<String> = out.extras["transcription"].as_str().unwrap().split_whitespace().map(norm).collect();
    let missing: Vec<String> = SPEECH.split_whitespace().map(norm).filter(|w| !said.contains(w)).collect();
    assert!(missing.len() <= 2, "missing {missing:?} from {said:?}");
}

/// A compute type the build cannot run, or a batch size out of range, stops the worker at
/// start, with the choices.
#[test]
fn bad_whisper_settings_stop_the_worker_at_start() {
    let work = tempfile::tempdir().unwrap();
    let mut cases = vec![
        ("WHISPER_COMPUTE_TYPE", "fp32", "WHISPER_COMPUTE_TYPE=\"fp32\" is not a compute type"),
        ("WHISPER_BATCH_SIZE", "65", "WHISPER_BATCH_SIZE=65 is more windows than one call should hold; use 0 or 1 (sequential) up to 64"),
        ("WHISPER_BATCH_SIZE", "eight", "WHISPER_BATCH_SIZE=\"eight\" is not a whole number"),
    ];
    if !cfg!(feature = "cuda") {
        // CTranslate2 has no float16 kernels for CPUs: refused at start, not at the first job.
        cases.push((
            "WHISPER_COMPUTE_TYPE",
            "float16",
            "WHISPER_COMPUTE_TYPE=\"float16\" is not a compute type a CPU build runs; use one of float32, int8, int8_float32",
        ));
    }
    for (var, value, says) in cases {
        let started = std::time::Instant::now();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_gpu-worker"))
            .args(["serve", "--port", "0"])
            .env("WORK_DIR", work.path())
            .env("ENCODER", "libx264")
            .env(var, value)
            .env_remove("RUNPOD_WEBHOOK_GET_JOB")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // A worker that took the setting would serve until killed.
        let code = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status.code();
            }
            if started.elapsed() > std::time::Duration::from_secs(20) {
                child.kill().unwrap();
                child.wait().unwrap();
                break None;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        assert_eq!(code, Some(1), "exits at start, not serving: {stderr}");
        assert!(stderr.contains(says), "{stderr}");
    }
}
