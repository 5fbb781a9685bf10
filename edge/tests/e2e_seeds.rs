//! Every request example in the seed system's documents, run through the real local
//! stack as its users send it.
//!
//! The examples are read from the seed documents themselves (`../shared/seeds/*.txt`
//! beside the checkout, or `SEEDS_DIR`), every fenced block that holds a JSON object: a
//! bare body, `curl … -d '…'`, or `POST /path` followed by a body (`//` comments, as seed
//! 004 writes them, are stripped). [`EXPECTED`] says what each of them is, in document
//! order — a request to the edge, a direct RunPod payload for the worker, or not a
//! request at all (a documented response) — so an example the table does not account for
//! fails the test. The seed's API reference (FresHHerB/api-gpu `docs/API.md`), which is
//! not among the seed files, is kept as `seed_api_examples.json` beside this file.
//!
//! Each request keeps its own field names and values; only what must point at something
//! real is changed: media URLs and `s3://` keys become local media uploaded for this run
//! (presigned URLs of the local S3 server, the seed's `s3://videos/…` keys the same keys
//! in this tenant's space), `webhook_url` a local receiver, and a direct payload's
//! storage-credential output (`gs://…`, `s3://…`) gets the `output_put_url` the seed
//! documents as the credential-free alternative. Then every edge request must answer
//! 202 and complete, with the fields the seed's clients read (`code`, `message`,
//! `video_url` / `videos[]`, `execution`, `stats`, …) where they read them, and every
//! direct payload must complete on the worker (or fail with the documented code).
//!
//! The routes that call out of the stack — `/vps/video/transcribe_youtube` (YouTube, from
//! the worker) and `/vps/imagem/gerarPrompts` / `gerarImagens` (OpenRouter and Runware,
//! from the edge) — reach the loopback stand-ins this binary serves
//! ([`common::youtube_stub`], [`common::provider_stub`]), where `PROVIDER_STUB=1
//! scripts/dev.sh` pointed the stack; they answer the seed's examples with success.
//!
//! `#[ignore]`d in a plain `cargo test`; `make test` runs it against a fresh stack.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use common::{Stack, ffmpeg, ffprobe, hook_receiver, provider_stub, stack, tempfile_dir, unique, youtube_stub};
use edge::presign::{self, Method};
use serde_json::{Map, Value, json};

/// What a JSON block of a seed document is.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    /// A request to our API: POST to this route (the route the document names).
    Edge(&'static str),
    /// A direct RunPod payload (`{"input": …}`), sent to the worker's `/run`; completes.
    Worker,
    /// A direct RunPod payload the worker must refuse with this code.
    WorkerFails(&'static str),
    /// A response, a webhook body or an error body the document shows.
    Response,
}
use Kind::*;

/// Every JSON block of every seed document, in document order.
const EXPECTED: &[(&str, &[Kind])] = &[
    // api-gpu README: caption, img2vid, addaudio, each with its responses; the
    // troubleshooting call to RunPod's /run with a non-operation.
    (
        "000",
        &[
            Edge("/video/caption"),
            Response,
            Response,
            Edge("/video/img2vid"),
            Response,
            Response,
            Edge("/video/addaudio"),
            Response,
            WorkerFails("invalid-task"),
        ],
    ),
    // AutoDark README: transcribe (Portuguese, large-v3), img2vid, caption_style.
    (
        "001",
        &[
            Edge("/runpod/audio/transcribe"),
            Response,
            Edge("/runpod/video/img2vid"),
            Response,
            Response,
            Edge("/runpod/video/caption_style"),
        ],
    ),
    // RunPod setup: the worker inputs of caption, img2vid, addaudio (operation-style, as
    // the seed's orchestrator sent them: the same operations of our API) and the test
    // job sent to RunPod's /run — its `input` is an img2vid request.
    ("002", &[Edge("/video/caption"), Edge("/video/img2vid"), Edge("/video/addaudio"), Edge("/video/img2vid")]),
    // Migration report: caption, single-image img2vid, addaudio, and a caption curl.
    ("003", &[Edge("/video/caption"), Edge("/video/img2vid"), Edge("/video/addaudio"), Edge("/video/caption")]),
    // ffmpeg-gpu-runpod-template: direct task payloads; the legacy GCS ENCODING names no
    // URL at all (only a bucket this worker holds no credentials for); then the
    // segmentation route.
    ("004", &[Worker, Worker, Worker, WorkerFails("no-storage-credentials"), Worker, Worker, Edge("/api/pipeline/segment")]),
];

// ---------------------------------------------------------------- reading the documents

fn seeds_dir() -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let candidates =
        [std::env::var("SEEDS_DIR").ok().map(PathBuf::from), Some(repo.join("../shared/seeds")), Some("/work/shared/seeds".into())];
    candidates.into_iter().flatten().find(|d| d.is_dir()).unwrap_or_else(|| {
        panic!("the seed documents are not found: set SEEDS_DIR (tried ../shared/seeds beside the checkout and /work/shared/seeds)")
    })
}

/// Fenced code blocks: (first line number, text).
fn blocks(text: &str) -> Vec<(usize, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let (mut out, mut i) = (vec![], 0);
    while i < lines.len() {
        if lines[i].starts_with("```") {
            let start = i + 1;
            let mut j = start;
            while j < lines.len() && !lines[j].starts_with("```") {
                j += 1;
            }
            out.push((start + 1, lines[start..j.min(lines.len())].join("\n")));
            i = j + 1;
        } else {
            i += 1;
        }
    }
    out
}

/// `//` comments outside strings removed (seed 004 annotates its JSON that way).
fn strip_comments(s: &str) -> String {
    let (mut out, mut in_str, mut chars) = (String::new(), false, s.chars().peekable());
    while let Some(c) = chars.next() {
        if in_str {
            out.push(c);
            if c == '\\' {
                out.extend(chars.next());
            } else if c == '"' {
                in_str = false;
            }
        } else if c == '"' {
            in_str = true;
            out.push(c);
        } else if c == '/' && chars.peek() == Some(&'/') {
            for n in chars.by_ref() {
                if n == '\n' {
                    out.push('\n');
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The JSON object a block shows, and the route its curl or `POST` line names.
fn request_of(block: &str) -> Option<(Option<String>, Map<String, Value>)> {
    let (route, body) = if let Some(d) = block.find("-d '") {
        let end = d + 4 + block[d + 4..].find('\'')?;
        let curl = block[..d].rfind("curl").unwrap_or(0);
        let url = block[curl..d].split_whitespace().find(|w| w.trim_matches('"').starts_with("http"))?.trim_matches('"');
        let path = url.splitn(4, '/').nth(3).map(|p| format!("/{p}"));
        (path, &block[d + 4..end])
    } else if let Some(rest) = block.trim_start().strip_prefix("POST ") {
        let (path, body) = rest.split_once('\n')?;
        (Some(path.trim().to_owned()), body)
    } else {
        (None, block)
    };
    match serde_json::from_str(&strip_comments(body)) {
        Ok(Value::Object(m)) => Some((route, m)),
        _ => None,
    }
}

struct Example {
    origin: String,
    kind: Kind,
    body: Map<String, Value>,
}

/// Every JSON block of the seed documents with what [`EXPECTED`] says it is; a block the
/// table does not account for, or a route that disagrees with the document, fails here.
fn seed_examples() -> Vec<Example> {
    let dir = seeds_dir();
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|x| x == "txt")).collect();
    files.sort();
    let mut out = vec![];
    for (prefix, kinds) in EXPECTED {
        let file = files
            .iter()
            .find(|f| f.file_name().unwrap().to_string_lossy().starts_with(prefix))
            .unwrap_or_else(|| panic!("no seed {prefix}_*.txt in {}", dir.display()));
        let text = String::from_utf8_lossy(&std::fs::read(file).unwrap()).into_owned();
        let found: Vec<_> = blocks(&text).into_iter().filter_map(|(line, b)| request_of(&b).map(|r| (line, r))).collect();
        let listed: Vec<String> = found.iter().map(|(l, (r, b))| format!("line {l}: {r:?} {}", Value::Object(b.clone()))).collect();
        assert_eq!(found.len(), kinds.len(), "{}: the JSON blocks and EXPECTED differ:\n{}", file.display(), listed.join("\n"));
        for ((line, (route, body)), kind) in found.into_iter().zip(kinds.iter()) {
            let origin = format!("{prefix} line {line}");
            // The route the document names, where it names one, is the one in the table.
            if let (Edge(want), Some(doc)) = (kind, &route)
                && !doc.starts_with("/v2/")
            {
                assert_eq!(doc, want, "{origin}");
            }
            // A direct RunPod call in the document carries `input`; the worker gets that.
            let body = match (kind, body.get("input")) {
                (Edge(_), Some(Value::Object(input))) => input.clone(),
                _ => body,
            };
            out.push(Example { origin, kind: *kind, body });
        }
    }
    out
}

/// The seed's API reference examples (requests only), kept beside this file; an entry
/// marked `"later"` (none now) waits for its route and is left out.
fn api_md_examples() -> Vec<Example> {
    let text = include_str!("seed_api_examples.json");
    let list: Vec<Value> = serde_json::from_str(text).unwrap();
    list.into_iter()
        .filter(|e| e.get("later").is_none())
        .map(|e| Example {
            origin: format!("docs/API.md {}", e["title"].as_str().unwrap()),
            kind: Edge(Box::leak(e["route"].as_str().unwrap().to_owned().into_boxed_str())),
            body: e["body"].as_object().unwrap().clone(),
        })
        .collect()
}

// ---------------------------------------------------------------- local media

struct Media {
    s: Stack,
    run: String,
    dir: PathBuf,
    hook: common::HookReceiver,
}

/// What a field's value points at.
#[derive(Clone, Copy)]
enum Asset {
    Image,
    Video,
    Audio,
    Srt,
    Words,
    Ass,
    Segments,
}

impl Asset {
    fn file(self) -> &'static str {
        match self {
            Asset::Image => "photo.jpg",
            Asset::Video => "video.mp4",
            Asset::Audio => "speech.mp3",
            Asset::Srt => "captions.srt",
            Asset::Words => "words.json",
            Asset::Ass => "subtitles.ass",
            Asset::Segments => "segments.json",
        }
    }
}

const ASSETS: [Asset; 7] = [Asset::Image, Asset::Video, Asset::Audio, Asset::Srt, Asset::Words, Asset::Ass, Asset::Segments];

fn write_media(dir: &Path) {
    let p = |n: &str| dir.join(n).to_str().unwrap().to_owned();
    ffmpeg(&["-f", "lavfi", "-i", "testsrc2=s=640x360", "-frames:v", "1", &p("photo.jpg")]);
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=320x240:r=24:d=2",
        "-f",
        "lavfi",
        "-i",
        "sine=f=440:d=2:sample_rate=48000",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-g",
        "48",
        "-c:a",
        "aac",
        "-t",
        "2",
        &p("video.mp4"),
    ]);
    // Portuguese speech, as the seed's transcription examples ask (`"language": "pt"`).
    let wav = p("speech.wav");
    let out = std::process::Command::new("espeak-ng")
        .args(["-v", "pt", "-s", "150", "-w", &wav, "Era uma vez uma história incrível sobre o mar."])
        .output()
        .unwrap();
    assert!(out.status.success(), "espeak-ng: {}", String::from_utf8_lossy(&out.stderr));
    // 20 s: long enough for the seed's trims (12.5 s + 6.2 s) and segments (0–12 s).
    ffmpeg(&["-i", &wav, "-af", "apad=whole_dur=20", "-ar", "44100", "-c:a", "libmp3lame", "-b:a", "96k", &p("speech.mp3")]);
    std::fs::write(
        dir.join("captions.srt"),
        "1\n00:00:00,000 --> 00:00:00,900\nOlá legendas\n\n2\n00:00:00,900 --> 00:00:01,900\nSegunda linha\n",
    )
    .unwrap();
    let words = json!({"words": [
        {"word": "Era", "start": 0.0, "end": 0.35}, {"word": "uma", "start": 0.35, "end": 0.63}, {"word": "vez", "start": 0.63, "end": 0.93}
    ]});
    std::fs::write(dir.join("words.json"), words.to_string()).unwrap();
    std::fs::write(
        dir.join("subtitles.ass"),
        "[Script Info]\nScriptType: v4.00+\nPlayResX: 320\nPlayResY: 240\n\n[V4+ Styles]\n\
         Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding\n\
         Style: Default,DejaVu Sans,28,&H00FFFFFF,&H000000FF,&H00000000,&H00000000,0,0,0,0,100,100,0,0,1,2,0,2,10,10,10,1\n\n\
         [Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n\
         Dialogue: 0,0:00:00.00,0:00:02.00,Default,,0,0,0,,Hello ASS\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("segments.json"),
        json!([{"start_sec": 0.25, "duration_sec": 1.0}, {"start_sec": 1.25, "duration_sec": 0.5}]).to_string(),
    )
    .unwrap();
}

impl Media {
    fn key(&self, asset: Asset) -> String {
        format!("{}seeds/{}/{}", self.s.prefix, self.run, asset.file())
    }

    /// A presigned GET of the uploaded asset: a real URL, as the seed's examples give.
    fn url(&self, asset: Asset) -> String {
        presign::presign(&self.s.s3, Method::Get, &self.key(asset), Duration::from_secs(3600), SystemTime::now()).unwrap()
    }

    fn put_url(&self, key: &str) -> String {
        presign::presign(&self.s.s3, Method::Put, key, Duration::from_secs(3600), SystemTime::now()).unwrap()
    }

    /// `s3://<seed bucket>/<key>` → the same key in this stack's bucket, the object
    /// uploaded there (under the tenant's prefix: the key is relative to it).
    async fn seed_object(&self, uri: &str, asset: Asset) -> String {
        let key = uri.strip_prefix("s3://").and_then(|r| r.split_once('/')).map(|(_, k)| k).unwrap_or_else(|| panic!("not s3://: {uri}"));
        self.s.upload(&format!("{}{key}", self.s.prefix), &self.dir.join(asset.file())).await;
        format!("s3://{}/{key}", self.s.s3.bucket)
    }
}

/// The asset a field names, by the seed's field names.
fn asset_of(field: &str, parent: &Map<String, Value>) -> Option<Asset> {
    Some(match field {
        "image_url" | "url_image" | "presenter_image_http_url" | "presenter_image_r2_uri" => Asset::Image,
        "url_video" | "video_url" | "input_video_uri" | "original_video_uri" => Asset::Video,
        "url_audio"
        | "audio_url"
        | "input_audio_uri"
        | "trilha_sonora"
        | "master_audio_http_url"
        | "master_audio_r2_uri"
        | "source_uri" => Asset::Audio,
        "url_srt" => Asset::Srt,
        "url_caption" if parent.get("type").and_then(Value::as_str) == Some("highlight") => Asset::Words,
        "url_caption" => Asset::Srt,
        "subtitles_uri" => Asset::Ass,
        "segments_uri" => Asset::Segments,
        _ => return None,
    })
}

/// Points a request's media at the local assets, its webhook at the local receiver; a
/// direct payload's storage output also gets an `output_put_url` (returned: its key).
async fn localize(m: &Media, v: &mut Map<String, Value>, worker: bool, puts: &mut Vec<String>) {
    let keys: Vec<String> = v.keys().cloned().collect();
    for k in keys {
        let parent = v.clone();
        match v.get_mut(&k).unwrap() {
            Value::String(s) if k == "webhook_url" => *s = m.hook.url.clone(),
            // A direct payload's output: where the seed writes with credentials (or a
            // placeholder presigned URL), a real presigned PUT of this stack.
            Value::String(s) if (k == "output_video_uri" || k == "dest_uri" || k == "output_put_url") && worker => {
                if k != "output_put_url" && parent.contains_key("output_put_url") {
                    continue;
                }
                let name = if k == "output_put_url" { "output.mp4" } else { s.rsplit('/').next().unwrap() };
                let key = format!("{}seeds/{}/out/{}-{name}", m.s.prefix, m.run, puts.len());
                v.insert("output_put_url".into(), json!(m.put_url(&key)));
                puts.push(key);
            }
            Value::String(s) => {
                if let Some(asset) = asset_of(&k, &parent) {
                    *s = if s.starts_with("s3://") && !worker { m.seed_object(s, asset).await } else { m.url(asset) };
                }
            }
            Value::Object(o) => Box::pin(localize(m, o, worker, puts)).await,
            Value::Array(items) => {
                for item in items.iter_mut() {
                    if let Value::Object(o) = item {
                        Box::pin(localize(m, o, worker, puts)).await;
                    }
                }
            }
            _ => {}
        }
    }
}

// ---------------------------------------------------------------- checks

/// What the seed's clients read of a finished job, where they read it.
fn check_seed_fields(origin: &str, sent: &Map<String, Value>, job: &Value) {
    let ctx = || format!("{origin}: {job:#}");
    assert_eq!(job["status"], "COMPLETED", "{}", ctx());
    for f in ["startTime", "endTime", "durationMs", "durationSeconds"] {
        assert!(!job["execution"][f].is_null(), "execution.{f}: {}", ctx());
    }
    if let Some(id) = sent.get("id_roteiro") {
        assert_eq!(&job["idRoteiro"], id, "{}", ctx());
    }
    let r = &job["result"];
    assert_eq!((r["code"].as_u64(), r["success"].as_bool()), (Some(200), Some(true)), "result.code/success: {}", ctx());
    assert!(r["message"].as_str().is_some_and(|m| !m.is_empty()), "result.message: {}", ctx());
    match job["operation"].as_str().unwrap() {
        "video/img2vid" => {
            let videos = r["videos"].as_array().unwrap();
            let images = sent.get("images").and_then(Value::as_array).map_or(1, Vec::len);
            assert_eq!(videos.len(), images, "{}", ctx());
            for v in videos {
                assert!(v["video_url"].is_string() && v["filename"].is_string() && v["url"].is_string(), "videos[]: {}", ctx());
            }
        }
        "audio/transcribe" => {
            assert!(r["files"]["segments"]["srt"].is_string() && r["files"]["words"]["json"].is_string(), "{}", ctx());
            assert!(r["transcription"].as_str().is_some_and(|t| !t.trim().is_empty()), "a transcription: {}", ctx());
            for f in ["segments", "words", "model", "device", "requested_model", "engine"] {
                assert!(!r["stats"][f].is_null(), "stats.{f}: {}", ctx());
            }
            if let Some(model) = sent.get("model") {
                assert_eq!(&r["stats"]["requested_model"], model, "{}", ctx());
            }
            assert_eq!(r["language"], sent.get("language").cloned().unwrap_or(json!("pt")), "{}", ctx());
        }
        "pipeline/segment" => {}
        // The seed's synchronous answer (`ok`, `source`, `language`, `duration`,
        // `segments_count`, `execution_time_ms`) and the four files of ours.
        "video/transcribe_youtube" => {
            for (group, format) in [("segments", "srt"), ("segments", "json"), ("words", "json"), ("words", "ass_karaoke")] {
                assert!(r["files"][group][format].is_string(), "files.{group}.{format}: {}", ctx());
            }
            assert!(r["transcription"].as_str().is_some_and(|t| !t.trim().is_empty()), "a transcription: {}", ctx());
            let url = sent["url"].as_str().unwrap();
            assert!(r["video_id"].as_str().is_some_and(|id| url.contains(id)), "video_id: {}", ctx());
            assert_eq!((r["ok"].as_bool(), r["source"].as_str()), (Some(true), Some(url)), "{}", ctx());
            assert!(r["language"].as_str().is_some_and(|l| !l.is_empty()) && r["duration"].as_f64().is_some_and(|d| d > 0.0), "{}", ctx());
            assert!(r["segments_count"].as_u64().is_some_and(|n| n > 0) && r["execution_time_ms"].is_u64(), "{}", ctx());
        }
        // `prompts[{index, prompt}]`, one per scene (`cenas`, or `quantidade` of `tema`
        // numbered from 1), in index order, and `stats`.
        "image/prompts" => {
            let want: Vec<u64> = match sent.get("cenas").and_then(Value::as_array) {
                Some(scenes) => scenes.iter().map(|c| c["index"].as_u64().unwrap()).collect(),
                None => (1..=sent["quantidade"].as_u64().unwrap()).collect(),
            };
            let prompts = r["prompts"].as_array().unwrap_or_else(|| panic!("prompts: {}", ctx()));
            let got: Vec<u64> = prompts.iter().filter_map(|p| p["index"].as_u64()).collect();
            assert_eq!(got, want, "prompts[].index: {}", ctx());
            assert!(prompts.iter().all(|p| p["prompt"].as_str().is_some_and(|t| !t.trim().is_empty())), "prompts[].prompt: {}", ctx());
            let n = want.len();
            assert_eq!(r["stats"], json!({"totalScenes": n, "promptsGenerated": n, "successRate": "100.0%"}), "{}", ctx());
        }
        // `images[{index, prompt, image_url, url}]`, one per prompt (a bare string is the
        // prompt of its 1-based position), and `stats`.
        "image/generate" => {
            let want: Vec<(u64, &str)> = sent["prompts"]
                .as_array()
                .unwrap()
                .iter()
                .enumerate()
                .map(|(i, p)| match p.as_str() {
                    Some(text) => (i as u64 + 1, text),
                    None => (p["index"].as_u64().unwrap(), p["prompt"].as_str().unwrap()),
                })
                .collect();
            let images = r["images"].as_array().unwrap_or_else(|| panic!("images: {}", ctx()));
            let got: Vec<(u64, &str)> =
                images.iter().map(|i| (i["index"].as_u64().unwrap_or(0), i["prompt"].as_str().unwrap_or(""))).collect();
            assert_eq!(got, want, "images[].index/prompt: {}", ctx());
            for i in images {
                assert!(i["image_url"].is_string() && i["url"] == i["image_url"], "images[].image_url/url: {}", ctx());
            }
            let n = want.len();
            assert_eq!(r["stats"], json!({"totalPrompts": n, "imagesGenerated": n, "successRate": "100.0%"}), "{}", ctx());
        }
        _ => {
            let url = r["video_url"].as_str().or(r["audio_url"].as_str()).unwrap_or_else(|| panic!("video_url/audio_url: {}", ctx()));
            assert_eq!(r["url"].as_str(), Some(url), "{}", ctx());
        }
    }
}

/// The output of a finished job downloads and is media ffprobe reads (a transcript's
/// files: text of their formats).
async fn check_download(s: &Stack, dir: &Path, origin: &str, job: &Value) {
    let r = &job["result"];
    if job["operation"] == "video/transcribe_youtube" {
        for (group, format, starts) in
            [("segments", "srt", "1\n"), ("segments", "json", "["), ("words", "json", "{"), ("words", "ass_karaoke", "[Script Info]")]
        {
            let url = r["files"][group][format].as_str().unwrap();
            let resp = s.http.get(url).send().await.unwrap();
            assert_eq!(resp.status(), 200, "{origin}: GET {url}");
            let text = resp.text().await.unwrap();
            assert!(text.starts_with(starts), "{origin}: files.{group}.{format}: {text}");
        }
        return;
    }
    let urls: Vec<&str> = match (r["videos"].as_array(), r["images"].as_array()) {
        (Some(v), _) => v.iter().filter_map(|v| v["video_url"].as_str()).collect(),
        (None, Some(i)) => i.iter().filter_map(|i| i["image_url"].as_str()).collect(),
        (None, None) => r["video_url"].as_str().or(r["audio_url"].as_str()).into_iter().collect(),
    };
    for (i, url) in urls.into_iter().enumerate() {
        let resp = s.http.get(url).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{origin}: GET {url}");
        let file = dir.join(format!("{}-{i}", origin.replace([' ', '/'], "_")));
        std::fs::write(&file, resp.bytes().await.unwrap()).unwrap();
        let probe = ffprobe(&file);
        assert!(!probe["streams"].as_array().unwrap().is_empty(), "{origin}: {probe}");
    }
}

/// Waits for a job to end: the seed's examples are queued together (the tenant runs 4 at a
/// time, img2vid clips at 1080p among them), so the last one waits for all the others.
async fn wait_long(s: &Stack, id: &str) -> Value {
    let start = Instant::now();
    loop {
        let (status, job) = s.get_job(id, &s.key).await;
        assert_eq!(status, 200, "{job}");
        if ["COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"].contains(&job["status"].as_str().unwrap()) {
            return job;
        }
        assert!(start.elapsed() < Duration::from_secs(1200), "job {id} still {} after 20 min: {job}", job["status"]);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn runpod(s: &Stack, path: &str, body: &Value) -> Value {
    let (url, key) = (std::env::var("RUNPOD_URL").unwrap(), std::env::var("RUNPOD_API_KEY").unwrap());
    let req = if body.is_null() { s.http.get(format!("{url}{path}")) } else { s.http.post(format!("{url}{path}")).json(body) };
    let resp = req.bearer_auth(key).send().await.unwrap();
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
    resp.json().await.unwrap()
}

/// A direct payload on the worker's `/run`, polled to the end (it waits in the worker's
/// queue behind the edge's jobs, as [`wait_long`] says).
async fn run_on_worker(s: &Stack, body: &Value) -> Value {
    let id = runpod(s, "/run", body).await["id"].as_str().unwrap().to_owned();
    let start = Instant::now();
    loop {
        let st = runpod(s, &format!("/status/{id}"), &Value::Null).await;
        if ["COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"].contains(&st["status"].as_str().unwrap_or_default()) {
            return st;
        }
        assert!(start.elapsed() < Duration::from_secs(1200), "worker job {id} after 20 min: {st}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test]
#[ignore = "needs the local stack: make test-e2e"]
async fn every_seed_request_example_works_as_documented() {
    let examples: Vec<Example> = seed_examples().into_iter().chain(api_md_examples()).collect();
    let requests = examples.iter().filter(|e| e.kind != Response).count();
    assert!(requests >= 20, "the seed documents hold at least 20 request examples; found {requests}");

    let s = stack();
    // YouTube, OpenRouter and Runware for the examples of the routes that call out.
    youtube_stub::start();
    let providers = provider_stub::stub();
    let dir = tempfile_dir();
    write_media(&dir);
    let media = Media { s: stack(), run: unique("seeds"), dir: dir.clone(), hook: hook_receiver(vec![200]).await };
    for a in ASSETS {
        s.upload(&media.key(a), &dir.join(a.file())).await;
    }

    // Submit every edge request at once (the tenant's queue takes them in turn).
    let mut jobs = vec![];
    let mut worker_runs = vec![];
    for e in examples.iter().filter(|e| e.kind != Response) {
        let mut body = e.body.clone();
        let mut puts = vec![];
        match e.kind {
            Edge(route) => {
                localize(&media, &mut body, false, &mut puts).await;
                let (status, job) = s.post(route, Some(&s.key), &Value::Object(body.clone())).await;
                assert_eq!(status, 202, "{}: POST {route} {}: {job}", e.origin, Value::Object(body));
                // Submitted to the GPU backend after the 202, by the job's alarm.
                assert_eq!(job["status"].as_str(), Some("QUEUED"), "{}: {job}", e.origin);
                assert_eq!(
                    job["statusUrl"].as_str().map(|u| u.starts_with("/jobs/")),
                    Some(true),
                    "{}: the seed's statusUrl: {job}",
                    e.origin
                );
                jobs.push((e, body, job["jobId"].as_str().unwrap().to_owned()));
            }
            Worker | WorkerFails(_) => {
                localize(&media, &mut body, true, &mut puts).await;
                worker_runs.push((e, Value::Object(body), puts));
            }
            Response => unreachable!(),
        }
    }
    let mut failures = vec![];
    for (e, body, puts) in &worker_runs {
        let st = run_on_worker(&s, body).await;
        match e.kind {
            Worker => {
                if st["status"] != "COMPLETED" {
                    failures.push(format!("{}: {st}", e.origin));
                    continue;
                }
                for key in puts {
                    let url = presign::presign(&s.s3, Method::Get, key, Duration::from_secs(300), SystemTime::now()).unwrap();
                    let resp = s.http.get(url).send().await.unwrap();
                    assert_eq!(resp.status(), 200, "{}: output {key} uploaded through output_put_url: {st}", e.origin);
                }
            }
            WorkerFails(code) => {
                let error = st["error"].as_str().unwrap_or_default();
                if st["status"] != "FAILED" || !error.contains(code) {
                    failures.push(format!("{}: want FAILED {code}, got {st}", e.origin));
                }
            }
            _ => unreachable!(),
        }
    }
    for (e, body, id) in &jobs {
        let job = wait_long(&s, id).await;
        if job["status"] != "COMPLETED" {
            failures.push(format!("{}: {job:#}", e.origin));
            continue;
        }
        check_seed_fields(&e.origin, body, &job);
        check_download(&s, &dir, &e.origin, &job).await;
        let (openrouter_key, runware_key) = provider_stub::keys();
        let text = job.to_string();
        assert!(!text.contains(&openrouter_key) && !text.contains(&runware_key), "{}: a provider key in a job object", e.origin);
    }
    assert!(failures.is_empty(), "{} of {requests} examples failed:\n{}", failures.len(), failures.join("\n\n"));

    // The seed's settings reached the providers as their fields (its examples carry no
    // `RUN=` tag: the stand-ins file their calls under the empty one).
    for (path, body) in [("/openrouter/chat/completions", "/vps/imagem/gerarPrompts"), ("/runware", "/vps/imagem/gerarImagens")] {
        let Some(sent) = jobs.iter().find(|(e, _, _)| e.kind == Edge(body)).map(|(_, b, _)| b) else { continue };
        let calls = providers.calls("", path);
        assert!(!calls.is_empty(), "{path}: no call for the example of {body}");
        let c = &calls[0].body;
        if path == "/runware" {
            let tasks = c.as_array().unwrap();
            assert_eq!(tasks.len(), sent["prompts"].as_array().unwrap().len(), "{c:#}");
            let t = &tasks[0];
            assert_eq!(
                (&t["width"], &t["height"], &t["model"], &t["negativePrompt"]),
                (&sent["width"], &sent["height"], &sent["model"], &sent["negative_prompt"]),
                "{c:#}"
            );
        } else {
            let user = c["messages"][1]["content"].as_str().unwrap();
            let (theme, style) = (sent["tema"].as_str().unwrap(), sent["estilo"].as_str().unwrap());
            assert!(user.contains(theme) && user.contains(style), "the theme and style asked: {user}");
            let n = sent["quantidade"].as_u64().unwrap();
            assert!((1..=n).all(|i| user.contains(&format!("[scene {i}]"))), "{n} scenes asked: {user}");
        }
    }

    // Every request that named a webhook got its job back there.
    let hooked = jobs.iter().filter(|(_, b, _)| b.contains_key("webhook_url")).count();
    let start = Instant::now();
    while media.hook.got.lock().unwrap().len() < hooked && start.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let got = media.hook.got.lock().unwrap().clone();
    assert!(got.len() >= hooked, "{} webhooks for {hooked} requests that named one", got.len());
    for r in &got {
        let body: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(body["status"], "COMPLETED", "{body}");
        assert_eq!(body["processor"], "GPU", "the seed's webhook field: {body}");
    }
}

/// The tables themselves: every block of the seed documents is accounted for, with the
/// route each document names. Runs without the stack.
#[test]
fn every_seed_json_block_is_accounted_for() {
    let all = seed_examples();
    let requests = all.iter().filter(|e| e.kind != Response).count();
    let responses = all.len() - requests;
    assert_eq!((requests, responses), (22, 8), "{:?}", all.iter().map(|e| (&e.origin, e.kind)).collect::<Vec<_>>());
    // docs/API.md: 16 requests (the YouTube captions, prompts and images ones among them)
    // and 5 `/vps/video` twins.
    let api = api_md_examples();
    assert_eq!(api.len(), 21);
    for route in ["/vps/video/transcribe_youtube", "/vps/imagem/gerarPrompts", "/vps/imagem/gerarImagens"] {
        assert!(api.iter().any(|e| e.kind == Edge(route)), "{route} runs");
    }
}
