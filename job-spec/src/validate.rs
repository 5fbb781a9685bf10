//! `validate()`: every problem of a request at once, each with a JSON path and a
//! stable code. The edge runs it before accepting a job; the worker trusts only what
//! it re-checks itself (its task parameters).

use serde_json::Value;

use crate::limits::*;
use crate::media::{RefContext, check_fetch_url, check_filename, check_media_ref, check_path, extension};
use crate::ops::*;
use crate::problem::{Problems, index, join};
use crate::request::{JobRequest, OpRequest};
use crate::timing::{DEFAULT_FRAME_RATE, frame_size, frames_for, render_pixels};

/// The limits this module enforces, also at their former path `validate::limits`
/// (the gpu-worker names them there).
pub use crate::limits;

/// Validates a parsed request; `Err` lists every problem found.
pub fn validate(req: &JobRequest, ctx: &RefContext) -> Result<(), Vec<crate::Problem>> {
    let mut v = V { p: Problems::new(), ctx };
    v.common(&req.common);
    match &req.op {
        OpRequest::Img2vid(r) => v.img2vid(r),
        OpRequest::Caption(r) => {
            v.media("url_video", &r.url_video);
            v.media("url_srt", &r.url_srt);
            v.output(&r.path, &r.output_filename, &VIDEO_EXTENSIONS);
        }
        OpRequest::CaptionStyle(r) => v.caption_style(r),
        OpRequest::AddAudio(r) => {
            v.media("url_video", &r.url_video);
            v.media("url_audio", &r.url_audio);
            v.output(&r.path, &r.output_filename, &VIDEO_EXTENSIONS);
            v.one_of("sync", r.sync.as_deref(), &SYNC_MODES);
        }
        OpRequest::Concatenate(r) => {
            v.url_list("video_urls", &r.video_urls, 2);
            v.output(&r.path, &r.output_filename, &VIDEO_EXTENSIONS);
        }
        OpRequest::ConcatVideoAudio(r) => {
            v.url_list("video_urls", &r.video_urls, 1);
            v.media("url_audio", &r.url_audio);
            v.output(&r.path, &r.output_filename, &VIDEO_EXTENSIONS);
        }
        OpRequest::VideoTrilhaSonora(r) => {
            v.media("url_video", &r.url_video);
            v.media("trilha_sonora", &r.trilha_sonora);
            v.output(&r.path, &r.output_filename, &VIDEO_EXTENSIONS);
            if let Some(db) = r.volume_reduction_db {
                v.p.range_f64("volume_reduction_db", db, 0.0, MAX_VOLUME_REDUCTION_DB);
            }
        }
        OpRequest::AudioTrilhaSonora(r) => {
            v.media("audio_url", &r.audio_url);
            v.media("trilha_sonora", &r.trilha_sonora);
            v.output(&r.path, &r.output_filename, &AUDIO_EXTENSIONS);
            if let Some(db) = r.db_offset {
                v.p.range_f64("db_offset", db, 0.0, MAX_DB_OFFSET);
            }
        }
        OpRequest::AudioConcatenate(r) => {
            v.url_list("audio_urls", &r.audio_urls, 2);
            v.output(&r.path, &r.output_filename, &AUDIO_EXTENSIONS);
        }
        OpRequest::AudioTrim(r) => {
            v.media("source_uri", &r.source_uri);
            v.p.range_f64("start_sec", r.start_sec, 0.0, MAX_MEDIA_SECONDS);
            v.positive("duration_sec", r.duration_sec, MAX_MEDIA_SECONDS);
            v.output(&r.path, &r.output_filename, &AUDIO_EXTENSIONS);
        }
        OpRequest::Downsample(r) => {
            v.media("url_video", &r.url_video);
            if crate::resolution_height(&r.resolution).is_none() {
                v.p.push("resolution", "invalid-resolution", "use 240p, 360p, 480p, 720p, 1080p or a height between 144 and 2160");
            }
            v.output(&r.path, &r.output_filename, &VIDEO_EXTENSIONS);
        }
        OpRequest::Encode(r) => {
            v.media("url_video", &r.url_video);
            if let Some(a) = &r.url_audio {
                v.media("url_audio", a);
            }
            if let Some(s) = &r.url_subtitles {
                v.media("url_subtitles", s);
            }
            v.output(&r.path, &r.output_filename, &VIDEO_EXTENSIONS);
        }
        OpRequest::Render(r) => v.render(r),
        OpRequest::Transcribe(r) => v.transcribe(r),
        OpRequest::ObjectsStage(r) => {
            match crate::media::parse_media_ref(&r.source_uri, v.ctx) {
                Ok(crate::MediaRef::Url(_)) => {}
                Ok(crate::MediaRef::Object { .. }) => v.p.push("source_uri", "invalid-source", "source_uri must be an https:// URL"),
                Err((code, msg)) => v.p.push("source_uri", code, msg),
            }
            match crate::media::parse_media_ref(&r.dest_uri, v.ctx) {
                Ok(crate::MediaRef::Object { .. }) => {}
                Ok(crate::MediaRef::Url(_)) => {
                    v.p.push("dest_uri", "invalid-destination", "dest_uri must be an object key (s3://bucket/key or r2://key)")
                }
                Err((code, msg)) => v.p.push("dest_uri", code, msg),
            }
        }
        OpRequest::PipelineSegment(r) => v.pipeline_segment(r),
        OpRequest::TranscribeYoutube(r) => v.transcribe_youtube(r),
        OpRequest::ImagePrompts(r) => v.image_prompts(r),
        OpRequest::ImageGenerate(r) => v.image_generate(r),
    }
    v.p.finish()
}

struct V<'a> {
    p: Problems,
    ctx: &'a RefContext,
}

impl V<'_> {
    fn webhook_url(&mut self, url: &str) {
        match url::Url::parse(url) {
            Ok(u) => {
                if let Err((code, msg)) = check_fetch_url(&u, self.ctx.allow_loopback_http) {
                    self.p.push("webhook_url", code, msg);
                }
            }
            Err(e) => self.p.push("webhook_url", "invalid-url", format!("not a URL: {e}")),
        }
    }

    fn common(&mut self, c: &Common) {
        if let Some(url) = &c.webhook_url {
            if url.len() > MAX_WEBHOOK_URL_BYTES {
                self.p.push("webhook_url", "too-long", format!("webhook_url must be at most {MAX_WEBHOOK_URL_BYTES} bytes"));
            } else {
                self.webhook_url(url);
            }
        }
        if let Some(events) = &c.webhook_events {
            for (i, e) in events.iter().enumerate() {
                if e != crate::ops::WEBHOOK_EVENT_PROGRESS && e != crate::ops::WEBHOOK_EVENT_COMPLETED {
                    self.p.push(
                        format!("webhook_events[{i}]"),
                        "invalid-value",
                        format!("unknown webhook event {e:?}: use \"progress\" and/or \"completed\""),
                    );
                }
            }
            if events.len() > 2 {
                self.p.push("webhook_events", "too-many", "webhook_events names at most two events: progress, completed");
            }
            if c.webhook_url.is_none() && !events.is_empty() {
                self.p.push("webhook_events", "requires-webhook-url", "webhook_events needs a webhook_url to deliver to");
            }
        }
        if let Some(m) = &c.metadata {
            let size = serde_json::to_vec(m).map(|b| b.len()).unwrap_or(usize::MAX);
            if size > MAX_METADATA_BYTES {
                self.p.push("metadata", "too-large", format!("metadata must be at most {MAX_METADATA_BYTES} bytes of JSON"));
            }
        }
    }

    fn media(&mut self, field: &str, raw: &str) {
        check_media_ref(&mut self.p, field, raw, self.ctx);
    }

    fn positive(&mut self, field: &str, v: f64, max: f64) {
        if !(v > 0.0 && v <= max) {
            self.p.push(field, "out-of-range", format!("must be greater than 0 and at most {max}, got {v}"));
        }
    }

    fn one_of(&mut self, field: &str, v: Option<&str>, allowed: &[&str]) {
        if let Some(v) = v
            && !allowed.contains(&v)
        {
            self.p.push(field, "invalid-value", format!("`{v}` is not one of: {}", allowed.join(", ")));
        }
    }

    fn output(&mut self, path: &Option<String>, filename: &Option<String>, exts: &[&str]) {
        if let Some(path) = path
            && let Err((code, msg)) = check_path(path)
        {
            self.p.push("path", code, msg);
        }
        if let Some(name) = filename {
            if let Err((code, msg)) = check_filename(name) {
                self.p.push("output_filename", code, msg);
            } else if let Some(ext) = extension(name)
                && !exts.contains(&ext.as_str())
            {
                self.p.push(
                    "output_filename",
                    "unsupported-extension",
                    format!("`.{ext}` is not produced here; use one of: .{}", exts.join(", .")),
                );
            }
        }
    }

    fn url_list(&mut self, field: &str, items: &[UrlItem], min: usize) {
        if items.len() < min {
            self.p.push(field, "too-few", format!("needs at least {min} item(s)"));
        }
        if items.len() > MAX_LIST {
            self.p.push(field, "too-many", format!("at most {MAX_LIST} items"));
        }
        for (i, item) in items.iter().enumerate() {
            check_media_ref(&mut self.p, &index(field, i), item.url(), self.ctx);
        }
    }

    fn color(&mut self, field: &str, c: &Option<String>) {
        if let Some(c) = c
            && crate::parse_hex_color(c).is_none()
        {
            self.p.push(field, "invalid-color", format!("`{c}` is not a #RRGGBB color"));
        }
    }

    fn img2vid(&mut self, r: &Img2Vid) {
        if r.images.is_empty() {
            self.p.push("images", "too-few", "needs at least 1 image");
        }
        if r.images.len() > MAX_IMAGES {
            self.p.push("images", "too-many", format!("at most {MAX_IMAGES} images per request"));
        }
        for (i, img) in r.images.iter().enumerate() {
            let at = index("images", i);
            check_media_ref(&mut self.p, &join(&at, "image_url"), &img.image_url, self.ctx);
            self.p.range_f64(&join(&at, "duracao"), img.duracao, MIN_IMAGE_SECONDS, MAX_IMAGE_SECONDS);
            self.easing(&join(&at, "easing"), img.easing.as_deref());
        }
        self.easing("easing", r.easing.as_deref());
        self.frames(&r.zoom_types, r.frame_rate, r.orientation.as_deref(), r.width, r.height);
        let seconds = r.images.iter().map(|i| i.duracao);
        self.budget("images", seconds, r.frame_rate, r.orientation.as_deref(), r.width, r.height);
        if let Some(path) = &r.path
            && let Err((code, msg)) = check_path(path)
        {
            self.p.push("path", code, msg);
        }
    }

    /// An easing name, when given.
    fn easing(&mut self, at: &str, easing: Option<&str>) {
        if let Some(e) = easing
            && crate::values::EasingType::parse(e).is_none()
        {
            self.p.push(at, "invalid-value", format!("`{e}` is not one of: linear, ease_in_out"));
        }
    }

    /// `zoom_types`, `frame_rate`, `orientation`, `width`, `height` of img2vid and render.
    fn frames(&mut self, zoom_types: &Option<Vec<String>>, fps: Option<u32>, orientation: Option<&str>, w: Option<u32>, h: Option<u32>) {
        if let Some(types) = zoom_types {
            if types.is_empty() {
                self.p.push("zoom_types", "too-few", "list at least one zoom type or leave it out");
            }
            for (i, t) in types.iter().enumerate() {
                self.zoom(&index("zoom_types", i), t);
            }
        }
        if let Some(fps) = fps {
            self.p.range_u32("frame_rate", fps, MIN_FPS, MAX_FPS);
        }
        self.one_of("orientation", orientation, &ORIENTATIONS);
        for (field, d) in [("width", w), ("height", h)] {
            if let Some(d) = d {
                self.p.range_u32(field, d, MIN_DIMENSION, MAX_DIMENSION);
                if d % 2 == 1 {
                    self.p.push(field, "odd-dimension", "must be even (4:2:0 video)");
                }
            }
        }
    }

    /// The pixel budget of one request: Σ frames × width × height of its clips or
    /// scenes, with the frames and size the planner will use.
    fn budget(
        &mut self,
        field: &str,
        seconds: impl Iterator<Item = f64>,
        fps: Option<u32>,
        orientation: Option<&str>,
        w: Option<u32>,
        h: Option<u32>,
    ) {
        let fps = fps.unwrap_or(DEFAULT_FRAME_RATE);
        let size = frame_size(orientation, w, h);
        let pixels = render_pixels(seconds.map(|s| frames_for(s, fps)), size);
        if pixels > MAX_RENDER_PIXELS {
            self.p.push(
                field,
                "render-budget-exceeded",
                format!(
                    "the request renders {pixels} pixels (frames × width × height); at most {MAX_RENDER_PIXELS} (2 h of 1080p30): \
                     shorten it, lower frame_rate or the size, or split it into several requests"
                ),
            );
        }
    }

    fn zoom(&mut self, field: &str, t: &str) {
        if crate::ZoomType::parse(t).is_none() {
            self.p.push(field, "invalid-value", format!("`{t}` is not one of: zoomin, zoomout, zoompanright"));
        }
    }

    fn render(&mut self, r: &Render) {
        if r.scenes.is_empty() {
            self.p.push("scenes", "too-few", "needs at least 1 scene");
        }
        if r.scenes.len() > MAX_SCENES {
            self.p.push("scenes", "too-many", format!("at most {MAX_SCENES} scenes per request"));
        }
        for (i, scene) in r.scenes.iter().enumerate() {
            let at = index("scenes", i);
            check_media_ref(&mut self.p, &join(&at, "image_url"), &scene.image_url, self.ctx);
            self.p.range_f64(&join(&at, "duration"), scene.duration, MIN_IMAGE_SECONDS, MAX_IMAGE_SECONDS);
            if let Some(z) = &scene.zoom {
                self.zoom(&join(&at, "zoom"), z);
            }
            self.easing(&join(&at, "easing"), scene.easing.as_deref());
        }
        let total: f64 = r.scenes.iter().map(|s| s.duration).sum();
        if total > MAX_MEDIA_SECONDS {
            self.p.push("scenes", "too-long", format!("the scenes last {total} s in all; at most {MAX_MEDIA_SECONDS} s"));
        }
        // With fit_to_narration the frames follow the narration: the worker checks those.
        let seconds = r.scenes.iter().map(|s| s.duration);
        self.budget("scenes", seconds, r.frame_rate, r.orientation.as_deref(), r.width, r.height);
        match &r.narration_url {
            Some(n) => self.media("narration_url", n),
            None if r.fit_to_narration == Some(true) => {
                self.p.push("narration_url", "required", "fit_to_narration needs a narration_url to fit the scenes to")
            }
            None => {}
        }
        if let Some(m) = &r.music_url {
            self.media("music_url", m);
        }
        if let Some(db) = r.volume_reduction_db {
            self.p.range_f64("volume_reduction_db", db, 0.0, MAX_VOLUME_REDUCTION_DB);
        }
        if let Some(c) = &r.captions {
            self.one_of("captions.type", Some(&c.kind), &CAPTION_TYPES);
            self.media("captions.url", &c.url);
            if let Some(s) = &c.style {
                self.style("captions.style", s);
            }
        }
        self.frames(&r.zoom_types, r.frame_rate, r.orientation.as_deref(), r.width, r.height);
        self.output(&r.path, &r.output_filename, &MP4_EXTENSIONS);
        if let Some(name) = &r.output_filename
            && check_filename(name).is_ok()
            && extension(name).is_none()
        {
            self.p.push("output_filename", "unsupported-extension", "the output is an MP4: end the name in .mp4");
        }
    }

    fn caption_style(&mut self, r: &CaptionStyle) {
        self.media("url_video", &r.url_video);
        self.media("url_caption", &r.url_caption);
        self.output(&r.path, &r.output_filename, &VIDEO_EXTENSIONS);
        self.one_of("type", Some(&r.kind), &CAPTION_TYPES);
        if let Some(s) = &r.style {
            self.style("style", s);
        }
    }

    /// `StyleOptions` under `at` (`style`, `captions.style`).
    fn style(&mut self, at: &str, s: &StyleOptions) {
        if let Some(f) = &s.font {
            if let Some(size) = f.size {
                self.p.range_f64(&join(at, "font.size"), size, MIN_FONT_SIZE, MAX_FONT_SIZE);
            }
            if f.name.as_deref().is_some_and(|n| n.chars().any(|c| c.is_control() || c == ',')) {
                self.p.push(join(at, "font.name"), "invalid-font", "font names must not contain commas or control characters");
            }
        }
        if let Some(c) = &s.colors {
            self.color(&join(at, "colors.primary"), &c.primary);
            self.color(&join(at, "colors.secondary"), &c.secondary);
            self.color(&join(at, "colors.outline"), &c.outline);
            self.color(&join(at, "colors.background"), &c.background);
        }
        if let Some(o) = &s.opacity {
            for (f, v) in [(join(at, "opacity.primary"), o.primary), (join(at, "opacity.background"), o.background)] {
                if let Some(v) = v {
                    self.p.range_f64(&f, v, 0.0, MAX_OPACITY_PERCENT);
                }
            }
        }
        if let Some(b) = &s.border {
            if b.style.is_some_and(|st| !BORDER_STYLES.contains(&st)) {
                self.p.push(join(at, "border.style"), "invalid-value", "border style must be 1, 3 or 4");
            }
            if let Some(w) = b.width {
                self.p.range_f64(&join(at, "border.width"), w, 0.0, MAX_BORDER);
            }
        }
        if let Some(b) = &s.borders {
            if b.style.is_some_and(|st| !BORDER_STYLES.contains(&st)) {
                self.p.push(join(at, "borders.style"), "invalid-value", "border style must be 1, 3 or 4");
            }
            for (f, v) in [(join(at, "borders.outline"), b.outline), (join(at, "borders.shadow"), b.shadow)] {
                if let Some(v) = v {
                    self.p.range_f64(&f, v, 0.0, MAX_BORDER);
                }
            }
        }
        if let Some(pos) = &s.position {
            self.position(&join(at, "position"), pos);
        }
        if s.fonte.as_deref().is_some_and(|n| n.chars().any(|c| c.is_control() || c == ',')) {
            self.p.push(join(at, "fonte"), "invalid-font", "font names must not contain commas or control characters");
        }
        if let Some(v) = s.tamanho_fonte {
            self.p.range_f64(&join(at, "tamanho_fonte"), v, MIN_FONT_SIZE, MAX_FONT_SIZE);
        }
        self.color(&join(at, "fundo_cor"), &s.fundo_cor);
        self.color(&join(at, "texto_cor"), &s.texto_cor);
        self.color(&join(at, "highlight_texto_cor"), &s.highlight_texto_cor);
        self.color(&join(at, "highlight_cor"), &s.highlight_cor);
        if let Some(v) = s.fundo_opacidade {
            self.p.range_f64(&join(at, "fundo_opacidade"), v, 0.0, MAX_OPACITY_PERCENT);
        }
        if let Some(v) = s.highlight_borda {
            self.p.range_f64(&join(at, "highlight_borda"), v, 0.0, MAX_HIGHLIGHT_BORDER);
        }
        for (f, v) in [(join(at, "padding_horizontal"), s.padding_horizontal), (join(at, "padding_vertical"), s.padding_vertical)] {
            if let Some(v) = v {
                self.p.range_f64(&f, v, 0.0, MAX_PADDING);
            }
        }
        if let Some(v) = s.words_per_line {
            self.p.range_u32(&join(at, "words_per_line"), v, 1, MAX_WORDS_PER_LINE);
        }
        if let Some(v) = s.max_lines {
            self.p.range_u32(&join(at, "max_lines"), v, 1, MAX_LINES);
        }
    }

    fn position(&mut self, at: &str, pos: &Value) {
        let alignment = match pos {
            Value::String(s) => Some(s.as_str()),
            Value::Object(o) => {
                for key in ["marginVertical", "margin_v"] {
                    if let Some(m) = o.get(key) {
                        match m.as_f64() {
                            Some(m) => self.p.range_f64(&join(at, key), m, 0.0, MAX_MARGIN_V),
                            None => self.p.push(join(at, key), "invalid-type", "must be a number"),
                        }
                    }
                }
                match o.get("alignment") {
                    None => None,
                    Some(Value::String(s)) => Some(s.as_str()),
                    Some(_) => {
                        self.p.push(join(at, "alignment"), "invalid-type", "must be a string");
                        None
                    }
                }
            }
            _ => {
                self.p.push(at, "invalid-type", "must be an alignment name or an object");
                None
            }
        };
        if let Some(a) = alignment
            && crate::alignment_number(a).is_none()
        {
            self.p.push(at, "invalid-value", format!("`{a}` is not an alignment (top_left … bottom_right)"));
        }
    }

    fn transcribe(&mut self, r: &Transcribe) {
        self.media("audio_url", &r.audio_url);
        if let Some(path) = &r.path
            && let Err((code, msg)) = check_path(path)
        {
            self.p.push("path", code, msg);
        }
        if let Some(lang) = &r.language {
            let ok = lang == "auto" || ((2..=3).contains(&lang.len()) && lang.chars().all(|c| c.is_ascii_lowercase()));
            if !ok {
                self.p.push("language", "invalid-language", "use an ISO 639-1 code such as `pt` or `en`, or `auto`");
            }
        }
        if let Some(m) = &r.model
            && !is_model_name(m)
        {
            self.p.push("model", "invalid-model", "model names are letters, digits, `-`, `_` and `.`, not starting with `.`");
        }
        if let Some(b) = r.beam_size {
            self.p.range_u32("beam_size", b, 1, MAX_BEAM_SIZE);
        }
        if let Some(t) = r.temperature {
            self.p.range_f64("temperature", t, 0.0, 1.0);
        }
    }

    fn path(&mut self, path: &Option<String>) {
        if let Some(path) = path
            && let Err((code, msg)) = check_path(path)
        {
            self.p.push("path", code, msg);
        }
    }

    /// A text of `min`–`max` characters, when given, and not blank.
    fn text(&mut self, field: &str, text: Option<&str>, min: usize, max: usize) {
        let Some(text) = text else { return };
        let n = text.chars().count();
        if text.trim().is_empty() || n < min {
            self.p.push(field, "too-short", format!("must have at least {} non-blank character(s)", min.max(1)));
        } else if n > max {
            self.p.push(field, "too-long", format!("at most {max} characters, got {n}"));
        }
    }

    fn transcribe_youtube(&mut self, r: &TranscribeYoutube) {
        if let Err((code, msg)) = crate::youtube::video_id(&r.url) {
            self.p.push("url", code, msg);
        }
        if let Some(lang) = &r.language
            && !(lang.len() <= MAX_LANGUAGE_TAG && crate::youtube::is_language_tag(lang))
        {
            self.p.push("language", "invalid-language", "use a language code such as `en`, `pt` or `pt-BR`");
        }
        self.path(&r.path);
    }

    fn image_prompts(&mut self, r: &ImagePrompts) {
        match (&r.cenas, &r.tema, r.quantidade) {
            (Some(scenes), _, _) => {
                if scenes.is_empty() {
                    self.p.push("cenas", "too-few", "needs at least 1 scene");
                }
                if scenes.len() > MAX_PROMPT_SCENES {
                    self.p.push("cenas", "too-many", format!("at most {MAX_PROMPT_SCENES} scenes per request"));
                }
                let mut seen = std::collections::BTreeSet::new();
                for (i, s) in scenes.iter().enumerate() {
                    let at = index("cenas", i);
                    if !seen.insert(s.index) {
                        self.p.push(join(&at, "index"), "duplicate-index", format!("index {} is given twice", s.index));
                    }
                    self.text(&join(&at, "texto"), Some(&s.texto), 1, MAX_SCENE_TEXT_CHARS);
                }
            }
            (None, Some(_), Some(n)) => self.p.range_u32("quantidade", n, 1, MAX_PROMPT_SCENES as u32),
            (None, Some(_), None) => self.p.push("quantidade", "required", "with tema, quantidade says how many prompts"),
            (None, None, _) => self.p.push("cenas", "required", "cenas (the scenes; or tema and quantidade) is required"),
        }
        self.text("tema", r.tema.as_deref(), 1, MAX_THEME_CHARS);
        self.text("estilo", r.estilo.as_deref(), 0, MAX_STYLE_CHARS);
        self.text("detalhe_estilo", r.detalhe_estilo.as_deref(), 0, MAX_STYLE_DETAIL_CHARS);
        self.text("roteiro", r.roteiro.as_deref(), 0, MAX_SCRIPT_CHARS);
        self.text("agente", r.agente.as_deref(), 0, MAX_AGENT_CHARS);
    }

    fn image_generate(&mut self, r: &ImageGenerate) {
        if r.prompts.is_empty() {
            self.p.push("prompts", "too-few", "needs at least 1 prompt");
        }
        if r.prompts.len() > MAX_GENERATED_IMAGES {
            self.p.push("prompts", "too-many", format!("at most {MAX_GENERATED_IMAGES} images per request"));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, (n, prompt)) in r.indexed_prompts().into_iter().enumerate() {
            let at = index("prompts", i);
            let is_item = matches!(r.prompts[i], ImagePromptItem::Item { .. });
            if !seen.insert(n) {
                let field = if is_item { join(&at, "index") } else { at.clone() };
                self.p.push(field, "duplicate-index", format!("index {n} is given twice"));
            }
            let field = if is_item { join(&at, "prompt") } else { at };
            self.text(&field, Some(prompt), MIN_IMAGE_PROMPT_CHARS, MAX_IMAGE_PROMPT_CHARS);
        }
        if let Some(m) = &r.image_model
            && !is_image_model(m)
        {
            self.p.push(
                "image_model",
                "invalid-model",
                format!("model ids are 1–{MAX_IMAGE_MODEL_NAME} letters, digits and `:@._/-` (Runware's `runware:100@1`)"),
            );
        }
        for (field, d) in [("altura", r.altura), ("largura", r.largura)] {
            if let Some(d) = d {
                self.p.range_u32(field, d, MIN_IMAGE_DIMENSION, MAX_IMAGE_DIMENSION);
                if d % IMAGE_DIMENSION_STEP != 0 {
                    self.p.push(field, "invalid-dimension", format!("must be a multiple of {IMAGE_DIMENSION_STEP}, got {d}"));
                }
            }
        }
        self.text("negative_prompt", r.negative_prompt.as_deref(), MIN_IMAGE_PROMPT_CHARS, MAX_IMAGE_PROMPT_CHARS);
        self.one_of("output_format", r.output_format.as_deref(), &IMAGE_FORMATS);
        self.path(&r.path);
    }

    fn pipeline_segment(&mut self, r: &PipelineSegment) {
        if let Err((code, msg)) = check_filename(&r.job_id) {
            self.p.push("job_id", code, msg);
        }
        // The seed's precedence: the object-key field wins, the http one is a fallback, and
        // inline segments win over `segments_uri`. Every field given is still checked.
        for (field, value) in [
            ("master_audio_uri", &r.master_audio_uri),
            ("master_audio_http_url", &r.master_audio_http_url),
            ("presenter_image_uri", &r.presenter_image_uri),
            ("presenter_image_http_url", &r.presenter_image_http_url),
            ("segments_uri", &r.segments_uri),
        ] {
            if let Some(v) = value {
                self.media(field, v);
            }
        }
        if r.master().is_none() {
            self.p.push("master_audio_uri", "required", "master_audio_uri (or master_audio_r2_uri, or master_audio_http_url) is required");
        }
        match (&r.segments, &r.segments_uri) {
            (Some(segs), _) => {
                for pr in segment_problems("segments", segs) {
                    self.p.push(pr.field, &pr.code, pr.message);
                }
            }
            (None, Some(_)) => {}
            (None, None) => self.p.push("segments", "required", "segments (or segments_uri) is required"),
        }
    }
}

/// An image model id: 1–[`MAX_IMAGE_MODEL_NAME`] bytes of letters, digits and `:@._/-`,
/// starting with a letter or digit (the OpenAPI pattern `IMAGE_MODEL_PATTERN`).
pub fn is_image_model(m: &str) -> bool {
    (1..=MAX_IMAGE_MODEL_NAME).contains(&m.len())
        && m.starts_with(|c: char| c.is_ascii_alphanumeric())
        && m.chars().all(|c| c.is_ascii_alphanumeric() || ":@._/-".contains(c))
}

/// The problems of a segment list under `field`: 1–[`MAX_SEGMENTS`] segments, each
/// starting within 0–[`MAX_MEDIA_SECONDS`] and lasting more than 0 and at most that.
fn segment_problems(field: &str, segs: &[SegmentSpec]) -> Vec<crate::Problem> {
    let mut p = Problems::new();
    if segs.is_empty() {
        p.push(field, "too-few", "needs at least 1 segment");
    }
    if segs.len() > MAX_SEGMENTS {
        p.push(field, "too-many", format!("at most {MAX_SEGMENTS} segments"));
    }
    for (i, s) in segs.iter().enumerate() {
        let at = index(field, i);
        p.range_f64(&join(&at, "start_sec"), s.start_sec, 0.0, MAX_MEDIA_SECONDS);
        if !(s.duration_sec > 0.0 && s.duration_sec <= MAX_MEDIA_SECONDS) {
            p.push(
                join(&at, "duration_sec"),
                "out-of-range",
                format!("must be greater than 0 and at most {MAX_MEDIA_SECONDS}, got {}", s.duration_sec),
            );
        }
    }
    p.into_vec()
}

/// The largest segment list `segments_uri` may hold.
pub const MAX_SEGMENTS_LIST_BYTES: usize = 1024 * 1024;

/// Reads the segment list fetched from `segments_uri`: a JSON array of
/// `{start_sec, duration_sec}` (aliases `start`, `duration`), or an object holding it
/// under `segments`. `Err` lists every problem under `segments_uri` (`segments_uri[3].duration_sec`),
/// with the codes inline segments get.
pub fn parse_segment_list(bytes: &[u8]) -> Result<Vec<SegmentSpec>, Vec<crate::Problem>> {
    let field = "segments_uri";
    let one = |code: &str, message: String| vec![crate::Problem { field: field.into(), code: code.into(), message }];
    if bytes.len() > MAX_SEGMENTS_LIST_BYTES {
        return Err(one("too-large", format!("the segment list must be at most {MAX_SEGMENTS_LIST_BYTES} bytes")));
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|e| one("invalid-json", format!("the segment list is not JSON: {e}")))?;
    let list = match value {
        Value::Array(items) => items,
        Value::Object(mut m) => match m.remove("segments") {
            Some(Value::Array(items)) => items,
            _ => return Err(one("invalid-type", "expected a JSON array of {start_sec, duration_sec}".into())),
        },
        _ => return Err(one("invalid-type", "expected a JSON array of {start_sec, duration_sec}".into())),
    };
    let mut p = Problems::new();
    let mut segs = Vec::with_capacity(list.len().min(MAX_SEGMENTS));
    for (i, item) in list.into_iter().enumerate() {
        match serde_json::from_value::<SegmentSpec>(item) {
            Ok(s) => segs.push(s),
            Err(e) => p.push(index(field, i), "invalid-type", format!("expected {{start_sec, duration_sec}}: {e}")),
        }
    }
    if !p.is_empty() {
        return Err(p.into_vec());
    }
    let problems = segment_problems(field, &segs);
    if problems.is_empty() { Ok(segs) } else { Err(problems) }
}

/// A model name: 1–[`crate::limits::MAX_MODEL_NAME`] letters, digits, `-`, `_` and `.`, not
/// starting with `.` (the worker may look models up as directories).
pub fn is_model_name(m: &str) -> bool {
    !m.is_empty()
        && m.len() <= crate::limits::MAX_MODEL_NAME
        && !m.starts_with('.')
        && m.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::Operation;

    fn ctx() -> RefContext {
        RefContext {
            allow_loopback_http: false,
            bucket: Some("media".into()),
            tenant_prefix: Some("t/acme/".into()),
            other_prefixes: vec!["t/other/".into()],
        }
    }

    fn problems(op: Operation, body: &str) -> Vec<(String, String)> {
        let req = op.parse(body.as_bytes()).expect("parses");
        match validate(&req, &ctx()) {
            Ok(()) => vec![],
            Err(list) => list.into_iter().map(|p| (p.field, p.code)).collect(),
        }
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter().map(|(a, b)| ((*a).into(), (*b).into())).collect()
    }

    #[test]
    fn webhook_events_name_known_events_and_need_a_webhook_url() {
        let body = |extra: &str| format!(r#"{{"url_video":"https://cdn.example.com/v.mp4","resolution":"720p"{extra}}}"#);
        let ok = body(r#","webhook_url":"https://hooks.example.com/h","webhook_events":["progress","completed"]"#);
        assert_eq!(problems(Operation::Downsample, &ok), pairs(&[]));
        let camel = body(r#","webhookUrl":"https://hooks.example.com/h","webhookEvents":["progress"]"#);
        assert_eq!(problems(Operation::Downsample, &camel), pairs(&[]));
        let req = Operation::Downsample.parse(camel.as_bytes()).unwrap();
        assert!(req.common.wants_progress_webhooks());
        let plain = Operation::Downsample.parse(body(r#","webhook_url":"https://hooks.example.com/h""#).as_bytes()).unwrap();
        assert!(!plain.common.wants_progress_webhooks(), "completed only, by default");
        assert_eq!(
            problems(
                Operation::Downsample,
                &body(r#","webhook_url":"https://hooks.example.com/h","webhook_events":["progress","started"]"#)
            ),
            pairs(&[("webhook_events[1]", "invalid-value")])
        );
        assert_eq!(
            problems(Operation::Downsample, &body(r#","webhook_events":["progress"]"#)),
            pairs(&[("webhook_events", "requires-webhook-url")])
        );
        assert_eq!(
            problems(
                Operation::Downsample,
                &body(r#","webhook_url":"https://hooks.example.com/h","webhook_events":["progress","completed","progress"]"#)
            ),
            pairs(&[("webhook_events", "too-many")])
        );
    }

    #[test]
    fn webhook_url_is_length_capped() {
        let body = |url: &str| format!(r#"{{"url_video":"https://cdn.example.com/v.mp4","resolution":"720p","webhook_url":"{url}"}}"#);
        let base = "https://hooks.example.com/h?t=";
        let at_cap = format!("{base}{}", "a".repeat(MAX_WEBHOOK_URL_BYTES - base.len()));
        assert_eq!(problems(Operation::Downsample, &body(&at_cap)), vec![]);
        let over = format!("{at_cap}a");
        assert_eq!(problems(Operation::Downsample, &body(&over)), pairs(&[("webhook_url", "too-long")]));
    }

    #[test]
    fn opacities_are_the_seeds_percentages() {
        // The seed's documented bodies: AutoDark README (segments 100 / 80) and its API
        // reference (highlight 70).
        let segments = r##"{"url_video":"https://cdn.example.com/v.mp4","url_caption":"https://cdn.example.com/s.srt","type":"segments",
                           "style":{"opacity":{"primary":100,"background":80}}}"##;
        assert_eq!(problems(Operation::CaptionStyle, segments), pairs(&[]));
        let highlight = r##"{"url_video":"https://cdn.example.com/v.mp4","url_caption":"https://cdn.example.com/w.json","type":"highlight",
                            "style":{"fundo_opacidade":70}}"##;
        assert_eq!(problems(Operation::CaptionStyle, highlight), pairs(&[]));
        let over = r##"{"url_video":"https://cdn.example.com/v.mp4","url_caption":"https://cdn.example.com/w.json","type":"highlight",
                       "style":{"fundo_opacidade":100.5,"opacity":{"primary":-1}}}"##;
        assert_eq!(
            problems(Operation::CaptionStyle, over),
            pairs(&[("style.opacity.primary", "out-of-range"), ("style.fundo_opacidade", "out-of-range")])
        );
    }

    #[test]
    fn img2vid_reports_every_problem_at_once() {
        let got = problems(
            Operation::Img2vid,
            r#"{"images":[
                {"image_url":"https://cdn.example.com/a.jpg","duracao":5},
                {"image_url":"ftp://x/b.jpg","duracao":0,"easing":"ease_in_out"},
                {"image_url":"r2://t/other/c.jpg","duracao":601,"easing":"bounce"}],
              "zoom_types":["zoomin","spin"], "frame_rate":61, "width":1921, "height":8,
              "path":"../escape", "webhook_url":"http://10.0.0.1/hook", "easing":"wobble"}"#,
        );
        assert_eq!(
            got,
            pairs(&[
                ("webhook_url", "insecure-url"),
                ("images[1].image_url", "unsupported-scheme"),
                ("images[1].duracao", "out-of-range"),
                ("images[2].image_url", "key-outside-tenant"),
                ("images[2].duracao", "out-of-range"),
                ("images[2].easing", "invalid-value"),
                ("easing", "invalid-value"),
                ("zoom_types[1]", "invalid-value"),
                ("frame_rate", "out-of-range"),
                ("width", "odd-dimension"),
                ("height", "out-of-range"),
                ("path", "path-traversal"),
            ])
        );
    }

    #[test]
    fn valid_requests_pass() {
        assert!(
            problems(Operation::Img2vid, r#"{"images":[{"image_url":"r2://t/acme/a.jpg","duracao":3.5}],"path":"out/","frame_rate":30}"#)
                .is_empty()
        );
        assert!(
            problems(
                Operation::CaptionStyle,
                r##"{"url_video":"https://x.example/v.mp4","url_caption":"https://x.example/w.json","type":"highlight",
                "style":{"fonte":"DejaVu Sans","tamanho_fonte":64,"texto_cor":"#FFFFFF","highlight_cor":"#00FF00",
                         "position":"bottom_center","words_per_line":4,"max_lines":2}}"##
            )
            .is_empty()
        );
        assert!(
            problems(
                Operation::PipelineSegment,
                r#"{"job_id":"j1","master_audio_uri":"r2://t/acme/m.wav","segments":[{"start_sec":0,"duration_sec":2}]}"#
            )
            .is_empty()
        );
    }

    #[test]
    fn other_operations_use_the_same_codes() {
        assert_eq!(
            problems(Operation::Concatenate, r#"{"video_urls":[{"video_url":"https://x.example/1.mp4"}],"output_filename":"a/b.mp4"}"#),
            pairs(&[("video_urls", "too-few"), ("output_filename", "invalid-filename")])
        );
        assert_eq!(
            problems(
                Operation::AddAudio,
                r#"{"url_video":"https://x.example/v.mp4","url_audio":"https://x.example/a.mp3","sync":"warp","output_filename":"x.exe"}"#
            ),
            pairs(&[("output_filename", "unsupported-extension"), ("sync", "invalid-value")])
        );
        assert_eq!(
            problems(
                Operation::CaptionStyle,
                r##"{"url_video":"https://x.example/v.mp4","url_caption":"https://x.example/c.srt","type":"boxes",
                    "style":{"colors":{"primary":"red"},"opacity":{"background":101},"border":{"style":2},"position":{"alignment":"sideways"},"words_per_line":11}}"##
            ),
            pairs(&[
                ("type", "invalid-value"),
                ("style.colors.primary", "invalid-color"),
                ("style.opacity.background", "out-of-range"),
                ("style.border.style", "invalid-value"),
                ("style.position", "invalid-value"),
                ("style.words_per_line", "out-of-range"),
            ])
        );
        assert_eq!(
            problems(Operation::Downsample, r#"{"url_video":"https://x.example/v.mp4","resolution":"4k"}"#),
            pairs(&[("resolution", "invalid-resolution")])
        );
        assert_eq!(
            problems(Operation::AudioTrim, r#"{"source_uri":"https://x.example/a.mp3","start_sec":-1,"duration_sec":0}"#),
            pairs(&[("start_sec", "out-of-range"), ("duration_sec", "out-of-range")])
        );
        assert_eq!(
            problems(Operation::ObjectsStage, r#"{"source_uri":"r2://t/acme/a","dest_uri":"https://x.example/b"}"#),
            pairs(&[("source_uri", "invalid-source"), ("dest_uri", "invalid-destination")])
        );
        assert_eq!(
            problems(
                Operation::Transcribe,
                r#"{"audio_url":"https://x.example/a.mp3","language":"Portuguese","model":"..","beam_size":0,"temperature":1.5}"#
            ),
            pairs(&[
                ("language", "invalid-language"),
                ("model", "invalid-model"),
                ("beam_size", "out-of-range"),
                ("temperature", "out-of-range")
            ])
        );
        assert_eq!(
            problems(Operation::PipelineSegment, r#"{"job_id":"..","segments":[]}"#),
            pairs(&[("job_id", "path-traversal"), ("master_audio_uri", "required"), ("segments", "too-few")])
        );
    }

    #[test]
    fn pipeline_segment_precedence_and_checks() {
        // The seed's example: r2 URIs and http URLs, inline segments and segments_uri, all
        // given; the r2 URIs and inline segments win, and every field is valid.
        let seed = r#"{"job_id":"job-123","master_audio_r2_uri":"s3://media/t/acme/pipelines/job-123/inputs/audio/master.m4a",
            "presenter_image_r2_uri":"s3://media/t/acme/.../presenter.png","master_audio_http_url":"https://example.com/master.m4a",
            "presenter_image_http_url":"https://example.com/presenter.png",
            "segments":[{"start_sec":0,"duration_sec":6.2},{"start_sec":6.2,"duration_sec":5.8}],
            "segments_uri":"s3://media/t/acme/pipelines/job-123/stage/segmentation/segments.json"}"#;
        assert_eq!(problems(Operation::PipelineSegment, seed), pairs(&[]));
        let req = Operation::PipelineSegment.parse(seed.as_bytes()).unwrap();
        let OpRequest::PipelineSegment(r) = &req.op else { panic!() };
        assert_eq!(r.master(), Some("s3://media/t/acme/pipelines/job-123/inputs/audio/master.m4a"));
        assert_eq!(r.presenter(), Some("s3://media/t/acme/.../presenter.png"));
        assert_eq!(r.pending_segments_uri(), None);
        // The http URL alone is the master; segments_uri alone is read later.
        assert_eq!(
            problems(
                Operation::PipelineSegment,
                r#"{"job_id":"j","master_audio_http_url":"https://x.example/m.mp3","segments_uri":"https://x.example/s.json"}"#
            ),
            pairs(&[])
        );
        // Every given field is checked, the ignored ones too; bad segments have paths.
        assert_eq!(
            problems(
                Operation::PipelineSegment,
                r#"{"job_id":"a/b","master_audio_uri":"r2://t/other/m.wav","master_audio_http_url":"http://x.example/m.mp3",
                    "presenter_image_http_url":"ftp://x/p.png","segments":[{"start_sec":-1,"duration_sec":0}],"segments_uri":"nope"}"#
            ),
            pairs(&[
                ("job_id", "invalid-filename"),
                ("master_audio_uri", "key-outside-tenant"),
                ("master_audio_http_url", "insecure-url"),
                ("presenter_image_http_url", "unsupported-scheme"),
                ("segments_uri", "invalid-url"),
                ("segments[0].start_sec", "out-of-range"),
                ("segments[0].duration_sec", "out-of-range"),
            ])
        );
        assert_eq!(
            problems(Operation::PipelineSegment, r#"{"job_id":"j","master_audio_uri":"r2://t/acme/m.wav"}"#),
            pairs(&[("segments", "required")])
        );
    }

    #[test]
    fn segment_lists_from_segments_uri() {
        let ok = parse_segment_list(br#"[{"start_sec":0,"duration_sec":6.2},{"start":6.2,"duration":5.8}]"#).unwrap();
        assert_eq!(ok, [SegmentSpec { start_sec: 0.0, duration_sec: 6.2 }, SegmentSpec { start_sec: 6.2, duration_sec: 5.8 }]);
        assert_eq!(parse_segment_list(br#"{"segments":[{"start_sec":1,"duration_sec":2}]}"#).unwrap().len(), 1);
        let codes = |b: &[u8]| parse_segment_list(b).unwrap_err().into_iter().map(|p| (p.field, p.code)).collect::<Vec<(String, String)>>();
        assert_eq!(codes(b"not json"), pairs(&[("segments_uri", "invalid-json")]));
        assert_eq!(codes(br#"{"items":[]}"#), pairs(&[("segments_uri", "invalid-type")]));
        assert_eq!(codes(b"[]"), pairs(&[("segments_uri", "too-few")]));
        assert_eq!(
            codes(br#"[{"start_sec":0,"duration_sec":1},{"start_sec":"x"},{"duration_sec":1}]"#),
            pairs(&[("segments_uri[1]", "invalid-type"), ("segments_uri[2]", "invalid-type")])
        );
        assert_eq!(
            codes(br#"[{"start_sec":0,"duration_sec":-1},{"start_sec":1e9,"duration_sec":1}]"#),
            pairs(&[("segments_uri[0].duration_sec", "out-of-range"), ("segments_uri[1].start_sec", "out-of-range")])
        );
        let many = format!("[{}]", vec![r#"{"start_sec":0,"duration_sec":1}"#; MAX_SEGMENTS + 1].join(","));
        assert_eq!(codes(many.as_bytes()), pairs(&[("segments_uri", "too-many")]));
        assert_eq!(codes(&vec![b' '; MAX_SEGMENTS_LIST_BYTES + 1]), pairs(&[("segments_uri", "too-large")]));
    }

    #[test]
    fn render_reports_every_problem_at_once() {
        let got = problems(
            Operation::Render,
            r##"{"scenes":[
                {"image_url":"https://cdn.example.com/a.jpg","duration":5,"zoom":"zoomin","easing":"ease_in_out"},
                {"image_url":"ftp://x/b.jpg","duracao":0,"zoom":"spin","easing":"bounce"},
                {"image_url":"r2://t/other/c.jpg","duration":601}],
              "fit_to_narration":true, "music_url":"http://10.0.0.1/m.mp3", "volume_reduction_db":41,
              "captions":{"type":"boxes","url":"s3://other/w.json","style":{"colors":{"primary":"red"},"position":{"margin_v":-1},"max_lines":9}},
              "zoom_types":[], "frame_rate":0, "width":17, "orientation":"diagonal",
              "path":"/abs", "output_filename":"render.mov"}"##,
        );
        assert_eq!(
            got,
            pairs(&[
                ("scenes[1].image_url", "unsupported-scheme"),
                ("scenes[1].duration", "out-of-range"),
                ("scenes[1].zoom", "invalid-value"),
                ("scenes[1].easing", "invalid-value"),
                ("scenes[2].image_url", "key-outside-tenant"),
                ("scenes[2].duration", "out-of-range"),
                ("narration_url", "required"),
                ("music_url", "insecure-url"),
                ("volume_reduction_db", "out-of-range"),
                ("captions.type", "invalid-value"),
                ("captions.url", "foreign-bucket"),
                ("captions.style.colors.primary", "invalid-color"),
                ("captions.style.position.margin_v", "out-of-range"),
                ("captions.style.max_lines", "out-of-range"),
                ("zoom_types", "too-few"),
                ("frame_rate", "out-of-range"),
                ("orientation", "invalid-value"),
                ("width", "odd-dimension"),
                ("path", "absolute-path"),
                ("output_filename", "unsupported-extension"),
            ])
        );
    }

    #[test]
    fn the_pixel_budget_is_enforced_with_every_other_problem() {
        // 2 h of 1080p30 is the budget (the number ops.rs's docs quote): 12 images of
        // 600 s at 30 fps are exactly it.
        assert_eq!(MAX_RENDER_PIXELS, 447_897_600_000);
        let img2vid = |secs: &[f64], extra: &str| {
            let images: Vec<String> = secs.iter().map(|s| format!(r#"{{"image_url":"r2://t/acme/a.jpg","duracao":{s}}}"#)).collect();
            format!(r#"{{"images":[{}],"frame_rate":30{extra}}}"#, images.join(","))
        };
        let full = [600.0; 12];
        let over = [&full[..], &[0.1]].concat();
        assert_eq!(problems(Operation::Img2vid, &img2vid(&full, "")), pairs(&[]));
        assert_eq!(problems(Operation::Img2vid, &img2vid(&over, "")), pairs(&[("images", "render-budget-exceeded")]));
        // The same frames in portrait cost the same; a smaller frame buys more of them.
        let portrait = img2vid(&over, r#","orientation":"portrait""#);
        assert_eq!(problems(Operation::Img2vid, &portrait), pairs(&[("images", "render-budget-exceeded")]));
        assert_eq!(problems(Operation::Img2vid, &img2vid(&[600.0; 24], r#","width":1280,"height":720"#)), pairs(&[]));
        // Listed with the request's other problems.
        assert_eq!(
            problems(Operation::Img2vid, &img2vid(&over, r#","path":"../x""#)),
            pairs(&[("images", "render-budget-exceeded"), ("path", "path-traversal")])
        );
        // Render: 20 scenes of 600 s at 60 fps in 4K; the default 24 fps is counted when none is given.
        let scenes = |n: usize| vec![r#"{"image_url":"r2://t/acme/a.jpg","duration":600}"#; n].join(",");
        let render = format!(r#"{{"scenes":[{}],"fps":60,"width":3840,"height":2160,"output_filename":"x.mov"}}"#, scenes(20));
        assert_eq!(
            problems(Operation::Render, &render),
            pairs(&[("scenes", "render-budget-exceeded"), ("output_filename", "unsupported-extension")])
        );
        assert_eq!(problems(Operation::Render, &format!(r#"{{"scenes":[{}]}}"#, scenes(15))), pairs(&[]));
        assert_eq!(
            problems(Operation::Render, &format!(r#"{{"scenes":[{}]}}"#, scenes(16))),
            pairs(&[("scenes", "render-budget-exceeded")])
        );
    }

    #[test]
    fn render_limits_and_valid_requests() {
        let scene = r#"{"image_url":"r2://t/acme/a.jpg","duration":600}"#;
        let many = vec![scene; MAX_SCENES + 1].join(",");
        assert_eq!(
            problems(Operation::Render, &format!(r#"{{"scenes":[{many}]}}"#)),
            pairs(&[("scenes", "too-many"), ("scenes", "too-long"), ("scenes", "render-budget-exceeded")])
        );
        assert_eq!(problems(Operation::Render, r#"{"scenes":[]}"#), pairs(&[("scenes", "too-few")]));
        // An output name must end in .mp4 (any case); fit_to_narration false needs no narration.
        assert_eq!(
            problems(Operation::Render, r#"{"scenes":[{"image_url":"r2://t/acme/a.jpg","duration":1}],"output_filename":"render"}"#),
            pairs(&[("output_filename", "unsupported-extension")])
        );
        assert!(
            problems(
                Operation::Render,
                r#"{"scenes":[{"image_url":"r2://t/acme/a.jpg","duration":1}],"output_filename":"Final.MP4","fit_to_narration":false}"#
            )
            .is_empty()
        );
        assert!(
            problems(
                Operation::Render,
                r##"{"scenes":[{"id":1,"image_url":"r2://t/acme/a.jpg","duracao":2.5,"zoom":"zoom_out","easing":"ease-in-out"},
                               {"url":"https://cdn.example.com/b.png","duration":3}],
                     "narration_url":"r2://t/acme/voice.mp3","trilha_sonora":"s3://media/t/acme/music.mp3","volume_reduction_db":0,
                     "captions":{"type":"segments","url_caption":"r2://t/acme/subs.srt","uppercase":true,
                                 "style":{"font":{"name":"Inter","size":48},"position":{"alignment":"bottom_center","marginVertical":120}}},
                     "zoom_types":["zoomin","zoompanright"],"fps":30,"orientation":"vertical","path":"shorts/ep1"}"##
            )
            .is_empty()
        );
    }

    #[test]
    fn transcribe_youtube_problems() {
        assert_eq!(problems(Operation::TranscribeYoutube, r#"{"url":"https://www.youtube.com/watch?v=dQw4w9WgXcQ"}"#), pairs(&[]));
        assert_eq!(problems(Operation::TranscribeYoutube, r#"{"url":"dQw4w9WgXcQ","language":"pt-BR","path":"yt/x"}"#), pairs(&[]));
        assert_eq!(
            problems(Operation::TranscribeYoutube, r#"{"url":"https://vimeo.com/1","language":"Portuguese","path":"../up"}"#),
            pairs(&[("url", "invalid-youtube-url"), ("language", "invalid-language"), ("path", "path-traversal")])
        );
        assert_eq!(
            problems(Operation::TranscribeYoutube, r#"{"url":"https://youtu.be/abc","language":"en-aaaaaaaa-bbbbbbbb-cccc"}"#),
            pairs(&[("url", "invalid-video-id"), ("language", "invalid-language")])
        );
    }

    #[test]
    fn image_prompts_problems() {
        let ok =
            r#"{"cenas":[{"index":0,"texto":"a"},{"index":1,"texto":"b"}],"estilo":"s","detalhe_estilo":"d","roteiro":"r","agente":"g"}"#;
        assert_eq!(problems(Operation::ImagePrompts, ok), pairs(&[]));
        assert_eq!(problems(Operation::ImagePrompts, r#"{"tema":"city","quantidade":5,"estilo":"photo"}"#), pairs(&[]));
        assert_eq!(problems(Operation::ImagePrompts, r#"{"estilo":"photo"}"#), pairs(&[("cenas", "required")]));
        assert_eq!(problems(Operation::ImagePrompts, r#"{"tema":"city"}"#), pairs(&[("quantidade", "required")]));
        assert_eq!(
            problems(Operation::ImagePrompts, r#"{"tema":" ","quantidade":0}"#),
            pairs(&[("quantidade", "out-of-range"), ("tema", "too-short")])
        );
        let long = "x".repeat(MAX_STYLE_CHARS + 1);
        assert_eq!(
            problems(
                Operation::ImagePrompts,
                &format!(r#"{{"cenas":[{{"index":3,"texto":"a"}},{{"index":3,"texto":"  "}}],"estilo":"{long}","agente":""}}"#)
            ),
            pairs(&[
                ("cenas[1].index", "duplicate-index"),
                ("cenas[1].texto", "too-short"),
                ("estilo", "too-long"),
                ("agente", "too-short")
            ])
        );
        assert_eq!(problems(Operation::ImagePrompts, r#"{"cenas":[]}"#), pairs(&[("cenas", "too-few")]));
        let many = vec![r#"{"index":1,"texto":"a"}"#; MAX_PROMPT_SCENES + 1].join(",");
        let got = problems(Operation::ImagePrompts, &format!(r#"{{"cenas":[{many}]}}"#));
        assert_eq!(got[0], ("cenas".to_owned(), "too-many".to_owned()));
        // Characters, not bytes: a script of multi-byte letters at the limit passes.
        let script = "é".repeat(MAX_SCRIPT_CHARS);
        assert_eq!(
            problems(Operation::ImagePrompts, &format!(r#"{{"cenas":[{{"index":1,"texto":"a"}}],"roteiro":"{script}"}}"#)),
            pairs(&[])
        );
    }

    #[test]
    fn image_generate_problems() {
        let ok = r#"{"prompts":[{"index":1,"prompt":"a fox"}],"image_model":"runware:100@1","altura":768,"largura":1344,"path":"p"}"#;
        assert_eq!(problems(Operation::ImageGenerate, ok), pairs(&[]));
        assert_eq!(
            problems(
                Operation::ImageGenerate,
                r#"{"prompts":["a fox","an owl"],"negative_prompt":"blurry","width":1024,"height":1024,"model":"stable-diffusion-xl"}"#
            ),
            pairs(&[])
        );
        assert_eq!(
            problems(
                Operation::ImageGenerate,
                r#"{"prompts":[{"index":1,"prompt":"a"},{"index":1,"prompt":"ok prompt"},"x"],"image_model":"bad model!",
                    "altura":100,"largura":1000,"negative_prompt":" ","output_format":"gif","path":"/abs"}"#
            ),
            pairs(&[
                ("prompts[0].prompt", "too-short"),
                ("prompts[1].index", "duplicate-index"),
                ("prompts[2]", "too-short"),
                ("image_model", "invalid-model"),
                ("altura", "out-of-range"),
                ("altura", "invalid-dimension"),
                ("largura", "invalid-dimension"),
                ("negative_prompt", "too-short"),
                ("output_format", "invalid-value"),
                ("path", "absolute-path"),
            ])
        );
        assert_eq!(
            problems(Operation::ImageGenerate, r#"{"prompts":[],"largura":4096}"#),
            pairs(&[("prompts", "too-few"), ("largura", "out-of-range")])
        );
        let long = "x".repeat(MAX_IMAGE_PROMPT_CHARS + 1);
        assert_eq!(problems(Operation::ImageGenerate, &format!(r#"{{"prompts":["{long}"]}}"#)), pairs(&[("prompts[0]", "too-long")]));
        // A bare string at position 2 is index 2: an object naming index 2 collides with it.
        assert_eq!(
            problems(Operation::ImageGenerate, r#"{"prompts":["first one",{"index":1,"prompt":"again"}]}"#),
            pairs(&[("prompts[1].index", "duplicate-index")])
        );
        assert!(is_image_model("civitai:4384@130072") && !is_image_model("") && !is_image_model(":x") && !is_image_model(&"a".repeat(101)));
    }
}
