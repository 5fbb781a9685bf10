//! Voice activity detection for `enable_vad`: an energy gate with hangover and padding.
//!
//! Why not a model: faster-whisper's Silero VAD needs an ONNX runtime and a model file
//! (the `voice_activity_detector` crate downloads both), and `webrtc-vad` is an unmaintained
//! (2019) C binding. What `enable_vad` must achieve here is to keep Whisper from
//! hallucinating text over silence and to save decoding time, and silence versus speech is
//! well separated by energy for narration and recorded speech. The gate: 30 ms frames
//! are speech when their RMS level exceeds a threshold that adapts to the clip's noise
//! floor; short bursts are dropped, short pauses bridged (hangover), and each kept region
//! padded so word onsets and tails are not clipped. It does not tell speech from loud
//! music or steady noise above the threshold: those pass through to Whisper, whose own
//! no-speech check still applies.

use super::mel::SAMPLE_RATE;

const FRAME: usize = SAMPLE_RATE * 30 / 1000;
/// Absolute floor: quieter than this is never speech (−50 dBFS).
const MIN_THRESHOLD_DB: f64 = -50.0;
/// Speech must stand this far above the noise floor (the 10th percentile frame)…
const ABOVE_FLOOR_DB: f64 = 12.0;
/// …but the threshold never comes closer than this to the loud frames (95th percentile),
/// so a clip that is speech throughout keeps its quieter syllables.
const BELOW_PEAK_DB: f64 = 25.0;
const MIN_SPEECH_S: f64 = 0.25;
const MIN_SILENCE_S: f64 = 0.5;
/// Padding around speech for sequential decoding.
pub const PAD_S: f64 = 0.2;
/// The padding for batched decoding ([`super::batch`]): faster-whisper's `speech_pad_ms`.
/// Windows decoded without the previous text need the lead-in: on two espeak-ng clips
/// (2.5 and 10 min, tiny.en) WER was 0.111 and 0.097 with 0.2 s, 0.085 and 0.079 with
/// 0.4 s. The cost is words stretched up to 0.4 s into the kept silence.
pub const BATCH_PAD_S: f64 = 0.4;
/// The longest chunk: one Whisper window. Longer speech is cut at its quietest frame in
/// the window's second half (faster-whisper's `max_speech_duration_s` for batching), so
/// batched decoding can give each piece a window of its own. Cut chunks stay contiguous:
/// the concatenated speech is the same.
pub const MAX_CHUNK_SAMPLES: usize = 30 * SAMPLE_RATE;

/// A kept region of the original audio, in samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk {
    pub start: usize,
    pub end: usize,
}

fn db(energy: f64, len: usize) -> f64 {
    10.0 * (energy / len.max(1) as f64).max(1e-12).log10()
}

/// The level of each 30 ms frame, gathered as the samples stream in (8 bytes per frame,
/// not the samples): all the gate needs.
#[derive(Debug, Clone, Default)]
pub struct Levels {
    levels: Vec<f64>,
    /// Sum of squares of the frame being filled, and its samples so far.
    energy: f64,
    filled: usize,
    samples: usize,
}

impl Levels {
    pub fn push(&mut self, samples: &[f32]) {
        for &x in samples {
            self.energy += f64::from(x) * f64::from(x);
            self.filled += 1;
            if self.filled == FRAME {
                self.levels.push(db(self.energy, FRAME));
                (self.energy, self.filled) = (0.0, 0);
            }
        }
        self.samples += samples.len();
    }

    /// The speech regions of the samples pushed, sorted and disjoint.
    pub fn speech_chunks(self) -> Vec<Chunk> {
        self.speech_chunks_padded(PAD_S)
    }

    /// [`Self::speech_chunks`] with `pad_s` seconds of padding on each side instead of 0.2.
    pub fn speech_chunks_padded(self, pad_s: f64) -> Vec<Chunk> {
        self.padded_speech(pad_s).0
    }

    /// [`Self::speech_chunks_padded`], and each chunk's speech: the chunk less the padding
    /// added to it (none where long speech was cut, nor at the audio's ends).
    pub fn padded_speech(mut self, pad_s: f64) -> (Vec<Chunk>, Vec<Chunk>) {
        if self.filled > 0 {
            self.levels.push(db(self.energy, self.filled));
        }
        chunks(&self.levels, self.samples, pad_s).into_iter().unzip()
    }

    /// Seconds of audio pushed so far.
    pub fn seconds(&self) -> f64 {
        self.samples as f64 / SAMPLE_RATE as f64
    }
}

/// The speech regions of 16 kHz audio held whole, sorted and disjoint.
pub fn speech_chunks(samples: &[f32]) -> Vec<Chunk> {
    let mut levels = Levels::default();
    levels.push(samples);
    levels.speech_chunks()
}

/// The gate over the frames' levels, for audio of `total` samples, speech padded by `pad_s`:
/// each chunk and the speech in it.
fn chunks(levels: &[f64], total: usize, pad_s: f64) -> Vec<(Chunk, Chunk)> {
    if levels.is_empty() {
        return Vec::new();
    }
    let mut sorted = levels.to_vec();
    sorted.sort_by(f64::total_cmp);
    let pct = |p: f64| sorted[((sorted.len() - 1) as f64 * p).round() as usize];
    let threshold = (pct(0.10) + ABOVE_FLOOR_DB).min(pct(0.95) - BELOW_PEAK_DB).max(MIN_THRESHOLD_DB);

    let frames = |s: f64| (s * SAMPLE_RATE as f64 / FRAME as f64).ceil() as usize;
    // Runs of speech frames, pauses shorter than MIN_SILENCE bridged.
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for (i, &level) in levels.iter().enumerate() {
        if level <= threshold {
            continue;
        }
        match runs.last_mut() {
            Some(last) if i - last.1 <= frames(MIN_SILENCE_S) => last.1 = i + 1,
            _ => runs.push((i, i + 1)),
        }
    }
    let pad = (pad_s * SAMPLE_RATE as f64) as usize;
    let mut chunks: Vec<(Chunk, Chunk)> = Vec::new();
    for (a, b) in runs.into_iter().filter(|(a, b)| b - a >= frames(MIN_SPEECH_S)) {
        let speech = Chunk { start: (a * FRAME).min(total), end: (b * FRAME).min(total) };
        let start = speech.start.saturating_sub(pad);
        let end = (speech.end + pad).min(total);
        match chunks.last_mut() {
            Some((last, last_speech)) if start <= last.end => (last.end, last_speech.end) = (end, speech.end),
            _ => chunks.push((Chunk { start, end }, speech)),
        }
    }
    split_long(chunks, levels)
}

/// Cuts chunks longer than [`MAX_CHUNK_SAMPLES`] in the middle of their quietest frame
/// between half and all of a window from where the piece starts. A piece's speech is its
/// chunk's within it: a cut is not padded (a piece of padding alone keeps itself).
fn split_long(chunks: Vec<(Chunk, Chunk)>, levels: &[f64]) -> Vec<(Chunk, Chunk)> {
    let mut out = Vec::with_capacity(chunks.len());
    let piece = |start: usize, end: usize, speech: Chunk| {
        let within = Chunk { start: speech.start.clamp(start, end), end: speech.end.clamp(start, end) };
        (Chunk { start, end }, if within.start < within.end { within } else { Chunk { start, end } })
    };
    for (c, speech) in chunks {
        let mut start = c.start;
        while c.end - start > MAX_CHUNK_SAMPLES {
            // Frames whose middle lies at least half a window after `start` and before
            // its end, so each piece has some speech and fits the window.
            let from = (start + MAX_CHUNK_SAMPLES / 2) / FRAME;
            let to = ((start + MAX_CHUNK_SAMPLES) / FRAME - 1).min(levels.len().saturating_sub(1)).max(from);
            let quietest =
                (from..=to).min_by(|&a, &b| levels.get(a).unwrap_or(&0.0).total_cmp(levels.get(b).unwrap_or(&0.0))).unwrap_or(to);
            let cut = quietest * FRAME + FRAME / 2;
            out.push(piece(start, cut, speech));
            start = cut;
        }
        out.push(piece(start, c.end, speech));
    }
    out
}

/// Hands on the parts of a stream of samples that fall in `chunks` (sorted, disjoint), in
/// order: the concatenated speech, without holding the audio.
#[derive(Debug)]
pub struct Keep<'a> {
    chunks: &'a [Chunk],
    /// Index in the stream of the next sample pushed.
    at: usize,
}

impl<'a> Keep<'a> {
    pub fn new(chunks: &'a [Chunk]) -> Keep<'a> {
        Keep { chunks, at: 0 }
    }

    /// Gives `out` the kept parts of `samples` (the stream's next ones); false once past
    /// the last chunk, when nothing more will be kept.
    pub fn push(&mut self, samples: &[f32], mut out: impl FnMut(&[f32])) -> bool {
        let (from, to) = (self.at, self.at + samples.len());
        self.at = to;
        for c in self.chunks.iter().skip_while(|c| c.end <= from).take_while(|c| c.start < to) {
            out(&samples[c.start.max(from) - from..c.end.min(to) - from]);
        }
        self.chunks.last().is_some_and(|c| c.end > to)
    }
}

/// Maps times in the concatenated speech back to the original audio.
#[derive(Debug, Clone)]
pub struct TimeMap {
    /// (start in the concatenation, start in the original), seconds, per chunk.
    starts: Vec<(f64, f64)>,
    /// Each chunk's speech, in the concatenation (seconds): where its padding ends and starts.
    speech: Vec<(f64, f64)>,
}

impl TimeMap {
    /// For `chunks` all speech (no padding told apart).
    pub fn new(chunks: &[Chunk]) -> TimeMap {
        TimeMap::with_speech(chunks, chunks)
    }

    /// For `chunks` holding `speech` ([`Levels::padded_speech`]; one within each chunk).
    pub fn with_speech(chunks: &[Chunk], speech: &[Chunk]) -> TimeMap {
        let secs = |samples: usize| samples as f64 / SAMPLE_RATE as f64;
        let mut at = 0.0;
        let mut starts = Vec::with_capacity(chunks.len());
        let mut spans = Vec::with_capacity(chunks.len());
        for (i, c) in chunks.iter().enumerate() {
            let s = speech.get(i).filter(|s| s.start >= c.start && s.end <= c.end && s.start <= s.end).unwrap_or(c);
            starts.push((at, secs(c.start)));
            spans.push((at + secs(s.start - c.start), at + secs(s.end - c.start)));
            at += secs(c.end - c.start);
        }
        TimeMap { starts, speech: spans }
    }

    /// Where chunk `chunk`'s speech starts and ends, in the concatenation.
    pub fn speech(&self, chunk: usize) -> Option<(f64, f64)> {
        self.speech.get(chunk).copied()
    }

    /// The chunk holding concatenated time `t` (the last one starting at or before it).
    pub fn chunk(&self, t: f64) -> usize {
        self.starts.iter().rposition(|&(s, _)| s <= t).unwrap_or(0)
    }

    /// Original time of concatenated time `t`, within chunk `chunk`.
    pub fn original(&self, t: f64, chunk: usize) -> f64 {
        self.starts.get(chunk).map_or(t, |&(s, o)| o + (t - s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(seconds: f64, amplitude: f32) -> Vec<f32> {
        (0..(seconds * SAMPLE_RATE as f64) as usize).map(|i| amplitude * (i as f32 * 0.2).sin()).collect()
    }

    #[test]
    fn silence_has_no_speech() {
        assert!(speech_chunks(&vec![0.0; SAMPLE_RATE * 5]).is_empty());
        assert!(speech_chunks(&[]).is_empty());
    }

    #[test]
    fn finds_speech_between_silences_with_padding() {
        let mut audio = vec![0.0; SAMPLE_RATE * 2];
        audio.extend(tone(1.0, 0.3));
        audio.extend(vec![0.0; SAMPLE_RATE * 3]);
        audio.extend(tone(0.5, 0.3));
        audio.extend(vec![0.0; SAMPLE_RATE]);
        let chunks = speech_chunks(&audio);
        assert_eq!(chunks.len(), 2, "{chunks:?}");
        let secs = |s: usize| s as f64 / SAMPLE_RATE as f64;
        assert!((secs(chunks[0].start) - 1.8).abs() < 0.04, "{chunks:?}");
        assert!((secs(chunks[0].end) - 3.2).abs() < 0.04, "{chunks:?}");
        assert!((secs(chunks[1].start) - 5.8).abs() < 0.04, "{chunks:?}");
    }

    #[test]
    fn short_pauses_are_bridged_and_clicks_dropped() {
        let mut audio = tone(1.0, 0.3);
        audio.extend(vec![0.0; SAMPLE_RATE / 4]);
        audio.extend(tone(1.0, 0.3));
        audio.extend(vec![0.0; SAMPLE_RATE * 2]);
        audio.extend(tone(0.06, 0.3));
        audio.extend(vec![0.0; SAMPLE_RATE * 2]);
        assert_eq!(speech_chunks(&audio).len(), 1);
    }

    #[test]
    fn speech_longer_than_a_window_is_cut_at_its_quietest_frame() {
        // 70 s of speech whose pauses are too short to split it (0.3 s), the quietest
        // at 24 s (after half a window) and at 50 s.
        let mut audio = Vec::new();
        for (seconds, amplitude) in [(10.0, 0.3), (0.3, 0.001), (13.7, 0.3), (0.3, 0.0), (25.7, 0.3), (0.3, 0.0), (19.7, 0.3)] {
            audio.extend(if amplitude > 0.0 { tone(seconds, amplitude) } else { vec![0.0; (seconds * SAMPLE_RATE as f64) as usize] });
        }
        let chunks = speech_chunks(&audio);
        let secs = |s: usize| s as f64 / SAMPLE_RATE as f64;
        assert_eq!(chunks.len(), 3, "{chunks:?}");
        assert!(chunks.windows(2).all(|w| w[0].end == w[1].start), "contiguous: {chunks:?}");
        assert_eq!((chunks[0].start, chunks[2].end), (0, audio.len()));
        assert!(chunks.iter().all(|c| c.end - c.start <= MAX_CHUNK_SAMPLES), "{chunks:?}");
        // The cuts land in the silent pauses, not in the faint tone at 10 s (before half a window).
        assert!((24.0..24.3).contains(&secs(chunks[0].end)), "{chunks:?}");
        assert!((50.0..50.3).contains(&secs(chunks[1].end)), "{chunks:?}");
    }

    #[test]
    fn padded_chunks_know_their_speech() {
        let mut audio = vec![0.0; SAMPLE_RATE * 2];
        audio.extend(tone(1.0, 0.3));
        audio.extend(vec![0.0; SAMPLE_RATE * 3]);
        audio.extend(tone(0.5, 0.3));
        let mut levels = Levels::default();
        levels.push(&audio);
        let (chunks, speech) = levels.padded_speech(0.4);
        let secs = |s: usize| s as f64 / SAMPLE_RATE as f64;
        assert_eq!(chunks.len(), 2, "{chunks:?}");
        // Padded 0.4 s, but not past the end of the audio.
        assert!((secs(speech[0].start) - 2.0).abs() < 0.04 && (secs(chunks[0].start) - 1.6).abs() < 0.04, "{chunks:?} {speech:?}");
        assert!((secs(speech[0].end) - 3.0).abs() < 0.04 && (secs(chunks[0].end) - 3.4).abs() < 0.04, "{chunks:?} {speech:?}");
        assert_eq!((speech[1].end, chunks[1].end), (audio.len(), audio.len()));
        // In the concatenation: the first chunk's speech 0.4 s in, the second's 0.4 s after
        // the first chunk's 1.8 s.
        let map = TimeMap::with_speech(&chunks, &speech);
        let (from, to) = map.speech(1).expect("two chunks");
        let first = secs(chunks[0].end - chunks[0].start);
        assert!((from - first - 0.4).abs() < 0.04 && (to - from - 0.5).abs() < 0.04, "{from} {to}");
        assert_eq!(TimeMap::new(&chunks).speech(1), Some((first, first + secs(chunks[1].end - chunks[1].start))));

        // Long speech cut in two: no padding at the cut.
        let long = tone(40.0, 0.3);
        let mut levels = Levels::default();
        levels.push(&long);
        let (chunks, speech) = levels.padded_speech(0.4);
        assert_eq!(chunks.len(), 2, "{chunks:?}");
        assert_eq!((speech[0].end, speech[1].start), (chunks[0].end, chunks[1].start));
    }

    #[test]
    fn times_map_back_to_the_original() {
        let chunks = [Chunk { start: 16_000, end: 32_000 }, Chunk { start: 80_000, end: 96_000 }];
        let map = TimeMap::new(&chunks);
        assert_eq!(map.chunk(0.5), 0);
        assert_eq!(map.original(0.5, 0), 1.5);
        assert_eq!(map.chunk(1.25), 1);
        assert_eq!(map.original(1.25, 1), 5.25);
    }

    #[test]
    fn kept_parts_of_a_stream_are_the_chunks_concatenated() {
        let samples: Vec<f32> = (0..100_000).map(|i| i as f32).collect();
        let chunks = [Chunk { start: 10, end: 20 }, Chunk { start: 20_000, end: 40_123 }, Chunk { start: 99_990, end: 100_000 }];
        let whole: Vec<f32> = chunks.iter().flat_map(|c| samples[c.start..c.end].iter().copied()).collect();
        for piece in [1, 7, 16_000, 100_000] {
            let (mut keep, mut kept, mut more) = (Keep::new(&chunks), Vec::new(), true);
            for part in samples.chunks(piece) {
                assert!(more, "asked for more after the last chunk");
                more = keep.push(part, |s| kept.extend_from_slice(s));
            }
            assert_eq!(kept, whole, "pieces of {piece}");
            assert!(!more);
        }
        let (mut keep, mut kept) = (Keep::new(&chunks[..1]), Vec::new());
        assert!(!keep.push(&samples[..16_000], |s| kept.extend_from_slice(s)), "past the last chunk after the first piece");
        assert_eq!(kept.len(), 10);
    }
}
