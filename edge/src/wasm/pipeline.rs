//! `/pipeline/segment`'s and `/pipeline/status`'s storage glue: reading the segment list
//! at `segments_uri` before a job is planned, and one presigned HEAD per segment for the
//! status. The parsing and the answer's shape are pure (`job_spec::validate`,
//! `crate::pipeline`).

use std::time::Duration;

use futures_util::future::{Either, select};
use futures_util::{StreamExt, TryStreamExt};
use job_spec::ops::SegmentSpec;
use job_spec::validate::{MAX_SEGMENTS_LIST_BYTES, parse_segment_list};
use job_spec::{JobRequest, MediaRef, OpRequest, Problem, RefContext};
use worker::{AbortController, Delay, Fetch, Method, Request, RequestInit, RequestRedirect, Response};

use super::util::{self, internal, json};
use crate::api_error::ApiError;
use crate::config::EdgeConfig;
use crate::pipeline::{Found, HEADS_IN_FLIGHT, StatusQuery, status_body};
use crate::presign;

/// Reading the segment list, or one HEAD, may take this long.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Presigned URLs the edge uses itself live this long.
const SELF_URL_TTL: Duration = Duration::from_secs(120);

type HResult<T> = std::result::Result<T, ApiError>;

fn unreadable(message: String) -> ApiError {
    ApiError::validation(vec![Problem { field: "segments_uri".into(), code: "unreadable".into(), message }])
}

/// Sends `req`, giving up after [`FETCH_TIMEOUT`].
async fn send(req: Request) -> std::result::Result<Response, String> {
    let controller = AbortController::default();
    let signal = controller.signal();
    let fetch = Fetch::Request(req);
    let sent = Box::pin(fetch.send_with_signal(&signal));
    match select(sent, Box::pin(Delay::from(FETCH_TIMEOUT))).await {
        Either::Left((resp, _)) => resp.map_err(|e| e.to_string()),
        Either::Right(_) => {
            controller.abort();
            Err(format!("no answer within {} s", FETCH_TIMEOUT.as_secs()))
        }
    }
}

/// The segments at `uri` (validated as a media reference): a tenant key read through a
/// presigned GET, or the URL itself; at most [`MAX_SEGMENTS_LIST_BYTES`]. A list that
/// cannot be read, parsed or validated is a 400 naming `segments_uri`.
pub async fn read_segments(cfg: &EdgeConfig, ctx: &RefContext, uri: &str) -> HResult<Vec<SegmentSpec>> {
    let url = match job_spec::media::parse_media_ref(uri, ctx) {
        Ok(MediaRef::Url(u)) => u,
        Ok(MediaRef::Object { key }) => presign::presign(&cfg.s3, presign::Method::Get, &key, SELF_URL_TTL, util::now_system())
            .map_err(|e| ApiError::internal(format!("presigning: {e}")))?,
        Err((code, message)) => {
            return Err(ApiError::validation(vec![Problem { field: "segments_uri".into(), code: code.into(), message }]));
        }
    };
    let mut init = RequestInit::new();
    // Never follow a redirect: its target was not checked like `segments_uri` was.
    init.with_method(Method::Get).with_redirect(RequestRedirect::Manual);
    let req = Request::new_with_init(&url, &init).map_err(|e| unreadable(format!("segments_uri: {e}")))?;
    let mut resp = send(req).await.map_err(|e| unreadable(format!("segments_uri could not be read: {e}")))?;
    let status = resp.status_code();
    if !(200..300).contains(&status) {
        return Err(unreadable(format!("segments_uri answered HTTP {status}")));
    }
    let too_large = || {
        let message = format!("the segment list must be at most {MAX_SEGMENTS_LIST_BYTES} bytes");
        ApiError::validation(vec![Problem { field: "segments_uri".into(), code: "too-large".into(), message }])
    };
    if resp
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|n| n > MAX_SEGMENTS_LIST_BYTES)
    {
        return Err(too_large());
    }
    // Read at most the limit (and a byte more, to know it was exceeded).
    let mut body = Vec::new();
    let mut stream = resp.stream().map_err(|e| unreadable(format!("segments_uri: {e}")))?;
    while let Some(chunk) = stream.try_next().await.map_err(|e| unreadable(format!("segments_uri could not be read: {e}")))? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_SEGMENTS_LIST_BYTES {
            return Err(too_large());
        }
    }
    parse_segment_list(&body).map_err(ApiError::validation)
}

/// Whether `key` exists and its size: a presigned HEAD (404: absent).
async fn head(cfg: &EdgeConfig, index: u32, key: String) -> HResult<Found> {
    let url = presign::presign(&cfg.s3, presign::Method::Head, &key, SELF_URL_TTL, util::now_system())
        .map_err(|e| ApiError::internal(format!("presigning: {e}")))?;
    let mut init = RequestInit::new();
    init.with_method(Method::Head);
    let req = Request::new_with_init(&url, &init).map_err(internal("HEAD request"))?;
    let storage = |m: String| {
        util::log(&serde_json::json!({"level": "error", "msg": "pipeline status HEAD", "key": key, "error": m}));
        ApiError::new(502, "storage-unavailable", "storage did not answer as expected; try again")
    };
    let resp = send(req).await.map_err(storage)?;
    match resp.status_code() {
        200..=299 => {
            let bytes = resp.headers().get("content-length").ok().flatten().and_then(|v| v.parse().ok()).unwrap_or(0);
            Ok(Found { index, key, bytes: Some(bytes) })
        }
        404 => Ok(Found { index, key, bytes: None }),
        s => Err(storage(format!("HTTP {s}"))),
    }
}

/// A `/pipeline/segment` request naming only `segments_uri` gets the list read into its
/// `segments` (planning needs them: one output per segment). The request is validated
/// first, so nothing is fetched for a request that is refused anyway.
pub async fn resolve_segments(cfg: &EdgeConfig, ctx: &RefContext, request: &mut JobRequest) -> HResult<()> {
    let OpRequest::PipelineSegment(r) = &request.op else { return Ok(()) };
    let Some(uri) = r.pending_segments_uri().map(str::to_owned) else { return Ok(()) };
    job_spec::validate(request, ctx).map_err(ApiError::validation)?;
    let segments = read_segments(cfg, ctx, &uri).await?;
    if let OpRequest::PipelineSegment(r) = &mut request.op {
        r.segments = Some(segments);
    }
    Ok(())
}

/// `GET /pipeline/status?job_id=…&expected=N` for the tenant owning `prefix`.
pub async fn status(req: &Request, cfg: &EdgeConfig, prefix: &str) -> HResult<Response> {
    let query = req.url().map_err(internal("url"))?.query().unwrap_or("").to_owned();
    let q = StatusQuery::parse(&query).map_err(ApiError::validation)?;
    let heads = q.keys(prefix).into_iter().map(|(i, key)| head(cfg, i, key));
    let found: Vec<Found> = futures_util::stream::iter(heads).buffered(HEADS_IN_FLIGHT).try_collect().await?;
    json(200, &status_body(&q, &found, &util::url_of(cfg))).map_err(internal("response"))
}
