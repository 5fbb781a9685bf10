//! Loopback stand-ins of OpenRouter and Runware for the end-to-end tests, answering in
//! the providers' documented shapes, served by the test binary on `PROVIDER_STUB_PORT`,
//! where the stack's edge was told to find them (`PROVIDER_STUB=1 scripts/dev.sh`, as
//! `make test-e2e` runs it: `…/openrouter` and `…/runware`).
//!
//! Requests are tagged in their text (`RUN=…`, `SCENARIO=…` in the script or the
//! prompts): `RUN` groups a test's calls ([`Stub::calls`]), `SCENARIO` picks the answer —
//! `missing`, `auth`, `ratelimit`, `slow`, `error200`, `malformed` (OpenRouter); `auth`,
//! `ratelimit`, `malformed`, `refuse-all`, `partial` (Runware). Without a scenario (the
//! seed's own examples) every call succeeds: a prompt for every scene asked, an image for
//! every task.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use super::{ffmpeg, tempfile_dir};

/// One request a stand-in got.
#[derive(Debug, Clone)]
pub struct Call {
    pub path: String,
    pub authorization: String,
    pub body: Value,
    pub at: Instant,
    pub run: String,
}

pub struct Stub {
    pub port: u16,
    calls: Mutex<Vec<Call>>,
    /// The JPEG every generated image is (512×320).
    pub jpeg: Vec<u8>,
}

static STUB: OnceLock<Arc<Stub>> = OnceLock::new();

/// The stand-ins, started once per test binary on their own thread and runtime (each
/// test has its own runtime; the server outlives them).
pub fn stub() -> Arc<Stub> {
    STUB.get_or_init(|| {
        let port: u16 = std::env::var("PROVIDER_STUB_PORT")
            .expect("PROVIDER_STUB_PORT is not set: run through `make test-e2e` (PROVIDER_STUB=1 scripts/with-stack.sh …)")
            .parse()
            .unwrap();
        let dir = tempfile_dir();
        let jpg = dir.join("generated.jpg");
        ffmpeg(&["-f", "lavfi", "-i", "testsrc2=s=512x320", "-frames:v", "1", jpg.to_str().unwrap()]);
        let stub = Arc::new(Stub { port, calls: Mutex::new(vec![]), jpeg: std::fs::read(&jpg).unwrap() });
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).expect("bind PROVIDER_STUB_PORT");
        listener.set_nonblocking(true).unwrap();
        let s = stub.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                loop {
                    let Ok((sock, _)) = listener.accept().await else { continue };
                    let s = s.clone();
                    tokio::spawn(async move { serve(&s, sock).await });
                }
            });
        });
        stub
    })
    .clone()
}

impl Stub {
    /// The calls of one `RUN` tag to one path (`/openrouter/chat/completions`, `/runware`).
    pub fn calls(&self, run: &str, path: &str) -> Vec<Call> {
        self.calls.lock().unwrap().iter().filter(|c| c.run == run && c.path == path).cloned().collect()
    }
}

/// `key=value` up to `;` or whitespace, from the text of a request.
fn tag(text: &str, key: &str) -> String {
    text.split(&format!("{key}=")).nth(1).map(|r| r.split([';', ' ', '\n']).next().unwrap_or("").to_owned()).unwrap_or_default()
}

struct Answer {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    /// Answer this late (past the edge's PROVIDER_TIMEOUT_SECS, 10 s on the stack).
    delay: Duration,
}

fn answer(status: u16, body: &Value) -> Answer {
    Answer {
        status,
        headers: vec![("content-type", "application/json".into())],
        body: body.to_string().into_bytes(),
        delay: Duration::ZERO,
    }
}

async fn serve(s: &Stub, sock: tokio::net::TcpStream) {
    let mut r = BufReader::new(sock);
    let Some((method, path, headers)) = super::read_head(&mut r).await else { return };
    let mut line = String::new();
    let header = |k: &str| headers.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let mut body = vec![];
    if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        loop {
            line.clear();
            r.read_line(&mut line).await.unwrap();
            let n = usize::from_str_radix(line.trim(), 16).unwrap_or(0);
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk).await.unwrap();
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else if let Some(len) = header("content-length").and_then(|v| v.parse().ok()) {
        body = vec![0; len];
        r.read_exact(&mut body).await.unwrap();
    }
    let a = route(s, &method, &path, header("authorization").unwrap_or_default(), &body);
    tokio::time::sleep(a.delay).await;
    let mut head = format!("HTTP/1.1 {} X\r\ncontent-length: {}\r\nconnection: close\r\n", a.status, a.body.len());
    for (k, v) in &a.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let sock = r.get_mut();
    let _ = sock.write_all(head.as_bytes()).await;
    let _ = sock.write_all(&a.body).await;
    let _ = sock.shutdown().await;
}

fn route(s: &Stub, method: &str, path: &str, authorization: String, body: &[u8]) -> Answer {
    if method == "GET" && path.starts_with("/img/") {
        return Answer { status: 200, headers: vec![("content-type", "image/jpeg".into())], body: s.jpeg.clone(), delay: Duration::ZERO };
    }
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let text = match path {
        "/openrouter/chat/completions" => json["messages"][1]["content"].as_str().unwrap_or("").to_owned(),
        "/runware" => json[0]["positivePrompt"].as_str().unwrap_or("").to_owned(),
        _ => return answer(404, &json!({"error": "no such route"})),
    };
    let (run, scenario) = (tag(&text, "RUN"), tag(&text, "SCENARIO"));
    let call = Call { path: path.to_owned(), authorization, body: json.clone(), at: Instant::now(), run: run.clone() };
    let n = {
        let mut calls = s.calls.lock().unwrap();
        calls.push(call);
        calls.iter().filter(|c| c.run == run && c.path == path).count() - 1
    };
    match path {
        "/openrouter/chat/completions" => openrouter(&scenario, n, &text),
        _ => runware(s, &scenario, n, &json),
    }
}

/// OpenRouter's chat completions: the scenes asked are the `[scene N]` of the message.
fn openrouter(scenario: &str, n: usize, text: &str) -> Answer {
    let asked: BTreeSet<u32> = text.split("[scene ").skip(1).filter_map(|r| r.split(']').next()?.parse().ok()).collect();
    let completion = |indexes: &BTreeSet<u32>| {
        let prompts: Vec<Value> =
            indexes.iter().rev().map(|i| json!({"index": i, "prompt": format!("a cinematic picture of scene {i}")})).collect();
        answer(
            200,
            &json!({
                "id": "gen-stub", "object": "chat.completion", "model": "stub/model",
                "choices": [{"index": 0, "finish_reason": "stop",
                    "message": {"role": "assistant", "content": json!({"prompts": prompts}).to_string()}}],
                "usage": {"prompt_tokens": 500, "completion_tokens": 40 * indexes.len(), "total_tokens": 500 + 40 * indexes.len()}
            }),
        )
    };
    match (scenario, n) {
        ("missing", 0) => {
            let mut some = asked.clone();
            some.pop_last();
            completion(&some)
        }
        ("auth", _) => answer(401, &json!({"error": {"code": 401, "message": "No auth credentials found"}})),
        ("ratelimit", 0) => {
            let mut a = answer(429, &json!({"error": {"code": 429, "message": "Rate limit exceeded: free-models-per-min"}}));
            a.headers.push(("retry-after", "2".into()));
            a
        }
        ("slow", 0) => Answer { delay: Duration::from_secs(13), ..completion(&asked) },
        ("error200", 0) => {
            answer(200, &json!({"error": {"code": 502, "message": "Provider returned error", "metadata": {"provider_name": "X"}}}))
        }
        ("malformed", _) => answer(
            200,
            &json!({"choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Sure! 1. a lighthouse"}}]}),
        ),
        _ => completion(&asked),
    }
}

/// Runware: a JSON array of imageInference tasks; `data` and/or `errors` back.
fn runware(s: &Stub, scenario: &str, n: usize, tasks: &Value) -> Answer {
    let tasks = tasks.as_array().cloned().unwrap_or_default();
    let image = |t: &Value| {
        let uuid = t["taskUUID"].as_str().unwrap_or("");
        json!({"taskType": "imageInference", "taskUUID": uuid, "imageUUID": format!("img-{uuid}"),
            "imageURL": format!("http://127.0.0.1:{}/img/{uuid}.jpg", s.port), "cost": 0.0013})
    };
    let refusal = |t: &Value| {
        json!({"code": "invalidPositivePrompt", "message": "The prompt was refused by the content filter",
            "parameter": "positivePrompt", "taskType": "imageInference", "taskUUID": t["taskUUID"]})
    };
    match (scenario, n) {
        ("auth", _) => answer(
            401,
            &json!({"errors": [{"code": "invalidApiKey", "message": "Invalid API key. Get one at https://my.runware.ai/signup",
                "parameter": "apiKey", "taskType": "authentication"}]}),
        ),
        ("ratelimit", 0) => {
            let mut a = answer(429, &json!({"errors": [{"code": "tooManyRequests", "message": "slow down"}]}));
            a.headers.push(("retry-after", "2".into()));
            a
        }
        ("malformed", 0) => Answer {
            status: 200,
            headers: vec![("content-type", "text/html".into())],
            body: b"<html>upstream hiccup".to_vec(),
            delay: Duration::ZERO,
        },
        ("refuse-all", _) => answer(400, &json!({"errors": tasks.iter().map(refusal).collect::<Vec<_>>()})),
        ("partial", _) => {
            let (bad, good): (Vec<&Value>, Vec<&Value>) =
                tasks.iter().partition(|t| t["positivePrompt"].as_str().unwrap_or("").contains("REFUSE"));
            answer(
                200,
                &json!({"data": good.into_iter().map(image).collect::<Vec<_>>(), "errors": bad.into_iter().map(refusal).collect::<Vec<_>>()}),
            )
        }
        _ => answer(200, &json!({"data": tasks.iter().map(image).collect::<Vec<_>>()})),
    }
}

/// The stand-ins' keys the stack's edge holds: (OpenRouter, Runware).
pub fn keys() -> (String, String) {
    let var = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} is not set: PROVIDER_STUB=1 scripts/with-stack.sh"));
    (var("OPENROUTER_STUB_KEY"), var("RUNWARE_STUB_KEY"))
}
