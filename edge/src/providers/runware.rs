//! `/image/generate` through Runware's REST API: a JSON array of `imageInference`
//! tasks POSTed to the endpoint, one `taskUUID` per image. Pure: the task array, the
//! task ids (derived from the job id, the image's index and the attempt: no
//! randomness), and the answer — `{data: [...]}` and/or `{errors: [...]}`, errors
//! scoped to the task that failed while the others may succeed — read per task.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{HttpAnswer, ProviderError, excerpt};

pub use job_spec::worker::ImageFormat;

/// The most bytes of one generated image the edge copies into storage.
pub const MAX_IMAGE_BYTES: u64 = 64 << 20;

/// The generation settings every image of a request shares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageSettings {
    /// Runware's model (an AIR id such as `runware:101@1`): the seed's `image_model`.
    pub model: String,
    pub width: u32,
    pub height: u32,
    pub format: ImageFormat,
    /// Runware's `negativePrompt`: what every image should avoid.
    pub negative_prompt: Option<String>,
}

/// A task id for image `index` of job `job_id`, attempt `attempt`: a UUID v4 in form
/// (version and variant bits set) made of SHA-256 bytes, so the same inputs always give
/// the same id and each attempt a new one.
pub fn task_uuid(job_id: &str, index: u32, attempt: u32) -> String {
    let d = Sha256::digest(format!("{job_id}:{index}:{attempt}").as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// One `imageInference` task per `(taskUUID, prompt)`, one image each, returned as a URL.
pub fn request_body(tasks: &[(String, String)], s: &ImageSettings) -> Value {
    Value::Array(
        tasks
            .iter()
            .map(|(uuid, prompt)| {
                let mut t = json!({
                    "taskType": "imageInference",
                    "taskUUID": uuid,
                    "positivePrompt": prompt,
                    "model": s.model,
                    "width": s.width,
                    "height": s.height,
                    "numberResults": 1,
                    "outputType": "URL",
                    "outputFormat": s.format.runware(),
                });
                if let Some(n) = &s.negative_prompt {
                    t["negativePrompt"] = json!(n);
                }
                t
            })
            .collect(),
    )
}

/// The provider's image URL may be fetched: https (loopback http only with
/// `ALLOW_LOOPBACK_HTTP`, for tests). It comes from the provider's answer, not the client.
pub fn check_image_url(url: &str, allow_loopback_http: bool) -> Result<(), String> {
    let u = url::Url::parse(url).map_err(|e| format!("the provider's image URL is not a URL: {e}"))?;
    match u.scheme() {
        "https" => Ok(()),
        "http" if allow_loopback_http && matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]")) => Ok(()),
        _ => Err("the provider's image URL is not https".into()),
    }
}

/// What became of one task.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskOutcome {
    /// Generated: where to fetch it (Runware's URL expires; the caller copies it).
    Image {
        url: String,
        cost: Option<f64>,
    },
    Failed(ProviderError),
}

/// Runware error codes that say the account cannot work at all.
fn fatal_code(code: &str) -> Option<fn(String) -> ProviderError> {
    let c = code.to_ascii_lowercase();
    if c.contains("apikey") || c.contains("unauthori") || c.contains("authentication") {
        Some(|message| ProviderError::Auth { message })
    } else if c.contains("credit") || c.contains("balance") || c.contains("payment") {
        Some(|message| ProviderError::Credits { message })
    } else {
        None
    }
}

/// A per-task error: retried when it reads as transient (timeouts, server and
/// provider errors, throttling), refused otherwise (a bad prompt, size or model).
fn task_error(code: &str, message: &str) -> ProviderError {
    let message = format!("{code}: {}", excerpt(message));
    if let Some(f) = fatal_code(code) {
        return f(message);
    }
    let c = code.to_ascii_lowercase();
    if c.contains("ratelimit") || c.contains("toomany") {
        ProviderError::RateLimited { retry_after_secs: None, message }
    } else if ["timeout", "server", "internal", "unavailable", "provider", "unknown"].iter().any(|k| c.contains(k)) {
        ProviderError::Unavailable { message }
    } else {
        ProviderError::Refused { message }
    }
}

/// Reads the answer to a request carrying the tasks `uuids`: the outcome of each.
/// `Err` when the whole request failed (its status, or errors not scoped to one of
/// these tasks, or an unreadable body); a task the answer says nothing of is a
/// retryable bad answer.
pub fn parse_answer(http: &HttpAnswer<'_>, uuids: &[String]) -> Result<BTreeMap<String, TaskOutcome>, ProviderError> {
    let body: Option<Value> = serde_json::from_str(http.body).ok();
    let errors: Vec<&Value> =
        body.as_ref().and_then(|b| b.get("errors")).and_then(Value::as_array).map(|a| a.iter().collect()).unwrap_or_default();
    let field = |e: &Value, k: &str| e.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
    let ours = |e: &Value| uuids.iter().any(|u| *u == field(e, "taskUUID"));
    // Throttling and outages are the whole request's, whatever the body says.
    if matches!(http.status, 429 | 408 | 500..) {
        return Err(http.status_error().unwrap_or(ProviderError::Unavailable { message: format!("HTTP {}", http.status) }));
    }
    // Errors not about one of our tasks: the request's (a bad key, no credit, a bad body).
    if let Some(e) = errors.iter().find(|e| !ours(e)) {
        let (code, message) = (field(e, "code"), field(e, "message"));
        let text = format!("{code}: {}", excerpt(&message));
        return Err(match fatal_code(&code) {
            Some(f) => f(text),
            None if (200..300).contains(&http.status) => task_error(&code, &message),
            None => ProviderError::from_status(http.status, None, format!("HTTP {}: {text}", http.status)),
        });
    }
    if errors.is_empty()
        && let Some(e) = http.status_error()
    {
        return Err(e);
    }
    let Some(body) = &body else {
        return Err(ProviderError::BadAnswer { message: format!("the answer is not JSON: {}", excerpt(http.body)) });
    };
    let data = body.get("data").and_then(Value::as_array);
    if data.is_none() && errors.is_empty() {
        return Err(ProviderError::BadAnswer { message: format!("the answer has neither `data` nor `errors`: {}", excerpt(http.body)) });
    }
    let mut out = BTreeMap::new();
    for e in &errors {
        out.insert(field(e, "taskUUID"), TaskOutcome::Failed(task_error(&field(e, "code"), &field(e, "message"))));
    }
    for d in data.into_iter().flatten() {
        let uuid = field(d, "taskUUID");
        if !uuids.contains(&uuid) || out.contains_key(&uuid) {
            continue;
        }
        let url = field(d, "imageURL");
        let outcome = if url.starts_with("https://") || url.starts_with("http://") {
            TaskOutcome::Image { url, cost: d.get("cost").and_then(Value::as_f64) }
        } else {
            TaskOutcome::Failed(ProviderError::BadAnswer { message: "the task's answer has no imageURL".into() })
        };
        out.insert(uuid, outcome);
    }
    for u in uuids {
        out.entry(u.clone())
            .or_insert_with(|| TaskOutcome::Failed(ProviderError::BadAnswer { message: "the answer says nothing of this task".into() }));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ImageSettings {
        ImageSettings { model: "runware:101@1".into(), width: 1024, height: 576, format: ImageFormat::Jpg, negative_prompt: None }
    }

    fn http(status: u16, body: &str) -> HttpAnswer<'_> {
        HttpAnswer { status, retry_after: None, body, now_ms: 0 }
    }

    fn ids() -> Vec<String> {
        vec![task_uuid("job", 0, 1), task_uuid("job", 1, 1)]
    }

    #[test]
    fn task_ids_are_uuid_v4_in_form_and_differ_per_image_and_attempt() {
        let a = task_uuid("job", 0, 1);
        assert_eq!(a.len(), 36);
        assert_eq!(a.as_bytes()[14], b'4');
        assert!(matches!(a.as_bytes()[19], b'8' | b'9' | b'a' | b'b'));
        assert_eq!(a, task_uuid("job", 0, 1));
        assert_ne!(a, task_uuid("job", 1, 1));
        assert_ne!(a, task_uuid("job", 0, 2));
    }

    #[test]
    fn one_image_inference_task_per_prompt() {
        let body = request_body(&[("u0".into(), "dawn".into()), ("u1".into(), "storm".into())], &settings());
        assert_eq!(body.as_array().unwrap().len(), 2);
        assert_eq!(
            body[1],
            json!({"taskType": "imageInference", "taskUUID": "u1", "positivePrompt": "storm", "model": "runware:101@1",
                "width": 1024, "height": 576, "numberResults": 1, "outputType": "URL", "outputFormat": "JPG"})
        );
        assert!(body[0].get("negativePrompt").is_none());
        let s = ImageSettings { negative_prompt: Some("text, watermark".into()), format: ImageFormat::Webp, ..settings() };
        let body = request_body(&[("u0".into(), "dawn".into())], &s);
        assert_eq!((body[0]["negativePrompt"].as_str(), body[0]["outputFormat"].as_str()), (Some("text, watermark"), Some("WEBP")));
    }

    #[test]
    fn only_https_image_urls_are_fetched() {
        assert_eq!(check_image_url("https://im.runware.ai/image/ws/2/i/x.jpg", false), Ok(()));
        assert!(check_image_url("http://im.runware.ai/x.jpg", true).is_err());
        assert!(check_image_url("http://127.0.0.1:9/x.jpg", false).is_err());
        assert_eq!(check_image_url("http://127.0.0.1:9/x.jpg", true), Ok(()));
        assert!(check_image_url("file:///etc/passwd", true).is_err());
    }

    #[test]
    fn data_and_errors_are_read_per_task() {
        let [a, b] = [&ids()[0], &ids()[1]];
        let body = json!({
            "data": [{"taskType": "imageInference", "taskUUID": a, "imageUUID": "i", "imageURL": "https://im.runware.ai/image/i.jpg", "cost": 0.0013}],
            "errors": [{"code": "invalidPositivePrompt", "message": "prompt too short", "parameter": "positivePrompt", "taskType": "imageInference", "taskUUID": b}]
        })
        .to_string();
        let out = parse_answer(&http(200, &body), &ids()).unwrap();
        assert_eq!(out[a], TaskOutcome::Image { url: "https://im.runware.ai/image/i.jpg".into(), cost: Some(0.0013) });
        let TaskOutcome::Failed(e) = &out[b] else { panic!() };
        assert_eq!((e.code(), e.is_retryable()), ("provider-refused", false));
        assert!(e.message().starts_with("invalidPositivePrompt"));
        // The same errors sent with HTTP 400.
        let out = parse_answer(&http(400, &body), &ids()).unwrap();
        assert!(matches!(out[b], TaskOutcome::Failed(_)));
    }

    #[test]
    fn transient_task_errors_are_retried_and_silent_tasks_too() {
        let [a, b] = [&ids()[0], &ids()[1]];
        let body = json!({"errors": [{"code": "timeoutProvider", "message": "took too long", "taskUUID": a}]}).to_string();
        let out = parse_answer(&http(200, &body), &ids()).unwrap();
        let (TaskOutcome::Failed(ea), TaskOutcome::Failed(eb)) = (&out[a], &out[b]) else { panic!() };
        assert_eq!((ea.code(), ea.is_retryable()), ("provider-unavailable", true));
        assert_eq!((eb.code(), eb.is_retryable()), ("provider-bad-answer", true));
    }

    #[test]
    fn request_errors_fail_every_task() {
        let body = r#"{"errors":[{"code":"invalidApiKey","message":"Invalid API key","parameter":"apiKey","taskType":"authentication"}]}"#;
        for status in [200, 401, 403] {
            let e = parse_answer(&http(status, body), &ids()).unwrap_err();
            assert_eq!((e.code(), e.is_fatal()), ("provider-auth-failed", true), "{status}");
        }
        let body = r#"{"errors":[{"code":"insufficientCredits","message":"top up"}]}"#;
        assert_eq!(parse_answer(&http(402, body), &ids()).unwrap_err().code(), "provider-credits-exhausted");
        let e = parse_answer(&HttpAnswer { status: 429, retry_after: Some("2"), body: "{}", now_ms: 0 }, &ids()).unwrap_err();
        assert_eq!((e.code(), e.retry_after_secs()), ("provider-rate-limited", Some(2)));
        assert_eq!(parse_answer(&http(503, "<html>"), &ids()).unwrap_err().code(), "provider-unavailable");
        assert_eq!(parse_answer(&http(401, ""), &ids()).unwrap_err().code(), "provider-auth-failed");
    }

    #[test]
    fn malformed_answers_are_bad_answers() {
        for body in ["not json", "{}", r#"{"data": "x"}"#] {
            let e = parse_answer(&http(200, body), &ids()).unwrap_err();
            assert_eq!((e.code(), e.is_retryable()), ("provider-bad-answer", true), "{body}");
        }
        let body = json!({"data": [{"taskUUID": ids()[0], "imageURL": ""}]}).to_string();
        let out = parse_answer(&http(200, &body), &ids()).unwrap();
        assert!(matches!(&out[&ids()[0]], TaskOutcome::Failed(ProviderError::BadAnswer { .. })));
    }
}
