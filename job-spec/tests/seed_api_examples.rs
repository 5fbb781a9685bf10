//! The seed's API reference examples (`edge/tests/seed_api_examples.json`, FresHHerB/api-gpu
//! `docs/API.md`) parse and validate here, every one of them (the end-to-end test then
//! runs each to completion on the local stack): a route the seed documents must accept its
//! documented body before any runner can complete it.

use job_spec::{Operation, RefContext, validate};
use serde_json::Value;

#[test]
fn every_seed_api_example_parses_and_validates() {
    let list: Vec<Value> = serde_json::from_str(include_str!("../../edge/tests/seed_api_examples.json")).expect("a JSON list");
    let ctx = RefContext {
        allow_loopback_http: false,
        bucket: Some("media".into()),
        tenant_prefix: Some("t/acme/".into()),
        other_prefixes: vec![],
    };
    let mut failures = vec![];
    for e in &list {
        let route = e["route"].as_str().expect("a route");
        let Some(op) = Operation::from_path(route) else {
            failures.push(format!("{route}: no operation"));
            continue;
        };
        let body = serde_json::to_vec(&e["body"]).expect("a body");
        match op.parse(&body).map(|req| validate(&req, &ctx)) {
            Ok(Ok(())) => {}
            Ok(Err(p)) | Err(p) => failures.push(format!("{route}: {p:?}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    for route in ["/vps/video/transcribe_youtube", "/vps/imagem/gerarPrompts", "/vps/imagem/gerarImagens"] {
        assert!(list.iter().any(|e| e["route"] == route), "{route} has an example");
    }
}
