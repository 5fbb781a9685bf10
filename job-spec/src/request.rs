//! Operations, their public paths, and parsing a request body into typed form.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ops::*;
use crate::problem::Problem;

/// Every asynchronous operation of the public API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    Img2vid,
    Caption,
    CaptionStyle,
    AddAudio,
    Concatenate,
    ConcatVideoAudio,
    VideoTrilhaSonora,
    AudioTrilhaSonora,
    AudioConcatenate,
    AudioTrim,
    Downsample,
    Encode,
    Render,
    Transcribe,
    ObjectsStage,
    PipelineSegment,
    TranscribeYoutube,
    ImagePrompts,
    ImageGenerate,
}

impl Operation {
    pub const ALL: [Operation; 19] = [
        Operation::Img2vid,
        Operation::Caption,
        Operation::CaptionStyle,
        Operation::AddAudio,
        Operation::Concatenate,
        Operation::ConcatVideoAudio,
        Operation::VideoTrilhaSonora,
        Operation::AudioTrilhaSonora,
        Operation::AudioConcatenate,
        Operation::AudioTrim,
        Operation::Downsample,
        Operation::Encode,
        Operation::Render,
        Operation::Transcribe,
        Operation::ObjectsStage,
        Operation::PipelineSegment,
        Operation::TranscribeYoutube,
        Operation::ImagePrompts,
        Operation::ImageGenerate,
    ];

    /// The canonical path (`/video/img2vid`, …).
    pub const fn path(self) -> &'static str {
        match self {
            Operation::Img2vid => "/video/img2vid",
            Operation::Caption => "/video/caption",
            Operation::CaptionStyle => "/video/caption_style",
            Operation::AddAudio => "/video/addaudio",
            Operation::Concatenate => "/video/concatenate",
            Operation::ConcatVideoAudio => "/video/concat_video_audio",
            Operation::VideoTrilhaSonora => "/video/trilhasonora",
            Operation::AudioTrilhaSonora => "/audio/trilhasonora",
            Operation::AudioConcatenate => "/audio/concatenate",
            Operation::AudioTrim => "/audio/trim",
            Operation::Downsample => "/video/downsample",
            Operation::Encode => "/video/encode",
            Operation::Render => "/video/render",
            Operation::Transcribe => "/audio/transcribe",
            Operation::ObjectsStage => "/objects/stage",
            Operation::PipelineSegment => "/pipeline/segment",
            Operation::TranscribeYoutube => "/video/transcribe_youtube",
            Operation::ImagePrompts => "/image/prompts",
            Operation::ImageGenerate => "/image/generate",
        }
    }

    /// The name reported in job objects (`video/img2vid`).
    pub fn name(self) -> &'static str {
        &self.path()[1..]
    }

    /// The other paths that reach this operation, as the seed's clients call them: the
    /// `/runpod/video/…` and `/runpod/audio/…` GPU routes, the `/vps/video/…` and
    /// `/vps/audio/…` CPU twins (the same operation here), and a few seed names.
    pub fn alias_paths(self) -> Vec<String> {
        let path = self.path();
        let mut aliases = vec![];
        if path.starts_with("/video/") || path.starts_with("/audio/") {
            aliases.extend([format!("/runpod{path}"), format!("/vps{path}")]);
        }
        let extra: &[&str] = match self {
            Operation::VideoTrilhaSonora => &["/video/background_music", "/runpod/video/background_music"],
            // The seed's "official Whisper" route and its first route: the same engine and
            // model files here (the result's `stats.engine` says so).
            Operation::Transcribe => &["/runpod/audio/transcribe-whisper", "/audio/transcribe-whisper", "/transcribe"],
            // Seed 004's API route.
            Operation::PipelineSegment => &["/api/pipeline/segment"],
            // The seed's image routes (its CPU server's, under Portuguese names).
            Operation::ImagePrompts => &["/vps/imagem/gerarPrompts"],
            Operation::ImageGenerate => &["/vps/imagem/gerarImagens"],
            _ => &[],
        };
        aliases.extend(extra.iter().map(|a| (*a).to_owned()));
        aliases
    }

    /// Resolves a request path: the canonical one or one of [`Operation::alias_paths`].
    pub fn from_path(path: &str) -> Option<Operation> {
        let path = path.trim_end_matches('/');
        Operation::ALL.into_iter().find(|op| op.path() == path || op.alias_paths().iter().any(|a| a == path))
    }

    /// Parses a JSON body into this operation's typed request.
    pub fn parse(self, body: &[u8]) -> Result<JobRequest, Vec<Problem>> {
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| vec![Problem { field: String::new(), code: "invalid-json".into(), message: e.to_string() }])?;
        self.parse_value(value)
    }

    pub fn parse_value(self, value: Value) -> Result<JobRequest, Vec<Problem>> {
        if !value.is_object() {
            return Err(vec![Problem {
                field: String::new(),
                code: "invalid-type".into(),
                message: "the body must be a JSON object".into(),
            }]);
        }
        let value = if self == Operation::Img2vid { single_image_form(value) } else { value };
        let common: Common = typed(&value)?;
        let op = match self {
            Operation::Img2vid => OpRequest::Img2vid(typed(&value)?),
            Operation::Caption => OpRequest::Caption(typed(&value)?),
            Operation::CaptionStyle => OpRequest::CaptionStyle(typed(&value)?),
            Operation::AddAudio => OpRequest::AddAudio(typed(&value)?),
            Operation::Concatenate => OpRequest::Concatenate(typed(&value)?),
            Operation::ConcatVideoAudio => OpRequest::ConcatVideoAudio(typed(&value)?),
            Operation::VideoTrilhaSonora => OpRequest::VideoTrilhaSonora(typed(&value)?),
            Operation::AudioTrilhaSonora => OpRequest::AudioTrilhaSonora(typed(&value)?),
            Operation::AudioConcatenate => OpRequest::AudioConcatenate(typed(&value)?),
            Operation::AudioTrim => OpRequest::AudioTrim(typed(&value)?),
            Operation::Downsample => OpRequest::Downsample(typed(&value)?),
            Operation::Encode => OpRequest::Encode(typed(&value)?),
            Operation::Render => OpRequest::Render(typed(&value)?),
            Operation::Transcribe => OpRequest::Transcribe(typed(&value)?),
            Operation::ObjectsStage => OpRequest::ObjectsStage(typed(&value)?),
            Operation::PipelineSegment => OpRequest::PipelineSegment(typed(&value)?),
            Operation::TranscribeYoutube => OpRequest::TranscribeYoutube(typed(&value)?),
            Operation::ImagePrompts => OpRequest::ImagePrompts(typed(&value)?),
            Operation::ImageGenerate => OpRequest::ImageGenerate(typed(&value)?),
        };
        Ok(JobRequest { common, op })
    }
}

/// A parsed request: the common fields and the operation's own.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRequest {
    pub common: Common,
    pub op: OpRequest,
}

/// The typed body of each operation.
// Parsed once per request and never stored in bulk: boxing the large variants buys nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "operation", rename_all = "snake_case")]
pub enum OpRequest {
    Img2vid(Img2Vid),
    Caption(Caption),
    CaptionStyle(CaptionStyle),
    AddAudio(AddAudio),
    Concatenate(Concatenate),
    ConcatVideoAudio(ConcatVideoAudio),
    VideoTrilhaSonora(VideoTrilhaSonora),
    AudioTrilhaSonora(AudioTrilhaSonora),
    AudioConcatenate(AudioConcatenate),
    AudioTrim(AudioTrim),
    Downsample(Downsample),
    Encode(Encode),
    Render(Render),
    Transcribe(Transcribe),
    ObjectsStage(ObjectsStage),
    PipelineSegment(PipelineSegment),
    TranscribeYoutube(TranscribeYoutube),
    ImagePrompts(ImagePrompts),
    ImageGenerate(ImageGenerate),
}

impl OpRequest {
    pub fn operation(&self) -> Operation {
        match self {
            OpRequest::Img2vid(_) => Operation::Img2vid,
            OpRequest::Caption(_) => Operation::Caption,
            OpRequest::CaptionStyle(_) => Operation::CaptionStyle,
            OpRequest::AddAudio(_) => Operation::AddAudio,
            OpRequest::Concatenate(_) => Operation::Concatenate,
            OpRequest::ConcatVideoAudio(_) => Operation::ConcatVideoAudio,
            OpRequest::VideoTrilhaSonora(_) => Operation::VideoTrilhaSonora,
            OpRequest::AudioTrilhaSonora(_) => Operation::AudioTrilhaSonora,
            OpRequest::AudioConcatenate(_) => Operation::AudioConcatenate,
            OpRequest::AudioTrim(_) => Operation::AudioTrim,
            OpRequest::Downsample(_) => Operation::Downsample,
            OpRequest::Encode(_) => Operation::Encode,
            OpRequest::Render(_) => Operation::Render,
            OpRequest::Transcribe(_) => Operation::Transcribe,
            OpRequest::ObjectsStage(_) => Operation::ObjectsStage,
            OpRequest::PipelineSegment(_) => Operation::PipelineSegment,
            OpRequest::TranscribeYoutube(_) => Operation::TranscribeYoutube,
            OpRequest::ImagePrompts(_) => Operation::ImagePrompts,
            OpRequest::ImageGenerate(_) => Operation::ImageGenerate,
        }
    }
}

/// The seed's first img2vid body named one image at the top level (`{"url_image",
/// "duration", "frame_rate"}`, migration report): it is the batch of that one image.
fn single_image_form(mut value: Value) -> Value {
    let Some(body) = value.as_object_mut() else { return value };
    if body.contains_key("images") {
        return value;
    }
    let Some(url) = ["url_image", "image_url"].into_iter().find_map(|k| body.remove(k)) else { return value };
    let mut image = serde_json::Map::new();
    image.insert("image_url".into(), url);
    if let Some(d) = ["duracao", "duration"].into_iter().find_map(|k| body.remove(k)) {
        image.insert("duracao".into(), d);
    }
    if let Some(id) = body.remove("id") {
        image.insert("id".into(), id);
    }
    body.insert("images".into(), Value::Array(vec![Value::Object(image)]));
    value
}

/// Deserializes with the JSON path of the first type error (`images[1].duracao`).
fn typed<T: serde::de::DeserializeOwned>(value: &Value) -> Result<T, Vec<Problem>> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner().to_string();
        let (code, field) = match inner.strip_prefix("missing field `") {
            Some(rest) => {
                let name = rest.split('`').next().unwrap_or_default();
                let parent = if field == "." { String::new() } else { field };
                ("required", crate::problem::join(&parent, name))
            }
            None => ("invalid-type", if field == "." { String::new() } else { field }),
        };
        vec![Problem { field, code: code.into(), message: inner }]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_aliases() {
        for op in Operation::ALL {
            assert_eq!(Operation::from_path(op.path()), Some(op));
        }
        assert_eq!(Operation::from_path("/runpod/video/img2vid"), Some(Operation::Img2vid));
        assert_eq!(Operation::from_path("/runpod/audio/transcribe"), Some(Operation::Transcribe));
        assert_eq!(Operation::from_path("/video/background_music"), Some(Operation::VideoTrilhaSonora));
        assert_eq!(Operation::from_path("/video/render"), Some(Operation::Render));
        assert_eq!(Operation::from_path("/runpod/video/render/"), Some(Operation::Render));
        assert_eq!(Operation::Render.name(), "video/render");
        assert_eq!(Operation::from_path("/runpod/objects/stage"), None);
        // The seed's CPU twins and its other names.
        for (path, op) in [
            ("/vps/video/img2vid", Operation::Img2vid),
            ("/vps/video/addaudio", Operation::AddAudio),
            ("/vps/video/concatenate", Operation::Concatenate),
            ("/vps/video/caption_style", Operation::CaptionStyle),
            ("/vps/video/concat_video_audio", Operation::ConcatVideoAudio),
            ("/vps/audio/concatenate", Operation::AudioConcatenate),
            ("/vps/audio/trilhasonora", Operation::AudioTrilhaSonora),
            ("/runpod/audio/transcribe-whisper", Operation::Transcribe),
            ("/transcribe", Operation::Transcribe),
            ("/api/pipeline/segment", Operation::PipelineSegment),
            ("/vps/video/transcribe_youtube", Operation::TranscribeYoutube),
            ("/video/transcribe_youtube/", Operation::TranscribeYoutube),
            ("/vps/imagem/gerarPrompts", Operation::ImagePrompts),
            ("/vps/imagem/gerarImagens", Operation::ImageGenerate),
            ("/image/prompts", Operation::ImagePrompts),
            ("/image/generate", Operation::ImageGenerate),
        ] {
            assert_eq!(Operation::from_path(path), Some(op), "{path}");
        }
        assert_eq!(Operation::from_path("/vps/objects/stage"), None);
        assert_eq!(Operation::from_path("/runpod/image/prompts"), None);
        assert_eq!(Operation::ImageGenerate.name(), "image/generate");
        assert_eq!(Operation::from_path("/vps/pipeline/segment"), None);
        // No alias is another operation's path or alias.
        let mut seen = std::collections::HashSet::new();
        for op in Operation::ALL {
            for p in std::iter::once(op.path().to_owned()).chain(op.alias_paths()) {
                assert!(seen.insert(p.clone()), "{p} reaches two operations");
            }
        }
        assert_eq!(Operation::from_path("/video/nope"), None);
        assert_eq!(Operation::Img2vid.name(), "video/img2vid");
    }

    #[test]
    fn seed_names_and_english_aliases_parse_alike() {
        let seed =
            br#"{"images":[{"id":1,"image_url":"https://x.test/a.jpg","duracao":2.5}],"path":"p","idRoteiro":7,"metadata":{"k":"v"}}"#;
        let english =
            br#"{"images":[{"id":"1","url":"https://x.test/a.jpg","duration":2.5}],"path":"p","id_roteiro":7,"metadata":{"k":"v"}}"#;
        let a = Operation::Img2vid.parse(seed).unwrap();
        let b = Operation::Img2vid.parse(english).unwrap();
        let (OpRequest::Img2vid(x), OpRequest::Img2vid(y)) = (&a.op, &b.op) else { panic!() };
        assert_eq!(x.images[0].duracao, y.images[0].duracao);
        assert_eq!(x.images[0].image_url, y.images[0].image_url);
        assert_eq!(a.common, b.common);
        assert_eq!(a.common.id_roteiro, Some(7));

        let music =
            Operation::VideoTrilhaSonora.parse(br#"{"video_url":"https://x.test/v.mp4","music_url":"https://x.test/m.mp3"}"#).unwrap();
        let OpRequest::VideoTrilhaSonora(m) = music.op else { panic!() };
        assert_eq!(m.trilha_sonora, "https://x.test/m.mp3");
    }

    #[test]
    fn type_errors_carry_the_json_path() {
        let err = Operation::Img2vid
            .parse(br#"{"images":[{"image_url":"https://x.test/a.jpg","duracao":1},{"image_url":"https://x.test/b.jpg","duracao":"two"}]}"#)
            .unwrap_err();
        assert_eq!(err[0].field, "images[1].duracao");
        assert_eq!(err[0].code, "invalid-type");

        let err = Operation::Img2vid.parse(br#"{"images":[{"duracao":1}]}"#).unwrap_err();
        assert_eq!((err[0].field.as_str(), err[0].code.as_str()), ("images[0].image_url", "required"));

        let err = Operation::Caption.parse(b"{}").unwrap_err();
        assert_eq!((err[0].field.as_str(), err[0].code.as_str()), ("url_video", "required"));

        assert_eq!(Operation::Caption.parse(b"[1]").unwrap_err()[0].code, "invalid-type");
        assert_eq!(Operation::Caption.parse(b"{").unwrap_err()[0].code, "invalid-json");
    }

    #[test]
    fn render_parses_english_names_and_aliases_alike() {
        let english = br#"{"scenes":[{"id":7,"image_url":"https://x.test/a.jpg","duration":2.5,"zoom":"zoomin","easing":"ease_in_out"},
                                     {"image_url":"https://x.test/b.jpg","duration":1}],
                           "narration_url":"https://x.test/n.mp3","fit_to_narration":false,
                           "music_url":"https://x.test/m.mp3","volume_reduction_db":18,
                           "captions":{"type":"highlight","url":"https://x.test/w.json","uppercase":true,"style":{"fonte":"Inter"}},
                           "zoom_types":["zoomout"],"frame_rate":30,"orientation":"portrait","path":"out","output_filename":"v.mp4"}"#;
        let aliases = br#"{"cenas":[{"id":"7","url":"https://x.test/a.jpg","duracao":2.5,"zoom_type":"zoomin","easing":"ease_in_out"},
                                    {"imageUrl":"https://x.test/b.jpg","duracao":1}],
                           "narracao":"https://x.test/n.mp3","fitToNarration":false,
                           "trilha_sonora":"https://x.test/m.mp3","volume_reduction_db":18,
                           "legendas":{"caption_type":"highlight","url_caption":"https://x.test/w.json","uppercase":true,"style":{"font_name":"Inter"}},
                           "zoomTypes":["zoomout"],"fps":30,"orientation":"portrait","path":"out","output_filename":"v.mp4"}"#;
        let (OpRequest::Render(mut a), OpRequest::Render(b)) =
            (Operation::Render.parse(english).unwrap().op, Operation::Render.parse(aliases).unwrap().op)
        else {
            panic!("render requests")
        };
        assert_eq!(a.scenes[0].id, Some(FlexId::Number(7)));
        assert_eq!(b.scenes[0].id, Some(FlexId::Text("7".into())));
        a.scenes[0].id = b.scenes[0].id.clone();
        assert_eq!(a, b);
        assert_eq!(a.scenes[1].zoom, None);
        assert_eq!(a.captions.as_ref().map(|c| (c.kind.as_str(), c.url.as_str())), Some(("highlight", "https://x.test/w.json")));
        for alias in ["audio_url", "url_audio", "narration"] {
            let body = format!(r#"{{"scenes":[{{"image_url":"https://x.test/a.jpg","duration":1}}],"{alias}":"https://x.test/n.mp3"}}"#);
            let OpRequest::Render(r) = Operation::Render.parse(body.as_bytes()).unwrap().op else { panic!() };
            assert_eq!(r.narration_url.as_deref(), Some("https://x.test/n.mp3"), "{alias}");
        }
        let err = Operation::Render.parse(br#"{"scenes":[{"image_url":"https://x.test/a.jpg"}]}"#).unwrap_err();
        assert_eq!((err[0].field.as_str(), err[0].code.as_str()), ("scenes[0].duration", "required"));
        let err = Operation::Render
            .parse(br#"{"scenes":[{"image_url":"https://x.test/a.jpg","duration":1}],"captions":{"url":"u"}}"#)
            .unwrap_err();
        assert_eq!((err[0].field.as_str(), err[0].code.as_str()), ("captions.type", "required"));
    }

    #[test]
    fn img2vid_of_one_top_level_image() {
        let one = Operation::Img2vid.parse(br#"{"url_image":"https://x.test/a.jpg","frame_rate":24,"duration":5.0}"#).unwrap();
        let batch =
            Operation::Img2vid.parse(br#"{"images":[{"image_url":"https://x.test/a.jpg","duracao":5.0}],"frame_rate":24}"#).unwrap();
        assert_eq!(one, batch);
        // Without a duration the image's own field is the one reported missing.
        let err = Operation::Img2vid.parse(br#"{"url_image":"https://x.test/a.jpg"}"#).unwrap_err();
        assert_eq!((err[0].field.as_str(), err[0].code.as_str()), ("images[0].duracao", "required"));
        // Neither form: `images` is required.
        let err = Operation::Img2vid.parse(br#"{"path":"p"}"#).unwrap_err();
        assert_eq!((err[0].field.as_str(), err[0].code.as_str()), ("images", "required"));
    }

    #[test]
    fn url_items_accept_strings_and_objects() {
        let r = Operation::Concatenate.parse(br#"{"video_urls":[{"video_url":"https://x.test/1.mp4"},"https://x.test/2.mp4"]}"#).unwrap();
        let OpRequest::Concatenate(c) = r.op else { panic!() };
        assert_eq!(c.video_urls[0].url(), "https://x.test/1.mp4");
        assert_eq!(c.video_urls[1].url(), "https://x.test/2.mp4");
    }

    #[test]
    fn image_requests_parse_under_seed_and_english_names() {
        let seed = br#"{"cenas":[{"index":0,"texto":"Era uma vez"},{"index":1,"texto":"Fim"}],"estilo":"aquarela",
            "detalhe_estilo":"cores suaves","roteiro":"Era uma vez. Fim.","agente":"Voce cria prompts"}"#;
        let english = br#"{"scenes":[{"index":0,"text":"Era uma vez"},{"index":1,"text":"Fim"}],"style":"aquarela",
            "style_detail":"cores suaves","script":"Era uma vez. Fim.","agent":"Voce cria prompts"}"#;
        let (a, b) = (Operation::ImagePrompts.parse(seed).unwrap(), Operation::ImagePrompts.parse(english).unwrap());
        assert_eq!(a, b);
        let OpRequest::ImagePrompts(p) = &a.op else { panic!("prompts") };
        assert_eq!(p.scenes().iter().map(|s| (s.index, s.texto.as_str())).collect::<Vec<_>>(), [(0, "Era uma vez"), (1, "Fim")]);
        assert_eq!(p.agente.as_deref(), Some("Voce cria prompts"));
        // The theme form of the seed's reference: `quantidade` scenes on one theme.
        let theme = Operation::ImagePrompts.parse(br#"{"tema":"cyberpunk city","quantidade":3,"estilo":"photo"}"#).unwrap();
        let OpRequest::ImagePrompts(p) = &theme.op else { panic!("prompts") };
        assert_eq!(p.scenes().iter().map(|s| s.index).collect::<Vec<_>>(), [1, 2, 3]);
        assert!(p.scenes().iter().all(|s| s.texto == "cyberpunk city"));

        let seed = br#"{"prompts":[{"index":3,"prompt":"a red fox"},{"index":1,"prompt":"a blue owl"}],"image_model":"runware:100@1",
            "altura":768,"largura":1344,"path":"ep1/images"}"#;
        let english = br#"{"prompts":[{"index":3,"prompt":"a red fox"},{"index":1,"prompt":"a blue owl"}],"model":"runware:100@1",
            "height":768,"width":1344,"path":"ep1/images"}"#;
        let (a, b) = (Operation::ImageGenerate.parse(seed).unwrap(), Operation::ImageGenerate.parse(english).unwrap());
        assert_eq!(a, b);
        let OpRequest::ImageGenerate(g) = &a.op else { panic!("generate") };
        assert_eq!((g.altura, g.largura), (Some(768), Some(1344)));
        assert_eq!(g.indexed_prompts(), [(3, "a red fox"), (1, "a blue owl")]);
        // The reference's bare strings: numbered by position from 1.
        let plain = Operation::ImageGenerate.parse(br#"{"prompts":["a red fox","a blue owl"],"negative_prompt":"blurry"}"#).unwrap();
        let OpRequest::ImageGenerate(g) = &plain.op else { panic!("generate") };
        assert_eq!(g.indexed_prompts(), [(1, "a red fox"), (2, "a blue owl")]);
        assert_eq!(g.negative_prompt.as_deref(), Some("blurry"));
        // A missing field has its path.
        let err = Operation::ImageGenerate.parse(br#"{"image_model":"x"}"#).unwrap_err();
        assert_eq!((err[0].field.as_str(), err[0].code.as_str()), ("prompts", "required"));
        let err = Operation::ImagePrompts.parse(br#"{"cenas":[{"index":"a","texto":"x"}]}"#).unwrap_err();
        assert_eq!((err[0].field.as_str(), err[0].code.as_str()), ("cenas[0].index", "invalid-type"));
    }

    #[test]
    fn youtube_requests_parse_under_their_aliases() {
        let r = Operation::TranscribeYoutube.parse(br#"{"url":"https://youtu.be/dQw4w9WgXcQ","language":"pt-BR","path":"yt/1"}"#).unwrap();
        let OpRequest::TranscribeYoutube(t) = &r.op else { panic!("youtube") };
        assert_eq!(
            (t.url.as_str(), t.language.as_deref(), t.path.as_deref()),
            ("https://youtu.be/dQw4w9WgXcQ", Some("pt-BR"), Some("yt/1"))
        );
        let r = Operation::TranscribeYoutube.parse(br#"{"video_url":"dQw4w9WgXcQ","id_roteiro":9}"#).unwrap();
        assert_eq!(r.common.id_roteiro, Some(9));
        let err = Operation::TranscribeYoutube.parse(br#"{"language":"en"}"#).unwrap_err();
        assert_eq!((err[0].field.as_str(), err[0].code.as_str()), ("url", "required"));
    }
}
