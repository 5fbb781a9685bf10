//! The in-process path of [`super::stream`]: WAV (integer PCM, float, A-law, µ-law), FLAC,
//! MP3 and Ogg Vorbis decoded by symphonia, mixed to mono and resampled to 16 kHz
//! ([`super::resample`]), without starting ffmpeg (~50 ms a decode).
//!
//! It only takes files it can be sure of: a regular file (a FIFO would block the open)
//! whose first bytes are one of those formats' (an MP3's ID3v2 tag or frame sync, `RIFF…WAVE`,
//! `fLaC`, `OggS`), probed by symphonia to that same format, whose first audio track
//! (ffmpeg's `0:a:0`) has a decoder here and at most two channels. Everything else is
//! [`Native::Declined`] and goes to ffmpeg: symphonia's probe would otherwise scan past
//! unknown bytes for something that looks like a frame (an MP4's AAC data has MP3 sync
//! words), and decode noise.
//!
//! Decoding goes as ffmpeg's does: a packet that fails to decode is skipped (ffmpeg
//! conceals it and goes on), a stream cut short ends where it was cut, MP3 encoder delay
//! and padding are trimmed (symphonia's gapless decoding, ffmpeg's default too), chained
//! Ogg streams go on with the next. Any other failure, a panic in symphonia included, is
//! declined while no sample has reached the sink (ffmpeg then tries), else the input is
//! refused (`input-not-media`). The cancel flag and the decode timeout are looked at
//! between packets; a regular file's reads do not block, so that bounds the time.

use std::fs::File;
use std::io::Read;
use std::ops::ControlFlow;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::time::Instant;

use symphonia::core::codecs::audio::{AudioDecoder, AudioDecoderOptions};
use symphonia::core::errors::Error;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;

use super::super::mel::SAMPLE_RATE;
use super::resample::{RATES, ToMono16k};
use super::{Limits, TranscribeError, max_samples, too_long};

/// Samples handed to the sink at a time: a second, as ffmpeg's path does.
const PIECE: usize = SAMPLE_RATE;

/// Why the in-process path did not decode a file.
#[derive(Debug)]
pub enum Native {
    /// Not for this path (or it failed before any sample reached the sink): ffmpeg's turn.
    Declined(String),
    /// The decode's outcome, as final as ffmpeg's would be: limits, cancel, timeout, or a
    /// failure after samples were given.
    Failed(TranscribeError),
}

/// A format this path takes, known from the file's first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Wav,
    Flac,
    Ogg,
    /// An MP3 frame's sync word.
    Mp3,
    /// An ID3v2 tag: an MP3 follows, or a FLAC.
    Id3,
}

impl Kind {
    fn sniff(head: &[u8]) -> Option<Kind> {
        match head {
            [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'A', b'V', b'E', ..] => Some(Kind::Wav),
            [b'f', b'L', b'a', b'C', ..] => Some(Kind::Flac),
            [b'O', b'g', b'g', b'S', ..] => Some(Kind::Ogg),
            [b'I', b'D', b'3', ..] => Some(Kind::Id3),
            // Frame sync (11 bits), any MPEG version but the reserved one, layer III.
            [0xFF, b, ..] if b & 0xE0 == 0xE0 && b & 0x18 != 0x08 && b & 0x06 == 0x02 => Some(Kind::Mp3),
            _ => None,
        }
    }

    /// Whether symphonia's reader named `short_name` is this format.
    fn is(self, short_name: &str) -> bool {
        match self {
            Kind::Wav => short_name == "wave",
            Kind::Flac => short_name == "flac",
            Kind::Ogg => short_name == "ogg",
            Kind::Mp3 => short_name == "mp3",
            Kind::Id3 => ["mp3", "flac"].contains(&short_name),
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Kind::Wav => "wav",
            Kind::Flac => "flac",
            Kind::Ogg => "ogg",
            Kind::Mp3 | Kind::Id3 => "mp3",
        }
    }
}

/// Runs a call into symphonia with a panic in it (a decoder's bug on a crafted file) turned
/// into an error: the outer `Err`.
fn guarded<T>(f: impl FnOnce() -> symphonia::core::errors::Result<T>) -> Result<symphonia::core::errors::Result<T>, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|panic| {
        let what = panic.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| panic.downcast_ref::<String>().cloned());
        format!("symphonia panicked: {}", what.unwrap_or_default())
    })
}

/// The format reader and the decoder of its first audio track.
struct Opened {
    format: Box<dyn FormatReader>,
    decoder: Box<dyn AudioDecoder>,
    track: u32,
}

fn open(path: &Path) -> Result<Opened, String> {
    // Not a FIFO or a device: opening one could block, and its reads too.
    let regular = std::fs::metadata(path).map(|m| m.is_file()).unwrap_or(false);
    if !regular {
        return Err("not a regular file".into());
    }
    let mut file = File::open(path).map_err(|e| format!("opening: {e}"))?;
    let mut head = [0u8; 12];
    let n = file.read(&mut head).map_err(|e| format!("reading: {e}"))?;
    let kind = Kind::sniff(&head[..n]).ok_or("not a WAV, FLAC, MP3 or Ogg file")?;
    let file = File::open(path).map_err(|e| format!("opening: {e}"))?;
    let stream = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    hint.with_extension(kind.extension());
    let probed = guarded(|| symphonia::default::get_probe().probe(&hint, stream, FormatOptions::default(), MetadataOptions::default()))?;
    let format = probed.map_err(|e| format!("symphonia's probe: {e}"))?;
    let name = format.format_info().short_name;
    if !kind.is(name) {
        return Err(format!("{kind:?} by its first bytes, but symphonia read it as {name}"));
    }
    let (decoder, track) = decoder_for(&*format)?;
    Ok(Opened { format, decoder, track })
}

/// A decoder for the first audio track, as ffmpeg's `-map 0:a:0` takes.
fn decoder_for(format: &dyn FormatReader) -> Result<(Box<dyn AudioDecoder>, u32), String> {
    let track = format.first_track(TrackType::Audio).ok_or("no audio track")?;
    let params = track.codec_params.as_ref().and_then(|p| p.audio()).ok_or("no audio codec parameters")?;
    if let Some(channels) = &params.channels
        && channels.count() > 2
    {
        return Err(format!("{} channels (ffmpeg mixes them by their positions)", channels.count()));
    }
    if let Some(rate) = params.sample_rate
        && !RATES.contains(&rate)
    {
        return Err(format!("a sample rate of {rate} Hz"));
    }
    let decoder = guarded(|| symphonia::default::get_codecs().make_audio_decoder(params, &AudioDecoderOptions::default()))?
        .map_err(|e| format!("symphonia's decoder: {e}"))?;
    Ok((decoder, track.id))
}

/// Where the samples go: the sink, in pieces, with the duration limit counted on them.
struct Output<'a> {
    sink: &'a mut dyn FnMut(&[f32]) -> ControlFlow<()>,
    ready: Vec<f32>,
    given: usize,
    max_samples: usize,
}

impl Output<'_> {
    /// Gives the sink every whole piece ready (and the rest too when `all`), the cancel flag
    /// looked at before each.
    fn give(&mut self, all: bool, limits: &Limits) -> Result<ControlFlow<()>, TranscribeError> {
        let mut from = 0;
        let mut flow = ControlFlow::Continue(());
        while flow.is_continue() && (self.ready.len() - from >= PIECE || (all && from < self.ready.len())) {
            if limits.cancel.is_cancelled() {
                return Err(TranscribeError::cancelled());
            }
            let piece = &self.ready[from..(from + PIECE).min(self.ready.len())];
            from += piece.len();
            self.given += piece.len();
            if self.given > self.max_samples {
                return Err(too_long(limits));
            }
            flow = (self.sink)(piece);
        }
        self.ready.drain(..from);
        Ok(flow)
    }
}

/// Decodes `path` in-process, giving `sink` the samples as [`super::stream`] says; how many
/// it gave, or why not (see [`Native`]).
pub fn stream(path: &Path, limits: &Limits, sink: &mut dyn FnMut(&[f32]) -> ControlFlow<()>) -> Result<usize, Native> {
    let started = Instant::now();
    let Opened { mut format, mut decoder, mut track } = open(path).map_err(Native::Declined)?;
    let mut out = Output { sink, ready: Vec::with_capacity(2 * PIECE), given: 0, max_samples: max_samples(limits) };
    // After samples were given a failure is final; before, ffmpeg may do better.
    let fail = |given: usize, why: String| {
        if given == 0 {
            Native::Declined(why)
        } else {
            Native::Failed(TranscribeError::new(
                "input-not-media",
                format!("the audio could not be decoded after {:.1} s: {why}", given as f64 / SAMPLE_RATE as f64),
            ))
        }
    };
    let mut mono: Option<ToMono16k> = None;
    let mut frames = Vec::new();
    let mut skipped: Option<Error> = None;
    loop {
        if limits.cancel.is_cancelled() {
            return Err(Native::Failed(TranscribeError::cancelled()));
        }
        if started.elapsed() >= limits.decode_timeout {
            return Err(Native::Failed(TranscribeError::new(
                "transcribe-failed",
                format!("the audio was still decoding after {} s (FFMPEG_TIMEOUT_SECS)", limits.decode_timeout.as_secs()),
            )));
        }
        let packet = match guarded(|| format.next_packet()).map_err(|why| fail(out.given, why))? {
            Ok(Some(packet)) => packet,
            Ok(None) => break,
            // Cut short: what came is the audio (ffmpeg ends there too).
            Err(Error::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            // A chained Ogg stream: the next one's first audio track.
            Err(Error::ResetRequired) => {
                (decoder, track) = decoder_for(&*format).map_err(|why| fail(out.given, why))?;
                continue;
            }
            Err(e) => return Err(fail(out.given, format!("reading the {}: {e}", format.format_info().short_name))),
        };
        if packet.track_id != track {
            continue;
        }
        let decoded = guarded(|| {
            decoder.decode(&packet).map(|audio| {
                audio.copy_to_vec_interleaved::<f32>(&mut frames);
                (audio.spec().rate(), audio.spec().channels().count())
            })
        })
        .map_err(|why| fail(out.given, why))?;
        let (rate, channels) = match decoded {
            Ok(spec) => spec,
            // A damaged packet: skipped, as ffmpeg conceals it.
            Err(e @ (Error::DecodeError(_) | Error::IoError(_))) => {
                skipped = Some(e);
                continue;
            }
            Err(e) => return Err(fail(out.given, format!("decoding: {e}"))),
        };
        if frames.is_empty() {
            continue;
        }
        let mut converter = match mono.take() {
            Some(m) if m.takes(rate, channels) => m,
            last => {
                // A new stream (or a change of rate): the last one's tail first.
                if let Some(m) = last {
                    m.finish(&mut out.ready).map_err(|e| fail(out.given, e.0))?;
                }
                ToMono16k::new(rate, channels).map_err(|e| fail(out.given, e.0))?
            }
        };
        converter.push(&frames, &mut out.ready).map_err(|e| fail(out.given, e.0))?;
        mono = Some(converter);
        if out.give(false, limits).map_err(Native::Failed)?.is_break() {
            return Ok(out.given);
        }
    }
    if let Some(m) = mono.take() {
        m.finish(&mut out.ready).map_err(|e| fail(out.given, e.0))?;
    }
    if out.give(true, limits).map_err(Native::Failed)?.is_break() {
        return Ok(out.given);
    }
    if out.given == 0 {
        // Nothing decoded (every packet damaged, or a WAV whose data size says 0): ffmpeg
        // may read more of it.
        return Err(Native::Declined(match skipped {
            Some(e) => format!("no audio decoded: {e}"),
            None => "no audio decoded".into(),
        }));
    }
    Ok(out.given)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_first_bytes_are_taken() {
        assert_eq!(Kind::sniff(b"RIFF\x24\0\0\0WAVEfmt "), Some(Kind::Wav));
        assert_eq!(Kind::sniff(b"RIFF\x24\0\0\0AVI LIST"), None);
        assert_eq!(Kind::sniff(b"fLaC\0\0\0\x22"), Some(Kind::Flac));
        assert_eq!(Kind::sniff(b"OggS\0\x02"), Some(Kind::Ogg));
        assert_eq!(Kind::sniff(b"ID3\x04\0\0"), Some(Kind::Id3));
        // MPEG-1 and MPEG-2 layer III, with and without CRC.
        for b in [0xFB, 0xFA, 0xF3, 0xF2, 0xE3] {
            assert_eq!(Kind::sniff(&[0xFF, b, 0x90, 0x00]), Some(Kind::Mp3), "{b:#x}");
        }
        // ADTS AAC (layer 0), MP2 (layer II), an MP4, text, nothing.
        for head in [&[0xFF, 0xF1, 0x50, 0x80][..], &[0xFF, 0xFD, 0x90, 0x00], b"\0\0\0\x20ftypisom", b"hello world", b""] {
            assert_eq!(Kind::sniff(head), None, "{head:?}");
        }
        assert!(Kind::Id3.is("flac") && Kind::Id3.is("mp3") && !Kind::Wav.is("mp3") && !Kind::Mp3.is("wave"));
    }

    #[test]
    fn a_panic_in_symphonia_is_an_error() {
        let r: Result<symphonia::core::errors::Result<()>, String> = guarded(|| panic!("bad frame"));
        assert_eq!(r.expect_err("caught"), "symphonia panicked: bad frame");
    }
}
