//! addaudio: lay an audio track under a video.
//!
//! Both streams are always mapped explicitly: without `-map`, ffmpeg picks "the best"
//! audio and silently keeps the video's old track. `shortest` and `loop_video` copy the
//! video stream; `stretch_video` changes its speed and so re-encodes it. Lengths are cut
//! with `-t` from probed durations rather than `-shortest`. The audio is cut exactly; a
//! copied video stops at the first packet past the cut in decode order, so with B-frames
//! it can run up to the B-frame depth (3 frames for our libx264 settings) longer.

use std::path::Path;

use job_spec::worker::SyncMode;

use super::av::{aac, head, input, mp4_out, secs};
use crate::encoder::Encoder;

pub struct AddAudio<'a> {
    pub video: &'a Path,
    pub audio: &'a Path,
    pub out: &'a Path,
    pub sync: SyncMode,
    pub video_secs: f64,
    pub audio_secs: f64,
    pub fps: u32,
}

impl AddAudio<'_> {
    /// The output's length.
    pub fn duration(&self) -> f64 {
        match self.sync {
            SyncMode::Shortest => self.video_secs.min(self.audio_secs),
            SyncMode::StretchVideo | SyncMode::LoopVideo => self.audio_secs,
        }
    }

    /// The video encoder that runs (`copy` unless the video is stretched).
    pub fn video_encoder(&self, encoder: Encoder) -> &'static str {
        if self.sync == SyncMode::StretchVideo { encoder.name() } else { "copy" }
    }

    pub fn args(&self, encoder: Encoder) -> Vec<String> {
        let mut a = head();
        if self.sync == SyncMode::LoopVideo {
            a.extend(["-stream_loop".into(), "-1".into()]);
        }
        a.extend(input(self.video));
        a.extend(input(self.audio));
        a.extend(["-map", "0:v:0", "-map", "1:a:0"].map(str::to_owned));
        match self.sync {
            SyncMode::StretchVideo => {
                let factor = self.audio_secs / self.video_secs.max(1e-3);
                a.extend(["-filter:v".into(), format!("setpts={factor:.6}*PTS"), "-r".into(), self.fps.to_string()]);
                a.extend(encoder.video_args(self.fps));
            }
            SyncMode::Shortest | SyncMode::LoopVideo => a.extend(["-c:v".into(), "copy".into()]),
        }
        a.extend(aac());
        a.extend(["-t".into(), secs(self.duration())]);
        a.extend(mp4_out(self.out));
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(sync: SyncMode) -> AddAudio<'static> {
        AddAudio {
            video: Path::new("/w/v.mp4"),
            audio: Path::new("/w/a.mp3"),
            out: Path::new("/w/o.mp4"),
            sync,
            video_secs: 4.0,
            audio_secs: 6.0,
            fps: 24,
        }
    }

    #[test]
    fn exact_arguments() {
        assert_eq!(
            job(SyncMode::Shortest).args(Encoder::Libx264).join(" "),
            "-hide_banner -nostdin -y -i /w/v.mp4 -i /w/a.mp3 -map 0:v:0 -map 1:a:0 -c:v copy -c:a aac -b:a 192k -t 4.000000 \
             -movflags +faststart -f mp4 /w/o.mp4"
        );
        assert_eq!(
            job(SyncMode::LoopVideo).args(Encoder::Libx264).join(" "),
            "-hide_banner -nostdin -y -stream_loop -1 -i /w/v.mp4 -i /w/a.mp3 -map 0:v:0 -map 1:a:0 -c:v copy -c:a aac -b:a 192k \
             -t 6.000000 -movflags +faststart -f mp4 /w/o.mp4"
        );
        assert_eq!(
            job(SyncMode::StretchVideo).args(Encoder::Libx264).join(" "),
            "-hide_banner -nostdin -y -i /w/v.mp4 -i /w/a.mp3 -map 0:v:0 -map 1:a:0 -filter:v setpts=1.500000*PTS -r 24 \
             -c:v libx264 -preset veryfast -crf 20 -sc_threshold 0 -profile:v high -pix_fmt yuv420p -g 48 -c:a aac -b:a 192k \
             -t 6.000000 -movflags +faststart -f mp4 /w/o.mp4"
        );
        assert_eq!(job(SyncMode::Shortest).video_encoder(Encoder::Libx264), "copy");
        assert_eq!(job(SyncMode::StretchVideo).video_encoder(Encoder::Libx264), "libx264");
    }
}
