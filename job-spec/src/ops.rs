//! Request bodies of every operation in the public API, with the seed's field names
//! (`url_video`, `duracao`, `trilha_sonora`, `fonte`, …) and English aliases.
//!
//! Types are deliberately permissive (strings for enums, options for everything the
//! seed treated as optional) so that [`mod@crate::validate`] can report every problem at
//! once instead of stopping at the first serde error.
//!
//! The `#[schemars(...)]` attributes only shape the generated OpenAPI document
//! ([`crate::openapi`]): the limits [`mod@crate::validate`] enforces, the string formats of
//! [`crate::formats`]'s format types, and `x-aliases` (the `#[serde(alias)]` names; a
//! test checks the two lists agree). They do not change serde behaviour.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::formats::{
    AudioFilename, FONT_NAME_PATTERN, Filename, HexColor, IMAGE_MODEL_PATTERN, LANGUAGE_PATTERN, LANGUAGE_TAG_PATTERN, MODEL_NAME_PATTERN,
    MediaRefText, Mp4Filename, OutputPath, Position, Resolution, VideoFilename, YoutubeRef,
};
use crate::limits::*;
use crate::values::{EasingType, ZoomType};

/// Fields every asynchronous request may carry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Common {
    /// Receives the job object when the job ends (Standard Webhooks signature). Checked like
    /// inputs: https, no private, loopback or link-local addresses.
    #[serde(default, alias = "webhookUrl")]
    #[schemars(url, length(max = MAX_WEBHOOK_URL_BYTES), extend("x-aliases" = ["webhookUrl"]))]
    pub webhook_url: Option<String>,
    /// What `webhook_url` receives: `completed` (the job object once the job ends; always
    /// sent when there is a `webhook_url`) and, when asked, `progress` (the job object each
    /// time its status or progress changes while it runs, at most one per job every
    /// 5 s; one attempt each, no retries).
    #[serde(default, alias = "webhookEvents")]
    #[schemars(extend("x-aliases" = ["webhookEvents"]))]
    #[schemars(length(max = 2), inner(regex(pattern = r"^(progress|completed)$")))]
    pub webhook_events: Option<Vec<String>>,
    /// Echoed back as `idRoteiro`.
    #[serde(default, alias = "idRoteiro")]
    #[schemars(extend("x-aliases" = ["idRoteiro"]))]
    pub id_roteiro: Option<i64>,
    /// Any JSON object, echoed back.
    #[serde(default)]
    #[schemars(description = format!("Any JSON object, echoed back; at most {MAX_METADATA_BYTES} bytes of JSON."))]
    #[schemars(extend("x-max-json-bytes" = MAX_METADATA_BYTES))]
    pub metadata: Option<Map<String, Value>>,
}

impl Common {
    /// Whether the client asked for `progress` webhooks.
    pub fn wants_progress_webhooks(&self) -> bool {
        self.webhook_url.is_some() && self.webhook_events.iter().flatten().any(|e| e == WEBHOOK_EVENT_PROGRESS)
    }
}

/// The `webhook_events` a request may name.
pub const WEBHOOK_EVENT_PROGRESS: &str = "progress";
pub const WEBHOOK_EVENT_COMPLETED: &str = "completed";

/// An id given as a string or a number (`"id": 3` and `"id": "3"` are both seen).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum FlexId {
    Text(String),
    Number(i64),
}

impl std::fmt::Display for FlexId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FlexId::Text(s) => f.write_str(s),
            FlexId::Number(n) => write!(f, "{n}"),
        }
    }
}

/// A list item given as a bare URL string or as `{video_url}` / `{audio_url}` / `{url}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum UrlItem {
    Plain(#[schemars(with = "MediaRefText")] String),
    Object {
        #[serde(alias = "video_url", alias = "audio_url", alias = "url_video", alias = "url_audio")]
        #[schemars(with = "MediaRefText", extend("x-aliases" = ["video_url", "audio_url", "url_video", "url_audio"]))]
        url: String,
    },
}

impl UrlItem {
    pub fn url(&self) -> &str {
        match self {
            UrlItem::Plain(u) | UrlItem::Object { url: u } => u,
        }
    }
}

// ---------------------------------------------------------------- video/img2vid

/// `POST /video/img2vid`: one MP4 per image (`video_1.mp4`, `video_2.mp4`, …), each a Ken
/// Burns motion over the image.
///
/// One request renders at most 2 h of 1080p30 (Σ frames × width × height ≤
/// 447,897,600,000 pixels); more is refused with `render-budget-exceeded` on `images`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Img2Vid {
    #[schemars(length(min = 1, max = MAX_IMAGES))]
    pub images: Vec<ImageItem>,
    #[serde(default)]
    #[schemars(with = "Option<OutputPath>")]
    pub path: Option<String>,
    /// Subset of `zoomin`, `zoomout`, `zoompanright`.
    #[serde(default, alias = "zoomTypes")]
    #[schemars(with = "Option<Vec<ZoomType>>", length(min = 1), extend("x-aliases" = ["zoomTypes"]))]
    pub zoom_types: Option<Vec<String>>,
    /// Frames per second (default 24).
    #[serde(default, alias = "fps", alias = "frameRate")]
    #[schemars(range(min = MIN_FPS, max = MAX_FPS), extend("x-aliases" = ["fps", "frameRate"]))]
    pub frame_rate: Option<u32>,
    /// Output width in pixels, even (default 1920, or 1080 for portrait).
    #[serde(default)]
    #[schemars(range(min = MIN_DIMENSION, max = MAX_DIMENSION), extend("multipleOf" = 2))]
    pub width: Option<u32>,
    /// Output height in pixels, even (default 1080, or 1920 for portrait).
    #[serde(default)]
    #[schemars(range(min = MIN_DIMENSION, max = MAX_DIMENSION), extend("multipleOf" = 2))]
    pub height: Option<u32>,
    /// `landscape` (default, 1920×1080) or `portrait` (1080×1920); `horizontal` and
    /// `vertical` are accepted.
    #[serde(default)]
    #[schemars(extend("enum" = ORIENTATIONS))]
    pub orientation: Option<String>,
    /// Motion easing of every clip: `linear` (default, as zoompan moved) or
    /// `ease_in_out` (starts and ends at rest). An image's own `easing` wins.
    #[serde(default)]
    #[schemars(with = "Option<EasingType>")]
    pub easing: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ImageItem {
    #[serde(default)]
    pub id: Option<FlexId>,
    #[serde(alias = "url", alias = "imageUrl")]
    #[schemars(with = "MediaRefText", extend("x-aliases" = ["url", "imageUrl"]))]
    pub image_url: String,
    /// Seconds on screen.
    #[serde(alias = "duration")]
    #[schemars(range(min = MIN_IMAGE_SECONDS, max = MAX_IMAGE_SECONDS), extend("x-aliases" = ["duration"]))]
    pub duracao: f64,
    /// This clip's easing, over the request's `easing`.
    #[serde(default)]
    #[schemars(with = "Option<EasingType>")]
    pub easing: Option<String>,
}

// ---------------------------------------------------------------- video/render

/// `POST /video/render`: a whole video in one pass. Each scene is a Ken Burns motion over
/// its image; the captions are drawn on those frames; the narration and the music are
/// mixed under them; one MP4 (`render.mp4`).
///
/// With a narration, `fit_to_narration` (default true) scales every scene's duration by
/// the same factor so that the video lasts exactly as long as the narration.
///
/// One request renders at most 2 h of 1080p30 (Σ frames × width × height ≤
/// 447,897,600,000 pixels); more is refused with `render-budget-exceeded` on `scenes`
/// (fitted to a narration, when the worker knows its length).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Render {
    /// The scenes, in order.
    #[serde(alias = "cenas")]
    #[schemars(length(min = 1, max = MAX_SCENES), extend("x-aliases" = ["cenas"]))]
    pub scenes: Vec<SceneItem>,
    /// The voice-over (any audio file).
    #[serde(default, alias = "narracao", alias = "narration", alias = "audio_url", alias = "url_audio")]
    #[schemars(with = "Option<MediaRefText>", extend("x-aliases" = ["narracao", "narration", "audio_url", "url_audio"]))]
    pub narration_url: Option<String>,
    /// Default true when `narration_url` is given: the scene durations are scaled, all by
    /// the same factor, so that the video lasts as long as the narration. False: the
    /// scenes keep their durations, and the narration is cut at the video's end or
    /// followed by silence. True without `narration_url` is refused.
    #[serde(default, alias = "fitToNarration")]
    #[schemars(extend("x-aliases" = ["fitToNarration"]))]
    pub fit_to_narration: Option<bool>,
    /// Background music, looped to the video's length.
    #[serde(default, alias = "trilha_sonora", alias = "background_music", alias = "url_music")]
    #[schemars(with = "Option<MediaRefText>", extend("x-aliases" = ["trilha_sonora", "background_music", "url_music"]))]
    pub music_url: Option<String>,
    /// 0–40 dB: the music's loudness below the narration's (default 20).
    #[serde(default)]
    #[schemars(range(min = 0.0, max = MAX_VOLUME_REDUCTION_DB))]
    pub volume_reduction_db: Option<f64>,
    /// Captions drawn on the frames.
    #[serde(default, alias = "legendas")]
    #[schemars(extend("x-aliases" = ["legendas"]))]
    pub captions: Option<RenderCaptions>,
    /// Zoom types for the scenes without `zoom`: a subset of `zoomin`, `zoomout`,
    /// `zoompanright`, distributed proportionally in an order seeded by the job id.
    #[serde(default, alias = "zoomTypes")]
    #[schemars(with = "Option<Vec<ZoomType>>", length(min = 1), extend("x-aliases" = ["zoomTypes"]))]
    pub zoom_types: Option<Vec<String>>,
    /// Frames per second (default 24).
    #[serde(default, alias = "fps", alias = "frameRate")]
    #[schemars(range(min = MIN_FPS, max = MAX_FPS), extend("x-aliases" = ["fps", "frameRate"]))]
    pub frame_rate: Option<u32>,
    /// Output width in pixels, even (default 1920, or 1080 for portrait).
    #[serde(default)]
    #[schemars(range(min = MIN_DIMENSION, max = MAX_DIMENSION), extend("multipleOf" = 2))]
    pub width: Option<u32>,
    /// Output height in pixels, even (default 1080, or 1920 for portrait).
    #[serde(default)]
    #[schemars(range(min = MIN_DIMENSION, max = MAX_DIMENSION), extend("multipleOf" = 2))]
    pub height: Option<u32>,
    /// `landscape` (default, 1920×1080) or `portrait` (1080×1920); `horizontal` and
    /// `vertical` are accepted.
    #[serde(default)]
    #[schemars(extend("enum" = ORIENTATIONS))]
    pub orientation: Option<String>,
    #[serde(default)]
    #[schemars(with = "Option<OutputPath>")]
    pub path: Option<String>,
    /// Default `render.mp4`.
    #[serde(default)]
    #[schemars(with = "Option<Mp4Filename>")]
    pub output_filename: Option<String>,
}

/// One scene of `/video/render`: an image on screen for `duration` seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SceneItem {
    #[serde(default)]
    pub id: Option<FlexId>,
    #[serde(alias = "url", alias = "imageUrl")]
    #[schemars(with = "MediaRefText", extend("x-aliases" = ["url", "imageUrl"]))]
    pub image_url: String,
    /// Seconds on screen (before `fit_to_narration` scales them).
    #[serde(alias = "duracao")]
    #[schemars(range(min = MIN_IMAGE_SECONDS, max = MAX_IMAGE_SECONDS), extend("x-aliases" = ["duracao"]))]
    pub duration: f64,
    /// The motion; absent: one of `zoom_types`, distributed.
    #[serde(default, alias = "zoom_type")]
    #[schemars(with = "Option<ZoomType>", extend("x-aliases" = ["zoom_type"]))]
    pub zoom: Option<String>,
    /// `linear` (default) or `ease_in_out`.
    #[serde(default)]
    #[schemars(with = "Option<EasingType>")]
    pub easing: Option<String>,
}

/// Captions of `/video/render`: as segments (SRT) or as word-by-word karaoke (words JSON
/// `{"words":[{"word","start","end"}]}`), styled like `/video/caption_style`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RenderCaptions {
    /// `segments` (`url` is an SRT) or `highlight` (`url` is a words JSON).
    #[serde(rename = "type", alias = "caption_type")]
    #[schemars(extend("enum" = CAPTION_TYPES, "x-aliases" = ["caption_type"]))]
    pub kind: String,
    /// The SRT (`segments`) or the words JSON (`highlight`).
    #[serde(alias = "url_caption", alias = "caption_url")]
    #[schemars(with = "MediaRefText", extend("x-aliases" = ["url_caption", "caption_url"]))]
    pub url: String,
    #[serde(default)]
    pub style: Option<StyleOptions>,
    #[serde(default)]
    pub uppercase: Option<bool>,
}

// ---------------------------------------------------------------- captions

/// `POST /video/caption`: an SRT burned in with the default style.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Caption {
    #[serde(alias = "video_url")]
    #[schemars(with = "MediaRefText", extend("x-aliases" = ["video_url"]))]
    pub url_video: String,
    #[serde(alias = "srt_url", alias = "subtitle_url")]
    #[schemars(with = "MediaRefText", extend("x-aliases" = ["srt_url", "subtitle_url"]))]
    pub url_srt: String,
    #[serde(default)]
    #[schemars(with = "Option<OutputPath>")]
    pub path: Option<String>,
    #[serde(default)]
    #[schemars(with = "Option<VideoFilename>")]
    pub output_filename: Option<String>,
}

/// `POST /video/caption_style`: captions burned in with a style, as segments (SRT) or as
/// word-by-word karaoke (words JSON `{"words":[{"word","start","end"}]}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CaptionStyle {
    #[serde(alias = "video_url")]
    #[schemars(with = "MediaRefText", extend("x-aliases" = ["video_url"]))]
    pub url_video: String,
    /// The SRT (`segments`) or the words JSON (`highlight`).
    #[serde(alias = "caption_url")]
    #[schemars(with = "MediaRefText", extend("x-aliases" = ["caption_url"]))]
    pub url_caption: String,
    #[serde(default)]
    #[schemars(with = "Option<OutputPath>")]
    pub path: Option<String>,
    #[serde(default)]
    #[schemars(with = "Option<VideoFilename>")]
    pub output_filename: Option<String>,
    /// `segments` (caption is SRT) or `highlight` (caption is words JSON).
    #[serde(rename = "type", alias = "caption_type")]
    #[schemars(extend("enum" = CAPTION_TYPES, "x-aliases" = ["caption_type"]))]
    pub kind: String,
    #[serde(default)]
    pub uppercase: Option<bool>,
    #[serde(default)]
    pub style: Option<StyleOptions>,
}

/// The union of the `segments` and `highlight` style options.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StyleOptions {
    // segments
    /// segments.
    #[serde(default)]
    pub font: Option<FontOptions>,
    /// segments.
    #[serde(default)]
    pub colors: Option<ColorOptions>,
    /// segments.
    #[serde(default)]
    pub opacity: Option<OpacityOptions>,
    /// segments.
    #[serde(default)]
    pub border: Option<BorderOptions>,
    /// segments.
    #[serde(default)]
    pub borders: Option<BordersOptions>,
    /// segments: `{alignment, marginVertical|margin_v}`; highlight: an alignment name or
    /// the same object.
    #[serde(default)]
    #[schemars(with = "Option<Position>")]
    pub position: Option<Value>,
    // highlight (karaoke)
    /// highlight: font family.
    #[serde(default, alias = "font_name", alias = "font_family")]
    #[schemars(regex(pattern = FONT_NAME_PATTERN), extend("x-aliases" = ["font_name", "font_family"]))]
    pub fonte: Option<String>,
    /// highlight: font size.
    #[serde(default, alias = "font_size")]
    #[schemars(range(min = MIN_FONT_SIZE, max = MAX_FONT_SIZE), extend("x-aliases" = ["font_size"]))]
    pub tamanho_fonte: Option<f64>,
    /// highlight: background box color.
    #[serde(default, alias = "background_color")]
    #[schemars(with = "Option<HexColor>", extend("x-aliases" = ["background_color"]))]
    pub fundo_cor: Option<String>,
    /// highlight: background box opacity in percent, as the seed: 0 transparent … 100
    /// opaque (default 50).
    #[serde(default, alias = "background_opacity")]
    #[schemars(range(min = 0.0, max = MAX_OPACITY_PERCENT), extend("x-aliases" = ["background_opacity"]))]
    pub fundo_opacidade: Option<f64>,
    /// highlight: rounded background box.
    #[serde(default, alias = "background_rounded")]
    #[schemars(extend("x-aliases" = ["background_rounded"]))]
    pub fundo_arredondado: Option<bool>,
    /// highlight: text color.
    #[serde(default, alias = "text_color")]
    #[schemars(with = "Option<HexColor>", extend("x-aliases" = ["text_color"]))]
    pub texto_cor: Option<String>,
    /// highlight: color of the word being spoken.
    #[serde(default, alias = "highlight_text_color")]
    #[schemars(with = "Option<HexColor>", extend("x-aliases" = ["highlight_text_color"]))]
    pub highlight_texto_cor: Option<String>,
    /// highlight: highlight box color.
    #[serde(default, alias = "highlight_color")]
    #[schemars(with = "Option<HexColor>", extend("x-aliases" = ["highlight_color"]))]
    pub highlight_cor: Option<String>,
    /// highlight: highlight border.
    #[serde(default, alias = "highlight_border")]
    #[schemars(range(min = 0.0, max = MAX_HIGHLIGHT_BORDER), extend("x-aliases" = ["highlight_border"]))]
    pub highlight_borda: Option<f64>,
    /// highlight.
    #[serde(default)]
    #[schemars(range(min = 0.0, max = MAX_PADDING))]
    pub padding_horizontal: Option<f64>,
    /// highlight.
    #[serde(default)]
    #[schemars(range(min = 0.0, max = MAX_PADDING))]
    pub padding_vertical: Option<f64>,
    /// highlight (default 4).
    #[serde(default)]
    #[schemars(range(min = 1, max = MAX_WORDS_PER_LINE))]
    pub words_per_line: Option<u32>,
    /// highlight (default 2).
    #[serde(default)]
    #[schemars(range(min = 1, max = MAX_LINES))]
    pub max_lines: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FontOptions {
    #[serde(default)]
    #[schemars(regex(pattern = FONT_NAME_PATTERN))]
    pub name: Option<String>,
    #[serde(default)]
    #[schemars(range(min = MIN_FONT_SIZE, max = MAX_FONT_SIZE))]
    pub size: Option<f64>,
    #[serde(default)]
    pub bold: Option<bool>,
    #[serde(default)]
    pub italic: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ColorOptions {
    #[serde(default)]
    #[schemars(with = "Option<HexColor>")]
    pub primary: Option<String>,
    #[serde(default)]
    #[schemars(with = "Option<HexColor>")]
    pub secondary: Option<String>,
    #[serde(default)]
    #[schemars(with = "Option<HexColor>")]
    pub outline: Option<String>,
    #[serde(default)]
    #[schemars(with = "Option<HexColor>")]
    pub background: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OpacityOptions {
    /// Text opacity in percent, as the seed: 0 transparent … 100 opaque (default 100).
    #[serde(default)]
    #[schemars(range(min = 0.0, max = MAX_OPACITY_PERCENT))]
    pub primary: Option<f64>,
    /// Background (box and shadow) opacity in percent (default 50).
    #[serde(default)]
    #[schemars(range(min = 0.0, max = MAX_OPACITY_PERCENT))]
    pub background: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BorderOptions {
    /// ASS border style: 1 outline + shadow, 3 opaque box, 4 box behind the text.
    #[serde(default)]
    #[schemars(extend("enum" = BORDER_STYLES))]
    pub style: Option<u32>,
    #[serde(default)]
    #[schemars(range(min = 0.0, max = MAX_BORDER))]
    pub width: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BordersOptions {
    #[serde(default)]
    #[schemars(range(min = 0.0, max = MAX_BORDER))]
    pub outline: Option<f64>,
    #[serde(default)]
    #[schemars(range(min = 0.0, max = MAX_BORDER))]
    pub shadow: Option<f64>,
    /// ASS border style: 1 outline + shadow, 3 opaque box, 4 box behind the text.
    #[serde(default)]
    #[schemars(extend("enum" = BORDER_STYLES))]
    pub style: Option<u32>,
}

// ---------------------------------------------------------------- audio/video muxing

/// `POST /video/addaudio`: the video with the audio as its soundtrack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AddAudio {
    #[serde(alias = "video_url")]
    #[schemars(with = "MediaRefText", extend("x-aliases" = ["video_url"]))]
    pub url_video: String,
    #[serde(alias = "audio_url")]
    #[schemars(with = "MediaRefText", extend("x-aliases" = ["audio_url"]))]
    pub url_audio: String,
    #[serde(default)]
    #[schemars(with = "Option<OutputPath>")]
    pub path: Option<String>,
    #[serde(default)]
    #[schemars(with = "Option<VideoFilename>")]
    pub output_filename: Option<String>,
    /// `shortest` (default), `stretch_video`, `loop_video`.
    #[serde(default)]
    #[schemars(extend("enum" = SYNC_MODES))]
    pub sync: Option<String>,
}

/// `POST /video/concatenate`: the videos one after the other, audio kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Concatenate {
    #[serde(alias = "videos", alias = "urls")]
    #[schemars(length(min = 2, max = MAX_LIST), extend("x-aliases" = ["videos", "urls"]))]
    pub video_urls: Vec<UrlItem>,
    #[serde(default)]
    #[schemars(with = "Option<OutputPath>")]
    pub path: Option<String>,
    #[serde(default)]
    #[schemars(with = "Option<VideoFilename>")]
    pub output_filename: Option<String>,
}

/// `POST /video/concat_video_audio`: the videos cycled in order until the audio's length,
/// the audio laid under them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ConcatVideoAudio {
    #[serde(alias = "videos")]
    #[schemars(length(min = 1, max = MAX_LIST), extend("x-aliases" = ["videos"]))]
    pub video_urls: Vec<UrlItem>,
    #[serde(alias = "audio_url")]
    #[schemars(with = "MediaRefText", extend("x-aliases" = ["audio_url"]))]
    pub url_audio: String,
    #[serde(default)]
    #[schemars(with = "Option<OutputPath>")]
    pub path: Option<String>,
    #[serde(default)]
    #[schemars(with = "Option<VideoFilename>")]
    pub output_filename: Option<String>,
    /// Default true.
    #[serde(default)]
    pub normalize: Option<bool>,
}

/// `POST /video/trilhasonora` (alias `/video/background_music`): music looped under the
/// video's audio.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct VideoTrilhaSonora {
    #[serde(alias = "video_url")]
    #[schemars(with = "MediaRefText", extend("x-aliases" = ["video_url"]))]
    pub url_video: String,
    /// The music.
    #[serde(alias = "music_url", alias = "background_music", alias = "url_music")]
    #[schemars(with = "MediaRefText", extend("x-aliases" = ["music_url", "background_music", "url_music"]))]
    pub trilha_sonora: String,
    #[serde(default)]
    #[schemars(with = "Option<OutputPath>")]
    pub path: Option<String>,
    #[serde(default)]
    #[schemars(with = "Option<VideoFilename>")]
    pub output_filename: Option<String>,
    /// 0–40 dB; absent: music set 20 dB below the voice by loudness analysis.
    #[serde(default)]
    #[schemars(range(min = 0.0, max = MAX_VOLUME_REDUCTION_DB))]
    pub volume_reduction_db: Option<f64>,
}

/// `POST /audio/trilhasonora`: music looped under a voice track.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AudioTrilhaSonora {
    #[serde(alias = "url_audio")]
    #[schemars(with = "MediaRefText", extend("x-aliases" = ["url_audio"]))]
    pub audio_url: String,
    /// The music.
    #[serde(alias = "music_url", alias = "background_music", alias = "url_music")]
    #[schemars(with = "MediaRefText", extend("x-aliases" = ["music_url", "background_music", "url_music"]))]
    pub trilha_sonora: String,
    #[serde(default)]
    #[schemars(with = "Option<OutputPath>")]
    pub path: Option<String>,
    /// Default `audio_with_trilha.mp3`.
    #[serde(default)]
    #[schemars(with = "Option<AudioFilename>")]
    pub output_filename: Option<String>,
    /// 0–50 dB, default 30.
    #[serde(default)]
    #[schemars(range(min = 0.0, max = MAX_DB_OFFSET))]
    pub db_offset: Option<f64>,
}

/// `POST /audio/concatenate`: the audios one after the other.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AudioConcatenate {
    #[serde(alias = "audios", alias = "urls")]
    #[schemars(length(min = 2, max = MAX_LIST), extend("x-aliases" = ["audios", "urls"]))]
    pub audio_urls: Vec<UrlItem>,
    #[serde(default)]
    #[schemars(with = "Option<OutputPath>")]
    pub path: Option<String>,
    #[serde(default)]
    #[schemars(with = "Option<AudioFilename>")]
    pub output_filename: Option<String>,
}

/// `POST /audio/trim`: `duration_sec` seconds of the audio from `start_sec`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AudioTrim {
    #[serde(alias = "audio_url", alias = "url_audio")]
    #[schemars(with = "MediaRefText", extend("x-aliases" = ["audio_url", "url_audio"]))]
    pub source_uri: String,
    #[serde(alias = "start")]
    #[schemars(range(min = 0.0, max = MAX_MEDIA_SECONDS), extend("x-aliases" = ["start"]))]
    pub start_sec: f64,
    #[serde(alias = "duration")]
    #[schemars(range(max = MAX_MEDIA_SECONDS), extend("exclusiveMinimum" = 0.0, "x-aliases" = ["duration"]))]
    pub duration_sec: f64,
    #[serde(default)]
    #[schemars(with = "Option<OutputPath>")]
    pub path: Option<String>,
    #[serde(default)]
    #[schemars(with = "Option<AudioFilename>")]
    pub output_filename: Option<String>,
}

/// `POST /video/downsample`: the video scaled down to a height.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Downsample {
    #[serde(alias = "video_url")]
    #[schemars(with = "MediaRefText", extend("x-aliases" = ["video_url"]))]
    pub url_video: String,
    /// `240p`, `360p`, `480p`, `720p`, `1080p` or a height in pixels.
    #[schemars(with = "Resolution")]
    pub resolution: Value,
    #[serde(default)]
    #[schemars(with = "Option<OutputPath>")]
    pub path: Option<String>,
    #[serde(default)]
    #[schemars(with = "Option<VideoFilename>")]
    pub output_filename: Option<String>,
}

/// `POST /video/encode`: one pass that muxes the audio and burns the subtitles in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Encode {
    #[serde(alias = "video_url")]
    #[schemars(with = "MediaRefText", extend("x-aliases" = ["video_url"]))]
    pub url_video: String,
    #[serde(default, alias = "audio_url")]
    #[schemars(with = "Option<MediaRefText>", extend("x-aliases" = ["audio_url"]))]
    pub url_audio: Option<String>,
    /// SRT or ASS.
    #[serde(default, alias = "subtitles_url", alias = "url_srt")]
    #[schemars(with = "Option<MediaRefText>", extend("x-aliases" = ["subtitles_url", "url_srt"]))]
    pub url_subtitles: Option<String>,
    #[serde(default)]
    #[schemars(with = "Option<OutputPath>")]
    pub path: Option<String>,
    #[serde(default)]
    #[schemars(with = "Option<VideoFilename>")]
    pub output_filename: Option<String>,
}

/// `POST /audio/transcribe`: speech to text with word timestamps (Whisper). Writes
/// `segments.srt`, `segments.json` (`[{id, start, end, text, avg_logprob,
/// no_speech_prob}]`), `words.json` (`{"words":[{word, start, end, probability}]}`, what
/// `caption_style` `highlight` reads) and `karaoke.ass` (word-by-word highlight, default
/// style) under `path`. Result: `files{segments{srt,json}, words{ass_karaoke,json}}`,
/// `transcription`, `language`, `language_probability`, `duration`, `stats`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Transcribe {
    /// Any audio (or video) ffmpeg reads.
    #[serde(alias = "url_audio")]
    #[schemars(with = "MediaRefText", extend("x-aliases" = ["url_audio"]))]
    pub audio_url: String,
    #[serde(default)]
    #[schemars(with = "Option<OutputPath>")]
    pub path: Option<String>,
    /// A model the worker is configured with (letters, digits, `-`, `_` and `.`); default:
    /// the worker's default model. An unknown name fails the job with `unknown-model`.
    #[serde(default)]
    #[schemars(length(min = 1, max = MAX_MODEL_NAME), regex(pattern = MODEL_NAME_PATTERN))]
    pub model: Option<String>,
    /// An ISO 639-1 code such as `pt` or `en` to force; `auto` or absent: detected.
    #[serde(default)]
    #[schemars(regex(pattern = LANGUAGE_PATTERN))]
    pub language: Option<String>,
    /// Skip silence before decoding, so no text is invented over it (default true).
    #[serde(default)]
    pub enable_vad: Option<bool>,
    /// Beam width; 1 is greedy (default 5).
    #[serde(default)]
    #[schemars(range(min = 1, max = MAX_BEAM_SIZE))]
    pub beam_size: Option<u32>,
    /// 0 decodes by beam search (default); above 0 samples at this temperature.
    #[serde(default)]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub temperature: Option<f64>,
}

// ---------------------------------------------------------------- objects / pipeline

/// `POST /objects/stage`: copies an https URL into the tenant's storage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ObjectsStage {
    /// An https URL.
    #[serde(alias = "source_url")]
    #[schemars(with = "MediaRefText", extend("x-aliases" = ["source_url"]))]
    pub source_uri: String,
    /// An object key in the tenant's space (`s3://bucket/key` or `r2://key`).
    #[serde(alias = "dest_key")]
    #[schemars(with = "MediaRefText", extend("x-aliases" = ["dest_key"]))]
    pub dest_uri: String,
}

/// `POST /pipeline/segment`: one WAV per segment of the master audio, cut sample-exactly
/// (start = round(start_sec × rate), length = round(duration_sec × rate) samples, at the
/// master's own sample rate and channels) to
/// `pipelines/<job_id>/stage/segmentation/audio_segments/segment_<i>.wav` (`i` from 0)
/// under the tenant's prefix. The master is `master_audio_uri` (alias
/// `master_audio_r2_uri`), else `master_audio_http_url`: an object key is read in place,
/// an https URL is first staged to `pipelines/<job_id>/inputs/audio/master.<ext>`. A
/// presenter image given as a URL is staged likewise to
/// `pipelines/<job_id>/inputs/image/presenter.<ext>`. Segments are `segments`, else the
/// JSON list `[{start_sec, duration_sec}]` at `segments_uri` (an object key or https URL,
/// read by the API before the job is accepted). `GET /pipeline/status` reports which
/// segments exist.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PipelineSegment {
    /// The pipeline's id: a folder name under `pipelines/`.
    #[schemars(with = "Filename")]
    pub job_id: String,
    /// The master audio: an object key (used in place) or an https URL (staged first).
    #[serde(default, alias = "master_audio_r2_uri")]
    #[schemars(with = "Option<MediaRefText>", extend("x-aliases" = ["master_audio_r2_uri"]))]
    pub master_audio_uri: Option<String>,
    /// Used only when `master_audio_uri` is absent; staged first when it is a URL.
    #[serde(default)]
    #[schemars(with = "Option<MediaRefText>")]
    pub master_audio_http_url: Option<String>,
    /// A presenter image: an object key (left in place) or an https URL (staged).
    #[serde(default, alias = "presenter_image_r2_uri")]
    #[schemars(with = "Option<MediaRefText>", extend("x-aliases" = ["presenter_image_r2_uri"]))]
    pub presenter_image_uri: Option<String>,
    /// Used only when `presenter_image_uri` is absent.
    #[serde(default)]
    #[schemars(with = "Option<MediaRefText>")]
    pub presenter_image_http_url: Option<String>,
    /// Segments to cut; when given, `segments_uri` is not read.
    #[serde(default)]
    #[schemars(length(min = 1, max = MAX_SEGMENTS))]
    pub segments: Option<Vec<SegmentSpec>>,
    /// A JSON list of segments (`[{start_sec, duration_sec}]`, or `{"segments": […]}`),
    /// at most 1 MiB; read when `segments` is absent.
    #[serde(default)]
    #[schemars(with = "Option<MediaRefText>")]
    pub segments_uri: Option<String>,
}

impl PipelineSegment {
    /// The master audio reference in force: `master_audio_uri`, else `master_audio_http_url`.
    pub fn master(&self) -> Option<&str> {
        self.master_audio_uri.as_deref().or(self.master_audio_http_url.as_deref())
    }

    /// The presenter image reference in force, if any.
    pub fn presenter(&self) -> Option<&str> {
        self.presenter_image_uri.as_deref().or(self.presenter_image_http_url.as_deref())
    }

    /// The `segments_uri` the API must read before planning: given, and no inline `segments`.
    pub fn pending_segments_uri(&self) -> Option<&str> {
        if self.segments.is_some() { None } else { self.segments_uri.as_deref() }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SegmentSpec {
    #[serde(alias = "start")]
    #[schemars(range(min = 0.0, max = MAX_MEDIA_SECONDS), extend("x-aliases" = ["start"]))]
    pub start_sec: f64,
    #[serde(alias = "duration")]
    #[schemars(range(max = MAX_MEDIA_SECONDS), extend("exclusiveMinimum" = 0.0, "x-aliases" = ["duration"]))]
    pub duration_sec: f64,
}

// ---------------------------------------------------------------- YouTube captions

/// `POST /video/transcribe_youtube`: YouTube's own captions of a video (no browser, no
/// audio download), as the same four files as `/audio/transcribe` under `path`:
/// `segments.srt`, `segments.json`, `words.json` and `karaoke.ass`. The track is the one in
/// `language` when given; else the manual track in the video's own language, else the
/// auto-generated one. Word timings (`words.json`, `karaoke.ass`) exist only for
/// auto-generated tracks (the result's `word_timings`). Result: `video_id`, `title`,
/// `language`, `track` (`manual` or `asr`), `files`, `transcription`, `duration`,
/// `word_timings`.
///
/// A failed job's `error.code`, with YouTube's own reason in the message:
/// `video-unavailable`, `captions-disabled`, `no-captions-in-language` (the message lists
/// the languages there are), `age-restricted`, `request-blocked` (a bot check or HTTP 429:
/// retried; the worker's `YOUTUBE_PROXY` sends the requests through another address),
/// `upstream-changed`, `po-token-required`, `youtube-unreachable` (retried).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TranscribeYoutube {
    /// A watch, shorts, live, embed or youtu.be URL, or the bare video id.
    #[serde(alias = "video_url", alias = "youtube_url")]
    #[schemars(with = "YoutubeRef", extend("x-aliases" = ["video_url", "youtube_url"]))]
    pub url: String,
    /// The caption language wanted (`en`, `pt`, `pt-BR`); absent: the video's own.
    #[serde(default)]
    #[schemars(length(max = MAX_LANGUAGE_TAG), regex(pattern = LANGUAGE_TAG_PATTERN))]
    pub language: Option<String>,
    #[serde(default)]
    #[schemars(with = "Option<OutputPath>")]
    pub path: Option<String>,
}

// ---------------------------------------------------------------- AI scene images

/// `POST /image/prompts`: one image prompt per scene of a script, from one chat-completions
/// call (the script is sent once, not once per scene); scenes the model left out are asked
/// again alone. Runs in the API (no GPU). Result: `prompts[{index, prompt}]` in index
/// order, `stats{totalScenes, promptsGenerated, successRate}`, token `usage`; scenes that
/// still failed are listed with their code.
///
/// The scenes are `cenas`; or, as the seed's reference documents it, `tema` and
/// `quantidade`: that many prompts on one theme.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ImagePrompts {
    /// The scenes, each with its `index` and its excerpt of the script.
    #[serde(default, alias = "scenes")]
    #[schemars(length(min = 1, max = MAX_PROMPT_SCENES), extend("x-aliases" = ["scenes"]))]
    pub cenas: Option<Vec<PromptScene>>,
    /// The visual style (`photorealistic`, `anime`, …).
    #[serde(default, alias = "style")]
    #[schemars(length(max = MAX_STYLE_CHARS), extend("x-aliases" = ["style"]))]
    pub estilo: Option<String>,
    /// More about the style (palette, lighting, lens, …).
    #[serde(default, alias = "style_detail")]
    #[schemars(length(max = MAX_STYLE_DETAIL_CHARS), extend("x-aliases" = ["style_detail"]))]
    pub detalhe_estilo: Option<String>,
    /// The whole script, for context.
    #[serde(default, alias = "script")]
    #[schemars(length(max = MAX_SCRIPT_CHARS), extend("x-aliases" = ["script"]))]
    pub roteiro: Option<String>,
    /// Instructions for the model (its system message); absent: the service's own.
    #[serde(default, alias = "agent")]
    #[schemars(length(max = MAX_AGENT_CHARS), extend("x-aliases" = ["agent"]))]
    pub agente: Option<String>,
    /// The theme form: a theme …
    #[serde(default, alias = "theme")]
    #[schemars(length(min = 1, max = MAX_THEME_CHARS), extend("x-aliases" = ["theme"]))]
    pub tema: Option<String>,
    /// … and how many prompts on it (scenes `1` … `quantidade`).
    #[serde(default, alias = "count")]
    #[schemars(range(min = 1, max = MAX_PROMPT_SCENES), extend("x-aliases" = ["count"]))]
    pub quantidade: Option<u32>,
}

/// One scene of `/image/prompts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PromptScene {
    /// The scene's number, echoed with its prompt (unique in the request).
    pub index: u32,
    /// The scene's excerpt of the script.
    #[serde(alias = "text")]
    #[schemars(length(min = 1, max = MAX_SCENE_TEXT_CHARS), extend("x-aliases" = ["text"]))]
    pub texto: String,
}

impl ImagePrompts {
    /// The scenes to prompt: `cenas`, else `quantidade` scenes numbered from 1 whose text
    /// is `tema`, else none.
    pub fn scenes(&self) -> Vec<PromptScene> {
        match (&self.cenas, &self.tema, self.quantidade) {
            (Some(c), _, _) => c.clone(),
            (None, Some(t), Some(n)) => {
                (1..=n.min(MAX_PROMPT_SCENES as u32)).map(|index| PromptScene { index, texto: t.clone() }).collect()
            }
            _ => vec![],
        }
    }
}

/// `POST /image/generate`: one image per prompt (Runware), each copied into the tenant's
/// storage as `image_<index>.<ext>` under `path`, so that its URL is ours and does not
/// expire with the provider's. Runs in the API (no GPU). Result: `images[{index, prompt,
/// image_url, s3_key, width, height}]` in index order (ready to be img2vid's `images`,
/// `index` as `id`); images that failed are listed with their code, and a job whose every
/// image failed is FAILED.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ImageGenerate {
    /// `{index, prompt}` items; a bare string is the prompt of its 1-based position.
    #[schemars(length(min = 1, max = MAX_GENERATED_IMAGES))]
    pub prompts: Vec<ImagePromptItem>,
    /// The provider's model id (Runware AIR, e.g. `runware:100@1`); default `runware:100@1`.
    #[serde(default, alias = "model")]
    #[schemars(length(min = 1, max = MAX_IMAGE_MODEL_NAME), regex(pattern = IMAGE_MODEL_PATTERN), extend("x-aliases" = ["model"]))]
    pub image_model: Option<String>,
    /// Height in pixels, a multiple of 64 (default 1024).
    #[serde(default, alias = "height")]
    #[schemars(range(min = MIN_IMAGE_DIMENSION, max = MAX_IMAGE_DIMENSION), extend("multipleOf" = IMAGE_DIMENSION_STEP, "x-aliases" = ["height"]))]
    pub altura: Option<u32>,
    /// Width in pixels, a multiple of 64 (default 1024).
    #[serde(default, alias = "width")]
    #[schemars(range(min = MIN_IMAGE_DIMENSION, max = MAX_IMAGE_DIMENSION), extend("multipleOf" = IMAGE_DIMENSION_STEP, "x-aliases" = ["width"]))]
    pub largura: Option<u32>,
    /// What every image should avoid.
    #[serde(default, alias = "negativePrompt")]
    #[schemars(length(min = MIN_IMAGE_PROMPT_CHARS, max = MAX_IMAGE_PROMPT_CHARS), extend("x-aliases" = ["negativePrompt"]))]
    pub negative_prompt: Option<String>,
    /// `jpg` (default), `png` or `webp`.
    #[serde(default, alias = "format")]
    #[schemars(extend("enum" = IMAGE_FORMATS, "x-aliases" = ["format"]))]
    pub output_format: Option<String>,
    #[serde(default)]
    #[schemars(with = "Option<OutputPath>")]
    pub path: Option<String>,
}

/// One prompt of `/image/generate`: `{index, prompt}`, or a bare prompt string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ImagePromptItem {
    Item {
        /// The image's number: its output is `image_<index>.<ext>` (unique in the request).
        index: u32,
        #[schemars(length(min = MIN_IMAGE_PROMPT_CHARS, max = MAX_IMAGE_PROMPT_CHARS))]
        prompt: String,
    },
    Plain(#[schemars(length(min = MIN_IMAGE_PROMPT_CHARS, max = MAX_IMAGE_PROMPT_CHARS))] String),
}

impl ImageGenerate {
    /// `(index, prompt)` of every prompt, in request order; a bare string at position `i`
    /// (0-based) has index `i + 1`.
    pub fn indexed_prompts(&self) -> Vec<(u32, &str)> {
        self.prompts
            .iter()
            .enumerate()
            .map(|(i, p)| match p {
                ImagePromptItem::Item { index, prompt } => (*index, prompt.as_str()),
                ImagePromptItem::Plain(prompt) => (i as u32 + 1, prompt.as_str()),
            })
            .collect()
    }
}
