//! String formats of the OpenAPI schema ([`crate::openapi`]), and the patterns they use.
//!
//! The types below describe string formats that the request types ([`crate::ops`]) carry as
//! plain `String`s or `Value`s (so that validation can report every problem at once); they
//! exist for the schema only and are never constructed.

use schemars::JsonSchema;

use crate::limits::{AUDIO_EXTENSIONS, MAX_MARGIN_V, MP4_EXTENSIONS, VIDEO_EXTENSIONS};
use crate::media::{MAX_FILENAME_BYTES, MAX_KEY_BYTES, MAX_URL_BYTES};
use crate::values::{ALIGNMENTS, MAX_RESOLUTION_HEIGHT, MIN_RESOLUTION_HEIGHT};

/// Media references start with one of these schemes.
pub const MEDIA_REF_PATTERN: &str = "^(https?|s3|r2)://";
/// `#RRGGBB` or `RRGGBB`.
pub const HEX_COLOR_PATTERN: &str = "^#?[0-9A-Fa-f]{6}$";
/// No separators in a filename.
pub const FILENAME_PATTERN: &str = "^[^/\\\\]+$";
/// One path segment ending in `.mp4` (any case).
pub const MP4_FILENAME_PATTERN: &str = "^[^/\\\\]+\\.[Mm][Pp]4$";
/// No commas or control characters in a font name.
pub const FONT_NAME_PATTERN: &str = "^[^,\\u0000-\\u001F\\u007F-\\u009F]*$";
/// An ISO 639-1/639-2 code or `auto`.
pub const LANGUAGE_PATTERN: &str = "^(auto|[a-z]{2,3})$";
/// A model name (not starting with `.`).
pub const MODEL_NAME_PATTERN: &str = "^[A-Za-z0-9_-][A-Za-z0-9._-]*$";
/// A caption language tag for `/video/transcribe_youtube`: `en`, `pt-BR`, `zh-Hans`, `es-419`.
pub const LANGUAGE_TAG_PATTERN: &str = "^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$";
/// An image model name: Runware's AIR ids (`runware:100@1`, `civitai:4384@130072`).
pub const IMAGE_MODEL_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9:@._/-]*$";
/// `720p`, `720`, `720P`.
pub const RESOLUTION_PATTERN: &str = "^\\s*[0-9]+[pP]?\\s*$";
/// A job id: a Durable Object id.
pub const JOB_ID_PATTERN: &str = "^[0-9a-f]{64}$";

/// A media reference: a public `https://` URL, or an object key in the tenant's space as
/// `s3://bucket/key` or `r2://key`. In local development only (an explicit setting),
/// `http://` URLs on loopback are accepted too. URLs must not carry credentials nor point
/// at private, loopback or link-local addresses.
#[derive(JsonSchema)]
#[schemars(rename = "MediaRef")]
pub struct MediaRefText(#[schemars(length(min = 1, max = MAX_URL_BYTES), regex(pattern = MEDIA_REF_PATTERN))] pub String);

/// A YouTube video: a watch, shorts, live, embed or youtu.be URL, or the bare 11-character
/// video id (`dQw4w9WgXcQ`).
#[derive(JsonSchema)]
#[schemars(extend("examples" = ["https://www.youtube.com/watch?v=dQw4w9WgXcQ", "https://youtu.be/dQw4w9WgXcQ", "dQw4w9WgXcQ"]))]
pub struct YoutubeRef(#[schemars(length(min = 1, max = MAX_URL_BYTES))] pub String);

/// The output folder under the tenant's prefix: relative, without `.`/`..` or empty
/// segments, `\` or control characters.
#[derive(JsonSchema)]
pub struct OutputPath(#[schemars(length(max = MAX_KEY_BYTES / 2))] pub String);

/// A file name: one path segment, no `/`, `\` or control characters, not `.` or `..`.
#[derive(JsonSchema)]
pub struct Filename(#[schemars(length(min = 1, max = MAX_FILENAME_BYTES), regex(pattern = FILENAME_PATTERN))] pub String);

/// The output file name; an extension, when given, must be one this operation produces.
#[derive(JsonSchema)]
#[schemars(description = filename_description(&VIDEO_EXTENSIONS), extend("x-extensions" = VIDEO_EXTENSIONS))]
pub struct VideoFilename(#[schemars(length(min = 1, max = MAX_FILENAME_BYTES), regex(pattern = FILENAME_PATTERN))] pub String);

/// The output file name; an extension, when given, must be one this operation produces.
#[derive(JsonSchema)]
#[schemars(description = filename_description(&AUDIO_EXTENSIONS), extend("x-extensions" = AUDIO_EXTENSIONS))]
pub struct AudioFilename(#[schemars(length(min = 1, max = MAX_FILENAME_BYTES), regex(pattern = FILENAME_PATTERN))] pub String);

fn filename_description(extensions: &[&str]) -> String {
    format!(
        "The output file name: one path segment (no `/`, `\\` or control characters); an extension, when given, is one of .{}.",
        extensions.join(", .")
    )
}

/// The output file name of an operation that writes MP4 only.
#[derive(JsonSchema)]
#[schemars(
    description = "The output file name: one path segment (no `/`, `\\` or control characters) ending in `.mp4`.",
    extend("x-extensions" = MP4_EXTENSIONS)
)]
pub struct Mp4Filename(#[schemars(length(min = 1, max = MAX_FILENAME_BYTES), regex(pattern = MP4_FILENAME_PATTERN))] pub String);

/// A color, `#RRGGBB`.
#[derive(JsonSchema)]
pub struct HexColor(#[schemars(regex(pattern = HEX_COLOR_PATTERN))] pub String);

/// `240p`, `360p`, `480p`, `720p`, `1080p`, or a height in pixels (a number, or a string
/// with an optional `p`).
#[derive(JsonSchema)]
#[schemars(untagged)]
pub enum Resolution {
    Height(#[schemars(range(min = MIN_RESOLUTION_HEIGHT, max = MAX_RESOLUTION_HEIGHT))] u32),
    Name(#[schemars(regex(pattern = RESOLUTION_PATTERN), extend("examples" = ["240p", "360p", "480p", "720p", "1080p"]))] String),
}

/// An alignment name (case-insensitive; `-` and `_` are interchangeable).
#[derive(JsonSchema)]
#[schemars(extend("enum" = alignment_names()))]
pub struct Alignment(pub String);

fn alignment_names() -> Vec<&'static str> {
    ALIGNMENTS.iter().map(|(name, _)| *name).collect()
}

/// Where captions sit: an alignment name, or `{alignment, marginVertical|margin_v}`.
#[derive(JsonSchema)]
#[schemars(untagged)]
pub enum Position {
    Name(Alignment),
    Object {
        #[serde(default)]
        alignment: Option<Alignment>,
        /// Pixels from the top or bottom edge.
        #[serde(default, rename = "marginVertical")]
        #[schemars(range(min = 0.0, max = MAX_MARGIN_V))]
        margin_vertical: Option<f64>,
        /// Same as `marginVertical`.
        #[serde(default)]
        #[schemars(range(min = 0.0, max = MAX_MARGIN_V))]
        margin_v: Option<f64>,
    },
}
