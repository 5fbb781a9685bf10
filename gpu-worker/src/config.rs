//! One typed configuration for the worker: defaults in code, environment overrides,
//! checked at start-up.

use std::path::PathBuf;
use std::time::Duration;

use crate::encoder::EncoderChoice;
use crate::transcribe::models::ComputeType;

#[derive(Debug, Clone)]
pub struct Config {
    /// ffmpeg binary (`FFMPEG_BIN`, default `ffmpeg` on PATH).
    pub ffmpeg: PathBuf,
    /// ffprobe binary (`FFPROBE_BIN`, default `ffprobe` on PATH).
    pub ffprobe: PathBuf,
    /// Root of per-job work dirs (`WORK_DIR`; default `/dev/shm` when it has 2 GiB
    /// free, else the system temp dir).
    pub work_root: PathBuf,
    /// `ENCODER`: `auto` (NVENC when it works, else libx264), `libx264`, `h264_nvenc`.
    pub encoder: EncoderChoice,
    /// `HWACCEL`: `auto` (default) uses `-hwaccel cuda` for video inputs when a probe at
    /// start decodes with it; `off` never does.
    pub cuda_decode: bool,
    /// Local development only (`ALLOW_LOOPBACK_HTTP=1`): inputs and uploads may use
    /// http:// on loopback (the local S3 server).
    pub allow_loopback_http: bool,
    /// Largest input accepted (`MAX_INPUT_BYTES`, default 2 GiB).
    pub max_input_bytes: u64,
    /// Bytes one job may download in all (`MAX_JOB_INPUT_BYTES`, default 8 GiB): its
    /// parallel downloads share one count, charged before each chunk is written, so the
    /// work dir never holds more (inputs land in `/dev/shm`, RAM charged to the container).
    /// Crossing it fails the job, not retried (`job-inputs-too-large`).
    pub max_job_input_bytes: u64,
    /// Free space a job needs on the work dir's file system to start
    /// (`MIN_FREE_WORK_BYTES`, default 1 GiB); below it the job fails retryably
    /// (`insufficient-disk`) before downloading anything.
    pub min_free_work_bytes: u64,
    /// Longest one input's download may take, every attempt together
    /// (`DOWNLOAD_DEADLINE_SECS`, default 600): the read timeout alone never ends a
    /// server that sends a byte now and then (`input-download-timeout`, not retried).
    pub download_deadline: Duration,
    /// Downloads and uploads in flight per job (`TRANSFER_PARALLELISM`, default 4).
    pub transfer_parallelism: usize,
    /// Clips rendered at once per job at most (`RENDER_PARALLELISM`, default: the
    /// number of cores); memory and NVENC sessions may lower it
    /// ([`crate::ops::img2vid::clip_plan`]).
    pub render_parallelism: usize,
    /// NVENC encode sessions the GPU allows at once (`NVENC_MAX_SESSIONS`, default 8,
    /// GeForce drivers' limit; data-centre GPUs have none).
    pub nvenc_sessions: usize,
    /// Hard limit for one ffmpeg run (`FFMPEG_TIMEOUT_SECS`, default 1800).
    pub ffmpeg_timeout: Duration,
    /// Connect/read timeout of transfers (`HTTP_TIMEOUT_SECS`, default 60).
    pub http_timeout: Duration,
    /// Longest an input may claim to last (`MAX_MEDIA_SECONDS`, default 6 h, the
    /// edge's limit); a probed duration past it is refused, not trusted
    /// ([`crate::single::checked_secs`]).
    pub max_media_secs: f64,
    /// Largest file one ffmpeg run may write (`MAX_OUTPUT_BYTES`, default 8 GiB; every
    /// output: single-output jobs, img2vid clips, renders, the segmenter's master): `-fs`, and an output that reaches it is refused
    /// (`output-too-large`) rather than uploaded cut short.
    pub max_output_bytes: u64,
    /// Seed 004's public-read fallback for `s3://` inputs of direct RunPod payloads
    /// (`R2_PUBLIC_BASE_URL`, `R2_PUBLIC_BUCKET`); `None` (the default): `s3://` inputs
    /// answer `no-storage-credentials`.
    pub public_inputs: Option<PublicInputs>,
    /// What Whisper computes in (`WHISPER_COMPUTE_TYPE`): `float32` (default), `int8` or
    /// `int8_float32` on a CPU build; `float16` (default), `int8_float16`, `int8`,
    /// `float32`, `int8_float32`, `bfloat16` or `int8_bfloat16` on the CUDA build.
    pub whisper_compute_type: ComputeType,
    /// Windows decoded per call for long audio with VAD (`WHISPER_BATCH_SIZE`, default 8;
    /// 0 or 1: window after window). See [`crate::transcribe::BATCH_MIN_SECONDS`].
    pub whisper_batch_size: usize,
    /// `/video/transcribe_youtube`: where YouTube is and how it is asked
    /// (`YOUTUBE_BASE_URL`, `YOUTUBE_CLIENT`, `YOUTUBE_CLIENT_VERSION`,
    /// `YOUTUBE_FALLBACK_CLIENT`, `YOUTUBE_FALLBACK_CLIENT_VERSION`, `YOUTUBE_PROXY`).
    pub youtube: YoutubeConfig,
}

/// An innertube client the player endpoint is asked as: its `clientName` and
/// `clientVersion`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YoutubeClient {
    pub name: String,
    pub version: String,
}

/// How `/video/transcribe_youtube` reaches YouTube.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YoutubeConfig {
    /// `YOUTUBE_BASE_URL` (default `https://www.youtube.com`): the player endpoint is
    /// `<base>/youtubei/v1/player`; tests point it at loopback.
    pub base_url: url::Url,
    /// `YOUTUBE_CLIENT` / `YOUTUBE_CLIENT_VERSION` (default `ANDROID` `21.02.35`, yt-dlp's
    /// `android` client entry).
    pub client: YoutubeClient,
    /// Asked when the first answers HTTP 400 or lists no caption track:
    /// `YOUTUBE_FALLBACK_CLIENT` / `YOUTUBE_FALLBACK_CLIENT_VERSION` (default `ANDROID_VR`
    /// `1.71.26`, yt-dlp's `android_vr`); `YOUTUBE_FALLBACK_CLIENT=none`: no second client.
    pub fallback: Option<YoutubeClient>,
    /// `YOUTUBE_PROXY`: an `http://`, `https://`, `socks5://` or `socks5h://` proxy for
    /// both requests (a blocked address is YouTube's commonest refusal); none by default.
    pub proxy: Option<String>,
}

impl Default for YoutubeConfig {
    fn default() -> Self {
        YoutubeConfig::from_vars(|_| None).unwrap_or_else(|e| unreachable!("the defaults are valid: {e}"))
    }
}

impl YoutubeConfig {
    pub const DEFAULT_BASE_URL: &'static str = "https://www.youtube.com";
    pub const DEFAULT_CLIENT: (&'static str, &'static str) = ("ANDROID", "21.02.35");
    pub const DEFAULT_FALLBACK: (&'static str, &'static str) = ("ANDROID_VR", "1.71.26");

    /// Reads the `YOUTUBE_*` variables through `var` (empty counts as unset).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<YoutubeConfig, String> {
        let var = |k: &str| var(k).filter(|v| !v.trim().is_empty());
        let raw = var("YOUTUBE_BASE_URL").unwrap_or_else(|| Self::DEFAULT_BASE_URL.into());
        let fix = "set it to YouTube's origin (https://www.youtube.com) or unset it";
        let base_url = url::Url::parse(&raw).map_err(|e| format!("YOUTUBE_BASE_URL={raw:?} is not a URL ({e}); {fix}"))?;
        if !matches!(base_url.scheme(), "http" | "https") || base_url.host().is_none() || base_url.query().is_some() {
            return Err(format!("YOUTUBE_BASE_URL={raw:?} is not an http(s) origin; {fix}"));
        }
        let client = |name_var: &str, version_var: &str, (name, version): (&str, &str)| -> Result<YoutubeClient, String> {
            let n = var(name_var).unwrap_or_else(|| name.into());
            let v = var(version_var).unwrap_or_else(|| if n == name { version.into() } else { String::new() });
            let ok = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
            if !ok(&n) {
                return Err(format!("{name_var}={n:?}: give an innertube client name such as {name}"));
            }
            if !ok(&v) {
                return Err(format!("{version_var}={v:?}: give the version of client {n} (e.g. {version} for {name})"));
            }
            Ok(YoutubeClient { name: n, version: v })
        };
        let primary = client("YOUTUBE_CLIENT", "YOUTUBE_CLIENT_VERSION", Self::DEFAULT_CLIENT)?;
        let fallback = match var("YOUTUBE_FALLBACK_CLIENT").as_deref() {
            Some("none") => None,
            _ => Some(client("YOUTUBE_FALLBACK_CLIENT", "YOUTUBE_FALLBACK_CLIENT_VERSION", Self::DEFAULT_FALLBACK)?),
        }
        .filter(|f| *f != primary);
        let proxy = match var("YOUTUBE_PROXY") {
            None => None,
            Some(p) => {
                let u = url::Url::parse(&p)
                    .map_err(|e| format!("YOUTUBE_PROXY is not a URL ({e}); give http://host:port or socks5://host:port"))?;
                if !matches!(u.scheme(), "http" | "https" | "socks5" | "socks5h") || u.host().is_none() {
                    return Err("YOUTUBE_PROXY: use an http://, https://, socks5:// or socks5h:// proxy URL".into());
                }
                Some(p)
            }
        };
        Ok(YoutubeConfig { base_url, client: primary, fallback, proxy })
    }
}

/// `s3://<bucket>/<key>` read as `GET <base>/<key>`, for the buckets allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicInputs {
    /// `R2_PUBLIC_BASE_URL`, without a trailing `/`.
    pub base: String,
    /// `R2_PUBLIC_BUCKET`: only this bucket maps; `None`: every bucket does.
    pub bucket: Option<String>,
}

impl PublicInputs {
    /// Checks the two variables: a base that is not an http(s) URL, or a bucket without
    /// a base, is a configuration error.
    pub fn from_parts(base: Option<&str>, bucket: Option<&str>) -> Result<Option<PublicInputs>, String> {
        let Some(base) = base else {
            return match bucket {
                Some(b) => Err(format!("R2_PUBLIC_BUCKET={b:?} without R2_PUBLIC_BASE_URL: set the base URL or unset the bucket")),
                None => Ok(None),
            };
        };
        let fix = "set it to the public http(s) base that serves the bucket's keys, e.g. https://videos.example.com, or unset it";
        let url = url::Url::parse(base).map_err(|e| format!("R2_PUBLIC_BASE_URL={base:?} is not a URL ({e}); {fix}"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(format!("R2_PUBLIC_BASE_URL={base:?} is not an http(s) URL; {fix}"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!("R2_PUBLIC_BASE_URL={base:?} has a query or fragment; {fix}"));
        }
        Ok(Some(PublicInputs { base: base.trim_end_matches('/').to_owned(), bucket: bucket.map(str::to_owned) }))
    }
}

/// The largest `WHISPER_BATCH_SIZE`: each window in a batch holds its encoder output
/// (1500 × the model's width in floats: 7.7 MB for large-v3) and its beams' decoder state.
const MAX_WHISPER_BATCH_SIZE: u64 = 64;

impl Config {
    pub fn from_env() -> Result<Config, String> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let num = |k: &str, default: u64| -> Result<u64, String> {
            match env(k) {
                None => Ok(default),
                Some(v) => v.parse().map_err(|_| format!("{k}={v:?} is not a whole number; unset it or give a number")),
            }
        };
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let encoder = match env("ENCODER").as_deref() {
            None | Some("auto") => EncoderChoice::Auto,
            Some("libx264") => EncoderChoice::Libx264,
            Some("h264_nvenc") => EncoderChoice::Nvenc,
            Some(other) => return Err(format!("ENCODER={other:?}: use auto, libx264 or h264_nvenc")),
        };
        let work_root = match env("WORK_DIR") {
            Some(d) => PathBuf::from(d),
            None => default_work_root(),
        };
        std::fs::create_dir_all(&work_root)
            .map_err(|e| format!("WORK_DIR {}: {e}; point WORK_DIR at a writable folder", work_root.display()))?;
        Ok(Config {
            ffmpeg: env("FFMPEG_BIN").unwrap_or_else(|| "ffmpeg".into()).into(),
            ffprobe: env("FFPROBE_BIN").unwrap_or_else(|| "ffprobe".into()).into(),
            work_root,
            encoder,
            cuda_decode: match env("HWACCEL").as_deref() {
                None | Some("auto") => true,
                Some("off") => false,
                Some(other) => return Err(format!("HWACCEL={other:?}: use auto or off")),
            },
            allow_loopback_http: matches!(env("ALLOW_LOOPBACK_HTTP").as_deref(), Some("1" | "true")),
            max_input_bytes: num("MAX_INPUT_BYTES", 2 << 30)?,
            max_job_input_bytes: num("MAX_JOB_INPUT_BYTES", 8 << 30)?,
            min_free_work_bytes: num("MIN_FREE_WORK_BYTES", 1 << 30)?,
            download_deadline: Duration::from_secs(num("DOWNLOAD_DEADLINE_SECS", 600)?.max(1)),
            transfer_parallelism: num("TRANSFER_PARALLELISM", 4)?.max(1) as usize,
            render_parallelism: num("RENDER_PARALLELISM", cores as u64)?.max(1) as usize,
            nvenc_sessions: num("NVENC_MAX_SESSIONS", 8)?.max(1) as usize,
            ffmpeg_timeout: Duration::from_secs(num("FFMPEG_TIMEOUT_SECS", 1800)?),
            http_timeout: Duration::from_secs(num("HTTP_TIMEOUT_SECS", 60)?),
            max_media_secs: match env("MAX_MEDIA_SECONDS") {
                None => job_spec::limits::MAX_MEDIA_SECONDS,
                Some(v) => v
                    .parse::<f64>()
                    .ok()
                    .filter(|s| s.is_finite() && *s >= 1.0)
                    .ok_or_else(|| format!("MAX_MEDIA_SECONDS={v:?} is not a number of seconds ≥ 1; unset it (6 h) or give one"))?,
            },
            max_output_bytes: num("MAX_OUTPUT_BYTES", 8 << 30)?.max(1 << 20),
            public_inputs: PublicInputs::from_parts(env("R2_PUBLIC_BASE_URL").as_deref(), env("R2_PUBLIC_BUCKET").as_deref())?,
            whisper_compute_type: match env("WHISPER_COMPUTE_TYPE") {
                None => ComputeType::default(),
                Some(v) => ComputeType::parse(&v, cfg!(feature = "cuda"))?,
            },
            whisper_batch_size: match num("WHISPER_BATCH_SIZE", crate::transcribe::DEFAULT_BATCH_SIZE as u64)? {
                n if n <= MAX_WHISPER_BATCH_SIZE => n as usize,
                n => {
                    return Err(format!(
                        "WHISPER_BATCH_SIZE={n} is more windows than one call should hold; use 0 or 1 (sequential) up to {MAX_WHISPER_BATCH_SIZE}"
                    ));
                }
            },
            youtube: YoutubeConfig::from_vars(env)?,
        })
    }
}

/// `/dev/shm` keeps media in RAM when it has room (RunPod containers give it a few GiB).
fn default_work_root() -> PathBuf {
    let shm = PathBuf::from("/dev/shm");
    if shm.is_dir() && free_bytes(&shm).is_some_and(|b| b >= 2 << 30) {
        shm.join("gpu-worker")
    } else {
        std::env::temp_dir().join("gpu-worker")
    }
}

/// Bytes an unprivileged process may still write on `path`'s file system (statvfs's
/// `f_bavail × f_frsize`; rustix keeps the crate free of unsafe code).
pub fn free_bytes(path: &std::path::Path) -> Option<u64> {
    let st = rustix::fs::statvfs(path).ok()?;
    Some(st.f_bavail.saturating_mul(st.f_frsize))
}

/// Memory a job may still use: the smaller of the kernel's `MemAvailable` and what the
/// container's cgroup (v2 `memory.max` − `memory.current`, or v1's limit − usage) leaves.
/// `None` where neither can be read.
pub fn available_memory() -> Option<u64> {
    let read = |p: &str| std::fs::read_to_string(p).ok();
    let meminfo = read("/proc/meminfo").and_then(|m| {
        m.lines()
            .find_map(|l| l.strip_prefix("MemAvailable:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kib| kib * 1024)
    });
    let num = |p: &str| read(p).and_then(|v| v.trim().parse::<u64>().ok());
    let cgroup = match (num("/sys/fs/cgroup/memory.max"), num("/sys/fs/cgroup/memory.current")) {
        (Some(max), Some(cur)) => Some(max.saturating_sub(cur)),
        _ => match (num("/sys/fs/cgroup/memory/memory.limit_in_bytes"), num("/sys/fs/cgroup/memory/memory.usage_in_bytes")) {
            // v1 reports "no limit" as a huge number.
            (Some(max), Some(cur)) if max < (1 << 60) => Some(max.saturating_sub(cur)),
            _ => None,
        },
    };
    match (meminfo, cgroup) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_inputs_are_checked_at_start() {
        assert_eq!(PublicInputs::from_parts(None, None), Ok(None));
        assert_eq!(
            PublicInputs::from_parts(Some("https://videos.example.com/"), Some("videos")),
            Ok(Some(PublicInputs { base: "https://videos.example.com".into(), bucket: Some("videos".into()) }))
        );
        assert!(PublicInputs::from_parts(Some("http://127.0.0.1:9000/pub"), None).is_ok());
        for bad in ["videos.example.com", "s3://videos", "ftp://x.example", "https://x.example/?a=1"] {
            let e = PublicInputs::from_parts(Some(bad), None).unwrap_err();
            assert!(e.contains("R2_PUBLIC_BASE_URL") && e.contains("http(s)"), "{bad}: {e}");
        }
        assert!(PublicInputs::from_parts(None, Some("videos")).unwrap_err().contains("without R2_PUBLIC_BASE_URL"));
    }

    #[test]
    fn youtube_settings() {
        let from = |vars: &[(&str, &str)]| {
            let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
            YoutubeConfig::from_vars(move |k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
        };
        let d = YoutubeConfig::default();
        assert_eq!(d.base_url.as_str(), "https://www.youtube.com/");
        assert_eq!(d.client, YoutubeClient { name: "ANDROID".into(), version: "21.02.35".into() });
        assert_eq!(d.fallback, Some(YoutubeClient { name: "ANDROID_VR".into(), version: "1.71.26".into() }));
        assert_eq!(d.proxy, None);
        let c = from(&[
            ("YOUTUBE_BASE_URL", "http://127.0.0.1:9"),
            ("YOUTUBE_CLIENT", "IOS"),
            ("YOUTUBE_CLIENT_VERSION", "21.02.3"),
            ("YOUTUBE_FALLBACK_CLIENT", "none"),
            ("YOUTUBE_PROXY", "socks5h://10.0.0.2:1080"),
        ])
        .unwrap();
        assert_eq!(
            (c.base_url.as_str(), c.client.name.as_str(), c.fallback, c.proxy.as_deref()),
            ("http://127.0.0.1:9/", "IOS", None, Some("socks5h://10.0.0.2:1080"))
        );
        // A fallback equal to the client is no fallback.
        assert_eq!(from(&[("YOUTUBE_CLIENT", "ANDROID_VR"), ("YOUTUBE_CLIENT_VERSION", "1.71.26")]).unwrap().fallback, None);
        for (vars, says) in [
            (&[("YOUTUBE_BASE_URL", "www.youtube.com")][..], "YOUTUBE_BASE_URL"),
            (&[("YOUTUBE_BASE_URL", "ftp://x.test")][..], "YOUTUBE_BASE_URL"),
            (&[("YOUTUBE_CLIENT", "WEB")][..], "YOUTUBE_CLIENT_VERSION"),
            (&[("YOUTUBE_CLIENT_VERSION", "1 2")][..], "YOUTUBE_CLIENT_VERSION"),
            (&[("YOUTUBE_PROXY", "10.0.0.2:1080")][..], "YOUTUBE_PROXY"),
            (&[("YOUTUBE_PROXY", "ftp://10.0.0.2")][..], "YOUTUBE_PROXY"),
        ] {
            let e = from(vars).unwrap_err();
            assert!(e.contains(says), "{vars:?}: {e}");
        }
    }

    #[test]
    fn free_bytes_reads_the_file_system() {
        let dir = tempfile::tempdir().unwrap();
        let free = free_bytes(dir.path()).expect("statvfs of a temp dir");
        assert!(free > 0, "{free}");
        assert_eq!(free_bytes(&dir.path().join("missing")), None);
    }
}
