//! addaudio: lay an audio track under a video.
//!
//! Both streams are always mapped explicitly: without `-map`, ffmpeg picks "the best"
//! audio and silently keeps the video's old track. `shortest` and `loop_video` copy the
//! video: [`super::cut`] cuts it to round(T × fps) frames (T: the audio's length, or the
//! shorter of the two for `shortest`), copying all but the frames after the last clean
//! split before the cut (none without B-frames) and re-encoding only those, so the video
//! ends with the audio within half a frame.
//! `stretch_video` changes the video's speed and so re-encodes it (built here); its
//! length is cut with `-t` from the probed durations rather than `-shortest`.

use std::path::Path;

use super::av::{aac, head, input, mp4_out, secs};
use crate::encoder::Encoder;

/// `stretch_video`: the video retimed to last as long as the audio.
pub struct Stretch<'a> {
    pub video: &'a Path,
    pub audio: &'a Path,
    pub out: &'a Path,
    pub video_secs: f64,
    pub audio_secs: f64,
    pub fps: u32,
}

impl Stretch<'_> {
    pub fn args(&self, encoder: Encoder) -> Vec<String> {
        let mut a = head();
        a.extend(input(self.video));
        a.extend(input(self.audio));
        a.extend(["-map", "0:v:0", "-map", "1:a:0"].map(str::to_owned));
        let factor = self.audio_secs / self.video_secs.max(1e-3);
        a.extend(["-filter:v".into(), format!("setpts={factor:.6}*PTS"), "-r".into(), self.fps.to_string()]);
        a.extend(encoder.video_args(self.fps));
        a.extend(aac());
        a.extend(["-t".into(), secs(self.audio_secs)]);
        a.extend(mp4_out(self.out));
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_arguments() {
        let job = Stretch {
            video: Path::new("/w/v.mp4"),
            audio: Path::new("/w/a.mp3"),
            out: Path::new("/w/o.mp4"),
            video_secs: 4.0,
            audio_secs: 6.0,
            fps: 24,
        };
        assert_eq!(
            job.args(Encoder::Libx264).join(" "),
            "-hide_banner -nostdin -y -i /w/v.mp4 -i /w/a.mp3 -map 0:v:0 -map 1:a:0 -filter:v setpts=1.500000*PTS -r 24 \
             -c:v libx264 -preset veryfast -crf 20 -sc_threshold 0 -profile:v high -pix_fmt yuv420p -g 48 -c:a aac -b:a 192k \
             -t 6.000000 -movflags +faststart -f mp4 /w/o.mp4"
        );
    }
}
