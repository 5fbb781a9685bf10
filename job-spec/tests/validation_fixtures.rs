//! The validation fixtures (`tests/fixtures/validation/*.json`): each names an operation
//! (a route, as the edge routes it), a body and every problem the edge reports for it, in
//! order. This test holds job-spec to them; the npm package's test
//! (npm/job-spec/test/fixtures.test.js) holds `@api-gpu/job-spec` to the same files, so
//! JavaScript and the edge give the same answer.
//!
//! A fixture has `body` (any JSON value, sent as its JSON text) or `text` (the raw body,
//! for bodies that are not JSON), and `problems: []` for a body the edge accepts. The
//! edge's steps: parse ([`Operation::parse`]) then validate ([`validate`]) with a
//! [`RefContext`] that knows no bucket and no tenant (`RefContext::default()`).

use std::path::{Path, PathBuf};

use job_spec::{Operation, Problem, RefContext, validate};
use serde_json::Value;

fn fixtures() -> Vec<(PathBuf, Value)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/validation");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("the fixtures folder")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let v =
                serde_json::from_str(&std::fs::read_to_string(&p).expect("readable")).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p, v)
        })
        .collect()
}

/// Every problem of the fixture's body, as the edge finds them.
fn problems(fixture: &Value) -> Vec<Problem> {
    let route = fixture["operation"].as_str().expect("operation: a route");
    let op = Operation::from_path(route).unwrap_or_else(|| panic!("{route} is no operation"));
    let body = match (fixture.get("body"), fixture.get("text")) {
        (Some(body), None) => serde_json::to_vec(body).expect("serializable"),
        (None, Some(Value::String(text))) => text.clone().into_bytes(),
        _ => panic!("a fixture has `body` or `text`"),
    };
    match op.parse(&body) {
        Ok(request) => validate(&request, &RefContext::default()).err().unwrap_or_default(),
        Err(problems) => problems,
    }
}

#[test]
fn every_fixture_gets_exactly_its_problems() {
    let all = fixtures();
    assert!(all.len() >= 40, "{} fixtures", all.len());
    let mut failures = vec![];
    for (path, fixture) in &all {
        let expected: Vec<Problem> =
            serde_json::from_value(fixture["problems"].clone()).unwrap_or_else(|e| panic!("{}: problems: {e}", path.display()));
        let got = problems(fixture);
        if got != expected {
            failures.push(format!(
                "{}:\n  expected {}\n  got      {}",
                path.file_name().unwrap_or_default().to_string_lossy(),
                serde_json::to_string(&expected).unwrap_or_default(),
                serde_json::to_string(&got).unwrap_or_default()
            ));
        }
    }
    assert!(failures.is_empty(), "{} of {} fixtures differ:\n{}", failures.len(), all.len(), failures.join("\n"));
}

#[test]
fn the_fixtures_cover_every_operation_valid_and_invalid() {
    let all = fixtures();
    for op in Operation::ALL {
        let of_op: Vec<&Value> =
            all.iter().map(|(_, f)| f).filter(|f| f["operation"].as_str().and_then(Operation::from_path) == Some(op)).collect();
        assert!(of_op.iter().any(|f| f["problems"] == serde_json::json!([])), "{}: no valid body", op.path());
        assert!(of_op.iter().any(|f| f["problems"] != serde_json::json!([])), "{}: no invalid body", op.path());
    }
    // The seed's routes and names are fixtures too, and so are bodies with several problems.
    assert!(all.iter().any(|(_, f)| f["operation"].as_str().is_some_and(|r| r.starts_with("/runpod/") || r.starts_with("/vps/"))));
    assert!(all.iter().any(|(_, f)| f["problems"].as_array().is_some_and(|p| p.len() >= 5)));
}
