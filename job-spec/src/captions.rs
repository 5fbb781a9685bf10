//! Captions: SRT and word-JSON parsing, and ASS generation for `caption`,
//! `caption_style` (`segments` and `highlight` karaoke) and `encode`.
//!
//! Pure functions: the worker downloads the caption file, calls these, and hands the ASS
//! to libass. User text only ever reaches libass through [`ass_text`], which neutralises
//! ASS override blocks (`{…}`) and escapes (`\N`, `\h`, …).

use serde::Deserialize;

use crate::limits::{MAX_CAPTION_BYTES, MAX_CUES, MAX_WORDS};
use crate::ops::StyleOptions;
use crate::values::{alignment_number, parse_hex_color};

/// One subtitle cue, in seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Cue {
    pub start: f64,
    pub end: f64,
    pub text: String,
}

/// One word with its timing, as `caption_style` `highlight` and transcription use it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Word {
    pub word: String,
    pub start: f64,
    pub end: f64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptionError {
    /// `invalid-srt`, `invalid-words`, `invalid-ass`, `empty-captions`,
    /// `captions-too-large`.
    pub code: &'static str,
    pub message: String,
}

fn err(code: &'static str, message: impl Into<String>) -> CaptionError {
    CaptionError { code, message: message.into() }
}

/// `captions-too-large` for a `what` file of more than [`MAX_CAPTION_BYTES`], checked
/// before any parsing.
pub fn check_caption_bytes(what: &str, bytes: usize) -> Result<(), CaptionError> {
    if bytes > MAX_CAPTION_BYTES {
        return Err(err("captions-too-large", format!("the {what} has {bytes} bytes; at most {MAX_CAPTION_BYTES} are accepted")));
    }
    Ok(())
}

/// `HH:MM:SS,mmm` (also `.` and 1–3 fractional digits, hours optional).
fn parse_timestamp(s: &str) -> Option<f64> {
    let s = s.trim();
    let (clock, frac) = match s.rsplit_once([',', '.']) {
        Some((c, f)) if f.chars().all(|c| c.is_ascii_digit()) && !f.is_empty() && f.len() <= 3 => (c, f),
        _ => (s, "0"),
    };
    let parts: Vec<&str> = clock.split(':').collect();
    let nums: Option<Vec<f64>> = parts.iter().map(|p| p.trim().parse::<u32>().ok().map(f64::from)).collect();
    let nums = nums?;
    let secs = match nums.as_slice() {
        [h, m, s] if *m < 60.0 && *s < 60.0 => h * 3600.0 + m * 60.0 + s,
        [m, s] if *s < 60.0 => m * 60.0 + s,
        _ => return None,
    };
    let frac: f64 = frac.parse::<u32>().ok()?.into();
    Some(secs + frac / 10f64.powi(frac_digits(s)))
}

fn frac_digits(s: &str) -> i32 {
    s.rsplit_once([',', '.']).map_or(0, |(_, f)| f.len() as i32)
}

/// Parses SRT: BOM, CRLF, missing or wrong indices, extra blank lines, cues out of order
/// (sorted) and overlapping (each ends where the next begins). Cues with no text or no
/// duration are dropped.
pub fn parse_srt(text: &str) -> Result<Vec<Cue>, CaptionError> {
    check_caption_bytes("SRT", text.len())?;
    let text = text.trim_start_matches('\u{feff}').replace("\r\n", "\n").replace('\r', "\n");
    let mut cues = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let Some((a, b)) = line.split_once("-->") else { continue };
        let b = b.split_whitespace().next().unwrap_or_default(); // drop position hints
        let (start, end) = match (parse_timestamp(a), parse_timestamp(b)) {
            (Some(s), Some(e)) => (s, e),
            _ => return Err(err("invalid-srt", format!("unreadable timing line `{}`", line.trim()))),
        };
        let mut body = Vec::new();
        while let Some(l) = lines.peek() {
            if l.trim().is_empty() || l.contains("-->") {
                break;
            }
            body.push(lines.next().unwrap_or_default().trim_end().to_owned());
        }
        // A numeric line just before the next timing line is the next cue's index.
        if lines.peek().is_some_and(|l| l.contains("-->")) && body.last().is_some_and(|l| l.trim().chars().all(|c| c.is_ascii_digit())) {
            body.pop();
        }
        let text = body.join("\n").trim().to_owned();
        if !text.is_empty() && end > start {
            if cues.len() == MAX_CUES {
                return Err(err("captions-too-large", format!("the SRT has more than {MAX_CUES} cues; at most {MAX_CUES} are accepted")));
            }
            cues.push(Cue { start, end, text });
        }
    }
    if cues.is_empty() {
        return Err(err("empty-captions", "the SRT has no cue with text"));
    }
    cues.sort_by(|a, b| a.start.total_cmp(&b.start));
    for i in 1..cues.len() {
        let next = cues[i].start;
        if cues[i - 1].end > next {
            cues[i - 1].end = next;
        }
    }
    cues.retain(|c| c.end > c.start);
    Ok(cues)
}

/// Parses `{"words":[{"word","start","end"}]}` (or a bare list); words sorted by start.
pub fn parse_words(json: &str) -> Result<Vec<Word>, CaptionError> {
    check_caption_bytes("words JSON", json.len())?;
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Doc {
        Wrapped { words: Vec<Word> },
        Bare(Vec<Word>),
    }
    let doc: Doc = serde_json::from_str(json.trim_start_matches('\u{feff}')).map_err(|e| err("invalid-words", e.to_string()))?;
    let mut words = match doc {
        Doc::Wrapped { words } | Doc::Bare(words) => words,
    };
    if words.len() > MAX_WORDS {
        return Err(err("captions-too-large", format!("the words JSON has {} words; at most {MAX_WORDS} are accepted", words.len())));
    }
    words.retain(|w| !w.word.trim().is_empty() && w.start.is_finite() && w.end.is_finite());
    for w in &mut words {
        w.word = w.word.trim().to_owned();
        if w.end < w.start {
            w.end = w.start;
        }
    }
    if words.is_empty() {
        return Err(err("empty-captions", "the words JSON has no word"));
    }
    words.sort_by(|a, b| a.start.total_cmp(&b.start));
    Ok(words)
}

/// User text for an ASS event: override blocks and backslash escapes neutralised,
/// newlines as `\N`. `{`/`}` become fullwidth braces; a backslash gets a word joiner
/// after it so `\N`, `\h` and `\n` print literally.
pub fn ass_text(s: &str, uppercase: bool) -> String {
    let s = if uppercase { s.to_uppercase() } else { s.to_owned() };
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '{' => out.push('｛'),
            '}' => out.push('｝'),
            '\\' => out.push_str("\\\u{2060}"),
            '\n' => out.push_str("\\N"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// `H:MM:SS.cc` (ASS centiseconds).
pub fn ass_time(secs: f64) -> String {
    let cs = (secs.max(0.0) * 100.0).round() as u64;
    format!("{}:{:02}:{:02}.{:02}", cs / 360_000, cs / 6000 % 60, cs / 100 % 60, cs % 100)
}

/// `#RRGGBB` + opacity (0 transparent … 1 opaque) → `&HAABBGGRR`.
pub fn ass_color(hex: &str, opacity: f64) -> Option<String> {
    let (r, g, b) = parse_hex_color(hex)?;
    let alpha = (255.0 * (1.0 - opacity.clamp(0.0, 1.0))).round() as u8;
    Some(format!("&H{alpha:02X}{b:02X}{g:02X}{r:02X}"))
}

/// The ASS style every caption mode starts from, resolved from the request's options.
#[derive(Debug, Clone, PartialEq)]
pub struct AssStyle {
    pub font: String,
    pub size: f64,
    pub bold: bool,
    pub italic: bool,
    pub primary: String,
    pub secondary: String,
    pub outline_color: String,
    pub back: String,
    /// 1 outline + shadow, 3 opaque box, 4 box behind the whole event.
    pub border_style: u32,
    pub outline: f64,
    pub shadow: f64,
    pub alignment: u8,
    pub margin_v: u32,
    pub margin_h: u32,
}

/// Caption font: DejaVu Sans is in the image (docker/Dockerfile and setup install it).
pub const DEFAULT_FONT: &str = "DejaVu Sans";

impl AssStyle {
    /// Defaults scale with the frame: size 5.5 % of the height, margin 6 %.
    pub fn default_for(height: u32) -> AssStyle {
        let h = f64::from(height);
        AssStyle {
            font: DEFAULT_FONT.into(),
            size: (h * 0.055).round(),
            bold: true,
            italic: false,
            primary: "&H00FFFFFF".into(),
            secondary: "&H0000FFFF".into(),
            outline_color: "&H00000000".into(),
            back: "&H80000000".into(),
            border_style: 1,
            outline: (h / 360.0).max(1.0).round(),
            shadow: 0.0,
            alignment: 2,
            margin_v: (h * 0.06).round() as u32,
            margin_h: (h * 0.04).round() as u32,
        }
    }

    /// `segments` options (`font`, `colors`, `opacity`, `border`/`borders`, `position`).
    pub fn segments(o: &StyleOptions, height: u32) -> AssStyle {
        let mut s = AssStyle::default_for(height);
        if let Some(f) = &o.font {
            if let Some(n) = f.name.as_deref().filter(|n| !n.trim().is_empty()) {
                s.font = clean_font(n);
            }
            s.size = f.size.unwrap_or(s.size);
            s.bold = f.bold.unwrap_or(s.bold);
            s.italic = f.italic.unwrap_or(s.italic);
        }
        let opacity = o.opacity.as_ref();
        let (p_op, b_op) =
            (opacity.and_then(|o| o.primary).map_or(1.0, from_percent), opacity.and_then(|o| o.background).map_or(0.5, from_percent));
        if let Some(c) = &o.colors {
            set_color(&mut s.primary, c.primary.as_deref(), p_op);
            set_color(&mut s.secondary, c.secondary.as_deref(), 1.0);
            set_color(&mut s.outline_color, c.outline.as_deref(), 1.0);
            set_color(&mut s.back, c.background.as_deref(), b_op);
        }
        if opacity.is_some() {
            // Opacity without a color applies to the default colors.
            s.primary = retint(&s.primary, p_op);
            s.back = retint(&s.back, b_op);
        }
        if let Some(b) = &o.border {
            s.border_style = b.style.unwrap_or(s.border_style);
            s.outline = b.width.unwrap_or(s.outline);
        }
        if let Some(b) = &o.borders {
            s.border_style = b.style.unwrap_or(s.border_style);
            s.outline = b.outline.unwrap_or(s.outline);
            s.shadow = b.shadow.unwrap_or(s.shadow);
        }
        apply_position(&mut s, o.position.as_ref());
        s
    }

    /// `highlight` (karaoke) options: `fonte`, `tamanho_fonte`, `texto_cor`, `fundo_cor`,
    /// `fundo_opacidade`, `highlight_borda`, `padding_*`, `position`.
    pub fn highlight(o: &StyleOptions, height: u32) -> AssStyle {
        let mut s = AssStyle::segments(o, height);
        if let Some(n) = o.fonte.as_deref().filter(|n| !n.trim().is_empty()) {
            s.font = clean_font(n);
        }
        s.size = o.tamanho_fonte.unwrap_or(s.size);
        set_color(&mut s.primary, o.texto_cor.as_deref(), 1.0);
        if let Some(bg) = o.fundo_cor.as_deref().filter(|_| o.fundo_arredondado != Some(true)) {
            // A background color means a box behind each line (a rounded one is drawn
            // separately, see `RoundedBox`).
            set_color(&mut s.back, Some(bg), background_opacity(o));
            set_color(&mut s.outline_color, Some(bg), background_opacity(o));
            s.border_style = 3;
            s.outline = o.padding_vertical.unwrap_or(s.outline.max(8.0));
        }
        if let Some(h) = o.padding_horizontal.filter(|_| o.fundo_arredondado != Some(true)) {
            s.margin_h = h.max(0.0).round() as u32;
        }
        s
    }

    fn line(&self) -> String {
        format!(
            "Style: Default,{},{},{},{},{},{},{},{},0,0,100,100,0,0,{},{},{},{},{},{},{},1",
            self.font,
            self.size,
            self.primary,
            self.secondary,
            self.outline_color,
            self.back,
            if self.bold { -1 } else { 0 },
            if self.italic { -1 } else { 0 },
            self.border_style,
            self.outline,
            self.shadow,
            self.alignment,
            self.margin_h,
            self.margin_h,
            self.margin_v,
        )
    }
}

/// The request's opacities are percentages, as the seed's (0 transparent … 100 opaque);
/// ASS colours take a fraction.
fn from_percent(p: f64) -> f64 {
    p / 100.0
}

/// `highlight`'s background box: `fundo_opacidade` percent, 50 by default (the seed's).
fn background_opacity(o: &StyleOptions) -> f64 {
    o.fundo_opacidade.map_or(0.5, from_percent)
}

/// Commas separate ASS style fields; control characters have no place in a font name.
fn clean_font(n: &str) -> String {
    n.chars().filter(|c| *c != ',' && !c.is_control()).collect::<String>().trim().to_owned()
}

fn set_color(slot: &mut String, hex: Option<&str>, opacity: f64) {
    if let Some(c) = hex.and_then(|h| ass_color(h, opacity)) {
        *slot = c;
    }
}

fn retint(ass: &str, opacity: f64) -> String {
    let alpha = (255.0 * (1.0 - opacity.clamp(0.0, 1.0))).round() as u8;
    format!("&H{alpha:02X}{}", &ass[4..])
}

fn apply_position(s: &mut AssStyle, pos: Option<&serde_json::Value>) {
    match pos {
        Some(serde_json::Value::String(a)) => s.alignment = alignment_number(a).unwrap_or(s.alignment),
        Some(serde_json::Value::Object(o)) => {
            if let Some(a) = o.get("alignment").and_then(|v| v.as_str()).and_then(alignment_number) {
                s.alignment = a;
            }
            if let Some(m) = o.get("marginVertical").or_else(|| o.get("margin_v")).and_then(serde_json::Value::as_f64) {
                s.margin_v = m.max(0.0).round() as u32;
            }
        }
        _ => {}
    }
}

pub(crate) fn header(style: &AssStyle, (w, h): (u32, u32)) -> String {
    format!(
        "[Script Info]\nScriptType: v4.00+\nPlayResX: {w}\nPlayResY: {h}\nWrapStyle: 0\nScaledBorderAndShadow: yes\nYCbCr Matrix: TV.709\n\n\
         [V4+ Styles]\nFormat: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, \
         Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding\n\
         {}\n\n[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n",
        style.line()
    )
}

fn dialogue(start: f64, end: f64, text: &str) -> String {
    format!("Dialogue: 0,{},{},Default,,0,0,0,,{text}\n", ass_time(start), ass_time(end))
}

/// ASS for cues (the `caption` default style, `caption_style` `segments`, `encode`'s SRT).
pub fn segments_ass(cues: &[Cue], style: &AssStyle, size: (u32, u32), uppercase: bool) -> String {
    let mut out = header(style, size);
    for c in cues {
        out.push_str(&dialogue(c.start, c.end, &ass_text(&c.text, uppercase)));
    }
    out
}

/// Karaoke options beyond the style.
#[derive(Debug, Clone, PartialEq)]
pub struct Karaoke {
    pub words_per_line: usize,
    pub max_lines: usize,
    /// Color of the word being spoken (`highlight_texto_cor`, default yellow).
    pub highlight_text: String,
    /// Outline/box color around the spoken word (`highlight_cor`), if any.
    pub highlight_outline: Option<String>,
    /// Outline width around the spoken word (`highlight_borda`).
    pub highlight_border: Option<f64>,
    /// `fundo_arredondado` with a `fundo_cor`: one rounded box behind each page.
    pub rounded: Option<RoundedBox>,
}

/// A rounded background box (ASS has no rounded `BorderStyle`: it is drawn with `\p1`).
#[derive(Debug, Clone, PartialEq)]
pub struct RoundedBox {
    /// `&HAABBGGRR`
    pub color: String,
    pub pad_h: f64,
    pub pad_v: f64,
}

impl Karaoke {
    pub fn from_options(o: &StyleOptions) -> Karaoke {
        Karaoke {
            words_per_line: o.words_per_line.unwrap_or(4).clamp(1, 10) as usize,
            max_lines: o.max_lines.unwrap_or(2).clamp(1, 5) as usize,
            highlight_text: o.highlight_texto_cor.as_deref().and_then(|c| ass_color(c, 1.0)).unwrap_or_else(|| "&H0000FFFF".into()),
            highlight_outline: o.highlight_cor.as_deref().and_then(|c| ass_color(c, 1.0)),
            highlight_border: o.highlight_borda,
            rounded: match (o.fundo_arredondado, o.fundo_cor.as_deref()) {
                (Some(true), Some(bg)) => ass_color(bg, background_opacity(o)).map(|color| RoundedBox {
                    color,
                    pad_h: o.padding_horizontal.unwrap_or(24.0),
                    pad_v: o.padding_vertical.unwrap_or(12.0),
                }),
                _ => None,
            },
        }
    }
}

/// Word-by-word karaoke: words grouped into lines of `words_per_line`, pages of
/// `max_lines` lines; while a word is spoken its page shows with that word highlighted.
/// A page stays up until its last word ends (or the next page starts).
///
/// With a [`RoundedBox`], `measure(text)` must give the text's advance width in pixels at
/// the style's font size (the worker measures with the real font); the box then sits
/// behind the page's text block, placed by the same alignment and margins libass uses.
pub fn karaoke_ass(
    words: &[Word],
    style: &AssStyle,
    k: &Karaoke,
    size: (u32, u32),
    uppercase: bool,
    measure: Option<&dyn Fn(&str) -> f64>,
) -> String {
    let mut out = header(style, size);
    out.push_str(&karaoke_events(words, style, k, size, uppercase, measure));
    out
}

/// The `Dialogue` lines of [`karaoke_ass`] for `words` alone (no header): a caller that
/// groups words itself (transcription: one group per segment) appends the groups' events
/// under one header. Pages never span two calls.
pub(crate) fn karaoke_events(
    words: &[Word],
    style: &AssStyle,
    k: &Karaoke,
    size: (u32, u32),
    uppercase: bool,
    measure: Option<&dyn Fn(&str) -> f64>,
) -> String {
    let mut out = String::new();
    let per_page = k.words_per_line * k.max_lines;
    let pages: Vec<&[Word]> = words.chunks(per_page).collect();
    let layer = if k.rounded.is_some() && measure.is_some() { 1 } else { 0 };
    for (p, page) in pages.iter().enumerate() {
        let page_end =
            pages.get(p + 1).map_or(page[page.len() - 1].end, |next| next[0].start.max(page[page.len() - 1].end).min(next[0].start));
        if let (Some(rb), Some(measure)) = (&k.rounded, measure) {
            let lines: Vec<String> = page
                .chunks(k.words_per_line)
                .map(|l| l.iter().map(|w| if uppercase { w.word.to_uppercase() } else { w.word.clone() }).collect::<Vec<_>>().join(" "))
                .collect();
            let width = lines.iter().map(|l| measure(l)).fold(0.0, f64::max);
            let drawing = rounded_box(style, rb, size, width, lines.len());
            out.push_str(&format!("Dialogue: 0,{},{},Default,,0,0,0,,{drawing}\n", ass_time(page[0].start), ass_time(page_end)));
        }
        for (i, w) in page.iter().enumerate() {
            let start = w.start;
            let end = page.get(i + 1).map_or(page_end, |n| n.start).max(w.end.min(page_end));
            let end = if i + 1 < page.len() { page[i + 1].start.max(start) } else { end };
            if end <= start {
                continue;
            }
            let mut text = String::new();
            for (j, other) in page.iter().enumerate() {
                if j > 0 {
                    text.push_str(if j % k.words_per_line == 0 { "\\N" } else { " " });
                }
                let t = ass_text(&other.word, uppercase);
                if j == i {
                    let mut tag = format!("{{\\c{}", k.highlight_text);
                    if let Some(c) = &k.highlight_outline {
                        tag.push_str(&format!("\\3c{c}"));
                    }
                    if let Some(b) = k.highlight_border {
                        tag.push_str(&format!("\\bord{b}"));
                    }
                    tag.push('}');
                    text.push_str(&format!("{tag}{t}{{\\r}}"));
                } else {
                    text.push_str(&t);
                }
            }
            out.push_str(&dialogue(start, end, &text).replacen("Dialogue: 0,", &format!("Dialogue: {layer},"), 1));
        }
    }
    out
}

/// The drawing event text of a rounded box around a text block `text_w` wide and
/// `lines` lines high (a line is one font size: libass sizes fonts by ascent + descent).
fn rounded_box(style: &AssStyle, rb: &RoundedBox, (w, h): (u32, u32), text_w: f64, lines: usize) -> String {
    let (w, h) = (f64::from(w), f64::from(h));
    let text_h = style.size * lines as f64;
    let (mh, mv) = (f64::from(style.margin_h), f64::from(style.margin_v));
    let col = (style.alignment - 1) % 3;
    let x = match col {
        0 => mh,
        1 => (w - text_w) / 2.0,
        _ => w - mh - text_w,
    };
    let y = match style.alignment {
        1..=3 => h - mv - text_h,
        4..=6 => (h - text_h) / 2.0,
        _ => mv,
    };
    let (x0, y0, x1, y1) = (x - rb.pad_h, y - rb.pad_v, x + text_w + rb.pad_h, y + text_h + rb.pad_v);
    let r = (style.size * 0.35 + rb.pad_v).min((y1 - y0) / 2.0).min((x1 - x0) / 2.0);
    let n = |v: f64| format!("{}", v.round() as i64);
    let (a0, a1, b0, b1) = (n(x0), n(x1), n(y0), n(y1));
    let (xr0, xr1, yr0, yr1) = (n(x0 + r), n(x1 - r), n(y0 + r), n(y1 - r));
    // &HAABBGGRR → \1c&HBBGGRR& and \1a&HAA&
    let (alpha, bgr) = rb.color.trim_start_matches("&H").split_at(2);
    format!(
        "{{\\an7\\pos(0,0)\\p1\\bord0\\shad0\\1c&H{bgr}&\\1a&H{alpha}&}}m {xr0} {b0} l {xr1} {b0} b {a1} {b0} {a1} {b0} {a1} {yr0} \
         l {a1} {yr1} b {a1} {b1} {a1} {b1} {xr1} {b1} l {xr0} {b1} b {a0} {b1} {a0} {b1} {a0} {yr1} l {a0} {yr0} b {a0} {b0} {a0} {b0} {xr0} {b0}{{\\p0}}"
    )
}

/// Escapes a path for an ffmpeg filter option value inside a filtergraph (two levels:
/// the option parser, then the graph parser), e.g. for `subtitles=filename=…`.
pub fn filter_path(path: &str) -> String {
    let mut level1 = String::new();
    for c in path.chars() {
        if matches!(c, '\\' | ':' | '\'') {
            level1.push('\\');
        }
        level1.push(c);
    }
    let mut level2 = String::new();
    for c in level1.chars() {
        if matches!(c, '\\' | '\'' | '[' | ']' | ',' | ';') {
            level2.push('\\');
        }
        level2.push(c);
    }
    level2
}

#[cfg(test)]
mod tests {
    #[test]
    fn opacities_are_percentages() {
        use crate::ops::{ColorOptions, OpacityOptions};
        // 70 % opaque → ASS alpha 255 × 0.3 = 77 (0x4D); the default 50 % → 0x80.
        let boxed = |p: Option<f64>| StyleOptions { fundo_cor: Some("#000000".into()), fundo_opacidade: p, ..Default::default() };
        assert_eq!(AssStyle::highlight(&boxed(Some(70.0)), 1080).back, "&H4D000000");
        assert_eq!(AssStyle::highlight(&boxed(None), 1080).back, "&H80000000");
        let seg = StyleOptions {
            colors: Some(ColorOptions { primary: Some("#FFFFFF".into()), background: Some("#000000".into()), ..Default::default() }),
            opacity: Some(OpacityOptions { primary: Some(100.0), background: Some(80.0) }),
            ..Default::default()
        };
        let style = AssStyle::segments(&seg, 1080);
        assert_eq!((style.primary.as_str(), style.back.as_str()), ("&H00FFFFFF", "&H33000000"));
    }

    use super::*;

    #[test]
    fn srt_with_bom_crlf_disorder_and_overlap() {
        let srt = "\u{feff}2\r\n00:00:03,000 --> 00:00:05,000\r\nsecond\r\n\r\n\r\n1\r\n00:00:01,000 --> 00:00:03,500\r\nfirst line\r\nOlá, coração 🎬\r\n\r\n3\r\n00:00:06.5 --> 00:00:06,000\r\nbackwards\r\n";
        let cues = parse_srt(srt).unwrap();
        assert_eq!(
            cues,
            vec![
                Cue { start: 1.0, end: 3.0, text: "first line\nOlá, coração 🎬".into() },
                Cue { start: 3.0, end: 5.0, text: "second".into() },
            ]
        );
        assert_eq!(
            parse_srt("1\n00:00:01,000 --> 00:00:02,000\nno blank line before\n2\n00:00:02,000 --> 00:00:03,000\nnext\n").unwrap().len(),
            2
        );
        assert_eq!(parse_srt("hello").unwrap_err().code, "empty-captions");
        assert_eq!(parse_srt("1\n00:00:xx,000 --> 00:00:02,000\nhi\n").unwrap_err().code, "invalid-srt");
        assert_eq!(parse_timestamp("01:02:03,4"), Some(3723.4));
        assert_eq!(parse_timestamp("02:03.250"), Some(123.25));
    }

    #[test]
    fn caption_files_are_bounded() {
        let at = |s: usize| format!("{:02}:{:02}:{:02},000", s / 3600, s / 60 % 60, s % 60);
        let cue = |i: usize| format!("{}\n{} --> {}\nx\n\n", i + 1, at(i), at(i + 1));
        let srt: String = (0..MAX_CUES).map(cue).collect();
        assert_eq!(parse_srt(&srt).unwrap().len(), MAX_CUES);
        let e = parse_srt(&(srt + &cue(MAX_CUES))).unwrap_err();
        assert_eq!(e.code, "captions-too-large", "{e:?}");
        let e = parse_srt(&format!("1\n00:00:00,000 --> 00:00:01,000\n{}\n", "x".repeat(MAX_CAPTION_BYTES))).unwrap_err();
        assert_eq!((e.code, e.message.contains("bytes")), ("captions-too-large", true), "{e:?}");

        let words = |n: usize| format!("[{}]", vec![r#"{"word":"a","start":0,"end":1}"#; n].join(","));
        assert_eq!(parse_words(&words(MAX_WORDS)).unwrap().len(), MAX_WORDS);
        assert_eq!(parse_words(&words(MAX_WORDS + 1)).unwrap_err().code, "captions-too-large");
        let padded = format!("{}{}", " ".repeat(MAX_CAPTION_BYTES), words(1));
        assert_eq!(parse_words(&padded).unwrap_err().code, "captions-too-large");
    }

    #[test]
    fn words() {
        let w = parse_words(r#"{"words":[{"word":" b ","start":1.0,"end":0.5},{"word":"a","start":0.2,"end":0.9,"probability":0.9},{"word":"","start":2,"end":3}]}"#).unwrap();
        assert_eq!(w, vec![Word { word: "a".into(), start: 0.2, end: 0.9 }, Word { word: "b".into(), start: 1.0, end: 1.0 }]);
        assert_eq!(parse_words(r#"[{"word":"x","start":0,"end":1}]"#).unwrap().len(), 1);
        assert_eq!(parse_words("{}").unwrap_err().code, "invalid-words");
        assert_eq!(parse_words(r#"{"words":[]}"#).unwrap_err().code, "empty-captions");
    }

    #[test]
    fn user_text_cannot_inject_overrides() {
        assert_eq!(ass_text("{\\pos(1,1)}hi\\Nthere\nnext", false), "｛\\\u{2060}pos(1,1)｝hi\\\u{2060}Nthere\\Nnext");
        assert_eq!(ass_text("ação", true), "AÇÃO");
        assert_eq!(ass_time(3723.456), "1:02:03.46");
        assert_eq!(ass_color("#FF8000", 1.0).unwrap(), "&H000080FF");
        assert_eq!(ass_color("#000000", 0.5).unwrap(), "&H80000000");
    }

    #[test]
    fn segments_style_from_options() {
        let o: StyleOptions = serde_json::from_value(serde_json::json!({
            "font": {"name": "Liberation, Sans", "size": 60, "bold": false, "italic": true},
            "colors": {"primary": "#FFFF00", "outline": "#112233", "background": "#000000"},
            "opacity": {"primary": 100, "background": 25},
            "border": {"style": 3, "width": 4},
            "position": {"alignment": "top_center", "marginVertical": 80}
        }))
        .unwrap();
        let s = AssStyle::segments(&o, 1080);
        assert_eq!(
            s.line(),
            "Style: Default,Liberation Sans,60,&H0000FFFF,&H0000FFFF,&H00332211,&HBF000000,0,-1,0,0,100,100,0,0,3,4,0,8,43,43,80,1"
        );
        let d = AssStyle::default_for(1080);
        assert_eq!((d.size, d.margin_v, d.alignment, d.font.as_str()), (59.0, 65, 2, DEFAULT_FONT));
        let ass = segments_ass(&[Cue { start: 0.5, end: 2.0, text: "Olá\nmundo".into() }], &d, (1920, 1080), true);
        assert!(ass.contains("PlayResX: 1920\nPlayResY: 1080"));
        assert!(ass.ends_with("Dialogue: 0,0:00:00.50,0:00:02.00,Default,,0,0,0,,OLÁ\\NMUNDO\n"), "{ass}");
    }

    #[test]
    fn karaoke_pages_and_highlights() {
        let words: Vec<Word> = ["um", "dois", "três", "quatro", "cinco"]
            .iter()
            .enumerate()
            .map(|(i, w)| Word { word: (*w).into(), start: i as f64, end: i as f64 + 0.8 })
            .collect();
        let o: StyleOptions =
            serde_json::from_value(serde_json::json!({"words_per_line": 2, "max_lines": 2, "highlight_texto_cor": "#00FF00"})).unwrap();
        let ass = karaoke_ass(&words, &AssStyle::highlight(&o, 1080), &Karaoke::from_options(&o), (1920, 1080), false, None);
        let events: Vec<&str> = ass.lines().filter(|l| l.starts_with("Dialogue:")).collect();
        assert_eq!(events.len(), 5, "{ass}");
        assert_eq!(events[0], "Dialogue: 0,0:00:00.00,0:00:01.00,Default,,0,0,0,,{\\c&H0000FF00}um{\\r} dois\\Ntrês quatro");
        assert_eq!(events[3], "Dialogue: 0,0:00:03.00,0:00:04.00,Default,,0,0,0,,um dois\\Ntrês {\\c&H0000FF00}quatro{\\r}");
        assert_eq!(events[4], "Dialogue: 0,0:00:04.00,0:00:04.80,Default,,0,0,0,,{\\c&H0000FF00}cinco{\\r}");
    }

    #[test]
    fn rounded_background_is_drawn_behind_each_page() {
        let words: Vec<Word> =
            ["a", "b", "c"].iter().enumerate().map(|(i, w)| Word { word: (*w).into(), start: i as f64, end: i as f64 + 0.5 }).collect();
        let o: StyleOptions = serde_json::from_value(serde_json::json!({
            "fundo_cor": "#102030", "fundo_opacidade": 100, "fundo_arredondado": true, "tamanho_fonte": 100,
            "padding_horizontal": 20, "padding_vertical": 10, "words_per_line": 3, "max_lines": 1, "position": "bottom_center"
        }))
        .unwrap();
        let style = AssStyle::highlight(&o, 1080);
        assert_eq!(style.border_style, 1, "no per-line box when the box is rounded");
        // Every character 50 px wide: "a b c" is 250 px.
        let measure = |t: &str| 50.0 * t.chars().count() as f64;
        let ass = karaoke_ass(&words, &style, &Karaoke::from_options(&o), (1920, 1080), false, Some(&measure));
        let events: Vec<&str> = ass.lines().filter(|l| l.starts_with("Dialogue:")).collect();
        assert_eq!(events.len(), 4, "{ass}");
        // Text block: 250×100 px, bottom centre, margin_v 65 → x 835..1085, y 915..1015;
        // the box adds the padding: 815..1105 × 905..1025, radius min(35+10, 60) = 45.
        assert_eq!(
            events[0],
            "Dialogue: 0,0:00:00.00,0:00:02.50,Default,,0,0,0,,{\\an7\\pos(0,0)\\p1\\bord0\\shad0\\1c&H302010&\\1a&H00&}\
             m 860 905 l 1060 905 b 1105 905 1105 905 1105 950 l 1105 980 b 1105 1025 1105 1025 1060 1025 \
             l 860 1025 b 815 1025 815 1025 815 980 l 815 950 b 815 905 815 905 860 905{\\p0}"
        );
        assert!(events[1].starts_with("Dialogue: 1,0:00:00.00,0:00:01.00,"), "text above the box: {}", events[1]);
    }

    #[test]
    fn filter_paths_are_escaped() {
        assert_eq!(filter_path("/tmp/job-1/subs.ass"), "/tmp/job-1/subs.ass");
        assert_eq!(filter_path("/a:b/it's,[x];y\\z"), "/a\\\\:b/it\\\\\\'s\\,\\[x\\]\\;y\\\\\\\\z");
    }
}
