//! Whisper's log-mel spectrogram, computed the way OpenAI's and faster-whisper's feature
//! extractors do: 16 kHz audio, 160 zero samples appended, a centred STFT (reflect padding,
//! periodic Hann window of 400, hop 160) whose last frame is dropped, power spectrum,
//! Slaney-normalised mel filterbank (librosa's `mel(htk=False, norm="slaney")`),
//! `log10(max(x, 1e-10))`, floored at 8 below the whole clip's maximum, then `(x + 4) / 4`.
//! 100 frames per second; the model reads 30 s windows of 3000 frames, zero-padded.

use realfft::RealFftPlanner;

pub const SAMPLE_RATE: usize = 16_000;
pub const N_FFT: usize = 400;
pub const HOP: usize = 160;
/// Frames in one 30 s window: what the encoder takes.
pub const WINDOW_FRAMES: usize = 3000;
/// Mel frames per second.
pub const FRAMES_PER_SECOND: f64 = (SAMPLE_RATE / HOP) as f64;

/// A log-mel spectrogram, `n_mels` rows of `frames` values, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct LogMel {
    pub n_mels: usize,
    pub frames: usize,
    pub data: Vec<f32>,
}

impl LogMel {
    /// Computes the spectrogram of 16 kHz mono samples.
    pub fn new(samples: &[f32], n_mels: usize) -> LogMel {
        // faster-whisper's `padding=160`; then at least one FFT's worth for the reflection.
        let mut wave = samples.to_vec();
        wave.extend(std::iter::repeat_n(0.0, HOP));
        if wave.len() <= N_FFT / 2 {
            wave.resize(N_FFT / 2 + 1, 0.0);
        }
        let padded = reflect_pad(&wave, N_FFT / 2);
        // numpy's stft: 1 + (len - n_fft) / hop frames; Whisper drops the last one.
        let frames = (padded.len() - N_FFT) / HOP;
        let window = hann(N_FFT);
        let filters = MelFilters::new(n_mels);

        let mut planner = RealFftPlanner::<f32>::new();
        let fft = planner.plan_fft_forward(N_FFT);
        let mut input = fft.make_input_vec();
        let mut spectrum = fft.make_output_vec();
        let mut scratch = fft.make_scratch_vec();
        let mut power = vec![0f32; N_FFT / 2 + 1];
        let mut data = vec![0f32; n_mels * frames];
        for frame in 0..frames {
            let start = frame * HOP;
            for (i, x) in input.iter_mut().enumerate() {
                *x = padded[start + i] * window[i];
            }
            // The lengths come from the plan itself, so processing cannot fail.
            if fft.process_with_scratch(&mut input, &mut spectrum, &mut scratch).is_err() {
                continue;
            }
            for (p, c) in power.iter_mut().zip(&spectrum) {
                *p = c.norm_sqr();
            }
            for (m, filter) in filters.rows.iter().enumerate() {
                let energy: f32 = filter.weights.iter().zip(&power[filter.first..]).map(|(w, p)| w * p).sum();
                data[m * frames + frame] = energy.max(1e-10).log10();
            }
        }
        let max = data.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        for x in &mut data {
            *x = (x.max(max - 8.0) + 4.0) / 4.0;
        }
        LogMel { n_mels, frames, data }
    }

    /// Frames that hold audio (faster-whisper's `content_frames`: the appended padding's
    /// frame is not content).
    pub fn content_frames(&self) -> usize {
        self.frames.saturating_sub(1)
    }

    /// `size` frames from `start`, zero-padded to a 3000-frame window, `[n_mels, 3000]`.
    pub fn window(&self, start: usize, size: usize) -> Vec<f32> {
        let mut out = vec![0f32; self.n_mels * WINDOW_FRAMES];
        let end = (start + size.min(WINDOW_FRAMES)).min(self.frames);
        if start >= end {
            return out;
        }
        for m in 0..self.n_mels {
            let row = &self.data[m * self.frames..(m + 1) * self.frames];
            out[m * WINDOW_FRAMES..m * WINDOW_FRAMES + (end - start)].copy_from_slice(&row[start..end]);
        }
        out
    }
}

/// numpy's `np.pad(mode="reflect")`: mirrored without repeating the edge sample.
fn reflect_pad(x: &[f32], pad: usize) -> Vec<f32> {
    let n = x.len();
    let mut out = Vec::with_capacity(n + 2 * pad);
    out.extend((1..=pad).rev().map(|i| x[i.min(n - 1)]));
    out.extend_from_slice(x);
    out.extend((0..pad).map(|i| x[n.saturating_sub(2 + i)]));
    out
}

/// The periodic Hann window (`np.hanning(n + 1)[:-1]`).
fn hann(n: usize) -> Vec<f32> {
    (0..n).map(|i| (0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n as f64).cos()) as f32).collect()
}

struct MelRow {
    /// Index of the first FFT bin with a non-zero weight.
    first: usize,
    weights: Vec<f32>,
}

/// The Slaney mel filterbank for 16 kHz and `N_FFT`, stored sparsely (each triangle
/// covers a few bins).
struct MelFilters {
    rows: Vec<MelRow>,
}

impl MelFilters {
    fn new(n_mels: usize) -> MelFilters {
        let bins = N_FFT / 2 + 1;
        let fft_freqs: Vec<f64> = (0..bins).map(|k| k as f64 * SAMPLE_RATE as f64 / N_FFT as f64).collect();
        // Slaney's mel scale: linear below 1 kHz (200/3 Hz per mel), logarithmic above.
        let f_sp = 200.0 / 3.0;
        let min_log_hz = 1000.0;
        let min_log_mel = min_log_hz / f_sp;
        let logstep = 6.4f64.ln() / 27.0;
        let hz_to_mel = |f: f64| if f >= min_log_hz { min_log_mel + (f / min_log_hz).ln() / logstep } else { f / f_sp };
        let mel_to_hz = |m: f64| if m >= min_log_mel { min_log_hz * (logstep * (m - min_log_mel)).exp() } else { f_sp * m };
        let max_mel = hz_to_mel(SAMPLE_RATE as f64 / 2.0);
        let freqs: Vec<f64> = (0..n_mels + 2).map(|i| mel_to_hz(max_mel * i as f64 / (n_mels + 1) as f64)).collect();
        let rows = (0..n_mels)
            .map(|m| {
                let (lo, center, hi) = (freqs[m], freqs[m + 1], freqs[m + 2]);
                let enorm = 2.0 / (hi - lo);
                let dense: Vec<f32> = fft_freqs
                    .iter()
                    .map(|&f| {
                        let lower = (f - lo) / (center - lo);
                        let upper = (hi - f) / (hi - center);
                        (lower.min(upper).max(0.0) * enorm) as f32
                    })
                    .collect();
                let first = dense.iter().position(|&w| w > 0.0).unwrap_or(0);
                let last = dense.iter().rposition(|&w| w > 0.0).map_or(first, |l| l + 1);
                MelRow { first, weights: dense[first..last.max(first)].to_vec() }
            })
            .collect();
        MelFilters { rows }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_count_matches_whisper() {
        // 1 s of audio: 16000 + 160 samples, centred → 101 STFT frames, last dropped → 100 +
        // 1 (padding frame) = 101; content frames 100.
        let mel = LogMel::new(&vec![0.0; SAMPLE_RATE], 80);
        assert_eq!(mel.frames, 101);
        assert_eq!(mel.content_frames(), 100);
        assert_eq!(mel.data.len(), 80 * 101);
    }

    #[test]
    fn silence_is_flat_and_scaled() {
        // All-zero audio: log10(1e-10) = -10 everywhere, max - 8 floor keeps -10, (−10+4)/4.
        let mel = LogMel::new(&vec![0.0; 8000], 80);
        assert!(mel.data.iter().all(|&x| (x - (-1.5)).abs() < 1e-6));
    }

    #[test]
    fn a_tone_lands_in_its_mel_band() {
        // 440 Hz lies in the linear part of the scale: mel 6.6, band ≈ 6.6 / (45.25/81) ≈ 11.8.
        let samples: Vec<f32> =
            (0..SAMPLE_RATE).map(|i| (2.0 * std::f32::consts::PI * 440.0 * i as f32 / SAMPLE_RATE as f32).sin() * 0.5).collect();
        let mel = LogMel::new(&samples, 80);
        let frame = 50;
        let column: Vec<f32> = (0..80).map(|m| mel.data[m * mel.frames + frame]).collect();
        let loudest = column.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|(m, _)| m);
        assert!(matches!(loudest, Some(11 | 12)), "{loudest:?}");
    }

    #[test]
    fn filterbank_is_slaney_normalised() {
        // Slaney normalisation: each triangle's area (in Hz) is 1, so the sum of weights over
        // bins (spaced 40 Hz) is ≈ 1/40 for bands wider than a bin.
        let filters = MelFilters::new(80);
        let sum: f32 = filters.rows[40].weights.iter().sum();
        assert!((sum * 40.0 - 1.0).abs() < 0.1, "{sum}");
        assert_eq!(filters.rows.len(), 80);
    }

    #[test]
    fn windows_are_zero_padded() {
        let mel = LogMel { n_mels: 2, frames: 3, data: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0] };
        let w = mel.window(1, 2);
        assert_eq!(w.len(), 2 * WINDOW_FRAMES);
        assert_eq!(&w[..3], &[2.0, 3.0, 0.0]);
        assert_eq!(&w[WINDOW_FRAMES..WINDOW_FRAMES + 3], &[5.0, 6.0, 0.0]);
    }

    #[test]
    fn reflect_pad_mirrors_without_the_edge() {
        assert_eq!(reflect_pad(&[1.0, 2.0, 3.0, 4.0], 2), vec![3.0, 2.0, 1.0, 2.0, 3.0, 4.0, 3.0, 2.0]);
    }
}
