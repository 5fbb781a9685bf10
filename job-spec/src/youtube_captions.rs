//! YouTube's json3 caption format, read into a [`Transcript`] so that
//! `/video/transcribe_youtube` writes the same four files as `/audio/transcribe` with the
//! functions of [`crate::transcript`].
//!
//! A json3 document is `{"events": [...]}`; an event with text has `tStartMs`,
//! `dDurationMs` and `segs: [{"utf8": …, "tOffsetMs": …}]`. Events without `segs` (window
//! and pen definitions) and events whose text is only white space (the `"\n"` line breaks
//! of auto-generated tracks, `aAppend`) carry no caption and are skipped.
//!
//! - Each caption event is one segment: its segs' text joined, line breaks and white
//!   space runs made one space, from `tStartMs` for `dDurationMs`.
//! - Auto-generated tracks show rolling lines: an event stays on screen after the next
//!   one starts. There each segment is cut at the next one's start, so segments follow
//!   one another. Manual tracks keep their times (two speakers may overlap).
//! - Word timings exist only where segs carry `tOffsetMs` (auto-generated tracks): each
//!   seg of such an event is a word starting at the event's start plus its offset (0 for
//!   the first seg, which has none) and ending where the next word starts, the last at the
//!   segment's end. YouTube gives no confidence per word: `probability` is 1.
//! - Log probabilities do not exist here: they are NaN (`null` in `segments.json`).

use serde::Deserialize;

use crate::transcript::{Transcript, TranscriptSegment, TranscriptWord};
use crate::youtube::YoutubeProblem;

/// A caption track read from json3.
#[derive(Debug, Clone, PartialEq)]
pub struct Captions {
    pub transcript: Transcript,
    /// Some segment has word timings (`tOffsetMs`).
    pub word_timings: bool,
}

#[derive(Deserialize)]
struct Doc {
    events: Option<Vec<Event>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Event {
    #[serde(default)]
    t_start_ms: Option<f64>,
    #[serde(default)]
    d_duration_ms: Option<f64>,
    #[serde(default)]
    segs: Option<Vec<Seg>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Seg {
    #[serde(default)]
    utf8: String,
    #[serde(default)]
    t_offset_ms: Option<f64>,
}

/// One caption event with text: milliseconds, and its words as (offset ms, text) when
/// its segs carry offsets.
struct Cue {
    start: f64,
    end: f64,
    text: String,
    words: Option<Vec<(f64, String)>>,
}

/// Reads a json3 track in `language`; `asr` for an auto-generated one (rolling lines cut).
/// `length_seconds` (the video's, when known) is the transcript's duration, else the last
/// segment's end. An empty body is what timedtext answers when it wants a PO token.
pub fn parse_json3(body: &[u8], language: &str, asr: bool, length_seconds: Option<f64>) -> Result<Captions, YoutubeProblem> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(YoutubeProblem::PoTokenRequired("the caption track came back empty".into()));
    }
    let doc: Doc =
        serde_json::from_slice(body).map_err(|e| YoutubeProblem::UpstreamChanged(format!("the caption track is not json3: {e}")))?;
    let events = doc.events.ok_or_else(|| YoutubeProblem::UpstreamChanged("the caption track has no `events`".into()))?;
    let mut cues: Vec<Cue> = vec![];
    for e in events {
        let Some(segs) = e.segs else { continue };
        let text: String = segs.iter().map(|s| s.utf8.as_str()).collect();
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if text.is_empty() {
            continue;
        }
        let start = e.t_start_ms.filter(|t| t.is_finite() && *t >= 0.0).unwrap_or(0.0);
        let end = start + e.d_duration_ms.filter(|d| d.is_finite() && *d >= 0.0).unwrap_or(0.0);
        let words = segs.iter().any(|s| s.t_offset_ms.is_some()).then(|| {
            segs.iter()
                .map(|s| (s.t_offset_ms.filter(|o| o.is_finite() && *o >= 0.0).unwrap_or(0.0), s.utf8.trim().to_owned()))
                .filter(|(_, w)| !w.is_empty())
                .collect()
        });
        cues.push(Cue { start, end, text, words });
    }
    cues.sort_by(|a, b| a.start.total_cmp(&b.start));
    if asr {
        for i in 1..cues.len() {
            let next = cues[i].start;
            let cue = &mut cues[i - 1];
            if next > cue.start && next < cue.end {
                cue.end = next;
            }
        }
    }
    let mut word_timings = false;
    let segments: Vec<TranscriptSegment> = cues
        .into_iter()
        .map(|Cue { start, end, text, words }| {
            let mut list = vec![];
            if let Some(ws) = words {
                word_timings |= !ws.is_empty();
                for (i, (offset, w)) in ws.iter().enumerate() {
                    let at = (start + offset).min(end);
                    let until = ws.get(i + 1).map_or(end, |(o, _)| (start + o).min(end)).max(at);
                    list.push(TranscriptWord { word: w.clone(), start: at / 1000.0, end: until / 1000.0, probability: 1.0 });
                }
            }
            TranscriptSegment {
                start: start / 1000.0,
                end: end / 1000.0,
                text,
                avg_logprob: f64::NAN,
                no_speech_prob: f64::NAN,
                words: list,
            }
        })
        .collect();
    let last_end = segments.iter().map(|s| s.end).fold(0.0, f64::max);
    let duration = length_seconds.filter(|d| d.is_finite() && *d > 0.0).unwrap_or(last_end);
    Ok(Captions { transcript: Transcript { language: language.to_owned(), language_probability: 1.0, duration, segments }, word_timings })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::transcript;

    fn doc(v: serde_json::Value) -> Vec<u8> {
        serde_json::to_vec(&v).unwrap()
    }

    /// A manual track: window definitions, a two-line cue, a cue with entities left as
    /// text, overlapping speakers kept.
    #[test]
    fn manual_track() {
        let body = doc(json!({"wireMagic": "pb3", "pens": [{}], "wsWinStyles": [{}], "wpWinPositions": [{}], "events": [
            {"tStartMs": 0, "dDurationMs": 900000, "id": 1, "wpWinPosId": 1, "wsWinStyleId": 1},
            {"tStartMs": 1200, "dDurationMs": 2300, "segs": [{"utf8": "Never gonna\ngive you up"}]},
            {"tStartMs": 3000, "dDurationMs": 1500, "segs": [{"utf8": "[Music]"}]},
            {"tStartMs": 5000, "dDurationMs": 2000, "segs": [{"utf8": "Tom & Jerry -->"}, {"utf8": " <i>run</i>"}]},
        ]}));
        let c = parse_json3(&body, "en", false, Some(212.0)).unwrap();
        assert!(!c.word_timings);
        let t = &c.transcript;
        assert_eq!((t.language.as_str(), t.duration, t.language_probability), ("en", 212.0, 1.0));
        let spans: Vec<(f64, f64, &str)> = t.segments.iter().map(|s| (s.start, s.end, s.text.as_str())).collect();
        assert_eq!(spans, [(1.2, 3.5, "Never gonna give you up"), (3.0, 4.5, "[Music]"), (5.0, 7.0, "Tom & Jerry --> <i>run</i>")]);
        assert!(t.segments.iter().all(|s| s.words.is_empty()));
        // Through the transcript files: the SRT keeps the overlap, words.json is empty, the
        // log probabilities are null.
        assert_eq!(
            transcript::segments_srt(t),
            "1\n00:00:01,200 --> 00:00:03,500\nNever gonna give you up\n\n2\n00:00:03,000 --> 00:00:04,500\n[Music]\n\n\
             3\n00:00:05,000 --> 00:00:07,000\nTom & Jerry → <i>run</i>\n"
        );
        assert_eq!(transcript::words_json(t), r#"{"words":[]}"#);
        let segs: serde_json::Value = serde_json::from_str(&transcript::segments_json(t)).unwrap();
        assert_eq!(
            segs[0],
            json!({"id": 1, "start": 1.2, "end": 3.5, "text": "Never gonna give you up", "avg_logprob": null, "no_speech_prob": null})
        );
        assert_eq!(transcript::full_text(t), "Never gonna give you up [Music] Tom & Jerry → <i>run</i>");
    }

    /// An auto-generated track: rolling events overlapping the next, `"\n"` append events,
    /// word offsets (the first seg without one).
    #[test]
    fn asr_track_with_words_and_overlaps() {
        let body = doc(json!({"wireMagic": "pb3", "events": [
            {"tStartMs": 0, "dDurationMs": 185000, "id": 1, "wWinId": 1},
            {"tStartMs": 160, "dDurationMs": 4320, "wWinId": 1, "segs": [
                {"utf8": "we're", "acAsrConf": 0}, {"utf8": " no", "tOffsetMs": 400, "acAsrConf": 0},
                {"utf8": " strangers", "tOffsetMs": 720, "acAsrConf": 0}]},
            {"tStartMs": 2550, "dDurationMs": 1930, "wWinId": 1, "aAppend": 1, "segs": [{"utf8": "\n"}]},
            {"tStartMs": 2560, "dDurationMs": 4000, "wWinId": 1, "segs": [
                {"utf8": "to"}, {"utf8": " love", "tOffsetMs": 240}]},
            {"tStartMs": 6560, "dDurationMs": 10, "wWinId": 1, "aAppend": 1, "segs": [{"utf8": "\n"}]},
        ]}));
        let c = parse_json3(&body, "en", true, None).unwrap();
        assert!(c.word_timings);
        let t = &c.transcript;
        let spans: Vec<(f64, f64, &str)> = t.segments.iter().map(|s| (s.start, s.end, s.text.as_str())).collect();
        // The first event (to 4.48 s) is cut where the second starts.
        assert_eq!(spans, [(0.16, 2.56, "we're no strangers"), (2.56, 6.56, "to love")]);
        assert_eq!(t.duration, 6.56, "no video length: the last end");
        let words: Vec<(&str, f64, f64)> = t.segments.iter().flat_map(|s| &s.words).map(|w| (w.word.as_str(), w.start, w.end)).collect();
        assert_eq!(words, [("we're", 0.16, 0.56), ("no", 0.56, 0.88), ("strangers", 0.88, 2.56), ("to", 2.56, 2.8), ("love", 2.8, 6.56)]);
        let json: serde_json::Value = serde_json::from_str(&transcript::words_json(t)).unwrap();
        assert_eq!(json["words"][1], json!({"word": "no", "start": 0.56, "end": 0.88, "probability": 1.0}));
        let ass = transcript::karaoke_ass(t);
        assert!(ass.contains("Dialogue:") && ass.contains("strangers"), "{ass}");
    }

    /// Manual tracks are not cut; ASR ones are, but a word offset past the cut ends there.
    #[test]
    fn overlaps_and_offsets_past_the_end() {
        let body = doc(json!({"events": [
            {"tStartMs": 0, "dDurationMs": 3000, "segs": [{"utf8": "a"}, {"utf8": " b", "tOffsetMs": 2500}]},
            {"tStartMs": 1000, "dDurationMs": 1000, "segs": [{"utf8": "c"}]},
        ]}));
        let manual = parse_json3(&body, "en", false, None).unwrap().transcript;
        assert_eq!(manual.segments[0].end, 3.0);
        let asr = parse_json3(&body, "en", true, None).unwrap().transcript;
        assert_eq!(asr.segments[0].end, 1.0);
        assert_eq!(asr.segments[0].words.iter().map(|w| (w.start, w.end)).collect::<Vec<_>>(), [(0.0, 1.0), (1.0, 1.0)]);
        // Events out of order are sorted; one with no duration lasts nothing.
        let body = doc(
            json!({"events": [{"tStartMs": 2000, "segs": [{"utf8": "later"}]}, {"tStartMs": 500, "dDurationMs": 100, "segs": [{"utf8": "first"}]}]}),
        );
        let t = parse_json3(&body, "en", false, None).unwrap().transcript;
        assert_eq!(t.segments.iter().map(|s| (s.start, s.end)).collect::<Vec<_>>(), [(0.5, 0.6), (2.0, 2.0)]);
    }

    #[test]
    fn non_latin_text() {
        let body = doc(json!({"events": [
            {"tStartMs": 0, "dDurationMs": 1000, "segs": [{"utf8": "こんにちは"}, {"utf8": "世界", "tOffsetMs": 500}]},
            {"tStartMs": 1000, "dDurationMs": 1000, "segs": [{"utf8": "Привет,"}, {"utf8": " мир", "tOffsetMs": 300}]},
            {"tStartMs": 2000, "dDurationMs": 1000, "segs": [{"utf8": "مرحبا بالعالم 👋"}]},
        ]}));
        let c = parse_json3(&body, "ja", true, Some(3.0)).unwrap();
        let t = &c.transcript;
        assert_eq!(t.segments.iter().map(|s| s.text.as_str()).collect::<Vec<_>>(), ["こんにちは世界", "Привет, мир", "مرحبا بالعالم 👋"]);
        let srt = transcript::segments_srt(t);
        assert!(srt.contains("こんにちは世界") && srt.contains("مرحبا بالعالم 👋"), "{srt}");
        let words: serde_json::Value = serde_json::from_str(&transcript::words_json(t)).unwrap();
        assert_eq!(words["words"][1]["word"], "世界");
        assert_eq!(words["words"][3]["word"], "мир");
        assert_eq!(words["words"].as_array().unwrap().len(), 4, "the last event has no offsets: no words");
    }

    #[test]
    fn empty_and_broken_documents() {
        assert_eq!(parse_json3(b"", "en", true, None).unwrap_err().code(), "po-token-required");
        assert_eq!(parse_json3(b" \n", "en", true, None).unwrap_err().code(), "po-token-required");
        assert_eq!(parse_json3(b"<transcript/>", "en", true, None).unwrap_err().code(), "upstream-changed");
        assert_eq!(parse_json3(br#"{"wireMagic":"pb3"}"#, "en", true, None).unwrap_err().code(), "upstream-changed");
        // A track with no caption events is an empty transcript, not an error.
        let c = parse_json3(br#"{"events":[{"tStartMs":0,"dDurationMs":5}]}"#, "en", false, Some(10.0)).unwrap();
        assert!(c.transcript.segments.is_empty() && !c.word_timings);
        assert_eq!(c.transcript.duration, 10.0);
    }
}
