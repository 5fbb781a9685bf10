//! concatenate: join clips in order.
//!
//! When every clip has the same codec parameters (codec, size, pixel format, frame
//! rate, SAR, profile, and the same audio layout), the concat demuxer joins them by
//! stream copy: no quality loss, almost no CPU — img2vid clips of one job always qualify.
//! Otherwise every clip is normalised to the first clip's size (letterboxed, square
//! pixels) and frame rate, audio to 48 kHz stereo, clips without audio get silence of
//! their own length, and the concat filter joins them in one encode. Audio is never
//! dropped: if any clip has audio, the output has audio.
//!
//! Under a narration (`concat_video_audio`) the normalising join cuts with `-t`; the
//! copy join is [`super::cut`]'s, which ends the copied video with the narration
//! (round(T × fps) frames; at most the last few frames re-encoded).

use std::path::Path;

use super::av::{aac, head, input, mp4_out, secs};
use crate::encoder::Encoder;
use crate::process::Probe;

/// What must match for a stream-copy join.
#[derive(PartialEq)]
struct Signature {
    codec: String,
    size: (u32, u32),
    pix_fmt: Option<String>,
    rate: Option<String>,
    square: bool,
    profile: Option<String>,
    /// codec, sample rate, channels
    audio: Option<(String, Option<String>, Option<u32>)>,
}

fn signature(p: &Probe) -> Option<Signature> {
    let v = p.video()?;
    Some(Signature {
        codec: v.codec_name.clone(),
        size: (v.width?, v.height?),
        pix_fmt: v.pix_fmt.clone(),
        rate: v.r_frame_rate.clone(),
        square: v.square_pixels(),
        profile: v.profile.clone(),
        audio: p.audio().map(|a| (a.codec_name.clone(), a.sample_rate.clone(), a.channels)),
    })
}

/// True when the concat demuxer can join these clips by stream copy.
pub fn can_copy(probes: &[&Probe]) -> bool {
    let Some(first) = probes.first().and_then(|p| signature(p)) else { return false };
    probes.iter().all(|p| signature(p).as_ref() == Some(&first))
}

/// A track laid under the joined clips instead of their own audio, and its length (the
/// output's length).
pub struct Narration<'a> {
    pub path: &'a Path,
    pub secs: f64,
}

/// Stream-copy join through a list file written beforehand.
pub fn copy_args(list: &Path, out: &Path) -> Vec<String> {
    let mut a = head();
    a.extend(["-f", "concat", "-safe", "0"].map(str::to_owned));
    a.extend(input(list));
    a.extend(["-map", "0", "-c", "copy"].map(str::to_owned));
    a.extend(mp4_out(out));
    a
}

/// One clip of a normalising join.
pub struct Clip<'a> {
    pub path: &'a Path,
    pub secs: f64,
    pub has_audio: bool,
}

/// Normalising join: size and fps of the first clip, 48 kHz stereo audio.
pub fn normalize_args(
    clips: &[Clip<'_>],
    (w, h): (u32, u32),
    fps: u32,
    narration: Option<&Narration<'_>>,
    out: &Path,
    encoder: Encoder,
) -> Vec<String> {
    // With a narration the clips' own audio is not used.
    let any_audio = narration.is_none() && clips.iter().any(|c| c.has_audio);
    let mut a = head();
    for c in clips {
        a.extend(input(c.path));
    }
    if let Some(n) = narration {
        a.extend(input(n.path));
    }
    let mut graph = String::new();
    let mut pads = String::new();
    for (i, c) in clips.iter().enumerate() {
        graph.push_str(&format!(
            "[{i}:v:0]scale={w}:{h}:force_original_aspect_ratio=decrease,pad={w}:{h}:(ow-iw)/2:(oh-ih)/2,setsar=1,fps={fps},format=yuv420p[v{i}];"
        ));
        pads.push_str(&format!("[v{i}]"));
        if any_audio {
            let d = secs(c.secs);
            if c.has_audio {
                graph
                    .push_str(&format!("[{i}:a:0]aresample=48000,aformat=sample_fmts=fltp:channel_layouts=stereo,apad,atrim=0:{d}[a{i}];"));
            } else {
                graph.push_str(&format!("anullsrc=r=48000:cl=stereo,atrim=0:{d}[a{i}];"));
            }
            pads.push_str(&format!("[a{i}]"));
        }
    }
    let n = clips.len();
    if any_audio {
        graph.push_str(&format!("{pads}concat=n={n}:v=1:a=1[v][a]"));
    } else {
        graph.push_str(&format!("{pads}concat=n={n}:v=1:a=0[v]"));
    }
    a.extend(["-filter_complex".into(), graph, "-map".into(), "[v]".into()]);
    if any_audio {
        a.extend(["-map".into(), "[a]".into()]);
    }
    if narration.is_some() {
        a.extend(["-map".into(), format!("{n}:a:0")]);
    }
    a.extend(encoder.video_args(fps));
    if any_audio || narration.is_some() {
        a.extend(aac());
    }
    if let Some(nar) = narration {
        a.extend(["-t".into(), secs(nar.secs)]);
    }
    a.extend(mp4_out(out));
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_arguments() {
        assert_eq!(
            copy_args(Path::new("/w/list.txt"), Path::new("/w/o.mp4")).join(" "),
            "-hide_banner -nostdin -y -f concat -safe 0 -i /w/list.txt -map 0 -c copy -movflags +faststart -f mp4 /w/o.mp4"
        );
        let clips = [
            Clip { path: Path::new("/w/1.mp4"), secs: 2.0, has_audio: true },
            Clip { path: Path::new("/w/2.mp4"), secs: 1.5, has_audio: false },
        ];
        assert_eq!(
            normalize_args(&clips, (640, 360), 24, None, Path::new("/w/o.mp4"), Encoder::Libx264).join(" "),
            "-hide_banner -nostdin -y -i /w/1.mp4 -i /w/2.mp4 -filter_complex \
             [0:v:0]scale=640:360:force_original_aspect_ratio=decrease,pad=640:360:(ow-iw)/2:(oh-ih)/2,setsar=1,fps=24,format=yuv420p[v0];\
             [0:a:0]aresample=48000,aformat=sample_fmts=fltp:channel_layouts=stereo,apad,atrim=0:2.000000[a0];\
             [1:v:0]scale=640:360:force_original_aspect_ratio=decrease,pad=640:360:(ow-iw)/2:(oh-ih)/2,setsar=1,fps=24,format=yuv420p[v1];\
             anullsrc=r=48000:cl=stereo,atrim=0:1.500000[a1];[v0][a0][v1][a1]concat=n=2:v=1:a=1[v][a] \
             -map [v] -map [a] -c:v libx264 -preset veryfast -crf 20 -sc_threshold 0 -profile:v high -pix_fmt yuv420p -g 48 \
             -c:a aac -b:a 192k -movflags +faststart -f mp4 /w/o.mp4"
        );
        let silent = [
            Clip { path: Path::new("/w/1.mp4"), secs: 2.0, has_audio: false },
            Clip { path: Path::new("/w/2.mp4"), secs: 1.0, has_audio: false },
        ];
        let a = normalize_args(&silent, (640, 360), 24, None, Path::new("/w/o.mp4"), Encoder::Libx264).join(" ");
        assert!(a.contains("[v0][v1]concat=n=2:v=1:a=0[v]") && !a.contains("-c:a"), "{a}");
        let n = Narration { path: Path::new("/w/n.wav"), secs: 7.5 };
        let a = normalize_args(&clips, (640, 360), 24, Some(&n), Path::new("/w/o.mp4"), Encoder::Libx264).join(" ");
        assert!(
            a.contains("-i /w/2.mp4 -i /w/n.wav -filter_complex") && a.contains("[v0][v1]concat=n=2:v=1:a=0[v] -map [v] -map 2:a:0"),
            "{a}"
        );
        assert!(a.ends_with("-c:a aac -b:a 192k -t 7.500000 -movflags +faststart -f mp4 /w/o.mp4"), "{a}");
    }
}
