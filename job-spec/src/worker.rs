//! The edge ↔ gpu-worker payload: what the edge submits as RunPod `input`, and what the
//! worker returns as `output`, reports as progress, or fails with.
//!
//! The worker never sees storage credentials or tenant data: only presigned GET URLs
//! for inputs, presigned PUT URLs for outputs, and typed parameters.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::values::ZoomType;

/// RunPod `input` of one job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerJob {
    /// The edge's job id (used for work-dir names and logs).
    pub job_id: String,
    /// 1 for the first submission, incremented on each retry.
    #[serde(default = "one")]
    pub attempt: u32,
    /// Inputs by name, each a URL the worker may GET (presigned or public https).
    pub inputs: Vec<InputUrl>,
    /// Outputs by name, each with a presigned PUT URL.
    pub outputs: Vec<OutputTarget>,
    /// The operation and its parameters.
    pub task: Task,
}

fn one() -> u32 {
    1
}

impl WorkerJob {
    pub fn input(&self, name: &str) -> Option<&InputUrl> {
        self.inputs.iter().find(|i| i.name == name)
    }

    pub fn output(&self, name: &str) -> Option<&OutputTarget> {
        self.outputs.iter().find(|o| o.name == name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputUrl {
    pub name: String,
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputTarget {
    pub name: String,
    /// The object key the PUT URL writes (reported back, never used to sign).
    pub key: String,
    pub put_url: String,
    pub content_type: String,
}

/// Operation + parameters, adjacently tagged: `{"operation": "img2vid", "params": {…}}`.
///
/// Single-output operations read inputs named as documented on each variant and write
/// the output named [`OUTPUT`].
// One per job and never stored in bulk: boxing the style-carrying variant buys nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "operation", content = "params", rename_all = "snake_case")]
pub enum Task {
    Img2vid(Img2VidTask),
    /// Inputs `video`, `audio`.
    AddAudio(AddAudioTask),
    /// Inputs `clip_1` … `clip_n`, in order.
    Concatenate(ConcatenateTask),
    /// Inputs `clip_1` … `clip_n`, in order.
    AudioConcatenate(AudioFormatTask),
    /// Input `audio`.
    AudioTrim(AudioTrimTask),
    /// Input `video`.
    Downsample(DownsampleTask),
    /// Inputs `video`, `music`: music looped under the video's audio (video copied).
    VideoMusic(MusicTask),
    /// Inputs `audio`, `music`: music looped under a voice track.
    AudioMusic(AudioMusicTask),
    /// Inputs `clip_1` … `clip_n` and `audio`: clips cycled in order to the audio's length.
    ConcatVideoAudio(ConcatVideoAudioTask),
    /// Input `source` (any file, not probed) copied to the output.
    Stage,
    /// Inputs `video` and `captions` (SRT, or words JSON for `highlight`): burned in.
    Caption(CaptionTask),
    /// Input `video`, optional `audio` and `subtitles` (SRT or ASS): one pass.
    Encode(EncodeTask),
}

/// How captions look.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CaptionMode {
    /// `caption`: SRT with the default style.
    Default,
    /// `caption_style` `segments`: SRT with the request's style.
    Segments { style: crate::ops::StyleOptions },
    /// `caption_style` `highlight`: words JSON, word-by-word karaoke.
    Highlight { style: crate::ops::StyleOptions },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaptionTask {
    pub mode: CaptionMode,
    pub uppercase: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EncodeTask {
    pub audio: bool,
    pub subtitles: bool,
}

/// Name of the single output of every operation but img2vid.
pub const OUTPUT: &str = "output";

impl Task {
    pub fn operation(&self) -> crate::Operation {
        match self {
            Task::Img2vid(_) => crate::Operation::Img2vid,
            Task::AddAudio(_) => crate::Operation::AddAudio,
            Task::Concatenate(_) => crate::Operation::Concatenate,
            Task::AudioConcatenate(_) => crate::Operation::AudioConcatenate,
            Task::AudioTrim(_) => crate::Operation::AudioTrim,
            Task::Downsample(_) => crate::Operation::Downsample,
            Task::VideoMusic(_) => crate::Operation::VideoTrilhaSonora,
            Task::AudioMusic(_) => crate::Operation::AudioTrilhaSonora,
            Task::ConcatVideoAudio(_) => crate::Operation::ConcatVideoAudio,
            Task::Stage => crate::Operation::ObjectsStage,
            Task::Caption(t) => match t.mode {
                CaptionMode::Default => crate::Operation::Caption,
                _ => crate::Operation::CaptionStyle,
            },
            Task::Encode(_) => crate::Operation::Encode,
        }
    }
}

/// How `addaudio` fits the video to the audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncMode {
    /// The output ends with the shorter of video and audio (video stream copied).
    Shortest,
    /// The video's speed is changed so it lasts exactly as long as the audio (re-encoded).
    StretchVideo,
    /// The video repeats until the audio ends (video stream copied).
    LoopVideo,
}

impl SyncMode {
    pub fn parse(s: &str) -> Option<SyncMode> {
        match s {
            "shortest" => Some(SyncMode::Shortest),
            "stretch_video" => Some(SyncMode::StretchVideo),
            "loop_video" => Some(SyncMode::LoopVideo),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AddAudioTask {
    pub sync: SyncMode,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConcatenateTask {
    pub clips: u32,
}

/// Audio container/codec chosen by the output filename's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AudioFormat {
    Mp3,
    M4a,
    Aac,
    Wav,
    Ogg,
    Opus,
    Flac,
}

impl AudioFormat {
    pub fn from_extension(ext: &str) -> Option<AudioFormat> {
        Some(match ext {
            "mp3" => AudioFormat::Mp3,
            "m4a" => AudioFormat::M4a,
            "aac" => AudioFormat::Aac,
            "wav" => AudioFormat::Wav,
            "ogg" => AudioFormat::Ogg,
            "opus" => AudioFormat::Opus,
            "flac" => AudioFormat::Flac,
            _ => return None,
        })
    }

    pub const fn content_type(self) -> &'static str {
        match self {
            AudioFormat::Mp3 => "audio/mpeg",
            AudioFormat::M4a => "audio/mp4",
            AudioFormat::Aac => "audio/aac",
            AudioFormat::Wav => "audio/wav",
            AudioFormat::Ogg => "audio/ogg",
            AudioFormat::Opus => "audio/opus",
            AudioFormat::Flac => "audio/flac",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AudioFormatTask {
    pub clips: u32,
    pub format: AudioFormat,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AudioTrimTask {
    pub start_sec: f64,
    pub duration_sec: f64,
    pub format: AudioFormat,
}

/// Music under a voice: the music's integrated loudness is set `reduction_db` below the
/// voice's (EBU R128 measurement of both).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MusicTask {
    pub reduction_db: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AudioMusicTask {
    pub reduction_db: f64,
    pub format: AudioFormat,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConcatVideoAudioTask {
    pub clips: u32,
    /// true (default): clips that differ are normalised to the first clip's size and
    /// frame rate; false: stream copy only, and clips that differ are refused
    /// (`clips-differ`). Identical clips are always joined by stream copy.
    pub normalize: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DownsampleTask {
    /// Output height; the width follows the aspect ratio (rounded to even).
    pub height: u32,
}

/// One Ken Burns clip per image, all with the same encoder parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Img2VidTask {
    pub width: u32,
    pub height: u32,
    pub frame_rate: u32,
    pub clips: Vec<ClipTask>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClipTask {
    /// The caller's image id, echoed in the result.
    pub id: String,
    /// Name of the input holding the image.
    pub input: String,
    /// Name of the output receiving the MP4.
    pub output: String,
    /// Exact number of frames to render (see [`crate::plan::frames_for`]).
    pub frames: u32,
    pub zoom: ZoomType,
}

/// RunPod `output` of a successful job.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkerOutput {
    pub outputs: Vec<OutputMeta>,
    /// Wall milliseconds per stage (`download`, `render`, `upload`, `total`).
    #[serde(default)]
    pub timings_ms: BTreeMap<String, u64>,
    /// Operation-specific facts for the result (e.g. `copied: true` when concatenate
    /// joined clips without re-encoding).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub extras: serde_json::Map<String, serde_json::Value>,
}

impl WorkerOutput {
    pub fn output(&self, name: &str) -> Option<&OutputMeta> {
        self.outputs.iter().find(|o| o.name == name)
    }
}

/// What the worker learned about one uploaded output (by ffprobe and the upload).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OutputMeta {
    pub name: String,
    pub key: String,
    pub bytes: u64,
    pub content_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codec: Option<String>,
    /// The encoder that produced the video stream (`h264_nvenc`, `libx264`) or `copy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoder: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frames: Option<u64>,
}

/// Progress as the worker reports it and `GET /jobs/{id}` shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Progress {
    pub stage: String,
    pub completed: u64,
    pub total: u64,
    #[schemars(range(min = 0.0, max = 100.0))]
    pub percentage: f64,
}

impl Progress {
    pub fn new(stage: &str, completed: u64, total: u64) -> Self {
        let percentage = if total == 0 { 0.0 } else { (completed.min(total) as f64 * 1000.0 / total as f64).round() / 10.0 };
        Progress { stage: stage.to_owned(), completed, total, percentage }
    }
}

/// A failed job, as the worker reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerError {
    /// Stable kebab-case code (`input-not-media`, `ffmpeg-failed`, …).
    pub code: String,
    pub message: String,
    /// True when the same job may succeed if submitted again.
    pub retryable: bool,
    /// The last lines of ffmpeg's stderr, when ffmpeg failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr_tail: Option<String>,
}

impl WorkerError {
    /// RunPod carries a job's error as a string; ours is this JSON object encoded in it.
    pub fn to_runpod_string(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| self.message.clone())
    }

    /// Reads an error string from RunPod: ours, or anything else as `worker-error`.
    pub fn from_runpod_string(s: &str) -> WorkerError {
        serde_json::from_str(s).unwrap_or_else(|_| WorkerError {
            code: "worker-error".into(),
            message: s.chars().take(2000).collect(),
            retryable: true,
            stderr_tail: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_wire_shape_is_adjacently_tagged() {
        let t = Task::Img2vid(Img2VidTask { width: 1920, height: 1080, frame_rate: 24, clips: vec![] });
        assert_eq!(
            serde_json::to_value(&t).unwrap(),
            serde_json::json!({"operation":"img2vid","params":{"width":1920,"height":1080,"frame_rate":24,"clips":[]}})
        );
    }

    #[test]
    fn progress_percentage_is_clamped_and_rounded() {
        assert_eq!(Progress::new("render", 1, 3).percentage, 33.3);
        assert_eq!(Progress::new("render", 5, 3).percentage, 100.0);
        assert_eq!(Progress::new("render", 0, 0).percentage, 0.0);
    }

    #[test]
    fn errors_round_trip_through_runpod_strings() {
        let e = WorkerError { code: "input-not-media".into(), message: "x".into(), retryable: false, stderr_tail: Some("tail".into()) };
        assert_eq!(WorkerError::from_runpod_string(&e.to_runpod_string()), e);
        let foreign = WorkerError::from_runpod_string("handler crashed");
        assert_eq!((foreign.code.as_str(), foreign.retryable), ("worker-error", true));
    }
}
