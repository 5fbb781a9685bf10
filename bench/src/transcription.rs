//! The transcription section: ours (`gpu_worker::transcribe::Engine`, in this process)
//! against faster-whisper 1.2.1 (PyPI, in a venv of the bench's own) on the same audio and
//! model, as issue 15 measured them: tiny.en, beam 5, word timestamps, language forced to
//! "en", no VAD for sequential runs, the model warm.
//!
//! - Clips ([`build_clip`]): espeak-ng reads [`SENTENCES`] one by one (each cached as 16 kHz
//!   mono samples), joined with [`PAUSE_S`] of silence and padded to exactly 48 s and 600 s
//!   (the long clip cycles the list), 16-bit WAV, plus the script read, for WER.
//! - Ours: wall and CPU of this process (`RUSAGE_SELF`: every engine thread, and the
//!   decoding of these WAV clips, in-process) plus any ffmpeg that decodes the audio
//!   (`RUSAGE_CHILDREN`, reaped inside the call; none for WAV), float32 and int8.
//! - faster-whisper: `bench/faster_whisper_run.py` in `bench/out/fw-venv` (made here with
//!   `python3 -m venv` and `pip install faster-whisper==1.2.1`, once); it loads the model,
//!   warms up, and prints wall, CPU (`process_time`) and text per timed run. Sequential,
//!   and on the long clip `BatchedInferencePipeline` (batch 8; it always applies Silero VAD).
//! - WER against the script (lower-case, punctuation stripped, word-level Levenshtein).
//!
//! The 48 s clip: a warm-up, then the median (by wall) of 3 runs (1 with `--quick`). The
//! 10-minute clip (skipped with `--quick`): a warm-up on the 48 s clip, then one run. Each
//! row's ratio is faster-whisper float32 sequential's wall over the row's (> 1: faster).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};
use gpu_worker::transcribe::accuracy::wer;
use gpu_worker::transcribe::models::{ComputeType, Registry};
use gpu_worker::transcribe::{Engine, Limits, TranscribeOptions};
use nix::sys::resource::UsageWho;
use serde::Deserialize;

use crate::Ctx;
use crate::measure::cpu_s;
use crate::report::target;

/// The model both sides run (`scripts/models.sh` installs it).
const MODEL: &str = "tiny.en";
/// faster-whisper's version, pinned in the venv.
const FASTER_WHISPER: &str = "faster-whisper==1.2.1";
/// Silence between sentences, seconds.
const PAUSE_S: f64 = 1.2;
const RATE: usize = 16_000;
/// espeak-ng's voice and words per minute.
const VOICE: [&str; 4] = ["-v", "en-us", "-s", "150"];
/// faster-whisper's batch size for `BatchedInferencePipeline`.
const BATCH: usize = 8;

/// The script, read in order (the 10-minute clip cycles it). Words only (no digits, which
/// Whisper writes as numerals), few names, sentences of varied length and rhythm.
const SENTENCES: [&str; 40] = [
    "The quick brown fox jumps over the lazy dog.",
    "Please remember to bring an umbrella, because the forecast says it will rain this afternoon.",
    "She opened the window and listened to the birds singing in the garden.",
    "Our train was delayed for almost an hour, so we missed the beginning of the concert.",
    "Fresh bread smells wonderful early in the morning.",
    "The committee will meet again next week to discuss the new budget.",
    "He painted the old fence white and planted roses along the path.",
    "Could you tell me where the nearest library is?",
    "Scientists have discovered a new species of frog in the rainforest.",
    "The children built a castle of sand and waited for the tide to come in.",
    "After dinner we walked along the river and watched the sun go down.",
    "This recipe needs flour, butter, sugar and a pinch of salt.",
    "The museum is closed on Mondays but open late on Friday evenings.",
    "A strong wind blew the leaves across the empty playground.",
    "My grandmother tells the best stories about her childhood on the farm.",
    "The engineers tested the bridge carefully before it opened to traffic.",
    "Turn left at the second corner and keep walking until you see the bakery.",
    "Learning a musical instrument takes patience and a lot of practice.",
    "The little boat drifted slowly toward the harbour.",
    "Everyone agreed that the meeting had gone better than expected.",
    "The doctor advised him to drink more water and sleep longer.",
    "Snow covered the mountains, and the valley below was silent.",
    "We need to finish the report before the end of the month.",
    "The cat jumped onto the table and knocked over a glass of milk.",
    "Reading before bed helps many people relax and fall asleep.",
    "The market was full of colourful fruit, fresh fish and loud voices.",
    "Our neighbours are moving to a small town near the coast.",
    "The teacher asked the students to write a short essay about their summer.",
    "Thunder rolled in the distance as the storm approached the city.",
    "Good software is simple to use and easy to change.",
    "The farmer woke up before sunrise to feed the animals.",
    "They decided to repaint the kitchen a warm shade of yellow.",
    "Traffic was light on the highway, so the journey took less time than usual.",
    "The orchestra played beautifully, and the audience stood up to applaud.",
    "Please switch off the lights when you leave the room.",
    "A gentle breeze carried the scent of pine trees through the valley.",
    "The lecture explained how volcanoes form deep beneath the ocean.",
    "We spent the whole weekend cleaning the garage and sorting old boxes.",
    "The new bridge connects the island to the mainland.",
    "At the end of the day, what matters most is how we treat each other.",
];

/// One spoken clip and the words read in it.
#[derive(Debug, Clone)]
pub struct Clip {
    pub name: &'static str,
    pub wav: PathBuf,
    pub script: String,
    pub seconds: f64,
    pub sentences: usize,
}

/// What the section needs before anything is timed.
#[derive(Debug)]
pub struct Prepared {
    model: PathBuf,
    python: PathBuf,
    short: Clip,
    long: Option<Clip>,
}

/// Checks the model, makes the clips and faster-whisper's venv (both reused when there).
pub fn prepare(work: &Path, quick: bool) -> anyhow::Result<Prepared> {
    let registry = Registry::from_env();
    let model = registry.models.get(MODEL).cloned().with_context(|| {
        format!("Whisper model {MODEL} not found (WHISPER_MODELS_DIR, else $API_GPU_CACHE/models): run scripts/models.sh")
    })?;
    let dir = work.join("inputs").join("speech");
    std::fs::create_dir_all(&dir)?;
    let short = build_clip(&dir, "48 s", 48.0)?;
    let long = if quick { None } else { Some(build_clip(&dir, "10 min", 600.0)?) };
    let python = venv(&work.join("fw-venv"))?;
    Ok(Prepared { model, python, short, long })
}

/// faster-whisper's venv: made with `python3 -m venv` (`PYTHON` overrides `python3`) and
/// `pip install faster-whisper==1.2.1`, unless its marker says it holds that already.
/// Returns its python.
fn venv(dir: &Path) -> anyhow::Result<PathBuf> {
    let python = dir.join("bin/python");
    let marker = dir.join(".bench-installed");
    if std::fs::read_to_string(&marker).is_ok_and(|m| m.trim() == FASTER_WHISPER) && python.exists() {
        return Ok(python);
    }
    eprintln!("installing {FASTER_WHISPER} into {} (once)", dir.display());
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    let system = std::env::var("PYTHON").ok().filter(|p| !p.is_empty()).unwrap_or_else(|| "python3".into());
    run(Command::new(&system).args(["-m", "venv"]).arg(dir))
        .with_context(|| format!("{system} -m venv (Debian: apt-get install python3-venv)"))?;
    run(Command::new(&python).args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", FASTER_WHISPER]))
        .with_context(|| format!("pip install {FASTER_WHISPER} into {}", dir.display()))?;
    std::fs::write(&marker, FASTER_WHISPER)?;
    Ok(python)
}

/// Runs a preparation command; its output is kept only for the error.
fn run(cmd: &mut Command) -> anyhow::Result<Vec<u8>> {
    let out = cmd.stdin(Stdio::null()).output().with_context(|| format!("starting {:?}", cmd.get_program()))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(15).collect();
        bail!("{:?} failed ({}):\n{}", cmd.get_program(), out.status, tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
    }
    Ok(out.stdout)
}

/// The samples of one sentence, 16 kHz mono: espeak-ng, resampled by ffmpeg, cached in `dir`
/// under a name from the text and voice.
fn speak(dir: &Path, sentence: &str) -> anyhow::Result<Vec<i16>> {
    let key = fnv1a(format!("{VOICE:?}{sentence}").as_bytes());
    let cached = dir.join(format!("sentence-{key:016x}.s16"));
    if !cached.exists() {
        let wav = dir.join(format!("sentence-{key:016x}.espeak.wav"));
        run(Command::new("espeak-ng").args(VOICE).arg("-w").arg(&wav).arg(sentence)).context("espeak-ng")?;
        let tmp = cached.with_extension("tmp");
        run(Command::new("ffmpeg")
            .args(["-hide_banner", "-nostdin", "-y", "-i"])
            .arg(&wav)
            .args(["-ar", "16000", "-ac", "1", "-f", "s16le", "-c:a", "pcm_s16le"])
            .arg(&tmp))?;
        std::fs::rename(&tmp, &cached)?;
        std::fs::remove_file(&wav)?;
    }
    let bytes = std::fs::read(&cached)?;
    Ok(bytes.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect())
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// A clip of exactly `seconds`: sentences from the start of [`SENTENCES`] (cycling), each
/// followed by [`PAUSE_S`] of silence, as many as fit, then silence to the end.
fn build_clip(dir: &Path, name: &'static str, seconds: f64) -> anyhow::Result<Clip> {
    let total = (seconds * RATE as f64).round() as usize;
    let pause = (PAUSE_S * RATE as f64).round() as usize;
    let (mut samples, mut script) = (Vec::with_capacity(total), Vec::new());
    for sentence in SENTENCES.iter().cycle() {
        let speech = speak(dir, sentence)?;
        anyhow::ensure!(!speech.is_empty(), "espeak-ng said nothing for {sentence:?}");
        if samples.len() + speech.len() > total {
            break;
        }
        samples.extend(speech);
        samples.resize((samples.len() + pause).min(total), 0);
        script.push(*sentence);
    }
    samples.resize(total, 0);
    let tag = fnv1a(script.join("\n").as_bytes());
    let wav = dir.join(format!("clip-{}s-{tag:016x}.wav", seconds.round()));
    if !wav.exists() {
        std::fs::write(&wav, wav_bytes(&samples))?;
    }
    Ok(Clip { name, wav, script: script.join(" "), seconds: total as f64 / RATE as f64, sentences: script.len() })
}

/// 16-bit mono PCM WAV at [`RATE`].
fn wav_bytes(samples: &[i16]) -> Vec<u8> {
    let data = u32::try_from(samples.len() * 2).unwrap_or(u32::MAX);
    let mut b = Vec::with_capacity(44 + samples.len() * 2);
    b.extend(b"RIFF");
    b.extend((36 + data).to_le_bytes());
    b.extend(b"WAVEfmt ");
    b.extend(16u32.to_le_bytes());
    b.extend(1u16.to_le_bytes()); // PCM
    b.extend(1u16.to_le_bytes()); // mono
    b.extend((RATE as u32).to_le_bytes());
    b.extend((RATE as u32 * 2).to_le_bytes());
    b.extend(2u16.to_le_bytes());
    b.extend(16u16.to_le_bytes());
    b.extend(b"data");
    b.extend(data.to_le_bytes());
    for s in samples {
        b.extend(s.to_le_bytes());
    }
    b
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Ours,
    FasterWhisper,
}

impl Side {
    const fn name(self) -> &'static str {
        match self {
            Side::Ours => "ours",
            Side::FasterWhisper => "faster-whisper",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Sequential,
    Batched,
}

impl Mode {
    const fn name(self) -> &'static str {
        match self {
            Mode::Sequential => "sequential",
            Mode::Batched => "batched",
        }
    }
}

/// One timed transcription.
#[derive(Debug, Clone, PartialEq)]
struct Timed {
    wall_s: f64,
    cpu_s: f64,
    text: String,
    words: usize,
}

/// One row: what ran, and its median run (`None`: not available, shown as "—").
#[derive(Debug, Clone)]
struct Row {
    clip: &'static str,
    audio_s: f64,
    side: Side,
    compute: ComputeType,
    mode: Mode,
    result: Option<(Timed, f64)>,
}

impl Row {
    fn wall(&self) -> Option<f64> {
        self.result.as_ref().map(|(t, _)| t.wall_s)
    }
}

/// The rows and the notes of one section run.
#[derive(Debug, Default)]
struct Section {
    rows: Vec<Row>,
    notes: Vec<String>,
}

impl Section {
    fn find(&self, clip: &str, side: Side, compute: ComputeType, mode: Mode) -> Option<&Row> {
        self.rows.iter().find(|r| r.clip == clip && r.side == side && r.compute == compute && r.mode == mode)
    }

    /// faster-whisper float32 sequential's wall on `clip` over `wall`.
    fn ratio(&self, clip: &str, wall: Option<f64>) -> Option<f64> {
        let base = self.find(clip, Side::FasterWhisper, ComputeType::Float32, Mode::Sequential)?.wall()?;
        wall.filter(|w| *w > 0.0).map(|w| base / w)
    }

    fn render(&self) -> String {
        let mut s = String::from(
            "| clip | engine | compute | mode | wall s | CPU s | RTF | WER | ×faster-whisper float32 sequential |\n\
             |---|---|---|---|---:|---:|---:|---:|---:|\n",
        );
        for r in &self.rows {
            let engine = if r.side == Side::Ours { "**ours**" } else { r.side.name() };
            let mode = if r.mode == Mode::Batched { format!("batched ({BATCH})") } else { r.mode.name().to_owned() };
            let nums = match &r.result {
                Some((t, wer)) => format!(
                    "{:.2} | {:.2} | {:.3} | {wer:.3} | {}",
                    t.wall_s,
                    t.cpu_s,
                    t.wall_s / r.audio_s,
                    self.ratio(r.clip, Some(t.wall_s)).map_or("—".into(), |x| format!("{x:.2}×"))
                ),
                None => "— | — | — | — | —".into(),
            };
            let _ = writeln!(s, "| {} | {engine} | {} | {mode} | {nums} |", r.clip, r.compute);
        }
        s
    }

    fn targets(&self, short: &str, long: &str) -> Vec<String> {
        let ours = |clip: &str, compute, mode| self.find(clip, Side::Ours, compute, mode).and_then(Row::wall);
        let fw = |clip: &str, compute, mode| self.find(clip, Side::FasterWhisper, compute, mode).and_then(Row::wall);
        let times = |v: f64| format!("{v:.2}×");
        let over = |a: Option<f64>, b: Option<f64>| Some(a? / b?);
        vec![
            target(
                &format!("{short} clip, float32 sequential: faster-whisper wall / ours ≥ 1.0×"),
                self.ratio(short, ours(short, ComputeType::Float32, Mode::Sequential)),
                |v| v >= 1.0,
                times,
            ),
            target(
                &format!("{long} clip: faster-whisper float32 sequential wall / ours batched float32 ≥ 1.5×"),
                self.ratio(long, ours(long, ComputeType::Float32, Mode::Batched)),
                |v| v >= 1.5,
                times,
            ),
            format!(
                "INFO {short} clip, int8 sequential: faster-whisper / ours {}; {long} clip, float32 sequential: {}; batched \
                 float32: faster-whisper batched / ours batched {}",
                over(fw(short, ComputeType::Int8, Mode::Sequential), ours(short, ComputeType::Int8, Mode::Sequential))
                    .map_or("—".into(), times),
                self.ratio(long, ours(long, ComputeType::Float32, Mode::Sequential)).map_or("—".into(), times),
                over(fw(long, ComputeType::Float32, Mode::Batched), ours(long, ComputeType::Float32, Mode::Batched))
                    .map_or("—".into(), times),
            ),
        ]
    }
}

/// The options of the "ours batched" rows: VAD on (faster-whisper's batched pipeline always
/// cuts with its VAD too), so long audio is decoded in batches of the engine's batch size
/// (`Engine::with_batch_size`, default 8); the sequential rows run without VAD and stay
/// sequential. Measured like the others (warm-up on the 48 s clip, one run), and a timed
/// run fails unless the engine says it batched (`stats.batch_size`).
fn ours_batched(base: &TranscribeOptions) -> TranscribeOptions {
    TranscribeOptions { enable_vad: true, ..base.clone() }
}

/// Our engine on `audio`: wall, and CPU of this process and of the children reaped meanwhile
/// (an ffmpeg decoding the audio, for formats not decoded in-process). `warm`: the model
/// must have been loaded already.
fn ours_once(engine: &Engine, audio: &Path, opts: &TranscribeOptions, warm: bool) -> anyhow::Result<Timed> {
    let cpu = || -> anyhow::Result<f64> { Ok(cpu_s(UsageWho::RUSAGE_SELF)? + cpu_s(UsageWho::RUSAGE_CHILDREN)?) };
    let (started, cpu0) = (Instant::now(), cpu()?);
    let (transcript, stats) =
        engine.transcribe(audio, opts, &Limits::default()).map_err(|e| anyhow::anyhow!("ours on {}: {e}", audio.display()))?;
    let (wall_s, cpu_s) = (started.elapsed().as_secs_f64(), cpu()? - cpu0);
    anyhow::ensure!(!warm || stats.load_model_ms == 0, "ours loaded the model during a timed run ({} ms)", stats.load_model_ms);
    anyhow::ensure!(
        !warm || stats.batch_size.is_some() == opts.enable_vad,
        "ours {} on {}, VAD {}: the engine reported batch size {:?}",
        if opts.enable_vad { "batched" } else { "sequential" },
        audio.display(),
        opts.enable_vad,
        stats.batch_size
    );
    let text = transcript.segments.iter().map(|s| s.text.trim()).collect::<Vec<_>>().join(" ");
    let words = transcript.segments.iter().map(|s| s.words.len()).sum();
    Ok(Timed { wall_s, cpu_s, text, words })
}

#[derive(Debug, Deserialize)]
struct FwRun {
    wall: f64,
    cpu: f64,
    text: String,
    words: usize,
    faster_whisper: String,
    ctranslate2: String,
}

/// faster-whisper: one process, a warm-up on `warmup`, then `runs` timed runs on `audio`.
fn faster_whisper(cx: &Ctx, p: &Prepared, compute: ComputeType, mode: Mode, audio: &Path, runs: usize) -> anyhow::Result<Vec<FwRun>> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("faster_whisper_run.py");
    let mut argv = vec![p.python.display().to_string(), script.display().to_string(), "--model".into(), p.model.display().to_string()];
    argv.extend(["--compute-type".into(), compute.name().into(), "--runs".into(), runs.to_string()]);
    argv.extend(["--warmup".into(), p.short.wav.display().to_string()]);
    if mode == Mode::Batched {
        argv.extend(["--mode".into(), "batched".into(), "--batch-size".into(), BATCH.to_string()]);
    }
    argv.push(audio.display().to_string());
    let stem = audio.file_stem().map_or("audio".into(), |s| s.to_string_lossy());
    let log = cx.out.join("logs").join(format!("transcription-fw-{stem}-{}-{}.log", compute.name(), mode.name()));
    let out = run(Command::new(&argv[0]).args(&argv[1..]).stderr(std::fs::File::create(&log)?))
        .with_context(|| format!("faster-whisper ({}); log {}", crate::measure::shell_line(&argv), log.display()))?;
    let parsed = String::from_utf8_lossy(&out)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(serde_json::from_str)
        .collect::<Result<Vec<FwRun>, _>>()
        .context("faster_whisper_run.py's output")?;
    anyhow::ensure!(parsed.len() == runs, "faster_whisper_run.py printed {} runs, {runs} expected; log {}", parsed.len(), log.display());
    Ok(parsed)
}

/// The run with the median wall; every run's wall noted when there are several.
fn median(notes: &mut Vec<String>, label: &str, mut runs: Vec<Timed>) -> Timed {
    if runs.len() > 1 {
        let walls: Vec<String> = runs.iter().map(|r| format!("{:.2}", r.wall_s)).collect();
        notes.push(format!("{label}: wall s of the {} runs, in order: {} (the median is shown)", runs.len(), walls.join(", ")));
    }
    runs.sort_by(|a, b| a.wall_s.total_cmp(&b.wall_s));
    runs.swap_remove(runs.len() / 2)
}

/// Runs the section; returns its part of the report (heading, table, targets, notes).
pub fn run_section(cx: &Ctx, p: &Prepared) -> anyhow::Result<String> {
    let mut section = Section::default();
    // Beam search (temperature 0, the default) with faster-whisper's fallback, as it runs.
    let base = TranscribeOptions {
        model: Some(MODEL.into()),
        language: Some("en".into()),
        enable_vad: false,
        beam_size: 5,
        ..TranscribeOptions::default()
    };
    let registry =
        Registry { models: BTreeMap::from([(MODEL.to_owned(), p.model.clone())]), default: Some(MODEL.into()), aliases: BTreeMap::new() };
    let ffmpeg = std::env::var_os("FFMPEG_BIN").filter(|v| !v.is_empty()).unwrap_or_else(|| "ffmpeg".into());
    let computes = [ComputeType::Float32, ComputeType::Int8];
    let engines: Vec<Engine> = computes
        .iter()
        .map(|&c| Engine::new(registry.clone(), PathBuf::from(&ffmpeg)).with_compute_type(c).with_batch_size(BATCH))
        .collect();
    let texts = cx.out.join("transcription");
    std::fs::create_dir_all(&texts)?;
    let mut versions = None;

    let clips: Vec<&Clip> = std::iter::once(&p.short).chain(&p.long).collect();
    for clip in clips {
        let long = !std::ptr::eq(clip, &p.short);
        let runs = if long { 1 } else { cx.reps.max(1) };
        let add = |section: &mut Section, side: Side, compute: ComputeType, mode: Mode, runs: Vec<Timed>| -> anyhow::Result<()> {
            let label = format!("{} {} {} {}", clip.name, side.name(), compute.name(), mode.name());
            let t = median(&mut section.notes, &label, runs);
            let wer = wer(&clip.script, &t.text);
            cx.progress(&format!("{label}: {:.2} s wall, {:.2} s CPU, WER {wer:.3}", t.wall_s, t.cpu_s));
            let file: String = label.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
            std::fs::write(texts.join(format!("{file}.txt")), &t.text)?;
            section.notes.push(format!("{label}: {} words with timestamps", t.words));
            section.rows.push(Row { clip: clip.name, audio_s: clip.seconds, side, compute, mode, result: Some((t, wer)) });
            Ok(())
        };
        for (&compute, engine) in computes.iter().zip(&engines) {
            cx.progress(&format!("{}: ours {} (warm-up, then {runs})", clip.name, compute.name()));
            ours_once(engine, &p.short.wav, &base, false)?;
            let timed = (0..runs).map(|_| ours_once(engine, &clip.wav, &base, true)).collect::<anyhow::Result<Vec<_>>>()?;
            add(&mut section, Side::Ours, compute, Mode::Sequential, timed)?;

            cx.progress(&format!("{}: faster-whisper {} (load, warm-up, then {runs})", clip.name, compute.name()));
            let fw = faster_whisper(cx, p, compute, Mode::Sequential, &clip.wav, runs)?;
            versions = fw.first().map(|r| (r.faster_whisper.clone(), r.ctranslate2.clone())).or(versions);
            let timed = fw.into_iter().map(|r| Timed { wall_s: r.wall, cpu_s: r.cpu, text: r.text, words: r.words }).collect();
            add(&mut section, Side::FasterWhisper, compute, Mode::Sequential, timed)?;
        }
        if long {
            for (&compute, engine) in computes.iter().zip(&engines) {
                cx.progress(&format!("{}: faster-whisper batched {} (load, warm-up, then 1)", clip.name, compute.name()));
                let fw = faster_whisper(cx, p, compute, Mode::Batched, &clip.wav, 1)?;
                let timed = fw.into_iter().map(|r| Timed { wall_s: r.wall, cpu_s: r.cpu, text: r.text, words: r.words }).collect();
                add(&mut section, Side::FasterWhisper, compute, Mode::Batched, timed)?;
                let opts = ours_batched(&base);
                cx.progress(&format!("{}: ours batched {} (warm-up, then 1)", clip.name, compute.name()));
                ours_once(engine, &p.short.wav, &opts, false)?;
                let timed = vec![ours_once(engine, &clip.wav, &opts, true)?];
                add(&mut section, Side::Ours, compute, Mode::Batched, timed)?;
            }
        }
    }

    let mut s = String::from("\n## Transcription: ours against faster-whisper\n\n");
    let (fw_version, ct2_version) = versions.unwrap_or_default();
    let env: Vec<String> = ["OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT"]
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| format!("{k}={v}")))
        .collect();
    let _ = writeln!(
        s,
        "{MODEL} (`{}`), CPU, beam 5, word timestamps, language en, no VAD in sequential runs; model warm. faster-whisper {fw_version} \
         (ctranslate2 {ct2_version}); ours links ctranslate2 4.8.4 (the PyPI wheel's library). Threads: CTranslate2's default on \
         both sides{}. Clips: espeak-ng ({}) sentences with {PAUSE_S} s pauses — {}. RTF = wall / audio; WER against the script \
         read; the ratio is faster-whisper float32 sequential's wall over the row's (> 1: faster than it).\n",
        p.model.display(),
        if env.is_empty() { String::new() } else { format!(" ({})", env.join(", ")) },
        VOICE.join(" "),
        std::iter::once(&p.short)
            .chain(&p.long)
            .map(|c| format!("{}: {:.1} s, {} sentences", c.name, c.seconds, c.sentences))
            .collect::<Vec<_>>()
            .join("; "),
    );
    s.push_str(&section.render());
    s.push('\n');
    let long = p.long.as_ref().map_or("10 min", |c| c.name);
    for line in section.targets(p.short.name, long) {
        let _ = writeln!(s, "- {line}");
    }
    s.push('\n');
    for n in &section.notes {
        let _ = writeln!(s, "- {n}");
    }
    let _ = writeln!(s, "- transcripts: {}", texts.display());
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wav_header_describes_16_khz_mono_pcm() {
        let b = wav_bytes(&[0, 1, -1]);
        assert_eq!(b.len(), 44 + 6);
        assert_eq!(&b[..4], b"RIFF");
        assert_eq!(u32::from_le_bytes([b[4], b[5], b[6], b[7]]), 36 + 6);
        assert_eq!(u32::from_le_bytes([b[24], b[25], b[26], b[27]]), 16_000);
        assert_eq!(u32::from_le_bytes([b[40], b[41], b[42], b[43]]), 6);
        assert_eq!(&b[44..], &[0, 0, 1, 0, 0xff, 0xff]);
    }

    #[test]
    fn ratios_are_against_faster_whisper_float32_sequential_and_missing_rows_show_a_dash() {
        let t = |wall_s: f64| Some((Timed { wall_s, cpu_s: 2.0 * wall_s, text: String::new(), words: 0 }, 0.1));
        let row = |side, compute, mode, result| Row { clip: "48 s", audio_s: 48.0, side, compute, mode, result };
        let s = Section {
            rows: vec![
                row(Side::Ours, ComputeType::Float32, Mode::Sequential, t(2.0)),
                row(Side::FasterWhisper, ComputeType::Float32, Mode::Sequential, t(3.0)),
                row(Side::Ours, ComputeType::Float32, Mode::Batched, None),
            ],
            notes: vec![],
        };
        let text = s.render();
        assert!(text.contains("| 48 s | **ours** | float32 | sequential | 2.00 | 4.00 | 0.042 | 0.100 | 1.50× |"), "{text}");
        assert!(text.contains("| 48 s | faster-whisper | float32 | sequential | 3.00 | 6.00 | 0.062 | 0.100 | 1.00× |"), "{text}");
        assert!(text.contains("| 48 s | **ours** | float32 | batched (8) | — | — | — | — | — |"), "{text}");
        let targets = s.targets("48 s", "10 min");
        assert_eq!(targets[0], "PASS 48 s clip, float32 sequential: faster-whisper wall / ours ≥ 1.0×: 1.50×");
        assert!(targets[1].starts_with("PENDING"), "{}", targets[1]);
    }
}
