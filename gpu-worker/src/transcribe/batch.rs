//! Long audio decoded in batches, after faster-whisper's `BatchedInferencePipeline`: the
//! VAD's speech chunks are joined into pieces of at most 30 s (its `collect_chunks`), each
//! piece is one window, and `batch_size` windows at a time are encoded, decoded and aligned
//! for words in one call each. Windows are independent: no previous text in the prompt
//! and no timestamp tokens (faster-whisper's batched defaults), which is what lets them
//! run together and keeps a misheard window from leading the next one astray.
//!
//! Unlike faster-whisper, a window whose text is improbable is decoded again on its own at
//! higher temperatures (as the sequential path does), a window judged silence is dropped,
//! and a piece's text is not one 30 s segment: segments are cut where the VAD cut silence
//! and after sentence ends, so subtitle cues stay phrase-sized.

use job_spec::transcript::{TranscriptSegment, TranscriptWord};
use tokio_util::sync::CancellationToken;

use super::decode::{self, Decoded, Generated, MEDIAN_FILTER_WIDTH};
use super::mel::{HOP, LogMel, WINDOW_FRAMES};
use super::models::Model;
use super::vad::{Chunk, MAX_CHUNK_SAMPLES, TimeMap};
use super::words::{self, Subsegment};
use super::{TranscribeError, TranscribeOptions};

/// Where a word ending a sentence lets a segment end.
const SENTENCE_END_MARKS: &[char] = &['.', '!', '?', '。', '！', '？'];

/// One window of the concatenated speech: its first mel frame and how many frames it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    pub start: usize,
    pub frames: usize,
}

/// faster-whisper's `collect_chunks`: consecutive chunks joined while they fit one window,
/// as frames of the spectrogram of the chunks concatenated.
pub fn pieces(chunks: &[Chunk]) -> Vec<Piece> {
    let mut spans: Vec<(usize, usize)> = Vec::new();
    let mut at = 0;
    for c in chunks {
        let len = c.end - c.start;
        match spans.last_mut() {
            Some((start, end)) if at + len - *start <= MAX_CHUNK_SAMPLES => *end = at + len,
            _ => spans.push((at, at + len)),
        }
        at += len;
    }
    spans
        .into_iter()
        .map(|(start, end)| {
            let first = start / HOP;
            Piece { start: first, frames: (end.div_ceil(HOP) - first).min(WINDOW_FRAMES) }
        })
        .collect()
}

/// Transcribes `pieces` of the spectrogram of the concatenated speech, `batch_size` windows
/// per call; times are seconds into the concatenation (as [`decode::run`]'s), `map` tells
/// which VAD chunk a time falls in. `cancel` is looked at before each batch.
pub fn run(
    model: &Model,
    mel: &LogMel,
    pieces: &[Piece],
    batch_size: usize,
    map: &TimeMap,
    opts: &TranscribeOptions,
    cancel: &CancellationToken,
) -> Result<Decoded, TranscribeError> {
    let s = model.vocab.specials;
    let temperatures = decode::temperatures(opts);
    let mut detected: Option<(String, f64, Vec<usize>)> = None;
    let mut segments = Vec::new();
    let mut last_speech = 0.0;
    for batch in pieces.chunks(batch_size.max(1)) {
        if cancel.is_cancelled() {
            return Err(TranscribeError::cancelled());
        }
        let windows: Vec<(usize, usize)> = batch.iter().map(|p| (p.start, p.frames)).collect();
        let encoded = decode::encode_windows(model, mel, &windows)?;
        // The language of the first window (faster-whisper detects it on the first 30 s
        // of speech too), then the same prompt for every window.
        let first = match detected.take() {
            Some(d) => d,
            None => {
                let (language, probability) = decode::language(model, opts, Some(&encoded))?;
                let mut sot_sequence = vec![s.sot];
                if model.multilingual {
                    let id = model.vocab.id(&format!("<|{language}|>")).ok_or_else(|| decode::failed("language", &language))?;
                    sot_sequence.push(id);
                    sot_sequence.extend(s.transcribe);
                }
                (language, probability, sot_sequence)
            }
        };
        let (language, _, sot_sequence) = &*detected.insert(first);
        let mut prompt = sot_sequence.clone();
        prompt.push(s.no_timestamps);

        let prompts = vec![prompt.clone(); batch.len()];
        let mut generated = decode::generate_once(model, &encoded, &prompts, opts, temperatures[0])?;
        for (piece, g) in batch.iter().zip(generated.iter_mut()) {
            if g.needs_fallback() && temperatures.len() > 1 {
                let alone = decode::encode_windows(model, mel, &[(piece.start, piece.frames)])?;
                let again = decode::generate(model, &alone, &prompt, opts, &temperatures[1..], cancel)?;
                if again.avg_logprob > g.avg_logprob || !again.needs_fallback() {
                    *g = again;
                }
            }
        }

        let texts: Vec<Vec<usize>> = generated
            .iter()
            .map(|g| if g.skipped() { Vec::new() } else { g.tokens.iter().copied().filter(|&t| t < s.eot).collect() })
            .collect();
        let aligned = if texts.iter().any(|t| !t.is_empty()) {
            // No frames for a window without text: CTranslate2 then aligns nothing there.
            let frames: Vec<usize> = batch.iter().zip(&texts).map(|(p, t)| if t.is_empty() { 0 } else { p.frames }).collect();
            model.whisper.align(&encoded, sot_sequence, &texts, &frames, MEDIAN_FILTER_WIDTH).map_err(|e| decode::failed("alignment", e))?
        } else {
            Vec::new()
        };
        for (i, (piece, g)) in batch.iter().zip(&generated).enumerate() {
            if texts[i].is_empty() {
                continue;
            }
            let time_offset = piece.start as f64 / super::mel::FRAMES_PER_SECOND;
            let mut subsegments = [Subsegment {
                start: time_offset,
                end: time_offset + piece.frames as f64 / super::mel::FRAMES_PER_SECOND,
                tokens: g.tokens.clone(),
                words: vec![],
            }];
            if let Some(a) = aligned.get(i) {
                let (timings, durations) = decode::window_words(model, language, &texts[i], a);
                last_speech = words::assign(&mut subsegments, &timings, &[texts[i].len()], time_offset, durations, last_speech);
            }
            let [sub] = subsegments;
            segments.extend(split_segments(sub, model.vocab.decode(&g.tokens), g, map));
        }
    }
    let (language, language_probability) = match detected {
        Some((language, probability, _)) => (language, probability),
        None => decode::language(model, opts, None)?,
    };
    Ok(Decoded { language, language_probability, segments })
}

/// A window's words as segments: a new one where the words cross into another VAD chunk
/// (silence was cut there) and after a word that ends a sentence. Without words, the
/// window's text is one segment. Words are first kept out of the chunks' padding
/// ([`clamp_to_speech`]).
fn split_segments(mut sub: Subsegment, text: String, g: &Generated, map: &TimeMap) -> Vec<TranscriptSegment> {
    let segment = |start: f64, end: f64, text: String, words| TranscriptSegment {
        start,
        end,
        text,
        avg_logprob: g.avg_logprob,
        no_speech_prob: f64::from(g.no_speech_prob),
        words,
    };
    if sub.words.is_empty() {
        return if text.trim().is_empty() { Vec::new() } else { vec![segment(sub.start, sub.end, text, Vec::new())] };
    }
    clamp_to_speech(&mut sub.words, map);
    let mut groups: Vec<Vec<TranscriptWord>> = Vec::new();
    let mut chunk = None;
    for w in sub.words {
        let here = map.chunk((w.start + w.end) / 2.0);
        match groups.last_mut() {
            Some(g) if chunk == Some(here) && !g.last().is_some_and(|last| last.word.trim_end().ends_with(SENTENCE_END_MARKS)) => g.push(w),
            _ => groups.push(vec![w]),
        }
        chunk = Some(here);
    }
    groups
        .into_iter()
        .map(|words| {
            let text: String = words.iter().map(|w| w.word.as_str()).collect();
            segment(words[0].start, words[words.len() - 1].end, text, words)
        })
        .collect()
}

/// Each VAD chunk is padded for batching ([`super::vad::BATCH_PAD_S`] of the silence
/// around its speech), and the aligner gives that silence to the words next to it: a
/// chunk's first word started up to 0.41 s before its speech, its last ended as late after.
/// Their edges move to the speech's (`map`'s), each word keeping start ≤ end, the words in
/// order. Words inside a chunk are left as aligned.
fn clamp_to_speech(words: &mut [TranscriptWord], map: &TimeMap) {
    let chunks: Vec<usize> = words.iter().map(|w| map.chunk((w.start + w.end) / 2.0)).collect();
    let mut previous_end = f64::NEG_INFINITY;
    for (i, w) in words.iter_mut().enumerate() {
        if let Some((from, to)) = map.speech(chunks[i]) {
            if i == 0 || chunks[i - 1] != chunks[i] {
                w.start = w.start.max(from);
                w.end = w.end.max(w.start);
            }
            if chunks.get(i + 1) != Some(&chunks[i]) {
                w.end = w.end.min(to);
                w.start = w.start.min(w.end);
            }
        }
        w.start = w.start.max(previous_end);
        w.end = w.end.max(w.start);
        previous_end = w.end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: usize = super::super::mel::SAMPLE_RATE;

    #[test]
    fn chunks_join_into_pieces_of_one_window() {
        let chunks = [
            Chunk { start: 0, end: 10 * S },
            Chunk { start: 12 * S, end: 27 * S },
            // 10 + 15 + 6 > 30: a new piece.
            Chunk { start: 40 * S, end: 46 * S },
            Chunk { start: 50 * S, end: 80 * S },
        ];
        let p = pieces(&chunks);
        assert_eq!(p, vec![Piece { start: 0, frames: 2500 }, Piece { start: 2500, frames: 600 }, Piece { start: 3100, frames: 3000 }]);
        // Not aligned to frames: a piece covers every frame its samples touch.
        let p = pieces(&[Chunk { start: 0, end: 150 }, Chunk { start: 30 * S, end: 60 * S }]);
        assert_eq!(p, vec![Piece { start: 0, frames: 1 }, Piece { start: 0, frames: 3000 }]);
        assert!(pieces(&[]).is_empty());
    }

    fn word(w: &str, start: f64, end: f64) -> TranscriptWord {
        TranscriptWord { word: w.into(), start, end, probability: 0.9 }
    }

    #[test]
    fn segments_end_at_cut_silence_and_sentence_ends() {
        // Two VAD chunks: 0–4 s and 4–9 s of the concatenation.
        let map = TimeMap::new(&[Chunk { start: S, end: 5 * S }, Chunk { start: 8 * S, end: 13 * S }]);
        let g = Generated { tokens: vec![], avg_logprob: -0.2, no_speech_prob: 0.01, temperature: 0.0 };
        let sub = Subsegment {
            start: 0.0,
            end: 9.0,
            tokens: vec![],
            words: vec![
                word(" Hello", 0.2, 0.6),
                word(" there.", 0.6, 1.0),
                word(" How", 1.2, 1.5),
                word(" are", 1.5, 3.8),
                word(" you?", 4.3, 4.8),
                word(" Fine", 5.0, 5.4),
            ],
        };
        let segments = split_segments(sub, String::new(), &g, &map);
        let texts: Vec<(&str, f64, f64)> = segments.iter().map(|s| (s.text.as_str(), s.start, s.end)).collect();
        assert_eq!(texts, vec![(" Hello there.", 0.2, 1.0), (" How are", 1.2, 3.8), (" you?", 4.3, 4.8), (" Fine", 5.0, 5.4)]);
        assert_eq!(segments[1].words.len(), 2);
        assert_eq!(segments[0].avg_logprob, -0.2);
    }

    #[test]
    fn chunk_edges_stay_out_of_the_padding() {
        // Two chunks of 3 s each in the concatenation, speech 0.4 s in from either edge.
        let chunks = [Chunk { start: S, end: 4 * S }, Chunk { start: 10 * S, end: 13 * S }];
        let speech = [Chunk { start: S + 6400, end: 4 * S - 6400 }, Chunk { start: 10 * S + 6400, end: 13 * S - 6400 }];
        let map = TimeMap::with_speech(&chunks, &speech);
        let mut words = vec![
            // Starts in the lead padding, ends after the speech: both edges move.
            word(" Hi,", 0.05, 0.7),
            word(" you", 0.7, 1.0),
            word(" there.", 1.0, 2.9),
            // The second chunk: its first word starts early, the last one ends in time.
            word(" Bye", 3.1, 3.8),
            word(" now.", 3.8, 5.5),
        ];
        clamp_to_speech(&mut words, &map);
        let times: Vec<(f64, f64)> = words.iter().map(|w| (w.start, w.end)).collect();
        assert_eq!(times, vec![(0.4, 0.7), (0.7, 1.0), (1.0, 2.6), (3.4, 3.8), (3.8, 5.5)]);
        // A word wholly in the padding lands on the speech's edge, the next after it.
        let mut words = vec![word(" Um", 3.0, 3.2), word(" so", 3.3, 3.9)];
        clamp_to_speech(&mut words, &map);
        let times: Vec<(f64, f64)> = words.iter().map(|w| (w.start, w.end)).collect();
        assert_eq!(times, vec![(3.4, 3.4), (3.4, 3.9)]);
        // Without padding told apart, nothing moves.
        let mut words = vec![word(" Hi", 0.05, 0.7), word(" now.", 3.8, 5.9)];
        clamp_to_speech(&mut words, &TimeMap::new(&chunks));
        assert_eq!((words[0].start, words[1].end), (0.05, 5.9));
    }

    #[test]
    fn a_window_without_words_is_one_segment_of_its_text() {
        let map = TimeMap::new(&[Chunk { start: 0, end: 30 * S }]);
        let g = Generated { tokens: vec![], avg_logprob: -0.5, no_speech_prob: 0.1, temperature: 0.0 };
        let sub = Subsegment { start: 3.0, end: 9.0, tokens: vec![], words: vec![] };
        let segments = split_segments(sub.clone(), " Hi.".into(), &g, &map);
        assert_eq!(segments.len(), 1);
        assert_eq!((segments[0].start, segments[0].end, segments[0].text.as_str()), (3.0, 9.0, " Hi."));
        assert!(split_segments(sub, " ".into(), &g, &map).is_empty());
    }
}
