//! Transcription results (`POST /audio/transcribe`) and the files made from them.
//!
//! The GPU worker's engine fills a [`Transcript`]; pure functions here turn it into
//! `segments.srt`, `segments.json`, `words.json` and `karaoke.ass`:
//!
//! - Segments with no text (after trimming) are left out of every file; the others are
//!   numbered from 1 in order, the same numbers in `segments.srt` and `segments.json`.
//! - Times are seconds rounded to the millisecond (SRT `HH:MM:SS,mmm`, halves away from
//!   zero); an end before its start is moved to the start. Probabilities and log
//!   probabilities are rounded to 4 decimals.
//! - Words are trimmed (the model's leading space dropped, punctuation kept as the model
//!   merged it); words left empty or with a non-finite time are left out.
//! - An empty transcript (silence) gives an empty SRT, `[]`, `{"words":[]}` and an ASS
//!   file with its header and no events.

use serde::{Deserialize, Serialize};

use crate::captions::{self, AssStyle, Karaoke, Word};
use crate::ops::StyleOptions;

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

/// The frame `karaoke.ass` is authored for (`PlayResX`/`PlayResY`); libass scales it to
/// the video it is burned on.
pub const KARAOKE_SIZE: (u32, u32) = (1920, 1080);

/// In `karaoke.ass`, a pause longer than this between two words of a segment starts a
/// new page (no page is shown across a silence).
pub const PAGE_BREAK_GAP_SECS: f64 = 1.0;

fn round_to(x: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (x * f).round() / f
}

/// Seconds → `HH:MM:SS,mmm` (milliseconds rounded, halves away from zero; negative → 0).
pub fn srt_time(secs: f64) -> String {
    let ms = (secs.max(0.0) * 1000.0).round() as u64;
    format!("{:02}:{:02}:{:02},{:03}", ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000)
}

/// A segment's text on one line: whitespace runs (newlines included) become one space,
/// and `-->` (an SRT timing arrow) becomes `→`.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ").replace("-->", "→")
}

/// The segments that have text, with their one-line text.
fn spoken(t: &Transcript) -> impl Iterator<Item = (&TranscriptSegment, String)> {
    t.segments.iter().map(|s| (s, one_line(&s.text))).filter(|(_, text)| !text.is_empty())
}

/// (start, end) rounded to the millisecond, end ≥ start.
fn span(start: f64, end: f64) -> (f64, f64) {
    let (s, e) = (round_to(start.max(0.0), 3), round_to(end.max(0.0), 3));
    (s, e.max(s))
}

/// The words as `caption_style` `highlight` reads them: trimmed, timed to the
/// millisecond, in order.
fn clean_words(words: &[TranscriptWord]) -> Vec<(Word, f64)> {
    words
        .iter()
        .filter(|w| w.start.is_finite() && w.end.is_finite())
        .filter_map(|w| {
            let word = w.word.trim();
            let (start, end) = span(w.start, w.end);
            let p = if w.probability.is_finite() { round_to(w.probability.clamp(0.0, 1.0), 4) } else { 0.0 };
            (!word.is_empty()).then(|| (Word { word: word.to_owned(), start, end }, p))
        })
        .collect()
}

/// The full text (`transcription` in the job's result): the segments' texts joined by
/// one space.
pub fn full_text(t: &Transcript) -> String {
    spoken(t).map(|(_, text)| text).collect::<Vec<_>>().join(" ")
}

/// `segments.srt`: one cue per segment, numbered from 1.
pub fn segments_srt(t: &Transcript) -> String {
    spoken(t)
        .enumerate()
        .map(|(i, (s, text))| {
            let (start, end) = span(s.start, s.end);
            format!("{}\n{} --> {}\n{text}\n", i + 1, srt_time(start), srt_time(end))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `segments.json`: `[{"id","start","end","text","avg_logprob","no_speech_prob"}]` — the
/// fields of faster-whisper's `Segment` a caller reads, `id` being the SRT cue number.
pub fn segments_json(t: &Transcript) -> String {
    #[derive(Serialize)]
    struct Out<'a> {
        id: usize,
        start: f64,
        end: f64,
        text: &'a str,
        avg_logprob: Option<f64>,
        no_speech_prob: Option<f64>,
    }
    let num = |x: f64| x.is_finite().then(|| round_to(x, 4));
    let spoken: Vec<(&TranscriptSegment, String)> = spoken(t).collect();
    let list: Vec<Out<'_>> = spoken
        .iter()
        .enumerate()
        .map(|(i, (s, text))| {
            let (start, end) = span(s.start, s.end);
            Out { id: i + 1, start, end, text, avg_logprob: num(s.avg_logprob), no_speech_prob: num(s.no_speech_prob) }
        })
        .collect();
    serde_json::to_string(&list).unwrap_or_else(|_| "[]".into())
}

/// `words.json`: `{"words":[{"word","start","end","probability"}]}`, every segment's
/// words in order — the words JSON `caption_style` `highlight` and `/video/render`'s
/// captions read ([`captions::parse_words`]).
pub fn words_json(t: &Transcript) -> String {
    #[derive(Serialize)]
    struct Out {
        word: String,
        start: f64,
        end: f64,
        probability: f64,
    }
    #[derive(Serialize)]
    struct Doc {
        words: Vec<Out>,
    }
    let words = t
        .segments
        .iter()
        .flat_map(|s| clean_words(&s.words))
        .map(|(w, probability)| Out { word: w.word, start: w.start, end: w.end, probability })
        .collect();
    serde_json::to_string(&Doc { words }).unwrap_or_else(|_| r#"{"words":[]}"#.into())
}

/// `karaoke.ass`: word-by-word highlight in `caption_style` `highlight`'s default style
/// (default [`StyleOptions`]: 4 words a line, 2 lines a page, the spoken word yellow) at
/// [`KARAOKE_SIZE`]. Pages never span two segments nor a pause over
/// [`PAGE_BREAK_GAP_SECS`]. Word text goes through [`captions::ass_text`].
pub fn karaoke_ass(t: &Transcript) -> String {
    let options = StyleOptions::default();
    let style = AssStyle::highlight(&options, KARAOKE_SIZE.1);
    let karaoke = Karaoke::from_options(&options);
    let mut out = captions::header(&style, KARAOKE_SIZE);
    for s in &t.segments {
        let words: Vec<Word> = clean_words(&s.words).into_iter().map(|(w, _)| w).collect();
        let mut rest = words.as_slice();
        while !rest.is_empty() {
            let cut = rest.windows(2).position(|p| p[1].start - p[0].end > PAGE_BREAK_GAP_SECS).map_or(rest.len(), |i| i + 1);
            out.push_str(&captions::karaoke_events(&rest[..cut], &style, &karaoke, KARAOKE_SIZE, false, None));
            rest = &rest[cut..];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(word: &str, start: f64, end: f64, probability: f64) -> TranscriptWord {
        TranscriptWord { word: word.into(), start, end, probability }
    }

    fn seg(start: f64, end: f64, text: &str, words: Vec<TranscriptWord>) -> TranscriptSegment {
        TranscriptSegment { start, end, text: text.into(), avg_logprob: -0.123456, no_speech_prob: 0.01234, words }
    }

    fn english() -> Transcript {
        Transcript {
            language: "en".into(),
            language_probability: 0.98,
            duration: 4.5,
            segments: vec![
                seg(0.0, 1.2344, " Hello world.", vec![w(" Hello", 0.0, 0.5, 0.91234), w(" world.", 0.52, 1.2344, 0.8)]),
                // A segment of nothing but whitespace is left out of every file.
                seg(1.3, 1.5, "  ", vec![]),
                seg(
                    1.5,
                    4.0006,
                    " It works\n--> fine ",
                    vec![w(" It", 1.5, 1.7, 0.99), w(" works", 1.7, 2.0, 0.95), w(" -->", 2.0, 2.1, 0.2), w(" fine", 3.2, 4.0006, 0.7)],
                ),
            ],
        }
    }

    #[test]
    fn srt_times_round_to_the_millisecond() {
        assert_eq!(srt_time(0.0), "00:00:00,000");
        assert_eq!(srt_time(1.2344), "00:00:01,234");
        assert_eq!(srt_time(4.0006), "00:00:04,001");
        assert_eq!(srt_time(59.9996), "00:01:00,000");
        assert_eq!(srt_time(3661.001), "01:01:01,001");
        assert_eq!(srt_time(-2.0), "00:00:00,000");
    }

    #[test]
    fn segments_srt_numbers_spoken_segments() {
        let srt = segments_srt(&english());
        assert_eq!(srt, "1\n00:00:00,000 --> 00:00:01,234\nHello world.\n\n2\n00:00:01,500 --> 00:00:04,001\nIt works → fine\n");
        // It reads back as the SRT caption_style takes.
        let cues = captions::parse_srt(&srt).unwrap();
        assert_eq!(
            cues.iter().map(|c| (c.start, c.end, c.text.as_str())).collect::<Vec<_>>(),
            [(0.0, 1.234, "Hello world."), (1.5, 4.001, "It works → fine")]
        );
        assert_eq!(full_text(&english()), "Hello world. It works → fine");
    }

    #[test]
    fn segments_json_shape() {
        assert_eq!(
            segments_json(&english()),
            concat!(
                r#"[{"id":1,"start":0.0,"end":1.234,"text":"Hello world.","avg_logprob":-0.1235,"no_speech_prob":0.0123},"#,
                r#"{"id":2,"start":1.5,"end":4.001,"text":"It works → fine","avg_logprob":-0.1235,"no_speech_prob":0.0123}]"#
            )
        );
    }

    #[test]
    fn words_json_is_what_highlight_reads() {
        let json = words_json(&english());
        assert_eq!(
            json,
            r#"{"words":[{"word":"Hello","start":0.0,"end":0.5,"probability":0.9123},{"word":"world.","start":0.52,"end":1.234,"probability":0.8},{"word":"It","start":1.5,"end":1.7,"probability":0.99},{"word":"works","start":1.7,"end":2.0,"probability":0.95},{"word":"-->","start":2.0,"end":2.1,"probability":0.2},{"word":"fine","start":3.2,"end":4.001,"probability":0.7}]}"#
        );
        let parsed = captions::parse_words(&json).unwrap();
        assert_eq!(parsed.iter().map(|w| w.word.as_str()).collect::<Vec<_>>(), ["Hello", "world.", "It", "works", "-->", "fine"]);
        assert_eq!((parsed[1].start, parsed[1].end), (0.52, 1.234));
    }

    #[test]
    fn odd_words_are_cleaned() {
        let t = Transcript {
            language: "en".into(),
            language_probability: 1.0,
            duration: 3.0,
            segments: vec![seg(
                0.0,
                3.0,
                "a b",
                vec![w(" ", 0.0, 0.1, 0.5), w(" a", 0.2, 0.1, 1.5), w(" nan", f64::NAN, 1.0, 0.5), w(" b", 1.0, 2.0, f64::NAN)],
            )],
        };
        assert_eq!(
            words_json(&t),
            r#"{"words":[{"word":"a","start":0.2,"end":0.2,"probability":1.0},{"word":"b","start":1.0,"end":2.0,"probability":0.0}]}"#
        );
    }

    #[test]
    fn karaoke_pages_follow_segments_and_pauses() {
        let ass = karaoke_ass(&english());
        let style = AssStyle::highlight(&StyleOptions::default(), 1080);
        assert!(ass.starts_with(&captions::header(&style, (1920, 1080))), "{ass}");
        let events: Vec<&str> = ass.lines().filter(|l| l.starts_with("Dialogue:")).collect();
        assert_eq!(
            events,
            [
                "Dialogue: 0,0:00:00.00,0:00:00.52,Default,,0,0,0,,{\\c&H0000FFFF}Hello{\\r} world.",
                "Dialogue: 0,0:00:00.52,0:00:01.23,Default,,0,0,0,,Hello {\\c&H0000FFFF}world.{\\r}",
                // Segment 2: "It works -->", then a 1.1 s pause, then "fine" on a page of its own.
                "Dialogue: 0,0:00:01.50,0:00:01.70,Default,,0,0,0,,{\\c&H0000FFFF}It{\\r} works -->",
                "Dialogue: 0,0:00:01.70,0:00:02.00,Default,,0,0,0,,It {\\c&H0000FFFF}works{\\r} -->",
                "Dialogue: 0,0:00:02.00,0:00:02.10,Default,,0,0,0,,It works {\\c&H0000FFFF}-->{\\r}",
                "Dialogue: 0,0:00:03.20,0:00:04.00,Default,,0,0,0,,{\\c&H0000FFFF}fine{\\r}",
            ]
        );
        // The same words through caption_style's highlight (no grouping) page differently,
        // but every word is highlighted once in both.
        assert_eq!(events.len(), captions::parse_words(&words_json(&english())).unwrap().len());
    }

    #[test]
    fn karaoke_escapes_text_and_breaks_lines() {
        let words: Vec<TranscriptWord> = ["{\\an8}one", "two", "three", "four", "five"]
            .iter()
            .enumerate()
            .map(|(i, t)| w(&format!(" {t}"), i as f64, i as f64 + 0.5, 0.9))
            .collect();
        let t = Transcript { language: "en".into(), language_probability: 1.0, duration: 5.0, segments: vec![seg(0.0, 5.0, "x", words)] };
        let ass = karaoke_ass(&t);
        let events: Vec<&str> = ass.lines().filter(|l| l.starts_with("Dialogue:")).collect();
        assert_eq!(events.len(), 5);
        // Override blocks in the text are neutralised; 4 words a line.
        assert_eq!(
            events[4],
            "Dialogue: 0,0:00:04.00,0:00:04.50,Default,,0,0,0,,｛\\\u{2060}an8｝one two three four\\N{\\c&H0000FFFF}five{\\r}"
        );
        assert!(!ass.contains("{\\an8}"));
    }

    #[test]
    fn portuguese_text_stays_utf8() {
        let t = Transcript {
            language: "pt".into(),
            language_probability: 0.87,
            duration: 2.0,
            segments: vec![seg(
                0.25,
                1.75,
                " Olá, coração! Ação.",
                vec![w(" Olá,", 0.25, 0.6, 0.9), w(" coração!", 0.6, 1.2, 0.8), w(" Ação.", 1.2, 1.75, 0.7)],
            )],
        };
        assert_eq!(segments_srt(&t), "1\n00:00:00,250 --> 00:00:01,750\nOlá, coração! Ação.\n");
        assert_eq!(
            words_json(&t),
            r#"{"words":[{"word":"Olá,","start":0.25,"end":0.6,"probability":0.9},{"word":"coração!","start":0.6,"end":1.2,"probability":0.8},{"word":"Ação.","start":1.2,"end":1.75,"probability":0.7}]}"#
        );
        assert!(segments_json(&t).contains(r#""text":"Olá, coração! Ação.""#));
        assert!(karaoke_ass(&t).contains("Olá, {\\c&H0000FFFF}coração!{\\r} Ação."));
    }

    #[test]
    fn empty_transcript() {
        let t = Transcript { language: "en".into(), language_probability: 0.5, duration: 5.0, segments: vec![] };
        assert_eq!(segments_srt(&t), "");
        assert_eq!(segments_json(&t), "[]");
        assert_eq!(words_json(&t), r#"{"words":[]}"#);
        assert_eq!(full_text(&t), "");
        let ass = karaoke_ass(&t);
        assert!(ass.ends_with("Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n"), "{ass}");
        assert!(!ass.contains("Dialogue:"));
    }
}
