//! The edge ↔ gpu-worker payload: what the edge submits as RunPod `input`, and what the
//! worker returns as `output`, reports as progress, or fails with.
//!
//! The worker never sees storage credentials or tenant data: only presigned GET URLs
//! for inputs, presigned PUT URLs for outputs, and typed parameters.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::values::{EasingType, ZoomType};

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
    /// Where the worker POSTs this attempt's [`Progress`] (the edge's
    /// `/internal/progress/{job}/{token}?part=…&attempt=…`): a URL authenticated by the
    /// token it carries, never a storage credential. Absent for direct RunPod callers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress_url: Option<String>,
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
    /// Inputs `scene_1` … `scene_n` (images), and `narration`, `music` (audio) and
    /// `captions` (SRT, or words JSON for `highlight`) when the task names them: one MP4.
    Render(RenderTask),
    /// Input `audio` (any audio or video): speech to text; the four outputs of
    /// [`TranscribeTask::OUTPUTS`].
    Transcribe(TranscribeTask),
    /// `/pipeline/segment`: input `master` (and `presenter` when staged); outputs
    /// `segment_<i>` (WAV) and, when staging, `staged_master` / `staged_presenter`.
    SegmentAudio(SegmentAudioTask),
    /// `/video/transcribe_youtube`: no input; YouTube's captions of the video, written as
    /// the four outputs of [`TranscribeTask::OUTPUTS`].
    TranscribeYoutube(TranscribeYoutubeTask),
    /// `/image/prompts`: runs in the edge (see [`Task::runs_on_edge`]), never on the GPU
    /// worker; no inputs, no outputs (the prompts are the result).
    ImagePrompts(ImagePromptsTask),
    /// `/image/generate`: runs in the edge (see [`Task::runs_on_edge`]), never on the GPU
    /// worker; no inputs; outputs `image_<index>` (one per image, [`ImageJob::output`]).
    ImageGenerate(ImageGenerateTask),
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
            Task::Render(_) => crate::Operation::Render,
            Task::Transcribe(_) => crate::Operation::Transcribe,
            Task::SegmentAudio(_) => crate::Operation::PipelineSegment,
            Task::TranscribeYoutube(_) => crate::Operation::TranscribeYoutube,
            Task::ImagePrompts(_) => crate::Operation::ImagePrompts,
            Task::ImageGenerate(_) => crate::Operation::ImageGenerate,
        }
    }

    /// The job's own Durable Object runs this task (it calls an AI provider from its
    /// alarm: waiting on a provider costs no GPU seconds), instead of submitting it to the
    /// GPU backend. A GPU worker given one refuses it (`wrong-runner`).
    pub const fn runs_on_edge(&self) -> bool {
        matches!(self, Task::ImagePrompts(_) | Task::ImageGenerate(_))
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
    /// Exact number of frames to render (see [`crate::timing::frames_for`]).
    pub frames: u32,
    pub zoom: ZoomType,
    /// The motion's easing (`linear` when absent, as tasks planned before it had).
    #[serde(default)]
    pub easing: EasingType,
}

/// `/video/render`: the whole video in one pass and one encode.
///
/// - Video: scene after scene, each a Ken Burns motion ([`crate::kenburns`]) over its
///   image at `width`×`height`, `frame_rate`; scene `i` lasts
///   [`RenderTask::scene_frames`]`[i]` frames (`frames`, or the `seconds` fitted to the
///   narration). The captions, when given, are drawn on those frames (libass; timed on
///   the output's clock).
/// - Audio: the narration, when given; the music, when given, looped to the video's
///   length, `reduction_db` below the narration's loudness (EBU R128), or at its own
///   level when there is no narration. No audio stream when neither is given.
/// - Length: exactly the sum of the scene frames. Unfitted, a narration longer than the
///   video is cut and a shorter one is followed by silence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenderTask {
    pub width: u32,
    pub height: u32,
    pub frame_rate: u32,
    /// In order; input `scene_<n>` is the n-th (1-based).
    pub scenes: Vec<RenderScene>,
    /// Input [`RenderTask::NARRATION`] is present.
    pub narration: bool,
    /// Scene lengths follow the narration's duration ([`crate::timing::fit_frames`] of the
    /// scenes' `seconds`) instead of their `frames`. Only with `narration`.
    pub fit_to_narration: bool,
    /// Input [`RenderTask::MUSIC`] is present, mixed this way.
    pub music: Option<MusicTask>,
    /// Input [`RenderTask::CAPTIONS`] is present, drawn this way (the plan gives
    /// `segments` or `highlight`).
    pub captions: Option<CaptionTask>,
}

/// One scene of a [`RenderTask`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenderScene {
    /// The caller's scene id (or its 1-based position).
    pub id: String,
    /// Name of the input holding the image.
    pub input: String,
    /// Frames when the scenes are not fitted to the narration ([`crate::timing::frames_for`]
    /// of `seconds`).
    pub frames: u32,
    /// The requested duration, the weight of the scene when fitted to the narration.
    pub seconds: f64,
    pub zoom: ZoomType,
    pub easing: EasingType,
}

impl RenderTask {
    pub const NARRATION: &'static str = "narration";
    pub const MUSIC: &'static str = "music";
    pub const CAPTIONS: &'static str = "captions";

    /// Every input the task reads, in plan order: the scenes, then `narration`, `music`,
    /// `captions` when present.
    pub fn input_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.scenes.iter().map(|s| s.input.clone()).collect();
        for (present, name) in
            [(self.narration, Self::NARRATION), (self.music.is_some(), Self::MUSIC), (self.captions.is_some(), Self::CAPTIONS)]
        {
            if present {
                names.push(name.to_owned());
            }
        }
        names
    }

    /// Frames of each scene: fitted to `narration_seconds` (the probed narration) when
    /// `fit_to_narration`, else the planned `frames`.
    pub fn scene_frames(&self, narration_seconds: Option<f64>) -> Vec<u32> {
        match narration_seconds {
            Some(secs) if self.fit_to_narration => {
                let seconds: Vec<f64> = self.scenes.iter().map(|s| s.seconds).collect();
                crate::timing::fit_frames(&seconds, self.frame_rate, secs)
            }
            _ => self.scenes.iter().map(|s| s.frames).collect(),
        }
    }

    /// The limits of [`mod@crate::validate`], re-checked on the parameters alone (for the
    /// worker, whoever sent the task).
    pub fn check(&self) -> Result<(), String> {
        use crate::limits::*;
        if !(MIN_FPS..=MAX_FPS).contains(&self.frame_rate) {
            return Err(format!("frame_rate {} outside {MIN_FPS}–{MAX_FPS}", self.frame_rate));
        }
        for d in [self.width, self.height] {
            if !(MIN_DIMENSION..=MAX_DIMENSION).contains(&d) || d % 2 == 1 {
                return Err(format!("dimension {d} must be even and within {MIN_DIMENSION}–{MAX_DIMENSION}"));
            }
        }
        if self.scenes.is_empty() || self.scenes.len() > MAX_SCENES {
            return Err(format!("{} scenes; 1–{MAX_SCENES} allowed", self.scenes.len()));
        }
        let max_frames = (MAX_IMAGE_SECONDS * f64::from(self.frame_rate)).ceil() as u32;
        for s in &self.scenes {
            if s.frames == 0 || s.frames > max_frames {
                return Err(format!("scene `{}` has {} frames; 1–{max_frames} allowed", s.id, s.frames));
            }
            if !(MIN_IMAGE_SECONDS..=MAX_IMAGE_SECONDS).contains(&s.seconds) {
                return Err(format!("scene `{}` lasts {} s; {MIN_IMAGE_SECONDS}–{MAX_IMAGE_SECONDS} allowed", s.id, s.seconds));
            }
        }
        let mut inputs = self.input_names();
        inputs.sort();
        if inputs.windows(2).any(|w| w[0] == w[1]) {
            return Err("two scenes read the same input".into());
        }
        if self.fit_to_narration && !self.narration {
            return Err("fit_to_narration without a narration".into());
        }
        if let Some(m) = &self.music
            && !(0.0..=MAX_VOLUME_REDUCTION_DB).contains(&m.reduction_db)
        {
            return Err(format!("music reduction_db {} outside 0–{MAX_VOLUME_REDUCTION_DB}", m.reduction_db));
        }
        Ok(())
    }
}

/// `/audio/transcribe`: Whisper over the input `audio`, written as the files of
/// [`crate::transcript`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranscribeTask {
    /// A model name the worker is configured with; `None`: the worker's default model.
    #[serde(default)]
    pub model: Option<String>,
    /// ISO 639-1 code to force; `None`: detected.
    #[serde(default)]
    pub language: Option<String>,
    /// Skip silence before decoding.
    pub enable_vad: bool,
    /// Beam width; 1 is greedy.
    pub beam_size: u32,
    /// 0: beam search; above 0: sampling at this temperature.
    pub temperature: f64,
}

impl TranscribeTask {
    pub const AUDIO: &'static str = "audio";
    pub const SEGMENTS_SRT: &'static str = "segments_srt";
    pub const SEGMENTS_JSON: &'static str = "segments_json";
    pub const WORDS_JSON: &'static str = "words_json";
    pub const KARAOKE_ASS: &'static str = "karaoke_ass";
    /// The outputs: (name, file name under the request's `path`).
    pub const OUTPUTS: [(&'static str, &'static str); 4] = [
        (Self::SEGMENTS_SRT, "segments.srt"),
        (Self::SEGMENTS_JSON, "segments.json"),
        (Self::WORDS_JSON, "words.json"),
        (Self::KARAOKE_ASS, "karaoke.ass"),
    ];

    /// The limits of [`mod@crate::validate`], re-checked on the parameters alone.
    pub fn check(&self) -> Result<(), String> {
        use crate::limits::MAX_BEAM_SIZE;
        if !(1..=MAX_BEAM_SIZE).contains(&self.beam_size) {
            return Err(format!("beam_size {} outside 1–{MAX_BEAM_SIZE}", self.beam_size));
        }
        if !(0.0..=1.0).contains(&self.temperature) {
            return Err(format!("temperature {} outside 0–1", self.temperature));
        }
        if let Some(m) = &self.model
            && !crate::validate::is_model_name(m)
        {
            return Err(format!("`{m}` is not a model name"));
        }
        if let Some(l) = &self.language
            && !((2..=3).contains(&l.len()) && l.chars().all(|c| c.is_ascii_lowercase()))
        {
            return Err(format!("`{l}` is not a language code"));
        }
        Ok(())
    }
}

/// `/video/transcribe_youtube`: the captions of one YouTube video, as `/audio/transcribe`'s
/// four files ([`TranscribeTask::OUTPUTS`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranscribeYoutubeTask {
    /// The 11-character video id ([`crate::youtube::video_id`] of the request's `url`).
    pub video_id: String,
    /// The caption language asked for (`en`, `pt-BR`); `None`: the video's own.
    #[serde(default)]
    pub language: Option<String>,
}

impl TranscribeYoutubeTask {
    /// The checks of [`mod@crate::validate`], on the parameters alone.
    pub fn check(&self) -> Result<(), String> {
        if crate::youtube::video_id(&self.video_id).ok().as_deref() != Some(self.video_id.as_str()) {
            return Err(format!("`{}` is not a YouTube video id", self.video_id));
        }
        if let Some(l) = &self.language
            && !(l.len() <= crate::limits::MAX_LANGUAGE_TAG && crate::youtube::is_language_tag(l))
        {
            return Err(format!("`{l}` is not a language tag"));
        }
        Ok(())
    }
}

/// `/image/prompts` (runs in the edge): one image prompt per scene, from one
/// chat-completions call that is given the whole script once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImagePromptsTask {
    /// The scenes, in request order (indexes unique).
    pub scenes: Vec<crate::ops::PromptScene>,
    /// `estilo`.
    #[serde(default)]
    pub style: Option<String>,
    /// `detalhe_estilo`.
    #[serde(default)]
    pub style_detail: Option<String>,
    /// `roteiro`: the whole script.
    #[serde(default)]
    pub script: Option<String>,
    /// `agente`: the model's instructions (its system message); `None`: the service's own.
    #[serde(default)]
    pub agent: Option<String>,
}

/// The image formats `/image/generate` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    Jpg,
    Png,
    Webp,
}

impl ImageFormat {
    pub fn parse(s: &str) -> Option<ImageFormat> {
        match s {
            "jpg" => Some(ImageFormat::Jpg),
            "png" => Some(ImageFormat::Png),
            "webp" => Some(ImageFormat::Webp),
            _ => None,
        }
    }

    /// The file extension (`jpg`).
    pub const fn extension(self) -> &'static str {
        match self {
            ImageFormat::Jpg => "jpg",
            ImageFormat::Png => "png",
            ImageFormat::Webp => "webp",
        }
    }

    pub const fn content_type(self) -> &'static str {
        match self {
            ImageFormat::Jpg => "image/jpeg",
            ImageFormat::Png => "image/png",
            ImageFormat::Webp => "image/webp",
        }
    }

    /// Runware's `outputFormat` value.
    pub const fn runware(self) -> &'static str {
        match self {
            ImageFormat::Jpg => "JPG",
            ImageFormat::Png => "PNG",
            ImageFormat::Webp => "WEBP",
        }
    }
}

/// `/image/generate` (runs in the edge): one image per [`ImageJob`], all with the same
/// model, size and negative prompt, each copied to its planned output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageGenerateTask {
    /// The provider's model id (Runware AIR).
    pub model: String,
    /// Pixels, multiples of 64 within 128–2048.
    pub width: u32,
    pub height: u32,
    #[serde(default)]
    pub negative_prompt: Option<String>,
    pub format: ImageFormat,
    /// In request order (indexes unique).
    pub images: Vec<ImageJob>,
}

/// One image of an [`ImageGenerateTask`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageJob {
    /// The caller's index (img2vid's `id` when the images are chained into it).
    pub index: u32,
    pub prompt: String,
    /// The planned output (`image_<index>`) the image is copied to.
    pub output: String,
}

impl ImageJob {
    /// The output name of image `index`.
    pub fn output_name(index: u32) -> String {
        format!("image_{index}")
    }
}

/// `/pipeline/segment`: the master audio cut into WAV segments, sample-exactly. One part
/// of a fanned-out job holds a contiguous run of the segments; only one part stages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentAudioTask {
    /// The caller's pipeline id (the folder under `pipelines/`).
    pub pipeline_id: String,
    /// The segments this task cuts, in order.
    pub segments: Vec<SegmentCut>,
    /// Where the master audio is (its object key, or where it is staged to).
    pub master_key: String,
    /// The master comes from a URL: upload it unchanged as [`SegmentAudioTask::STAGED_MASTER`].
    pub stage_master: bool,
    /// Where the presenter image is, when one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presenter_key: Option<String>,
    /// Input [`SegmentAudioTask::PRESENTER`] is present: upload it unchanged as
    /// [`SegmentAudioTask::STAGED_PRESENTER`].
    #[serde(default)]
    pub stage_presenter: bool,
    /// Segments of the whole job (all parts).
    pub expected: u32,
}

/// One segment: `duration_sec` from `start_sec` of the master, written as output
/// `segment_<index>`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SegmentCut {
    pub index: u32,
    pub start_sec: f64,
    pub duration_sec: f64,
}

impl SegmentCut {
    /// The output's name.
    pub fn output(&self) -> String {
        format!("segment_{}", self.index)
    }

    /// `(first sample, sample count)` at `rate` Hz: round(start × rate) and
    /// round(duration × rate), at least one sample.
    pub fn samples(&self, rate: u32) -> (u64, u64) {
        let at = |secs: f64| (secs * f64::from(rate)).round().max(0.0) as u64;
        (at(self.start_sec), at(self.duration_sec).max(1))
    }
}

impl SegmentAudioTask {
    pub const MASTER: &'static str = "master";
    pub const PRESENTER: &'static str = "presenter";
    pub const STAGED_MASTER: &'static str = "staged_master";
    pub const STAGED_PRESENTER: &'static str = "staged_presenter";

    /// The limits of [`mod@crate::validate`], re-checked on the parameters alone.
    pub fn check(&self) -> Result<(), String> {
        use crate::limits::{MAX_MEDIA_SECONDS, MAX_SEGMENTS};
        if self.segments.is_empty() || self.segments.len() > MAX_SEGMENTS {
            return Err(format!("{} segments; 1–{MAX_SEGMENTS} allowed", self.segments.len()));
        }
        for s in &self.segments {
            let start_ok = (0.0..=MAX_MEDIA_SECONDS).contains(&s.start_sec);
            let duration_ok = s.duration_sec > 0.0 && s.duration_sec <= MAX_MEDIA_SECONDS;
            if !(start_ok && duration_ok) {
                return Err(format!("segment {} ({} s from {} s) is out of range", s.index, s.duration_sec, s.start_sec));
            }
        }
        let mut idx: Vec<u32> = self.segments.iter().map(|s| s.index).collect();
        idx.sort_unstable();
        if idx.windows(2).any(|w| w[0] == w[1]) {
            return Err("two segments have the same index".into());
        }
        Ok(())
    }
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

    fn render_task() -> RenderTask {
        RenderTask {
            width: 1080,
            height: 1920,
            frame_rate: 24,
            scenes: vec![
                RenderScene {
                    id: "intro".into(),
                    input: "scene_1".into(),
                    frames: 72,
                    seconds: 3.0,
                    zoom: ZoomType::Zoomin,
                    easing: EasingType::EaseInOut,
                },
                RenderScene {
                    id: "2".into(),
                    input: "scene_2".into(),
                    frames: 36,
                    seconds: 1.5,
                    zoom: ZoomType::Zoompanright,
                    easing: EasingType::Linear,
                },
            ],
            narration: true,
            fit_to_narration: true,
            music: Some(MusicTask { reduction_db: 20.0 }),
            captions: Some(CaptionTask { mode: CaptionMode::Highlight { style: Default::default() }, uppercase: true }),
        }
    }

    #[test]
    fn render_task_wire_shape_round_trips() {
        let t = Task::Render(render_task());
        let v = serde_json::to_value(&t).unwrap();
        let style = serde_json::to_value(crate::ops::StyleOptions::default()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"operation": "render", "params": {
                "width": 1080, "height": 1920, "frame_rate": 24,
                "scenes": [
                    {"id": "intro", "input": "scene_1", "frames": 72, "seconds": 3.0, "zoom": "zoomin", "easing": "ease_in_out"},
                    {"id": "2", "input": "scene_2", "frames": 36, "seconds": 1.5, "zoom": "zoompanright", "easing": "linear"},
                ],
                "narration": true, "fit_to_narration": true,
                "music": {"reduction_db": 20.0},
                "captions": {"mode": {"type": "highlight", "style": style}, "uppercase": true},
            }})
        );
        assert_eq!(serde_json::from_value::<Task>(v).unwrap(), t);
        assert_eq!(t.operation(), crate::Operation::Render);
        // Absent options read as none.
        let bare = serde_json::json!({"operation": "render", "params": {"width": 640, "height": 360, "frame_rate": 30,
            "scenes": [{"id": "1", "input": "scene_1", "frames": 30, "seconds": 1.0, "zoom": "zoomout", "easing": "linear"}],
            "narration": false, "fit_to_narration": false}});
        let Task::Render(bare) = serde_json::from_value::<Task>(bare).unwrap() else { panic!("render") };
        assert_eq!((bare.music, bare.captions), (None, None));
    }

    #[test]
    fn render_task_inputs_frames_and_checks() {
        let mut t = render_task();
        assert_eq!(t.input_names(), ["scene_1", "scene_2", "narration", "music", "captions"]);
        // Fitted: 3 s + 1.5 s onto a 9 s narration at 24 fps = 216 frames, 2:1.
        assert_eq!(t.scene_frames(Some(9.0)), [144, 72]);
        assert_eq!(t.scene_frames(None), [72, 36]);
        assert_eq!(t.check(), Ok(()));
        t.fit_to_narration = false;
        assert_eq!(t.scene_frames(Some(9.0)), [72, 36]);
        t.narration = false;
        t.music = None;
        t.captions = None;
        assert_eq!(t.input_names(), ["scene_1", "scene_2"]);
        assert_eq!(t.check(), Ok(()));
        let bad = |f: &dyn Fn(&mut RenderTask)| {
            let mut t = render_task();
            f(&mut t);
            t.check().unwrap_err()
        };
        assert!(bad(&|t| t.width = 1081).contains("even"));
        assert!(bad(&|t| t.frame_rate = 0).contains("frame_rate"));
        assert!(bad(&|t| t.scenes.clear()).contains("0 scenes"));
        assert!(bad(&|t| t.scenes[1].frames = 0).contains("scene `2`"));
        assert!(bad(&|t| t.scenes[0].seconds = 0.0).contains("scene `intro`"));
        assert!(bad(&|t| t.scenes[1].input = "scene_1".into()).contains("same input"));
        assert!(bad(&|t| t.narration = false).contains("fit_to_narration"));
        assert!(bad(&|t| t.music = Some(MusicTask { reduction_db: 41.0 })).contains("reduction_db"));
    }

    #[test]
    fn transcribe_task_wire_shape_and_checks() {
        let t = TranscribeTask { model: None, language: Some("pt".into()), enable_vad: true, beam_size: 5, temperature: 0.0 };
        let v = serde_json::to_value(Task::Transcribe(t.clone())).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"operation": "transcribe", "params":
                {"model": null, "language": "pt", "enable_vad": true, "beam_size": 5, "temperature": 0.0}})
        );
        let bare = serde_json::json!({"operation": "transcribe", "params": {"enable_vad": false, "beam_size": 1, "temperature": 0.5}});
        let Task::Transcribe(bare) = serde_json::from_value::<Task>(bare).unwrap() else { panic!("transcribe") };
        assert_eq!((bare.model, bare.language), (None, None));
        assert_eq!(Task::Transcribe(t.clone()).operation(), crate::Operation::Transcribe);
        assert_eq!(t.check(), Ok(()));
        let bad = |f: &dyn Fn(&mut TranscribeTask)| {
            let mut t = t.clone();
            f(&mut t);
            t.check().unwrap_err()
        };
        assert!(bad(&|t| t.beam_size = 0).contains("beam_size"));
        assert!(bad(&|t| t.temperature = 1.5).contains("temperature"));
        assert!(bad(&|t| t.model = Some("../etc".into())).contains("model"));
        assert!(bad(&|t| t.model = Some("..".into())).contains("model"));
        assert!(bad(&|t| t.language = Some("Portuguese".into())).contains("language"));
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

    #[test]
    fn new_tasks_wire_shapes_and_runners() {
        let yt = Task::TranscribeYoutube(TranscribeYoutubeTask { video_id: "dQw4w9WgXcQ".into(), language: Some("pt-BR".into()) });
        assert_eq!(
            serde_json::to_value(&yt).unwrap(),
            serde_json::json!({"operation": "transcribe_youtube", "params": {"video_id": "dQw4w9WgXcQ", "language": "pt-BR"}})
        );
        assert_eq!((yt.operation(), yt.runs_on_edge()), (crate::Operation::TranscribeYoutube, false));
        let Task::TranscribeYoutube(t) = &yt else { unreachable!() };
        assert_eq!(t.check(), Ok(()));
        let bad = |id: &str, lang: Option<&str>| TranscribeYoutubeTask { video_id: id.into(), language: lang.map(Into::into) }.check();
        assert!(bad("https://youtu.be/dQw4w9WgXcQ", None).is_err(), "the task carries the id, not a URL");
        assert!(bad("short", None).is_err());
        assert!(bad("dQw4w9WgXcQ", Some("Portuguese")).unwrap_err().contains("language"));

        let prompts = Task::ImagePrompts(ImagePromptsTask {
            scenes: vec![crate::ops::PromptScene { index: 0, texto: "a".into() }],
            style: None,
            style_detail: None,
            script: Some("s".into()),
            agent: None,
        });
        let v = serde_json::to_value(&prompts).unwrap();
        assert_eq!(v["operation"], "image_prompts");
        assert_eq!(v["params"]["scenes"], serde_json::json!([{"index": 0, "texto": "a"}]));
        assert_eq!(serde_json::from_value::<Task>(v).unwrap(), prompts);
        let images = Task::ImageGenerate(ImageGenerateTask {
            model: "runware:100@1".into(),
            width: 1024,
            height: 576,
            negative_prompt: None,
            format: ImageFormat::Png,
            images: vec![ImageJob { index: 2, prompt: "a fox".into(), output: ImageJob::output_name(2) }],
        });
        let v = serde_json::to_value(&images).unwrap();
        assert_eq!(v["params"]["images"][0], serde_json::json!({"index": 2, "prompt": "a fox", "output": "image_2"}));
        assert_eq!(v["params"]["format"], "png");
        assert!(prompts.runs_on_edge() && images.runs_on_edge());
        assert_eq!((prompts.operation(), images.operation()), (crate::Operation::ImagePrompts, crate::Operation::ImageGenerate));
        for (f, ext, ct, rw) in [(ImageFormat::Jpg, "jpg", "image/jpeg", "JPG"), (ImageFormat::Webp, "webp", "image/webp", "WEBP")] {
            assert_eq!((ImageFormat::parse(ext), f.extension(), f.content_type(), f.runware()), (Some(f), ext, ct, rw));
        }
    }
}
