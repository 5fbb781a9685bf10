//! Transcription results (`POST /audio/transcribe`) and the files made from them.
//!
//! The GPU worker's engine fills a [`Transcript`]; pure functions here turn it into
//! `segments.srt`, `segments.json`, `words.json` and `karaoke.ass`.

use serde::{Deserialize, Serialize};

/// One recognised word. Times are seconds from the start of the input audio.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranscriptWord {
    /// The word as the model spelled it, with its leading space and any punctuation
    /// merged in (faster-whisper's convention).
    pub word: String,
    pub start: f64,
    pub end: f64,
    pub probability: f64,
}

/// One decoded segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranscriptSegment {
    pub start: f64,
    pub end: f64,
    pub text: String,
    pub avg_logprob: f64,
    pub no_speech_prob: f64,
    pub words: Vec<TranscriptWord>,
}

/// What the engine returns for one audio file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transcript {
    /// ISO 639-1 code, forced or detected.
    pub language: String,
    /// The detection's probability; 1.0 when the language was forced.
    pub language_probability: f64,
    /// Seconds of input audio.
    pub duration: f64,
    pub segments: Vec<TranscriptSegment>,
}
