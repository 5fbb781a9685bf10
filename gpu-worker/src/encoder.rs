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

/// True when `-hwaccel cuda` decodes H.264 here. A one-frame H.264 file is made with
/// libx264 in `scratch` and decoded through CUDA; ffmpeg exits non-zero when no CUDA
/// device can be created, so a CPU-only machine answers false.
pub async fn detect_cuda_decode(ffmpeg: &Path, scratch: &Path) -> bool {
    let sample = scratch.join("cuda-probe.mp4");
    let run = |args: Vec<String>| async move {
        tokio::process::Command::new(ffmpeg)
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .status()
            .await
            .is_ok_and(|s| s.success())
    };
    let s = sample.display().to_string();
    let made = run([
        "-hide_banner",
        "-loglevel",
        "error",
        "-nostdin",
        "-y",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=256x256:d=0.1",
        "-frames:v",
        "1",
        "-c:v",
        "libx264",
        &s,
    ]
    .map(str::to_owned)
    .to_vec())
    .await;
    let ok = made
        && run(["-hide_banner", "-loglevel", "error", "-nostdin", "-hwaccel", "cuda", "-i", &s, "-f", "null", "-"]
            .map(str::to_owned)
            .to_vec())
        .await;
    let _ = std::fs::remove_file(&sample);
    ok
}

/// Adds `-hwaccel cuda` before each `-i` that reads one of `video_inputs`. Decoded frames
/// come back to system memory, so the rest of the command is unchanged.
pub fn with_cuda_decode(args: Vec<String>, video_inputs: &[&Path]) -> Vec<String> {
    let targets: Vec<String> = video_inputs.iter().map(|p| p.display().to_string()).collect();
    let mut out = Vec::with_capacity(args.len() + 2 * targets.len());
    let mut i = 0;
    while i < args.len() {
        if args[i] == "-i" && args.get(i + 1).is_some_and(|p| targets.contains(p)) {
            out.extend(["-hwaccel".to_owned(), "cuda".to_owned()]);
        }
        out.push(args[i].clone());
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuda_decode_goes_before_video_inputs_only() {
        let args: Vec<String> = "-y -stream_loop -1 -i /w/v.mp4 -i /w/a.wav -map 0:v:0 /w/o.mp4".split(' ').map(str::to_owned).collect();
        assert_eq!(
            with_cuda_decode(args, &[Path::new("/w/v.mp4")]).join(" "),
            "-y -stream_loop -1 -hwaccel cuda -i /w/v.mp4 -i /w/a.wav -map 0:v:0 /w/o.mp4"
        );
    }

    #[tokio::test]
    async fn no_cuda_here_means_software_decode() {
        // The development and CI machines have no GPU: there the probe must answer false,
        // not hang or claim success. It is checked only where no NVIDIA device node exists.
        if !std::path::Path::new("/dev/nvidiactl").exists() {
            let dir = tempfile::tempdir().unwrap();
            assert!(!detect_cuda_decode(Path::new("ffmpeg"), dir.path()).await);
        }
    }

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
