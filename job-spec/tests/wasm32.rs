//! job-spec must compile for `wasm32-unknown-unknown` (the edge runs it in workerd).
//! This test builds it for that target, the way the edge's build does.

use std::process::Command;

#[test]
fn job_spec_builds_for_wasm32() {
    let target_dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("wasm-check");
    let out = Command::new(env!("CARGO"))
        .args(["check", "--quiet", "-p", "job-spec", "--target", "wasm32-unknown-unknown", "--target-dir"])
        .arg(&target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs");
    assert!(out.status.success(), "cargo check --target wasm32-unknown-unknown failed:\n{}", String::from_utf8_lossy(&out.stderr));
}
