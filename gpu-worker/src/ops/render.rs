//! render: a whole video in one ffmpeg run.
//!
//! The frames (every scene's Ken Burns motion, rendered by [`crate::kenburns`]) arrive
//! as raw yuv420p on stdin, exactly as img2vid's clips do; the captions are drawn on them
//! by libass (`subtitles`); they are encoded once with the clips' encoder arguments and
//! colour tags. The audio is mixed alongside in the same run: the narration, the music
//! looped under it (`-stream_loop -1`) at the trilhasonora gain, both cut or padded with
//! silence to the video's exact length (`frames / fps`). No audio inputs, no audio stream.

use std::path::Path;

use job_spec::captions::filter_path;

use super::av::{aac, input, mp4_out, secs};
use super::music::{STEREO, mix_graph};
use crate::encoder::Encoder;
use crate::error::JobError;

/// `render-budget-exceeded` (not retryable) when frames of `size` (each clip's or
/// scene's count) are more pixels than `MAX_RENDER_PIXELS`. The edge checks the same sum
/// ([`job_spec::timing::render_pixels`]) on the request; the worker checks it again on
/// what it is about to render, where a fitted render's frames come from the narration's
/// probed length, which the edge never saw.
pub fn check_budget(frames: impl IntoIterator<Item = u32>, size: (u32, u32)) -> Result<(), JobError> {
    let (pixels, limit) = (job_spec::timing::render_pixels(frames, size), job_spec::limits::MAX_RENDER_PIXELS);
    if pixels > limit { Err(JobError::RenderBudget { pixels, limit }) } else { Ok(()) }
}

/// One render's ffmpeg run.
#[derive(Debug, Clone, Copy)]
pub struct Render<'a> {
    /// Frame size (even).
    pub size: (u32, u32),
    pub fps: u32,
    /// Frames fed on stdin: the video's exact length.
    pub frames: u64,
    /// The ASS file drawn on the frames.
    pub captions: Option<&'a Path>,
    pub narration: Option<&'a Path>,
    /// The music and its gain in dB.
    pub music: Option<(&'a Path, f64)>,
}

impl Render<'_> {
    /// The video's length in seconds: `frames / fps`.
    pub fn seconds(&self) -> f64 {
        self.frames as f64 / f64::from(self.fps)
    }

    /// The audio filtergraph (output `[a]`), or `None` without audio inputs. The narration
    /// is input 1; the music input 2 after a narration, else 1.
    fn audio_graph(&self) -> Option<String> {
        let s = secs(self.seconds());
        // Silence after a short narration, a long one cut: the video's length exactly.
        let fit = format!(",apad=whole_dur={s},atrim=0:{s}");
        match (self.narration.is_some(), self.music) {
            (false, None) => None,
            (true, None) => Some(format!("[1:a:0]{STEREO}{fit}[a]")),
            (true, Some((_, gain))) => Some(mix_graph(Some(("1:a:0", &fit)), "2:a:0", gain, self.seconds())),
            (false, Some((_, gain))) => Some(mix_graph(None, "1:a:0", gain, self.seconds())),
        }
    }

    /// Full ffmpeg argv (without the binary) writing the MP4 `out`.
    pub fn args(&self, out: &Path, encoder: Encoder) -> Vec<String> {
        let (width, height) = self.size;
        let mut a: Vec<String> = ["-hide_banner", "-nostdin", "-y", "-f", "rawvideo", "-pix_fmt", "yuv420p"].map(str::to_owned).to_vec();
        a.extend(["-video_size".to_owned(), format!("{width}x{height}"), "-framerate".to_owned(), self.fps.to_string()]);
        a.extend(["-i", "-"].map(str::to_owned));
        if let Some(n) = self.narration {
            a.extend(input(n));
        }
        if let Some((m, _)) = self.music {
            a.extend(["-stream_loop".into(), "-1".into()]);
            a.extend(input(m));
        }
        let graph = self.audio_graph();
        if let Some(g) = &graph {
            a.extend(["-filter_complex".into(), g.clone()]);
        }
        a.extend(["-map".into(), "0:v:0".into()]);
        if graph.is_some() {
            a.extend(["-map".into(), "[a]".into()]);
        }
        let mut vf = "setsar=1".to_owned();
        if let Some(ass) = self.captions {
            vf.push_str(&format!(",subtitles=filename={}", filter_path(&ass.display().to_string())));
        }
        a.extend(["-vf".into(), vf]);
        a.extend(encoder.video_args(self.fps));
        a.extend(["-color_range", "tv", "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709"].map(str::to_owned));
        match graph {
            Some(_) => a.extend(aac()),
            None => a.push("-an".into()),
        }
        a.extend(mp4_out(out));
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STEREO_: &str = "aresample=48000,aformat=sample_fmts=fltp:channel_layouts=stereo";

    #[test]
    fn exact_arguments() {
        let full = Render {
            size: (1920, 1080),
            fps: 24,
            frames: 60,
            captions: Some(Path::new("/w/it's:c.ass")),
            narration: Some(Path::new("/w/narration")),
            music: Some((Path::new("/w/music"), -12.5)),
        };
        assert_eq!(full.seconds(), 2.5);
        assert_eq!(
            full.args(Path::new("/w/out.mp4"), Encoder::Libx264).join(" "),
            format!(
                "-hide_banner -nostdin -y -f rawvideo -pix_fmt yuv420p -video_size 1920x1080 -framerate 24 -i - \
                 -i /w/narration -stream_loop -1 -i /w/music -filter_complex \
                 [1:a:0]{STEREO_},apad=whole_dur=2.500000,atrim=0:2.500000[v];\
                 [2:a:0]{STEREO_},volume=-12.50dB,atrim=0:2.500000[m];\
                 [v][m]amix=inputs=2:duration=first:dropout_transition=0:normalize=0[a] \
                 -map 0:v:0 -map [a] -vf setsar=1,subtitles=filename={} \
                 -c:v libx264 -preset veryfast -crf 20 -sc_threshold 0 -profile:v high -pix_fmt yuv420p -g 48 \
                 -color_range tv -colorspace bt709 -color_primaries bt709 -color_trc bt709 \
                 -c:a aac -b:a 192k -movflags +faststart -f mp4 /w/out.mp4",
                filter_path("/w/it's:c.ass")
            )
        );

        // Frames only: no audio stream, no captions.
        let bare = Render { size: (640, 360), fps: 30, frames: 45, captions: None, narration: None, music: None };
        assert_eq!(
            bare.args(Path::new("/w/o.mp4"), Encoder::Nvenc).join(" "),
            "-hide_banner -nostdin -y -f rawvideo -pix_fmt yuv420p -video_size 640x360 -framerate 30 -i - -map 0:v:0 -vf setsar=1 \
             -c:v h264_nvenc -preset p4 -rc vbr -cq 21 -b:v 0 -profile:v high -pix_fmt yuv420p -g 60 \
             -color_range tv -colorspace bt709 -color_primaries bt709 -color_trc bt709 -an -movflags +faststart -f mp4 /w/o.mp4"
        );

        // A narration alone, padded or cut to the frames (61 at 24 fps).
        let voice = Render { frames: 61, narration: Some(Path::new("/w/n")), ..bare };
        let v = voice.args(Path::new("/w/o.mp4"), Encoder::Libx264).join(" ");
        assert!(
            v.contains(&format!(
                "-i - -i /w/n -filter_complex [1:a:0]{STEREO_},apad=whole_dur=2.033333,atrim=0:2.033333[a] -map 0:v:0 -map [a] -vf setsar=1 "
            )),
            "{v}"
        );
        assert!(v.ends_with("-c:a aac -b:a 192k -movflags +faststart -f mp4 /w/o.mp4"), "{v}");

        // Music alone: input 1, looped, cut to the video.
        let music = Render { music: Some((Path::new("/w/m"), 0.0)), ..bare };
        let m = music.args(Path::new("/w/o.mp4"), Encoder::Libx264).join(" ");
        assert!(
            m.contains(&format!(
                "-i - -stream_loop -1 -i /w/m -filter_complex [1:a:0]{STEREO_},volume=0.00dB,atrim=0:1.500000[a] -map 0:v:0 -map [a] "
            )),
            "{m}"
        );
    }

    #[test]
    fn the_pixel_budget_is_checked_on_the_frames_rendered() {
        const HD: (u32, u32) = (1920, 1080);
        // 2 h of 1080p30 exactly: within; a frame more is not.
        assert!(check_budget([30 * 3600, 30 * 3600], HD).is_ok());
        let e = check_budget([30 * 3600, 30 * 3600 + 1], HD).unwrap_err();
        assert_eq!((e.code(), e.is_retryable()), ("render-budget-exceeded", false));
        assert!(e.to_string().contains("MAX_RENDER_PIXELS"), "{e}");
        // Sums that would overflow compare as over, not wrap.
        assert!(check_budget([u32::MAX; 4], (4096, 4096)).is_err());
    }
}
