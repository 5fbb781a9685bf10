//! Mono at 16 kHz from decoded frames, as they stream in: what ffmpeg's `-ac 1 -ar 16000`
//! gives for the same audio, for the in-process decoder ([`super::native`]).
//!
//! The mix is ffmpeg's. libswresample's default matrix folds stereo into mono as
//! (L + R)·√½, and for float output it does not normalise the matrix: ffmpeg 5.1 gives a
//! 0.125 tone in both channels as a 0.177 mono tone, not their mean. (A mean is what an
//! integer output gets, PyAV's `s16` in faster-whisper: there the matrix is scaled to sum
//! to 1.) More than two channels are left to ffmpeg, whose matrix weighs each by its
//! position (centre, surround at −3 dB, LFE dropped).
//!
//! Resampling is rubato's FFT resampler: a fixed ratio, a windowed-sinc anti-aliasing
//! filter whose cutoff sits within 1 % of the lower Nyquist frequency at the block size used
//! here (1600 output samples). Its delay, half a block, is trimmed, so output sample `k` is
//! time `k / 16000` s as in ffmpeg's; at the end the last block is flushed with silence and
//! the output cut to `ceil(frames · 16000 / rate)` samples.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Indexing, Resampler};

use super::super::mel::SAMPLE_RATE;

/// Input rates taken in-process: what real files use, with room. Outside it the
/// resampler's blocks (up to two seconds of input for a rate prime to 16 000) would
/// grow with a crafted header's rate; ffmpeg takes those.
pub const RATES: std::ops::RangeInclusive<u32> = 1_000..=384_000;

/// Resampler blocks per second of input, about: 1600 output samples a block.
const BLOCKS_PER_SECOND: usize = 10;

/// Turns interleaved frames of one rate and channel count into 16 kHz mono.
pub struct ToMono16k {
    rate: u32,
    channels: usize,
    frames_in: u64,
    /// `None` at 16 kHz: the mix is the output.
    resampling: Option<Resampling>,
}

struct Resampling {
    fft: Fft<f32>,
    /// Mixed frames waiting for a whole block.
    pending: Vec<f32>,
    out: Vec<f32>,
    /// Output samples of the resampler's delay still to drop.
    delay_left: usize,
    produced: u64,
}

/// Why frames could not be converted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported(pub String);

impl ToMono16k {
    /// For `channels` (1 or 2) at `rate` Hz (in [`RATES`]).
    pub fn new(rate: u32, channels: usize) -> Result<ToMono16k, Unsupported> {
        if !(1..=2).contains(&channels) {
            return Err(Unsupported(format!("{channels} channels (ffmpeg mixes them by their positions)")));
        }
        if !RATES.contains(&rate) {
            return Err(Unsupported(format!("a sample rate of {rate} Hz")));
        }
        let resampling = if rate as usize == SAMPLE_RATE {
            None
        } else {
            let fft = Fft::<f32>::new_custom(
                rate as usize,
                SAMPLE_RATE,
                block(rate),
                1,
                1,
                rubato::WindowFunction::BlackmanHarris2,
                FixedSync::Both,
            )
            .map_err(|e| Unsupported(format!("resampling {rate} Hz: {e}")))?;
            let out = vec![0.0; fft.output_frames_max()];
            let delay_left = fft.output_delay();
            Some(Resampling { pending: Vec::with_capacity(fft.input_frames_max()), fft, out, delay_left, produced: 0 })
        };
        Ok(ToMono16k { rate, channels, frames_in: 0, resampling })
    }

    /// True when frames of `rate` and `channels` can go to this converter.
    pub fn takes(&self, rate: u32, channels: usize) -> bool {
        self.rate == rate && self.channels == channels
    }

    /// Adds `interleaved` frames; appends the 16 kHz mono samples they complete to `ready`.
    pub fn push(&mut self, interleaved: &[f32], ready: &mut Vec<f32>) -> Result<(), Unsupported> {
        let frames = interleaved.len() / self.channels;
        self.frames_in += frames as u64;
        let mixed = match &mut self.resampling {
            Some(r) => &mut r.pending,
            None => &mut *ready,
        };
        match self.channels {
            1 => mixed.extend_from_slice(interleaved),
            _ => mixed.extend(interleaved.chunks_exact(2).map(|f| (f[0] + f[1]) * std::f32::consts::FRAC_1_SQRT_2)),
        }
        let Some(r) = &mut self.resampling else { return Ok(()) };
        let block = r.fft.input_frames_next();
        let mut used = 0;
        while r.pending.len() - used >= block {
            let input = &r.pending[used..used + block];
            let n = resample(&mut r.fft, input, None, &mut r.out)?;
            used += block;
            r.emit(n, u64::MAX, ready);
        }
        r.pending.drain(..used);
        Ok(())
    }

    /// The end of the stream: the frames still held, resampled, then cut where ffmpeg's
    /// output would end.
    pub fn finish(mut self, ready: &mut Vec<f32>) -> Result<(), Unsupported> {
        let Some(r) = &mut self.resampling else { return Ok(()) };
        let expected = (u128::from(self.frames_in) * SAMPLE_RATE as u128).div_ceil(u128::from(self.rate));
        let expected = u64::try_from(expected).unwrap_or(u64::MAX);
        let pending = std::mem::take(&mut r.pending);
        let mut partial = Some(pending.as_slice());
        // The pending frames padded with silence, then blocks of silence until the delay
        // and the last frames have come out.
        while r.produced < expected {
            let input = partial.take().unwrap_or(&[]);
            let n = resample(&mut r.fft, input, Some(input.len()), &mut r.out)?;
            if n == 0 {
                break;
            }
            r.emit(n, expected, ready);
        }
        Ok(())
    }
}

impl Resampling {
    /// Appends the first `n` samples of `out`, less the delay still to drop, up to `limit` produced in all.
    fn emit(&mut self, n: usize, limit: u64, ready: &mut Vec<f32>) {
        let skip = self.delay_left.min(n);
        self.delay_left -= skip;
        let take = ((n - skip) as u64).min(limit.saturating_sub(self.produced)) as usize;
        ready.extend_from_slice(&self.out[skip..skip + take]);
        self.produced += take as u64;
    }
}

/// Input frames per resampler block: about a tenth of a second, a whole number of the
/// smallest blocks the ratio allows (`rate / gcd(rate, 16000)` frames), and even. rubato
/// centres its filter on frame `len / 2`: an odd block would shift the output by a
/// fraction of a sample (0.36 of one at 22 050 Hz, a 6 % error on a 440 Hz tone).
fn block(rate: u32) -> usize {
    let (mut a, mut b) = (rate as usize, SAMPLE_RATE);
    while b != 0 {
        (a, b) = (b, a % b);
    }
    let smallest = rate as usize / a;
    let mut blocks = (rate as usize / BLOCKS_PER_SECOND).div_ceil(smallest).max(1);
    if smallest % 2 == 1 && blocks % 2 == 1 {
        blocks += 1;
    }
    blocks * smallest
}

/// One block through the resampler; `partial`: the input holds only that many frames (the rest silence).
fn resample(fft: &mut Fft<f32>, input: &[f32], partial: Option<usize>, out: &mut [f32]) -> Result<usize, Unsupported> {
    let failed = |e: &dyn std::fmt::Display| Unsupported(format!("resampling: {e}"));
    let input = InterleavedSlice::new(input, 1, input.len()).map_err(|e| failed(&e))?;
    let frames = out.len();
    let mut output = InterleavedSlice::new_mut(out, 1, frames).map_err(|e| failed(&e))?;
    let indexing = partial.map(|n| Indexing::new().partial_len(n));
    let (_, written) = fft.process_into_buffer(&input, &mut output, indexing.as_ref()).map_err(|e| failed(&e))?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(rate: u32, seconds: f64, hz: f64, channels: usize) -> Vec<f32> {
        let frames = (seconds * f64::from(rate)) as usize;
        (0..frames)
            .flat_map(|i| {
                let x = (0.5 * (2.0 * std::f64::consts::PI * hz * i as f64 / f64::from(rate)).sin()) as f32;
                std::iter::repeat_n(x, channels)
            })
            .collect()
    }

    /// All of `input`, pushed in pieces of `piece` frames.
    fn convert(rate: u32, channels: usize, input: &[f32], piece: usize) -> Vec<f32> {
        let mut c = ToMono16k::new(rate, channels).expect("supported");
        let mut out = Vec::new();
        for p in input.chunks(piece * channels) {
            c.push(p, &mut out).expect("pushes");
        }
        c.finish(&mut out).expect("finishes");
        out
    }

    /// The phase-aligned error of `got` against a 16 kHz tone of `hz`, amplitude `amp`,
    /// relative to the tone's RMS, away from the edges.
    fn error_against_tone(got: &[f32], hz: f64, amp: f64) -> f64 {
        let (mut err, mut sig) = (0.0, 0.0);
        for (i, &y) in got.iter().enumerate().skip(800).take(got.len().saturating_sub(1600)) {
            let want = amp * (2.0 * std::f64::consts::PI * hz * i as f64 / SAMPLE_RATE as f64).sin();
            err += (f64::from(y) - want).powi(2);
            sig += want * want;
        }
        (err / sig).sqrt()
    }

    #[test]
    fn common_rates_come_out_at_16k_in_time_and_length() {
        for rate in [8_000, 22_050, 44_100, 48_000, 96_000, 11_025, 44_099] {
            let input = tone(rate, 2.0, 440.0, 1);
            for piece in [1152, 4096, 100_000] {
                let out = convert(rate, 1, &input, piece);
                let want = (input.len() as u64 * 16_000).div_ceil(u64::from(rate)) as usize;
                assert_eq!(out.len(), want, "{rate} Hz in pieces of {piece}");
                // The same tone at the same phase: no delay left, no block lost.
                let e = error_against_tone(&out, 440.0, 0.5);
                assert!(e < 0.01, "{rate} Hz in pieces of {piece}: error {e}");
            }
        }
    }

    #[test]
    fn blocks_are_even_whole_multiples_of_the_ratio() {
        for (rate, want) in [(44_100, 4410), (22_050, 2646), (48_000, 4800), (8_000, 800), (11_025, 1764), (44_099, 88_198)] {
            assert_eq!(block(rate), want, "{rate} Hz");
        }
    }

    #[test]
    fn stereo_folds_as_ffmpeg_does_and_16k_mono_passes_through() {
        let input = tone(16_000, 1.0, 300.0, 1);
        assert_eq!(convert(16_000, 1, &input, 777), input);
        let stereo = tone(16_000, 1.0, 300.0, 2);
        let out = convert(16_000, 2, &stereo, 777);
        assert_eq!(out.len(), input.len());
        assert!(error_against_tone(&out, 300.0, 0.5 * std::f64::consts::SQRT_2) < 1e-6);
        // Left only, resampled: each channel weighs √½.
        let left: Vec<f32> = tone(44_100, 1.0, 300.0, 2).chunks(2).flat_map(|f| [f[0], 0.0]).collect();
        let out = convert(44_100, 2, &left, 1000);
        assert!(error_against_tone(&out, 300.0, 0.5 * std::f64::consts::FRAC_1_SQRT_2) < 0.01);
    }

    #[test]
    fn unusual_layouts_and_rates_are_refused() {
        assert!(ToMono16k::new(48_000, 6).is_err());
        assert!(ToMono16k::new(48_000, 0).is_err());
        assert!(ToMono16k::new(u32::MAX, 1).is_err());
        assert!(ToMono16k::new(0, 1).is_err());
        let c = ToMono16k::new(44_100, 2).expect("stereo");
        assert!(c.takes(44_100, 2) && !c.takes(48_000, 2) && !c.takes(44_100, 1));
    }

    #[test]
    fn nothing_in_nothing_out() {
        for rate in [16_000, 44_100] {
            let mut out = Vec::new();
            ToMono16k::new(rate, 1).expect("supported").finish(&mut out).expect("finishes");
            assert!(out.is_empty());
            // A few frames: still the right length.
            assert_eq!(convert(rate, 1, &[0.1; 5], 5).len(), (5 * 16_000usize).div_ceil(rate as usize));
        }
    }
}
