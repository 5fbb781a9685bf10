//! Seed 004's direct RunPod payloads: `{"task": "ENCODING" | "DOWNSAMPLING" |
//! "STAGE_OBJECT" | "AUDIO_TRIM", "parameters": {…}}`, for callers who reach the RunPod
//! endpoint with RunPod's SDK or curl and no edge.
//!
//! [`parse_input`] reads a job's `input` — an edge [`WorkerJob`] first, then a seed task —
//! and [`translate`] maps a seed task onto a [`WorkerJob`], so the same executor runs it;
//! [`Incoming::output_value`] adds what the seed's callers read (URL, key, duration,
//! size) to the usual [`WorkerOutput`]. Pure: no I/O; the public-read configuration is
//! passed in.
//!
//! The worker holds no storage credentials. Inputs are `http(s)://` URLs (the SSRF guard
//! applies at download) or `s3://<bucket>/<key>`, read as `GET <R2_PUBLIC_BASE_URL>/<key>`;
//! the output goes to `output_put_url`, a presigned PUT. Anything else (`gs://` inputs,
//! `s3://` without a public base, `s3://` / `gs://` outputs) answers
//! `no-storage-credentials`, naming both ways that work.

use job_spec::worker::{AudioFormat, AudioTrimTask, DownsampleTask, EncodeTask, InputUrl, OUTPUT, OutputTarget};
use job_spec::{Task, WorkerError, WorkerJob, WorkerOutput};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::config::PublicInputs;

/// The seed's task names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedTask {
    Encoding,
    Downsampling,
    StageObject,
    AudioTrim,
}

impl SeedTask {
    pub const ALL: [SeedTask; 4] = [SeedTask::Encoding, SeedTask::Downsampling, SeedTask::StageObject, SeedTask::AudioTrim];

    pub const fn name(self) -> &'static str {
        match self {
            SeedTask::Encoding => "ENCODING",
            SeedTask::Downsampling => "DOWNSAMPLING",
            SeedTask::StageObject => "STAGE_OBJECT",
            SeedTask::AudioTrim => "AUDIO_TRIM",
        }
    }

    /// The seed writes them upper-case; any case is accepted.
    pub fn parse(s: &str) -> Option<SeedTask> {
        SeedTask::ALL.into_iter().find(|t| t.name().eq_ignore_ascii_case(s.trim()))
    }
}

/// One thing wrong with a seed payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Not a seed task this worker knows, or `parameters` is not an object.
    InvalidTask(String),
    /// The payload needs storage credentials (a `gs://` input, `s3://` without a public
    /// base, an `s3://` / `gs://` output without `output_put_url`).
    NoStorageCredentials(String),
    MissingParameter(String),
    InvalidParameter(String),
}

impl Problem {
    /// Stable kebab-case code; the job's error carries the first problem's code in this
    /// order (declaration order).
    pub const fn code(&self) -> &'static str {
        match self {
            Problem::InvalidTask(_) => "invalid-task",
            Problem::NoStorageCredentials(_) => "no-storage-credentials",
            Problem::MissingParameter(_) => "missing-parameter",
            Problem::InvalidParameter(_) => "invalid-parameter",
        }
    }

    fn rank(&self) -> u8 {
        match self {
            Problem::InvalidTask(_) => 0,
            Problem::NoStorageCredentials(_) => 1,
            Problem::MissingParameter(_) => 2,
            Problem::InvalidParameter(_) => 3,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Problem::InvalidTask(m) | Problem::NoStorageCredentials(m) | Problem::MissingParameter(m) | Problem::InvalidParameter(m) => m,
        }
    }
}

/// Every problem in one error: the most important code, all the messages.
fn refuse(mut problems: Vec<Problem>) -> WorkerError {
    problems.sort_by_key(Problem::rank);
    let code = problems.first().map_or("invalid-task", Problem::code);
    let message = problems.iter().map(Problem::message).collect::<Vec<_>>().join("; ");
    WorkerError { code: code.into(), message, retryable: false, stderr_tail: None }
}

/// How a job without credentials reads inputs and writes outputs (ends every
/// `no-storage-credentials` message).
const TWO_WAYS: &str = "this worker never holds storage credentials: give inputs as https:// URLs (public or presigned GET) \
     or as s3://<bucket>/<key> read through R2_PUBLIC_BASE_URL (a public base serving the bucket's keys), \
     and the output as `output_put_url` (a presigned PUT URL)";

/// A seed task mapped onto a [`WorkerJob`], with the fields its output echoes.
#[derive(Debug, Clone, PartialEq)]
pub struct SeedJob {
    pub task: SeedTask,
    pub job: WorkerJob,
    /// Top-level output fields known before the job runs (task, id, URIs, key, URL).
    echo: Map<String, Value>,
}

/// A job's `input`, as the three modes receive it.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// The edge's payload.
    Job(WorkerJob),
    Seed(SeedJob),
}

impl Incoming {
    pub fn job(&self) -> &WorkerJob {
        match self {
            Incoming::Job(j) => j,
            Incoming::Seed(s) => &s.job,
        }
    }

    /// The job's RunPod `output`: the [`WorkerOutput`] as always; for a seed task, also
    /// top-level fields the seed's callers read (`output_video_uri` / `dest_uri` as they
    /// asked, `output_uri`, `url`, `key`, `duration`, `bytes` / `size_bytes`, …).
    pub fn output_value(&self, out: &WorkerOutput) -> Value {
        let mut v = serde_json::to_value(out).unwrap_or(Value::Null);
        if let (Incoming::Seed(seed), Value::Object(map)) = (self, &mut v) {
            for (k, val) in seed.facts(out) {
                map.entry(k).or_insert(val);
            }
        }
        v
    }
}

impl SeedJob {
    fn facts(&self, out: &WorkerOutput) -> Map<String, Value> {
        let mut m = self.echo.clone();
        if let Some(o) = out.output(OUTPUT) {
            m.insert("key".into(), json!(o.key));
            m.insert("bytes".into(), json!(o.bytes));
            m.insert("size_bytes".into(), json!(o.bytes));
            m.insert("content_type".into(), json!(o.content_type));
            for (k, v) in
                [("duration", o.duration.map(|d| json!(d))), ("width", o.width.map(|w| json!(w))), ("height", o.height.map(|h| json!(h)))]
            {
                if let Some(v) = v {
                    m.insert(k.into(), v);
                }
            }
        }
        m
    }
}

/// Reads a job's `input`: a [`WorkerJob`] first, then a seed task (an object whose
/// `task` is a string). Anything else is `invalid-task`.
pub fn parse_input(input: Value, public: Option<&PublicInputs>) -> Result<Incoming, WorkerError> {
    match WorkerJob::deserialize(&input) {
        Ok(job) => Ok(Incoming::Job(job)),
        Err(_) if input.get("task").is_some_and(Value::is_string) => translate(&input, public).map(Incoming::Seed),
        Err(e) => {
            Err(refuse(vec![Problem::InvalidTask(format!("input is not a worker job ({e}) nor a seed task (`task` and `parameters`)"))]))
        }
    }
}

/// Maps a seed task (`{"task": …, "parameters": {…}}`) onto a [`WorkerJob`]; every
/// problem is reported at once.
pub fn translate(input: &Value, public: Option<&PublicInputs>) -> Result<SeedJob, WorkerError> {
    let names = SeedTask::ALL.map(SeedTask::name).join(", ");
    let name = input.get("task").and_then(Value::as_str).unwrap_or_default();
    let task = SeedTask::parse(name)
        .ok_or_else(|| refuse(vec![Problem::InvalidTask(format!("`task` {name:?} is not a seed task: use one of {names}"))]))?;
    let params = match input.get("parameters") {
        Some(Value::Object(m)) => m,
        Some(_) => return Err(refuse(vec![Problem::InvalidTask(format!("{}: `parameters` must be an object", task.name()))])),
        None => return Err(refuse(vec![Problem::InvalidTask(format!("{}: `parameters` (an object) is missing", task.name()))])),
    };
    let mut r = Reader { p: params, public, problems: vec![], inputs: vec![] };
    let mut echo = Map::new();
    echo.insert("task".into(), json!(task.name()));
    let id = r.str("id").or_else(|| r.str("job_id"));
    if let Some(id) = id {
        echo.insert("id".into(), json!(id));
    }
    let mapped = match task {
        SeedTask::Encoding => encoding(&mut r, &mut echo),
        SeedTask::Downsampling => downsampling(&mut r, &mut echo),
        SeedTask::StageObject => stage_object(&mut r, &mut echo),
        SeedTask::AudioTrim => audio_trim(&mut r, &mut echo),
    };
    match mapped {
        Some((spec, out, content_type)) if r.problems.is_empty() => {
            echo.insert("key".into(), json!(out.key));
            echo.insert("url".into(), json!(without_query(&out.put_url)));
            for field in out.echo_fields {
                echo.insert((*field).into(), json!(out.asked.as_ref().map_or_else(|| without_query(&out.put_url), |(_, uri)| uri.clone())));
            }
            let job_id = id.map_or_else(|| format!("seed-{}", task.name().to_ascii_lowercase()), str::to_owned);
            let output = OutputTarget { name: OUTPUT.into(), key: out.key, put_url: out.put_url, content_type };
            Ok(SeedJob { task, job: WorkerJob { job_id, attempt: 1, inputs: r.inputs, outputs: vec![output], task: spec }, echo })
        }
        _ => Err(refuse(r.problems)),
    }
}

/// `ENCODING`: the video (`input_video_uri`, or legacy `bucket` / `bucket_parent_folder` /
/// `input_video_name`), optional `input_audio_uri`, `subtitles_uri` burned unless
/// `subtitles` is false; an MP4 (`output_video_uri`, or legacy `name`).
fn encoding(r: &mut Reader<'_>, echo: &mut Map<String, Value>) -> Option<(Task, Output, String)> {
    let video_uri = r.str("input_video_uri");
    let legacy = video_uri.is_none() && ["input_video_name", "bucket", "name"].iter().any(|f| r.p.contains_key(*f));
    let mut legacy_output = None;
    if legacy {
        // GCS-style objects: read through the public base, written through output_put_url.
        let (bucket, folder) = (r.required_str("bucket"), r.str("bucket_parent_folder").unwrap_or_default().trim_matches('/'));
        let video = r.required_str("input_video_name");
        let path = |file: &str| if folder.is_empty() { file.to_owned() } else { format!("{folder}/{file}") };
        if let (Some(b), Some(v)) = (bucket, video) {
            r.input("video", "`bucket`/`bucket_parent_folder`/`input_video_name`", &format!("s3://{b}/{}", path(v)));
        }
        if let (Some(b), Some(n)) = (bucket, r.str("name")) {
            legacy_output = Some(("`bucket`/`bucket_parent_folder`/`name`".to_owned(), format!("s3://{b}/{}", path(n))));
        }
    } else if let Some(v) = video_uri {
        r.input("video", "`input_video_uri`", v);
    } else {
        r.missing("input_video_uri");
    }
    let audio = r.str("input_audio_uri");
    if let Some(a) = audio {
        r.input("audio", "`input_audio_uri`", a);
    }
    let flag = r.bool("subtitles");
    let subtitles = match (flag, r.str("subtitles_uri")) {
        (Some(false), _) => false,
        (_, Some(s)) => {
            r.input("subtitles", "`subtitles_uri`", s);
            true
        }
        (Some(true), None) => {
            r.problems.push(Problem::MissingParameter(
                "`subtitles` is true but `subtitles_uri` (an https:// or s3:// .ass or .srt file) is missing".into(),
            ));
            false
        }
        (None, None) => false,
    };
    let out = match legacy_output {
        Some(asked) => r.output_to(Some(asked), &["output_video_uri", "output_uri"]),
        None => r.output(&["output_video_uri", "output_uri"]),
    }?;
    echo.insert("subtitles".into(), json!(subtitles));
    Some((Task::Encode(EncodeTask { audio: audio.is_some(), subtitles }), out, "video/mp4".into()))
}

/// `DOWNSAMPLING`: `original_video_uri` scaled to `resolution` (`"360p"` or `360`).
fn downsampling(r: &mut Reader<'_>, echo: &mut Map<String, Value>) -> Option<(Task, Output, String)> {
    if let Some(v) = r.required_str("original_video_uri") {
        r.input("video", "`original_video_uri`", v);
    }
    let height = match r.p.get("resolution") {
        None | Some(Value::Null) => {
            r.problems.push(Problem::MissingParameter("`resolution` is missing: e.g. \"360p\" or 360".into()));
            None
        }
        Some(v) => match job_spec::resolution_height(v) {
            Some(h) if h % 2 == 0 => {
                echo.insert("resolution".into(), v.clone());
                Some(h)
            }
            _ => {
                r.problems.push(Problem::InvalidParameter(format!(
                    "`resolution` {v}: use an even height such as \"240p\", \"360p\", 480, between 144 and 2160"
                )));
                None
            }
        },
    };
    let out = r.output(&["output_video_uri", "output_uri"])?;
    Some((Task::Downsample(DownsampleTask { height: height? }), out, "video/mp4".into()))
}

/// `STAGE_OBJECT`: `source_uri` copied byte for byte to `dest_uri` (via `output_put_url`).
fn stage_object(r: &mut Reader<'_>, echo: &mut Map<String, Value>) -> Option<(Task, Output, String)> {
    let source = r.required_str("source_uri");
    if let Some(s) = source {
        r.input("source", "`source_uri`", s);
        echo.insert("source_uri".into(), json!(s));
    }
    let out = r.output(&["dest_uri", "output_uri"])?;
    let mut content_type = job_spec::media::content_type_for(&out.key);
    if content_type == "application/octet-stream" {
        content_type = job_spec::media::content_type_for(source.unwrap_or_default().split(['?', '#']).next().unwrap_or_default());
    }
    Some((Task::Stage, out, content_type.into()))
}

/// `AUDIO_TRIM`: `duration_sec` seconds of `source_uri` from `start_sec` (default 0); the
/// format follows the output name's extension, WAV by default (the seed's segments).
fn audio_trim(r: &mut Reader<'_>, echo: &mut Map<String, Value>) -> Option<(Task, Output, String)> {
    use job_spec::validate::limits::MAX_MEDIA_SECONDS;
    if let Some(s) = r.required_str("source_uri") {
        r.input("audio", "`source_uri`", s);
    }
    let start = r.number("start_sec").unwrap_or(0.0);
    if !(0.0..MAX_MEDIA_SECONDS).contains(&start) {
        r.problems.push(Problem::InvalidParameter(format!("`start_sec` {start} must be between 0 and {MAX_MEDIA_SECONDS}")));
    }
    let duration = r.number("duration_sec");
    match duration {
        None => r.missing("duration_sec"),
        Some(d) if !(d > 0.0 && d <= MAX_MEDIA_SECONDS) => {
            r.problems.push(Problem::InvalidParameter(format!("`duration_sec` {d} must be above 0 and at most {MAX_MEDIA_SECONDS}")));
        }
        _ => {}
    }
    let out = r.output(&["output_video_uri", "output_uri"])?;
    let format = job_spec::media::extension(&out.key).and_then(|e| AudioFormat::from_extension(&e)).unwrap_or(AudioFormat::Wav);
    echo.insert("start_sec".into(), json!(start));
    echo.insert("duration_sec".into(), json!(duration?));
    Some((Task::AudioTrim(AudioTrimTask { start_sec: start, duration_sec: duration?, format }), out, format.content_type().into()))
}

/// Where the output goes.
struct Output {
    put_url: String,
    /// The object key reported back: the asked URI's key, else the PUT URL's path.
    key: String,
    /// (field, URI) the caller named the destination with, echoed in the output.
    asked: Option<(String, String)>,
    /// Output fields that echo the destination (the asked URI, else `url`).
    echo_fields: &'static [&'static str],
}

/// Reads parameters, collecting problems.
struct Reader<'a> {
    p: &'a Map<String, Value>,
    public: Option<&'a PublicInputs>,
    problems: Vec<Problem>,
    inputs: Vec<InputUrl>,
}

impl<'a> Reader<'a> {
    /// A non-empty string; absent, null or "" is `None`; another type is a problem.
    fn str(&mut self, field: &str) -> Option<&'a str> {
        match self.p.get(field) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(Value::String(s)) => Some(s.trim()),
            Some(other) => {
                self.problems.push(Problem::InvalidParameter(format!("`{field}` must be a string, not {other}")));
                None
            }
        }
    }

    fn required_str(&mut self, field: &str) -> Option<&'a str> {
        let v = self.str(field);
        if v.is_none() {
            self.missing(field);
        }
        v
    }

    /// `field` is missing: absent, null or "" (there with the wrong type was reported).
    fn missing(&mut self, field: &str) {
        if self.p.get(field).is_none_or(|v| v.is_null() || v.as_str().is_some_and(|s| s.trim().is_empty())) {
            self.problems.push(Problem::MissingParameter(format!("`{field}` is missing")));
        }
    }

    /// A number, or a string holding one (form-built payloads send "12.5").
    fn number(&mut self, field: &str) -> Option<f64> {
        let v = self.p.get(field)?;
        let n = match v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse::<f64>().ok().filter(|n| n.is_finite()),
            Value::Null => return None,
            _ => None,
        };
        if n.is_none() {
            self.problems.push(Problem::InvalidParameter(format!("`{field}` must be a number of seconds, not {v}")));
        }
        n
    }

    fn bool(&mut self, field: &str) -> Option<bool> {
        match self.p.get(field)? {
            Value::Bool(b) => Some(*b),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
            Value::Null => None,
            other => {
                self.problems.push(Problem::InvalidParameter(format!("`{field}` must be true or false, not {other}")));
                None
            }
        }
    }

    /// Adds input `name` read from `uri` (named `label` in messages).
    fn input(&mut self, name: &str, label: &str, uri: &str) {
        match resolve_input(label, uri, self.public) {
            Ok(url) => self.inputs.push(InputUrl { name: name.into(), url }),
            Err(p) => self.problems.push(p),
        }
    }

    /// The output: `output_put_url`, named by the first of `uri_fields` given.
    fn output(&mut self, uri_fields: &'static [&'static str]) -> Option<Output> {
        let asked = uri_fields.iter().find_map(|f| self.str(f).map(|u| (format!("`{f}`"), u.to_owned())));
        self.output_to(asked, uri_fields)
    }

    fn output_to(&mut self, asked: Option<(String, String)>, echo_fields: &'static [&'static str]) -> Option<Output> {
        let Some(put) = self.str("output_put_url") else {
            let problem = match &asked {
                Some((field, uri)) if matches!(scheme(uri).as_deref(), Some("s3" | "gs")) => Problem::NoStorageCredentials(format!(
                    "{field} is {uri}, and writing it needs storage credentials: pass `output_put_url`, a presigned PUT URL for that object \
                     (the URI is then reported as the output's key); {TWO_WAYS}"
                )),
                Some((field, uri)) if matches!(scheme(uri).as_deref(), Some("http" | "https")) => Problem::InvalidParameter(format!(
                    "{field} is an HTTP URL ({}); HTTP destinations are written with a presigned PUT: pass it as `output_put_url`",
                    without_query(uri)
                )),
                Some((field, uri)) => Problem::InvalidParameter(format!("{field} {uri:?} is not an s3:// or gs:// URI")),
                None => Problem::MissingParameter(format!(
                    "the output is missing: pass `output_put_url` (a presigned PUT URL){}",
                    echo_fields.first().map(|f| format!(", optionally with `{f}` naming the object")).unwrap_or_default()
                )),
            };
            self.problems.push(problem);
            return None;
        };
        let url = match url::Url::parse(put) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => u,
            _ => {
                self.problems.push(Problem::InvalidParameter("`output_put_url` must be an https:// URL (a presigned PUT)".into()));
                return None;
            }
        };
        let key = match &asked {
            Some((_, uri)) => key_of(uri),
            None => percent_decode(url.path().trim_start_matches('/')),
        };
        Some(Output { put_url: put.to_owned(), key, asked, echo_fields })
    }
}

/// The URL the worker GETs for an input URI (`label` names the field in messages).
fn resolve_input(label: &str, uri: &str, public: Option<&PublicInputs>) -> Result<String, Problem> {
    match scheme(uri).as_deref() {
        // The SSRF guard and the https rule apply at download, as for every input.
        Some("http" | "https") => Ok(uri.to_owned()),
        Some("s3") => {
            let Some((bucket, key)) = bucket_key(uri) else {
                return Err(Problem::InvalidParameter(format!("{label} {uri:?}: expected s3://<bucket>/<key>")));
            };
            let public = public.ok_or_else(|| {
                Problem::NoStorageCredentials(format!(
                    "{label} is {uri}, and R2_PUBLIC_BASE_URL is not set on this worker, so it cannot be read; {TWO_WAYS}"
                ))
            })?;
            if let Some(allowed) = public.bucket.as_deref().filter(|b| *b != bucket) {
                return Err(Problem::NoStorageCredentials(format!(
                    "{label} is {uri}, but R2_PUBLIC_BASE_URL serves only bucket `{allowed}` (R2_PUBLIC_BUCKET); {TWO_WAYS}"
                )));
            }
            if key.split('/').any(|s| s == "." || s == "..") {
                return Err(Problem::InvalidParameter(format!("{label} {uri:?}: `.` and `..` are not allowed in a key")));
            }
            Ok(format!("{}/{}", public.base, percent_encode_key(key)))
        }
        Some("gs") => {
            Err(Problem::NoStorageCredentials(format!("{label} is {uri}, and reading gs:// needs storage credentials; {TWO_WAYS}")))
        }
        _ => Err(Problem::InvalidParameter(format!("{label} {uri:?} is not an https:// or s3:// URI"))),
    }
}

fn scheme(uri: &str) -> Option<String> {
    uri.split_once("://").map(|(s, _)| s.to_ascii_lowercase())
}

/// `s3://bucket/key` → (`bucket`, `key`), both non-empty.
fn bucket_key(uri: &str) -> Option<(&str, &str)> {
    let (_, rest) = uri.split_once("://")?;
    let (bucket, key) = rest.split_once('/')?;
    (!bucket.is_empty() && !key.is_empty()).then_some((bucket, key))
}

/// The object key an output URI names: the key of `s3://` / `gs://`, the path of a URL.
fn key_of(uri: &str) -> String {
    match scheme(uri).as_deref() {
        Some("s3" | "gs") => bucket_key(uri).map_or_else(|| uri.to_owned(), |(_, k)| k.to_owned()),
        _ => url::Url::parse(uri).map_or_else(|_| uri.to_owned(), |u| percent_decode(u.path().trim_start_matches('/'))),
    }
}

/// A presigned URL without its signature (query) and fragment: the object's address.
fn without_query(url: &str) -> String {
    url.split(['?', '#']).next().unwrap_or_default().to_owned()
}

/// Percent-encodes a key for a URL path: unreserved characters and `/` stay.
fn percent_encode_key(key: &str) -> String {
    let mut s = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(bucket: Option<&str>) -> PublicInputs {
        PublicInputs { base: "https://videos.example.com".into(), bucket: bucket.map(str::to_owned) }
    }

    fn seed(task: &str, params: Value) -> Value {
        json!({ "task": task, "parameters": params })
    }

    fn ok(task: &str, params: Value, public: Option<&PublicInputs>) -> SeedJob {
        match parse_input(seed(task, params), public) {
            Ok(Incoming::Seed(s)) => s,
            other => panic!("{other:?}"),
        }
    }

    fn err(task: &str, params: Value, public: Option<&PublicInputs>) -> WorkerError {
        let e = translate(&seed(task, params), public).unwrap_err();
        assert!(!e.retryable);
        e
    }

    fn input_urls(j: &WorkerJob) -> Vec<(&str, &str)> {
        j.inputs.iter().map(|i| (i.name.as_str(), i.url.as_str())).collect()
    }

    const PUT: &str = "https://acct.r2.cloudflarestorage.com/videos/exports/out.mp4?X-Amz-Signature=abc";

    #[test]
    fn encoding_with_public_urls_and_subtitles() {
        let s = ok(
            "ENCODING",
            json!({"id": "job-123", "language": "en", "subtitles": true,
                "input_video_uri": "https://example.com/video.mp4", "input_audio_uri": "https://example.com/audio.wav",
                "subtitles_uri": "https://example.com/subtitles_en.ass",
                "output_video_uri": "gs://my-bucket/exports/job-123/output.mp4", "output_put_url": PUT}),
            None,
        );
        assert_eq!(s.task, SeedTask::Encoding);
        assert_eq!(s.job.job_id, "job-123");
        assert_eq!(s.job.task, Task::Encode(EncodeTask { audio: true, subtitles: true }));
        assert_eq!(
            input_urls(&s.job),
            [
                ("video", "https://example.com/video.mp4"),
                ("audio", "https://example.com/audio.wav"),
                ("subtitles", "https://example.com/subtitles_en.ass")
            ]
        );
        assert_eq!(
            s.job.outputs,
            [OutputTarget {
                name: OUTPUT.into(),
                key: "exports/job-123/output.mp4".into(),
                put_url: PUT.into(),
                content_type: "video/mp4".into()
            }]
        );
        assert_eq!(s.echo["output_video_uri"], "gs://my-bucket/exports/job-123/output.mp4");
        assert_eq!(s.echo["output_uri"], "gs://my-bucket/exports/job-123/output.mp4");
        assert_eq!(s.echo["url"], "https://acct.r2.cloudflarestorage.com/videos/exports/out.mp4");
        // `subtitles: false` wins over a URI; no flag with a URI burns.
        let t = |flag: Value| {
            ok(
                "ENCODING",
                json!({"input_video_uri": "https://e.example/v.mp4", "subtitles": flag,
                "subtitles_uri": "https://e.example/s.ass", "output_put_url": PUT}),
                None,
            )
            .job
            .task
        };
        assert_eq!(t(json!(false)), Task::Encode(EncodeTask { audio: false, subtitles: false }));
        assert_eq!(t(Value::Null), Task::Encode(EncodeTask { audio: false, subtitles: true }));
    }

    #[test]
    fn encoding_gs_output_without_a_put_url_needs_credentials() {
        let e = err(
            "ENCODING",
            json!({"input_video_uri": "https://example.com/video.mp4", "output_video_uri": "gs://my-bucket/exports/out.mp4"}),
            None,
        );
        assert_eq!(e.code, "no-storage-credentials");
        for needle in ["`output_video_uri` is gs://my-bucket/exports/out.mp4", "`output_put_url`", "R2_PUBLIC_BASE_URL"] {
            assert!(e.message.contains(needle), "{needle}: {}", e.message);
        }
    }

    #[test]
    fn encoding_legacy_maps_through_the_public_base_and_the_put_url() {
        let legacy = json!({"id": "job-123", "language": "en", "subtitles": true, "name": "exported_video.mp4",
            "input_video_name": "video.mp4", "bucket": "my-bucket", "bucket_parent_folder": "exports"});
        // As the seed writes it: no public base, no PUT URL, no subtitles file.
        let e = err("ENCODING", legacy.clone(), None);
        assert_eq!(e.code, "no-storage-credentials");
        assert!(e.message.contains("s3://my-bucket/exports/video.mp4") && e.message.contains("R2_PUBLIC_BASE_URL"), "{}", e.message);
        assert!(e.message.contains("s3://my-bucket/exports/exported_video.mp4") && e.message.contains("`output_put_url`"), "{}", e.message);
        assert!(e.message.contains("`subtitles_uri`"), "{}", e.message);

        let mut p = legacy;
        p["output_put_url"] = json!(PUT);
        p["subtitles_uri"] = json!("s3://my-bucket/exports/subtitles_en.ass");
        let s = ok("ENCODING", p, Some(&public(None)));
        assert_eq!(
            input_urls(&s.job),
            [
                ("video", "https://videos.example.com/exports/video.mp4"),
                ("subtitles", "https://videos.example.com/exports/subtitles_en.ass")
            ]
        );
        assert_eq!(s.job.outputs[0].key, "exports/exported_video.mp4");
        assert_eq!(s.echo["output_video_uri"], "s3://my-bucket/exports/exported_video.mp4");
        // Missing legacy parts are named.
        let e = err("ENCODING", json!({"name": "o.mp4", "output_put_url": PUT}), Some(&public(None)));
        assert_eq!(e.code, "missing-parameter");
        assert!(e.message.contains("`bucket` is missing") && e.message.contains("`input_video_name` is missing"), "{}", e.message);
    }

    #[test]
    fn downsampling_reads_resolution_as_text_or_number() {
        for (res, h) in [(json!("360p"), 360), (json!(360), 360), (json!("240"), 240)] {
            let s = ok(
                "DOWNSAMPLING",
                json!({"original_video_uri": "https://e.example/v.mp4", "output_put_url": PUT, "resolution": res}),
                None,
            );
            assert_eq!(s.job.task, Task::Downsample(DownsampleTask { height: h }));
            assert_eq!(input_urls(&s.job), [("video", "https://e.example/v.mp4")]);
            // No URI asked: the key is the PUT URL's path, the URIs echo its address.
            assert_eq!(s.job.outputs[0].key, "videos/exports/out.mp4");
            assert_eq!(s.echo["output_video_uri"], "https://acct.r2.cloudflarestorage.com/videos/exports/out.mp4");
        }
        let e =
            err("DOWNSAMPLING", json!({"original_video_uri": "https://e.example/v.mp4", "output_put_url": PUT, "resolution": "4k"}), None);
        assert_eq!((e.code.as_str(), e.message.contains("`resolution`")), ("invalid-parameter", true));
        let e =
            err("DOWNSAMPLING", json!({"original_video_uri": "https://e.example/v.mp4", "output_put_url": PUT, "resolution": 361}), None);
        assert_eq!(e.code, "invalid-parameter");
        let e = err("DOWNSAMPLING", json!({"output_put_url": PUT}), None);
        assert_eq!(e.code, "missing-parameter");
        assert!(e.message.contains("`original_video_uri` is missing") && e.message.contains("`resolution` is missing"), "{}", e.message);
    }

    #[test]
    fn downsampling_s3_to_s3_as_the_seed_writes_it() {
        let p = json!({"original_video_uri": "s3://videos/pipelines/job-123/inputs/video/source.mp4",
            "output_video_uri": "s3://videos/pipelines/job-123/stage/downsample/downsampled.mp4", "resolution": "360p"});
        // Public base set: only the output is refused.
        let e = err("DOWNSAMPLING", p.clone(), Some(&public(Some("videos"))));
        assert_eq!(e.code, "no-storage-credentials");
        assert!(e.message.contains("`output_video_uri` is s3://videos/") && !e.message.contains("`original_video_uri`"), "{}", e.message);
        let mut p = p;
        p["output_put_url"] = json!(PUT);
        let s = ok("DOWNSAMPLING", p, Some(&public(Some("videos"))));
        assert_eq!(input_urls(&s.job), [("video", "https://videos.example.com/pipelines/job-123/inputs/video/source.mp4")]);
        assert_eq!(s.job.outputs[0].key, "pipelines/job-123/stage/downsample/downsampled.mp4");
    }

    #[test]
    fn s3_inputs_need_a_public_base_for_their_bucket() {
        let p = json!({"source_uri": "s3://videos/in/a b+c.m4a", "output_put_url": PUT});
        let e = err("STAGE_OBJECT", p.clone(), None);
        assert_eq!(e.code, "no-storage-credentials");
        assert!(e.message.contains("`source_uri` is s3://videos/in/a b+c.m4a") && e.message.contains("R2_PUBLIC_BASE_URL is not set"));
        assert!(e.message.contains("`output_put_url`"), "{}", e.message);
        let e = err("STAGE_OBJECT", p.clone(), Some(&public(Some("other"))));
        assert_eq!(e.code, "no-storage-credentials");
        assert!(e.message.contains("only bucket `other`"), "{}", e.message);
        // Keys are percent-encoded into the public URL.
        let s = ok("STAGE_OBJECT", p, Some(&public(Some("videos"))));
        assert_eq!(input_urls(&s.job), [("source", "https://videos.example.com/in/a%20b%2Bc.m4a")]);
        for (uri, code) in [
            ("s3://videos/../secret", "invalid-parameter"),
            ("s3://videos", "invalid-parameter"),
            ("gs://b/k.mp4", "no-storage-credentials"),
            ("file:///etc/passwd", "invalid-parameter"),
        ] {
            let e = err("STAGE_OBJECT", json!({"source_uri": uri, "output_put_url": PUT}), Some(&public(None)));
            assert_eq!(e.code, code, "{uri}: {}", e.message);
        }
    }

    #[test]
    fn stage_object_writes_dest_uri_through_the_put_url() {
        let p =
            json!({"source_uri": "https://example.com/master.m4a", "dest_uri": "s3://videos/pipelines/job-123/inputs/audio/master.m4a"});
        let e = err("STAGE_OBJECT", p.clone(), None);
        assert_eq!(e.code, "no-storage-credentials");
        assert!(e.message.contains("`dest_uri` is s3://videos/pipelines/") && e.message.contains("`output_put_url`"), "{}", e.message);
        let mut p = p;
        p["output_put_url"] = json!("https://put.example/x?sig=1");
        let s = ok("STAGE_OBJECT", p, None);
        assert_eq!(s.job.task, Task::Stage);
        assert_eq!(input_urls(&s.job), [("source", "https://example.com/master.m4a")]);
        assert_eq!(
            s.job.outputs[0],
            OutputTarget {
                name: OUTPUT.into(),
                key: "pipelines/job-123/inputs/audio/master.m4a".into(),
                put_url: "https://put.example/x?sig=1".into(),
                content_type: "audio/mp4".into()
            }
        );
        assert_eq!(s.echo["dest_uri"], "s3://videos/pipelines/job-123/inputs/audio/master.m4a");
        assert_eq!(s.echo["source_uri"], "https://example.com/master.m4a");
        assert_eq!(s.job.job_id, "seed-stage_object");
        // Without a named object, the source's extension gives the type.
        let s = ok("STAGE_OBJECT", json!({"source_uri": "https://e.example/p.png?x=1", "output_put_url": "https://put.example/obj"}), None);
        assert_eq!(s.job.outputs[0].content_type, "image/png");
    }

    #[test]
    fn audio_trim_follows_the_output_extension_wav_by_default() {
        let p = json!({"source_uri": "s3://videos/pipelines/job-123/inputs/audio/master.m4a", "start_sec": 12.5, "duration_sec": 6.2,
            "output_video_uri": "s3://videos/pipelines/job-123/stage/segmentation/audio_segments/segment_0.wav"});
        let e = err("AUDIO_TRIM", p.clone(), None);
        assert_eq!(e.code, "no-storage-credentials");
        // Both the input and the output are named.
        assert!(e.message.contains("`source_uri`") && e.message.contains("`output_video_uri`"), "{}", e.message);
        let mut p = p;
        p["output_put_url"] = json!("https://put.example/seg?sig=1");
        let s = ok("AUDIO_TRIM", p, Some(&public(None)));
        assert_eq!(s.job.task, Task::AudioTrim(AudioTrimTask { start_sec: 12.5, duration_sec: 6.2, format: AudioFormat::Wav }));
        assert_eq!(s.job.outputs[0].key, "pipelines/job-123/stage/segmentation/audio_segments/segment_0.wav");
        assert_eq!(s.job.outputs[0].content_type, "audio/wav");
        // Extension from the PUT path; strings for numbers; no extension is WAV.
        let t = |put: &str| {
            ok(
                "AUDIO_TRIM",
                json!({"source_uri": "https://e.example/a.wav", "start_sec": "1", "duration_sec": "2.5", "output_put_url": put}),
                None,
            )
            .job
            .task
        };
        assert_eq!(
            t("https://put.example/a/seg.mp3?s=1"),
            Task::AudioTrim(AudioTrimTask { start_sec: 1.0, duration_sec: 2.5, format: AudioFormat::Mp3 })
        );
        assert_eq!(
            t("https://put.example/seg"),
            Task::AudioTrim(AudioTrimTask { start_sec: 1.0, duration_sec: 2.5, format: AudioFormat::Wav })
        );
        let e = err(
            "AUDIO_TRIM",
            json!({"source_uri": "https://e.example/a.wav", "start_sec": -1, "duration_sec": 0, "output_put_url": PUT}),
            None,
        );
        assert_eq!(e.code, "invalid-parameter");
        assert!(e.message.contains("`start_sec` -1") && e.message.contains("`duration_sec` 0"), "{}", e.message);
        let e = err("AUDIO_TRIM", json!({"source_uri": "https://e.example/a.wav", "start_sec": "soon", "output_put_url": PUT}), None);
        assert_eq!(e.code, "missing-parameter");
        assert!(e.message.contains("`duration_sec` is missing") && e.message.contains("`start_sec` must be a number"), "{}", e.message);
    }

    #[test]
    fn output_errors_name_the_fields() {
        let base = || json!({"source_uri": "https://e.example/a.wav", "duration_sec": 1});
        let e = err("AUDIO_TRIM", base(), None);
        assert_eq!(e.code, "missing-parameter");
        assert!(e.message.contains("`output_put_url`") && e.message.contains("`output_video_uri`"), "{}", e.message);
        let mut p = base();
        p["output_video_uri"] = json!("https://cdn.example/out.wav?sig=secret");
        let e = err("AUDIO_TRIM", p, None);
        assert_eq!(e.code, "invalid-parameter");
        assert!(e.message.contains("`output_put_url`") && !e.message.contains("secret"), "{}", e.message);
        let mut p = base();
        p["output_put_url"] = json!("ftp://x.example/a.wav");
        assert_eq!(err("AUDIO_TRIM", p, None).code, "invalid-parameter");
        let mut p = base();
        p["output_put_url"] = json!(42);
        let e = err("AUDIO_TRIM", p, None);
        assert!(e.message.contains("`output_put_url` must be a string"), "{}", e.message);
    }

    #[test]
    fn unknown_tasks_and_shapes_are_invalid() {
        let e = parse_input(json!({"task": "TRANSCODE", "parameters": {}}), None).unwrap_err();
        assert_eq!(e.code, "invalid-task");
        assert!(e.message.contains("ENCODING, DOWNSAMPLING, STAGE_OBJECT, AUDIO_TRIM"), "{}", e.message);
        assert_eq!(parse_input(json!({"task": "ENCODING"}), None).unwrap_err().code, "invalid-task");
        assert_eq!(parse_input(json!({"task": "ENCODING", "parameters": [1]}), None).unwrap_err().code, "invalid-task");
        let e = parse_input(json!({"hello": 1}), None).unwrap_err();
        assert_eq!(e.code, "invalid-task");
        assert!(e.message.contains("not a worker job"), "{}", e.message);
        assert_eq!(SeedTask::parse("audio_trim"), Some(SeedTask::AudioTrim));
    }

    #[test]
    fn worker_jobs_parse_first_and_serialize_as_before() {
        let job = WorkerJob {
            job_id: "j".into(),
            attempt: 2,
            inputs: vec![InputUrl { name: "source".into(), url: "https://e.example/a".into() }],
            outputs: vec![OutputTarget { name: OUTPUT.into(), key: "k".into(), put_url: PUT.into(), content_type: "x/y".into() }],
            task: Task::Stage,
        };
        let parsed = parse_input(serde_json::to_value(&job).unwrap(), None).unwrap();
        assert_eq!(parsed, Incoming::Job(job));
        let out = WorkerOutput {
            outputs: vec![job_spec::worker::OutputMeta { name: OUTPUT.into(), key: "k".into(), bytes: 3, ..Default::default() }],
            ..Default::default()
        };
        assert_eq!(parsed.output_value(&out), serde_json::to_value(&out).unwrap());
    }

    #[test]
    fn seed_outputs_add_what_the_seed_callers_read() {
        let s = ok(
            "DOWNSAMPLING",
            json!({"id": "d1", "original_video_uri": "https://e.example/v.mp4", "resolution": "360p",
            "output_video_uri": "s3://videos/d/360.mp4", "output_put_url": PUT}),
            None,
        );
        let meta = job_spec::worker::OutputMeta {
            name: OUTPUT.into(),
            key: "d/360.mp4".into(),
            bytes: 1234,
            content_type: "video/mp4".into(),
            duration: Some(2.0),
            width: Some(640),
            height: Some(360),
            ..Default::default()
        };
        let out = WorkerOutput { outputs: vec![meta], ..Default::default() };
        let v = Incoming::Seed(s).output_value(&out);
        let base = serde_json::to_value(&out).unwrap();
        for (k, val) in base.as_object().unwrap() {
            assert_eq!(&v[k], val, "{k} kept");
        }
        assert_eq!(
            (&v["task"], &v["id"], &v["key"], &v["url"], &v["output_video_uri"], &v["output_uri"]),
            (
                &json!("DOWNSAMPLING"),
                &json!("d1"),
                &json!("d/360.mp4"),
                &json!("https://acct.r2.cloudflarestorage.com/videos/exports/out.mp4"),
                &json!("s3://videos/d/360.mp4"),
                &json!("s3://videos/d/360.mp4")
            )
        );
        assert_eq!(
            (&v["bytes"], &v["size_bytes"], &v["duration"], &v["height"], &v["resolution"]),
            (&json!(1234), &json!(1234), &json!(2.0), &json!(360), &json!("360p"))
        );
    }

    #[test]
    fn percent_coding() {
        assert_eq!(percent_encode_key("a/b c/ü~.x"), "a/b%20c/%C3%BC~.x");
        assert_eq!(percent_decode("a/b%20c/%C3%BC%zz"), "a/b c/ü%zz");
    }
}
