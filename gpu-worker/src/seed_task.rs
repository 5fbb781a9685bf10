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
            Ok(SeedJob {
                task,
                job: WorkerJob { progress_url: None, job_id, attempt: 1, inputs: r.inputs, outputs: vec![output], task: spec },
                echo,
            })
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
mod tests;
