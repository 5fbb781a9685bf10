//! The package answers what the edge answers: for every validation fixture
//! (job-spec/tests/fixtures/validation), [`job_spec_js::validate`] (what the wasm module
//! runs) gives the edge's own 400 body, `ApiError::validation(problems).body()`, for the
//! fixture's problems, and `None` for a valid body.

use std::path::Path;

use edge::api_error::ApiError;
use job_spec::Problem;
use serde_json::Value;

#[test]
fn every_fixture_gets_the_edges_400_body() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/validation");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("the fixtures folder") {
        let path = entry.expect("an entry").path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let fixture: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("readable")).expect("JSON");
        let name = path.display();
        let op = job_spec_js::operation(fixture["operation"].as_str().expect("operation")).expect("a route");
        let body = match &fixture["text"] {
            Value::String(text) => text.clone().into_bytes(),
            _ => serde_json::to_vec(&fixture["body"]).expect("serializable"),
        };
        let problems: Vec<Problem> = serde_json::from_value(fixture["problems"].clone()).expect("problems");
        let expected = (!problems.is_empty())
            .then(|| serde_json::from_str::<Value>(&ApiError::validation(problems.clone()).body()).expect("the edge's JSON"));
        assert_eq!(job_spec_js::validate(op, &body), expected, "{name}");
        if !problems.is_empty() {
            assert_eq!(ApiError::validation(problems).status, 400, "{name}");
        }
        seen += 1;
    }
    assert!(seen >= 40, "{seen} fixtures");
}
