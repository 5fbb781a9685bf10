//! job-spec for JavaScript: the functions behind `@api-gpu/job-spec` (npm/job-spec).
//!
//! Pure and tested natively; [`wasm`] only exports them through wasm-bindgen. JSON
//! crosses the boundary as text (the package's wrapper stringifies and parses), so a
//! body is read by the same `serde_json` parse as the edge's, byte for byte.
//!
//! A rejected body gets the edge's 400 answer, field for field: `{error, code,
//! message, details[]}` with `code = "validation-failed"` (edge/src/api_error.rs,
//! `ApiError::validation`). The edge's submit handler parses the body
//! ([`Operation::parse`]) then validates it ([`job_spec::validate`], first step of
//! `job_spec::plan`); this does the same two steps with a [`RefContext`] that knows no
//! bucket and no tenant (see [`validate`]).

use job_spec::{Operation, Problem, RefContext};
use serde_json::{Value, json};

#[cfg(target_arch = "wasm32")]
pub mod wasm;

/// The operation a route names: its canonical path (`/video/img2vid`), one of its
/// aliases (`/runpod/video/img2vid`, `/vps/audio/trilhasonora`, …) or its job name
/// (`video/img2vid`). Slashes at either end and doubled ones are ignored, as the edge's
/// router ignores them.
pub fn operation(route: &str) -> Option<Operation> {
    let segments: Vec<&str> = route.split('/').filter(|s| !s.is_empty()).collect();
    if segments.is_empty() {
        return None;
    }
    Operation::from_path(&format!("/{}", segments.join("/")))
}

/// The edge's 400 body for these problems (`ApiError::validation(details).body()`).
pub fn validation_body(details: &[Problem]) -> Value {
    let n = details.len();
    json!({
        "error": "Bad Request",
        "code": "validation-failed",
        "message": format!("the request has {n} problem{}", if n == 1 { "" } else { "s" }),
        "details": details,
    })
}

/// Every problem of `body` (the request's raw bytes) for `op`: `None` when the edge would
/// accept it, else the edge's 400 body.
///
/// The edge also knows its bucket and the caller's tenant: `s3://<another bucket>/…`
/// (`foreign-bucket`) and keys in another tenant's space (`key-outside-tenant`) are
/// refused there and not here. A `/pipeline/segment` naming only `segments_uri` is
/// checked as far as the edge checks it before reading that list.
pub fn validate(op: Operation, body: &[u8]) -> Option<Value> {
    let problems = match op.parse(body) {
        Ok(request) => job_spec::validate(&request, &RefContext::default()).err()?,
        Err(problems) => problems,
    };
    Some(validation_body(&problems))
}

/// Every operation: `{path, name, aliases}` in [`Operation::ALL`]'s order. `path` is
/// the canonical route, `name` the job object's `operation`, `aliases` the other routes
/// the edge accepts for it (the seed's `/runpod/…`, `/vps/…` and renamed routes).
pub fn operations() -> Value {
    Operation::ALL.iter().map(|op| json!({ "path": op.path(), "name": op.name(), "aliases": op.alias_paths() })).collect()
}

/// The OpenAPI document the edge serves at `/openapi.json` (without `servers`): the
/// package's TypeScript declarations are generated from its request schemas.
pub fn openapi() -> Value {
    job_spec::openapi::document(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_name_operations_as_the_edge_does() {
        assert_eq!(operation("/video/img2vid"), Some(Operation::Img2vid));
        assert_eq!(operation("video/img2vid"), Some(Operation::Img2vid));
        assert_eq!(operation("//runpod/video/img2vid/"), Some(Operation::Img2vid));
        assert_eq!(operation("/vps/imagem/gerarImagens"), Some(Operation::ImageGenerate));
        assert_eq!(operation("/video/background_music"), Some(Operation::VideoTrilhaSonora));
        for op in Operation::ALL {
            assert_eq!(operation(op.path()), Some(op));
            assert_eq!(operation(op.name()), Some(op));
        }
        assert_eq!(operation("img2vid"), None, "a route, not the enum's name");
        assert_eq!(operation("/"), None);
        assert_eq!(operation(""), None);
        assert_eq!(operation("/jobs"), None);
    }

    #[test]
    fn a_rejected_body_gets_the_edges_answer() {
        let body = validate(Operation::Caption, br#"{"url_video":"ftp://x.test/v.mp4"}"#).expect("rejected");
        assert_eq!(body["error"], "Bad Request");
        assert_eq!(body["code"], "validation-failed");
        assert_eq!(body["message"], "the request has 1 problem");
        assert_eq!(body["details"][0]["field"], "url_srt");
        assert_eq!(body["details"][0]["code"], "required");
        let body =
            validate(Operation::Caption, br#"{"url_video":"ftp://x.test/v.mp4","url_srt":"http://x.test/a.srt"}"#).expect("rejected");
        assert_eq!(body["message"], "the request has 2 problems");
        let codes: Vec<&str> = body["details"].as_array().unwrap().iter().map(|p| p["code"].as_str().unwrap()).collect();
        assert_eq!(codes, ["unsupported-scheme", "insecure-url"]);
        assert_eq!(validate(Operation::Caption, b"{").unwrap()["details"][0]["code"], "invalid-json");
        assert_eq!(validate(Operation::Caption, br#"{"url_video":"https://x.test/v.mp4","url_srt":"https://x.test/a.srt"}"#), None);
    }

    #[test]
    fn operations_list_paths_names_and_aliases() {
        let ops = operations();
        let ops = ops.as_array().unwrap();
        assert_eq!(ops.len(), Operation::ALL.len());
        assert_eq!(
            ops[0],
            json!({"path": "/video/img2vid", "name": "video/img2vid", "aliases": ["/runpod/video/img2vid", "/vps/video/img2vid"]})
        );
        let transcribe = ops.iter().find(|o| o["path"] == "/audio/transcribe").unwrap();
        assert!(transcribe["aliases"].as_array().unwrap().contains(&json!("/transcribe")));
    }

    #[test]
    fn the_openapi_document_names_every_request_body() {
        let doc = openapi();
        for op in Operation::ALL {
            assert!(doc.pointer(&format!("/paths/{}/post/requestBody", op.path().replace('/', "~1"))).is_some(), "{}", op.path());
        }
    }
}
