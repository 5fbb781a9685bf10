//! The ffmpeg path of [`super::stream`]: decodes any audio or video file to 16 kHz mono f32
//! with the ffmpeg binary, blocking (the engine runs on a blocking thread), and hands the
//! samples on piece by piece as they come off the pipe: nothing here holds the whole clip.
//!
//! A watchdog thread kills ffmpeg on cancel or timeout even while a read is blocked.
//! ffmpeg's stderr is read on its own thread, keeping a bounded tail for the error; the
//! child is killed and reaped on every way out.

use std::io::Read;
use std::ops::ControlFlow;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use super::super::mel::SAMPLE_RATE;
use super::{Limits, TranscribeError, max_samples, too_long};

const STDERR_TAIL_BYTES: usize = 2000;
/// Bytes read from the pipe at a time: 1 s of samples.
const READ_BYTES: usize = SAMPLE_RATE * 4;
/// How often the watchdog looks at the cancel flag and the clock.
const WATCH_EVERY: Duration = Duration::from_millis(25);

/// Why ffmpeg was stopped before its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Cancelled,
    TimedOut,
}

/// The running ffmpeg: killed and reaped when dropped, whatever happened.
struct Decoder {
    child: Arc<Mutex<Child>>,
    /// Dropped to stop the watchdog, which wakes at once (it waits on the other end).
    done: Option<mpsc::Sender<()>>,
    watchdog: Option<std::thread::JoinHandle<Option<Stop>>>,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Decoder {
    fn kill(&self) {
        let mut child = self.child.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let _ = child.kill();
    }

    /// Stops the watchdog; what it did, if anything.
    fn stop_watchdog(&mut self) -> Option<Stop> {
        self.done.take();
        self.watchdog.take().and_then(|w| w.join().ok()).flatten()
    }

    fn stderr_tail(&mut self) -> String {
        self.stderr.take().and_then(|h| h.join().ok()).unwrap_or_default()
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        self.stop_watchdog();
        self.kill();
        let mut child = self.child.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let _ = child.wait();
    }
}

fn spawn(ffmpeg: &Path, path: &Path, limits: &Limits) -> Result<(Decoder, std::process::ChildStdout), TranscribeError> {
    let mut child = Command::new(ffmpeg)
        // A local file only: no protocol a crafted container could point elsewhere.
        .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-protocol_whitelist", "file", "-i"])
        .arg(path)
        .args(["-map", "0:a:0", "-vn", "-ac", "1", "-ar", &SAMPLE_RATE.to_string(), "-f", "f32le", "-"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| TranscribeError::new("transcribe-failed", format!("could not run {}: {e}", ffmpeg.display())))?;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take().map(|mut err| std::thread::spawn(move || read_tail(&mut err)));
    let child = Arc::new(Mutex::new(child));
    let (done, stopped) = mpsc::channel::<()>();
    let watchdog = {
        let (child, cancel) = (Arc::clone(&child), limits.cancel.clone());
        let deadline = Instant::now() + limits.decode_timeout;
        std::thread::spawn(move || {
            // Until the decoder drops its end: then at once, not at the next look.
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(WATCH_EVERY) {
                let stop = if cancel.is_cancelled() {
                    Some(Stop::Cancelled)
                } else if Instant::now() >= deadline {
                    Some(Stop::TimedOut)
                } else {
                    None
                };
                if stop.is_some() {
                    let _ = child.lock().unwrap_or_else(std::sync::PoisonError::into_inner).kill();
                    return stop;
                }
            }
            None
        })
    };
    let decoder = Decoder { child, done: Some(done), watchdog: Some(watchdog), stderr };
    let stdout = stdout.ok_or_else(|| TranscribeError::new("transcribe-failed", "ffmpeg's output was not piped"))?;
    Ok((decoder, stdout))
}

/// The last [`STDERR_TAIL_BYTES`] of a stream, read to its end in small pieces.
fn read_tail(from: &mut impl Read) -> String {
    let mut tail = Vec::with_capacity(2 * STDERR_TAIL_BYTES);
    let mut piece = [0u8; 4096];
    while let Ok(n) = from.read(&mut piece) {
        if n == 0 {
            break;
        }
        tail.extend_from_slice(&piece[..n]);
        if tail.len() > 2 * STDERR_TAIL_BYTES {
            tail.drain(..tail.len() - STDERR_TAIL_BYTES);
        }
    }
    let from = tail.len().saturating_sub(STDERR_TAIL_BYTES);
    String::from_utf8_lossy(&tail[from..]).trim().to_owned()
}

/// The error for a decode stopped by the watchdog.
fn stopped(stop: Stop, limits: &Limits) -> TranscribeError {
    match stop {
        Stop::Cancelled => TranscribeError::cancelled(),
        Stop::TimedOut => TranscribeError::new(
            "transcribe-failed",
            format!("ffmpeg was still decoding the audio after {} s (FFMPEG_TIMEOUT_SECS)", limits.decode_timeout.as_secs()),
        ),
    }
}

/// Decodes the first audio stream of `path` with ffmpeg and gives the samples to `sink` in
/// pieces of about a second, in order; returns how many samples it gave ([`super::stream`]
/// says the rest). When the sink answers `Break`, ffmpeg is killed.
pub(super) fn stream(
    ffmpeg: &Path,
    path: &Path,
    limits: &Limits,
    mut sink: impl FnMut(&[f32]) -> ControlFlow<()>,
) -> Result<usize, TranscribeError> {
    let max_samples = max_samples(limits);
    let (mut decoder, mut stdout) = spawn(ffmpeg, path, limits)?;
    let mut bytes = vec![0u8; READ_BYTES];
    // Bytes of an incomplete sample left from the last read.
    let mut held = 0;
    let mut samples = Vec::with_capacity(READ_BYTES / 4);
    let mut total = 0usize;
    loop {
        if limits.cancel.is_cancelled() {
            return Err(TranscribeError::cancelled());
        }
        let n = match stdout.read(&mut bytes[held..]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                decoder.kill();
                if let Some(stop) = decoder.stop_watchdog() {
                    return Err(stopped(stop, limits));
                }
                return Err(TranscribeError::new("transcribe-failed", format!("reading ffmpeg's output: {e}")));
            }
        };
        let filled = held + n;
        let whole = filled / 4 * 4;
        samples.clear();
        samples.extend(bytes[..whole].chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])));
        bytes.copy_within(whole..filled, 0);
        held = filled - whole;
        total += samples.len();
        if total > max_samples {
            decoder.kill();
            return Err(too_long(limits));
        }
        if sink(&samples).is_break() {
            // Dropping the decoder kills ffmpeg: the caller has what it wanted.
            return Ok(total);
        }
    }
    drop(stdout);
    // Polled, so the watchdog can still take the child to kill it.
    let status = loop {
        let exited = decoder.child.lock().unwrap_or_else(std::sync::PoisonError::into_inner).try_wait();
        match exited {
            Ok(Some(status)) => break status,
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(TranscribeError::new("transcribe-failed", format!("waiting for ffmpeg: {e}"))),
        }
    };
    if let Some(stop) = decoder.stop_watchdog() {
        return Err(stopped(stop, limits));
    }
    let tail = decoder.stderr_tail();
    if !status.success() {
        return Err(TranscribeError::new("input-not-media", format!("ffmpeg could not decode the audio ({status}): {tail}")));
    }
    Ok(total)
}
