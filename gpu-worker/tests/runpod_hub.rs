//! The RunPod Hub files, `.runpod/hub.json` and `.runpod/tests.json`, against the Hub's
//! conventions (github.com/runpod/docs, hub/publishing-guide.mdx: the fields, their types
//! and allowed values) and against this worker: every environment variable they set is one
//! the worker reads, the CUDA versions they allow can run the image's CUDA, and every test
//! input is a job the worker accepts and completes. The Hub runs those inputs on a real
//! endpoint (public https input, https PUT target); here each runs through
//! `gpu-worker run --test-input` (RunPod's `--test_input`) with its URLs moved to a
//! loopback storage server that serves a generated stand-in of the input.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use common::{Storage, ffmpeg_make, ffprobe_bytes, run_test_input, stream, streams};
use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn hub_file(name: &str) -> Value {
    let path = repo().join(".runpod").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every `"NAME"` string literal of the worker's sources: the settings it can read.
fn worker_literals() -> String {
    fn walk(dir: &Path, out: &mut String) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push_str(&std::fs::read_to_string(&p).unwrap());
            }
        }
    }
    let mut all = String::new();
    walk(&repo().join("gpu-worker/src"), &mut all);
    all
}

fn assert_read_by_worker(keys: &[&str], src: &str, file: &str) {
    for k in keys {
        assert!(src.contains(&format!("\"{k}\"")), "{file}: env {k} is not a setting the worker reads (gpu-worker/src)");
    }
}

/// `major.minor` of the image's CUDA (docker/Dockerfile: `ARG CUDA_IMAGE=12.8.1`).
fn image_cuda() -> (u32, u32) {
    let dockerfile = std::fs::read_to_string(repo().join("docker/Dockerfile")).unwrap();
    let arg = dockerfile.lines().find_map(|l| l.strip_prefix("ARG CUDA_IMAGE=")).expect("docker/Dockerfile: ARG CUDA_IMAGE=");
    cuda_version(arg.split('-').next().unwrap())
}

fn cuda_version(v: &str) -> (u32, u32) {
    let mut parts = v.split('.').map(|p| p.parse::<u32>().unwrap_or_else(|_| panic!("CUDA version {v:?}")));
    (parts.next().unwrap(), parts.next().unwrap())
}

/// `allowedCudaVersions`: host CUDA (driver) versions; each must run the image's CUDA.
fn check_cuda_versions(v: &Value, file: &str) {
    let image = image_cuda();
    let list = v.as_array().unwrap_or_else(|| panic!("{file}: allowedCudaVersions is not a list"));
    assert!(!list.is_empty(), "{file}: allowedCudaVersions is empty");
    for c in list {
        let c = c.as_str().unwrap_or_else(|| panic!("{file}: CUDA version {c} is not a string"));
        assert!(cuda_version(c) >= image, "{file}: CUDA {c} hosts cannot run the image's CUDA {}.{}", image.0, image.1);
    }
}

fn str_field<'a>(v: &'a Value, key: &str, file: &str) -> &'a str {
    let s = v[key].as_str().unwrap_or_else(|| panic!("{file}: `{key}` is not a string: {v}"));
    assert!(!s.trim().is_empty(), "{file}: `{key}` is empty");
    s
}

fn positive(v: &Value, key: &str, file: &str) -> u64 {
    let n = v[key].as_u64().unwrap_or_else(|| panic!("{file}: `{key}` is not a whole number: {v}"));
    assert!(n > 0, "{file}: `{key}` is 0");
    n
}

#[test]
fn hub_json_follows_the_hub_schema_and_sets_only_worker_settings() {
    let f = "hub.json";
    let hub = hub_file(f);
    str_field(&hub, "title", f);
    str_field(&hub, "description", f);
    assert_eq!(hub["type"], "serverless", "{f}: type");
    let category = str_field(&hub, "category", f);
    assert!(["audio", "embedding", "language", "video", "image"].contains(&category), "{f}: category {category}");
    if let Some(icon) = hub.get("iconUrl") {
        assert!(icon.as_str().is_some_and(|u| u.starts_with("https://")), "{f}: iconUrl {icon}");
    }
    let c = &hub["config"];
    assert_eq!(c["runsOn"], "GPU", "{f}: config.runsOn");
    positive(c, "containerDiskInGb", f);
    assert_eq!(positive(c, "gpuCount", f), 1, "{f}: the worker uses one GPU");
    // Pools (ADA_24, …) and negated GPU names ("-NVIDIA …"), comma-separated.
    let pools = str_field(c, "gpuIds", f);
    for id in pools.split(',') {
        let id = id.trim();
        assert!(
            !id.is_empty() && (id.starts_with('-') || id.chars().all(|ch| ch.is_ascii_uppercase() || ch.is_ascii_digit() || ch == '_')),
            "{f}: gpuIds entry {id:?}"
        );
    }
    check_cuda_versions(&c["allowedCudaVersions"], f);

    let env = c["env"].as_array().unwrap_or_else(|| panic!("{f}: config.env is not a list"));
    let mut keys = BTreeSet::new();
    for e in env {
        let key = str_field(e, "key", f);
        assert!(keys.insert(key), "{f}: env {key} twice");
        match (e.get("value"), e.get("input")) {
            (Some(v), None) => assert!(v.is_string(), "{f}: env {key}: a static value is a string"),
            (None, Some(input)) => {
                str_field(input, "name", f);
                str_field(input, "description", f);
                let ty = str_field(input, "type", f);
                assert!(["string", "number", "boolean", "huggingface"].contains(&ty), "{f}: env {key}: input type {ty}");
                let default = &input["default"];
                match ty {
                    "number" => {
                        let (min, max, d) = (input["min"].as_f64(), input["max"].as_f64(), default.as_f64());
                        let (min, max, d) = (min.unwrap(), max.unwrap(), d.unwrap_or_else(|| panic!("{f}: env {key}: number default")));
                        assert!(min <= d && d <= max, "{f}: env {key}: default {d} outside {min}..{max}");
                    }
                    "boolean" => {
                        assert!(default.is_boolean() && input["trueValue"].is_string() && input["falseValue"].is_string(), "{f}: env {key}")
                    }
                    _ => assert!(default.is_string(), "{f}: env {key}: string default"),
                }
                if let Some(options) = input.get("options") {
                    let values: Vec<&Value> = options.as_array().unwrap().iter().map(|o| &o["value"]).collect();
                    assert!(options.as_array().unwrap().iter().all(|o| o["label"].is_string()), "{f}: env {key}: option labels");
                    assert!(values.contains(&default), "{f}: env {key}: default {default} is not an option");
                }
            }
            _ => panic!("{f}: env {key}: give either `value` or `input`"),
        }
    }
    assert_read_by_worker(&keys.into_iter().collect::<Vec<_>>(), &worker_literals(), f);
    // The worker's job deadline is under the endpoint's execution timeout (edge default 600 s).
    let deadline = env.iter().find(|e| e["key"] == "JOB_DEADLINE_SECS").expect("hub.json sets JOB_DEADLINE_SECS");
    assert!(deadline["input"]["default"].as_u64().unwrap() < 600, "JOB_DEADLINE_SECS under the 600 s execution timeout");
}

#[test]
fn tests_json_follows_the_hub_schema() {
    let f = "tests.json";
    let t = hub_file(f);
    let tests = t["tests"].as_array().unwrap_or_else(|| panic!("{f}: tests is not a list"));
    assert!(!tests.is_empty(), "{f}: no test");
    let mut names = BTreeSet::new();
    for test in tests {
        let name = str_field(test, "name", f);
        assert!(names.insert(name), "{f}: test {name} twice");
        assert!(test["input"].is_object(), "{f}: {name}: input is not an object");
        // Milliseconds: a cold worker pulls a multi-GB image and loads its model first.
        let timeout = positive(test, "timeout", f);
        assert!((60_000..=3_600_000).contains(&timeout), "{f}: {name}: timeout {timeout} ms");
    }
    let c = &t["config"];
    str_field(c, "gpuTypeId", f);
    assert_eq!(positive(c, "gpuCount", f), 1, "{f}: config.gpuCount");
    check_cuda_versions(&c["allowedCudaVersions"], f);
    let env = c["env"].as_array().unwrap_or_else(|| panic!("{f}: config.env is not a list"));
    let keys: Vec<&str> = env.iter().map(|e| str_field(e, "key", f)).collect();
    assert!(env.iter().all(|e| e["value"].is_string()), "{f}: env values are strings");
    assert_read_by_worker(&keys, &worker_literals(), f);
}

/// Every https URL in `v` replaced by a loopback one: PUT targets (`put_url`,
/// `output_put_url`) by `out/<test>/<n>`, inputs by `in/<file name>`. Returns the
/// replacements made.
fn to_loopback(v: &mut Value, key: Option<&str>, storage: &Storage, test: &str, seen: &mut BTreeMap<String, String>) {
    match v {
        Value::Object(m) => m.iter_mut().for_each(|(k, v)| to_loopback(v, Some(k), storage, test, seen)),
        Value::Array(a) => a.iter_mut().for_each(|v| to_loopback(v, key, storage, test, seen)),
        Value::String(s) if s.starts_with("https://") => {
            let original = s.clone();
            *s = if matches!(key, Some("put_url" | "output_put_url")) {
                storage.url(&format!("out/{test}/{}", seen.len()))
            } else {
                storage.url(&format!("in/{}", original.rsplit('/').next().unwrap()))
            };
            seen.insert(original, s.clone());
        }
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hub_test_input_is_a_job_the_worker_completes() {
    let tests = hub_file("tests.json")["tests"].as_array().unwrap().clone();
    let storage = Storage::start().await;
    let dir = tempfile::tempdir().unwrap();
    for test in &tests {
        let name = test["name"].as_str().unwrap();
        let input = test["input"].clone();
        // As the Hub sends it: accepted (a WorkerJob or a seed task), and every URL public https.
        let job = gpu_worker::seed_task::parse_input(input.clone(), None).unwrap_or_else(|e| panic!("{name}: refused: {e:?}"));
        let job = job.job();
        for url in job.inputs.iter().map(|i| &i.url).chain(job.outputs.iter().map(|o| &o.put_url)) {
            let parsed = url::Url::parse(url).unwrap();
            job_spec::media::check_fetch_url(&parsed, false).unwrap_or_else(|e| panic!("{name}: {url}: {e:?}"));
        }
        // The public input is a short H.264 + AAC MP4 (w3schools' mov_bbb.mp4: 320x176);
        // a stand-in of the same shape is served in its place.
        let mut local = input.clone();
        let mut moved = BTreeMap::new();
        to_loopback(&mut local, None, &storage, name, &mut moved);
        for (original, url) in &moved {
            if url.contains("/o/in/") {
                let file = original.rsplit('/').next().unwrap();
                let bytes = ffmpeg_make(
                    dir.path(),
                    file,
                    &[
                        "-f",
                        "lavfi",
                        "-i",
                        "testsrc2=s=320x176:r=25:d=2",
                        "-f",
                        "lavfi",
                        "-i",
                        "sine=d=2",
                        "-c:v",
                        "libx264",
                        "-preset",
                        "ultrafast",
                        "-c:a",
                        "aac",
                        "-shortest",
                    ],
                );
                storage.put(&format!("in/{file}"), bytes);
            }
        }
        let work = dir.path().join(name);
        std::fs::create_dir_all(&work).unwrap();
        let body = serde_json::json!({ "input": local });
        let (code, out, stderr) = tokio::task::spawn_blocking(move || run_test_input(&body, &work, &[])).await.unwrap();
        assert_eq!(code, Some(0), "{name}: {out}\n{stderr}");
        let outputs = out["output"]["outputs"].as_array().unwrap_or_else(|| panic!("{name}: no outputs: {out}"));
        assert_eq!(outputs.len(), job.outputs.len(), "{name}: {out}");
        for (i, target) in job.outputs.iter().enumerate() {
            let key = moved[&target.put_url].split("/o/").nth(1).unwrap().to_owned();
            let bytes = storage.get(&key).unwrap_or_else(|| panic!("{name}: nothing PUT for output {}", target.name));
            assert_eq!(outputs[i]["bytes"].as_u64(), Some(bytes.len() as u64), "{name}: {out}");
            let probe = ffprobe_bytes(dir.path(), &format!("{name}-{i}.out"), &bytes);
            check_output(name, &target.content_type, &probe);
        }
    }
}

/// What each kind of output must be: a 144-high video with its audio, or audio alone.
fn check_output(name: &str, content_type: &str, probe: &Value) {
    match content_type {
        "video/mp4" => {
            let v = stream(probe, "video").unwrap_or_else(|| panic!("{name}: no video stream"));
            assert_eq!(v["height"].as_u64(), Some(144), "{name}: height");
            assert_eq!(streams(probe, "audio"), 1, "{name}: the audio kept");
        }
        ct if ct.starts_with("audio/") => {
            assert_eq!((streams(probe, "video"), streams(probe, "audio")), (0, 1), "{name}: audio only");
            let secs: f64 = probe["format"]["duration"].as_str().unwrap().parse().unwrap();
            assert!((secs - 1.0).abs() < 0.1, "{name}: the trimmed second, got {secs} s");
        }
        other => panic!("{name}: unexpected output content type {other}"),
    }
}
