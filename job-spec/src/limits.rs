//! Limits a request must respect: sizes, counts, ranges and the accepted values of
//! string enums. Public so the README and OpenAPI can quote them;
//! [`mod@crate::validate`] enforces them, the worker re-checks the ones its task
//! parameters carry.

pub const MAX_IMAGES: usize = 500;
/// Scenes of one `/video/render`.
pub const MAX_SCENES: usize = 200;
pub const MIN_IMAGE_SECONDS: f64 = 0.1;
pub const MAX_IMAGE_SECONDS: f64 = 600.0;
pub const MIN_FPS: u32 = 1;
pub const MAX_FPS: u32 = 60;
pub const MIN_DIMENSION: u32 = 16;
pub const MAX_DIMENSION: u32 = 4096;
pub const MAX_LIST: usize = 500;
pub const MAX_MEDIA_SECONDS: f64 = 6.0 * 3600.0;
/// Pixels one request may render, Σ frames × width × height over its clips or
/// scenes (img2vid, render): 2 h of 1080p30.
pub const MAX_RENDER_PIXELS: u64 = 1920 * 1080 * 30 * 60 * 60 * 2;
pub const MAX_METADATA_BYTES: usize = 16 * 1024;
/// `webhook_url`: it is stored with the job and shown on it.
pub const MAX_WEBHOOK_URL_BYTES: usize = 2048;
pub const MAX_SEGMENTS: usize = 2000;
/// `GET /pipeline/status`: `expected` is 1–this; without it, the first
/// [`PIPELINE_STATUS_PROBE`] indices are probed.
pub const MAX_PIPELINE_EXPECTED: u32 = 1000;
pub const PIPELINE_STATUS_PROBE: u32 = 64;
pub const ORIENTATIONS: [&str; 4] = ["landscape", "portrait", "horizontal", "vertical"];
pub const SYNC_MODES: [&str; 3] = ["shortest", "stretch_video", "loop_video"];
pub const CAPTION_TYPES: [&str; 2] = ["segments", "highlight"];
pub const VIDEO_EXTENSIONS: [&str; 3] = ["mp4", "mov", "mkv"];
/// `/video/render` writes MP4 only.
pub const MP4_EXTENSIONS: [&str; 1] = ["mp4"];
pub const AUDIO_EXTENSIONS: [&str; 7] = ["mp3", "m4a", "aac", "wav", "ogg", "opus", "flac"];
pub const MAX_VOLUME_REDUCTION_DB: f64 = 40.0;
pub const MAX_DB_OFFSET: f64 = 50.0;
pub const MIN_FONT_SIZE: f64 = 1.0;
pub const MAX_FONT_SIZE: f64 = 500.0;
/// ASS border styles: 1 outline + shadow, 3 opaque box, 4 box behind the text.
pub const BORDER_STYLES: [u32; 3] = [1, 3, 4];
/// Border width, outline and shadow.
pub const MAX_BORDER: f64 = 20.0;
pub const MAX_HIGHLIGHT_BORDER: f64 = 50.0;
pub const MAX_PADDING: f64 = 500.0;
pub const MAX_MARGIN_V: f64 = 2000.0;
pub const MAX_WORDS_PER_LINE: u32 = 10;
pub const MAX_LINES: u32 = 5;
/// Opacities are percentages, as the seed's (`fundo_opacidade`, `opacity.primary`, …).
pub const MAX_OPACITY_PERCENT: f64 = 100.0;
pub const MAX_BEAM_SIZE: u32 = 10;
pub const MAX_MODEL_NAME: usize = 64;
/// A caption or subtitles file (SRT, words JSON, ASS), checked before it is parsed.
pub const MAX_CAPTION_BYTES: usize = 4 << 20;
/// SRT cues, and `Dialogue` events of an ASS file.
pub const MAX_CUES: usize = 20_000;
/// Words of a words JSON (`caption_style` `highlight`): 6 h of speech is ~55,000.
pub const MAX_WORDS: usize = 100_000;
/// A user's ASS file: styles, bytes of one event, numbers of the drawings on screen at
/// one time, and events on screen at one time.
pub const MAX_ASS_STYLES: usize = 1000;
pub const MAX_ASS_EVENT_BYTES: usize = 16 << 10;
pub const MAX_ASS_DRAWING_POINTS: usize = 4000;
pub const MAX_EVENTS_ON_SCREEN: usize = 64;
