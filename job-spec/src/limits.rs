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
/// `/video/transcribe_youtube`: a caption language tag (`en`, `pt-BR`, `zh-Hans`,
/// `es-419`): at most this many bytes.
pub const MAX_LANGUAGE_TAG: usize = 20;
/// `/image/prompts`: scenes of one request (one prompt each, from one LLM call).
pub const MAX_PROMPT_SCENES: usize = 200;
/// `/image/prompts`: characters of one scene's text (`cenas[].texto`).
pub const MAX_SCENE_TEXT_CHARS: usize = 4000;
/// `/image/prompts`: characters of the whole script (`roteiro`), sent once.
pub const MAX_SCRIPT_CHARS: usize = 100_000;
/// `/image/prompts`: characters of `estilo` (the seed allowed 500).
pub const MAX_STYLE_CHARS: usize = 1000;
/// `/image/prompts`: characters of `detalhe_estilo` (the seed allowed 1000).
pub const MAX_STYLE_DETAIL_CHARS: usize = 4000;
/// `/image/prompts`: characters of `agente`, the instructions the model is given.
pub const MAX_AGENT_CHARS: usize = 20_000;
/// `/image/prompts`: characters of `tema` (the theme form: `quantidade` prompts on one theme).
pub const MAX_THEME_CHARS: usize = 1000;
/// `/image/generate`: images of one request.
pub const MAX_GENERATED_IMAGES: usize = 200;
/// `/image/generate`: characters of one prompt and of `negative_prompt` (Runware takes 2–3000).
pub const MIN_IMAGE_PROMPT_CHARS: usize = 2;
pub const MAX_IMAGE_PROMPT_CHARS: usize = 3000;
/// `/image/generate`: width and height, multiples of [`IMAGE_DIMENSION_STEP`] (Runware's bounds).
pub const MIN_IMAGE_DIMENSION: u32 = 128;
pub const MAX_IMAGE_DIMENSION: u32 = 2048;
pub const IMAGE_DIMENSION_STEP: u32 = 64;
/// `/image/generate`: bytes of a model name (Runware's AIR ids, `runware:100@1`).
pub const MAX_IMAGE_MODEL_NAME: usize = 100;
/// `/image/generate`: the image formats it writes.
pub const IMAGE_FORMATS: [&str; 3] = ["jpg", "png", "webp"];
