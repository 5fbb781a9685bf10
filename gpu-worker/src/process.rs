//! The one place subprocesses run: ffmpeg through ffmpeg-sidecar and ffprobe.
//!
//! Every run has a timeout and a cancellation token; on either, the process is killed
//! and reaped. ffmpeg's stderr is read concurrently (sidecar's event channel has zero
//! capacity, so it must always be drained) and a bounded tail is kept for errors.
//! A guard kills the process if the future is dropped, so no ffmpeg outlives its job.

use std::collections::VecDeque;
use std::path::Path;
use std::process::ChildStdin;
use std::time::Duration;

use ffmpeg_sidecar::child::FfmpegChild;
use ffmpeg_sidecar::command::FfmpegCommand;
use ffmpeg_sidecar::event::{FfmpegEvent, LogLevel};
use tokio_util::sync::CancellationToken;

/// Lines of stderr kept for error reports.
const TAIL_LINES: usize = 25;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProcessError {
    #[error("{0} was not found; install ffmpeg or set FFMPEG_BIN/FFPROBE_BIN")]
    NotFound(String),
    #[error("timed out after {}s", after.as_secs())]
    Timeout { after: Duration, stderr_tail: String },
    #[error("cancelled")]
    Cancelled,
    #[error("exited with {}", code.map_or("a signal".to_owned(), |c| format!("code {c}")))]
    Exited { code: Option<i32>, stderr_tail: String },
    /// The kernel refused to start the program: its argv and environment pass the
    /// system's limit (`E2BIG`: 128 KiB for one argument, a few MiB in all). The same
    /// command fails the same way every time, so it is not retried.
    #[error("its argument list is too long to start it ({0})")]
    ArgumentsTooLong(String),
    #[error("I/O error: {0}")]
    Io(String),
}

impl ProcessError {
    pub fn code(&self) -> &'static str {
        match self {
            ProcessError::NotFound(_) => "ffmpeg-not-found",
            ProcessError::Timeout { .. } => "timeout",
            ProcessError::Cancelled => "cancelled",
            ProcessError::Exited { .. } => "ffmpeg-failed",
            ProcessError::ArgumentsTooLong(_) => "ffmpeg-arguments-too-long",
            ProcessError::Io(_) => "ffmpeg-io-error",
        }
    }

    /// The error of starting `bin`: not found, argv too long (`E2BIG`), or other I/O.
    pub fn spawn(bin: &Path, e: &std::io::Error) -> ProcessError {
        /// `E2BIG` on Linux and the BSDs.
        const E2BIG: i32 = 7;
        match e.kind() {
            std::io::ErrorKind::NotFound => ProcessError::NotFound(bin.display().to_string()),
            std::io::ErrorKind::ArgumentListTooLong => ProcessError::ArgumentsTooLong(e.to_string()),
            _ if e.raw_os_error() == Some(E2BIG) => ProcessError::ArgumentsTooLong(e.to_string()),
            _ => ProcessError::Io(e.to_string()),
        }
    }

    pub fn stderr_tail(&self) -> Option<&str> {
        match self {
            ProcessError::Timeout { stderr_tail, .. } | ProcessError::Exited { stderr_tail, .. } => Some(stderr_tail),
            _ => None,
        }
    }
}

/// Kills and reaps the child when dropped (a cancelled or panicking job).
struct KillOnDrop(Option<FfmpegChild>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Protocols an ffmpeg input may open: local files (the downloaded inputs, and what our
/// own concat lists name) and `pipe` (frames fed on stdin, `-i -`). Never the network,
/// `concat:`, `subfile`, `data:` or `crypto`: a downloaded "video" that is a playlist
/// (HLS, an ffconcat script) cannot make ffmpeg fetch URLs or read other schemes.
pub const INPUT_PROTOCOLS: &str = "file,pipe";

/// ffprobe reads one local file.
const PROBE_PROTOCOLS: [&str; 2] = ["-protocol_whitelist", "file"];

/// `args` with `-protocol_whitelist` [`INPUT_PROTOCOLS`] before every `-i` (it is an
/// input option: each input needs its own; demuxers such as concat and HLS pass it on to
/// what they open). Every ffmpeg run goes through here.
pub fn local_inputs_only(args: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len() + 8);
    for a in args {
        if a == "-i" {
            out.extend(["-protocol_whitelist".to_owned(), INPUT_PROTOCOLS.to_owned()]);
        }
        out.push(a.clone());
    }
    out
}

/// Runs ffmpeg with `args` (which should not name the binary). `on_frame` receives the
/// output frame count as ffmpeg reports progress.
pub async fn run_ffmpeg(
    ffmpeg: &Path,
    args: &[String],
    timeout: Duration,
    cancel: &CancellationToken,
    on_frame: impl Fn(u32) + Send + 'static,
) -> Result<(), ProcessError> {
    run(ffmpeg, args, timeout, cancel, on_frame, None).await
}

/// Writes ffmpeg's stdin; runs on a blocking thread, and stdin closes when it returns.
pub type Feed = Box<dyn FnOnce(ChildStdin) -> std::io::Result<()> + Send>;

/// [`run_ffmpeg`] for a command that reads `-i -`: `feed` writes the input (raw frames)
/// into ffmpeg's stdin on a blocking thread while ffmpeg runs; returning closes stdin,
/// which ends the input. A feed that fails with ffmpeg still running (not a broken pipe,
/// which only follows ffmpeg's own failure) kills ffmpeg and is reported as
/// [`ProcessError::Io`]; when ffmpeg fails, its exit and stderr are reported. Timeout,
/// cancellation and kill on drop are those of [`run_ffmpeg`]; a killed ffmpeg breaks the
/// pipe, so the feed stops at its next write.
pub async fn run_ffmpeg_fed(
    ffmpeg: &Path,
    args: &[String],
    timeout: Duration,
    cancel: &CancellationToken,
    on_frame: impl Fn(u32) + Send + 'static,
    feed: Feed,
) -> Result<(), ProcessError> {
    run(ffmpeg, args, timeout, cancel, on_frame, Some(feed)).await
}

/// How a run ended, before the child is reaped.
enum Ending {
    /// ffmpeg closed stderr (exited); its log tail.
    Exited(String),
    FeedFailed(String),
    TimedOut,
    Cancelled,
}

async fn run(
    ffmpeg: &Path,
    args: &[String],
    timeout: Duration,
    cancel: &CancellationToken,
    on_frame: impl Fn(u32) + Send + 'static,
    feed: Option<Feed>,
) -> Result<(), ProcessError> {
    let mut cmd = FfmpegCommand::new_with_path(ffmpeg);
    cmd.args(local_inputs_only(args));
    let mut child = cmd.spawn().map_err(|e| ProcessError::spawn(ffmpeg, &e))?;
    let iter = child.iter().map_err(|e| ProcessError::Io(e.to_string()))?;
    let stdin = if feed.is_some() { child.take_stdin() } else { None };
    let mut guard = KillOnDrop(Some(child));

    // Drain every event on a blocking thread; keep the tail of the log.
    let mut reader = tokio::task::spawn_blocking(move || {
        let mut tail: VecDeque<String> = VecDeque::with_capacity(TAIL_LINES);
        let mut keep = |line: String| {
            if tail.len() == TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(line);
        };
        for event in iter {
            match event {
                FfmpegEvent::Progress(p) => on_frame(p.frame),
                FfmpegEvent::Log(LogLevel::Info, line) if line.starts_with("frame=") => {}
                FfmpegEvent::Log(_, line) => keep(line),
                FfmpegEvent::Error(e) => keep(e),
                _ => {}
            }
        }
        tail.into_iter().collect::<Vec<_>>().join("\n")
    });
    let mut feeder = match (feed, stdin) {
        (Some(feed), Some(stdin)) => Some(tokio::task::spawn_blocking(move || feed(stdin))),
        (Some(_), None) => return Err(ProcessError::Io("ffmpeg's stdin is not piped".into())),
        (None, _) => None,
    };
    // The feed's result once it returned: Ok, or the error of a feed ffmpeg stopped reading.
    let mut fed: Option<Result<(), String>> = None;

    let sleep = tokio::time::sleep(timeout);
    tokio::pin!(sleep);
    let ending = loop {
        tokio::select! {
            tail = &mut reader => break Ending::Exited(tail.unwrap_or_default()),
            r = async { match feeder.as_mut() { Some(h) => h.await, None => std::future::pending().await } }, if feeder.is_some() => {
                feeder = None;
                match r {
                    Ok(Ok(())) => fed = Some(Ok(())),
                    Ok(Err(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => fed = Some(Err(e.to_string())),
                    Ok(Err(e)) => break Ending::FeedFailed(e.to_string()),
                    Err(e) => break Ending::FeedFailed(e.to_string()),
                }
            }
            () = &mut sleep => break Ending::TimedOut,
            () = cancel.cancelled() => break Ending::Cancelled,
        }
    };
    let mut child = guard.0.take().ok_or_else(|| ProcessError::Io("child vanished".into()))?;
    match ending {
        Ending::Exited(tail) => {
            let status = tokio::task::spawn_blocking(move || child.wait())
                .await
                .map_err(|e| ProcessError::Io(e.to_string()))?
                .map_err(|e| ProcessError::Io(e.to_string()))?;
            if !status.success() {
                return Err(ProcessError::Exited { code: status.code(), stderr_tail: tail });
            }
            // ffmpeg exits after reading stdin to its end; the feed is done or about to be.
            if let Some(handle) = feeder {
                fed = Some(match handle.await {
                    Ok(r) => r.map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                });
            }
            match fed {
                Some(Err(e)) => Err(ProcessError::Io(format!("ffmpeg exited before reading all of its input: {e}"))),
                _ => Ok(()),
            }
        }
        other => {
            let _ = child.kill();
            let tail = reader.await.unwrap_or_default();
            let _ = tokio::task::spawn_blocking(move || child.wait()).await;
            match other {
                Ending::TimedOut => Err(ProcessError::Timeout { after: timeout, stderr_tail: tail }),
                Ending::FeedFailed(e) => Err(ProcessError::Io(format!("feeding ffmpeg: {e}"))),
                _ => Err(ProcessError::Cancelled),
            }
        }
    }
}

/// Bytes of stderr [`run_capture`] keeps: the end, where analysis filters print their
/// summaries. A file that makes ffmpeg warn on every packet cannot fill memory.
pub const CAPTURE_BYTES: usize = 64 << 10;

/// Runs an analysis command (ffmpeg writing to `-f null`) and returns the last
/// [`CAPTURE_BYTES`] of its stderr (from a line start), where ffmpeg's analysis filters
/// print their results. stderr is read as it comes, so memory stays bounded.
pub async fn run_capture(bin: &Path, args: &[String], timeout: Duration) -> Result<String, ProcessError> {
    use tokio::io::AsyncReadExt;
    let mut cmd = tokio::process::Command::new(bin);
    cmd.args(local_inputs_only(args))
        .kill_on_drop(true)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| ProcessError::spawn(bin, &e))?;
    let mut stderr = child.stderr.take().ok_or_else(|| ProcessError::Io("stderr is not piped".into()))?;
    let run = async {
        let (mut kept, mut buf) = (VecDeque::<u8>::with_capacity(CAPTURE_BYTES), vec![0u8; 8192]);
        let mut cut = false;
        loop {
            let n = stderr.read(&mut buf).await.map_err(|e| ProcessError::Io(e.to_string()))?;
            if n == 0 {
                break;
            }
            kept.extend(&buf[..n]);
            if kept.len() > CAPTURE_BYTES {
                kept.drain(..kept.len() - CAPTURE_BYTES);
                cut = true;
            }
        }
        let status = child.wait().await.map_err(|e| ProcessError::Io(e.to_string()))?;
        let mut bytes = Vec::from(kept);
        if cut && let Some(nl) = bytes.iter().position(|b| *b == b'\n') {
            bytes.drain(..=nl);
        }
        Ok::<_, ProcessError>((status, String::from_utf8_lossy(&bytes).into_owned()))
    };
    // On timeout `run` is dropped, and with it the child: killed (`kill_on_drop`).
    let (status, stderr) = match tokio::time::timeout(timeout, run).await {
        Err(_) => return Err(ProcessError::Timeout { after: timeout, stderr_tail: String::new() }),
        Ok(r) => r?,
    };
    if status.success() { Ok(stderr) } else { Err(ProcessError::Exited { code: status.code(), stderr_tail: tail_of(&stderr) }) }
}

/// Runs a helper command (e.g. `fc-match`) and returns its stdout.
pub async fn run_stdout(bin: &str, args: &[&str], timeout: Duration) -> Result<String, ProcessError> {
    let mut cmd = tokio::process::Command::new(bin);
    cmd.args(args).kill_on_drop(true).stdin(std::process::Stdio::null());
    match tokio::time::timeout(timeout, cmd.output()).await {
        Err(_) => Err(ProcessError::Timeout { after: timeout, stderr_tail: String::new() }),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => Err(ProcessError::NotFound(bin.to_owned())),
        Ok(Err(e)) => Err(ProcessError::Io(e.to_string())),
        Ok(Ok(out)) if out.status.success() => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
        Ok(Ok(out)) => Err(ProcessError::Exited { code: out.status.code(), stderr_tail: tail_of(&String::from_utf8_lossy(&out.stderr)) }),
    }
}

/// Runs ffprobe with `args` (e.g. a packet listing) and returns its stdout; the error
/// carries its stderr.
pub async fn probe_stdout(ffprobe: &Path, args: &[String], timeout: Duration) -> Result<String, ProcessError> {
    let mut cmd = tokio::process::Command::new(ffprobe);
    cmd.args(PROBE_PROTOCOLS).args(args).kill_on_drop(true).stdin(std::process::Stdio::null());
    match tokio::time::timeout(timeout, cmd.output()).await {
        Err(_) => Err(ProcessError::Timeout { after: timeout, stderr_tail: String::new() }),
        Ok(Err(e)) => Err(ProcessError::spawn(ffprobe, &e)),
        Ok(Ok(out)) if out.status.success() => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
        Ok(Ok(out)) => Err(ProcessError::Exited { code: out.status.code(), stderr_tail: tail_of(&String::from_utf8_lossy(&out.stderr)) }),
    }
}

/// What ffprobe says about a file.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct Probe {
    #[serde(default)]
    pub streams: Vec<ProbeStream>,
    #[serde(default)]
    pub format: ProbeFormat,
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct ProbeStream {
    #[serde(default)]
    pub codec_type: String,
    #[serde(default)]
    pub codec_name: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub sample_aspect_ratio: Option<String>,
    pub nb_read_packets: Option<String>,
    pub duration: Option<String>,
    pub pix_fmt: Option<String>,
    pub profile: Option<String>,
    /// `24/1`, `30000/1001`, …
    pub r_frame_rate: Option<String>,
    pub sample_rate: Option<String>,
    pub channels: Option<u32>,
    /// Seconds; an MP3's is its encoder delay, which ffmpeg skips when decoding.
    pub start_time: Option<String>,
}

impl ProbeStream {
    /// Frames per second from `r_frame_rate`.
    pub fn fps(&self) -> Option<f64> {
        let (n, d) = self.r_frame_rate.as_deref()?.split_once('/')?;
        let (n, d): (f64, f64) = (n.parse().ok()?, d.parse().ok()?);
        (n > 0.0 && d > 0.0).then(|| n / d)
    }

    /// Square pixels are reported as `1:1` or not at all.
    pub fn square_pixels(&self) -> bool {
        matches!(self.sample_aspect_ratio.as_deref(), None | Some("1:1") | Some("0:1"))
    }
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct ProbeFormat {
    pub duration: Option<String>,
    /// Bytes of the file, as ffprobe read it: checks a claimed duration against.
    pub size: Option<String>,
    pub format_name: Option<String>,
}

impl Probe {
    pub fn video(&self) -> Option<&ProbeStream> {
        self.streams.iter().find(|s| s.codec_type == "video")
    }

    pub fn audio(&self) -> Option<&ProbeStream> {
        self.streams.iter().find(|s| s.codec_type == "audio")
    }

    pub fn duration(&self) -> Option<f64> {
        self.format.duration.as_deref().and_then(|d| d.parse().ok())
    }

    /// Seconds of sound a decoder gives: the file's duration, less an MP3's encoder delay
    /// (its audio stream's `start_time`), which ffprobe counts and decoders skip — a 12.000 s
    /// MP3 probes as 12.024 s. What a video laid over this audio must last.
    pub fn audio_duration(&self) -> Option<f64> {
        let d = self.duration()?;
        let is_mp3 = self.format.format_name.as_deref().is_some_and(|f| f.split(',').any(|n| n == "mp3"));
        let delay = self.audio().and_then(|a| a.start_time.as_deref()?.parse::<f64>().ok()).filter(|s| is_mp3 && *s > 0.0 && *s < 1.0);
        Some(d - delay.unwrap_or(0.0))
    }
}

/// Runs ffprobe on `path` (streams, format, packet counts). The error carries
/// ffprobe's stderr, which is what a user needs when the input is not media.
pub async fn probe(ffprobe: &Path, path: &Path, timeout: Duration) -> Result<Probe, ProcessError> {
    let mut cmd = tokio::process::Command::new(ffprobe);
    cmd.args(PROBE_PROTOCOLS)
        .args(["-v", "error", "-count_packets", "-print_format", "json", "-show_streams", "-show_format"])
        .arg(path)
        .kill_on_drop(true)
        .stdin(std::process::Stdio::null());
    let out = match tokio::time::timeout(timeout, cmd.output()).await {
        Err(_) => return Err(ProcessError::Timeout { after: timeout, stderr_tail: String::new() }),
        Ok(Err(e)) => return Err(ProcessError::spawn(ffprobe, &e)),
        Ok(Ok(out)) => out,
    };
    let stderr_tail = tail_of(&String::from_utf8_lossy(&out.stderr));
    if !out.status.success() {
        return Err(ProcessError::Exited { code: out.status.code(), stderr_tail });
    }
    serde_json::from_slice(&out.stdout)
        .map_err(|e| ProcessError::Exited { code: Some(0), stderr_tail: format!("unreadable ffprobe output: {e}") })
}

fn tail_of(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_owned).collect()
    }

    #[test]
    fn every_input_is_limited_to_local_files_and_pipes() {
        assert_eq!(
            local_inputs_only(&argv("-y -f concat -safe 0 -i /w/l.txt -hwaccel cuda -i /w/v.mp4 -f rawvideo -i - -map 0 /w/o.mp4"))
                .join(" "),
            "-y -f concat -safe 0 -protocol_whitelist file,pipe -i /w/l.txt -hwaccel cuda -protocol_whitelist file,pipe -i /w/v.mp4 \
             -f rawvideo -protocol_whitelist file,pipe -i - -map 0 /w/o.mp4"
        );
        assert_eq!(local_inputs_only(&argv("-version")), argv("-version"));
    }

    #[test]
    fn spawn_errors_are_classified() {
        let bin = Path::new("/usr/bin/ffmpeg");
        let e2big = ProcessError::spawn(bin, &std::io::Error::from_raw_os_error(7));
        assert_eq!(e2big.code(), "ffmpeg-arguments-too-long");
        assert!(matches!(ProcessError::spawn(bin, &std::io::Error::from(std::io::ErrorKind::NotFound)), ProcessError::NotFound(_)));
        assert!(matches!(ProcessError::spawn(bin, &std::io::Error::other("x")), ProcessError::Io(_)));
    }

    /// A filtergraph over the kernel's 128 KiB limit for one argument: ffmpeg cannot
    /// start, every time; the job fails for good, not into the retry queue.
    #[tokio::test]
    async fn an_argument_list_too_long_is_not_retryable() {
        let args = vec!["-filter_complex".to_owned(), "a".repeat(200 * 1024)];
        let e = run_ffmpeg(Path::new("ffmpeg"), &args, Duration::from_secs(10), &CancellationToken::new(), |_| {}).await.unwrap_err();
        assert!(matches!(e, ProcessError::ArgumentsTooLong(_)), "{e:?}");
        let job = crate::error::JobError::Ffmpeg(e);
        assert_eq!((job.code(), job.is_retryable()), ("ffmpeg-arguments-too-long", false));
        let e = run_capture(Path::new("ffmpeg"), &args, Duration::from_secs(10)).await.unwrap_err();
        assert!(matches!(e, ProcessError::ArgumentsTooLong(_)), "{e:?}");
    }
}
