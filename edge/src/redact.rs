//! Secrets out of logs: the RunPod webhook token in `/internal/runpod/{job}/{token}`,
//! the worker's progress token in `/internal/progress/{job}/{token}`, and the query string of any URL (a presigned URL's signature, a client's token).
//! `util::log` passes every string of every log line through [`redact_text`].

use percent_encoding::percent_decode_str;

pub const REDACTED: &str = "[redacted]";

/// A request path (or URL) with its query and any webhook token replaced by
/// `[redacted]`. Segments are compared percent-decoded, as the router matches them,
/// so `/internal/%72unpod/…` is redacted too.
pub fn redact_path(path: &str) -> String {
    let (path, query) = match path.split_once('?') {
        Some((p, _)) => (p, true),
        None => (path, false),
    };
    let segs: Vec<&str> = path.split('/').collect();
    let decoded: Vec<String> = segs.iter().map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned()).collect();
    // Empty segments are skipped, as by the router: find `internal` then `runpod`.
    let named: Vec<usize> = (0..segs.len()).filter(|&i| !segs[i].is_empty()).collect();
    let mut out: Vec<String> = segs.iter().map(|s| (*s).to_owned()).collect();
    for w in 0..named.len().saturating_sub(1) {
        if decoded[named[w]] == "internal" && matches!(decoded[named[w + 1]].as_str(), "runpod" | "progress") {
            // Everything after the job id.
            for &i in named.iter().skip(w + 3) {
                out[i] = REDACTED.to_owned();
            }
            break;
        }
    }
    let mut s = out.join("/");
    if query {
        s.push('?');
        s.push_str(REDACTED);
    }
    s
}

/// Free text (an error message, a log field) with [`redact_path`] applied to every
/// word that is a URL or an absolute path.
pub fn redact_text(text: &str) -> String {
    let delimiter = |c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '(' | ')' | '`');
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if word.contains("://") || word.starts_with('/') {
            out.push_str(&redact_path(word));
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in text.chars() {
        if delimiter(c) {
            flush(&mut word, &mut out);
            out.push(c);
        } else {
            word.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// Every string in `v` (keys left alone) through [`redact_text`].
pub fn redact_json(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) => *s = redact_text(s),
        serde_json::Value::Array(a) => a.iter_mut().for_each(redact_json),
        serde_json::Value::Object(m) => m.values_mut().for_each(redact_json),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_tokens_are_redacted_from_request_paths() {
        assert_eq!(redact_path("/internal/runpod/job1/s3cr3t"), "/internal/runpod/job1/[redacted]");
        // As the router reads them: encoded names, doubled and trailing slashes.
        assert_eq!(redact_path("/internal/%72unpod/job1/s3cr3t/"), "/internal/%72unpod/job1/[redacted]/");
        assert_eq!(redact_path("//internal//runpod/job1//s3cr3t"), "//internal//runpod/job1//[redacted]");
        assert_eq!(redact_path("/internal/runpod/job1/s3cr3t/extra"), "/internal/runpod/job1/[redacted]/[redacted]");
        // The worker's progress URL, with its part and attempt.
        assert_eq!(
            redact_path("http://e.test/internal/progress/job1/s3cr3t?part=0&attempt=1"),
            "http://e.test/internal/progress/job1/[redacted]?[redacted]"
        );
        // Other paths are kept; queries never are.
        assert_eq!(redact_path("/jobs/abc"), "/jobs/abc");
        assert_eq!(redact_path("/internal/runpod/job1"), "/internal/runpod/job1");
        assert_eq!(redact_path("/jobs?token=s3cr3t"), "/jobs?[redacted]");
    }

    #[test]
    fn urls_in_log_text_lose_their_queries_and_tokens() {
        let msg = "fetch https://media.r2.test/t/a.mp4?X-Amz-Signature=abc&X-Amz-Credential=k failed (at \"https://e.test/internal/runpod/j/tok\")";
        let out = redact_text(msg);
        assert_eq!(out, "fetch https://media.r2.test/t/a.mp4?[redacted] failed (at \"https://e.test/internal/runpod/j/[redacted]\")");
        assert_eq!(redact_text("HTTP 500: not found?"), "HTTP 500: not found?", "plain text is kept");
        let mut v = serde_json::json!({"msg": "request", "path": "/internal/runpod/j/tok", "n": [1, "https://x.test/?sig=1"]});
        redact_json(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"msg": "request", "path": "/internal/runpod/j/[redacted]", "n": [1, "https://x.test/?[redacted]"]})
        );
    }
}
