//! Speech to text for `POST /audio/transcribe`: Whisper models in CTranslate2 format
//! (the `Systran/faster-whisper-*` layout), run through the `ct2rs` crate.
//!
//! The public API is blocking (model loading and decoding are CPU/GPU bound); the
//! worker calls [`Engine::transcribe`] inside `spawn_blocking`.

use std::path::Path;

use job_spec::transcript::Transcript;

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
    /// 0 decodes by beam search; above 0 samples at this temperature.
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
    pub decode_audio_ms: u64,
    /// 0 when the model was already loaded.
    pub load_model_ms: u64,
    pub transcribe_ms: u64,
    /// The model's configured name.
    pub model: String,
    /// Seconds the VAD kept, when it ran.
    pub vad_speech_seconds: Option<f64>,
}

/// A failed transcription. `code` is one of `unknown-model`, `model-load-failed`,
/// `input-not-media`, `transcribe-failed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranscribeError {
    pub code: &'static str,
    pub message: String,
}

impl TranscribeError {
    pub(crate) fn new(code: &'static str, message: impl Into<String>) -> Self {
        TranscribeError { code, message: message.into() }
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
#[derive(Debug, Default)]
pub struct Engine {}

impl Engine {
    /// Reads the model registry from the environment; loads nothing yet.
    pub fn from_env() -> Engine {
        Engine {}
    }

    /// The configured model names, sorted.
    pub fn model_names(&self) -> Vec<String> {
        Vec::new()
    }

    /// Transcribes the audio (or video) file at `audio`.
    pub fn transcribe(&self, audio: &Path, opts: &TranscribeOptions) -> Result<(Transcript, TranscribeStats), TranscribeError> {
        let _ = (audio, opts);
        Err(TranscribeError::new("transcribe-failed", "the transcription engine is not built yet"))
    }
}
