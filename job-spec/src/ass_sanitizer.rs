//! A user's own ASS file, re-emitted for libass with only what captions need, every
//! value bounded.
//!
//! libass trusts the script: an embedded font (`[Fonts]`, uuencoded) goes to FreeType,
//! `\fs100000` or `\blur1000` makes bitmaps of gigapixels, a drawing (`\p1`) of a
//! million points, a `PlayResY: 1` that scales every size by the frame height. So the
//! file is parsed and written anew: `[Script Info]` (known keys; `PlayResX`/`PlayResY`
//! always written, in range), the styles (sizes, borders, shadows, scales, margins
//! clamped) and the `Dialogue` events (override tags parsed and clamped, unknown tags
//! and vector clips dropped, drawings bounded); `[Fonts]`, `[Graphics]`, comments and
//! every other section are dropped. Sizes and counts past the limits in
//! [`crate::limits`] are refused (`captions-too-large`) rather than cut.
//!
//! Lengths are in script pixels (`PlayResX`×`PlayResY`), as libass reads them.

use crate::captions::CaptionError;
use crate::limits::{MAX_ASS_DRAWING_POINTS, MAX_ASS_EVENT_BYTES, MAX_ASS_STYLES, MAX_CAPTION_BYTES, MAX_CUES, MAX_EVENTS_ON_SCREEN};

/// `PlayResX`/`PlayResY` range: below it one script pixel is many frame pixels.
pub const MIN_PLAY_RES: u32 = 64;
pub const MAX_PLAY_RES: u32 = 8192;
/// Outline and shadow (`Outline`, `Shadow`, `\bord`, `\shad`, …), script pixels.
pub const MAX_BORDER: f64 = 50.0;
/// `\blur` (gaussian radius) and `\be` (passes).
pub const MAX_BLUR: f64 = 20.0;
pub const MAX_BE: f64 = 10.0;
/// `ScaleX`/`ScaleY`/`\fscx`/`\fscy`, percent.
pub const MAX_SCALE: f64 = 400.0;
/// `\fax`/`\fay` shear factors.
pub const MAX_SHEAR: f64 = 2.0;
/// Longest font or style name kept.
const MAX_NAME_CHARS: usize = 128;
/// Longest animation or fade time, ms (a caption track is at most a few hours).
const MAX_MS: f64 = 24.0 * 3600.0 * 1000.0;

fn err(code: &'static str, message: impl Into<String>) -> CaptionError {
    CaptionError { code, message: message.into() }
}

fn too_large(message: impl Into<String>) -> CaptionError {
    err("captions-too-large", message)
}

/// The script's size, which every length is measured against.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Res {
    x: f64,
    y: f64,
}

impl Res {
    /// Largest font size: a line as tall as the script.
    fn max_font(self) -> f64 {
        self.y
    }

    /// A coordinate: up to one script size off either edge.
    fn coord(self, v: f64, horizontal: bool) -> f64 {
        let size = if horizontal { self.x } else { self.y };
        v.clamp(-size, 2.0 * size)
    }

    fn margin(self, v: f64, horizontal: bool) -> f64 {
        v.clamp(0.0, if horizontal { self.x } else { self.y })
    }
}

/// The user's ASS, sanitised (see the module). Refuses a file over
/// [`MAX_CAPTION_BYTES`] before reading it, more than [`MAX_CUES`] events,
/// [`MAX_ASS_STYLES`] styles or [`MAX_EVENTS_ON_SCREEN`] events at once, an event over
/// [`MAX_ASS_EVENT_BYTES`] or drawings over [`MAX_ASS_DRAWING_POINTS`] numbers on screen
/// (`captions-too-large`); a file with no `[Events]` `Format` ending in `Text`
/// (`invalid-ass`) or no dialogue (`empty-captions`).
pub fn sanitize_ass(text: &str) -> Result<String, CaptionError> {
    if text.len() > MAX_CAPTION_BYTES {
        return Err(too_large(format!("the ASS file has {} bytes; at most {MAX_CAPTION_BYTES} are accepted", text.len())));
    }
    let text = text.trim_start_matches('\u{feff}');
    let mut info: Vec<(String, String)> = vec![];
    let mut styles: Vec<&str> = vec![];
    let mut style_format: Option<&str> = None;
    let mut events: Vec<&str> = vec![];
    let mut event_format: Option<&str> = None;
    let mut v4_plus = true;
    #[derive(PartialEq)]
    enum Section {
        None,
        Info,
        Styles,
        Events,
        Other,
    }
    let mut section = Section::None;
    for line in text.lines() {
        let line = line.trim_start();
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.starts_with('[') {
            let name = line.trim_end().to_ascii_lowercase();
            section = match name.as_str() {
                "[script info]" => Section::Info,
                "[v4+ styles]" | "[v4 styles+]" => {
                    v4_plus = true;
                    Section::Styles
                }
                "[v4 styles]" => {
                    v4_plus = false;
                    Section::Styles
                }
                "[events]" => Section::Events,
                // [Fonts], [Graphics], [Aegisub Project Garbage], …
                _ => Section::Other,
            };
            continue;
        }
        let Some((key, value)) = line.split_once(':') else { continue };
        let value = value.trim_start();
        match section {
            Section::Info => info.push((key.trim().to_owned(), value.trim().to_owned())),
            Section::Styles if key.eq_ignore_ascii_case("format") => style_format = Some(value),
            Section::Styles if key.eq_ignore_ascii_case("style") => styles.push(value),
            Section::Events if key.eq_ignore_ascii_case("format") => event_format = Some(value),
            Section::Events if key.eq_ignore_ascii_case("dialogue") => events.push(value),
            _ => {}
        }
    }
    if events.len() > MAX_CUES {
        return Err(too_large(format!("the ASS file has {} events; at most {MAX_CUES} are accepted", events.len())));
    }
    if styles.len() > MAX_ASS_STYLES {
        return Err(too_large(format!("the ASS file has {} styles; at most {MAX_ASS_STYLES} are accepted", styles.len())));
    }

    let (mut out, res) = script_info(&info);

    let default_style = if v4_plus { V4_PLUS_STYLE_FORMAT } else { V4_STYLE_FORMAT };
    let style_fields = fields(style_format.unwrap_or(default_style));
    out.push_str(if v4_plus { "\n[V4+ Styles]\n" } else { "\n[V4 Styles]\n" });
    out.push_str(&format!("Format: {}\n", style_fields.join(", ")));
    for s in styles {
        if let Some(line) = style(s, &style_fields, res) {
            out.push_str(&format!("Style: {line}\n"));
        }
    }

    let event_fields = fields(event_format.unwrap_or(EVENT_FORMAT));
    if !event_fields.last().is_some_and(|f| f.eq_ignore_ascii_case("text")) {
        return Err(err("invalid-ass", "the [Events] Format line must end with Text"));
    }
    out.push_str(&format!("\n[Events]\nFormat: {}\n", event_fields.join(", ")));
    let mut spans = vec![];
    for (i, e) in events.iter().enumerate() {
        if let Some((line, span)) =
            event(e, &event_fields, res).map_err(|e| CaptionError { message: format!("event {}: {}", i + 1, e.message), ..e })?
        {
            out.push_str(&format!("Dialogue: {line}\n"));
            spans.push(span);
        }
    }
    if spans.is_empty() {
        return Err(err("empty-captions", "the ASS file has no Dialogue event"));
    }
    check_overlap(&spans)?;
    Ok(out)
}

const V4_PLUS_STYLE_FORMAT: &str = "Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, \
     Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding";
const V4_STYLE_FORMAT: &str = "Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, TertiaryColour, BackColour, Bold, Italic, \
     BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, AlphaLevel, Encoding";
const EVENT_FORMAT: &str = "Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text";

fn fields(format: &str) -> Vec<String> {
    format.split(',').map(|f| f.trim().to_owned()).filter(|f| !f.is_empty()).collect()
}

/// `[Script Info]` with the keys libass reads for layout; `PlayResX`/`PlayResY` filled
/// in as libass would (384×288, or the missing one from the other) and clamped.
fn script_info(info: &[(String, String)]) -> (String, Res) {
    let get = |k: &str| info.iter().rev().find(|(key, _)| key.eq_ignore_ascii_case(k)).map(|(_, v)| v.as_str());
    let num = |k: &str| get(k).and_then(|v| v.parse::<u32>().ok()).filter(|v| *v > 0);
    let (x, y) = match (num("PlayResX"), num("PlayResY")) {
        (Some(x), Some(y)) => (x, y),
        (Some(1280), None) => (1280, 1024),
        (Some(x), None) => (x, x.saturating_mul(3) / 4),
        (None, Some(1024)) => (1280, 1024),
        (None, Some(y)) => (y.saturating_mul(4) / 3, y),
        (None, None) => (384, 288),
    };
    let (x, y) = (x.clamp(MIN_PLAY_RES, MAX_PLAY_RES), y.clamp(MIN_PLAY_RES, MAX_PLAY_RES));
    let mut out = format!("[Script Info]\nScriptType: v4.00+\nPlayResX: {x}\nPlayResY: {y}\n");
    let pick = |k: &str, ok: &dyn Fn(&str) -> bool| get(k).filter(|v| ok(v)).map(|v| format!("{k}: {v}\n"));
    let lines = [
        pick("WrapStyle", &|v| matches!(v, "0" | "1" | "2" | "3")),
        pick("ScaledBorderAndShadow", &|v| matches!(v.to_ascii_lowercase().as_str(), "yes" | "no")),
        pick("Kerning", &|v| matches!(v.to_ascii_lowercase().as_str(), "yes" | "no")),
        pick("YCbCr Matrix", &|v| v.len() <= 16 && v.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))),
        pick("LayoutResX", &|v| v.parse::<u32>().is_ok_and(|n| (MIN_PLAY_RES..=MAX_PLAY_RES).contains(&n))),
        pick("LayoutResY", &|v| v.parse::<u32>().is_ok_and(|n| (MIN_PLAY_RES..=MAX_PLAY_RES).contains(&n))),
    ];
    out.extend(lines.into_iter().flatten());
    (out, Res { x: f64::from(x), y: f64::from(y) })
}

/// A number as ASS writes it: whole numbers bare, others to 3 decimals.
fn n(v: f64) -> String {
    let v = if v == 0.0 { 0.0 } else { v };
    if v.fract() == 0.0 {
        format!("{}", v as i64)
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

/// The leading number of `s` (libass reads `12abc` as 12), finite.
fn lead_num(s: &str) -> Option<f64> {
    let s = s.trim_start();
    let mut end = 0;
    let b = s.as_bytes();
    if end < b.len() && matches!(b[end], b'+' | b'-') {
        end += 1;
    }
    while end < b.len() && (b[end].is_ascii_digit() || b[end] == b'.') {
        end += 1;
    }
    // An exponent, as strtod reads it: `1e9`.
    if end < b.len() && matches!(b[end], b'e' | b'E') {
        let mut e = end + 1;
        if e < b.len() && matches!(b[e], b'+' | b'-') {
            e += 1;
        }
        if e < b.len() && b[e].is_ascii_digit() {
            while e < b.len() && b[e].is_ascii_digit() {
                e += 1;
            }
            end = e;
        }
    }
    s[..end].parse::<f64>().ok().filter(|v| v.is_finite())
}

/// A name (font, style): no control characters or tag syntax, bounded.
fn clean_name(s: &str) -> String {
    s.chars().filter(|c| !c.is_control() && !matches!(c, '{' | '}' | '\\' | ',')).take(MAX_NAME_CHARS).collect::<String>().trim().to_owned()
}

/// `&HAABBGGRR&` (any number of hex digits up to 8) or a decimal; `None` otherwise.
fn color(s: &str) -> Option<String> {
    let s = s.trim();
    let v = match s.strip_prefix("&H").or_else(|| s.strip_prefix("&h")) {
        Some(hex) => {
            let hex = hex.trim_end_matches('&');
            if hex.is_empty() || hex.len() > 8 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                return None;
            }
            u32::from_str_radix(hex, 16).ok()?
        }
        None => s.parse::<i64>().ok().map(|v| v as u32)?,
    };
    Some(format!("&H{v:08X}"))
}

/// `&HAA&` for `\alpha` and `\1a`…`\4a`.
fn alpha(s: &str) -> Option<String> {
    let hex = s.trim().trim_start_matches('&').trim_start_matches(['H', 'h']).trim_end_matches('&');
    if hex.is_empty() || hex.len() > 8 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    Some(format!("&H{:02X}&", u32::from_str_radix(hex, 16).ok()? & 0xff))
}

/// One `Style:` line's fields, each bounded by its name; `None` for a line short of
/// fields (libass would read garbage from it).
fn style(line: &str, format: &[String], res: Res) -> Option<String> {
    let values: Vec<&str> = line.splitn(format.len(), ',').collect();
    if values.len() < format.len() {
        return None;
    }
    let out: Vec<String> = format
        .iter()
        .zip(values)
        .map(|(f, v)| {
            let v = v.trim();
            let num = |lo: f64, hi: f64, default: f64| n(lead_num(v).unwrap_or(default).clamp(lo, hi));
            match f.to_ascii_lowercase().as_str() {
                "name" | "fontname" => clean_name(v),
                "fontsize" => num(1.0, res.max_font(), 20.0),
                "primarycolour" | "secondarycolour" | "outlinecolour" | "tertiarycolour" | "backcolour" => {
                    color(v).unwrap_or_else(|| "&H00000000".into())
                }
                "bold" => num(-1.0, 900.0, 0.0),
                "italic" | "underline" | "strikeout" => num(-1.0, 1.0, 0.0),
                "scalex" | "scaley" => num(0.0, MAX_SCALE, 100.0),
                "spacing" => num(-res.x, res.x, 0.0),
                "angle" => n(lead_num(v).unwrap_or(0.0) % 360.0),
                "borderstyle" => match lead_num(v) {
                    Some(b) if [1.0, 3.0, 4.0].contains(&b) => n(b),
                    _ => "1".into(),
                },
                "outline" => num(0.0, MAX_BORDER, 2.0),
                "shadow" => num(0.0, MAX_BORDER, 0.0),
                "alignment" => num(1.0, if format.iter().any(|f| f.eq_ignore_ascii_case("outlinecolour")) { 9.0 } else { 11.0 }, 2.0),
                "marginl" | "marginr" => n(res.margin(lead_num(v).unwrap_or(0.0), true).round()),
                "marginv" => n(res.margin(lead_num(v).unwrap_or(0.0), false).round()),
                "alphalevel" => num(0.0, 255.0, 0.0),
                "encoding" => num(-1.0, 255.0, 1.0),
                // A field libass does not know: it ignores it; keep it short.
                _ => clean_name(v),
            }
        })
        .collect();
    Some(out.join(","))
}

/// When an event is on screen (seconds), and the numbers of its drawings.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: f64,
    end: f64,
    points: usize,
}

/// `H:MM:SS.cc` → seconds.
fn time(s: &str) -> Option<f64> {
    let mut parts = s.trim().split(':');
    let (h, m, sec) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let (h, m, sec) = (h.trim().parse::<u32>().ok()?, m.trim().parse::<u32>().ok()?, sec.trim().parse::<f64>().ok()?);
    let t = f64::from(h) * 3600.0 + f64::from(m) * 60.0 + sec;
    (t.is_finite() && sec >= 0.0).then_some(t)
}

/// One `Dialogue:` line, and its span on screen. `Ok(None)`: dropped (unreadable time,
/// never on screen); `Err` for an event over the limits.
fn event(line: &str, format: &[String], res: Res) -> Result<Option<(String, Span)>, CaptionError> {
    if line.len() > MAX_ASS_EVENT_BYTES {
        return Err(too_large(format!("{} bytes; at most {MAX_ASS_EVENT_BYTES} are accepted per event", line.len())));
    }
    let values: Vec<&str> = line.splitn(format.len(), ',').collect();
    if values.len() < format.len() {
        return Ok(None);
    }
    let (mut start, mut end, mut points) = (None, None, 0);
    let mut out = Vec::with_capacity(format.len());
    for (f, v) in format.iter().zip(values) {
        let value = match f.to_ascii_lowercase().as_str() {
            "layer" | "marked" => n(lead_num(v).unwrap_or(0.0).clamp(0.0, 1000.0).trunc()),
            "start" | "end" => {
                let Some(t) = time(v) else { return Ok(None) };
                if f.eq_ignore_ascii_case("start") {
                    start = Some(t);
                } else {
                    end = Some(t);
                }
                crate::captions::ass_time(t)
            }
            "style" | "name" | "actor" => clean_name(v),
            "marginl" | "marginr" => n(res.margin(lead_num(v).unwrap_or(0.0), true).round()),
            "marginv" => n(res.margin(lead_num(v).unwrap_or(0.0), false).round()),
            // Scroll and banner effects move the event by delays and bands libass bounds.
            "effect" => effect(v),
            "text" => {
                let (text, n) = text(v, res);
                points = n;
                text
            }
            _ => clean_name(v),
        };
        out.push(value);
    }
    match (start, end) {
        (Some(s), Some(e)) if e > s => Ok(Some((out.join(","), Span { start: s, end: e, points }))),
        _ => Ok(None),
    }
}

/// `Banner;delay[;…]` and `Scroll up|down;y1;y2;delay[;…]` with their numbers bounded;
/// anything else dropped.
fn effect(v: &str) -> String {
    let mut parts = v.split(';');
    let kind = parts.next().unwrap_or_default().trim();
    let lower = kind.to_ascii_lowercase();
    if !(lower == "banner" || lower == "scroll up" || lower == "scroll down") {
        return String::new();
    }
    let nums: Vec<String> = parts.take(4).filter_map(lead_num).map(|x| n(x.clamp(0.0, f64::from(MAX_PLAY_RES)).trunc())).collect();
    std::iter::once(kind.to_owned()).chain(nums).collect::<Vec<_>>().join(";")
}

/// An event's text: override blocks rebuilt from their known tags, bounded; plain text
/// kept; text in drawing mode bounded as a drawing.
/// The text, and the numbers its drawings have.
fn text(v: &str, res: Res) -> (String, usize) {
    let mut out = String::with_capacity(v.len());
    let mut drawing = 0u32; // `\p` scale, 0 = text
    let mut points = 0usize;
    let mut rest = v;
    while !rest.is_empty() {
        match rest.find('{') {
            Some(open) if rest[open..].contains('}') => {
                let (plain, tail) = rest.split_at(open);
                push_plain(&mut out, plain, drawing, res, &mut points);
                let close = tail.find('}').unwrap_or(tail.len() - 1);
                let block = &tail[1..close];
                let tags = block_tags(block, res, &mut drawing, false);
                if !tags.is_empty() {
                    out.push('{');
                    out.push_str(&tags);
                    out.push('}');
                }
                rest = &tail[close + 1..];
            }
            // A `{` never closed is text to libass.
            _ => {
                push_plain(&mut out, rest, drawing, res, &mut points);
                rest = "";
            }
        }
    }
    (out, points)
}

fn push_plain(out: &mut String, plain: &str, drawing: u32, res: Res, points: &mut usize) {
    if drawing == 0 {
        out.push_str(plain);
        return;
    }
    // Drawing commands: `m n l b s p c` and coordinates (divided by 2^(scale-1)).
    let limit = 2f64.powi(drawing as i32 - 1);
    let mut parts = vec![];
    for token in plain.split_whitespace() {
        if token.len() == 1 && "mnlbspcMNLBSPC".contains(token) {
            parts.push(token.to_ascii_lowercase());
        } else if let Some(v) = lead_num(token) {
            *points += 1;
            let horizontal = *points % 2 == 1;
            parts.push(n((res.coord(v / limit, horizontal) * limit).round()));
        }
    }
    out.push_str(&parts.join(" "));
}

/// Tag names libass knows, longest first where one is a prefix of another.
const TAGS: &[&str] = &[
    "xbord", "ybord", "xshad", "yshad", "iclip", "alpha", "fscx", "fscy", "bord", "shad", "blur", "move", "clip", "fade", "pbo", "fsp",
    "frx", "fry", "frz", "fax", "fay", "pos", "org", "fad", "1c", "2c", "3c", "4c", "1a", "2a", "3a", "4a", "an", "be", "fn", "fe", "fs",
    "fr", "kf", "ko", "kt", "t", "K", "k", "c", "a", "b", "i", "u", "s", "q", "r", "p",
];

/// The tags of one override block, rebuilt; comments and unknown tags dropped. In
/// `\t(…)` (`animated`) only the tags libass animates are kept.
fn block_tags(block: &str, res: Res, drawing: &mut u32, animated: bool) -> String {
    let mut out = String::new();
    let mut rest = block;
    while let Some(at) = rest.find('\\') {
        rest = &rest[at + 1..];
        let name = TAGS.iter().copied().find(|t| rest.starts_with(t)).unwrap_or("");
        let after = &rest[name.len()..];
        // The argument: a parenthesised list (to its matching parenthesis, nesting
        // counted), else up to the next tag.
        let (arg, len) = if after.trim_start().starts_with('(') {
            let lead = after.len() - after.trim_start().len();
            let body = &after[lead + 1..];
            let mut depth = 1;
            let mut end = body.len();
            for (i, c) in body.char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' => {
                        depth -= 1;
                        if depth == 0 {
                            end = i;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            (Arg::List(&body[..end]), lead + 1 + (end + 1).min(body.len()))
        } else {
            let end = after.find('\\').unwrap_or(after.len());
            (Arg::Plain(&after[..end]), end)
        };
        rest = &after[len.min(after.len())..];
        if name.is_empty() {
            continue;
        }
        if let Some(tag) = tag(name, arg, res, drawing, animated) {
            out.push('\\');
            out.push_str(&tag);
        }
    }
    out
}

#[derive(Clone, Copy)]
enum Arg<'a> {
    Plain(&'a str),
    List(&'a str),
}

/// One tag, bounded; `None` drops it. An empty argument resets the value to the style's
/// and is kept as such.
fn tag(name: &str, arg: Arg<'_>, res: Res, drawing: &mut u32, animated: bool) -> Option<String> {
    let plain = match arg {
        Arg::Plain(p) => Some(p.trim()),
        Arg::List(_) => None,
    };
    // `\fs12`: a number clamped; `\fs`: the reset.
    let num = |lo: f64, hi: f64| -> Option<String> {
        let p = plain?;
        if p.is_empty() {
            return Some(name.to_owned());
        }
        // `\fs+2`/`\fs-2` (relative sizes) would step past any clamp: dropped.
        if name == "fs" && p.starts_with(['+', '-']) {
            return None;
        }
        Some(format!("{name}{}", n(lead_num(p)?.clamp(lo, hi))))
    };
    let int = |lo: f64, hi: f64| -> Option<String> {
        match plain? {
            "" => Some(name.to_owned()),
            p => Some(format!("{name}{}", n(lead_num(p)?.trunc().clamp(lo, hi)))),
        }
    };
    let list = |want: &[usize]| -> Option<Vec<f64>> {
        let Arg::List(l) = arg else { return None };
        let v: Vec<f64> = l.split(',').map(lead_num).collect::<Option<_>>()?;
        want.contains(&v.len()).then_some(v)
    };
    let joined = |v: &[f64]| v.iter().map(|x| n(*x)).collect::<Vec<_>>().join(",");
    let animatable = matches!(
        name,
        "fs" | "fsp"
            | "fscx"
            | "fscy"
            | "bord"
            | "xbord"
            | "ybord"
            | "shad"
            | "xshad"
            | "yshad"
            | "blur"
            | "be"
            | "frx"
            | "fry"
            | "frz"
            | "fr"
            | "fax"
            | "fay"
            | "c"
            | "1c"
            | "2c"
            | "3c"
            | "4c"
            | "alpha"
            | "1a"
            | "2a"
            | "3a"
            | "4a"
            | "clip"
            | "iclip"
    );
    if animated && !animatable {
        return None;
    }
    match name {
        "fs" => num(1.0, res.max_font()),
        "fscx" | "fscy" => num(0.0, MAX_SCALE),
        "fsp" => num(-res.x, res.x),
        "bord" | "xbord" | "ybord" => num(0.0, MAX_BORDER),
        "shad" => num(0.0, MAX_BORDER),
        "xshad" | "yshad" => num(-MAX_BORDER, MAX_BORDER),
        "blur" => num(0.0, MAX_BLUR),
        "be" => num(0.0, MAX_BE),
        // Angles wrap: the same rotation, in range.
        "frx" | "fry" | "frz" | "fr" => match plain? {
            "" => Some(name.to_owned()),
            p => Some(format!("{name}{}", n(lead_num(p)? % 360.0))),
        },
        "fax" | "fay" => num(-MAX_SHEAR, MAX_SHEAR),
        "pbo" => num(-res.y, res.y),
        "fe" => int(0.0, 255.0),
        "b" => int(0.0, 900.0),
        "i" | "u" | "s" => int(0.0, 1.0),
        "q" => int(0.0, 3.0),
        "an" => int(1.0, 9.0),
        "a" => {
            plain.and_then(lead_num).filter(|v| [1.0, 2.0, 3.0, 5.0, 6.0, 7.0, 9.0, 10.0, 11.0].contains(v)).map(|v| format!("a{}", n(v)))
        }
        "k" | "K" | "kf" | "ko" | "kt" => int(0.0, MAX_MS / 10.0),
        "p" => {
            let p = plain?;
            let scale = lead_num(p).unwrap_or(0.0).clamp(0.0, 8.0) as u32;
            *drawing = scale;
            Some(format!("p{scale}"))
        }
        "c" | "1c" | "2c" | "3c" | "4c" => {
            let p = plain?;
            if p.is_empty() {
                return Some(name.to_owned());
            }
            // `\c&HBBGGRR&`: alpha is `\1a`'s.
            color(p).map(|c| format!("{name}&H{}&", &c[4..]))
        }
        "alpha" | "1a" | "2a" | "3a" | "4a" => {
            let p = plain?;
            if p.is_empty() { Some(name.to_owned()) } else { alpha(p).map(|a| format!("{name}{a}")) }
        }
        "fn" | "r" => plain.map(|p| format!("{name}{}", clean_name(p))),
        "pos" | "org" => list(&[2]).map(|v| format!("{name}({},{})", n(res.coord(v[0], true)), n(res.coord(v[1], false)))),
        "move" => list(&[4, 6]).map(|v| {
            let mut c = vec![res.coord(v[0], true), res.coord(v[1], false), res.coord(v[2], true), res.coord(v[3], false)];
            c.extend(v[4..].iter().map(|t| t.clamp(0.0, MAX_MS)));
            format!("move({})", joined(&c))
        }),
        // Rectangles only: a vector clip is a drawing of its own.
        "clip" | "iclip" => list(&[4]).map(|v| {
            let c = [res.coord(v[0], true), res.coord(v[1], false), res.coord(v[2], true), res.coord(v[3], false)];
            format!("{name}({})", joined(&c))
        }),
        "fad" => list(&[2]).map(|v| format!("fad({})", joined(&[v[0].clamp(0.0, MAX_MS), v[1].clamp(0.0, MAX_MS)]))),
        "fade" => list(&[7]).map(|v| {
            let c: Vec<f64> = v.iter().enumerate().map(|(i, x)| if i < 3 { x.clamp(0.0, 255.0) } else { x.clamp(0.0, MAX_MS) }).collect();
            format!("fade({})", joined(&c))
        }),
        "t" => {
            let Arg::List(l) = arg else { return None };
            // `\t([t1,t2,][accel,]tags)`: the numbers before the first tag.
            let split = l.find('\\').unwrap_or(l.len());
            let nums: Vec<f64> = l[..split].split(',').map(str::trim).filter(|s| !s.is_empty()).map(lead_num).collect::<Option<_>>()?;
            let nums: Vec<f64> = match nums.as_slice() {
                [] => vec![],
                [a] => vec![a.clamp(0.01, 100.0)],
                [t1, t2] => vec![t1.clamp(0.0, MAX_MS), t2.clamp(0.0, MAX_MS)],
                [t1, t2, a] => vec![t1.clamp(0.0, MAX_MS), t2.clamp(0.0, MAX_MS), a.clamp(0.01, 100.0)],
                _ => return None,
            };
            let mut no_drawing = 0;
            let inner = block_tags(&l[split..], res, &mut no_drawing, true);
            if inner.is_empty() || animated {
                return None;
            }
            let lead = if nums.is_empty() { String::new() } else { format!("{},", joined(&nums)) };
            Some(format!("t({lead}{inner})"))
        }
        _ => None,
    }
}

/// Refuses more than [`MAX_EVENTS_ON_SCREEN`] events, or drawings of more than
/// [`MAX_ASS_DRAWING_POINTS`] numbers, shown at one time: libass lays out (and collides)
/// every event on screen and rasterises every drawing, for each frame.
fn check_overlap(spans: &[Span]) -> Result<(), CaptionError> {
    let mut edges: Vec<(f64, i64, i64)> =
        spans.iter().flat_map(|s| [(s.start, 1, s.points as i64), (s.end, -1, -(s.points as i64))]).collect();
    // Ends before starts at the same instant: back-to-back events do not overlap.
    edges.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let (mut on, mut points) = (0i64, 0i64);
    for (t, d, p) in edges {
        (on, points) = (on + d, points + p);
        if on > MAX_EVENTS_ON_SCREEN as i64 {
            return Err(too_large(format!(
                "more than {MAX_EVENTS_ON_SCREEN} events are on screen at once (at {}); at most {MAX_EVENTS_ON_SCREEN} are accepted",
                crate::captions::ass_time(t)
            )));
        }
        if points > MAX_ASS_DRAWING_POINTS as i64 {
            return Err(too_large(format!(
                "drawings of {points} numbers are on screen at once (at {}); at most {MAX_ASS_DRAWING_POINTS} are accepted",
                crate::captions::ass_time(t)
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::captions::{AssStyle, Cue, segments_ass};

    const STYLES: &str = "[V4+ Styles]\nFormat: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, \
         Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding\n";
    const EVENTS: &str = "[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n";

    fn script(info: &str, style: &str, dialogue: &str) -> String {
        format!("[Script Info]\n{info}\n\n{STYLES}{style}\n\n{EVENTS}{dialogue}\n")
    }

    fn one(text: &str) -> String {
        format!("Dialogue: 0,0:00:00.00,0:00:02.00,Default,,0,0,0,,{text}")
    }

    /// The text of the first dialogue after sanitising.
    fn text_of(out: &str) -> &str {
        let line = out.lines().find(|l| l.starts_with("Dialogue: ")).expect("a dialogue");
        line.splitn(10, ',').nth(9).unwrap()
    }

    fn sanitized_text(text: &str) -> String {
        let out = sanitize_ass(&script("PlayResX: 1920\nPlayResY: 1080", "", &one(text))).unwrap();
        text_of(&out).to_owned()
    }

    #[test]
    fn fonts_graphics_and_unknown_sections_are_dropped() {
        let ass = format!(
            "{}\n[Fonts]\nfontname: evil_0.ttf\nM1\"`!!\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_\n\n\
             [Graphics]\nfilename: logo.png\n!!!!!\n\n[Aegisub Project Garbage]\nVideo File: /home/me/secret.mp4\n",
            script("PlayResX: 1920\nPlayResY: 1080\n; a comment\nOriginal Script: someone\nScaledBorderAndShadow: yes", "", &one("hi"))
        );
        let out = sanitize_ass(&ass).unwrap();
        for gone in ["[Fonts]", "fontname", "evil_0", "[Graphics]", "logo.png", "Aegisub", "secret", "; a comment", "Original Script"] {
            assert!(!out.contains(gone), "{gone} left in:\n{out}");
        }
        assert!(
            out.starts_with("[Script Info]\nScriptType: v4.00+\nPlayResX: 1920\nPlayResY: 1080\nScaledBorderAndShadow: yes\n"),
            "{out}"
        );
        assert_eq!(text_of(&out), "hi");
    }

    #[test]
    fn play_res_is_filled_in_and_clamped() {
        let res = |info: &str| {
            let out = sanitize_ass(&script(info, "", &one("x"))).unwrap();
            let get = |k: &str| out.lines().find_map(|l| l.strip_prefix(k)).unwrap().trim().parse::<u32>().unwrap();
            (get("PlayResX:"), get("PlayResY:"))
        };
        assert_eq!(res(""), (384, 288), "libass's defaults, written out");
        assert_eq!(res("PlayResX: 1280"), (1280, 1024));
        assert_eq!(res("PlayResY: 720"), (960, 720));
        assert_eq!(res("PlayResX: 1\nPlayResY: 1"), (MIN_PLAY_RES, MIN_PLAY_RES));
        assert_eq!(res("PlayResX: 100000\nPlayResY: 4000000000"), (MAX_PLAY_RES, MAX_PLAY_RES));
        assert_eq!(res("PlayResX: -5\nPlayResY: junk"), (384, 288));
    }

    #[test]
    fn style_values_are_clamped() {
        let style = "Style: Big,Comic Sans\u{7},100000,&H00FFFFFF,&H000000FF,&Hzz,&H80000000,-1,0,0,0,10000,-5,99999,725,7,1e9,-3,42,99999,-4,99999,1";
        let out = sanitize_ass(&script("PlayResX: 1920\nPlayResY: 1080", style, &one("x"))).unwrap();
        let line = out.lines().find(|l| l.starts_with("Style: ")).unwrap();
        // The font name loses its comma (a field separator) and control character.
        assert_eq!(
            line, "Style: Big,Comic Sans,1080,&H00FFFFFF,&H000000FF,&H00000000,&H80000000,-1,0,0,0,400,0,1920,5,1,50,0,9,1920,0,1080,1",
            "{out}"
        );
        // A line short of fields is dropped.
        let out = sanitize_ass(&script("", "Style: Short,Arial,20", &one("x"))).unwrap();
        assert!(!out.contains("Style: Short"), "{out}");
    }

    #[test]
    fn override_values_are_clamped() {
        assert_eq!(
            sanitized_text("{\\fs100000\\blur1000\\be99\\bord1e9\\xbord-4\\shad500\\yshad-900\\fscx10000\\fscy-3\\fsp1e12}big"),
            "{\\fs1080\\blur20\\be10\\bord50\\xbord0\\shad50\\yshad-50\\fscx400\\fscy0\\fsp1920}big"
        );
        assert_eq!(
            sanitized_text("{\\frz725\\frx-30.5\\fax100\\fay-0.25\\an12\\q7\\b700\\i1\\fe999}r"),
            "{\\frz5\\frx-30.5\\fax2\\fay-0.25\\an9\\q3\\b700\\i1\\fe255}r"
        );
        assert_eq!(
            sanitized_text("{\\pos(1e9,-1e9)\\org(5,5)\\move(0,0,99999,10,0,1e12)\\fad(100,1e15)}p"),
            "{\\pos(3840,-1080)\\org(5,5)\\move(0,0,3840,10,0,86400000)\\fad(100,86400000)}p"
        );
        // Resets (no argument) are kept; relative sizes, unknown tags and comments are not.
        assert_eq!(sanitized_text("{\\fs\\bord\\c\\r\\fs+50\\xyz12 a comment\\blah}t"), "{\\fs\\bord\\c\\r}t");
        assert_eq!(
            sanitized_text("{\\c&H0000FF&\\3c&HGG&\\1a&H80&\\alpha&HFF}c"),
            "{\\c&H0000FF&\\1a&H80&\\alpha&HFF&}c",
            "colours rebuilt; a colour that is not hex dropped"
        );
        assert_eq!(sanitized_text("{\\fnDejaVu Sans\\rOther}f"), "{\\fnDejaVu Sans\\rOther}f");
        // A block of nothing known disappears; text outside blocks and `\N` stay.
        assert_eq!(sanitized_text("a{just a note}b\\Nc"), "ab\\Nc");
        // A `{` never closed is text.
        assert_eq!(sanitized_text("a{\\fs9999 b"), "a{\\fs9999 b");
    }

    #[test]
    fn animations_are_bounded_inside() {
        assert_eq!(
            sanitized_text("{\\t(0,500,\\fs100000\\blur500\\pos(1,1))}a"),
            "{\\t(0,500,\\fs1080\\blur20)}a",
            "animated values clamped; \\pos does not animate"
        );
        assert_eq!(sanitized_text("{\\t(2,\\frz400)}a"), "{\\t(2,\\frz40)}a");
        assert_eq!(sanitized_text("{\\t(\\t(\\fs5))\\t(\\pos(1,1))}a"), "a", "no nesting; nothing left to animate");
    }

    #[test]
    fn vector_clips_are_dropped_and_rectangles_clamped() {
        assert_eq!(sanitized_text("{\\clip(m 0 0 l 100 0 100 100)\\iclip(1,m 0 0 l 5 5)}a"), "a");
        assert_eq!(sanitized_text("{\\clip(0,0,1e9,500)\\iclip(-9999,1,2,3)}a"), "{\\clip(0,0,3840,500)\\iclip(-1920,1,2,3)}a");
    }

    #[test]
    fn drawings_are_bounded() {
        assert_eq!(
            sanitized_text("{\\p1}m 0 0 l 100000 0 100000 -100000 x b 1.5 2 3 4 5 6{\\p0}after"),
            "{\\p1}m 0 0 l 3840 0 3840 -1080 b 2 2 3 4 5 6{\\p0}after"
        );
        // Scale 3 divides coordinates by 4: the bound is on the drawn size.
        assert_eq!(sanitized_text("{\\p3}m 0 0 l 100000 0{\\p0}"), "{\\p3}m 0 0 l 15360 0{\\p0}");
        assert_eq!(sanitized_text("{\\p99}m 1 1"), "{\\p8}m 1 1");
        let huge = format!("{{\\p1}}m 0 0 {}", "l 1 1 ".repeat(MAX_ASS_DRAWING_POINTS / 2));
        let e = sanitize_ass(&script("", "", &one(&huge))).unwrap_err();
        assert_eq!(e.code, "captions-too-large", "{e:?}");
        assert!(e.message.starts_with("drawings of 4002 numbers are on screen at once (at 0:00:00.00)"), "{e:?}");
        // The bound is on what is on screen together: the same drawing in halves, one
        // after the other, passes.
        let half = format!("{{\\p1}}m 0 0 {}", "l 1 1 ".repeat(MAX_ASS_DRAWING_POINTS / 4));
        let later = one(&half).replace("0:00:00.00,0:00:02.00", "0:00:02.00,0:00:04.00");
        assert!(sanitize_ass(&script("", "", &format!("{}\n{later}", one(&half)))).is_ok());
        let e = sanitize_ass(&script("", "", &format!("{}\n{}\n{}", one(&half), one(&half), one("x")))).unwrap_err();
        assert_eq!(e.code, "captions-too-large", "{e:?}");
    }

    #[test]
    fn sizes_and_counts_are_capped() {
        let big = format!("{}{}", script("", "", &one("x")), ";".repeat(MAX_CAPTION_BYTES));
        assert_eq!(sanitize_ass(&big).unwrap_err().code, "captions-too-large");

        let many: String =
            (0..=MAX_CUES).map(|i| format!("Dialogue: 0,0:00:{:02}.00,0:00:{:02}.50,Default,,0,0,0,,x\n", i % 60, i % 60)).collect();
        let e = sanitize_ass(&script("", "", &many)).unwrap_err();
        assert_eq!(e.code, "captions-too-large");
        assert!(e.message.contains("events"), "{e:?}");

        let stacked: String = (0..=MAX_EVENTS_ON_SCREEN).map(|_| one("x") + "\n").collect();
        let e = sanitize_ass(&script("", "", &stacked)).unwrap_err();
        assert_eq!(e.code, "captions-too-large");
        assert!(e.message.contains("on screen at once (at 0:00:00.00)"), "{e:?}");
        // As many back to back are fine.
        let sequential: String = (0..=MAX_EVENTS_ON_SCREEN)
            .map(|i| {
                format!(
                    "Dialogue: 0,{},{},Default,,0,0,0,,x\n",
                    crate::captions::ass_time(i as f64),
                    crate::captions::ass_time(i as f64 + 1.0)
                )
            })
            .collect();
        assert!(sanitize_ass(&script("", "", &sequential)).is_ok());

        let long = one(&"x".repeat(MAX_ASS_EVENT_BYTES));
        assert_eq!(sanitize_ass(&script("", "", &long)).unwrap_err().code, "captions-too-large");
        let styles: String = (0..=MAX_ASS_STYLES)
            .map(|i| format!("Style: S{i},Arial,20,&H0,&H0,&H0,&H0,0,0,0,0,100,100,0,0,1,2,0,2,10,10,10,1\n"))
            .collect();
        assert_eq!(sanitize_ass(&script("", &styles, &one("x"))).unwrap_err().code, "captions-too-large");
    }

    #[test]
    fn unusable_files_are_refused() {
        let e = sanitize_ass(
            "[Script Info]\nTitle: x\n[Events]\nFormat: Layer, Start, End, Text, Style\nDialogue: 0,0:00:00.00,0:00:01.00,hi,Default\n",
        )
        .unwrap_err();
        assert_eq!(e.code, "invalid-ass");
        assert_eq!(sanitize_ass("[Script Info]\nTitle: only\n").unwrap_err().code, "empty-captions");
        // Unreadable times and empty spans drop the event.
        let out = sanitize_ass(&script(
            "",
            "",
            "Dialogue: 0,zz,0:00:01.00,Default,,0,0,0,,a\nDialogue: 0,0:00:02.00,0:00:01.00,Default,,0,0,0,,b\n",
        ));
        assert_eq!(out.unwrap_err().code, "empty-captions");
    }

    #[test]
    fn an_editors_everyday_tags_come_through_unchanged() {
        for text in [
            "{\\an8}Top line\\Nsecond",
            "{\\i1}italic{\\i0} plain {\\b1}bold{\\b0}",
            "{\\k25}Ka{\\k30}ra{\\kf40}o{\\ko20}ke",
            "{\\fad(200,300)\\pos(960,540)\\c&H00FFFF&\\3c&H000000&\\bord2\\shad1\\blur0.5}sign",
            "{\\move(100,100,800,100,0,2000)\\frz-12.5\\fscx120\\fscy80\\fsp2}moving",
            "{\\fnDejaVu Serif\\fs48\\alpha&H40&\\t(0,1000,\\fs60\\1c&H0000FF&)}grow",
            "{\\clip(0,0,960,1080)\\rAlt}half",
        ] {
            assert_eq!(sanitized_text(text), text);
        }
        let aegisub = format!(
            "\u{feff}[Script Info]\r\n; Script generated by Aegisub 3.2.2\r\nTitle: Ep 1\r\nScriptType: v4.00+\r\nWrapStyle: 0\r\n\
             PlayResX: 1920\r\nPlayResY: 1080\r\nScaledBorderAndShadow: yes\r\nYCbCr Matrix: TV.709\r\n\r\n\
             [Aegisub Project Garbage]\r\nVideo File: ep1.mkv\r\n\r\n{STYLES}\
             Style: Default,Arial,60,&H00FFFFFF,&H000000FF,&H00000000,&H00000000,0,0,0,0,100,100,0,0,1,2,2,2,10,10,10,1\r\n\r\n\
             {EVENTS}Comment: 0,0:00:00.00,0:00:05.00,Default,,0,0,0,,note to self\r\n\
             Dialogue: 0,0:00:01.00,0:00:03.50,Default,Ana,0,0,0,,{{\\i1}}Olá{{\\i0}}, mundo!\r\n"
        );
        let out = sanitize_ass(&aegisub).unwrap();
        assert_eq!(
            out,
            format!(
                "[Script Info]\nScriptType: v4.00+\nPlayResX: 1920\nPlayResY: 1080\nWrapStyle: 0\nScaledBorderAndShadow: yes\nYCbCr Matrix: TV.709\n\n\
                 {STYLES}Style: Default,Arial,60,&H00FFFFFF,&H000000FF,&H00000000,&H00000000,0,0,0,0,100,100,0,0,1,2,2,2,10,10,10,1\n\n\
                 {EVENTS}Dialogue: 0,0:00:01.00,0:00:03.50,Default,Ana,0,0,0,,{{\\i1}}Olá{{\\i0}}, mundo!\n",
            )
        );
    }

    #[test]
    fn generated_captions_come_through_unchanged() {
        let style = AssStyle::default_for(1080);
        let ass = segments_ass(&[Cue { start: 0.5, end: 2.0, text: "Olá, {mundo}\nlinha".into() }], &style, (1920, 1080), false);
        let out = sanitize_ass(&ass).unwrap();
        let dialogue =
            |s: &str| s.lines().filter(|l| l.starts_with("Dialogue: ") || l.starts_with("Style: ")).map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(dialogue(&out), dialogue(&ass));
        assert_eq!(sanitize_ass(&out).unwrap(), out, "sanitising is idempotent");
        // A rounded box as karaoke draws it survives.
        let boxed = "{\\an7\\pos(0,0)\\p1\\bord0\\shad0\\1c&H000000&\\1a&H80&}m 100 900 l 1800 900 b 1820 900 1820 900 1820 920{\\p0}";
        assert_eq!(sanitized_text(boxed), boxed);
    }
}
