//! ffmpeg for analysis (never timed): decoding frames, SSIM against a reference fed
//! on stdin, counting frames.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

/// ffmpeg input arguments for a raw yuv420p file.
pub fn raw_input(path: &Path, (w, h): (u32, u32), fps: u32) -> Vec<String> {
    let mut a: Vec<String> = ["-f", "rawvideo", "-pix_fmt", "yuv420p"].map(str::to_owned).to_vec();
    a.extend(["-video_size".into(), format!("{w}x{h}"), "-framerate".into(), fps.to_string(), "-i".into(), path.display().to_string()]);
    a
}

/// ffmpeg input arguments for a media file.
pub fn file_input(path: &Path) -> Vec<String> {
    vec!["-i".into(), path.display().to_string()]
}

/// Decodes `input` to yuv420p frames of `size` and hands each luma plane to `f`;
/// returns the frame count.
pub fn for_each_luma(input: &[String], (w, h): (u32, u32), mut f: impl FnMut(&[u8])) -> anyhow::Result<usize> {
    let mut child = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin"])
        .args(input)
        .args(["-f", "rawvideo", "-pix_fmt", "yuv420p", "-"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("starting ffmpeg")?;
    let mut out = child.stdout.take().context("ffmpeg's stdout")?;
    let len = w as usize * h as usize * 3 / 2;
    let mut frame = vec![0u8; len];
    let mut n = 0;
    loop {
        match out.read_exact(&mut frame) {
            Ok(()) => {
                f(&frame[..w as usize * h as usize]);
                n += 1;
            }
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e.into()),
        }
    }
    let status = child.wait()?;
    if !status.success() {
        bail!("decoding {input:?}: {status}");
    }
    Ok(n)
}

/// SSIM (ffmpeg's `ssim` filter, the `All:` average over frames and planes) of `input`
/// against `frames` reference frames made by `reference(i, buf)` and piped in.
pub fn ssim(
    input: &[String],
    (w, h): (u32, u32),
    fps: u32,
    frames: u32,
    reference: impl Fn(u32, &mut Vec<u8>) + Send + Sync,
) -> anyhow::Result<f64> {
    let mut child = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin"])
        .args(input)
        .args(["-f", "rawvideo", "-pix_fmt", "yuv420p", "-video_size", &format!("{w}x{h}"), "-framerate", &fps.to_string(), "-i", "-"])
        .args(["-lavfi", "[0:v][1:v]ssim", "-f", "null", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting ffmpeg")?;
    let mut stdin = child.stdin.take().context("ffmpeg's stdin")?;
    let mut stderr = child.stderr.take().context("ffmpeg's stderr")?;
    let log = std::thread::scope(|s| {
        s.spawn(move || {
            let mut buf = Vec::new();
            for i in 0..frames {
                reference(i, &mut buf);
                // ffmpeg stops reading when the other input ends first.
                if stdin.write_all(&buf).is_err() {
                    break;
                }
            }
        });
        let mut log = String::new();
        stderr.read_to_string(&mut log).map(|_| log)
    })?;
    let status = child.wait()?;
    if !status.success() {
        bail!("ssim of {input:?}: {status}\n{}", last_lines(&log, 10));
    }
    parse_ssim_all(&log).with_context(|| format!("no SSIM in ffmpeg's output:\n{}", last_lines(&log, 10)))
}

/// The `All:` value of ffmpeg's SSIM summary line.
pub fn parse_ssim_all(log: &str) -> Option<f64> {
    log.lines().rev().find_map(|l| l.split("All:").nth(1)?.split_whitespace().next()?.parse().ok())
}

fn last_lines(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Video frames of `path` (packets counted by ffprobe).
pub fn count_frames(path: &Path) -> anyhow::Result<u64> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-count_packets", "-show_entries", "stream=nb_read_packets", "-of", "csv=p=0"])
        .arg(path)
        .output()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().with_context(|| format!("frames of {}", path.display()))
}

/// Duration in seconds of `path`'s container.
pub fn duration(path: &Path) -> anyhow::Result<f64> {
    let out = Command::new("ffprobe").args(["-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0"]).arg(path).output()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().with_context(|| format!("duration of {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_ssim_summary() {
        let log =
            "frame=  156 fps=...\n[Parsed_ssim_0 @ 0x55d] SSIM Y:0.981234 (17.26) U:0.999 (30.0) V:0.999 (30.1) All:0.987654 (19.08)\n";
        assert_eq!(parse_ssim_all(log), Some(0.987654));
        assert_eq!(parse_ssim_all("nothing"), None);
    }
}
