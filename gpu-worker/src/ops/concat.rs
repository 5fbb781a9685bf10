//! concatenate: join clips in order.
//!
//! When every clip has the same codec parameters (codec, size, pixel format, frame
//! rate, SAR, profile, and the same audio layout), the concat demuxer joins them by
//! stream copy: no quality loss, almost no CPU — img2vid clips of one job always qualify.
//! Otherwise every clip is normalised to the first clip's size (letterboxed, square
//! pixels), frame rate and colour (BT.709, limited range, tagged so), audio to 48 kHz
//! stereo, clips without audio get silence of their own length, and the concat filter
//! joins them. Audio is never dropped: if any clip has audio, the output has audio.
//!
//! One ffmpeg normalises at most [`NORMALIZE_BATCH`] clips: each clip is an input (a
//! decoder; with `-hwaccel cuda` a GPU decoder) and a branch of the filtergraph, and 500
//! of them in one run are 500 decoders at once and a filtergraph past the kernel's
//! 128 KiB for one argument (`E2BIG`: ffmpeg never starts). More clips are normalised
//! batch by batch into parts ([`part_args`]: the same encoder arguments, size, rate and
//! colour tags, so every part has the same parameter sets; audio as PCM, so no AAC
//! priming sits at the joins), then the parts are joined by copying the video
//! ([`join_parts_args`]) and encoding the audio once.
//!
//! Under a narration (`concat_video_audio`) each clip is normalised once, into parts
//! without audio, and the parts are cut to the narration by [`super::cut`]'s exact
//! copy cut, cycled as copied clips are (round(T × fps) frames), rather than one
//! filtergraph input per repeat.

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

/// Clips one ffmpeg normalises at most (see the module's notes).
pub const NORMALIZE_BATCH: usize = 32;

/// One clip of a normalising join.
pub struct Clip<'a> {
    pub path: &'a Path,
    pub secs: f64,
    pub has_audio: bool,
}

/// What every normalised clip becomes: one frame size (even), frame rate and encoder.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    pub size: (u32, u32),
    pub fps: u32,
    pub encoder: Encoder,
}

/// Normalising join in one run: size and fps of the first clip, 48 kHz stereo audio;
/// under `narration` the clips' own audio is not used and the output is cut to it.
pub fn normalize_args(
    clips: &[Clip<'_>],
    (w, h): (u32, u32),
    fps: u32,
    narration: Option<&Narration<'_>>,
    out: &Path,
    encoder: Encoder,
) -> Vec<String> {
    let any_audio = narration.is_none() && clips.iter().any(|c| c.has_audio);
    let target = Target { size: (w, h), fps, encoder };
    let mut a = normalize_head(clips, target, any_audio, narration.map(|n| n.path));
    let n = clips.len();
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

/// One part of a batched normalise: `clips` (one batch) normalised to `target` into the
/// QuickTime file `out`, with 48 kHz stereo PCM when `audio` (whether any clip of the
/// whole job has audio: every part must have the same streams), else no audio.
pub fn part_args(clips: &[Clip<'_>], target: Target, audio: bool, out: &Path) -> Vec<String> {
    let mut a = normalize_head(clips, target, audio, None);
    a.extend(target.encoder.video_args(target.fps));
    if audio {
        a.extend(["-c:a", "pcm_s16le"].map(str::to_owned));
    } else {
        a.push("-an".into());
    }
    a.extend(["-f".into(), "mov".into(), out.display().to_string()]);
    a
}

/// The parts of a batched normalise joined in order (listed in `list`): the video
/// copied, the PCM audio (when the parts have it) encoded to AAC once.
pub fn join_parts_args(list: &Path, audio: bool, out: &Path) -> Vec<String> {
    let mut a = head();
    a.extend(["-f", "concat", "-safe", "0"].map(str::to_owned));
    a.extend(input(list));
    a.extend(["-map", "0:v:0", "-c:v", "copy"].map(str::to_owned));
    if audio {
        a.extend(["-map".into(), "0:a:0".into()]);
        a.extend(aac());
    }
    a.extend(mp4_out(out));
    a
}

/// The part files of `clips` normalised in batches of `batch`, and the argv of each:
/// `dir/part_<k>.mov`.
pub fn parts(clips: &[Clip<'_>], target: Target, audio: bool, dir: &Path, batch: usize) -> Vec<(Vec<String>, std::path::PathBuf)> {
    clips
        .chunks(batch.max(1))
        .enumerate()
        .map(|(k, chunk)| {
            let out = dir.join(format!("part_{k}.mov"));
            (part_args(chunk, target, audio, &out), out)
        })
        .collect()
}

/// The inputs, and the filtergraph normalising each clip's video (and audio, when
/// `audio`) and joining them into `[v]` (and `[a]`), mapped; an extra input after the
/// clips when `narration` is given (mapped by the caller).
fn normalize_head(clips: &[Clip<'_>], t: Target, audio: bool, narration: Option<&Path>) -> Vec<String> {
    let ((w, h), fps) = (t.size, t.fps);
    let mut a = head();
    for c in clips {
        a.extend(input(c.path));
    }
    if let Some(n) = narration {
        a.extend(input(n));
    }
    let mut graph = String::new();
    let mut pads = String::new();
    for (i, c) in clips.iter().enumerate() {
        // The colour converted to BT.709 limited range and tagged so: x264 writes the tags
        // into the parameter sets, which must be the same in every part.
        graph.push_str(&format!(
            "[{i}:v:0]scale={w}:{h}:force_original_aspect_ratio=decrease:out_color_matrix=bt709:out_range=tv,\
             pad={w}:{h}:(ow-iw)/2:(oh-ih)/2,setsar=1,fps={fps},format=yuv420p,{TAGS}[v{i}];"
        ));
        pads.push_str(&format!("[v{i}]"));
        if audio {
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
    if audio {
        graph.push_str(&format!("{pads}concat=n={n}:v=1:a=1[v][a]"));
    } else {
        graph.push_str(&format!("{pads}concat=n={n}:v=1:a=0[v]"));
    }
    a.extend(["-filter_complex".into(), graph, "-map".into(), "[v]".into()]);
    if audio {
        a.extend(["-map".into(), "[a]".into()]);
    }
    a
}

/// The colour tags of every normalised frame.
const TAGS: &str = "setparams=range=tv:colorspace=bt709:color_primaries=bt709:color_trc=bt709";

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
             [0:v:0]scale=640:360:force_original_aspect_ratio=decrease:out_color_matrix=bt709:out_range=tv,\
             pad=640:360:(ow-iw)/2:(oh-ih)/2,setsar=1,fps=24,format=yuv420p,\
             setparams=range=tv:colorspace=bt709:color_primaries=bt709:color_trc=bt709[v0];\
             [0:a:0]aresample=48000,aformat=sample_fmts=fltp:channel_layouts=stereo,apad,atrim=0:2.000000[a0];\
             [1:v:0]scale=640:360:force_original_aspect_ratio=decrease:out_color_matrix=bt709:out_range=tv,\
             pad=640:360:(ow-iw)/2:(oh-ih)/2,setsar=1,fps=24,format=yuv420p,\
             setparams=range=tv:colorspace=bt709:color_primaries=bt709:color_trc=bt709[v1];\
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

    #[test]
    fn batches_normalise_to_parts_joined_by_copy() {
        let paths: Vec<std::path::PathBuf> = (1..=5).map(|i| std::path::PathBuf::from(format!("/w/{i}.mp4"))).collect();
        let clips: Vec<Clip<'_>> =
            paths.iter().enumerate().map(|(i, p)| Clip { path: p, secs: 1.0 + i as f64, has_audio: i == 1 }).collect();
        let target = Target { size: (64, 36), fps: 10, encoder: Encoder::Libx264 };
        let parts = parts(&clips, target, true, Path::new("/w"), 2);
        let files: Vec<&str> = parts.iter().map(|(_, p)| p.to_str().unwrap()).collect();
        assert_eq!(files, ["/w/part_0.mov", "/w/part_1.mov", "/w/part_2.mov"], "5 clips in batches of 2");
        let v = |i: usize| {
            format!(
                "[{i}:v:0]scale=64:36:force_original_aspect_ratio=decrease:out_color_matrix=bt709:out_range=tv,\
                 pad=64:36:(ow-iw)/2:(oh-ih)/2,setsar=1,fps=10,format=yuv420p,{TAGS}[v{i}];"
            )
        };
        let enc = "-c:v libx264 -preset veryfast -crf 20 -sc_threshold 0 -profile:v high -pix_fmt yuv420p -g 20";
        assert_eq!(
            parts[0].0.join(" "),
            format!(
                "-hide_banner -nostdin -y -i /w/1.mp4 -i /w/2.mp4 -filter_complex \
                 {}anullsrc=r=48000:cl=stereo,atrim=0:1.000000[a0];\
                 {}[1:a:0]aresample=48000,aformat=sample_fmts=fltp:channel_layouts=stereo,apad,atrim=0:2.000000[a1];\
                 [v0][a0][v1][a1]concat=n=2:v=1:a=1[v][a] -map [v] -map [a] {enc} -c:a pcm_s16le -f mov /w/part_0.mov",
                v(0),
                v(1)
            )
        );
        // The last batch holds what is left; silence for clips without audio, since
        // another clip of the job has some (every part has the same streams).
        assert_eq!(
            parts[2].0.join(" "),
            format!(
                "-hide_banner -nostdin -y -i /w/5.mp4 -filter_complex {}anullsrc=r=48000:cl=stereo,atrim=0:5.000000[a0];\
                 [v0][a0]concat=n=1:v=1:a=1[v][a] -map [v] -map [a] {enc} -c:a pcm_s16le -f mov /w/part_2.mov",
                v(0)
            )
        );
        // Without audio (or under a narration): video-only parts.
        let silent = part_args(&clips[..1], target, false, Path::new("/w/p.mov")).join(" ");
        assert_eq!(
            silent,
            format!(
                "-hide_banner -nostdin -y -i /w/1.mp4 -filter_complex {}[v0]concat=n=1:v=1:a=0[v] -map [v] {enc} -an -f mov /w/p.mov",
                v(0)
            )
        );
        assert_eq!(
            join_parts_args(Path::new("/w/parts.txt"), true, Path::new("/w/o.mp4")).join(" "),
            "-hide_banner -nostdin -y -f concat -safe 0 -i /w/parts.txt -map 0:v:0 -c:v copy -map 0:a:0 -c:a aac -b:a 192k \
             -movflags +faststart -f mp4 /w/o.mp4"
        );
        assert_eq!(
            join_parts_args(Path::new("/w/parts.txt"), false, Path::new("/w/o.mp4")).join(" "),
            "-hide_banner -nostdin -y -f concat -safe 0 -i /w/parts.txt -map 0:v:0 -c:v copy -movflags +faststart -f mp4 /w/o.mp4"
        );
        // No argv grows with the clip count past a batch: 500 clips, 32 a run.
        let many: Vec<Clip<'_>> = (0..500).map(|_| Clip { path: &paths[0], secs: 1.0, has_audio: true }).collect();
        let runs = self::parts(&many, target, true, Path::new("/w"), NORMALIZE_BATCH);
        assert_eq!(runs.len(), 16);
        assert!(runs.iter().all(|(a, _)| a.iter().filter(|x| *x == "-i").count() <= NORMALIZE_BATCH));
    }
}
