//! Which H.264 encoder runs: NVENC when the GPU has it, libx264 otherwise.
//!
//! Detection encodes one tiny frame with h264_nvenc; H100/H200 have no NVENC, so this
//! must be a real try, not a look at `ffmpeg -encoders` (which lists it regardless).

use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncoderChoice {
    Auto,
    Libx264,
    Nvenc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoder {
    Libx264,
    Nvenc,
}

impl Encoder {
    pub const fn name(self) -> &'static str {
        match self {
            Encoder::Libx264 => "libx264",
            Encoder::Nvenc => "h264_nvenc",
        }
    }

    /// Encoder arguments shared by every clip, so clips of one job can be joined by
    /// stream copy: same codec, profile, pixel format and GOP.
    pub fn video_args(self, fps: u32) -> Vec<String> {
        let gop = (fps * 2).to_string();
        let mut a: Vec<&str> = match self {
            Encoder::Libx264 => vec!["-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-sc_threshold", "0"],
            Encoder::Nvenc => vec!["-c:v", "h264_nvenc", "-preset", "p4", "-rc", "vbr", "-cq", "21", "-b:v", "0"],
        };
        a.extend(["-profile:v", "high", "-pix_fmt", "yuv420p", "-g"]);
        let mut v: Vec<String> = a.into_iter().map(str::to_owned).collect();
        v.push(gop);
        v
    }
}

/// Resolves the configured choice; `Auto` tries NVENC once.
pub async fn detect(ffmpeg: &Path, choice: EncoderChoice) -> Encoder {
    match choice {
        EncoderChoice::Libx264 => Encoder::Libx264,
        EncoderChoice::Nvenc => Encoder::Nvenc,
        EncoderChoice::Auto => {
            let status = tokio::process::Command::new(ffmpeg)
                .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-f", "lavfi", "-i", "color=black:s=256x256:d=0.1"])
                .args(["-frames:v", "1", "-c:v", "h264_nvenc", "-f", "null", "-"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .kill_on_drop(true)
                .status()
                .await;
            if status.is_ok_and(|s| s.success()) { Encoder::Nvenc } else { Encoder::Libx264 }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_encoder_arguments() {
        assert_eq!(
            Encoder::Libx264.video_args(24).join(" "),
            "-c:v libx264 -preset veryfast -crf 20 -sc_threshold 0 -profile:v high -pix_fmt yuv420p -g 48"
        );
        assert_eq!(
            Encoder::Nvenc.video_args(30).join(" "),
            "-c:v h264_nvenc -preset p4 -rc vbr -cq 21 -b:v 0 -profile:v high -pix_fmt yuv420p -g 60"
        );
    }
}
