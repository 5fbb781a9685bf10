//! Decodes any audio or video file to 16 kHz mono f32, blocking (the engine runs on a
//! blocking thread), and hands the samples on piece by piece as they come: nothing here
//! holds the whole clip.
//!
//! Two decoders, one contract ([`stream`]): WAV, FLAC, MP3 and Ogg Vorbis are decoded
//! in-process ([`native`], symphonia, then [`resample`]), saving the ~50 ms it takes to
//! start ffmpeg, most of a short clip's decode; everything else (video containers, AAC,
//! Opus, more than two channels, anything symphonia refuses or fails on before a sample
//! came out) goes to the ffmpeg binary ([`ffmpeg`]). The in-process samples are ffmpeg's
//! within what two resamplers differ by: the same mix, the same length, a difference under
//! 2 % of the signal's RMS, none at 16 kHz (tests/audio_decode.rs).
//!
//! What a file's header claims is not what it decodes to (a FLAC or MP3 header can say
//! 10 s over hours of frames), so the [`Limits`] are enforced on the samples themselves:
//! past `max_seconds` the decoding stops and the input is refused
//! (`input-duration-out-of-range`).

mod ffmpeg;
mod native;
mod resample;

use std::ops::ControlFlow;
use std::path::Path;

use super::mel::SAMPLE_RATE;
use super::{Limits, TranscribeError};

/// Which decoder gave the samples (`stats.audio_decoder`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoder {
    /// In-process: WAV, FLAC, MP3, Ogg Vorbis.
    Symphonia,
    /// The ffmpeg binary: everything else.
    Ffmpeg,
}

impl Decoder {
    pub const fn name(self) -> &'static str {
        match self {
            Decoder::Symphonia => "symphonia",
            Decoder::Ffmpeg => "ffmpeg",
        }
    }
}

/// What one [`stream`] gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Streamed {
    /// Samples given to the sink.
    pub samples: usize,
    pub decoder: Decoder,
}

/// Decodes the first audio stream of `path` and gives the samples to `sink` in pieces of
/// about a second, in order; says how many samples it gave and which decoder did. The sink
/// may stop the decoding early by answering `Break` (the count so far is returned). Fails
/// with `input-duration-out-of-range` once more than `limits.max_seconds` of samples come,
/// `cancelled` when `limits.cancel` is set, `transcribe-failed` past
/// `limits.decode_timeout`, and `input-not-media` when the file cannot be decoded.
pub fn stream(
    ffmpeg: &Path,
    path: &Path,
    limits: &Limits,
    mut sink: impl FnMut(&[f32]) -> ControlFlow<()>,
) -> Result<Streamed, TranscribeError> {
    match native::stream(path, limits, &mut sink) {
        Ok(samples) => Ok(Streamed { samples, decoder: Decoder::Symphonia }),
        Err(native::Native::Failed(e)) => Err(e),
        Err(native::Native::Declined(why)) => {
            tracing::debug!(path = %path.display(), "audio decoded by ffmpeg: {why}");
            ffmpeg::stream(ffmpeg, path, limits, sink).map(|samples| Streamed { samples, decoder: Decoder::Ffmpeg })
        }
    }
}

/// [`stream`] through ffmpeg only, whatever the format: the reference the in-process
/// decoder is held to.
pub fn stream_ffmpeg(
    ffmpeg: &Path,
    path: &Path,
    limits: &Limits,
    sink: impl FnMut(&[f32]) -> ControlFlow<()>,
) -> Result<usize, TranscribeError> {
    ffmpeg::stream(ffmpeg, path, limits, sink)
}

/// All the samples of `path`'s first audio stream, held whole (within `limits`), and the
/// decoder that gave them.
pub fn decode_with(ffmpeg: &Path, path: &Path, limits: &Limits) -> Result<(Vec<f32>, Decoder), TranscribeError> {
    let mut all = Vec::new();
    let streamed = stream(ffmpeg, path, limits, |s| {
        all.extend_from_slice(s);
        ControlFlow::Continue(())
    })?;
    Ok((all, streamed.decoder))
}

/// All the samples of `path`'s first audio stream, held whole (within `limits`).
pub fn decode(ffmpeg: &Path, path: &Path, limits: &Limits) -> Result<Vec<f32>, TranscribeError> {
    decode_with(ffmpeg, path, limits).map(|(samples, _)| samples)
}

/// The most samples a decode may give: a second's slack over the limit the probe checked,
/// as decoders may add a few milliseconds of padding (an MP3 of exactly the limit stays
/// accepted).
fn max_samples(limits: &Limits) -> usize {
    ((limits.max_seconds.max(0.0) + 1.0) * SAMPLE_RATE as f64).ceil() as usize
}

fn too_long(limits: &Limits) -> TranscribeError {
    TranscribeError::new(
        "input-duration-out-of-range",
        format!(
            "decodes to more than {} s of audio, whatever its header claims; at most {} s are accepted (MAX_MEDIA_SECONDS)",
            limits.max_seconds, limits.max_seconds
        ),
    )
}
