//! Decodes any audio or video file to 16 kHz mono f32 with the ffmpeg binary, blocking
//! (the engine runs on a blocking thread). ffmpeg's stderr is read on its own thread and a
//! bounded tail kept for the error; the child is killed and reaped if reading fails.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};

use super::TranscribeError;
use super::mel::SAMPLE_RATE;

const STDERR_TAIL_BYTES: usize = 2000;

/// The samples of the first audio stream of `path`, resampled by ffmpeg.
pub fn decode(ffmpeg: &Path, path: &Path) -> Result<Vec<f32>, TranscribeError> {
    let mut child = Command::new(ffmpeg)
        .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-i"])
        .arg(path)
        .args(["-map", "0:a:0", "-vn", "-ac", "1", "-ar", &SAMPLE_RATE.to_string(), "-f", "f32le", "-"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| TranscribeError::new("transcribe-failed", format!("could not run {}: {e}", ffmpeg.display())))?;
    let stderr = child.stderr.take().map(|mut err| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = err.read_to_end(&mut buf);
            let from = buf.len().saturating_sub(STDERR_TAIL_BYTES);
            String::from_utf8_lossy(&buf[from..]).trim().to_owned()
        })
    });
    let mut bytes = Vec::new();
    let read = child.stdout.take().map(|mut out| out.read_to_end(&mut bytes));
    if let Some(Err(e)) = read {
        let _ = child.kill();
        let _ = child.wait();
        return Err(TranscribeError::new("transcribe-failed", format!("reading ffmpeg's output: {e}")));
    }
    let status = child.wait().map_err(|e| TranscribeError::new("transcribe-failed", format!("waiting for ffmpeg: {e}")))?;
    let tail = stderr.and_then(|h| h.join().ok()).unwrap_or_default();
    if !status.success() {
        return Err(TranscribeError::new("input-not-media", format!("ffmpeg could not decode the audio ({status}): {tail}")));
    }
    Ok(bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
}
