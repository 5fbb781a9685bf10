//! Word timestamps from CTranslate2's cross-attention alignment, post-processed the way
//! faster-whisper's `find_alignment` and `add_word_timestamps` do: word times at the DTW
//! path's jumps, over-long words at sentence ends clamped to twice the median word
//! duration, punctuation merged into its neighbours, segment edges reconciled. Pure: the
//! engine passes in the alignment path.

use job_spec::transcript::TranscriptWord;

/// Encoder positions per second (two mel frames each).
const TOKENS_PER_SECOND: f64 = 50.0;
/// faster-whisper's defaults.
pub const PREPEND_PUNCTUATIONS: &str = "\"'“¿([{-";
pub const APPEND_PUNCTUATIONS: &str = "\"'.。,，!！?？:：”)]}、";
const SENTENCE_END_MARKS: &str = ".。!！?？";

/// One word of a window, times relative to the window's start.
#[derive(Debug, Clone, PartialEq)]
pub struct WordTiming {
    pub word: String,
    pub tokens: Vec<usize>,
    pub start: f64,
    pub end: f64,
    pub probability: f64,
}

/// faster-whisper's `find_alignment` after the DTW: `words`/`word_tokens` split the text
/// tokens plus `<|endoftext|>`; `path` is the DTW path as (text index, encoder frame).
/// A word starts where the path first reaches its first token, and ends where it reaches
/// the next word's first token.
pub fn timings(words: &[String], word_tokens: &[Vec<usize>], path: &[(i64, i64)], token_probs: &[f32]) -> Vec<WordTiming> {
    if word_tokens.len() <= 1 || path.is_empty() {
        return Vec::new();
    }
    let mut jump_times = Vec::new();
    for (i, &(text, time)) in path.iter().enumerate() {
        if i == 0 || text != path[i - 1].0 {
            jump_times.push(time as f64 / TOKENS_PER_SECOND);
        }
    }
    let mut boundaries = vec![0usize];
    for tokens in &word_tokens[..word_tokens.len() - 1] {
        boundaries.push(boundaries[boundaries.len() - 1] + tokens.len());
    }
    let last_jump = jump_times.last().copied().unwrap_or(0.0);
    let at = |i: usize| jump_times.get(i).copied().unwrap_or(last_jump);
    boundaries
        .windows(2)
        .zip(words.iter().zip(word_tokens))
        .map(|(b, (word, tokens))| {
            let probs = token_probs.get(b[0]..b[1].min(token_probs.len())).unwrap_or(&[]);
            let probability = if probs.is_empty() { 0.0 } else { probs.iter().map(|&p| f64::from(p)).sum::<f64>() / probs.len() as f64 };
            WordTiming { word: word.clone(), tokens: tokens.clone(), start: at(b[0]), end: at(b[1]), probability }
        })
        .collect()
}

/// The median of the non-zero word durations (at most 0.7 s) and twice it; words at
/// sentence ends longer than that are cut to it (faster-whisper's "hack").
pub fn clamp_sentence_ends(words: &mut [WordTiming]) -> (f64, f64) {
    let mut durations: Vec<f64> = words.iter().map(|w| w.end - w.start).filter(|&d| d != 0.0).collect();
    durations.sort_by(f64::total_cmp);
    let median = match durations.len() {
        0 => 0.0,
        n if n % 2 == 1 => durations[n / 2],
        n => (durations[n / 2 - 1] + durations[n / 2]) / 2.0,
    };
    let median = median.min(0.7);
    let max = median * 2.0;
    if !durations.is_empty() {
        for i in 1..words.len() {
            if words[i].end - words[i].start > max {
                if SENTENCE_END_MARKS.contains(words[i].word.as_str()) && !words[i].word.is_empty() {
                    words[i].end = words[i].start + max;
                } else if SENTENCE_END_MARKS.contains(words[i - 1].word.as_str()) && !words[i - 1].word.is_empty() {
                    words[i].start = words[i].end - max;
                }
            }
        }
    }
    (median, max)
}

/// Is `word` one of the punctuation characters in `set`? (Python's `word in set` on a
/// string is a substring test; faster-whisper's words here are single marks.)
fn is_in(set: &str, word: &str) -> bool {
    set.contains(word)
}

/// faster-whisper's `merge_punctuations`: leading marks (" (", " \"") join the following
/// word, trailing marks (",", ".") the previous one; the emptied entries stay, with no
/// word and no tokens, so token counts still line up.
pub fn merge_punctuations(words: &mut [WordTiming]) {
    if words.len() < 2 {
        return;
    }
    let (mut i, mut j) = (words.len() as isize - 2, words.len() - 1);
    while i >= 0 {
        let p = i as usize;
        if words[p].word.starts_with(' ') && is_in(PREPEND_PUNCTUATIONS, words[p].word.trim()) {
            let previous = std::mem::take(&mut words[p].word);
            let tokens = std::mem::take(&mut words[p].tokens);
            words[j].word = previous + &words[j].word;
            words[j].tokens.splice(0..0, tokens);
        } else {
            j = p;
        }
        i -= 1;
    }
    let (mut i, mut j) = (0usize, 1usize);
    while j < words.len() {
        if !words[i].word.ends_with(' ') && is_in(APPEND_PUNCTUATIONS, &words[j].word) {
            let following = std::mem::take(&mut words[j].word);
            let tokens = std::mem::take(&mut words[j].tokens);
            words[i].word.push_str(&following);
            words[i].tokens.extend(tokens);
        } else {
            i = j;
        }
        j += 1;
    }
}

/// One timestamped piece of a window's output (`<|t0|> text <|t1|>`), absolute seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Subsegment {
    pub start: f64,
    pub end: f64,
    /// All tokens, timestamps included.
    pub tokens: Vec<usize>,
    pub words: Vec<TranscriptWord>,
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// faster-whisper's `add_word_timestamps` after alignment: hands the window's word timings
/// to its subsegments by token count, shortens the first words after a pause, and
/// reconciles subsegment edges with their words. `text_counts[i]` is the number of text
/// tokens of subsegment `i`. Returns the new last-speech time.
pub fn assign(
    subsegments: &mut [Subsegment],
    timings: &[WordTiming],
    text_counts: &[usize],
    time_offset: f64,
    (median, max): (f64, f64),
    mut last_speech: f64,
) -> f64 {
    let mut index = 0;
    for (sub, &count) in subsegments.iter_mut().zip(text_counts) {
        let mut saved = 0;
        let mut words: Vec<TranscriptWord> = Vec::new();
        while index < timings.len() && saved < count {
            let t = &timings[index];
            if !t.word.is_empty() {
                words.push(TranscriptWord {
                    word: t.word.clone(),
                    start: round2(time_offset + t.start),
                    end: round2(time_offset + t.end),
                    probability: t.probability,
                });
            }
            saved += t.tokens.len();
            index += 1;
        }
        if !words.is_empty() {
            let n = words.len();
            // The first word after a pause is often stretched back into the silence.
            if words[0].end - last_speech > median * 4.0
                && (words[0].end - words[0].start > max || (n > 1 && words[1].end - words[0].start > max * 2.0))
            {
                if n > 1 && words[1].end - words[1].start > max {
                    let boundary = (words[1].end / 2.0).max(words[1].end - max);
                    words[0].end = boundary;
                    words[1].start = boundary;
                }
                words[0].start = (words[0].end - max).max(0.0);
            }
            if sub.start < words[0].end && sub.start - 0.5 > words[0].start {
                words[0].start = (words[0].end - median).min(sub.start).max(0.0);
            } else {
                sub.start = words[0].start;
            }
            if sub.end > words[n - 1].start && sub.end + 0.5 < words[n - 1].end {
                words[n - 1].end = (words[n - 1].start + median).max(sub.end);
            } else {
                sub.end = words[n - 1].end;
            }
            last_speech = sub.end;
        }
        sub.words = words;
    }
    last_speech
}

/// Makes words monotonic and inside `[0, duration]`: each starts no earlier than the
/// previous one ended and ends no earlier than it starts.
pub fn make_monotonic(words: &mut [&mut TranscriptWord], duration: f64) {
    let mut previous_end = 0.0f64;
    for w in words.iter_mut() {
        w.start = w.start.clamp(previous_end, duration.max(previous_end));
        w.end = w.end.clamp(w.start, duration.max(w.start));
        previous_end = w.end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wt(word: &str, tokens: usize, start: f64, end: f64) -> WordTiming {
        WordTiming { word: word.to_owned(), tokens: vec![0; tokens], start, end, probability: 0.9 }
    }

    #[test]
    fn word_times_come_from_path_jumps() {
        let words = [" Hello".to_owned(), " world".to_owned(), "".to_owned()];
        let tokens = [vec![1], vec![2, 3], vec![4]];
        // Text index 0 at frames 0..=9, 1 at 10..=19, 2 at 20..=24, 3 (eot) at 25.
        let mut path = Vec::new();
        for f in 0..26 {
            path.push((
                if f < 10 {
                    0
                } else if f < 20 {
                    1
                } else if f < 25 {
                    2
                } else {
                    3
                },
                f,
            ));
        }
        let t = timings(&words, &tokens, &path, &[0.5, 1.0, 0.0, 0.9]);
        assert_eq!(t.len(), 2);
        assert_eq!((t[0].start, t[0].end), (0.0, 0.2));
        assert_eq!((t[1].start, t[1].end), (0.2, 0.5));
        assert_eq!(t[0].probability, 0.5);
        assert_eq!(t[1].probability, 0.5);
    }

    #[test]
    fn only_eot_gives_no_words() {
        assert!(timings(&["".to_owned()], &[vec![9]], &[(0, 0)], &[]).is_empty());
    }

    #[test]
    fn punctuation_merges_like_faster_whisper() {
        let mut w = vec![wt(" (", 1, 0.0, 0.1), wt("Hi", 1, 0.1, 0.3), wt(")", 1, 0.3, 0.4), wt(",", 1, 0.4, 0.5), wt(" you", 1, 0.5, 0.8)];
        merge_punctuations(&mut w);
        let words: Vec<&str> = w.iter().map(|w| w.word.as_str()).collect();
        assert_eq!(words, vec!["", " (Hi),", "", "", " you"]);
        assert_eq!(w[1].tokens.len(), 4);
        assert!(w[0].tokens.is_empty());
    }

    #[test]
    fn long_words_at_sentence_ends_are_clamped() {
        let mut w = vec![wt(" One", 1, 0.0, 0.3), wt(" two", 1, 0.3, 0.6), wt(".", 1, 0.6, 2.6), wt(" Three", 1, 2.6, 5.0)];
        let (median, max) = clamp_sentence_ends(&mut w);
        // Durations 0.3, 0.3, 2.0, 2.4 → median 1.15, capped at 0.7.
        assert_eq!((median, max), (0.7, 1.4));
        assert!((w[2].end - 2.0).abs() < 1e-9);
        assert!((w[3].start - 3.6).abs() < 1e-9);
    }

    #[test]
    fn words_are_assigned_to_subsegments_by_token_count() {
        let t = vec![wt(" a", 1, 0.0, 0.2), wt(" b", 2, 0.2, 0.5), wt(" c", 1, 1.0, 1.3)];
        let mut subs = vec![
            Subsegment { start: 10.0, end: 10.5, tokens: vec![], words: vec![] },
            Subsegment { start: 11.0, end: 11.3, tokens: vec![], words: vec![] },
        ];
        let last = assign(&mut subs, &t, &[3, 1], 10.0, (0.3, 0.6), 10.0);
        assert_eq!(subs[0].words.len(), 2);
        assert_eq!(subs[1].words[0].word, " c");
        assert_eq!(subs[1].words[0].start, 11.0);
        assert_eq!(last, 11.3);
    }

    #[test]
    fn monotonic_and_inside_the_audio() {
        let mut a = TranscriptWord { word: " a".into(), start: -0.1, end: 0.5, probability: 1.0 };
        let mut b = TranscriptWord { word: " b".into(), start: 0.4, end: 0.3, probability: 1.0 };
        let mut c = TranscriptWord { word: " c".into(), start: 0.9, end: 1.4, probability: 1.0 };
        make_monotonic(&mut [&mut a, &mut b, &mut c], 1.2);
        assert_eq!((a.start, a.end), (0.0, 0.5));
        assert_eq!((b.start, b.end), (0.5, 0.5));
        assert_eq!((c.start, c.end), (0.9, 1.2));
    }
}
