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
use crate::kenburns::{self, MAX_IMAGE_PIXELS, Source};
use crate::process::{self, Feed, ProcessError};

/// Motion easing of a clip whose task names none (zoompan's was linear).
pub const DEFAULT_EASING: Easing = Easing::Linear;

/// Images decoded at once per job. Decoding is the memory peak of a clip (a 24-megapixel
/// photo is 72 MB of RGB, twice that while being rotated); what a clip keeps afterwards
/// is a working image of at most 1.3× the output (the clip's largest zoom).
pub const DECODES_IN_FLIGHT: usize = 2;

/// Full ffmpeg argv (without the binary) encoding raw yuv420p frames of `size` read from
/// stdin into the MP4 `output`. Frames are BT.709 limited range, and tagged so.
/// `threads` caps the encoder's threads (`-threads`; see [`clip_plan`]); `None` leaves
/// ffmpeg's default (all cores). The stream parameters are the same either way, so clips
/// encoded with different thread counts still concatenate by stream copy.
pub fn clip_args(output: &Path, (width, height): (u32, u32), fps: u32, encoder: Encoder, threads: Option<usize>) -> Vec<String> {
    let mut a: Vec<String> = ["-hide_banner", "-nostdin", "-y", "-f", "rawvideo", "-pix_fmt", "yuv420p"].map(str::to_owned).to_vec();
    a.extend(["-video_size".to_owned(), format!("{width}x{height}"), "-framerate".to_owned(), fps.to_string()]);
    a.extend(["-i", "-", "-vf", "setsar=1"].map(str::to_owned));
    a.extend(encoder.video_args(fps));
    if let Some(n) = threads {
        a.extend(["-threads".to_owned(), n.to_string()]);
    }
    a.extend(["-color_range", "tv", "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709"].map(str::to_owned));
    a.extend(["-an", "-movflags", "+faststart", "-f", "mp4"].map(str::to_owned));
    a.push(output.display().to_string());
    a
}

/// How a job's clips are rendered: how many at once, and the encoder threads of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClipPlan {
    /// Clips rendered at once (each: one renderer thread feeding one ffmpeg).
    pub in_flight: usize,
    /// `-threads` of each clip's x264; `None`: ffmpeg's default.
    pub threads: Option<usize>,
}

/// What the machine offers a job's clips.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    pub cores: usize,
    /// `RENDER_PARALLELISM`: clips at once at most.
    pub max_in_flight: usize,
    /// `NVENC_MAX_SESSIONS`: encode sessions the GPU allows at once (GeForce cards cap
    /// them; data-centre cards do not).
    pub nvenc_sessions: usize,
    /// Memory the job may use (available memory, or what the container's cgroup
    /// leaves), when known.
    pub memory_bytes: Option<u64>,
}

/// Memory one clip in flight needs at most: x264 keeps its lookahead and reference
/// frames (about 40 frames, plus 8 per frame thread), ffmpeg and the renderer's working
/// image ~96 MiB. Measured at 1080p with libx264 veryfast: 218 MB RSS with one thread,
/// 293 MB with three; this gives 245 and 294.
pub fn clip_memory_bytes((width, height): (u32, u32), threads: usize) -> u64 {
    let frame = u64::from(width) * u64::from(height) * 3 / 2;
    (96 << 20) + frame * (40 + 8 * threads as u64)
}

/// Clips of a batch are rendered in parallel up to the core count: the renderer is one
/// thread per clip, and x264 spends ~15% less CPU per frame on one thread than on three
/// (frame threading has a cost), so `n` clips at once share the cores (`cores / n`
/// threads each). A lone clip keeps ffmpeg's default threads for the lowest latency.
/// Bounded by `RENDER_PARALLELISM`, by NVENC's session limit, and by memory: at most
/// ¾ of `memory_bytes` is planned for clips in flight.
pub fn clip_plan(clips: usize, size: (u32, u32), encoder: Encoder, cap: Capacity) -> ClipPlan {
    let cores = cap.cores.max(1);
    let mut n = clips.min(cap.max_in_flight).min(cores).max(1);
    if encoder == Encoder::Nvenc {
        n = n.min(cap.nvenc_sessions.max(1));
    }
    let threads_for = |n: usize| (cores / n).max(1);
    if let Some(mem) = cap.memory_bytes {
        while n > 1 && clip_memory_bytes(size, threads_for(n)) * n as u64 > mem / 4 * 3 {
            n -= 1;
        }
    }
    let threads = (encoder == Encoder::Libx264 && n > 1).then(|| threads_for(n));
    ClipPlan { in_flight: n, threads }
}

/// ffmpeg argv (without the binary) decoding the first frame of `input` into an RGBA
/// PAM, refusing pictures past [`MAX_IMAGE_PIXELS`] (`-max_pixels`: the PAM is one
/// packet, which `-fs` cannot stop part-way).
pub fn pam_args(input: &Path, pam: &Path) -> Vec<String> {
    let mut a: Vec<String> = ["-hide_banner", "-nostdin", "-y", "-max_pixels"].map(str::to_owned).to_vec();
    a.extend([MAX_IMAGE_PIXELS.to_string(), "-i".into(), input.display().to_string()]);
    a.extend(["-frames:v", "1", "-pix_fmt", "rgba", "-c:v", "pam", "-f", "image2"].map(str::to_owned));
    a.push(pam.display().to_string());
    a
}

/// Decodes the image `input` (named `name` in the job) for the frames of `size` of a
/// `zoom` clip: with the
/// `image` crate, or, when it fails, through ffmpeg (a PAM written next to `input`). A
/// picture past [`MAX_IMAGE_PIXELS`] is `image-too-large` (not retryable), refused
/// before it is decoded.
pub async fn load(
    ffmpeg: &Path,
    name: &str,
    input: &Path,
    size: (u32, u32),
    zoom: ZoomType,
    timeout: Duration,
    cancel: &CancellationToken,
) -> Result<Source, JobError> {
    let too_large = |detail: String| JobError::BadInput {
        name: name.into(),
        code: "image-too-large",
        message: format!("the picture is larger than {MAX_IMAGE_PIXELS} pixels ({detail})"),
    };
    let prepare = move |path: std::path::PathBuf| {
        move || match kenburns::decode(&path) {
            Ok(rgb) => Source::new(&rgb, size, zoom).map_err(Failure::Other),
            Err(e @ image::ImageError::Limits(_)) => Err(Failure::TooLarge(e.to_string())),
            Err(e) => Err(Failure::Other(e.to_string())),
        }
    };
    let first_error = match blocking(cancel, prepare(input.to_path_buf())).await? {
        Ok(source) => return Ok(source),
        Err(Failure::TooLarge(e)) => return Err(too_large(e)),
        Err(Failure::Other(e)) => e,
    };
    let not_media = |detail: String| JobError::InputNotMedia { name: name.into(), stderr_tail: format!("{first_error}\n{detail}") };
    let pam = input.with_extension("pam");
    match process::run_ffmpeg(ffmpeg, &pam_args(input, &pam), timeout, cancel, |_| {}).await {
        Ok(()) => {}
        Err(ProcessError::Cancelled) => return Err(JobError::Cancelled),
        // libavutil's image size check, which `-max_pixels` sets.
        Err(ProcessError::Exited { stderr_tail, .. }) if stderr_tail.contains("exceeds specified max pixel count") => {
            return Err(too_large("its decoder says so".into()));
        }
        Err(ProcessError::Exited { stderr_tail, .. }) => return Err(not_media(stderr_tail)),
        Err(e) => return Err(JobError::Ffmpeg(e)),
    }
    let source = blocking(cancel, prepare(pam.clone())).await;
    let _ = std::fs::remove_file(&pam);
    match source? {
        Ok(source) => Ok(source),
        Err(Failure::TooLarge(e)) => Err(too_large(e)),
        Err(Failure::Other(e)) => Err(not_media(e)),
    }
}

/// Why an image could not be prepared.
enum Failure {
    /// Past the `image` crate's limits.
    TooLarge(String),
    Other(String),
}

/// The stdin feed of [`clip_args`]' ffmpeg: the clip's frames.
pub fn feed(source: Source, size: (u32, u32), zoom: ZoomType, frames: u32, easing: Easing) -> Feed {
    Box::new(move |mut stdin| kenburns::write_clip(&source, size, zoom, frames, easing, &mut stdin))
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
        let args = clip_args(Path::new("/w/out.mp4"), (1920, 1080), 24, Encoder::Libx264, None);
        assert_eq!(
            args.join(" "),
            "-hide_banner -nostdin -y -f rawvideo -pix_fmt yuv420p -video_size 1920x1080 -framerate 24 -i - -vf setsar=1 \
             -c:v libx264 -preset veryfast -crf 20 -sc_threshold 0 -profile:v high -pix_fmt yuv420p -g 48 \
             -color_range tv -colorspace bt709 -color_primaries bt709 -color_trc bt709 -an -movflags +faststart -f mp4 /w/out.mp4"
        );
    }

    #[test]
    fn threads_are_capped_when_asked() {
        let args = clip_args(Path::new("/w/out.mp4"), (1280, 720), 30, Encoder::Libx264, Some(2)).join(" ");
        assert!(args.contains("-g 60 -threads 2 -color_range tv"), "{args}");
    }

    fn cap(cores: usize, memory_bytes: Option<u64>) -> Capacity {
        Capacity { cores, max_in_flight: usize::MAX, nvenc_sessions: 8, memory_bytes }
    }

    #[test]
    fn clips_run_in_parallel_up_to_the_core_count() {
        const HD: (u32, u32) = (1920, 1080);
        let x = Encoder::Libx264;
        // A lone clip: default threads, every core for one encode.
        assert_eq!(clip_plan(1, HD, x, cap(16, None)), ClipPlan { in_flight: 1, threads: None });
        // Fewer clips than cores: the cores shared out.
        assert_eq!(clip_plan(4, HD, x, cap(16, None)), ClipPlan { in_flight: 4, threads: Some(4) });
        assert_eq!(clip_plan(3, HD, x, cap(16, None)), ClipPlan { in_flight: 3, threads: Some(5) });
        // More clips than cores: one per core, one thread each.
        assert_eq!(clip_plan(20, HD, x, cap(2, None)), ClipPlan { in_flight: 2, threads: Some(1) });
        assert_eq!(clip_plan(40, HD, x, cap(16, None)), ClipPlan { in_flight: 16, threads: Some(1) });
        // RENDER_PARALLELISM caps it.
        let capped = Capacity { max_in_flight: 4, ..cap(16, None) };
        assert_eq!(clip_plan(40, HD, x, capped), ClipPlan { in_flight: 4, threads: Some(4) });
        // NVENC: sessions cap it; the encoder's threads are not x264's.
        assert_eq!(clip_plan(40, HD, Encoder::Nvenc, cap(16, None)), ClipPlan { in_flight: 8, threads: None });
        let geforce = Capacity { nvenc_sessions: 3, ..cap(16, None) };
        assert_eq!(clip_plan(40, HD, Encoder::Nvenc, geforce), ClipPlan { in_flight: 3, threads: None });
        // No clip at all still plans one slot (the caller has nothing to run).
        assert_eq!(clip_plan(0, HD, x, cap(16, None)).in_flight, 1);
    }

    #[test]
    fn memory_bounds_clips_in_flight() {
        const HD: (u32, u32) = (1920, 1080);
        let one = clip_memory_bytes(HD, 1);
        assert_eq!(one, (96 << 20) + 1920 * 1080 * 3 / 2 * 48);
        // 16 cores but memory for 5 clips of 3 threads (16 / 5) within ¾ of it; 6 clips
        // of 2 threads would need more.
        let mem = clip_memory_bytes(HD, 3) * 5 * 4 / 3 + 4;
        assert!(clip_memory_bytes(HD, 2) * 6 > mem / 4 * 3);
        let p = clip_plan(40, HD, Encoder::Libx264, cap(16, Some(mem)));
        assert_eq!(p, ClipPlan { in_flight: 5, threads: Some(3) });
        // Plenty of memory: the core count decides.
        assert_eq!(clip_plan(40, HD, Encoder::Libx264, cap(16, Some(one * 100))).in_flight, 16);
        // Too little for even two: one clip, never zero.
        assert_eq!(clip_plan(40, HD, Encoder::Libx264, cap(16, Some(1 << 20))), ClipPlan { in_flight: 1, threads: None });
        // 4K clips need more each, so fewer fit in the same memory.
        let uhd = clip_plan(40, (3840, 2160), Encoder::Libx264, cap(16, Some(mem)));
        assert!(uhd.in_flight < 5, "{uhd:?}");
    }

    #[test]
    fn exact_pam_arguments() {
        assert_eq!(
            pam_args(Path::new("/w/in_0"), Path::new("/w/in_0.pam")).join(" "),
            "-hide_banner -nostdin -y -max_pixels 134217728 -i /w/in_0 -frames:v 1 -pix_fmt rgba -c:v pam -f image2 /w/in_0.pam"
        );
    }
}
