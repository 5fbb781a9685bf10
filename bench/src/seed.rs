//! The seed's commands, as the old system ran them (from its docs), with libx264
//! `-preset veryfast` in place of h264_nvenc: the x264 arguments are exactly ours
//! ([`gpu_worker::encoder::Encoder::video_args`]), so both sides encode alike.

use std::path::Path;

use gpu_worker::encoder::Encoder;
use job_spec::captions::filter_path;

use crate::grid::{Mapping, SOURCE};

/// zoompan's zoom: `min(1 + RATE·on/N, 1 + RATE)`.
pub const ZOOM_RATE: f64 = 0.324;

/// The two zoompan graphs of the seed's docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// `scale=6720:3840,zoompan=…:fps=24`.
    Up6720,
    /// "6x": `scale=11520:6480,zoompan=…:fps=30`.
    Up11520,
}

impl Variant {
    pub fn upscale(self) -> (u32, u32) {
        match self {
            Variant::Up6720 => (6720, 3840),
            Variant::Up11520 => (11520, 6480),
        }
    }

    pub fn fps(self) -> u32 {
        match self {
            Variant::Up6720 => 24,
            Variant::Up11520 => 30,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Variant::Up6720 => "6720",
            Variant::Up11520 => "11520",
        }
    }

    /// seed: `scale=6720:3840,zoompan=z='min(1+0.324*on/N,1.324)':d=N:s=1920x1080:fps=24`
    /// (and `scale=11520:6480,…:fps=30`). x and y are left at zoompan's default 0: the
    /// zoom is anchored at the top-left corner, as the documented command has it.
    pub fn graph(self, frames: u32, (w, h): (u32, u32)) -> String {
        let (uw, uh) = self.upscale();
        let end = 1.0 + ZOOM_RATE;
        format!("scale={uw}:{uh},zoompan=z='min(1+{ZOOM_RATE}*on/{frames},{end})':d={frames}:s={w}x{h}:fps={}", self.fps())
    }

    /// The motion the graph means (before zoompan rounds its crop to whole pixels), in
    /// the grid photo's pixels: the photo is stretched to the upscale size, and output
    /// frame `on` shows its top-left `1/z` at zoom `z = 1 + RATE·on/N`.
    pub fn ideal(self, on: u32, frames: u32, (w, h): (u32, u32)) -> Mapping {
        let z = (1.0 + ZOOM_RATE * f64::from(on) / f64::from(frames)).min(1.0 + ZOOM_RATE);
        Mapping { ox: 0.0, oy: 0.0, sx: f64::from(SOURCE.0) / (f64::from(w) * z), sy: f64::from(SOURCE.1) / (f64::from(h) * z) }
    }
}

fn s(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|p| (*p).to_owned()).collect()
}

fn p(path: &Path) -> String {
    path.display().to_string()
}

fn head() -> Vec<String> {
    s(&["ffmpeg", "-hide_banner", "-nostdin", "-y"])
}

/// x264 as ours encodes (`-c:v libx264 -preset veryfast -crf 20 …`).
fn x264(fps: u32) -> Vec<String> {
    Encoder::Libx264.video_args(fps)
}

fn aac() -> Vec<String> {
    s(&["-c:a", "aac", "-b:a", "192k"])
}

/// seed: `ffmpeg -loop 1 -i img -vf "<graph>" -frames:v N -c:v h264_nvenc … clip.mp4`;
/// `out: None` stops at the filter stage (`-f null -`).
pub fn clip(img: &Path, v: Variant, frames: u32, size: (u32, u32), out: Option<&Path>) -> Vec<String> {
    let mut a = head();
    a.extend(s(&["-loop", "1", "-i"]));
    a.push(p(img));
    a.extend(["-vf".into(), v.graph(frames, size), "-frames:v".into(), frames.to_string()]);
    match out {
        Some(o) => {
            a.extend(x264(v.fps()));
            a.push(p(o));
        }
        None => a.extend(s(&["-f", "null", "-"])),
    }
    a
}

/// The filter stage's frames as raw yuv420p into `raw` (not timed: for SSIM and jitter).
pub fn stage_raw(img: &Path, v: Variant, frames: u32, size: (u32, u32), raw: &Path) -> Vec<String> {
    let mut a = head();
    a.extend(s(&["-loop", "1", "-i"]));
    a.push(p(img));
    a.extend(["-vf".into(), v.graph(frames, size), "-frames:v".into(), frames.to_string()]);
    a.extend(s(&["-f", "rawvideo", "-pix_fmt", "yuv420p"]));
    a.push(p(raw));
    a
}

/// seed: `ffmpeg -i clip_1.mp4 … -i clip_n.mp4 -filter_complex "[0:v]…[n-1:v]concat=n=N:v=1:a=0[v]"
/// -map "[v]" -c:v h264_nvenc … concat.mp4` (concatenate, re-encoded), with one addition:
/// `setsar=1` on each input. The seed's `scale=6720:3840` keeps each photo's display
/// aspect in its clip's sample aspect ratio, and concat refuses inputs whose SARs differ
/// (photos of different shapes), so the documented graph fails on our varied photos.
pub fn concat(clips: &[impl AsRef<Path>], fps: u32, out: &Path) -> Vec<String> {
    let mut a = head();
    for c in clips {
        a.extend(["-i".into(), p(c.as_ref())]);
    }
    let sar: String = (0..clips.len()).map(|i| format!("[{i}:v]setsar=1[s{i}];")).collect();
    let inputs: String = (0..clips.len()).map(|i| format!("[s{i}]")).collect();
    a.extend(["-filter_complex".into(), format!("{sar}{inputs}concat=n={}:v=1:a=0[v]", clips.len()), "-map".into(), "[v]".into()]);
    a.extend(x264(fps));
    a.push(p(out));
    a
}

/// seed: `ffmpeg -i video.mp4 -i narration -map 0:v:0 -map 1:a:0 -c:v h264_nvenc … -c:a aac
/// -b:a 192k -shortest out.mp4` (addaudio: the video re-encoded too).
pub fn addaudio(video: &Path, audio: &Path, fps: u32, out: &Path) -> Vec<String> {
    let mut a = head();
    a.extend(["-i".into(), p(video), "-i".into(), p(audio)]);
    a.extend(s(&["-map", "0:v:0", "-map", "1:a:0"]));
    a.extend(x264(fps));
    a.extend(aac());
    a.push("-shortest".into());
    a.push(p(out));
    a
}

/// seed: `ffmpeg -i video.mp4 -stream_loop -1 -i music -filter_complex
/// "[1:a]volume=0.15[m];[0:a][m]amix=inputs=2:duration=first:dropout_transition=0[a]"
/// -map 0:v:0 -map "[a]" -c:v h264_nvenc … -c:a aac -b:a 192k out.mp4` (music mix,
/// video re-encoded).
pub fn music(video: &Path, music: &Path, fps: u32, out: &Path) -> Vec<String> {
    let mut a = head();
    a.extend(["-i".into(), p(video), "-stream_loop".into(), "-1".into(), "-i".into(), p(music)]);
    a.extend(s(&[
        "-filter_complex",
        "[1:a]volume=0.15[m];[0:a][m]amix=inputs=2:duration=first:dropout_transition=0[a]",
        "-map",
        "0:v:0",
        "-map",
        "[a]",
    ]));
    a.extend(x264(fps));
    a.extend(aac());
    a.push(p(out));
    a
}

/// seed: `ffmpeg -i video.mp4 -vf ass=karaoke.ass -c:v h264_nvenc … -c:a aac -b:a 192k
/// out.mp4` (karaoke captions burned, re-encoded).
pub fn subtitles(video: &Path, ass: &Path, fps: u32, out: &Path) -> Vec<String> {
    let mut a = head();
    a.extend(["-i".into(), p(video), "-vf".into(), format!("ass={}", filter_path(&p(ass)))]);
    a.extend(x264(fps));
    a.extend(aac());
    a.push(p(out));
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_graphs() {
        assert_eq!(
            Variant::Up6720.graph(156, (1920, 1080)),
            "scale=6720:3840,zoompan=z='min(1+0.324*on/156,1.324)':d=156:s=1920x1080:fps=24"
        );
        assert_eq!(
            Variant::Up11520.graph(194, (1920, 1080)),
            "scale=11520:6480,zoompan=z='min(1+0.324*on/194,1.324)':d=194:s=1920x1080:fps=30"
        );
    }

    #[test]
    fn exact_clip_command() {
        let a = clip(Path::new("/i/g.jpg"), Variant::Up6720, 156, (1920, 1080), Some(Path::new("/o/c.mp4")));
        assert_eq!(
            a.join(" "),
            "ffmpeg -hide_banner -nostdin -y -loop 1 -i /i/g.jpg \
             -vf scale=6720:3840,zoompan=z='min(1+0.324*on/156,1.324)':d=156:s=1920x1080:fps=24 -frames:v 156 \
             -c:v libx264 -preset veryfast -crf 20 -sc_threshold 0 -profile:v high -pix_fmt yuv420p -g 48 /o/c.mp4"
        );
        let null = clip(Path::new("/i/g.jpg"), Variant::Up11520, 194, (1920, 1080), None).join(" ");
        assert!(null.ends_with("fps=30 -frames:v 194 -f null -"), "{null}");
    }

    #[test]
    fn exact_chain_commands() {
        let clips = [Path::new("/w/1.mp4"), Path::new("/w/2.mp4")];
        assert_eq!(
            concat(&clips, 24, Path::new("/w/c.mp4")).join(" "),
            "ffmpeg -hide_banner -nostdin -y -i /w/1.mp4 -i /w/2.mp4 \
             -filter_complex [0:v]setsar=1[s0];[1:v]setsar=1[s1];[s0][s1]concat=n=2:v=1:a=0[v] -map [v] \
             -c:v libx264 -preset veryfast -crf 20 -sc_threshold 0 -profile:v high -pix_fmt yuv420p -g 48 /w/c.mp4"
        );
        let add = addaudio(Path::new("/w/c.mp4"), Path::new("/w/n.wav"), 24, Path::new("/w/a.mp4")).join(" ");
        assert!(add.contains("-map 0:v:0 -map 1:a:0 -c:v libx264") && add.ends_with("-c:a aac -b:a 192k -shortest /w/a.mp4"), "{add}");
        let sub = subtitles(Path::new("/w/m.mp4"), Path::new("/w/k.ass"), 24, Path::new("/w/f.mp4")).join(" ");
        assert!(sub.contains("-vf ass=/w/k.ass -c:v libx264"), "{sub}");
    }

    #[test]
    fn ideal_motion_is_the_unrounded_crop() {
        // Frame 0 shows the whole (stretched) photo; frame N would be at zoom 1.324.
        let m = Variant::Up6720.ideal(0, 156, (1920, 1080));
        assert!((m.sx * 1920.0 - 6000.0).abs() < 1e-9 && (m.sy * 1080.0 - 4000.0).abs() < 1e-9);
        let m = Variant::Up11520.ideal(97, 194, (1920, 1080));
        assert!((m.sx * 1920.0 * 1.162 - 6000.0).abs() < 1e-6, "{m:?}");
    }
}
