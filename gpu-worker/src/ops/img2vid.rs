//! img2vid: one Ken Burns clip per image.
//!
//! The clip is exactly `frames` frames at `fps`, `width`×`height`, square pixels. The
//! image is decoded once and every frame is resampled from a sub-pixel crop box by
//! [`crate::kenburns`] (the motion is [`job_spec::kenburns`]: zoom centred on the image,
//! or a pan at constant zoom); ffmpeg only encodes the raw yuv420p frames it reads from
//! stdin. Any input size or aspect works (the image is cropped to the output's aspect
//! first); transparent pixels are composited over black; EXIF orientation is applied.
//! Formats the `image` crate cannot read are decoded by ffmpeg first (to a PAM).
//! Every clip has the same encoder parameters and colour tags, so `concatenate` joins
//! the clips of a job by stream copy.

use std::path::Path;
use std::time::Duration;

use job_spec::ZoomType;
use job_spec::kenburns::Easing;
use tokio_util::sync::CancellationToken;

use crate::encoder::Encoder;
use crate::error::JobError;
use crate::kenburns::{self, Source};
use crate::process::{self, Feed, ProcessError};

/// Motion easing of every clip (zoompan's was linear).
pub const EASING: Easing = Easing::Linear;

/// Images decoded at once per job. Decoding is the memory peak of a clip (a 24-megapixel
/// photo is 72 MB of RGB, twice that while being rotated); what a clip keeps afterwards
/// is a working image of at most 1.5× the output.
pub const DECODES_IN_FLIGHT: usize = 2;

/// Full ffmpeg argv (without the binary) encoding raw yuv420p frames of `size` read from
/// stdin into the MP4 `output`. Frames are BT.709 limited range, and tagged so.
pub fn clip_args(output: &Path, (width, height): (u32, u32), fps: u32, encoder: Encoder) -> Vec<String> {
    let mut a: Vec<String> = ["-hide_banner", "-nostdin", "-y", "-f", "rawvideo", "-pix_fmt", "yuv420p"].map(str::to_owned).to_vec();
    a.extend(["-video_size".to_owned(), format!("{width}x{height}"), "-framerate".to_owned(), fps.to_string()]);
    a.extend(["-i", "-", "-vf", "setsar=1"].map(str::to_owned));
    a.extend(encoder.video_args(fps));
    a.extend(["-color_range", "tv", "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709"].map(str::to_owned));
    a.extend(["-an", "-movflags", "+faststart", "-f", "mp4"].map(str::to_owned));
    a.push(output.display().to_string());
    a
}

/// ffmpeg argv (without the binary) decoding the first frame of `input` into an RGBA PAM.
pub fn pam_args(input: &Path, pam: &Path) -> Vec<String> {
    let mut a: Vec<String> = ["-hide_banner", "-nostdin", "-y", "-i"].map(str::to_owned).to_vec();
    a.push(input.display().to_string());
    a.extend(["-frames:v", "1", "-pix_fmt", "rgba", "-c:v", "pam", "-f", "image2"].map(str::to_owned));
    a.push(pam.display().to_string());
    a
}

/// Decodes the image `input` (named `name` in the job) for frames of `size`: with the
/// `image` crate, or, when it fails, through ffmpeg (a PAM written next to `input`).
pub async fn load(
    ffmpeg: &Path,
    name: &str,
    input: &Path,
    size: (u32, u32),
    timeout: Duration,
    cancel: &CancellationToken,
) -> Result<Source, JobError> {
    let prepare =
        move |path: std::path::PathBuf| move || kenburns::decode(&path).map_err(|e| e.to_string()).and_then(|rgb| Source::new(&rgb, size));
    let first_error = match blocking(cancel, prepare(input.to_path_buf())).await? {
        Ok(source) => return Ok(source),
        Err(e) => e,
    };
    let not_media = |detail: String| JobError::InputNotMedia { name: name.into(), stderr_tail: format!("{first_error}\n{detail}") };
    let pam = input.with_extension("pam");
    match process::run_ffmpeg(ffmpeg, &pam_args(input, &pam), timeout, cancel, |_| {}).await {
        Ok(()) => {}
        Err(ProcessError::Cancelled) => return Err(JobError::Cancelled),
        Err(ProcessError::Exited { stderr_tail, .. }) => return Err(not_media(stderr_tail)),
        Err(e) => return Err(JobError::Ffmpeg(e)),
    }
    let source = blocking(cancel, prepare(pam.clone())).await;
    let _ = std::fs::remove_file(&pam);
    source?.map_err(not_media)
}

/// The stdin feed of [`clip_args`]' ffmpeg: the clip's frames.
pub fn feed(source: Source, size: (u32, u32), zoom: ZoomType, frames: u32) -> Feed {
    Box::new(move |mut stdin| kenburns::write_clip(&source, size, zoom, frames, EASING, &mut stdin))
}

/// Runs CPU-bound `f` off the async threads; cancellation stops waiting for it.
async fn blocking<T: Send + 'static>(cancel: &CancellationToken, f: impl FnOnce() -> T + Send + 'static) -> Result<T, JobError> {
    tokio::select! {
        r = tokio::task::spawn_blocking(f) => r.map_err(|e| JobError::Internal(format!("image decoding: {e}"))),
        () = cancel.cancelled() => Err(JobError::Cancelled),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_clip_arguments() {
        let args = clip_args(Path::new("/w/out.mp4"), (1920, 1080), 24, Encoder::Libx264);
        assert_eq!(
            args.join(" "),
            "-hide_banner -nostdin -y -f rawvideo -pix_fmt yuv420p -video_size 1920x1080 -framerate 24 -i - -vf setsar=1 \
             -c:v libx264 -preset veryfast -crf 20 -sc_threshold 0 -profile:v high -pix_fmt yuv420p -g 48 \
             -color_range tv -colorspace bt709 -color_primaries bt709 -color_trc bt709 -an -movflags +faststart -f mp4 /w/out.mp4"
        );
    }

    #[test]
    fn exact_pam_arguments() {
        assert_eq!(
            pam_args(Path::new("/w/in_0"), Path::new("/w/in_0.pam")).join(" "),
            "-hide_banner -nostdin -y -i /w/in_0 -frames:v 1 -pix_fmt rgba -c:v pam -f image2 /w/in_0.pam"
        );
    }
}
