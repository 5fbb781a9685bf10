//! The exact cut of a copied video (the "smart cut"): the output's video has exactly
//! round(T × fps) frames, so it ends with its T-second audio within half a frame.
//!
//! `-c:v copy -t T` stops at the first packet past T in *decode* order, so with B-frames
//! the copy runs up to the reorder depth (and an open GOP) past T. Instead the clips are
//! laid end to end (cycled when the audio is longer) and cut at a frame count. Every
//! whole clip is copied. In the clip holding the cut, the copy stops at its last *cut
//! point* at or before the cut: a packet count whose packets (in decode order) are
//! exactly the frames shown first, so `-frames:v` (which counts packets) copies exactly
//! those frames, and a decode-order prefix always decodes. Without B-frames every frame
//! is a cut point and nothing is encoded, whatever the codec; with B-frames cut points
//! follow each group of B-frames and their reference, and the few frames from the last
//! one to the cut are re-encoded as a new IDR with the clip's own encoder parameters.
//! The concat demuxer joins the pieces by stream copy. The MP4 keeps one `avcC`, so a
//! tail is used only when its parameter sets hash the same as the clips' (the runner
//! checks); otherwise the whole video is re-encoded ([`reencode_args`]).
//!
//! This module is pure: the packet probe's argv and parser, the plan, the argv of each
//! step and the concat list. `crate::cut` runs them.

use std::path::Path;

use super::av::{aac, concat_list_line, head, input, mp4_out, secs};
use crate::encoder::Encoder;

/// A frame rate as a fraction (ffprobe's `r_frame_rate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub num: u32,
    pub den: u32,
}

impl Rate {
    /// `30/1`, `30000/1001`; `None` for `0/0` and junk.
    pub fn parse(s: &str) -> Option<Rate> {
        let (n, d) = s.split_once('/')?;
        let r = Rate { num: n.trim().parse().ok()?, den: d.trim().parse().ok()? };
        (r.num > 0 && r.den > 0).then_some(r)
    }

    pub fn fps(self) -> f64 {
        f64::from(self.num) / f64::from(self.den)
    }

    /// Frames that last `secs`, to the nearest frame (at least one).
    pub fn frames_in(self, secs: f64) -> u64 {
        (secs * self.fps()).round().max(1.0) as u64
    }

    /// How long `frames` frames last.
    pub fn secs(self, frames: u64) -> f64 {
        frames as f64 * f64::from(self.den) / f64::from(self.num)
    }

    /// Whole frames per second, for the encoder's GOP (`-g`).
    pub fn whole(self) -> u32 {
        self.fps().round().max(1.0) as u32
    }
}

/// A frame where a copy can stop (and a new encode start): the packets before it in
/// decode order are exactly the frames shown before it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CutPoint {
    /// Display index in the clip.
    pub frame: u64,
    /// Its time from the file's start (what `-ss` seeks to).
    pub secs: f64,
}

/// What the packet probe says about a clip's video stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Stream {
    pub codec: String,
    pub rate: Option<Rate>,
    /// Hash of the codec's global header (H.264 in MP4: the `avcC` with SPS and PPS).
    pub extradata: Option<String>,
    /// Packets, one frame each.
    pub frames: u64,
    /// Where a copy can stop, ascending, frame 0 first; the clip's end is implied.
    pub cut_points: Vec<CutPoint>,
}

/// ffprobe argv (without the binary) listing the first video stream's packets in decode
/// order (their times), its codec, rate and header hash, and the file's start: a read of
/// the container's index, nothing is decoded.
pub fn packets_args(path: &Path) -> Vec<String> {
    let mut a: Vec<String> =
        ["-v", "error", "-select_streams", "v:0", "-show_data_hash", "MD5", "-show_entries"].map(str::to_owned).to_vec();
    a.push("packet=pts_time:stream=codec_name,r_frame_rate,extradata_hash:format=start_time".into());
    a.extend(["-of".into(), "compact".into(), path.display().to_string()]);
    a
}

/// Parses [`packets_args`]' output (`packet|pts_time=…` lines, then the stream and the
/// format). `None` when there is no video stream line.
pub fn parse_packets(text: &str) -> Option<Stream> {
    let mut pts: Vec<Option<f64>> = Vec::new();
    let (mut stream, mut start) = (None, 0.0);
    for line in text.lines() {
        let section = line.split('|').next().unwrap_or_default();
        let field = |name: &str| line.split('|').skip(1).find_map(|f| f.strip_prefix(name)?.strip_prefix('='));
        match section {
            "packet" => pts.push(field("pts_time").and_then(|t| t.parse().ok())),
            "stream" => {
                stream = Some((
                    field("codec_name").unwrap_or_default().to_owned(),
                    field("r_frame_rate").and_then(Rate::parse),
                    field("extradata_hash").filter(|h| !h.is_empty()).map(str::to_owned),
                ));
            }
            "format" => start = field("start_time").and_then(|t| t.parse().ok()).unwrap_or(0.0),
            _ => {}
        }
    }
    let (codec, rate, extradata) = stream?;
    Some(Stream { codec, rate, extradata, frames: pts.len() as u64, cut_points: cut_points(&pts, start) })
}

/// The clean splits of a clip: packet counts `i` where every packet before `i` in decode
/// order is shown before every packet from `i` on. Each one's time is that of the `i`-th
/// frame shown. An open GOP's leading B-frames (decoded after their I-frame, shown before
/// it) make the split after that I-frame unclean. Without every packet's time there are
/// none but frame 0.
fn cut_points(pts: &[Option<f64>], start: f64) -> Vec<CutPoint> {
    let first = |secs: f64| vec![CutPoint { frame: 0, secs }];
    let Some(pts) = pts.iter().copied().collect::<Option<Vec<f64>>>() else { return first(0.0) };
    let mut sorted = pts.clone();
    sorted.sort_by(f64::total_cmp);
    let Some(&earliest) = sorted.first() else { return first(0.0) };
    let mut suffix_min = vec![f64::INFINITY; pts.len() + 1];
    for i in (0..pts.len()).rev() {
        suffix_min[i] = suffix_min[i + 1].min(pts[i]);
    }
    let mut points = first(earliest - start);
    let mut max = f64::NEG_INFINITY;
    for i in 1..pts.len() {
        max = max.max(pts[i - 1]);
        if max < suffix_min[i] {
            points.push(CutPoint { frame: i as u64, secs: sorted[i] - start });
        }
    }
    points
}

/// Most clip entries a join lays end to end (concat list lines, or filtergraph inputs
/// when normalising): clips cycled under a long audio are listed once per repeat, so a
/// tiny clip under hours of sound would build a list of millions of lines.
pub const MAX_PIECES: u64 = 50_000;

/// Clip indices in the order they are laid end to end, cycled until they hold `frames`
/// frames. Empty when the clips have no frames.
pub fn sequence(clips: &[&Stream], frames: u64) -> Vec<usize> {
    let mut seq = Vec::new();
    let mut have = 0;
    if clips.iter().all(|c| c.frames == 0) {
        return seq;
    }
    for i in (0..clips.len()).cycle() {
        if have >= frames {
            break;
        }
        have += clips[i].frames;
        seq.push(i);
    }
    seq
}

/// Where the cut falls in a sequence of clips.
#[derive(Debug, Clone, PartialEq)]
pub struct Cut {
    /// The first `whole` entries are copied whole.
    pub whole: usize,
    /// The entry after them, when the cut falls inside it.
    pub partial: Option<Partial>,
}

/// The clip the cut falls in: its head copied, its tail re-encoded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Partial {
    /// Frames copied: those before the last cut point at or before the cut (may be 0).
    pub copied: u64,
    /// Frames re-encoded from that cut point (0 when the cut is on a cut point).
    pub encoded: u64,
    /// Where the re-encoded frames start in the clip's file.
    pub start_secs: f64,
}

impl Cut {
    /// Frames re-encoded.
    pub fn encoded(&self) -> u64 {
        self.partial.map_or(0, |p| p.encoded)
    }
}

/// Plans the cut of `entries` (clips in sequence) after `frames` frames. `None` when
/// they hold fewer frames, or the clip the cut falls in has no cut point before it.
pub fn plan(entries: &[&Stream], frames: u64) -> Option<Cut> {
    let mut before = 0;
    for (i, e) in entries.iter().enumerate() {
        if before + e.frames <= frames {
            before += e.frames;
            if before == frames {
                return Some(Cut { whole: i + 1, partial: None });
            }
            continue;
        }
        let cut = frames - before;
        let point = e.cut_points.iter().rev().find(|p| p.frame <= cut)?;
        return Some(Cut { whole: i, partial: Some(Partial { copied: point.frame, encoded: cut - point.frame, start_secs: point.secs }) });
    }
    None
}

/// Copies the first `frames` packets of `src`'s video (a clip's head, cut at a cut point).
pub fn head_args(src: &Path, frames: u64, out: &Path) -> Vec<String> {
    let mut a = head();
    a.extend(input(src));
    a.extend(["-map", "0:v:0", "-c:v", "copy", "-frames:v"].map(str::to_owned));
    a.extend([frames.to_string(), "-f".into(), "mp4".into(), out.display().to_string()]);
    a
}

/// Re-encodes `frames` frames of `src`'s video from `start_secs` (a cut point's frame)
/// with `encoder`'s shared parameters; the decoded frames carry the clip's size, aspect
/// and colour tags to the encoder. The seek aims half a frame early so that float
/// rounding never skips that frame; the accurate seek decodes from the keyframe before
/// and drops what comes before it, and `setpts` starts the tail at 0.
pub fn tail_args(src: &Path, start_secs: f64, frames: u64, rate: Rate, encoder: Encoder, out: &Path) -> Vec<String> {
    let mut a = head();
    a.extend(["-ss".into(), secs((start_secs - 0.5 / rate.fps()).max(0.0))]);
    a.extend(input(src));
    a.extend(["-map", "0:v:0", "-vf", "setpts=PTS-STARTPTS", "-frames:v"].map(str::to_owned));
    a.push(frames.to_string());
    a.extend(encoder.video_args(rate.whole()));
    a.extend(["-f".into(), "mp4".into(), out.display().to_string()]);
    a
}

/// One file of the concat list, with how long it lasts when it is not the last: its
/// video's length, so that a clip's own longer audio track does not push the next
/// clip's video later.
pub struct Piece<'a> {
    pub path: &'a Path,
    pub secs: Option<f64>,
}

/// The concat demuxer's list for `pieces`.
pub fn list(pieces: &[Piece<'_>]) -> String {
    pieces
        .iter()
        .map(|p| match p.secs {
            Some(s) => format!("{}duration {}\n", concat_list_line(p.path), secs(s)),
            None => concat_list_line(p.path),
        })
        .collect()
}

/// Joins the pieces listed in `list` by stream copy under `audio`, cut to `audio_secs`
/// on input (an output `-t` would cut the copied video again, in decode order).
pub fn join_args(list: &Path, audio: &Path, audio_secs: f64, out: &Path) -> Vec<String> {
    let mut a = concat_head(list, audio, audio_secs);
    a.extend(["-c:v".into(), "copy".into()]);
    a.extend(aac());
    a.extend(mp4_out(out));
    a
}

/// The fallback when a tail cannot match its clip: the listed clips re-encoded with
/// `encoder`, `frames` frames, under `audio` cut to `audio_secs`. The frames are counted
/// by `trim`: ffmpeg 5's `-frames:v` closes the whole output when the video reaches it,
/// which (the encoder's lookahead) is well before the audio has been written.
pub fn reencode_args(list: &Path, audio: &Path, audio_secs: f64, frames: u64, rate: Rate, encoder: Encoder, out: &Path) -> Vec<String> {
    let mut a = concat_head(list, audio, audio_secs);
    a.extend(["-filter:v".into(), format!("trim=end_frame={frames}")]);
    a.extend(encoder.video_args(rate.whole()));
    a.extend(aac());
    a.extend(mp4_out(out));
    a
}

fn concat_head(list: &Path, audio: &Path, audio_secs: f64) -> Vec<String> {
    let mut a = head();
    a.extend(["-f", "concat", "-safe", "0"].map(str::to_owned));
    a.extend(input(list));
    a.extend(["-t".into(), secs(audio_secs)]);
    a.extend(input(audio));
    a.extend(["-map", "0:v:0", "-map", "1:a:0"].map(str::to_owned));
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    const R30: Rate = Rate { num: 30, den: 1 };

    fn clip(frames: u64, keys: &[u64]) -> Stream {
        Stream {
            codec: "h264".into(),
            rate: Some(R30),
            extradata: Some("MD5:x".into()),
            frames,
            cut_points: keys.iter().map(|&f| CutPoint { frame: f, secs: R30.secs(f) }).collect(),
        }
    }

    #[test]
    fn rates() {
        let ntsc = Rate::parse("30000/1001").unwrap();
        assert_eq!(ntsc.whole(), 30);
        assert_eq!(ntsc.frames_in(10.0), 300, "299.7 rounds up");
        assert_eq!(Rate::parse("25/1").unwrap().frames_in(3.3), 83, "82.5 rounds away from zero");
        assert_eq!(R30.frames_in(0.001), 1);
        assert!((ntsc.secs(300) - 10.01).abs() < 1e-9);
        assert_eq!(Rate::parse("0/0"), None);
        assert_eq!(Rate::parse("x"), None);
    }

    #[test]
    fn packets_parse_to_frames_and_clean_cut_points() {
        // libx264 with B-frames in decode order: I | P B B | I | P B B, then an open
        // GOP's I-frame whose leading B-frame (shown before it) is decoded after it.
        let times = [0.0, 0.1, 0.033333, 0.066667, 0.133333, 0.233333, 0.166667, 0.2, 0.3, 0.266667];
        let mut text: String = times.iter().map(|t| format!("packet|pts_time={t:.6}\n")).collect();
        text.push_str("stream|codec_name=h264|r_frame_rate=30/1|extradata_hash=MD5:abc\nformat|start_time=0.000000\n");
        let s = parse_packets(&text).unwrap();
        assert_eq!((s.codec.as_str(), s.rate, s.extradata.as_deref(), s.frames), ("h264", Some(R30), Some("MD5:abc"), 10));
        let points: Vec<(u64, f64)> = s.cut_points.iter().map(|p| (p.frame, p.secs)).collect();
        // Not inside a group of B-frames (2, 3; 6, 7), nor after the open GOP's I (9).
        assert_eq!(points, vec![(0, 0.0), (1, 0.033333), (4, 0.133333), (5, 0.166667), (8, 0.266667)]);
        // Without B-frames every frame is a cut point.
        let plain: String = (0..5).map(|i| format!("packet|pts_time={:.6}\n", f64::from(i) / 25.0)).collect();
        let s = parse_packets(&(plain + "stream|codec_name=mpeg4|r_frame_rate=25/1\n")).unwrap();
        assert_eq!((s.cut_points.len(), s.extradata), (5, None));
        // A file that starts late: seek times are from its start.
        let late = text.replace("start_time=0.000000", "start_time=0.100000");
        assert!((parse_packets(&late).unwrap().cut_points[2].secs - 0.033333).abs() < 1e-9);
        // A packet without a time: only frame 0, the frame count stands.
        let untimed = text.replacen("pts_time=0.100000", "pts_time=N/A", 1);
        let s = parse_packets(&untimed).unwrap();
        assert_eq!((s.frames, s.cut_points.len()), (10, 1));
        assert_eq!(parse_packets("format|start_time=0.0\n"), None, "no video stream");
    }

    #[test]
    fn clips_cycle_until_they_hold_the_frames() {
        let (a, b) = (clip(60, &[0]), clip(45, &[0]));
        assert_eq!(sequence(&[&a, &b], 250), vec![0, 1, 0, 1, 0], "60+45+60+45 = 210 < 250");
        assert_eq!(sequence(&[&a, &b], 105), vec![0, 1]);
        assert_eq!(sequence(&[&a], 1), vec![0]);
        assert!(sequence(&[&clip(0, &[])], 10).is_empty());
    }

    #[test]
    fn the_cut_copies_up_to_the_last_cut_point_and_encodes_the_rest() {
        // 10 s at 30 fps, a keyframe every 60 frames, looped under 12.5 s: one whole
        // copy, then 60 frames copied and 15 encoded from the keyframe at 2 s.
        let v = clip(300, &[0, 60, 120, 180, 240]);
        let cut = plan(&[&v, &v], R30.frames_in(12.5)).unwrap();
        assert_eq!(cut, Cut { whole: 1, partial: Some(Partial { copied: 60, encoded: 15, start_secs: 2.0 }) });
        assert_eq!(cut.encoded(), 15);
        // On a keyframe: nothing encoded.
        assert_eq!(plan(&[&v, &v], 360), Some(Cut { whole: 1, partial: Some(Partial { copied: 60, encoded: 0, start_secs: 2.0 }) }));
        // At a clip's end: whole clips only.
        assert_eq!(plan(&[&v, &v], 300), Some(Cut { whole: 1, partial: None }));
        assert_eq!(plan(&[&v], 299).unwrap().partial.unwrap(), Partial { copied: 240, encoded: 59, start_secs: 8.0 });
        // Inside the first GOP: everything before the cut is encoded.
        assert_eq!(plan(&[&v], 10).unwrap().partial.unwrap(), Partial { copied: 0, encoded: 10, start_secs: 0.0 });
        // Too few frames, or no cut point to start the tail at.
        assert_eq!(plan(&[&v], 301), None);
        assert_eq!(plan(&[&clip(300, &[])], 10), None);
    }

    #[test]
    fn exact_arguments() {
        let (src, out) = (Path::new("/w/v.mp4"), Path::new("/w/o.mp4"));
        assert_eq!(
            packets_args(src).join(" "),
            "-v error -select_streams v:0 -show_data_hash MD5 -show_entries \
             packet=pts_time:stream=codec_name,r_frame_rate,extradata_hash:format=start_time -of compact /w/v.mp4"
        );
        assert_eq!(
            head_args(src, 60, Path::new("/w/head.mp4")).join(" "),
            "-hide_banner -nostdin -y -i /w/v.mp4 -map 0:v:0 -c:v copy -frames:v 60 -f mp4 /w/head.mp4"
        );
        assert_eq!(
            tail_args(src, 2.0, 15, R30, Encoder::Libx264, Path::new("/w/tail.mp4")).join(" "),
            "-hide_banner -nostdin -y -ss 1.983333 -i /w/v.mp4 -map 0:v:0 -vf setpts=PTS-STARTPTS -frames:v 15 \
             -c:v libx264 -preset veryfast -crf 20 -sc_threshold 0 -profile:v high -pix_fmt yuv420p -g 60 -f mp4 /w/tail.mp4"
        );
        assert!(tail_args(src, 0.0, 5, R30, Encoder::Libx264, out).join(" ").contains("-ss 0.000000 -i"));
        assert_eq!(
            list(&[
                Piece { path: src, secs: Some(R30.secs(300)) },
                Piece { path: Path::new("/w/it's.mp4"), secs: Some(2.0) },
                Piece { path: Path::new("/w/tail.mp4"), secs: None },
            ]),
            "file '/w/v.mp4'\nduration 10.000000\nfile '/w/it'\\''s.mp4'\nduration 2.000000\nfile '/w/tail.mp4'\n"
        );
        let (l, a) = (Path::new("/w/list.txt"), Path::new("/w/a.wav"));
        assert_eq!(
            join_args(l, a, 12.5, out).join(" "),
            "-hide_banner -nostdin -y -f concat -safe 0 -i /w/list.txt -t 12.500000 -i /w/a.wav -map 0:v:0 -map 1:a:0 \
             -c:v copy -c:a aac -b:a 192k -movflags +faststart -f mp4 /w/o.mp4"
        );
        assert_eq!(
            reencode_args(l, a, 12.5, 375, R30, Encoder::Libx264, out).join(" "),
            "-hide_banner -nostdin -y -f concat -safe 0 -i /w/list.txt -t 12.500000 -i /w/a.wav -map 0:v:0 -map 1:a:0 \
             -filter:v trim=end_frame=375 -c:v libx264 -preset veryfast -crf 20 -sc_threshold 0 -profile:v high -pix_fmt yuv420p \
             -g 60 -c:a aac -b:a 192k -movflags +faststart -f mp4 /w/o.mp4"
        );
    }
}
