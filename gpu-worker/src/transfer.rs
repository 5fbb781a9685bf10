//! Downloads from presigned GET URLs and uploads to presigned PUT URLs, through a
//! client that refuses to reach private addresses.
//!
//! Streaming both ways (constant memory), byte limits (per download, and a job's
//! [`Budget`] shared by its parallel downloads), a total deadline per download, retries
//! with exponential backoff on network errors and 5xx, PUT with an explicit
//! Content-Length (S3 and R2 refuse chunked uploads to presigned URLs).
//!
//! SSRF guard: URL checks alone cannot stop a public host name that resolves to a
//! private address (or is re-pointed there between check and connect), so the
//! client's resolver checks every address it hands to the connector, and every
//! redirect hop is checked like a submitted URL. IP-literal hosts never reach the
//! resolver; [`check_url`] and the redirect policy cover those.
//!
//! No URL enters an error: a presigned URL's query string is a credential
//! (`X-Amz-Signature`), and these errors reach the client, RunPod and the logs.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

/// Why a transfer failed; `retryable` means "worth another attempt".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferError {
    Refused(String),
    TooLarge {
        limit: u64,
    },
    /// The job's [`Budget`] of `limit` bytes ran out.
    OverBudget {
        limit: u64,
    },
    /// The download (every attempt together) did not finish within `after`.
    Deadline {
        after: Duration,
    },
    Failed {
        detail: String,
        retryable: bool,
    },
}

impl TransferError {
    fn retryable(&self) -> bool {
        matches!(self, TransferError::Failed { retryable: true, .. })
    }
}

fn backoff() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(300))
        .with_max_delay(Duration::from_secs(5))
        .with_max_times(3)
        .with_jitter()
}

fn classify(e: reqwest::Error) -> TransferError {
    // reqwest wraps resolver and redirect-policy errors (as connect/request errors that
    // would otherwise count as retryable); the refusal is somewhere in the source chain.
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(err) = source {
        if let Some(Refusal(reason)) = err.downcast_ref::<Refusal>() {
            return TransferError::Refused(reason.clone());
        }
        source = err.source();
    }
    let retryable = e.is_timeout() || e.is_connect() || e.is_request() || e.is_body();
    // reqwest's Display appends the URL, query string (the signature) included.
    let e = e.without_url();
    let mut detail = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(err) = source {
        detail.push_str(&format!(": {err}"));
        source = err.source();
    }
    TransferError::Failed { detail, retryable }
}

/// A failure while reading a response body: reqwest calls it a decode error, but with
/// no content decoding enabled (no gzip/brotli features) it is the connection failing
/// mid-transfer, worth another attempt (the retry starts the file again).
fn body_error(e: reqwest::Error) -> TransferError {
    match classify(e) {
        TransferError::Failed { detail, .. } => TransferError::Failed { detail, retryable: true },
        other => other,
    }
}

/// `scheme://host[:port]/path` of a URL: what a message may name, never its query
/// string (a presigned URL's signature) or user info.
pub fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => format!(
            "{}://{}{}{}",
            u.scheme(),
            u.host_str().unwrap_or_default(),
            u.port().map(|p| format!(":{p}")).unwrap_or_default(),
            redacted_path(u.path())
        ),
        Err(_) => "(not a URL)".to_owned(),
    }
}

/// The edge's callback URLs carry their token in the path
/// (`/internal/{runpod|progress}/{job}/{token}`): it goes too.
fn redacted_path(path: &str) -> String {
    let segments: Vec<&str> = path.split('/').collect();
    match segments.as_slice() {
        ["", "internal", kind, job, _token, ..] => format!("/internal/{kind}/{job}/[redacted]"),
        _ => path.to_owned(),
    }
}

/// The `<Code>` of an S3/R2 XML error body, if any: the body itself can echo the
/// request (`SignatureProvided`, `StringToSign`), so no more of it is kept.
fn storage_error_code(body: &str) -> Option<&str> {
    let start = body.find("<Code>")? + "<Code>".len();
    let code = &body[start..start + body[start..].find("</Code>")?];
    (code.len() <= 64 && code.chars().all(|c| c.is_ascii_alphanumeric())).then_some(code)
}

fn status_error(status: reqwest::StatusCode) -> TransferError {
    TransferError::Failed {
        detail: format!("HTTP {status}"),
        retryable: status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS,
    }
}

/// Redirects followed per request; one more is refused.
pub const MAX_REDIRECTS: usize = 5;

/// The HTTP client for every transfer: guarded resolver, checked redirects, no proxy.
pub fn client(cfg: &crate::config::Config) -> Result<reqwest::Client, String> {
    let allow_loopback = cfg.allow_loopback_http;
    reqwest::Client::builder()
        .connect_timeout(cfg.http_timeout)
        .read_timeout(cfg.http_timeout)
        .redirect(reqwest::redirect::Policy::custom(move |attempt| {
            match check_redirect(attempt.url(), attempt.previous(), allow_loopback) {
                Ok(()) => attempt.follow(),
                Err(refusal) => attempt.error(refusal),
            }
        }))
        .dns_resolver(Arc::new(GuardedResolver { allow_loopback }))
        // A proxy (HTTPS_PROXY and friends) would resolve and connect for us, past the
        // resolver's check; presigned storage URLs and public inputs need none.
        .no_proxy()
        .user_agent(concat!("api-gpu-worker/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("HTTP client: {e}"))
}

/// Why the guard refused a connection or a redirect; found again by [`classify`] in
/// reqwest's error chain. Holds `code: message`, like [`check_url`]'s refusals.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Refusal(String);

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refusal {}

/// Resolves with the system resolver and hands the connector exactly the addresses it
/// checked, so a name re-pointed after the check (DNS rebinding) cannot slip through.
struct GuardedResolver {
    allow_loopback: bool,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let (host, allow_loopback) = (name.as_str().to_owned(), self.allow_loopback);
        Box::pin(async move {
            // Port 0: reqwest puts the URL's port (or the scheme's default) in its place.
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            check_resolved(&host, &addrs, allow_loopback)?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Refuses the whole name when any address is not public: connecting to the "good"
/// ones only would still let an attacker's name point half its records inward.
fn check_resolved(host: &str, addrs: &[SocketAddr], allow_loopback: bool) -> Result<(), Refusal> {
    let allowed = |ip: &std::net::IpAddr| job_spec::media::is_public_ip(*ip) || (allow_loopback && ip.is_loopback());
    match addrs.iter().map(SocketAddr::ip).find(|ip| !allowed(ip)) {
        Some(ip) => Err(Refusal(format!("private-address: `{host}` resolves to {ip}, which is not a public address"))),
        None => Ok(()),
    }
}

/// One redirect hop, checked like a submitted URL. `previous` is reqwest's list of
/// URLs already requested, the original included, so it is one longer than the
/// number of redirects followed so far.
fn check_redirect(next: &url::Url, previous: &[url::Url], allow_loopback: bool) -> Result<(), Refusal> {
    if previous.len() > MAX_REDIRECTS {
        return Err(Refusal(format!("too-many-redirects: more than {MAX_REDIRECTS} redirects")));
    }
    let host = next.host_str().unwrap_or_default();
    // `check_fetch_url` refuses http:// here too; this names the downgrade for what it is.
    if !allow_loopback && next.scheme() == "http" && previous.last().is_some_and(|p| p.scheme() == "https") {
        return Err(Refusal(format!("insecure-redirect: redirect from https:// to http:// ({host}) refused")));
    }
    job_spec::media::check_fetch_url(next, allow_loopback).map_err(|(code, msg)| Refusal(format!("{code}: redirect to {host}: {msg}")))
}

/// Checks that a URL is one this worker may connect to (https, or loopback http when
/// `allow_loopback_http`; never a private IP literal).
pub fn check_url(raw: &str, allow_loopback_http: bool) -> Result<url::Url, TransferError> {
    let url = url::Url::parse(raw).map_err(|e| TransferError::Refused(format!("invalid URL: {e}")))?;
    job_spec::media::check_fetch_url(&url, allow_loopback_http).map_err(|(code, msg)| TransferError::Refused(format!("{code}: {msg}")))?;
    Ok(url)
}

/// The bytes one job may download in all, shared by its parallel downloads: every
/// chunk is charged before it is written, so the job's files never add up to more.
#[derive(Debug)]
pub struct Budget {
    limit: u64,
    used: AtomicU64,
}

impl Budget {
    pub fn new(limit: u64) -> Budget {
        Budget { limit, used: AtomicU64::new(0) }
    }

    /// Bytes charged and not given back: what the job's finished and in-flight
    /// downloads hold on disk.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Acquire)
    }

    fn remaining(&self) -> u64 {
        self.limit.saturating_sub(self.used())
    }

    /// Charges `n` bytes, or nothing when they would pass the limit.
    fn charge(&self, n: u64) -> Result<(), TransferError> {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| u.checked_add(n).filter(|t| *t <= self.limit))
            .map(drop)
            .map_err(|_| TransferError::OverBudget { limit: self.limit })
    }
}

/// One download's bytes on a [`Budget`]: each attempt starts from an empty file, so it
/// starts from zero; given back when the download is dropped (its file is removed on
/// failure), kept when it succeeds.
struct Charge<'a> {
    budget: &'a Budget,
    bytes: AtomicU64,
}

impl Charge<'_> {
    fn add(&self, n: u64) -> Result<(), TransferError> {
        self.budget.charge(n)?;
        self.bytes.fetch_add(n, Ordering::AcqRel);
        Ok(())
    }

    /// Gives back what an earlier attempt wrote (its file was just truncated).
    fn restart(&self) {
        self.budget.used.fetch_sub(self.bytes.swap(0, Ordering::AcqRel), Ordering::AcqRel);
    }

    fn keep(self) {
        self.bytes.store(0, Ordering::Release);
    }
}

impl Drop for Charge<'_> {
    fn drop(&mut self) {
        self.restart();
    }
}

/// What one download may take: its own byte limit, the job's shared [`Budget`], and a
/// deadline over every attempt (the client's read timeout restarts with each byte, so
/// alone it never ends a server that sends one now and then).
#[derive(Debug, Clone)]
pub struct DownloadLimits {
    pub max_bytes: u64,
    pub budget: Arc<Budget>,
    pub deadline: Duration,
}

/// GETs `url` into `dest` within `limits`. Returns the byte count; on failure `dest`
/// is removed and its bytes given back to the budget.
pub async fn download(client: &reqwest::Client, url: &url::Url, dest: &Path, limits: &DownloadLimits) -> Result<u64, TransferError> {
    let (max_bytes, budget, deadline) = (limits.max_bytes, &*limits.budget, limits.deadline);
    let charge = Charge { budget, bytes: AtomicU64::new(0) };
    let once = || async {
        let resp = client.get(url.clone()).send().await.map_err(classify)?;
        if !resp.status().is_success() {
            return Err(status_error(resp.status()));
        }
        if resp.content_length().is_some_and(|n| n > max_bytes) {
            return Err(TransferError::TooLarge { limit: max_bytes });
        }
        let mut file =
            tokio::fs::File::create(dest).await.map_err(|e| TransferError::Failed { detail: e.to_string(), retryable: false })?;
        charge.restart();
        if resp.content_length().is_some_and(|n| n > budget.remaining()) {
            return Err(TransferError::OverBudget { limit: budget.limit });
        }
        let mut stream = resp.bytes_stream();
        let mut total = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(body_error)?;
            total += chunk.len() as u64;
            if total > max_bytes {
                return Err(TransferError::TooLarge { limit: max_bytes });
            }
            charge.add(chunk.len() as u64)?;
            file.write_all(&chunk).await.map_err(|e| TransferError::Failed { detail: e.to_string(), retryable: false })?;
        }
        file.flush().await.map_err(|e| TransferError::Failed { detail: e.to_string(), retryable: false })?;
        Ok(total)
    };
    let attempts = once.retry(backoff()).when(TransferError::retryable);
    let result = tokio::time::timeout(deadline, attempts).await.unwrap_or(Err(TransferError::Deadline { after: deadline }));
    match result {
        Ok(_) => charge.keep(),
        // Best effort: the job fails and its work dir goes anyway.
        Err(_) => {
            let _ = tokio::fs::remove_file(dest).await;
        }
    }
    result
}

/// How long an upload waits for storage it cannot connect to at all (stopped, restarting,
/// a network blip), trying again every [`UNREACHABLE_PAUSE`], before the usual retries
/// count: the output is rendered and paid for, and a failed upload has the job rendered
/// again (and, on a short retry schedule, a ten-second outage used every attempt up).
pub const UPLOAD_UNREACHABLE_WAIT: Duration = Duration::from_secs(30);
const UNREACHABLE_PAUSE: Duration = Duration::from_secs(1);

/// PUTs the file at `src` to `url` with its Content-Length. Returns the byte count.
pub async fn upload(client: &reqwest::Client, url: &url::Url, src: &Path, content_type: &str) -> Result<u64, TransferError> {
    let since = tokio::time::Instant::now();
    let once = || async {
        let (resp, len) = loop {
            let file = tokio::fs::File::open(src).await.map_err(|e| TransferError::Failed { detail: e.to_string(), retryable: false })?;
            let len = file.metadata().await.map_err(|e| TransferError::Failed { detail: e.to_string(), retryable: false })?.len();
            let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(file));
            let sent = client
                .put(url.clone())
                .header(reqwest::header::CONTENT_LENGTH, len)
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(body)
                .send()
                .await;
            match sent {
                // No connection, so no byte sent: wait for the storage (a refused address
                // is a connect error too, and fails at once).
                Err(e) if e.is_connect() && since.elapsed() < UPLOAD_UNREACHABLE_WAIT => match classify(e) {
                    TransferError::Failed { .. } => tokio::time::sleep(UNREACHABLE_PAUSE).await,
                    refused => return Err(refused),
                },
                sent => break (sent.map_err(classify)?, len),
            }
        };
        if !resp.status().is_success() {
            let status = resp.status();
            let text = resp.text().await.unwrap_or_default();
            let mut err = status_error(status);
            if let (TransferError::Failed { detail, .. }, Some(code)) = (&mut err, storage_error_code(&text)) {
                detail.push_str(&format!(" ({code})"));
            }
            return Err(err);
        }
        Ok(len)
    };
    once.retry(backoff()).when(TransferError::retryable).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::Router;
    use axum::body::Bytes;
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::{get, put};

    async fn serve(app: Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn download_retries_5xx_then_succeeds_and_enforces_limits() {
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        let app = Router::new()
            .route(
                "/flaky",
                get(move || {
                    let n = h.fetch_add(1, Ordering::SeqCst);
                    async move {
                        if n < 2 {
                            (StatusCode::BAD_GATEWAY, "no").into_response_parts()
                        } else {
                            (StatusCode::OK, "hello").into_response_parts()
                        }
                    }
                }),
            )
            .route("/missing", get(|| async { StatusCode::NOT_FOUND }))
            .route("/big", get(|| async { vec![0u8; 5000] }));
        let base = serve(app).await;
        let client = reqwest::Client::new();
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("f");

        let url = check_url(&format!("{base}/flaky"), true).unwrap();
        assert_eq!(download(&client, &url, &dest, &lim(100)).await, Ok(5));
        assert_eq!(std::fs::read(&dest).unwrap(), b"hello");
        assert_eq!(hits.load(Ordering::SeqCst), 3);

        let url = check_url(&format!("{base}/missing"), true).unwrap();
        assert_eq!(
            download(&client, &url, &dest, &lim(100)).await,
            Err(TransferError::Failed { detail: "HTTP 404 Not Found".into(), retryable: false })
        );
        let url = check_url(&format!("{base}/big"), true).unwrap();
        assert_eq!(download(&client, &url, &dest, &lim(4999)).await, Err(TransferError::TooLarge { limit: 4999 }));
    }

    #[tokio::test]
    async fn an_upload_waits_for_storage_that_comes_back_within_the_window() {
        // Nothing listens on the port for 3 s (a storage server restarting), then it accepts.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(3)).await;
            let app = Router::new().route("/out.mp4", put(|| async { StatusCode::OK }));
            let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
            axum::serve(listener, app).await.unwrap();
        });
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("up");
        std::fs::write(&src, b"rendered").unwrap();
        let started = std::time::Instant::now();
        let sent = upload(&reqwest::Client::new(), &url(&format!("http://{addr}/out.mp4")), &src, "video/mp4").await;
        assert_eq!(sent, Ok(8));
        assert!(started.elapsed() >= Duration::from_secs(3), "{:?}", started.elapsed());
    }

    #[tokio::test]
    async fn upload_sends_content_length_not_chunked() {
        let seen = Arc::new(std::sync::Mutex::new(None));
        let s = seen.clone();
        let app = Router::new().route(
            "/put",
            put(move |headers: HeaderMap, body: Bytes| {
                let s = s.clone();
                async move {
                    *s.lock().unwrap() = Some((
                        headers.get("content-length").map(|v| v.to_str().unwrap().to_owned()),
                        headers.get("transfer-encoding").is_some(),
                        headers.get("content-type").map(|v| v.to_str().unwrap().to_owned()),
                        body.len(),
                    ));
                    StatusCode::OK
                }
            }),
        );
        let base = serve(app).await;
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("v.mp4");
        std::fs::write(&src, vec![7u8; 70_000]).unwrap();
        let url = check_url(&format!("{base}/put"), true).unwrap();
        assert_eq!(upload(&reqwest::Client::new(), &url, &src, "video/mp4").await, Ok(70_000));
        assert_eq!(*seen.lock().unwrap(), Some((Some("70000".into()), false, Some("video/mp4".into()), 70_000)));
    }

    const SIGNED: &str = "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=deadbeefdeadbeef";

    fn assert_no_signature(what: &str, text: &str) {
        assert!(!text.contains("X-Amz-Signature") && !text.contains("deadbeef"), "{what} leaks the signature: {text}");
    }

    #[tokio::test]
    async fn failed_transfers_name_no_presigned_query_string() {
        // S3 echoes the signature it was given in its XML error body.
        let echo = "<Error><Code>SignatureDoesNotMatch</Code><SignatureProvided>deadbeefdeadbeef</SignatureProvided></Error>";
        let app = Router::new()
            .route("/forbidden", get(move || async move { (StatusCode::FORBIDDEN, echo) }))
            .route("/put", put(move || async move { (StatusCode::INTERNAL_SERVER_ERROR, echo) }));
        let base = serve(app).await;
        // Accepts, then closes at once: reqwest's error names the URL it was sending to.
        let reset = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let reset_base = format!("http://{}", reset.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((conn, _)) = reset.accept().await {
                drop(conn);
            }
        });
        let client = reqwest::Client::new();
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("f");
        let src = dir.path().join("up");
        std::fs::write(&src, b"x").unwrap();

        let err = download(&client, &url(&format!("{base}/forbidden{SIGNED}")), &dest, &lim(100)).await.unwrap_err();
        assert_eq!(err, TransferError::Failed { detail: "HTTP 403 Forbidden".into(), retryable: false });
        let err = download(&client, &url(&format!("{reset_base}/in.mp4{SIGNED}")), &dest, &lim(100)).await.unwrap_err();
        assert!(matches!(&err, TransferError::Failed { retryable: true, .. }), "{err:?}");
        assert_no_signature("a reset download", &format!("{err:?}"));
        let err = upload(&client, &url(&format!("{base}/put{SIGNED}")), &src, "video/mp4").await.unwrap_err();
        assert_eq!(err, TransferError::Failed { detail: "HTTP 500 Internal Server Error (SignatureDoesNotMatch)".into(), retryable: true });
        let err = upload(&client, &url(&format!("{reset_base}/out.mp4{SIGNED}")), &src, "video/mp4").await.unwrap_err();
        assert_no_signature("a reset upload", &format!("{err:?}"));
    }

    #[test]
    fn redacted_keeps_scheme_host_port_path_only() {
        assert_eq!(redacted(&format!("https://u:p@r2.example.com/b/k.mp4{SIGNED}")), "https://r2.example.com/b/k.mp4");
        assert_eq!(redacted("http://127.0.0.1:9000/x?token=1#f"), "http://127.0.0.1:9000/x");
        assert_eq!(redacted("not a url"), "(not a URL)");
        // The edge's completion and progress URLs: the token in the path goes.
        let token = "ab".repeat(32);
        assert_eq!(
            redacted(&format!("https://edge.example/internal/runpod/j1/{token}")),
            "https://edge.example/internal/runpod/j1/[redacted]"
        );
        assert_eq!(
            redacted(&format!("http://127.0.0.1:8787/internal/progress/j1/{token}?part=0&attempt=1")),
            "http://127.0.0.1:8787/internal/progress/j1/[redacted]"
        );
        assert_eq!(storage_error_code("<Error><Code>NoSuchKey</Code></Error>"), Some("NoSuchKey"));
        assert_eq!(storage_error_code("<Code><x>?a=deadbeef</Code>"), None);
    }

    #[test]
    fn refuses_urls_outside_policy() {
        assert!(matches!(check_url("http://127.0.0.1:1/x", false), Err(TransferError::Refused(_))));
        assert!(matches!(check_url("https://10.0.0.1/x", false), Err(TransferError::Refused(_))));
        assert!(matches!(check_url("file:///etc/passwd", true), Err(TransferError::Refused(_))));
        assert!(check_url("https://cdn.example.com/x", false).is_ok());
    }

    fn cfg(allow_loopback_http: bool) -> crate::config::Config {
        crate::config::Config {
            ffmpeg: "ffmpeg".into(),
            ffprobe: "ffprobe".into(),
            work_root: std::env::temp_dir(),
            encoder: crate::encoder::EncoderChoice::Libx264,
            cuda_decode: false,
            allow_loopback_http,
            max_input_bytes: 1 << 20,
            max_job_input_bytes: 1 << 20,
            min_free_work_bytes: 0,
            download_deadline: Duration::from_secs(60),
            transfer_parallelism: 1,
            render_parallelism: 1,
            nvenc_sessions: 8,
            ffmpeg_timeout: Duration::from_secs(10),
            // Long enough that a connection attempt to an unroutable address would show.
            http_timeout: Duration::from_secs(10),
            max_media_secs: job_spec::limits::MAX_MEDIA_SECONDS,
            max_output_bytes: 8 << 30,
            public_inputs: None,
            whisper_compute_type: Default::default(),
            whisper_batch_size: 8,
            youtube: Default::default(),
        }
    }

    fn url(s: &str) -> url::Url {
        url::Url::parse(s).unwrap()
    }

    /// `max_bytes` for one download on its own: no shared budget to speak of, a minute.
    fn lim(max_bytes: u64) -> DownloadLimits {
        DownloadLimits { max_bytes, budget: Arc::new(Budget::new(u64::MAX)), deadline: Duration::from_secs(60) }
    }

    /// `n` chunks of `size` bytes, `every` apart, with no Content-Length; a chunk that
    /// is `Err` aborts the response mid-body.
    fn trickle(chunks: Vec<Result<usize, ()>>, every: Duration) -> axum::body::Body {
        let stream = futures_util::stream::iter(chunks).then(move |c| async move {
            tokio::time::sleep(every).await;
            c.map(|n| Bytes::from(vec![b'x'; n])).map_err(|()| std::io::Error::other("aborted"))
        });
        axum::body::Body::from_stream(stream)
    }

    #[tokio::test]
    async fn a_download_that_trickles_ends_at_its_deadline_and_leaves_no_file() {
        // One byte every 200 ms: each read is well inside the 10 s read timeout.
        let app = Router::new().route("/drip", get(|| async { trickle(vec![Ok(1); 100], Duration::from_millis(200)) }));
        let base = serve(app).await;
        let client = client(&cfg(true)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("f");
        let limits = DownloadLimits { deadline: Duration::from_secs(1), ..lim(1000) };
        let started = std::time::Instant::now();
        let r = download(&client, &url(&format!("{base}/drip")), &dest, &limits).await;
        assert_eq!(r, Err(TransferError::Deadline { after: Duration::from_secs(1) }));
        let took = started.elapsed();
        assert!(took >= Duration::from_secs(1) && took < Duration::from_millis(1500), "{took:?}");
        assert!(!dest.exists(), "the partial file is removed");
        assert_eq!(limits.budget.used(), 0, "its bytes are given back");
    }

    #[tokio::test]
    async fn parallel_downloads_share_one_budget_and_a_retry_is_not_charged_twice() {
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        let app = Router::new()
            .route("/a", get(|| async { trickle(vec![Ok(1000); 4], Duration::from_millis(20)) }))
            .route("/b", get(|| async { trickle(vec![Ok(1000); 4], Duration::from_millis(20)) }))
            .route("/sized", get(|| async { vec![b'x'; 6001] }))
            .route(
                "/cut-then-whole",
                get(move || {
                    // 3000 bytes then a broken connection; the retry sends 4000.
                    let first = h.fetch_add(1, Ordering::SeqCst) == 0;
                    async move {
                        if first {
                            trickle(vec![Ok(1000), Ok(1000), Ok(1000), Err(())], Duration::from_millis(5))
                        } else {
                            trickle(vec![Ok(1000); 4], Duration::from_millis(5))
                        }
                    }
                }),
            );
        let base = serve(app).await;
        let client = reqwest::Client::new();
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));

        // 4000 + 4000 streamed at once against 6000: one of them crosses it.
        let limits = DownloadLimits { budget: Arc::new(Budget::new(6000)), ..lim(10_000) };
        let (url_a, url_b) = (url(&format!("{base}/a")), url(&format!("{base}/b")));
        let (ra, rb) = tokio::join!(download(&client, &url_a, &a, &limits), download(&client, &url_b, &b, &limits));
        // Which one (or both, when their chunks interleave) depends on the scheduling.
        let results = [ra, rb];
        assert!(results.contains(&Err(TransferError::OverBudget { limit: 6000 })), "{results:?}");
        assert!(results.iter().all(|r| matches!(r, Ok(4000) | Err(TransferError::OverBudget { .. }))), "{results:?}");
        let finished: u64 = results.iter().filter_map(|r| r.as_ref().ok()).sum();
        assert_eq!(limits.budget.used(), finished, "a failed download gives its bytes back");
        let on_disk: u64 = [&a, &b].iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum();
        assert_eq!(on_disk, finished, "only a finished file is left");
        // A Content-Length past what is left fails before any byte is written.
        let sized = dir.path().join("sized");
        assert_eq!(
            download(&client, &url(&format!("{base}/sized")), &sized, &limits).await,
            Err(TransferError::OverBudget { limit: 6000 })
        );
        assert!(!sized.exists());

        // The first attempt's 3000 bytes are given back when the retry truncates the file.
        let limits = DownloadLimits { budget: Arc::new(Budget::new(5000)), ..lim(10_000) };
        assert_eq!(download(&client, &url(&format!("{base}/cut-then-whole")), &a, &limits).await, Ok(4000));
        assert_eq!((hits.load(Ordering::SeqCst), limits.budget.used()), (2, 4000));
    }

    fn refused(r: Result<u64, TransferError>) -> String {
        match r {
            Err(TransferError::Refused(reason)) => reason,
            other => panic!("expected Refused, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn resolver_refuses_loopback_unless_allowed() {
        use reqwest::dns::Resolve;
        let name = || "localhost".parse::<reqwest::dns::Name>().unwrap();
        let err = GuardedResolver { allow_loopback: false }.resolve(name()).await.err().unwrap();
        let reason = err.downcast_ref::<Refusal>().unwrap().to_string();
        assert!(reason.starts_with("private-address: `localhost` resolves to "), "{reason}");

        let addrs: Vec<SocketAddr> = GuardedResolver { allow_loopback: true }.resolve(name()).await.unwrap().collect();
        assert!(!addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");

        // One inward record spoils the name; loopback permission is not private-range permission.
        let sa = |s: &str| SocketAddr::new(s.parse().unwrap(), 0);
        assert!(check_resolved("h", &[sa("8.8.8.8"), sa("2606:4700::1111")], false).is_ok());
        assert!(check_resolved("h", &[sa("8.8.8.8"), sa("10.0.0.1")], true).is_err());
        assert!(check_resolved("h", &[sa("169.254.169.254")], true).is_err());
        assert!(check_resolved("h", &[sa("::ffff:127.0.0.1")], true).is_err());
        assert!(check_resolved("h", &[sa("127.0.0.1"), sa("::1")], true).is_ok());
        assert!(check_resolved("h", &[sa("127.0.0.1")], false).is_err());
    }

    #[tokio::test]
    async fn client_refuses_a_name_resolving_to_loopback_without_connecting_or_retrying() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let a = accepted.clone();
        tokio::spawn(async move {
            while listener.accept().await.is_ok() {
                a.fetch_add(1, Ordering::SeqCst);
            }
        });
        let client = client(&cfg(false)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("f");
        let started = std::time::Instant::now();
        // Straight to `download`, past `check_url` (which refuses `localhost` by name):
        // this is what a public name re-pointed at 127.0.0.1 looks like to the client.
        let reason = refused(download(&client, &url(&format!("https://localhost:{port}/x")), &dest, &lim(100)).await);
        assert!(reason.starts_with("private-address:"), "{reason}");
        assert!(started.elapsed() < Duration::from_millis(250), "refusals are not retried: {:?}", started.elapsed());
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(accepted.load(Ordering::SeqCst), 0, "no connection was made");
    }

    #[test]
    fn private_ip_literals_are_refused_before_any_connection() {
        // reqwest never asks the resolver about IP literals: these checks are the guard.
        for raw in ["https://10.0.0.1/x", "https://[::ffff:127.0.0.1]/x", "https://[::ffff:a00:1]/x", "https://169.254.169.254/"] {
            for allow in [false, true] {
                let err = check_url(raw, allow).unwrap_err();
                assert!(matches!(&err, TransferError::Refused(r) if r.starts_with("private-address:")), "{raw} ({allow}): {err:?}");
                let hop = check_redirect(&url(raw), &[url("https://cdn.example.com/a")], allow).unwrap_err();
                assert!(hop.0.starts_with("private-address: redirect to "), "{raw} ({allow}): {hop}");
            }
        }
    }

    #[test]
    fn https_to_http_downgrade_is_refused_unless_loopback_allowed() {
        let from = [url("https://cdn.example.com/a")];
        let err = check_redirect(&url("http://cdn.example.com/b"), &from, false).unwrap_err();
        assert!(err.0.starts_with("insecure-redirect:"), "{err}");
        assert!(check_redirect(&url("http://127.0.0.1:9000/b"), &from, false).is_err());
        // Local development: loopback http is fine, other http is still refused.
        assert!(check_redirect(&url("http://127.0.0.1:9000/b"), &from, true).is_ok());
        assert!(check_redirect(&url("http://cdn.example.com/b"), &from, true).unwrap_err().0.starts_with("insecure-url:"));
        assert!(check_redirect(&url("https://other.example.com/b"), &from, false).is_ok());
    }

    #[tokio::test]
    async fn redirects_are_checked_per_hop_and_capped() {
        use axum::extract::Path as UrlPath;
        let found = |to: String| (StatusCode::FOUND, [(axum::http::header::LOCATION, to)]).into_response_parts();
        let app = Router::new()
            .route("/to-private", get(move || async move { found("http://10.1.2.3/secret".into()) }))
            .route("/to-private-https", get(move || async move { found("https://10.1.2.3/secret".into()) }))
            .route(
                "/hop/{n}",
                get(move |UrlPath(n): UrlPath<u32>| async move {
                    if n == 0 { "arrived".into_response_parts() } else { found(format!("/hop/{}", n - 1)) }
                }),
            );
        let base = serve(app).await;
        let client = client(&cfg(true)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("f");
        let get = |path: &str| {
            let (client, dest, url) = (&client, &dest, url(&format!("{base}{path}")));
            async move { download(client, &url, dest, &lim(100)).await }
        };

        // An unroutable 10.1.2.3 would hang until the 10 s connect timeout if tried.
        let started = std::time::Instant::now();
        let reason = refused(get("/to-private").await);
        assert!(reason.starts_with("insecure-url: redirect to 10.1.2.3:"), "{reason}");
        let reason = refused(get("/to-private-https").await);
        assert!(reason.starts_with("private-address: redirect to 10.1.2.3:"), "{reason}");
        assert!(started.elapsed() < Duration::from_secs(1), "refused at once: {:?}", started.elapsed());

        assert_eq!(get("/hop/2").await, Ok(7));
        assert_eq!(std::fs::read(&dest).unwrap(), b"arrived");
        assert_eq!(get(&format!("/hop/{MAX_REDIRECTS}")).await, Ok(7));
        let reason = refused(get(&format!("/hop/{}", MAX_REDIRECTS + 1)).await);
        assert!(reason.starts_with("too-many-redirects:"), "{reason}");
    }

    trait Parts {
        fn into_response_parts(self) -> axum::response::Response;
    }
    impl<T: axum::response::IntoResponse> Parts for T {
        fn into_response_parts(self) -> axum::response::Response {
            self.into_response()
        }
    }
}
