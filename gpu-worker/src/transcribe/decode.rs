//! The decoding loop over 30 s windows, after faster-whisper's `generate_segments`:
//! encode a window, generate with timestamps (prompted with the previous text), fall back
//! to higher temperatures when the result is improbable, skip windows the model marks as
//! no speech, split the output at its timestamp tokens, align words, and seek to the end of
//! the last complete segment (or of the last word) for the next window.

use ct2rs::sys::{Device, StorageView, WhisperOptions};
use job_spec::transcript::TranscriptSegment;
use tokio_util::sync::CancellationToken;

use super::mel::{FRAMES_PER_SECOND, LogMel, WINDOW_FRAMES};
use super::models::Model;
use super::words::{self, Subsegment, WordTiming};
use super::{TranscribeError, TranscribeOptions};

/// Seconds per timestamp token.
const TIME_PRECISION: f64 = 0.02;
/// Mel frames per timestamp token.
const INPUT_STRIDE: usize = 2;
/// The decoder's context: prompt plus output.
const MAX_LENGTH: usize = 448;
/// faster-whisper's thresholds.
pub(super) const LOG_PROB_THRESHOLD: f64 = -1.0;
pub(super) const NO_SPEECH_THRESHOLD: f32 = 0.6;
const PROMPT_RESET_ON_TEMPERATURE: f32 = 0.5;
pub(super) const MEDIAN_FILTER_WIDTH: i64 = 7;

pub(super) fn failed(what: &str, e: impl std::fmt::Display) -> TranscribeError {
    TranscribeError::new("transcribe-failed", format!("{what}: {e}"))
}

/// What one run over the audio produced; times are seconds into the samples given.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    pub language: String,
    pub language_probability: f64,
    pub segments: Vec<TranscriptSegment>,
}

fn encode(model: &Model, mel: &LogMel, seek: usize, size: usize) -> Result<StorageView<'static>, TranscribeError> {
    encode_windows(model, mel, &[(seek, size)])
}

/// The encoder's output for a batch of windows, each `(first frame, frames)` of `mel`
/// zero-padded to 30 s: `[windows, 1500, d_model]`.
pub(super) fn encode_windows(model: &Model, mel: &LogMel, windows: &[(usize, usize)]) -> Result<StorageView<'static>, TranscribeError> {
    let mut features = Vec::with_capacity(windows.len() * mel.n_mels * WINDOW_FRAMES);
    for &(seek, size) in windows {
        features.extend(mel.window(seek, size));
    }
    let features =
        StorageView::new(&[windows.len(), mel.n_mels, WINDOW_FRAMES], &mut features, Device::CPU).map_err(|e| failed("features", e))?;
    model.whisper.encode(&features, false).map_err(|e| failed("encoder", e))
}

/// The forced language, or the one detected on `encoded` (the first window). `.en` models
/// are English whatever was asked.
pub(super) fn language(
    model: &Model,
    opts: &TranscribeOptions,
    encoded: Option<&StorageView<'_>>,
) -> Result<(String, f64), TranscribeError> {
    if !model.multilingual {
        return Ok(("en".to_owned(), 1.0));
    }
    match opts.language.as_deref().map(str::trim).filter(|l| !l.is_empty() && *l != "auto") {
        Some(forced) => {
            let forced = forced.to_ascii_lowercase();
            if model.vocab.id(&format!("<|{forced}|>")).is_none() {
                return Err(TranscribeError::new(
                    "transcribe-failed",
                    format!("model {} does not know the language {forced:?}", model.name),
                ));
            }
            Ok((forced, 1.0))
        }
        None => {
            let Some(encoded) = encoded else { return Ok(("en".to_owned(), 0.0)) };
            let results = model.whisper.detect_language(encoded).map_err(|e| failed("language detection", e))?;
            let best = results.first().and_then(|r| r.first()).ok_or_else(|| failed("language detection", "no result"))?;
            let (token, probability) = detection(best)?;
            let code = token.trim_start_matches("<|").trim_end_matches("|>").to_owned();
            Ok((code, f64::from(probability)))
        }
    }
}

/// The (language token, probability) of a detection. ct2rs 0.10.3 keeps
/// `DetectionResult`'s fields private to the crate and offers no accessor, so they are read
/// from its derived `Debug` form, `DetectionResult { language: "<|en|>", probability: 0.97 }`.
fn detection(d: &ct2rs::sys::DetectionResult) -> Result<(String, f32), TranscribeError> {
    parse_detection(&format!("{d:?}")).ok_or_else(|| failed("language detection", format!("unexpected result {d:?}")))
}

fn parse_detection(debug: &str) -> Option<(String, f32)> {
    let after = debug.split_once("language: \"")?.1;
    let (language, rest) = after.split_once('"')?;
    let probability = rest.split_once("probability: ")?.1.trim_end_matches(|c: char| c == '}' || c.is_whitespace());
    Some((language.to_owned(), probability.trim().parse().ok()?))
}

/// Language only, for audio with no speech to decode: detected on the first window of
/// `mel` when the model is multilingual and none was forced.
pub fn language_only(model: &Model, mel: &LogMel, opts: &TranscribeOptions) -> Result<(String, f64), TranscribeError> {
    let needs_detection = model.multilingual && opts.language.as_deref().is_none_or(|l| l.trim().is_empty() || l == "auto");
    if needs_detection && mel.content_frames() > 0 {
        let encoded = encode(model, mel, 0, mel.content_frames().min(WINDOW_FRAMES))?;
        return language(model, opts, Some(&encoded));
    }
    language(model, opts, None)
}

/// One window's decoding: its tokens, their average log probability, the no-speech
/// probability, and the temperature that gave them.
pub(super) struct Generated {
    pub tokens: Vec<usize>,
    pub avg_logprob: f64,
    pub no_speech_prob: f32,
    pub temperature: f32,
}

impl Generated {
    /// faster-whisper's "silence" test: the model's no-speech probability is high.
    pub fn silence(&self) -> bool {
        self.no_speech_prob > NO_SPEECH_THRESHOLD
    }

    /// faster-whisper's skip rule: a window judged silence whose text is improbable too.
    pub fn skipped(&self) -> bool {
        self.silence() && self.avg_logprob < LOG_PROB_THRESHOLD
    }

    /// Improbable enough to be decoded again at a higher temperature.
    pub fn needs_fallback(&self) -> bool {
        self.avg_logprob < LOG_PROB_THRESHOLD && !self.silence()
    }
}

fn options(model: &Model, opts: &TranscribeOptions, temperature: f32) -> WhisperOptions {
    let s = &model.vocab.specials;
    // -1: CTranslate2 adds the model's non-speech symbols (config.json `suppress_ids`);
    // the task and control tokens are suppressed too, as faster-whisper does.
    let mut suppress = vec![-1i32];
    suppress.extend(
        [s.transcribe, s.translate, Some(s.sot), Some(s.sot_prev), s.sot_lm, s.no_speech].into_iter().flatten().map(|id| id as i32),
    );
    let mut o = WhisperOptions {
        beam_size: opts.beam_size.max(1),
        patience: 1.0,
        length_penalty: 1.0,
        repetition_penalty: 1.0,
        no_repeat_ngram_size: 0,
        max_length: MAX_LENGTH,
        sampling_topk: 1,
        sampling_temperature: 1.0,
        num_hypotheses: 1,
        return_scores: true,
        return_logits_vocab: false,
        return_no_speech_prob: true,
        max_initial_timestamp_index: (1.0 / TIME_PRECISION).round() as usize,
        suppress_blank: true,
        suppress_tokens: suppress,
    };
    if temperature > 0.0 {
        // Sampling: faster-whisper draws `best_of` candidates (we use the beam width) and
        // keeps the most probable.
        o.beam_size = 1;
        o.num_hypotheses = opts.beam_size.max(1);
        o.sampling_topk = 0;
        o.sampling_temperature = temperature;
    }
    o
}

/// The temperatures a window may be decoded at: the requested one, then +0.2 steps up to
/// 1.0 (faster-whisper's fallback schedule).
pub(super) fn temperatures(opts: &TranscribeOptions) -> Vec<f32> {
    let first = opts.temperature.max(0.0);
    let mut temperatures = vec![first];
    let mut t = first;
    while t + 0.2 <= 1.0 + 1e-6 {
        t += 0.2;
        temperatures.push(t);
    }
    temperatures
}

/// One decoder call over every window of `encoded`, each with its own prompt (token ids),
/// at `temperature`.
pub(super) fn generate_once(
    model: &Model,
    encoded: &StorageView<'_>,
    prompts: &[Vec<usize>],
    opts: &TranscribeOptions,
    temperature: f32,
) -> Result<Vec<Generated>, TranscribeError> {
    let prompts: Vec<Vec<&str>> = prompts.iter().map(|p| p.iter().filter_map(|&id| model.vocab.token(id)).collect()).collect();
    let results = model.whisper.generate(encoded, &prompts, &options(model, opts, temperature)).map_err(|e| failed("decoder", e))?;
    if results.len() != prompts.len() {
        return Err(failed("decoder", format!("{} results for {} windows", results.len(), prompts.len())));
    }
    Ok(results
        .into_iter()
        .map(|result| {
            let tokens = result.sequences_ids.into_iter().next().unwrap_or_default();
            let score = f64::from(result.scores.first().copied().unwrap_or(0.0));
            // CTranslate2 returns the length-normalised cumulative log probability.
            let avg_logprob = score * tokens.len() as f64 / (tokens.len() + 1) as f64;
            Generated { tokens, avg_logprob, no_speech_prob: result.no_speech_prob, temperature }
        })
        .collect())
}

/// faster-whisper's `generate_with_fallback`, without the compression-ratio test: decode
/// one window at each of `temperatures` in turn until the average log probability is at
/// least −1 (or the window is silence); else the most probable result.
pub(super) fn generate(
    model: &Model,
    encoded: &StorageView<'_>,
    prompt: &[usize],
    opts: &TranscribeOptions,
    temperatures: &[f32],
    cancel: &CancellationToken,
) -> Result<Generated, TranscribeError> {
    let mut best: Option<Generated> = None;
    for &temperature in temperatures {
        if cancel.is_cancelled() {
            return Err(TranscribeError::cancelled());
        }
        let generated =
            generate_once(model, encoded, &[prompt.to_vec()], opts, temperature)?.pop().ok_or_else(|| failed("decoder", "no result"))?;
        if !generated.needs_fallback() {
            return Ok(generated);
        }
        if best.as_ref().is_none_or(|b| generated.avg_logprob > b.avg_logprob) {
            best = Some(generated);
        } else if let Some(b) = best.as_mut() {
            b.temperature = temperature;
        }
    }
    best.ok_or_else(|| failed("decoder", "no result"))
}

/// The words of one window from CTranslate2's alignment of its text tokens: timed,
/// sentence ends clamped, punctuation merged (faster-whisper's `find_alignment` and the
/// first half of `add_word_timestamps`). Also the median and maximum word durations.
pub(super) fn window_words(
    model: &Model,
    language: &str,
    text_tokens: &[usize],
    aligned: &ct2rs::sys::WhisperAlignmentResult,
) -> (Vec<WordTiming>, (f64, f64)) {
    let path: Vec<(i64, i64)> = aligned.alignments.iter().map(|p| (p.token_x, p.frame_x)).collect();
    let mut with_eot = text_tokens.to_vec();
    with_eot.push(model.vocab.specials.eot);
    let (word_strings, word_tokens) = model.vocab.split_to_words(&with_eot, language);
    let mut timings = words::timings(&word_strings, &word_tokens, &path, &aligned.text_token_probs);
    let durations = words::clamp_sentence_ends(&mut timings);
    words::merge_punctuations(&mut timings);
    (timings, durations)
}

/// faster-whisper's `_split_segments_by_timestamps`: the pieces between consecutive
/// timestamp tokens, and where the next window starts.
fn split(tokens: &[usize], ts_begin: usize, time_offset: f64, seek: usize, segment_size: usize) -> (Vec<Subsegment>, usize, bool) {
    let is_ts = |t: usize| t >= ts_begin;
    let ts = |t: usize| (t - ts_begin) as f64 * TIME_PRECISION;
    let n = tokens.len();
    let single_timestamp_ending = n >= 2 && !is_ts(tokens[n - 2]) && is_ts(tokens[n - 1]);
    let consecutive: Vec<usize> = (1..n).filter(|&i| is_ts(tokens[i]) && is_ts(tokens[i - 1])).collect();
    let mut subsegments = Vec::new();
    if consecutive.is_empty() {
        let duration = match tokens.iter().rev().find(|&&t| is_ts(t)) {
            Some(&last) if last != ts_begin => ts(last),
            _ => segment_size as f64 / FRAMES_PER_SECOND,
        };
        subsegments.push(Subsegment { start: time_offset, end: time_offset + duration, tokens: tokens.to_vec(), words: vec![] });
        return (subsegments, seek + segment_size, single_timestamp_ending);
    }
    let mut slices = consecutive;
    if single_timestamp_ending {
        slices.push(n);
    }
    let mut last = 0;
    for &current in &slices {
        let piece = &tokens[last..current];
        let start = piece.first().filter(|&&t| is_ts(t)).map_or(0.0, |&t| ts(t));
        let end = piece.last().filter(|&&t| is_ts(t)).map_or(start, |&t| ts(t));
        subsegments.push(Subsegment { start: time_offset + start, end: time_offset + end, tokens: piece.to_vec(), words: vec![] });
        last = current;
    }
    let next =
        if single_timestamp_ending { seek + segment_size } else { seek + (tokens[last - 1].saturating_sub(ts_begin)) * INPUT_STRIDE };
    (subsegments, next, single_timestamp_ending)
}

/// Transcribes the spectrogram of 16 kHz audio (already reduced to speech when VAD ran).
/// `cancel` is looked at before each window (and each fallback decode), so a cancelled
/// job stops within one window's work: CTranslate2 cannot stop a call half-way.
pub fn run(model: &Model, mel: &LogMel, opts: &TranscribeOptions, cancel: &CancellationToken) -> Result<Decoded, TranscribeError> {
    let content_frames = mel.content_frames();
    let s = model.vocab.specials;
    let mut first_window = None;
    let (language, language_probability) = if model.multilingual && content_frames > 0 {
        let encoded = encode(model, mel, 0, content_frames.min(WINDOW_FRAMES))?;
        let detected = language(model, opts, Some(&encoded))?;
        first_window = Some(encoded);
        detected
    } else {
        language(model, opts, None)?
    };
    let mut sot_sequence = vec![s.sot];
    if model.multilingual {
        let lang = model.vocab.id(&format!("<|{language}|>")).ok_or_else(|| failed("language", &language))?;
        sot_sequence.push(lang);
        sot_sequence.extend(s.transcribe);
    }

    let temperatures = temperatures(opts);
    let mut segments = Vec::new();
    let mut all_tokens: Vec<usize> = Vec::new();
    let mut prompt_reset_since = 0;
    let mut last_speech = 0.0;
    let mut seek = 0;
    while seek < content_frames {
        if cancel.is_cancelled() {
            return Err(TranscribeError::cancelled());
        }
        let time_offset = seek as f64 / FRAMES_PER_SECOND;
        let segment_size = WINDOW_FRAMES.min(content_frames - seek);
        let encoded = match first_window.take() {
            Some(e) if seek == 0 => e,
            _ => encode(model, mel, seek, segment_size)?,
        };
        let previous = &all_tokens[prompt_reset_since..];
        let mut prompt = Vec::new();
        if !previous.is_empty() {
            prompt.push(s.sot_prev);
            prompt.extend_from_slice(&previous[previous.len().saturating_sub(MAX_LENGTH / 2 - 1)..]);
        }
        prompt.extend_from_slice(&sot_sequence);

        let generated = generate(model, &encoded, &prompt, opts, &temperatures, cancel)?;
        if generated.skipped() {
            seek += segment_size;
            continue;
        }
        let previous_seek = seek;
        let (mut subsegments, next_seek, single_timestamp_ending) =
            split(&generated.tokens, s.timestamp_begin, time_offset, seek, segment_size);
        seek = next_seek;

        let text_counts: Vec<usize> = subsegments.iter().map(|sub| sub.tokens.iter().filter(|&&t| t < s.eot).count()).collect();
        let text_tokens: Vec<usize> = subsegments.iter().flat_map(|sub| sub.tokens.iter().copied().filter(|&t| t < s.eot)).collect();
        if !text_tokens.is_empty() {
            let aligned = model
                .whisper
                .align(&encoded, &sot_sequence, std::slice::from_ref(&text_tokens), &[segment_size], MEDIAN_FILTER_WIDTH)
                .map_err(|e| failed("alignment", e))?;
            if let Some(a) = aligned.first() {
                let (timings, durations) = window_words(model, &language, &text_tokens, a);
                last_speech = words::assign(&mut subsegments, &timings, &text_counts, time_offset, durations, last_speech);
            }
            if !single_timestamp_ending
                && let Some(end) = subsegments.iter().rev().find_map(|sub| sub.words.last().map(|w| w.end))
                && end > time_offset
            {
                seek = (end * FRAMES_PER_SECOND).round() as usize;
            }
        }
        if seek <= previous_seek {
            seek = previous_seek + segment_size;
        }

        for sub in subsegments {
            let text = model.vocab.decode(&sub.tokens);
            if sub.start == sub.end || text.trim().is_empty() {
                continue;
            }
            all_tokens.extend_from_slice(&sub.tokens);
            segments.push(TranscriptSegment {
                start: sub.start,
                end: sub.end,
                text,
                avg_logprob: generated.avg_logprob,
                no_speech_prob: f64::from(generated.no_speech_prob),
                words: sub.words,
            });
        }
        if generated.temperature > PROMPT_RESET_ON_TEMPERATURE {
            prompt_reset_since = all_tokens.len();
        }
    }
    Ok(Decoded { language, language_probability, segments })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TS: usize = 1000;

    #[test]
    fn detection_debug_form_is_parsed() {
        let parsed = parse_detection("DetectionResult { language: \"<|en|>\", probability: 0.9765 }");
        assert_eq!(parsed, Some(("<|en|>".to_owned(), 0.9765)));
        assert_eq!(parse_detection("DetectionResult { language: \"<|pt|>\", probability: 1e-5 }").map(|p| p.1), Some(1e-5));
        assert_eq!(parse_detection("something else"), None);
    }

    #[test]
    fn split_at_consecutive_timestamps_and_seek_to_the_last() {
        // <|0.00|> a b <|1.00|><|1.00|> c <|2.00|><|2.50|> d  (unfinished last piece)
        let tokens = [TS, 1, 2, TS + 50, TS + 50, 3, TS + 100, TS + 125, 4];
        let (subs, seek, single) = split(&tokens, TS, 10.0, 1000, 3000);
        assert!(!single);
        assert_eq!(subs.len(), 2);
        assert_eq!((subs[0].start, subs[0].end), (10.0, 11.0));
        assert_eq!((subs[1].start, subs[1].end), (11.0, 12.0));
        assert_eq!(seek, 1000 + 100 * INPUT_STRIDE);
    }

    #[test]
    fn a_single_timestamp_ending_consumes_the_window() {
        let tokens = [TS, 1, TS + 50, TS + 50, 2, TS + 100];
        let (subs, seek, single) = split(&tokens, TS, 0.0, 0, 2500);
        assert!(single);
        assert_eq!(subs.len(), 2);
        assert_eq!((subs[1].start, subs[1].end), (1.0, 2.0));
        assert_eq!(seek, 2500);
    }

    #[test]
    fn no_consecutive_timestamps_is_one_segment() {
        let (subs, seek, _) = split(&[TS, 1, 2, TS + 40], TS, 5.0, 500, 3000);
        assert_eq!(subs.len(), 1);
        assert_eq!((subs[0].start, subs[0].end), (5.0, 5.8));
        assert_eq!(seek, 3500);
        let (subs, _, _) = split(&[1, 2], TS, 5.0, 500, 300);
        assert_eq!(subs[0].end, 8.0);
    }
}
