//! The bench's inputs, generated (and the slow ones reused when already there):
//!
//! - `grid-v2.jpg`: the 6000×4000 grid photo ([`crate::grid`]), JPEG 4:2:0 `-q:v 2`.
//! - `photo-NN-v1.jpg`: varied photos from ffmpeg's test sources (test cards, fractals,
//!   gradients, bars, cellular automata) at sizes from 1280×960 to 6000×4000, landscape
//!   and portrait, with film grain, JPEG `-q:v 3`.
//! - `narration.wav`: espeak-ng reading English sentences, padded or cut to exactly the
//!   video's length (48 kHz mono).
//! - `music.wav`: 30 s of chords from `aevalsrc` (looped by both sides).
//! - `words.json`: the narration's words, evenly spaced over it (`{"words":[…]}`), and
//!   `karaoke.ass`: the same words as job-spec's highlight karaoke (default style), what
//!   the seed burns with `-vf ass=`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use job_spec::captions::{AssStyle, Karaoke, karaoke_ass, parse_words};
use job_spec::ops::StyleOptions;

use crate::grid::{GRID, SOURCE};
use crate::measure::Runner;

/// ffmpeg test sources for the photos: (source with its options, width, height).
const PHOTOS: [(&str, u32, u32); 20] = [
    ("testsrc2", 4000, 3000),
    ("mandelbrot=maxiter=150:start_scale=2.5", 3000, 2000),
    ("gradients=n=5:seed=1", 6000, 4000),
    ("smptehdbars", 1920, 1080),
    ("testsrc", 3024, 4032),
    ("rgbtestsrc", 2048, 1536),
    ("gradients=n=3:seed=7", 4032, 3024),
    ("mandelbrot=maxiter=120:start_x=-0.75:start_y=0.1:start_scale=0.6", 2400, 1600),
    ("yuvtestsrc", 1600, 1200),
    ("testsrc2", 5472, 3648),
    ("gradients=n=4:seed=11", 3000, 4000),
    ("life=mold=10:ratio=0.3:death_color=#224466:life_color=#ffcc88:mold_color=#884422", 1600, 1200),
    ("smptebars", 2560, 1440),
    ("mandelbrot=maxiter=100:start_scale=1.2", 4000, 3000),
    ("testsrc2", 1280, 960),
    ("gradients=n=6:seed=3", 6000, 3376),
    ("pal100bars", 2000, 1500),
    ("rgbtestsrc", 4000, 2250),
    ("gradients=n=2:seed=5", 2448, 3264),
    ("testsrc", 6000, 4000),
];

const SENTENCES: [&str; 10] = [
    "Every photograph tells a story about the moment it was taken.",
    "The camera slowly moves across the scene to reveal the details.",
    "Light falls on the hills and the river turns to silver.",
    "In the city the streets are busy long before the sun comes up.",
    "A good narrator speaks clearly and leaves room for the music.",
    "The colours change as the afternoon turns into evening.",
    "Small things often matter more than we expect at first.",
    "Behind every frame there is a choice about what to leave out.",
    "The journey continues through forests, harbours and quiet villages.",
    "At the end of the day we remember the faces more than the places.",
];

/// Words per second of the captions (espeak-ng at 165 wpm speaks about this fast).
const WORDS_PER_SECOND: f64 = 2.5;

#[derive(Debug, Clone)]
pub struct Inputs {
    pub grid: PathBuf,
    pub photos: Vec<PathBuf>,
    pub narration: PathBuf,
    pub music: PathBuf,
    pub words: PathBuf,
    pub ass: PathBuf,
}

/// Generates the inputs in `dir` for `images` photos of `seconds_each` at `size`.
pub fn prepare(dir: &Path, images: usize, seconds_each: f64, size: (u32, u32), runner: &Runner) -> anyhow::Result<Inputs> {
    std::fs::create_dir_all(dir)?;
    let grid = dir.join("grid-v2.jpg");
    if !grid.exists() {
        // A PGM, then ffmpeg's JPEG encoder: 4:2:0 like a camera's (the `image` crate
        // writes 4:4:4, which would double the chroma work of the seed's filters).
        let pgm = dir.join("grid.pgm");
        let mut bytes = format!("P5\n{} {}\n255\n", SOURCE.0, SOURCE.1).into_bytes();
        bytes.extend(GRID.photo());
        std::fs::write(&pgm, bytes)?;
        let tmp = dir.join("grid-v2.tmp.jpg");
        let argv: Vec<String> = ["ffmpeg", "-hide_banner", "-nostdin", "-y", "-i"]
            .map(str::to_owned)
            .into_iter()
            .chain([pgm.display().to_string()])
            .chain(["-pix_fmt", "yuvj420p", "-q:v", "2", "-frames:v", "1"].map(str::to_owned))
            .chain([tmp.display().to_string()])
            .collect();
        runner.run("input-grid", &argv)?;
        std::fs::rename(&tmp, &grid)?;
        std::fs::remove_file(&pgm)?;
    }
    let mut photos = Vec::new();
    for (i, (src, w, h)) in PHOTOS.iter().cycle().take(images).enumerate() {
        let path = dir.join(format!("photo-{:02}-v1.jpg", i + 1));
        if !path.exists() {
            let tmp = dir.join(format!("photo-{:02}-v1.tmp.jpg", i + 1));
            let source = if src.contains('=') { format!("{src}:s={w}x{h}") } else { format!("{src}=s={w}x{h}") };
            let argv: Vec<String> = ["ffmpeg", "-hide_banner", "-nostdin", "-y", "-f", "lavfi", "-i", &source]
                .into_iter()
                .map(str::to_owned)
                .chain(["-vf", "noise=alls=12:allf=u", "-frames:v", "1", "-q:v", "3"].map(str::to_owned))
                .chain([tmp.display().to_string()])
                .collect();
            runner.run(&format!("input-photo-{}", i + 1), &argv)?;
            std::fs::rename(&tmp, &path)?;
        }
        photos.push(path);
    }

    let seconds = seconds_each * images as f64;
    let narration = dir.join("narration.wav");
    let words_needed = (seconds * WORDS_PER_SECOND).round().max(1.0) as usize;
    let text_words: Vec<&str> = SENTENCES.iter().cycle().flat_map(|s| s.split_whitespace()).take(words_needed).collect();
    let text = dir.join("narration.txt");
    // A little more text than the video lasts: the reading is cut to length.
    let extra: Vec<&str> = SENTENCES.iter().flat_map(|s| s.split_whitespace()).take(20).collect();
    std::fs::write(&text, format!("{} {}", text_words.join(" "), extra.join(" ")))?;
    let raw = dir.join("narration-espeak.wav");
    let espeak = ["espeak-ng", "-v", "en-us", "-s", "165", "-w"].map(str::to_owned);
    let mut argv = espeak.to_vec();
    argv.extend([raw.display().to_string(), "-f".into(), text.display().to_string()]);
    runner.run("input-espeak", &argv).context("espeak-ng")?;
    let secs = format!("{seconds:.3}");
    let argv: Vec<String> = ["ffmpeg", "-hide_banner", "-nostdin", "-y", "-i"]
        .map(str::to_owned)
        .into_iter()
        .chain([raw.display().to_string()])
        .chain(["-af", "apad", "-t", &secs, "-ar", "48000", "-ac", "1", "-c:a", "pcm_s16le"].map(str::to_owned))
        .chain([narration.display().to_string()])
        .collect();
    runner.run("input-narration", &argv)?;

    let music = dir.join("music.wav");
    let chords = "aevalsrc='0.18*sin(2*PI*220*t)+0.12*sin(2*PI*277.18*t)*(0.6+0.4*sin(2*PI*0.25*t))+0.08*sin(2*PI*659.25*t)|\
                  0.18*sin(2*PI*164.81*t)+0.12*sin(2*PI*329.63*t)*(0.6+0.4*cos(2*PI*0.25*t))+0.08*sin(2*PI*440*t)':s=48000:d=30";
    let argv: Vec<String> = ["ffmpeg", "-hide_banner", "-nostdin", "-y", "-f", "lavfi", "-i", chords, "-c:a", "pcm_s16le"]
        .map(str::to_owned)
        .into_iter()
        .chain([music.display().to_string()])
        .collect();
    runner.run("input-music", &argv)?;

    let words = dir.join("words.json");
    let json = words_json(&text_words, seconds);
    std::fs::write(&words, &json)?;
    let ass = dir.join("karaoke.ass");
    std::fs::write(&ass, karaoke(&json, size)?)?;
    Ok(Inputs { grid, photos, narration, music, words, ass })
}

/// `{"words":[…]}`: `words` evenly spaced over `seconds`, each spoken for 85 % of its slot.
pub fn words_json(words: &[&str], seconds: f64) -> String {
    let slot = seconds / words.len().max(1) as f64;
    let list: Vec<serde_json::Value> = words
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let start = i as f64 * slot;
            let round = |v: f64| (v * 1000.0).round() / 1000.0;
            serde_json::json!({"word": w, "start": round(start), "end": round(start + 0.85 * slot)})
        })
        .collect();
    serde_json::json!({ "words": list }).to_string()
}

/// The highlight karaoke ASS job-spec makes of `words_json` (default style).
pub fn karaoke(words_json: &str, size: (u32, u32)) -> anyhow::Result<String> {
    let words = parse_words(words_json).map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.message))?;
    let style = StyleOptions::default();
    Ok(karaoke_ass(&words, &AssStyle::highlight(&style, size.1), &Karaoke::from_options(&style), size, false, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_evenly_spaced_and_karaoke_ready() {
        let json = words_json(&["one", "two", "three", "four"], 2.0);
        let words = parse_words(&json).unwrap();
        assert_eq!(words.len(), 4);
        assert_eq!((words[1].start, words[1].end), (0.5, 0.925));
        let ass = karaoke(&json, (1920, 1080)).unwrap();
        assert!(ass.contains("PlayResX: 1920") && ass.matches("Dialogue:").count() == 4, "{ass}");
    }
}
