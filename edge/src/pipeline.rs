//! `GET /pipeline/status`, pure: the query, the keys to look for, and the answer built
//! from what storage said about each. The handler (`wasm/pipeline.rs`) sends one
//! presigned HEAD per key, a few at a time.
//!
//! Keys are under the caller's prefix, so another tenant's pipeline id only ever shows
//! nothing ready: nothing of theirs is looked at.

use job_spec::Problem;
use job_spec::limits::{MAX_PIPELINE_EXPECTED, PIPELINE_STATUS_PROBE};
use serde_json::{Value, json};

/// HEAD requests in flight at once (a Worker may hold six connections open).
pub const HEADS_IN_FLIGHT: usize = 6;

/// `?job_id=…&expected=N`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusQuery {
    pub job_id: String,
    pub expected: Option<u32>,
}

impl StatusQuery {
    /// Every problem of the query at once, with the codes request bodies get.
    pub fn parse(query: &str) -> Result<StatusQuery, Vec<Problem>> {
        let mut problems = vec![];
        let mut push = |field: &str, code: &str, message: String| {
            problems.push(Problem { field: field.into(), code: code.into(), message });
        };
        let (mut job_id, mut expected) = (None, None);
        for (k, v) in url::form_urlencoded::parse(query.trim_start_matches('?').as_bytes()) {
            match k.as_ref() {
                "job_id" | "jobId" => job_id = Some(v.into_owned()),
                "expected" => expected = Some(v.into_owned()),
                _ => {}
            }
        }
        match &job_id {
            None => push("job_id", "required", "job_id is required".into()),
            Some(id) => {
                if let Err((code, message)) = job_spec::media::check_filename(id) {
                    push("job_id", code, format!("job_id {message}"));
                }
            }
        }
        let expected = match expected.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(v) => match v.parse::<u32>() {
                Ok(n) if (1..=MAX_PIPELINE_EXPECTED).contains(&n) => Some(n),
                _ => {
                    push(
                        "expected",
                        "out-of-range",
                        format!("expected must be a whole number from 1 to {MAX_PIPELINE_EXPECTED}, got `{v}`"),
                    );
                    None
                }
            },
        };
        if problems.is_empty() { Ok(StatusQuery { job_id: job_id.unwrap_or_default(), expected }) } else { Err(problems) }
    }

    /// How many indices are looked at: `expected`, or the first [`PIPELINE_STATUS_PROBE`].
    pub fn probed(&self) -> u32 {
        self.expected.unwrap_or(PIPELINE_STATUS_PROBE)
    }

    /// `(index, key)` of every segment to look for, under `tenant_prefix`.
    pub fn keys(&self, tenant_prefix: &str) -> Vec<(u32, String)> {
        (0..self.probed()).map(|i| (i, job_spec::plan::segment_key(tenant_prefix, &self.job_id, i))).collect()
    }
}

/// What storage said about one key: its size when it exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub index: u32,
    pub key: String,
    pub bytes: Option<u64>,
}

/// `{job_id, expected, probed, ready, complete, segments: [{index, ready, key?, url?, bytes?}]}`;
/// `url_of(key)` gives a ready segment's download URL.
pub fn status_body(q: &StatusQuery, found: &[Found], url_of: &dyn Fn(&str) -> String) -> Value {
    let ready = found.iter().filter(|f| f.bytes.is_some()).count();
    let segments: Vec<Value> = found
        .iter()
        .map(|f| match f.bytes {
            Some(bytes) => json!({ "index": f.index, "ready": true, "key": f.key, "url": url_of(&f.key), "bytes": bytes }),
            None => json!({ "index": f.index, "ready": false }),
        })
        .collect();
    json!({
        "job_id": q.job_id,
        "expected": q.expected,
        "probed": q.probed(),
        "ready": ready,
        "complete": q.expected.is_some_and(|n| ready == n as usize),
        "segments": segments,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(q: &str) -> Vec<(String, String)> {
        StatusQuery::parse(q).unwrap_err().into_iter().map(|p| (p.field, p.code)).collect()
    }

    fn pair(f: &str, c: &str) -> (String, String) {
        (f.into(), c.into())
    }

    #[test]
    fn queries() {
        assert_eq!(StatusQuery::parse("job_id=job-123&expected=5"), Ok(StatusQuery { job_id: "job-123".into(), expected: Some(5) }));
        assert_eq!(StatusQuery::parse("?job_id=ep%201&expected="), Ok(StatusQuery { job_id: "ep 1".into(), expected: None }));
        assert_eq!(StatusQuery::parse("job_id=j&expected=1000").unwrap().expected, Some(1000));
        assert_eq!(codes(""), [pair("job_id", "required")]);
        assert_eq!(codes("job_id=j&expected=0"), [pair("expected", "out-of-range")]);
        assert_eq!(codes("job_id=j&expected=1001"), [pair("expected", "out-of-range")]);
        assert_eq!(codes("job_id=j&expected=-1"), [pair("expected", "out-of-range")]);
        assert_eq!(codes("job_id=j&expected=two"), [pair("expected", "out-of-range")]);
        assert_eq!(codes("job_id=..&expected=3"), [pair("job_id", "path-traversal")]);
        assert_eq!(codes("job_id=a%2Fb"), [pair("job_id", "invalid-filename")]);
        assert_eq!(codes("job_id=a%0Ab&expected=x"), [pair("job_id", "control-character"), pair("expected", "out-of-range")]);
    }

    #[test]
    fn keys_are_under_the_callers_prefix() {
        let q = StatusQuery::parse("job_id=job-123&expected=3").unwrap();
        assert_eq!(
            q.keys("tenants/acme/"),
            [0, 1, 2].map(|i| (i, format!("tenants/acme/pipelines/job-123/stage/segmentation/audio_segments/segment_{i}.wav")))
        );
        // Without `expected`, the first 64.
        let q = StatusQuery::parse("job_id=job-123").unwrap();
        assert_eq!((q.probed(), q.keys("t/").len()), (64, 64));
        assert_eq!(q.keys("t/")[63].0, 63);
    }

    #[test]
    fn body_shape() {
        let q = StatusQuery { job_id: "job-123".into(), expected: Some(3) };
        let found = [
            Found { index: 0, key: "t/s0.wav".into(), bytes: Some(1044) },
            Found { index: 1, key: "t/s1.wav".into(), bytes: None },
            Found { index: 2, key: "t/s2.wav".into(), bytes: Some(44) },
        ];
        let url_of = |k: &str| format!("https://dl.test/{k}");
        assert_eq!(
            status_body(&q, &found, &url_of),
            json!({
                "job_id": "job-123", "expected": 3, "probed": 3, "ready": 2, "complete": false,
                "segments": [
                    {"index": 0, "ready": true, "key": "t/s0.wav", "url": "https://dl.test/t/s0.wav", "bytes": 1044},
                    {"index": 1, "ready": false},
                    {"index": 2, "ready": true, "key": "t/s2.wav", "url": "https://dl.test/t/s2.wav", "bytes": 44},
                ],
            })
        );
        let all = [Found { index: 0, key: "k".into(), bytes: Some(1) }];
        let one = StatusQuery { job_id: "j".into(), expected: Some(1) };
        assert_eq!(status_body(&one, &all, &url_of)["complete"], true);
        let open = StatusQuery { job_id: "j".into(), expected: None };
        let v = status_body(&open, &all, &url_of);
        assert_eq!((v["expected"].clone(), v["probed"].clone(), v["complete"].clone()), (Value::Null, json!(64), json!(false)));
    }
}
