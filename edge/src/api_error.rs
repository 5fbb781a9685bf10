//! The public error body: `{error, code, message, details[]}`. Internals are logged,
//! never returned.

use job_spec::Problem;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiError {
    #[serde(skip)]
    pub status: u16,
    pub error: &'static str,
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<Problem>,
    #[serde(skip)]
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        let error = match status {
            400 => "Bad Request",
            401 => "Unauthorized",
            404 => "Not Found",
            405 => "Method Not Allowed",
            409 => "Conflict",
            413 => "Payload Too Large",
            429 => "Too Many Requests",
            501 => "Not Implemented",
            502 => "Bad Gateway",
            503 => "Service Unavailable",
            _ => "Internal Server Error",
        };
        ApiError { status, error, code: code.to_owned(), message: message.into(), details: vec![], retry_after_secs: None }
    }

    pub fn validation(details: Vec<Problem>) -> Self {
        let n = details.len();
        let mut e = ApiError::new(400, "validation-failed", format!("the request has {n} problem{}", if n == 1 { "" } else { "s" }));
        e.details = details;
        e
    }

    /// 401 that reveals nothing about which part was wrong.
    pub fn unauthorized() -> Self {
        ApiError::new(401, "unauthorized", "a valid API key is required (X-API-Key or Authorization: Bearer)")
    }

    pub fn not_found() -> Self {
        ApiError::new(404, "not-found", "no such resource")
    }

    pub fn internal(message: impl Into<String>) -> Self {
        ApiError::new(500, "internal-error", message)
    }

    pub fn body(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| r#"{"error":"Internal Server Error","code":"internal-error"}"#.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape() {
        let e = ApiError::validation(vec![Problem { field: "images[0].duracao".into(), code: "out-of-range".into(), message: "m".into() }]);
        let v: serde_json::Value = serde_json::from_str(&e.body()).unwrap();
        assert_eq!(e.status, 400);
        assert_eq!(v["error"], "Bad Request");
        assert_eq!(v["code"], "validation-failed");
        assert_eq!(v["details"][0]["field"], "images[0].duracao");
        let v: serde_json::Value = serde_json::from_str(&ApiError::unauthorized().body()).unwrap();
        assert!(v.get("details").is_none());
    }
}
