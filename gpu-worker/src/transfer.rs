//! Downloads from presigned GET URLs and uploads to presigned PUT URLs.
//!
//! Streaming both ways (constant memory), byte limits, retries with exponential
//! backoff on network errors and 5xx, PUT with an explicit Content-Length (S3 and R2
//! refuse chunked uploads to presigned URLs).

use std::path::Path;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

/// Why a transfer failed; `retryable` means "worth another attempt".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferError {
    Refused(String),
    TooLarge { limit: u64 },
    Failed { detail: String, retryable: bool },
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

fn classify(e: &reqwest::Error) -> TransferError {
    TransferError::Failed { detail: e.to_string(), retryable: e.is_timeout() || e.is_connect() || e.is_request() || e.is_body() }
}

fn status_error(status: reqwest::StatusCode) -> TransferError {
    TransferError::Failed {
        detail: format!("HTTP {status}"),
        retryable: status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS,
    }
}

/// Checks that a URL is one this worker may connect to (https, or loopback http when
/// `allow_loopback_http`; never a private IP literal).
pub fn check_url(raw: &str, allow_loopback_http: bool) -> Result<url::Url, TransferError> {
    let url = url::Url::parse(raw).map_err(|e| TransferError::Refused(format!("invalid URL: {e}")))?;
    job_spec::media::check_fetch_url(&url, allow_loopback_http).map_err(|(code, msg)| TransferError::Refused(format!("{code}: {msg}")))?;
    Ok(url)
}

/// GETs `url` into `dest`, refusing more than `max_bytes`. Returns the byte count.
pub async fn download(client: &reqwest::Client, url: &url::Url, dest: &Path, max_bytes: u64) -> Result<u64, TransferError> {
    let once = || async {
        let resp = client.get(url.clone()).send().await.map_err(|e| classify(&e))?;
        if !resp.status().is_success() {
            return Err(status_error(resp.status()));
        }
        if resp.content_length().is_some_and(|n| n > max_bytes) {
            return Err(TransferError::TooLarge { limit: max_bytes });
        }
        let mut file =
            tokio::fs::File::create(dest).await.map_err(|e| TransferError::Failed { detail: e.to_string(), retryable: false })?;
        let mut stream = resp.bytes_stream();
        let mut total = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| classify(&e))?;
            total += chunk.len() as u64;
            if total > max_bytes {
                return Err(TransferError::TooLarge { limit: max_bytes });
            }
            file.write_all(&chunk).await.map_err(|e| TransferError::Failed { detail: e.to_string(), retryable: false })?;
        }
        file.flush().await.map_err(|e| TransferError::Failed { detail: e.to_string(), retryable: false })?;
        Ok(total)
    };
    once.retry(backoff()).when(TransferError::retryable).await
}

/// PUTs the file at `src` to `url` with its Content-Length. Returns the byte count.
pub async fn upload(client: &reqwest::Client, url: &url::Url, src: &Path, content_type: &str) -> Result<u64, TransferError> {
    let once = || async {
        let file = tokio::fs::File::open(src).await.map_err(|e| TransferError::Failed { detail: e.to_string(), retryable: false })?;
        let len = file.metadata().await.map_err(|e| TransferError::Failed { detail: e.to_string(), retryable: false })?.len();
        let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(file));
        let resp = client
            .put(url.clone())
            .header(reqwest::header::CONTENT_LENGTH, len)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await
            .map_err(|e| classify(&e))?;
        if !resp.status().is_success() {
            let status = resp.status();
            let text = resp.text().await.unwrap_or_default();
            let mut err = status_error(status);
            if let TransferError::Failed { detail, .. } = &mut err {
                detail.push_str(&format!(": {}", text.chars().take(300).collect::<String>()));
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
        assert_eq!(download(&client, &url, &dest, 100).await, Ok(5));
        assert_eq!(std::fs::read(&dest).unwrap(), b"hello");
        assert_eq!(hits.load(Ordering::SeqCst), 3);

        let url = check_url(&format!("{base}/missing"), true).unwrap();
        assert_eq!(
            download(&client, &url, &dest, 100).await,
            Err(TransferError::Failed { detail: "HTTP 404 Not Found".into(), retryable: false })
        );
        let url = check_url(&format!("{base}/big"), true).unwrap();
        assert_eq!(download(&client, &url, &dest, 4999).await, Err(TransferError::TooLarge { limit: 4999 }));
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

    #[test]
    fn refuses_urls_outside_policy() {
        assert!(matches!(check_url("http://127.0.0.1:1/x", false), Err(TransferError::Refused(_))));
        assert!(matches!(check_url("https://10.0.0.1/x", false), Err(TransferError::Refused(_))));
        assert!(matches!(check_url("file:///etc/passwd", true), Err(TransferError::Refused(_))));
        assert!(check_url("https://cdn.example.com/x", false).is_ok());
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
