//! Request bodies of every operation in the public API, with the seed's field names
//! (`url_video`, `duracao`, `trilha_sonora`, `fonte`, …) and English aliases.
//!
//! Types are deliberately permissive (strings for enums, options for everything the
//! seed treated as optional) so that [`crate::validate`] can report every problem at
//! once instead of stopping at the first serde error.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Fields every asynchronous request may carry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Common {
    #[serde(default, alias = "webhookUrl")]
    pub webhook_url: Option<String>,
    /// Echoed back as `idRoteiro`.
    #[serde(default, alias = "idRoteiro")]
    pub id_roteiro: Option<i64>,
    /// Any JSON object, echoed back.
    #[serde(default)]
    pub metadata: Option<Map<String, Value>>,
}

/// An id given as a string or a number (`"id": 3` and `"id": "3"` are both seen).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum UrlItem {
    Plain(String),
    Object {
        #[serde(alias = "video_url", alias = "audio_url", alias = "url_video", alias = "url_audio")]
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Img2Vid {
    pub images: Vec<ImageItem>,
    #[serde(default)]
    pub path: Option<String>,
    /// Subset of `zoomin`, `zoomout`, `zoompanright`.
    #[serde(default, alias = "zoomTypes")]
    pub zoom_types: Option<Vec<String>>,
    #[serde(default, alias = "fps", alias = "frameRate")]
    pub frame_rate: Option<u32>,
    #[serde(default)]
    pub width: Option<u32>,
    #[serde(default)]
    pub height: Option<u32>,
    /// `landscape` (default, 1920×1080) or `portrait` (1080×1920); `horizontal` and
    /// `vertical` are accepted.
    #[serde(default)]
    pub orientation: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageItem {
    #[serde(default)]
    pub id: Option<FlexId>,
    #[serde(alias = "url", alias = "imageUrl")]
    pub image_url: String,
    /// Seconds on screen.
    #[serde(alias = "duration")]
    pub duracao: f64,
}

// ---------------------------------------------------------------- captions

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Caption {
    #[serde(alias = "video_url")]
    pub url_video: String,
    #[serde(alias = "srt_url", alias = "subtitle_url")]
    pub url_srt: String,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub output_filename: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaptionStyle {
    #[serde(alias = "video_url")]
    pub url_video: String,
    #[serde(alias = "caption_url")]
    pub url_caption: String,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub output_filename: Option<String>,
    /// `segments` (caption is SRT) or `highlight` (caption is words JSON).
    #[serde(rename = "type", alias = "caption_type")]
    pub kind: String,
    #[serde(default)]
    pub uppercase: Option<bool>,
    #[serde(default)]
    pub style: Option<StyleOptions>,
}

/// The union of the `segments` and `highlight` style options.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StyleOptions {
    // segments
    #[serde(default)]
    pub font: Option<FontOptions>,
    #[serde(default)]
    pub colors: Option<ColorOptions>,
    #[serde(default)]
    pub opacity: Option<OpacityOptions>,
    #[serde(default)]
    pub border: Option<BorderOptions>,
    #[serde(default)]
    pub borders: Option<BordersOptions>,
    /// segments: `{alignment, marginVertical|margin_v}`; highlight: an alignment name or
    /// the same object.
    #[serde(default)]
    pub position: Option<Value>,
    // highlight (karaoke)
    #[serde(default, alias = "font_name", alias = "font_family")]
    pub fonte: Option<String>,
    #[serde(default, alias = "font_size")]
    pub tamanho_fonte: Option<f64>,
    #[serde(default, alias = "background_color")]
    pub fundo_cor: Option<String>,
    #[serde(default, alias = "background_opacity")]
    pub fundo_opacidade: Option<f64>,
    #[serde(default, alias = "background_rounded")]
    pub fundo_arredondado: Option<bool>,
    #[serde(default, alias = "text_color")]
    pub texto_cor: Option<String>,
    #[serde(default, alias = "highlight_text_color")]
    pub highlight_texto_cor: Option<String>,
    #[serde(default, alias = "highlight_color")]
    pub highlight_cor: Option<String>,
    #[serde(default, alias = "highlight_border")]
    pub highlight_borda: Option<f64>,
    #[serde(default)]
    pub padding_horizontal: Option<f64>,
    #[serde(default)]
    pub padding_vertical: Option<f64>,
    #[serde(default)]
    pub words_per_line: Option<u32>,
    #[serde(default)]
    pub max_lines: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FontOptions {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub size: Option<f64>,
    #[serde(default)]
    pub bold: Option<bool>,
    #[serde(default)]
    pub italic: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ColorOptions {
    #[serde(default)]
    pub primary: Option<String>,
    #[serde(default)]
    pub secondary: Option<String>,
    #[serde(default)]
    pub outline: Option<String>,
    #[serde(default)]
    pub background: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OpacityOptions {
    #[serde(default)]
    pub primary: Option<f64>,
    #[serde(default)]
    pub background: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BorderOptions {
    #[serde(default)]
    pub style: Option<u32>,
    #[serde(default)]
    pub width: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BordersOptions {
    #[serde(default)]
    pub outline: Option<f64>,
    #[serde(default)]
    pub shadow: Option<f64>,
    #[serde(default)]
    pub style: Option<u32>,
}

// ---------------------------------------------------------------- audio/video muxing

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AddAudio {
    #[serde(alias = "video_url")]
    pub url_video: String,
    #[serde(alias = "audio_url")]
    pub url_audio: String,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub output_filename: Option<String>,
    /// `shortest` (default), `stretch_video`, `loop_video`.
    #[serde(default)]
    pub sync: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Concatenate {
    #[serde(alias = "videos", alias = "urls")]
    pub video_urls: Vec<UrlItem>,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub output_filename: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConcatVideoAudio {
    #[serde(alias = "videos")]
    pub video_urls: Vec<UrlItem>,
    #[serde(alias = "audio_url")]
    pub url_audio: String,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub output_filename: Option<String>,
    #[serde(default)]
    pub normalize: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VideoTrilhaSonora {
    #[serde(alias = "video_url")]
    pub url_video: String,
    #[serde(alias = "music_url", alias = "background_music", alias = "url_music")]
    pub trilha_sonora: String,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub output_filename: Option<String>,
    /// 0–40 dB; absent: music set 20 dB below the voice by loudness analysis.
    #[serde(default)]
    pub volume_reduction_db: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AudioTrilhaSonora {
    #[serde(alias = "url_audio")]
    pub audio_url: String,
    #[serde(alias = "music_url", alias = "background_music", alias = "url_music")]
    pub trilha_sonora: String,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub output_filename: Option<String>,
    /// 0–50 dB, default 30.
    #[serde(default)]
    pub db_offset: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AudioConcatenate {
    #[serde(alias = "audios", alias = "urls")]
    pub audio_urls: Vec<UrlItem>,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub output_filename: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AudioTrim {
    #[serde(alias = "audio_url", alias = "url_audio")]
    pub source_uri: String,
    #[serde(alias = "start")]
    pub start_sec: f64,
    #[serde(alias = "duration")]
    pub duration_sec: f64,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub output_filename: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Downsample {
    #[serde(alias = "video_url")]
    pub url_video: String,
    /// `240p`, `360p`, `480p`, `720p`, `1080p` or a height in pixels.
    pub resolution: Value,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub output_filename: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Encode {
    #[serde(alias = "video_url")]
    pub url_video: String,
    #[serde(default, alias = "audio_url")]
    pub url_audio: Option<String>,
    #[serde(default, alias = "subtitles_url", alias = "url_srt")]
    pub url_subtitles: Option<String>,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub output_filename: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transcribe {
    #[serde(alias = "url_audio")]
    pub audio_url: String,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub enable_vad: Option<bool>,
    #[serde(default)]
    pub beam_size: Option<u32>,
    #[serde(default)]
    pub temperature: Option<f64>,
}

// ---------------------------------------------------------------- objects / pipeline

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectsStage {
    #[serde(alias = "source_url")]
    pub source_uri: String,
    #[serde(alias = "dest_key")]
    pub dest_uri: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PipelineSegment {
    pub job_id: String,
    #[serde(default)]
    pub master_audio_uri: Option<String>,
    #[serde(default)]
    pub master_audio_http_url: Option<String>,
    #[serde(default)]
    pub segments: Option<Vec<SegmentSpec>>,
    #[serde(default)]
    pub segments_uri: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentSpec {
    #[serde(alias = "start")]
    pub start_sec: f64,
    #[serde(alias = "duration")]
    pub duration_sec: f64,
}
