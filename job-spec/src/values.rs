//! Small value types shared by validation and planning: zoom types, colors,
//! alignments, resolutions.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A Ken Burns motion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ZoomType {
    Zoomin,
    Zoomout,
    Zoompanright,
}

impl ZoomType {
    pub const ALL: [ZoomType; 3] = [ZoomType::Zoomin, ZoomType::Zoomout, ZoomType::Zoompanright];

    pub fn parse(s: &str) -> Option<ZoomType> {
        match s.trim().to_ascii_lowercase().as_str() {
            "zoomin" | "zoom_in" => Some(ZoomType::Zoomin),
            "zoomout" | "zoom_out" => Some(ZoomType::Zoomout),
            "zoompanright" | "zoom_pan_right" | "panright" => Some(ZoomType::Zoompanright),
            _ => None,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            ZoomType::Zoomin => "zoomin",
            ZoomType::Zoomout => "zoomout",
            ZoomType::Zoompanright => "zoompanright",
        }
    }
}

// The wire form of `kenburns::Easing` (which `From` converts to).
/// How a Ken Burns motion moves through time: `linear` (constant speed) or `ease_in_out`
/// (starts and ends at rest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EasingType {
    #[default]
    Linear,
    EaseInOut,
}

impl EasingType {
    pub const ALL: [EasingType; 2] = [EasingType::Linear, EasingType::EaseInOut];

    /// Case-insensitive; `ease-in-out` and `easeinout` are accepted too.
    pub fn parse(s: &str) -> Option<EasingType> {
        match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "linear" => Some(EasingType::Linear),
            "ease_in_out" | "easeinout" => Some(EasingType::EaseInOut),
            _ => None,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            EasingType::Linear => "linear",
            EasingType::EaseInOut => "ease_in_out",
        }
    }
}

/// `#RRGGBB` (or `RRGGBB`) → (r, g, b).
pub fn parse_hex_color(s: &str) -> Option<(u8, u8, u8)> {
    let h = s.strip_prefix('#').unwrap_or(s);
    if h.len() != 6 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let byte = |i: usize| u8::from_str_radix(&h[i..i + 2], 16).ok();
    Some((byte(0)?, byte(2)?, byte(4)?))
}

/// Alignment names and their ASS numpad alignment (1 = bottom left … 9 = top right).
pub const ALIGNMENTS: [(&str, u8); 15] = [
    ("bottom_left", 1),
    ("bottom_center", 2),
    ("bottom", 2),
    ("bottom_right", 3),
    ("middle_left", 4),
    ("center_left", 4),
    ("middle_center", 5),
    ("center", 5),
    ("middle", 5),
    ("middle_right", 6),
    ("center_right", 6),
    ("top_left", 7),
    ("top_center", 8),
    ("top", 8),
    ("top_right", 9),
];

/// An alignment name (case-insensitive, `-` or `_`) → the ASS numpad alignment.
pub fn alignment_number(name: &str) -> Option<u8> {
    let name = name.trim().to_ascii_lowercase().replace('-', "_");
    ALIGNMENTS.iter().find(|(n, _)| *n == name).map(|&(_, a)| a)
}

/// Lowest and highest output height `resolution_height` accepts.
pub const MIN_RESOLUTION_HEIGHT: u32 = 144;
pub const MAX_RESOLUTION_HEIGHT: u32 = 2160;

/// `"720p"`, `"720"` or `720` → 720; only 144–2160.
pub fn resolution_height(v: &Value) -> Option<u32> {
    let h = match v {
        Value::Number(n) => u32::try_from(n.as_u64()?).ok()?,
        Value::String(s) => s.trim().trim_end_matches(['p', 'P']).parse().ok()?,
        _ => return None,
    };
    (MIN_RESOLUTION_HEIGHT..=MAX_RESOLUTION_HEIGHT).contains(&h).then_some(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        assert_eq!(parse_hex_color("#FF8000"), Some((255, 128, 0)));
        assert_eq!(parse_hex_color("00ff00"), Some((0, 255, 0)));
        assert_eq!(parse_hex_color("#FFF"), None);
        assert_eq!(parse_hex_color("#GG0000"), None);
        assert_eq!(alignment_number("top_left"), Some(7));
        assert_eq!(alignment_number("bottom_center"), Some(2));
        assert_eq!(alignment_number("middle"), Some(5));
        assert_eq!(alignment_number("sideways"), None);
        assert_eq!(resolution_height(&Value::from("720p")), Some(720));
        assert_eq!(resolution_height(&Value::from(480)), Some(480));
        assert_eq!(resolution_height(&Value::from("4k")), None);
        assert_eq!(resolution_height(&Value::from(100)), None);
        assert_eq!(ZoomType::parse("ZoomIn"), Some(ZoomType::Zoomin));
        assert_eq!(serde_json::to_string(&ZoomType::Zoompanright).unwrap(), "\"zoompanright\"");
        assert_eq!(EasingType::parse("Ease-In-Out"), Some(EasingType::EaseInOut));
        assert_eq!(EasingType::parse(" linear "), Some(EasingType::Linear));
        assert_eq!(EasingType::parse("bounce"), None);
        for e in EasingType::ALL {
            assert_eq!(serde_json::to_value(e).unwrap(), e.as_str());
            assert_eq!(EasingType::parse(e.as_str()), Some(e));
        }
    }
}
