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
        let pattern = format!("{family}:{}", if bold { "bold" } else { "regular" });
        let path = process::run_stdout("fc-match", &["-f", "%{file}", &pattern], Duration::from_secs(10)).await.ok()?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn measures_with_the_caption_font() {
        let m = Measurer::load(job_spec::captions::DEFAULT_FONT, true, 100.0).await.expect("DejaVu Sans is installed");
        let (one, two) = (m.width("M"), m.width("MM"));
        assert!(one > 50.0 && one < 120.0, "an M at 100 px: {one}");
        assert!((two - 2.0 * one).abs() < 1.0);
        assert_eq!(m.width(""), 0.0);
    }
}
