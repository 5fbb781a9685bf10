//! Speech to text for `POST /audio/transcribe`: Whisper models in CTranslate2 format
//! (the `Systran/faster-whisper-*` layout: `model.bin`, `config.json`, `vocabulary.txt`,
//! `tokenizer.json`), run through the `ct2rs` crate's low-level `sys::Whisper`.
//!
//! The pipeline follows faster-whisper: the audio is decoded to 16 kHz mono f32 ([`audio`]:
//! in-process for WAV, FLAC, MP3 and Ogg Vorbis, by ffmpeg for the rest);
//! optionally an energy gate keeps only speech ([`vad`]); our own log-mel ([`mel`]) feeds
//! 30 s windows to the model, decoded with timestamps and seeking by the last complete
//! segment ([`decode`]); words are timed by CTranslate2's cross-attention alignment
//! (`alignment_heads` from `config.json`) and post-processed ([`words`]).
//!
//! Memory: the samples are never held whole. The spectrogram is computed as the decoded
//! samples stream in (4 bytes per 10 ms per mel band: 32 KB per second of audio for 80
//! bands, 51 KB for 128), and it is all the decoding keeps. With `enable_vad`, a first
//! decode gathers only the gate's levels (8 bytes per 30 ms); a second one feeds the
//! speech it kept to the spectrogram. Each decode stops at [`Limits::max_seconds`] of
//! samples, whatever the file's header claimed, and at [`Limits::cancel`], which the
//! decoding also looks at between 30 s windows.
//!
//! Models are configured by name ([`models::Registry::from_env`]):
//! - `WHISPER_MODELS_DIR`: a directory whose subdirectories (holding a `model.bin`) are
//!   models named after them; default `$API_GPU_CACHE/models` (`~/.cache/api-gpu/models`),
//!   where `scripts/models.sh` puts `tiny.en` and `base`;
//! - `WHISPER_MODELS="name=/dir,name2=/dir2"`: extra or overriding entries;
//! - `WHISPER_DEFAULT_MODEL`: the model used when a job names none; default the first
//!   configured name in sorted order.
//!
//! Every model runs in one compute type ([`models::ComputeType`], `WHISPER_COMPUTE_TYPE`
//! in the worker's [`crate::config::Config`]): `float32` on a CPU, `float16` on CUDA by
//! default. CTranslate2 is the PyPI wheel's library (gpu-worker/Cargo.toml); on a CPU
//! it runs 4 threads or one per core, whichever is fewer (its default).
//!
//! Long audio with `enable_vad` (over [`BATCH_MIN_SECONDS`]) is decoded in batches
//! ([`batch`], faster-whisper's `BatchedInferencePipeline`): the speech the VAD kept, in
//! pieces of up to 30 s, `WHISPER_BATCH_SIZE` windows per CTranslate2 call
//! ([`Engine::with_batch_size`]; 0 or 1 decodes it sequentially like short audio).
//!
//! A model is loaded on first use and kept warm. The public API is blocking (model loading
//! and decoding are CPU/GPU bound); the worker calls [`Engine::transcribe`] inside
//! `spawn_blocking`. ffmpeg is `FFMPEG_BIN` (default `ffmpeg` on PATH).

pub mod accuracy;
pub mod audio;
pub mod batch;
pub mod decode;
pub mod mel;
pub mod models;
pub mod tokens;
pub mod vad;
pub mod words;

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use job_spec::transcript::Transcript;
use tokio_util::sync::CancellationToken;

/// What one transcription asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct TranscribeOptions {
    /// A configured model name; `None` takes the default model.
    pub model: Option<String>,
    /// ISO 639-1 code; `None` or `"auto"` detects it (`.en` models are always `"en"`).
    pub language: Option<String>,
    /// Skip silence before decoding (see `vad`).
    pub enable_vad: bool,
    /// Beam width; 1 is greedy.
    pub beam_size: usize,
    /// 0 decodes by beam search; above 0 samples at this temperature (`beam_size`
    /// candidates, the most probable kept). Either way a window whose average log
    /// probability is below −1 is decoded again at +0.2 steps up to 1.0 (faster-whisper's
    /// fallback, without its compression-ratio test).
    pub temperature: f32,
}

impl Default for TranscribeOptions {
    fn default() -> Self {
        TranscribeOptions { model: None, language: None, enable_vad: false, beam_size: 5, temperature: 0.0 }
    }
}

/// Timings and sizes of one transcription.
#[derive(Debug, Clone, PartialEq)]
pub struct TranscribeStats {
    pub audio_seconds: f64,
    /// The audio's decoding and the spectrogram, computed as the samples come (with
    /// `enable_vad`, both decodes of the audio).
    pub decode_audio_ms: u64,
    /// Which decoder read the audio: in-process or ffmpeg ([`audio::stream`]).
    pub audio_decoder: audio::Decoder,
    /// 0 when the model was already loaded.
    pub load_model_ms: u64,
    pub transcribe_ms: u64,
    /// The configured name of the model that ran.
    pub model: String,
    /// The name the request asked for (the default model's name when it named none); differs
    /// from `model` when an alias (`WHISPER_MODEL_ALIASES`) led to it.
    pub requested_model: String,
    /// What the model computed in.
    pub compute_type: models::ComputeType,
    /// Seconds the VAD kept, when it ran.
    pub vad_speech_seconds: Option<f64>,
    /// The most windows decoded per call when the speech was decoded in batches; `None`
    /// when it was decoded window after window.
    pub batch_size: Option<usize>,
}

/// Audio longer than this (seconds) with `enable_vad` is decoded in batches, when the
/// engine's batch size is 2 or more: below it there are too few windows to batch.
pub const BATCH_MIN_SECONDS: f64 = 60.0;

/// The default [`Engine::with_batch_size`] (`WHISPER_BATCH_SIZE`): faster-whisper's
/// `batch_size`.
pub const DEFAULT_BATCH_SIZE: usize = 8;

/// What bounds one transcription's work.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Longest audio decoded (`MAX_MEDIA_SECONDS`): counted on the decoded samples,
    /// past it the input is refused (`input-duration-out-of-range`).
    pub max_seconds: f64,
    /// Longest one decode of the audio may run, ffmpeg's or in-process (`FFMPEG_TIMEOUT_SECS`).
    pub decode_timeout: Duration,
    /// Set: the decode stops (ffmpeg is killed) and the decoding stops before its next
    /// window (`cancelled`).
    pub cancel: CancellationToken,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_seconds: job_spec::limits::MAX_MEDIA_SECONDS,
            decode_timeout: Duration::from_secs(1800),
            cancel: CancellationToken::new(),
        }
    }
}

/// A failed transcription. `code` is one of `unknown-model`, `model-load-failed`,
/// `input-not-media`, `input-duration-out-of-range`, `transcribe-failed`, `cancelled`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranscribeError {
    pub code: &'static str,
    pub message: String,
}

impl TranscribeError {
    pub(crate) fn new(code: &'static str, message: impl Into<String>) -> Self {
        TranscribeError { code, message: message.into() }
    }

    pub(crate) fn cancelled() -> Self {
        TranscribeError::new("cancelled", "the transcription was cancelled")
    }
}

impl std::fmt::Display for TranscribeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for TranscribeError {}

/// The transcription engine: the model registry and the loaded models. `Send + Sync`;
/// share it in an `Arc`.
#[derive(Debug)]
pub struct Engine {
    registry: models::Registry,
    cache: models::Cache,
    ffmpeg: PathBuf,
    compute_type: models::ComputeType,
    batch_size: usize,
}

impl Engine {
    /// Reads the model registry from the environment; loads nothing yet.
    pub fn from_env() -> Engine {
        let ffmpeg = std::env::var_os("FFMPEG_BIN").filter(|v| !v.is_empty()).unwrap_or_else(|| "ffmpeg".into());
        Engine::new(models::Registry::from_env(), PathBuf::from(ffmpeg))
    }

    /// Models run in the build's default compute type ([`Engine::with_compute_type`] sets another).
    pub fn new(registry: models::Registry, ffmpeg: PathBuf) -> Engine {
        Engine {
            registry,
            cache: models::Cache::default(),
            ffmpeg,
            compute_type: models::ComputeType::default(),
            batch_size: DEFAULT_BATCH_SIZE,
        }
    }

    /// Every model this engine loads computes in `compute_type` (set before the first job:
    /// a model already loaded keeps its own).
    pub fn with_compute_type(self, compute_type: models::ComputeType) -> Engine {
        Engine { compute_type, ..self }
    }

    /// With `enable_vad`, audio longer than [`BATCH_MIN_SECONDS`] is decoded
    /// `batch_size` windows at a time ([`batch`]); 0 or 1 decodes every audio window after
    /// window. Default [`DEFAULT_BATCH_SIZE`].
    pub fn with_batch_size(self, batch_size: usize) -> Engine {
        Engine { batch_size, ..self }
    }

    /// The names a request may give, sorted: the configured models, then each alias as
    /// `alias→model`.
    pub fn model_names(&self) -> Vec<String> {
        self.registry.names()
    }

    /// True when a request naming `model` gets a model here (itself or its alias's target).
    pub fn has_model(&self, model: &str) -> bool {
        self.registry.resolve(Some(model)).is_some()
    }

    /// The model a job gets when it names none.
    pub fn default_model(&self) -> Option<&str> {
        self.registry.default.as_deref()
    }

    /// Transcribes the audio (or video) file at `audio`, within `limits`.
    pub fn transcribe(
        &self,
        audio: &Path,
        opts: &TranscribeOptions,
        limits: &Limits,
    ) -> Result<(Transcript, TranscribeStats), TranscribeError> {
        let requested = opts.model.as_deref().or(self.registry.default.as_deref()).unwrap_or("");
        let Some((name, dir)) = self.registry.resolve(Some(requested)) else {
            let configured = self.model_names();
            return Err(TranscribeError::new(
                "unknown-model",
                format!(
                    "model {requested:?} is not configured; configured: [{}] (WHISPER_MODELS_DIR, WHISPER_MODELS, WHISPER_MODEL_ALIASES)",
                    configured.join(", ")
                ),
            ));
        };
        // The model first: its number of mel bands shapes the spectrogram built while decoding.
        let (model, load_model_ms) = self.cache.get(name, dir, self.compute_type)?;
        let mut audio_decoder = audio::Decoder::Ffmpeg;
        let mut stream = |sink: &mut dyn FnMut(&[f32]) -> ControlFlow<()>| {
            let streamed = audio::stream(&self.ffmpeg, audio, limits, sink)?;
            audio_decoder = streamed.decoder;
            Ok::<_, TranscribeError>(streamed.samples)
        };

        let started = Instant::now();
        let mut vad_speech_seconds = None;
        let mut batched = false;
        let (samples, mel) = if opts.enable_vad {
            let mut levels = vad::Levels::default();
            let samples = stream(&mut |s| {
                levels.push(s);
                ControlFlow::Continue(())
            })?;
            // Long audio goes in batches (decided here: its speech is padded more).
            batched = self.batch_size > 1 && levels.seconds() > BATCH_MIN_SECONDS;
            let (chunks, speech) = levels.padded_speech(if batched { vad::BATCH_PAD_S } else { vad::PAD_S });
            let mut keep = vad::Keep::new(&chunks);
            let mut mel = mel::MelBuilder::new(model.n_mels);
            let mut kept = 0;
            if chunks.is_empty() {
                // Nothing to decode; the language still comes from the audio's first window.
                stream(&mut |s| {
                    let take = s.len().min(30 * mel::SAMPLE_RATE - kept);
                    mel.push(&s[..take]);
                    kept += take;
                    if kept < 30 * mel::SAMPLE_RATE { ControlFlow::Continue(()) } else { ControlFlow::Break(()) }
                })?;
                vad_speech_seconds = Some(0.0);
                batched = false;
            } else {
                stream(&mut |s| {
                    let more = keep.push(s, |speech| {
                        mel.push(speech);
                        kept += speech.len();
                    });
                    if more { ControlFlow::Continue(()) } else { ControlFlow::Break(()) }
                })?;
                vad_speech_seconds = Some(kept as f64 / mel::SAMPLE_RATE as f64);
            }
            (samples, (mel.finish(), Some((chunks, speech))))
        } else {
            let mut mel = mel::MelBuilder::new(model.n_mels);
            let samples = stream(&mut |s| {
                mel.push(s);
                ControlFlow::Continue(())
            })?;
            (samples, (mel.finish(), None))
        };
        let decode_audio_ms = started.elapsed().as_millis() as u64;
        let duration = samples as f64 / mel::SAMPLE_RATE as f64;

        let started = Instant::now();
        let batch_size = batched.then_some(self.batch_size);
        let (language, language_probability, mut segments) = match mel {
            (mel, Some((chunks, _))) if chunks.is_empty() => {
                let (language, p) = decode::language_only(&model, &mel, opts)?;
                (language, p, Vec::new())
            }
            (mel, Some((chunks, speech))) => {
                let map = vad::TimeMap::with_speech(&chunks, &speech);
                let decoded = match batch_size {
                    Some(n) => batch::run(&model, &mel, &batch::pieces(&chunks), n, &map, opts, &limits.cancel)?,
                    None => decode::run(&model, &mel, opts, &limits.cancel)?,
                };
                let mut segments = decoded.segments;
                for segment in &mut segments {
                    restore_times(segment, &map);
                }
                (decoded.language, decoded.language_probability, segments)
            }
            (mel, None) => {
                let decoded = decode::run(&model, &mel, opts, &limits.cancel)?;
                (decoded.language, decoded.language_probability, decoded.segments)
            }
        };
        {
            let mut all: Vec<&mut job_spec::transcript::TranscriptWord> = segments.iter_mut().flat_map(|s| s.words.iter_mut()).collect();
            words::make_monotonic(&mut all, duration);
        }
        for segment in &mut segments {
            segment.start = segment.start.clamp(0.0, duration);
            segment.end = segment.end.clamp(segment.start, duration);
        }
        let transcribe_ms = started.elapsed().as_millis() as u64;
        Ok((
            Transcript { language, language_probability, duration, segments },
            TranscribeStats {
                audio_seconds: duration,
                decode_audio_ms,
                audio_decoder,
                load_model_ms,
                transcribe_ms,
                model: name.to_owned(),
                requested_model: requested.to_owned(),
                compute_type: model.compute_type,
                vad_speech_seconds,
                batch_size,
            },
        ))
    }
}

/// faster-whisper's `restore_speech_timestamps`: each word maps back through the chunk
/// holding its middle (so a word never straddles removed silence); a segment with words
/// spans them.
fn restore_times(segment: &mut job_spec::transcript::TranscriptSegment, map: &vad::TimeMap) {
    if segment.words.is_empty() {
        segment.start = map.original(segment.start, map.chunk(segment.start));
        let end_chunk = map.chunk((segment.end - 1e-6).max(segment.start));
        segment.end = map.original(segment.end, end_chunk);
        return;
    }
    for w in &mut segment.words {
        let chunk = map.chunk((w.start + w.end) / 2.0);
        w.start = map.original(w.start, chunk);
        w.end = map.original(w.end, chunk);
    }
    segment.start = segment.words[0].start;
    segment.end = segment.words[segment.words.len() - 1].end;
}
