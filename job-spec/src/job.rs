//! The public job object (`GET /jobs/{id}` and the client webhook carry the same one),
//! job states, and the per-operation `result` built from the worker's output.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::worker::{Progress, Task, WorkerOutput};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobStatus {
    Queued,
    Submitted,
    Processing,
    Completed,
    Failed,
    Cancelled,
    TimedOut,
}

impl JobStatus {
    pub fn is_terminal(self) -> bool {
        matches!(self, JobStatus::Completed | JobStatus::Failed | JobStatus::Cancelled | JobStatus::TimedOut)
    }

    /// RunPod's status names → ours.
    pub fn from_runpod(s: &str) -> Option<JobStatus> {
        Some(match s {
            "IN_QUEUE" => JobStatus::Submitted,
            "IN_PROGRESS" => JobStatus::Processing,
            "COMPLETED" => JobStatus::Completed,
            "FAILED" => JobStatus::Failed,
            "CANCELLED" => JobStatus::Cancelled,
            "TIMED_OUT" => JobStatus::TimedOut,
            _ => return None,
        })
    }
}

/// `error` of a failed job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct JobError {
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Execution {
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    pub duration_ms: Option<u64>,
    pub duration_seconds: Option<f64>,
}

/// The job object of the public API.
///
/// Besides our own fields it carries the ones the seed's clients read where they read them:
/// `message`, `statusUrl` (the seed's 202), `processor` and `timestamp` (its webhook),
/// and, in `result`, `code`, `success` and `message` (see [`build_result`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobView {
    pub job_id: String,
    pub status: JobStatus,
    pub operation: String,
    /// A sentence about the status (`Job queued successfully`, …; the error's message
    /// when the job failed).
    pub message: String,
    /// Where the job object is read: `/jobs/{jobId}`.
    pub status_url: String,
    /// Where the work runs: always `GPU` (the seed reported `GPU` or `CPU`).
    pub processor: String,
    /// When this object was made (RFC 3339), as the seed's webhook body carries it.
    pub timestamp: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_roteiro: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
    pub progress: Progress,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<JobError>,
    pub execution: Execution,
    pub attempts: u32,
    /// Delivery of the client webhook, when the request named a `webhook_url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookView>,
}

/// `webhook` of the job object: every delivery attempt, and whether one succeeded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookView {
    pub url: String,
    pub delivered: bool,
    pub attempts: Vec<WebhookAttempt>,
    /// When the next attempt is due (absent once delivered or given up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<String>,
}

/// One delivery attempt of a client webhook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookAttempt {
    pub attempt: u32,
    pub at: String,
    /// The receiver's HTTP status, absent when none came (connection error, timeout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub duration_ms: u64,
}

impl JobStatus {
    /// The job object's `message` for a job in this state (a failed one says its error).
    pub fn message(self) -> &'static str {
        match self {
            JobStatus::Queued => "Job queued successfully",
            JobStatus::Submitted => "Job submitted to the GPU backend",
            JobStatus::Processing => "Job processing",
            JobStatus::Completed => "Job completed successfully",
            JobStatus::Failed => "Job failed",
            JobStatus::Cancelled => "Job cancelled",
            JobStatus::TimedOut => "Job timed out",
        }
    }
}

/// Builds the operation's public `result` from the task and the worker's output;
/// `url_of(key)` gives the download URL of an output key. Every result also carries
/// the seed's `code` (200), `success` (true) and `message`.
pub fn build_result(task: &Task, out: &WorkerOutput, url_of: &dyn Fn(&str) -> String) -> Value {
    let mut r = operation_result(task, out, url_of);
    let message = match &r["videos"] {
        Value::Array(v) => format!("{} videos processed successfully", v.len()),
        _ => format!("{} completed successfully", task.operation().name()),
    };
    if let Value::Object(m) = &mut r {
        m.insert("code".into(), json!(200));
        m.insert("success".into(), json!(true));
        m.insert("message".into(), json!(message));
    }
    r
}

fn operation_result(task: &Task, out: &WorkerOutput, url_of: &dyn Fn(&str) -> String) -> Value {
    match task {
        Task::Img2vid(t) => {
            let videos: Vec<Value> = t
                .clips
                .iter()
                .filter_map(|clip| {
                    let meta = out.output(&clip.output)?;
                    let filename = meta.key.rsplit('/').next().unwrap_or(&meta.key);
                    let url = url_of(&meta.key);
                    Some(json!({
                        "id": clip.id,
                        "filename": filename,
                        "video_url": url,
                        // The seed's AutoDark README reads `url` and `size_mb`.
                        "url": url,
                        "size_mb": (meta.bytes as f64 / 1_048_576.0 * 100.0).round() / 100.0,
                        "s3_key": meta.key,
                        "duration": meta.duration.unwrap_or(f64::from(clip.frames) / f64::from(t.frame_rate)),
                        "zoom_type": clip.zoom.as_str(),
                        "frames": meta.frames,
                        "width": meta.width,
                        "height": meta.height,
                        "bytes": meta.bytes,
                        "encoder": meta.encoder,
                    }))
                })
                .collect();
            // The seed's `stats.total` / `stats.processed`.
            let stats = json!({ "total": t.clips.len(), "processed": videos.len() });
            let mut r = json!({ "videos": videos, "stats": stats, "timings_ms": out.timings_ms });
            // A batch that fanned out says into how many RunPod jobs.
            if let Some(parts) = out.extras.get("parts") {
                r["parts"] = parts.clone();
            }
            r
        }
        Task::Transcribe(_) => transcribe_result(out, url_of, true),
        // The worker's facts: `video_id`, `title`, `language`, `track`, `transcription`,
        // `duration`, `word_timings`, `segments_count`.
        Task::TranscribeYoutube(t) => {
            let mut r = transcribe_result(out, url_of, false);
            // The seed's synchronous answer (docs/API.md): `ok`, `source` (here the video's
            // watch URL) and `execution_time_ms` (the worker's total).
            r["ok"] = json!(true);
            r["source"] = json!(format!("https://www.youtube.com/watch?v={}", t.video_id));
            if let Some(ms) = out.timings_ms.get("total") {
                r["execution_time_ms"] = json!(ms);
            }
            r
        }
        Task::SegmentAudio(t) => segment_result(t, out, url_of),
        // The runner's facts: `prompts`, `stats`, `usage`, `failed`.
        Task::ImagePrompts(_) => {
            let mut r = json!({ "timings_ms": out.timings_ms });
            merge_extras(&mut r, out);
            r
        }
        Task::ImageGenerate(t) => image_result(t, out, url_of),
        _ => single_output_result(out, url_of),
    }
}

/// `/pipeline/segment`: `segments: [{index, key, url, start_sec, duration_sec, samples,
/// duration, bytes, truncated}]` in index order (the worker's facts joined by index, from
/// every part), `expected`, `ready`, `status_url` (`GET /pipeline/status` for the same
/// pipeline), `master` (its key; `master_staged` when it was copied in from a URL),
/// `presenter` likewise, the master's `sample_rate`, `channels` and `master_duration`,
/// `timings_ms` and, fanned out, `parts`.
fn segment_result(t: &crate::worker::SegmentAudioTask, out: &WorkerOutput, url_of: &dyn Fn(&str) -> String) -> Value {
    let facts = |index: u32| {
        out.extras.get("segments").and_then(Value::as_array).and_then(|a| a.iter().find(|f| f["index"] == json!(index))).cloned()
    };
    let rate = out.extras.get("sample_rate").and_then(Value::as_u64);
    let segments: Vec<Value> = t
        .segments
        .iter()
        .filter_map(|c| {
            let meta = out.output(&c.output())?;
            let f = facts(c.index).unwrap_or(Value::Null);
            let samples = f["samples"].as_u64();
            Some(json!({
                "index": c.index,
                "filename": meta.key.rsplit('/').next().unwrap_or(&meta.key),
                "key": meta.key,
                "s3_key": meta.key,
                "url": url_of(&meta.key),
                "start_sec": c.start_sec,
                "duration_sec": c.duration_sec,
                "samples": samples,
                "duration": samples.zip(rate).map(|(n, r)| n as f64 / r as f64),
                "bytes": meta.bytes,
                "truncated": f["truncated"].as_bool().unwrap_or(false),
            }))
        })
        .collect();
    let id: String = url::form_urlencoded::byte_serialize(t.pipeline_id.as_bytes()).collect();
    let mut r = json!({
        "job_id": t.pipeline_id,
        "expected": t.expected,
        "ready": segments.len(),
        "segments": segments,
        "status_url": format!("/pipeline/status?job_id={id}&expected={}", t.expected),
        "master": t.master_key,
        "master_staged": t.stage_master,
        "timings_ms": out.timings_ms,
    });
    if let Some(p) = &t.presenter_key {
        r["presenter"] = json!(p);
        r["presenter_staged"] = json!(t.stage_presenter);
    }
    for k in ["sample_rate", "channels", "master_duration", "parts"] {
        if let Some(v) = out.extras.get(k) {
            r[k] = v.clone();
        }
    }
    r
}

/// `/audio/transcribe`: `files{segments{srt,json}, words{ass_karaoke,json}}` (download
/// URLs), `s3_keys` (the same shape), and the worker's `transcription`, `language`,
/// `language_probability`, `duration`, `stats`; `timings_ms`.
fn transcribe_result(out: &WorkerOutput, url_of: &dyn Fn(&str) -> String, seed_audio: bool) -> Value {
    use crate::worker::TranscribeTask as T;
    let key = |name: &str| out.output(name).map(|m| m.key.as_str());
    let tree = |f: &dyn Fn(&str) -> Value| {
        json!({
            "segments": { "srt": f(T::SEGMENTS_SRT), "json": f(T::SEGMENTS_JSON) },
            "words": { "ass_karaoke": f(T::KARAOKE_ASS), "json": f(T::WORDS_JSON) },
        })
    };
    let mut r = json!({
        "files": tree(&|name| json!(key(name).map(url_of))),
        "s3_keys": tree(&|name| json!(key(name))),
        "timings_ms": out.timings_ms,
    });
    merge_extras(&mut r, out);
    if seed_audio {
        // The seed's transcription response: `audio{duration, language, language_probability}`.
        r["audio"] = json!({ "duration": r["duration"], "language": r["language"], "language_probability": r["language_probability"] });
    }
    r
}

/// `/image/generate`: `images[{index, prompt, image_url, url, s3_key, width, height,
/// bytes, content_type}]` in index order — the images stored under the planned outputs,
/// ready to be img2vid's `images` (`index` as `id`) — and `stats{totalPrompts,
/// imagesGenerated, successRate}`; the runner's facts (`failed[{index, code, message}]`,
/// `model`, …) besides.
fn image_result(t: &crate::worker::ImageGenerateTask, out: &WorkerOutput, url_of: &dyn Fn(&str) -> String) -> Value {
    let mut jobs: Vec<&crate::worker::ImageJob> = t.images.iter().collect();
    jobs.sort_by_key(|j| j.index);
    let images: Vec<Value> = jobs
        .iter()
        .filter_map(|j| {
            let meta = out.output(&j.output)?;
            let url = url_of(&meta.key);
            Some(json!({
                "index": j.index,
                "prompt": j.prompt,
                "image_url": url,
                "url": url,
                "s3_key": meta.key,
                "filename": meta.key.rsplit('/').next().unwrap_or(&meta.key),
                "width": meta.width.unwrap_or(t.width),
                "height": meta.height.unwrap_or(t.height),
                "bytes": meta.bytes,
                "content_type": meta.content_type,
            }))
        })
        .collect();
    let total = t.images.len();
    let rate = if total == 0 { 0.0 } else { images.len() as f64 * 100.0 / total as f64 };
    let stats = json!({ "totalPrompts": total, "imagesGenerated": images.len(), "successRate": format!("{rate:.1}%") });
    let mut r = json!({ "images": images, "stats": stats, "timings_ms": out.timings_ms });
    merge_extras(&mut r, out);
    r
}

/// Fields the edge builds from the planned outputs: a worker's extras never replace them,
/// so a compromised worker cannot put its own URLs or keys in a result.
const PLANNED_FIELDS: [&str; 10] =
    ["files", "s3_keys", "url", "video_url", "audio_url", "s3_key", "filename", "videos", "images", "image_url"];

/// Adds the worker's facts (`extras`) to a result, but for [`PLANNED_FIELDS`].
fn merge_extras(r: &mut Value, out: &WorkerOutput) {
    for (k, v) in &out.extras {
        if !PLANNED_FIELDS.contains(&k.as_str()) {
            r[k] = v.clone();
        }
    }
}

/// `{filename, url, video_url|audio_url, s3_key, duration, …, timings_ms}` plus the
/// operation's extras.
fn single_output_result(out: &WorkerOutput, url_of: &dyn Fn(&str) -> String) -> Value {
    let Some(meta) = out.output(crate::worker::OUTPUT) else { return json!({ "timings_ms": out.timings_ms }) };
    let url = url_of(&meta.key);
    let mut r = json!({
        "filename": meta.key.rsplit('/').next().unwrap_or(&meta.key),
        "url": url,
        "s3_key": meta.key,
        "bytes": meta.bytes,
        "content_type": meta.content_type,
        "duration": meta.duration,
        "timings_ms": out.timings_ms,
    });
    if let Some(kind) = ["video", "audio"].into_iter().find(|k| meta.content_type.starts_with(&format!("{k}/"))) {
        r[format!("{kind}_url")] = json!(url);
    }
    for (k, v) in [
        ("codec", json!(meta.codec)),
        ("encoder", json!(meta.encoder)),
        ("width", json!(meta.width)),
        ("height", json!(meta.height)),
        ("frames", json!(meta.frames)),
    ] {
        if !v.is_null() {
            r[k] = v;
        }
    }
    merge_extras(&mut r, out);
    r
}

/// Milliseconds since the Unix epoch → `2026-11-22T03:21:45.123Z` (no clock read here).
pub fn rfc3339_from_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let milli = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{milli:03}Z", sod / 3600, sod % 3600 / 60, sod % 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::ZoomType;
    use crate::worker::{ClipTask, Img2VidTask, OutputMeta};

    #[test]
    fn rfc3339() {
        assert_eq!(rfc3339_from_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_from_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339_from_ms(1_795_318_905_123), "2026-11-22T03:41:45.123Z");
        assert_eq!(rfc3339_from_ms(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn statuses() {
        assert_eq!(serde_json::to_string(&JobStatus::TimedOut).unwrap(), "\"TIMED_OUT\"");
        assert_eq!(JobStatus::from_runpod("IN_PROGRESS"), Some(JobStatus::Processing));
        assert!(JobStatus::Cancelled.is_terminal() && !JobStatus::Submitted.is_terminal());
    }

    #[test]
    fn img2vid_result_lists_videos_in_input_order() {
        let task = Task::Img2vid(Img2VidTask {
            width: 1920,
            height: 1080,
            frame_rate: 24,
            clips: vec![
                ClipTask {
                    id: "a".into(),
                    input: "image_1".into(),
                    output: "video_1".into(),
                    frames: 48,
                    zoom: ZoomType::Zoomin,
                    easing: Default::default(),
                },
                ClipTask {
                    id: "b".into(),
                    input: "image_2".into(),
                    output: "video_2".into(),
                    frames: 24,
                    zoom: ZoomType::Zoomout,
                    easing: Default::default(),
                },
            ],
        });
        let out = WorkerOutput {
            outputs: vec![
                OutputMeta { name: "video_2".into(), key: "t/x/video_2.mp4".into(), duration: Some(1.0), ..Default::default() },
                OutputMeta { name: "video_1".into(), key: "t/x/video_1.mp4".into(), duration: Some(2.0), ..Default::default() },
            ],
            ..Default::default()
        };
        let r = build_result(&task, &out, &|k| format!("https://dl.test/{k}"));
        assert_eq!(r["videos"][0]["id"], "a");
        assert_eq!(r["videos"][0]["filename"], "video_1.mp4");
        assert_eq!(r["videos"][0]["video_url"], "https://dl.test/t/x/video_1.mp4");
        // The seed's names for the same facts, and its result fields.
        assert_eq!(r["videos"][0]["url"], r["videos"][0]["video_url"]);
        assert!(r["videos"][0]["size_mb"].is_number(), "{r}");
        assert_eq!((r["code"].as_u64(), r["success"].as_bool()), (Some(200), Some(true)), "{r}");
        assert_eq!(r["message"], format!("{} videos processed successfully", r["videos"].as_array().unwrap().len()));
        assert_eq!(r["stats"]["total"], r["stats"]["processed"], "{r}");
        assert_eq!(r["videos"][0]["s3_key"], "t/x/video_1.mp4");
        assert_eq!(r["videos"][1]["zoom_type"], "zoomout");
        assert_eq!(r["videos"][1]["duration"], 1.0);
    }

    #[test]
    fn worker_extras_never_replace_planned_urls_or_keys() {
        use crate::worker::TranscribeTask;
        let task = Task::Transcribe(TranscribeTask { model: None, language: None, enable_vad: true, beam_size: 5, temperature: 0.0 });
        let meta = |name: &str, file: &str| OutputMeta { name: name.into(), key: format!("t/x/{file}"), ..Default::default() };
        let mut extras = Map::new();
        extras.insert("files".into(), json!({"segments": {"srt": "https://evil.test/x"}}));
        extras.insert("s3_keys".into(), json!({"segments": {"srt": "t/other/secret"}}));
        extras.insert("language".into(), json!("en"));
        let out = WorkerOutput {
            outputs: TranscribeTask::OUTPUTS.iter().map(|(name, file)| meta(name, file)).collect(),
            timings_ms: Default::default(),
            extras,
        };
        let r = build_result(&task, &out, &|k| format!("https://dl.test/{k}"));
        assert_eq!(r["files"]["segments"]["srt"], "https://dl.test/t/x/segments.srt", "{r}");
        assert_eq!(r["s3_keys"]["segments"]["srt"], "t/x/segments.srt", "{r}");
        assert_eq!(r["language"], "en", "other facts still come through");
        let single = Task::Downsample(crate::worker::DownsampleTask { height: 360 });
        let mut extras = Map::new();
        extras.insert("url".into(), json!("https://evil.test/y"));
        extras.insert("video_url".into(), json!("https://evil.test/y"));
        let out = WorkerOutput {
            outputs: vec![OutputMeta {
                name: crate::worker::OUTPUT.into(),
                key: "t/x/o.mp4".into(),
                content_type: "video/mp4".into(),
                ..Default::default()
            }],
            timings_ms: Default::default(),
            extras,
        };
        let r = build_result(&single, &out, &|k| format!("https://dl.test/{k}"));
        assert_eq!(
            (r["url"].as_str(), r["video_url"].as_str()),
            (Some("https://dl.test/t/x/o.mp4"), Some("https://dl.test/t/x/o.mp4")),
            "{r}"
        );
    }

    #[test]
    fn transcribe_result_names_the_four_files() {
        use crate::worker::TranscribeTask;
        let task = Task::Transcribe(TranscribeTask { model: None, language: None, enable_vad: true, beam_size: 5, temperature: 0.0 });
        let meta = |name: &str, file: &str| OutputMeta { name: name.into(), key: format!("t/x/{file}"), ..Default::default() };
        let mut extras = Map::new();
        extras.insert("transcription".into(), json!("Hello world."));
        extras.insert("language".into(), json!("en"));
        extras.insert("language_probability".into(), json!(1.0));
        extras.insert("duration".into(), json!(2.5));
        extras.insert("stats".into(), json!({"model": "tiny.en"}));
        let out = WorkerOutput {
            outputs: TranscribeTask::OUTPUTS.iter().rev().map(|(name, file)| meta(name, file)).collect(),
            timings_ms: [("total", 10)].map(|(k, v)| (k.to_owned(), v)).into(),
            extras,
        };
        let r = build_result(&task, &out, &|k| format!("https://dl.test/{k}"));
        assert_eq!(
            r,
            json!({
                "files": {
                    "segments": {"srt": "https://dl.test/t/x/segments.srt", "json": "https://dl.test/t/x/segments.json"},
                    "words": {"ass_karaoke": "https://dl.test/t/x/karaoke.ass", "json": "https://dl.test/t/x/words.json"},
                },
                "s3_keys": {
                    "segments": {"srt": "t/x/segments.srt", "json": "t/x/segments.json"},
                    "words": {"ass_karaoke": "t/x/karaoke.ass", "json": "t/x/words.json"},
                },
                "transcription": "Hello world.",
                "language": "en",
                "language_probability": 1.0,
                "duration": 2.5,
                "stats": {"model": "tiny.en"},
                "timings_ms": {"total": 10},
                // What the seed's clients read.
                "audio": {"duration": 2.5, "language": "en", "language_probability": 1.0},
                "code": 200,
                "success": true,
                "message": "audio/transcribe completed successfully",
            })
        );
    }

    #[test]
    fn youtube_and_image_results() {
        use crate::worker::{ImageFormat, ImageGenerateTask, ImageJob, ImagePromptsTask, TranscribeTask, TranscribeYoutubeTask};
        let meta = |name: &str, key: &str| OutputMeta { name: name.into(), key: key.into(), bytes: 10, ..Default::default() };
        let task = Task::TranscribeYoutube(TranscribeYoutubeTask { video_id: "dQw4w9WgXcQ".into(), language: None });
        let mut extras = Map::new();
        for (k, v) in [("video_id", json!("dQw4w9WgXcQ")), ("track", json!("asr")), ("word_timings", json!(true)), ("files", json!("x"))] {
            extras.insert(k.into(), v);
        }
        extras.insert("source".into(), json!("https://evil.test/"));
        let out = WorkerOutput {
            outputs: TranscribeTask::OUTPUTS.iter().map(|(n, f)| meta(n, &format!("t/y/{f}"))).collect(),
            timings_ms: [("player", 40), ("total", 95)].map(|(k, v)| (k.to_owned(), v)).into(),
            extras,
        };
        let r = build_result(&task, &out, &|k| format!("https://dl.test/{k}"));
        assert_eq!(r["files"]["words"]["json"], "https://dl.test/t/y/words.json", "the worker cannot replace planned fields");
        // The seed's names of its synchronous answer.
        assert_eq!(
            (r["ok"].as_bool(), r["source"].as_str(), r["execution_time_ms"].as_u64()),
            (Some(true), Some("https://www.youtube.com/watch?v=dQw4w9WgXcQ"), Some(95)),
            "{r}"
        );
        assert_eq!(
            (r["video_id"].as_str(), r["track"].as_str(), r["word_timings"].as_bool()),
            (Some("dQw4w9WgXcQ"), Some("asr"), Some(true))
        );
        assert!(r.get("audio").is_none(), "the seed's Whisper `audio` block is /audio/transcribe's");
        assert_eq!(r["message"], "video/transcribe_youtube completed successfully");

        let task = Task::ImagePrompts(ImagePromptsTask { scenes: vec![], style: None, style_detail: None, script: None, agent: None });
        let mut extras = Map::new();
        extras.insert("prompts".into(), json!([{"index": 1, "prompt": "p"}]));
        let r = build_result(&task, &WorkerOutput { extras, ..Default::default() }, &|k| k.to_owned());
        assert_eq!(r["prompts"], json!([{"index": 1, "prompt": "p"}]));

        let job = |index: u32| ImageJob { index, prompt: format!("p{index}"), output: ImageJob::output_name(index) };
        let task = Task::ImageGenerate(ImageGenerateTask {
            model: "runware:100@1".into(),
            width: 1024,
            height: 576,
            negative_prompt: None,
            format: ImageFormat::Png,
            images: vec![job(3), job(1), job(2)],
        });
        let mut extras = Map::new();
        extras.insert("failed".into(), json!([{"index": 2, "code": "provider-error", "message": "m"}]));
        extras.insert("images".into(), json!("forged"));
        let out = WorkerOutput {
            outputs: vec![meta("image_3", "t/i/image_3.png"), meta("image_1", "t/i/image_1.png")],
            extras,
            ..Default::default()
        };
        let r = build_result(&task, &out, &|k| format!("https://dl.test/{k}"));
        assert_eq!(
            r["images"],
            json!([
                {"index": 1, "prompt": "p1", "image_url": "https://dl.test/t/i/image_1.png", "url": "https://dl.test/t/i/image_1.png",
                 "s3_key": "t/i/image_1.png", "filename": "image_1.png", "width": 1024, "height": 576, "bytes": 10, "content_type": ""},
                {"index": 3, "prompt": "p3", "image_url": "https://dl.test/t/i/image_3.png", "url": "https://dl.test/t/i/image_3.png",
                 "s3_key": "t/i/image_3.png", "filename": "image_3.png", "width": 1024, "height": 576, "bytes": 10, "content_type": ""},
            ])
        );
        assert_eq!(r["stats"], json!({"totalPrompts": 3, "imagesGenerated": 2, "successRate": "66.7%"}));
        assert_eq!(r["failed"][0]["index"], 2);
    }

    #[test]
    fn render_result_is_the_single_output_with_timings() {
        use crate::values::EasingType;
        use crate::worker::{RenderScene, RenderTask};
        let task = Task::Render(RenderTask {
            width: 1080,
            height: 1920,
            frame_rate: 24,
            scenes: vec![RenderScene {
                id: "1".into(),
                input: "scene_1".into(),
                frames: 48,
                seconds: 2.0,
                zoom: ZoomType::Zoomin,
                easing: EasingType::Linear,
            }],
            narration: false,
            fit_to_narration: false,
            music: None,
            captions: None,
        });
        let out = WorkerOutput {
            outputs: vec![OutputMeta {
                name: "output".into(),
                key: "t/x/render.mp4".into(),
                bytes: 1234,
                content_type: "video/mp4".into(),
                duration: Some(2.0),
                frames: Some(48),
                ..Default::default()
            }],
            timings_ms: [("download", 5), ("render", 900), ("upload", 40), ("total", 950)].map(|(k, v)| (k.to_owned(), v)).into(),
            ..Default::default()
        };
        let r = build_result(&task, &out, &|k| format!("https://dl.test/{k}"));
        assert_eq!(r["filename"], "render.mp4");
        assert_eq!(r["video_url"], "https://dl.test/t/x/render.mp4");
        assert_eq!(r["url"], r["video_url"]);
        assert_eq!((r["frames"].clone(), r["duration"].clone()), (json!(48), json!(2.0)));
        assert_eq!(r["timings_ms"], json!({"download": 5, "render": 900, "upload": 40, "total": 950}));
    }

    #[test]
    fn segment_result_joins_the_parts_facts_by_index() {
        use crate::worker::{SegmentAudioTask, SegmentCut};
        let cut = |index, start_sec, duration_sec| SegmentCut { index, start_sec, duration_sec };
        let task = Task::SegmentAudio(SegmentAudioTask {
            pipeline_id: "ep 1".into(),
            segments: vec![cut(0, 0.0, 1.5), cut(1, 1.5, 1.0), cut(2, 9.0, 5.0)],
            master_key: "t/pipelines/ep 1/inputs/audio/master.mp3".into(),
            stage_master: true,
            presenter_key: None,
            stage_presenter: false,
            expected: 3,
        });
        let seg = |i: u32, bytes| OutputMeta {
            name: format!("segment_{i}"),
            key: format!("t/pipelines/ep 1/stage/segmentation/audio_segments/segment_{i}.wav"),
            bytes,
            content_type: "audio/wav".into(),
            ..Default::default()
        };
        let mut extras = Map::new();
        // Merged from two parts: their lists concatenated.
        extras.insert(
            "segments".into(),
            json!([{"index": 2, "samples": 44_100, "truncated": true}, {"index": 0, "samples": 66_150}, {"index": 1, "samples": 44_100}]),
        );
        extras.insert("sample_rate".into(), json!(44_100));
        extras.insert("channels".into(), json!(2));
        extras.insert("parts".into(), json!(2));
        let out = WorkerOutput { outputs: vec![seg(2, 176_444), seg(0, 264_644), seg(1, 176_444)], timings_ms: Default::default(), extras };
        let r = build_result(&task, &out, &|k| format!("https://dl.test/{k}"));
        assert_eq!((r["job_id"].clone(), r["expected"].clone(), r["ready"].clone()), (json!("ep 1"), json!(3), json!(3)));
        assert_eq!(r["status_url"], "/pipeline/status?job_id=ep+1&expected=3");
        assert_eq!((r["master"].clone(), r["master_staged"].clone()), (json!("t/pipelines/ep 1/inputs/audio/master.mp3"), json!(true)));
        assert_eq!((r["sample_rate"].clone(), r["channels"].clone(), r["parts"].clone()), (json!(44_100), json!(2), json!(2)));
        let s = &r["segments"];
        assert_eq!(s.as_array().unwrap().iter().map(|v| v["index"].as_u64().unwrap()).collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(s[0]["samples"], 66_150);
        assert_eq!(s[0]["duration"], 1.5);
        assert_eq!(s[0]["bytes"], 264_644);
        assert_eq!(s[0]["filename"], "segment_0.wav");
        assert_eq!(s[0]["url"], "https://dl.test/t/pipelines/ep 1/stage/segmentation/audio_segments/segment_0.wav");
        assert_eq!((s[0]["start_sec"].clone(), s[0]["duration_sec"].clone()), (json!(0.0), json!(1.5)));
        assert_eq!((s[1]["truncated"].clone(), s[2]["truncated"].clone()), (json!(false), json!(true)));
    }
}
