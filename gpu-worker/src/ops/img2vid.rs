//! img2vid: one Ken Burns clip per image.
//!
//! The clip is exactly `frames` frames at `fps`, `width`×`height`, square pixels,
//! zoom centred on the image. The image is first scaled to cover the output at
//! [`SUPERSAMPLE`]× and centre-cropped to the output's aspect, so any input size or
//! aspect works; zoompan then moves a crop box over it. zoompan positions are whole
//! pixels of the supersampled image, i.e. 1/SUPERSAMPLE px of output. Transparent
//! pixels (PNG with alpha) are premultiplied, i.e. composited over black, instead of
//! showing whatever color they happen to store. EXIF orientation is applied by ffmpeg's
//! JPEG decoder (tested in tests/ops.rs).
//! (The sub-pixel Rust renderer replaces this graph in the performance issue.)

use std::path::Path;

use job_spec::ZoomType;

use crate::encoder::Encoder;

/// How much larger than the output the image is resampled before zoompan.
pub const SUPERSAMPLE: u32 = 2;
/// Zoom at the far end of zoomin/zoomout.
pub const MAX_ZOOM: f64 = 1.3;
/// Constant zoom while panning right.
pub const PAN_ZOOM: f64 = 1.2;

/// zoompan's `z`, `x`, `y` expressions for a motion over `frames` frames.
/// `on` is the output frame index; progress runs 0 → 1 over the clip.
pub fn zoom_exprs(zoom: ZoomType, frames: u32) -> (String, String, String) {
    let last = frames.saturating_sub(1).max(1);
    let progress = format!("on/{last}");
    let centre_x = "iw/2-iw/zoom/2".to_owned();
    let centre_y = "ih/2-ih/zoom/2".to_owned();
    let span = MAX_ZOOM - 1.0;
    match zoom {
        ZoomType::Zoomin => (format!("1+{span:.3}*{progress}"), centre_x, centre_y),
        ZoomType::Zoomout => (format!("{MAX_ZOOM:.3}-{span:.3}*{progress}"), centre_x, centre_y),
        ZoomType::Zoompanright => (format!("{PAN_ZOOM:.3}"), format!("(iw-iw/zoom)*{progress}"), centre_y),
    }
}

/// The filtergraph from the decoded image to yuv420p frames.
pub fn filtergraph(zoom: ZoomType, frames: u32, width: u32, height: u32, fps: u32) -> String {
    let (sw, sh) = (width * SUPERSAMPLE, height * SUPERSAMPLE);
    let (z, x, y) = zoom_exprs(zoom, frames);
    format!(
        "format=rgba,premultiply=inplace=1,scale={sw}:{sh}:force_original_aspect_ratio=increase:flags=lanczos,crop={sw}:{sh},setsar=1,\
         zoompan=z='{z}':x='{x}':y='{y}':d={frames}:s={width}x{height}:fps={fps},setsar=1,format=yuv420p"
    )
}

/// Full ffmpeg argv (without the binary) for one clip.
pub fn clip_args(
    input: &Path,
    output: &Path,
    zoom: ZoomType,
    frames: u32,
    (width, height): (u32, u32),
    fps: u32,
    encoder: Encoder,
) -> Vec<String> {
    let mut a: Vec<String> = ["-hide_banner", "-nostdin", "-y", "-i"].into_iter().map(str::to_owned).collect();
    a.push(input.display().to_string());
    a.extend(["-vf".to_owned(), filtergraph(zoom, frames, width, height, fps)]);
    a.extend(["-frames:v".to_owned(), frames.to_string(), "-r".to_owned(), fps.to_string()]);
    a.extend(encoder.video_args(fps));
    a.extend(["-an", "-movflags", "+faststart", "-f", "mp4"].into_iter().map(str::to_owned));
    a.push(output.display().to_string());
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zoom_expressions() {
        assert_eq!(zoom_exprs(ZoomType::Zoomin, 121), ("1+0.300*on/120".into(), "iw/2-iw/zoom/2".into(), "ih/2-ih/zoom/2".into()));
        assert_eq!(zoom_exprs(ZoomType::Zoomout, 2).0, "1.300-0.300*on/1");
        assert_eq!(zoom_exprs(ZoomType::Zoompanright, 1), ("1.200".into(), "(iw-iw/zoom)*on/1".into(), "ih/2-ih/zoom/2".into()));
    }

    #[test]
    fn exact_clip_arguments() {
        let args = clip_args(Path::new("/w/in.jpg"), Path::new("/w/out.mp4"), ZoomType::Zoomin, 48, (1920, 1080), 24, Encoder::Libx264);
        assert_eq!(
            args.join(" "),
            "-hide_banner -nostdin -y -i /w/in.jpg -vf \
             format=rgba,premultiply=inplace=1,scale=3840:2160:force_original_aspect_ratio=increase:flags=lanczos,crop=3840:2160,setsar=1,\
             zoompan=z='1+0.300*on/47':x='iw/2-iw/zoom/2':y='ih/2-ih/zoom/2':d=48:s=1920x1080:fps=24,setsar=1,format=yuv420p \
             -frames:v 48 -r 24 -c:v libx264 -preset veryfast -crf 20 -sc_threshold 0 -profile:v high -pix_fmt yuv420p -g 48 \
             -an -movflags +faststart -f mp4 /w/out.mp4"
        );
    }
}
