//! downsample: scale a video to a height (width follows, rounded to even), square
//! pixels; audio is copied.

use std::path::Path;

use super::av::filter_video_copy_audio;
use crate::encoder::Encoder;

pub fn args(src: &Path, height: u32, fps: u32, out: &Path, encoder: Encoder) -> Vec<String> {
    filter_video_copy_audio(src, format!("scale=-2:{height}:flags=lanczos,setsar=1"), fps, out, encoder)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_arguments() {
        assert_eq!(
            args(Path::new("/w/v.mp4"), 480, 30, Path::new("/w/o.mp4"), Encoder::Libx264).join(" "),
            "-hide_banner -nostdin -y -i /w/v.mp4 -map 0:v:0 -map 0:a? -vf scale=-2:480:flags=lanczos,setsar=1 \
             -c:v libx264 -preset veryfast -crf 20 -sc_threshold 0 -profile:v high -pix_fmt yuv420p -g 60 -c:a copy \
             -movflags +faststart -f mp4 /w/o.mp4"
        );
    }
}
