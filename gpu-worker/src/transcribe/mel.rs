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

/// A log-mel spectrogram of `frames` frames of `n_mels` values, frame-major (so it grows
/// frame by frame as audio streams in, with no copy to transpose it).
#[derive(Debug, Clone, PartialEq)]
pub struct LogMel {
    pub n_mels: usize,
    pub frames: usize,
    /// `data[frame * n_mels + mel]`.
    pub data: Vec<f32>,
}

impl LogMel {
    /// Computes the spectrogram of 16 kHz mono samples held whole.
    pub fn new(samples: &[f32], n_mels: usize) -> LogMel {
        let mut builder = MelBuilder::new(n_mels);
        builder.push(samples);
        builder.finish()
    }

    /// The value of band `mel` in `frame`.
    pub fn at(&self, mel: usize, frame: usize) -> f32 {
        self.data[frame * self.n_mels + mel]
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
        for (j, frame) in (start..end).enumerate() {
            let column = &self.data[frame * self.n_mels..(frame + 1) * self.n_mels];
            for (m, &x) in column.iter().enumerate() {
                out[m * WINDOW_FRAMES + j] = x;
            }
        }
        out
    }
}

/// Builds a [`LogMel`] from samples pushed piece by piece, as ffmpeg decodes them, holding
/// only the last few hundred samples: the result is the same, bit for bit, as computing
/// it over the whole clip at once (each frame sees the same padded samples; the floor at
/// the clip's maximum is applied once all frames are in).
pub struct MelBuilder {
    n_mels: usize,
    fft: std::sync::Arc<dyn realfft::RealToComplex<f32>>,
    window: Vec<f32>,
    filters: MelFilters,
    input: Vec<f32>,
    spectrum: Vec<realfft::num_complex::Complex<f32>>,
    scratch: Vec<realfft::num_complex::Complex<f32>>,
    power: Vec<f32>,
    /// Samples of the wave from index `base` on (what frames not yet computed may read).
    buf: Vec<f32>,
    base: usize,
    /// Samples pushed so far.
    received: usize,
    /// Frames computed so far.
    frames: usize,
    /// Raw `log10` energies, frame-major.
    data: Vec<f32>,
    max: f32,
}

/// The reflection padding on each side: half an FFT (the STFT is centred).
const PAD: usize = N_FFT / 2;

impl MelBuilder {
    pub fn new(n_mels: usize) -> MelBuilder {
        let mut planner = RealFftPlanner::<f32>::new();
        let fft = planner.plan_fft_forward(N_FFT);
        MelBuilder {
            n_mels,
            input: fft.make_input_vec(),
            spectrum: fft.make_output_vec(),
            scratch: fft.make_scratch_vec(),
            fft,
            window: hann(N_FFT),
            filters: MelFilters::new(n_mels),
            power: vec![0f32; N_FFT / 2 + 1],
            buf: Vec::new(),
            base: 0,
            received: 0,
            frames: 0,
            data: Vec::new(),
            max: f32::NEG_INFINITY,
        }
    }

    /// Adds the next samples and computes every frame they complete. A frame reads the
    /// wave from 200 samples before its centre to 200 after; the first two also read the
    /// reflection of samples 1..=200, so nothing is computed before 201 samples are in.
    pub fn push(&mut self, samples: &[f32]) {
        self.buf.extend_from_slice(samples);
        self.received += samples.len();
        while self.frames * HOP + PAD < self.received {
            self.frame(usize::MAX);
        }
        // Drop what no later frame reads, in large steps (draining moves the rest).
        let keep_from = (self.frames * HOP).saturating_sub(PAD);
        if keep_from - self.base >= 1 << 16 {
            self.buf.drain(..keep_from - self.base);
            self.base = keep_from;
        }
    }

    /// The spectrogram: the last frames (which read the 160 appended zeros and the
    /// reflection at the end), then the floor and scaling over all frames.
    pub fn finish(mut self) -> LogMel {
        // faster-whisper's `padding=160`; then at least one FFT's worth for the reflection.
        let mut n = self.received + HOP;
        self.buf.resize(n - self.base, 0.0);
        if n <= PAD {
            n = PAD + 1;
            self.buf.resize(n - self.base, 0.0);
        }
        // numpy's stft: 1 + (len - n_fft) / hop frames over the padded wave (len n + n_fft);
        // Whisper drops the last one.
        let frames = n / HOP;
        while self.frames < frames {
            self.frame(n);
        }
        let floor = self.max - 8.0;
        for x in &mut self.data {
            *x = (x.max(floor) + 4.0) / 4.0;
        }
        LogMel { n_mels: self.n_mels, frames, data: self.data }
    }

    /// Sample `p` of the padded wave (numpy's `np.pad(mode="reflect")`: mirrored without
    /// repeating the edge sample) when the wave has `n` samples (`usize::MAX` while more may
    /// come: then `p` never reaches past what was pushed).
    fn padded(&self, p: usize, n: usize) -> f32 {
        let i = if p < PAD {
            (PAD - p).min(n - 1)
        } else if p - PAD < n {
            p - PAD
        } else {
            n.saturating_sub(2 + (p - PAD - n))
        };
        self.buf[i - self.base]
    }

    fn frame(&mut self, n: usize) {
        let start = self.frames * HOP;
        for i in 0..N_FFT {
            self.input[i] = self.padded(start + i, n) * self.window[i];
        }
        let column = self.data.len();
        self.data.resize(column + self.n_mels, 0.0);
        self.frames += 1;
        // The lengths come from the plan itself, so processing cannot fail (a frame it did
        // fail on would stay at zero, as it did when the whole clip was computed at once).
        if self.fft.process_with_scratch(&mut self.input, &mut self.spectrum, &mut self.scratch).is_err() {
            self.max = self.max.max(0.0);
            return;
        }
        for (p, c) in self.power.iter_mut().zip(&self.spectrum) {
            *p = c.norm_sqr();
        }
        for (m, filter) in self.filters.rows.iter().enumerate() {
            let energy: f32 = filter.weights.iter().zip(&self.power[filter.first..]).map(|(w, p)| w * p).sum();
            let x = energy.max(1e-10).log10();
            self.data[column + m] = x;
            self.max = self.max.max(x);
        }
    }
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
        let column: Vec<f32> = (0..80).map(|m| mel.at(m, frame)).collect();
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
        // Two bands over three frames, frame-major: band 0 is 1, 2, 3; band 1 is 4, 5, 6.
        let mel = LogMel { n_mels: 2, frames: 3, data: vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0] };
        let w = mel.window(1, 2);
        assert_eq!(w.len(), 2 * WINDOW_FRAMES);
        assert_eq!(&w[..3], &[2.0, 3.0, 0.0]);
        assert_eq!(&w[WINDOW_FRAMES..WINDOW_FRAMES + 3], &[5.0, 6.0, 0.0]);
    }

    /// The spectrogram computed over the whole clip at once, band-major, as it was before
    /// it was streamed: the reference the builder must match bit for bit.
    fn whole_clip(samples: &[f32], n_mels: usize) -> (usize, Vec<f32>) {
        let mut wave = samples.to_vec();
        wave.extend(std::iter::repeat_n(0.0, HOP));
        if wave.len() <= N_FFT / 2 {
            wave.resize(N_FFT / 2 + 1, 0.0);
        }
        let padded = reflect_pad(&wave, N_FFT / 2);
        let frames = (padded.len() - N_FFT) / HOP;
        let window = hann(N_FFT);
        let filters = MelFilters::new(n_mels);
        let mut planner = RealFftPlanner::<f32>::new();
        let fft = planner.plan_fft_forward(N_FFT);
        let (mut input, mut spectrum, mut scratch) = (fft.make_input_vec(), fft.make_output_vec(), fft.make_scratch_vec());
        let mut power = vec![0f32; N_FFT / 2 + 1];
        let mut data = vec![0f32; n_mels * frames];
        for frame in 0..frames {
            for (i, x) in input.iter_mut().enumerate() {
                *x = padded[frame * HOP + i] * window[i];
            }
            fft.process_with_scratch(&mut input, &mut spectrum, &mut scratch).unwrap();
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
        (frames, data)
    }

    #[test]
    fn streamed_pieces_give_the_whole_clips_spectrogram_bit_for_bit() {
        // A chirp with noise-like content, so every band and frame differs.
        let signal = |n: usize| -> Vec<f32> {
            (0..n).map(|i| ((i as f32 * 0.013).sin() * (i as f32 * 0.0007 + 0.3).sin() + (i as f32 * 1.7).cos() * 0.1) * 0.4).collect()
        };
        for (len, n_mels) in [(0, 80), (1, 80), (40, 80), (41, 80), (200, 80), (201, 128), (359, 80), (16_000, 80), (200_003, 128)] {
            let samples = signal(len);
            let (frames, reference) = whole_clip(&samples, n_mels);
            for piece in [1, 7, 160, 401, 4096, usize::MAX] {
                let mut builder = MelBuilder::new(n_mels);
                for chunk in samples.chunks(piece.min(samples.len().max(1))) {
                    builder.push(chunk);
                }
                let mel = builder.finish();
                assert_eq!(mel.frames, frames, "{len} samples in pieces of {piece}");
                let same = (0..frames).all(|f| (0..n_mels).all(|m| mel.at(m, f).to_bits() == reference[m * frames + f].to_bits()));
                assert!(same, "{len} samples in pieces of {piece}: the spectrogram differs");
            }
        }
    }

    #[test]
    fn the_builder_holds_only_a_tail_of_the_samples() {
        let mut builder = MelBuilder::new(80);
        for _ in 0..100 {
            builder.push(&[0.1; 16_000]);
        }
        assert!(builder.buf.len() < 1 << 17, "{} samples held", builder.buf.len());
        assert_eq!(builder.finish().frames, 100 * 100 + 1);
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

    #[test]
    fn reflect_pad_mirrors_without_the_edge() {
        assert_eq!(reflect_pad(&[1.0, 2.0, 3.0, 4.0], 2), vec![3.0, 2.0, 1.0, 2.0, 3.0, 4.0, 3.0, 2.0]);
    }
}
