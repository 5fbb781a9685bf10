//! Text measurement with the real caption font, for boxes libass cannot draw itself
//! (the rounded karaoke background). The font file is the one fontconfig — and so
//! libass — picks for the family (`fc-match`).

use std::time::Duration;

use ab_glyph::{Font, FontVec, PxScale, ScaleFont};

use crate::process;

/// A font loaded for measuring.
pub struct Measurer {
    font: FontVec,
    scale: PxScale,
}

impl Measurer {
    /// Loads the font fontconfig matches for `family` (bold or regular) at `size` px,
    /// where size is ascent − descent, as ASS font sizes are.
    pub async fn load(family: &str, bold: bool, size: f64) -> Option<Measurer> {
        let args = fc_match_args(family, bold);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let path = process::run_stdout("fc-match", &args, Duration::from_secs(10)).await.ok()?;
        let bytes = tokio::fs::read(path.trim()).await.ok()?;
        let font = FontVec::try_from_vec(bytes).ok()?;
        Some(Measurer { font, scale: PxScale::from(size as f32) })
    }

    /// Advance width of `text` in pixels, kerning included.
    pub fn width(&self, text: &str) -> f64 {
        let f = self.font.as_scaled(self.scale);
        let mut w = 0.0f32;
        let mut prev = None;
        for c in text.chars() {
            let g = f.glyph_id(c);
            if let Some(p) = prev {
                w += f.kern(p, g);
            }
            w += f.h_advance(g);
            prev = Some(g);
        }
        f64::from(w)
    }
}

/// `fc-match`'s arguments for the file of `family`'s bold or regular face. The family is
/// the user's (`font.name`, `fonte`): `--` ends the options so a name starting with `-`
/// is not read as one (`-v`, `-V` …), and the pattern syntax's `\`, `-` (size), `:`
/// (properties) and `,` (list) are escaped so the name stays one family, as libass — which
/// hands fontconfig the name unparsed — looks it up.
fn fc_match_args(family: &str, bold: bool) -> Vec<String> {
    let mut pattern = String::with_capacity(family.len() + 8);
    for c in family.chars() {
        if matches!(c, '\\' | '-' | ':' | ',') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push_str(if bold { ":bold" } else { ":regular" });
    ["-f", "%{file}", "--"].into_iter().map(str::to_owned).chain([pattern]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_family_is_one_escaped_operand() {
        assert_eq!(fc_match_args("DejaVu Sans", true), ["-f", "%{file}", "--", "DejaVu Sans:bold"]);
        assert_eq!(fc_match_args("-v", false), ["-f", "%{file}", "--", "\\-v:regular"]);
        assert_eq!(fc_match_args("a:file=/etc/passwd,b\\-12", true), ["-f", "%{file}", "--", "a\\:file=/etc/passwd\\,b\\\\\\-12:bold"]);
    }

    /// A family that looks like an option is a family: fontconfig's fallback is matched
    /// and measured with (before `--`, fc-match read `-v:bold` as options and failed, and
    /// the rounded background fell back to a square one).
    #[tokio::test]
    async fn a_family_starting_with_a_dash_is_not_an_option() {
        for family in ["-v", "-V", "--help", "-f%{family}"] {
            let m = Measurer::load(family, true, 100.0).await;
            assert!(m.is_some_and(|m| m.width("M") > 50.0), "{family}: no font measured");
        }
    }

    #[tokio::test]
    async fn measures_with_the_caption_font() {
        let m = Measurer::load(job_spec::captions::DEFAULT_FONT, true, 100.0).await.expect("DejaVu Sans is installed");
        let (one, two) = (m.width("M"), m.width("MM"));
        assert!(one > 50.0 && one < 120.0, "an M at 100 px: {one}");
        assert!((two - 2.0 * one).abs() < 1.0);
        assert_eq!(m.width(""), 0.0);
    }
}
