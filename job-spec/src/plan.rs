//! Pure planning: from a validated request to the worker's task, the inputs to
//! resolve and the output keys to presign. Deterministic for a given job id.

use serde::{Deserialize, Serialize};

use crate::media::{MediaRef, RefContext, parse_media_ref};
use crate::ops::{
    AddAudio, AudioConcatenate, AudioTrilhaSonora, AudioTrim, ConcatVideoAudio, Concatenate, Downsample, Img2Vid, UrlItem,
    VideoTrilhaSonora,
};
use crate::problem::Problem;
use crate::request::{JobRequest, OpRequest, Operation};
use crate::values::ZoomType;
use crate::worker::{
    AddAudioTask, AudioFormat, AudioFormatTask, AudioMusicTask, AudioTrimTask, CaptionMode, CaptionTask, ClipTask, ConcatVideoAudioTask,
    ConcatenateTask, DownsampleTask, EncodeTask, Img2VidTask, MusicTask, OUTPUT, SyncMode, Task,
};

/// Music under video: 20 dB below the voice unless `volume_reduction_db` says otherwise.
pub const DEFAULT_VIDEO_MUSIC_REDUCTION_DB: f64 = 20.0;
/// Music under a voice track (`/audio/trilhasonora`): `db_offset` defaults to 30 dB.
pub const DEFAULT_AUDIO_MUSIC_OFFSET_DB: f64 = 30.0;

pub const DEFAULT_FRAME_RATE: u32 = 24;
pub const LANDSCAPE: (u32, u32) = (1920, 1080);
pub const PORTRAIT: (u32, u32) = (1080, 1920);

/// What the edge must do before submitting: resolve `inputs` to GET URLs, presign
/// `outputs` for PUT, and send `task`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub inputs: Vec<PlannedInput>,
    pub outputs: Vec<PlannedOutput>,
    pub task: Task,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedInput {
    pub name: String,
    pub source: MediaRef,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedOutput {
    pub name: String,
    pub key: String,
    pub content_type: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PlanError {
    /// The request is invalid; every problem is listed.
    Invalid(Vec<Problem>),
    /// The operation is part of the contract but not rendered by this version yet.
    NotImplemented(Operation),
}

/// Validates and plans a request for job `job_id` of the tenant owning `ctx.tenant_prefix`.
pub fn plan(req: &JobRequest, job_id: &str, ctx: &RefContext) -> Result<Plan, PlanError> {
    crate::validate(req, ctx).map_err(PlanError::Invalid)?;
    let prefix = ctx.tenant_prefix.as_deref().unwrap_or_default();
    let mut b = Builder { ctx, inputs: vec![], outputs: vec![] };
    let task = match &req.op {
        OpRequest::Img2vid(r) => return Ok(plan_img2vid(r, job_id, prefix, ctx)),
        OpRequest::AddAudio(r) => plan_addaudio(&mut b, r, &output_dir(prefix, r.path.as_deref(), job_id)),
        OpRequest::Concatenate(r) => plan_concatenate(&mut b, r, &output_dir(prefix, r.path.as_deref(), job_id)),
        OpRequest::AudioConcatenate(r) => plan_audio_concatenate(&mut b, r, &output_dir(prefix, r.path.as_deref(), job_id)),
        OpRequest::AudioTrim(r) => plan_audio_trim(&mut b, r, &output_dir(prefix, r.path.as_deref(), job_id)),
        OpRequest::Downsample(r) => plan_downsample(&mut b, r, &output_dir(prefix, r.path.as_deref(), job_id)),
        OpRequest::VideoTrilhaSonora(r) => plan_video_music(&mut b, r, &output_dir(prefix, r.path.as_deref(), job_id)),
        OpRequest::AudioTrilhaSonora(r) => plan_audio_music(&mut b, r, &output_dir(prefix, r.path.as_deref(), job_id)),
        OpRequest::ObjectsStage(r) => {
            b.input("source", &r.source_uri);
            // Validated: dest_uri is an object key inside the tenant's prefix.
            let key = match parse_media_ref(&r.dest_uri, ctx) {
                Ok(MediaRef::Object { key }) => key,
                _ => return Err(PlanError::Invalid(vec![])),
            };
            let content_type = crate::media::content_type_for(&key);
            b.outputs.push(PlannedOutput { name: OUTPUT.into(), key, content_type: content_type.into() });
            Task::Stage
        }
        OpRequest::Caption(r) => {
            let dir = output_dir(prefix, r.path.as_deref(), job_id);
            b.input("video", &r.url_video);
            b.input("captions", &r.url_srt);
            b.output(&dir, r.output_filename.as_deref(), "video_with_captions.mp4", MP4);
            Task::Caption(CaptionTask { mode: CaptionMode::Default, uppercase: false })
        }
        OpRequest::CaptionStyle(r) => {
            let dir = output_dir(prefix, r.path.as_deref(), job_id);
            b.input("video", &r.url_video);
            b.input("captions", &r.url_caption);
            b.output(&dir, r.output_filename.as_deref(), "video_with_captions.mp4", MP4);
            let style = r.style.clone().unwrap_or_default();
            let mode = if r.kind == "highlight" { CaptionMode::Highlight { style } } else { CaptionMode::Segments { style } };
            Task::Caption(CaptionTask { mode, uppercase: r.uppercase.unwrap_or(false) })
        }
        OpRequest::Encode(r) => {
            let dir = output_dir(prefix, r.path.as_deref(), job_id);
            b.input("video", &r.url_video);
            if let Some(a) = &r.url_audio {
                b.input("audio", a);
            }
            if let Some(s) = &r.url_subtitles {
                b.input("subtitles", s);
            }
            b.output(&dir, r.output_filename.as_deref(), "encoded.mp4", MP4);
            Task::Encode(EncodeTask { audio: r.url_audio.is_some(), subtitles: r.url_subtitles.is_some() })
        }
        OpRequest::ConcatVideoAudio(r) => plan_concat_video_audio(&mut b, r, &output_dir(prefix, r.path.as_deref(), job_id)),
        other => return Err(PlanError::NotImplemented(other.operation())),
    };
    Ok(Plan { inputs: b.inputs, outputs: b.outputs, task })
}

/// Collects named inputs and outputs of a single-output operation.
struct Builder<'a> {
    ctx: &'a RefContext,
    inputs: Vec<PlannedInput>,
    outputs: Vec<PlannedOutput>,
}

impl Builder<'_> {
    fn input(&mut self, name: &str, raw: &str) {
        // Validated before planning, so the reference parses.
        let source = parse_media_ref(raw, self.ctx).unwrap_or_else(|_| MediaRef::Url(raw.to_owned()));
        self.inputs.push(PlannedInput { name: name.to_owned(), source });
    }

    fn clips(&mut self, items: &[UrlItem]) -> u32 {
        for (i, item) in items.iter().enumerate() {
            self.input(&format!("clip_{}", i + 1), item.url());
        }
        items.len() as u32
    }

    fn output(&mut self, dir: &str, filename: Option<&str>, default: &str, content_type: &str) {
        let name = filename.unwrap_or(default);
        self.outputs.push(PlannedOutput { name: OUTPUT.into(), key: format!("{dir}{name}"), content_type: content_type.into() });
    }

    /// Audio output: the format follows the filename's extension (validated), default mp3.
    fn audio_output(&mut self, dir: &str, filename: Option<&str>, default: &str) -> AudioFormat {
        let format = filename.and_then(crate::media::extension).and_then(|e| AudioFormat::from_extension(&e)).unwrap_or(AudioFormat::Mp3);
        self.output(dir, filename, default, format.content_type());
        format
    }
}

/// Video outputs are MP4 (validation allows .mov/.mkv names; the container is still MP4).
const MP4: &str = "video/mp4";

fn plan_addaudio(b: &mut Builder<'_>, r: &AddAudio, dir: &str) -> Task {
    b.input("video", &r.url_video);
    b.input("audio", &r.url_audio);
    b.output(dir, r.output_filename.as_deref(), "video_with_audio.mp4", MP4);
    Task::AddAudio(AddAudioTask { sync: r.sync.as_deref().and_then(SyncMode::parse).unwrap_or(SyncMode::Shortest) })
}

fn plan_concatenate(b: &mut Builder<'_>, r: &Concatenate, dir: &str) -> Task {
    let clips = b.clips(&r.video_urls);
    b.output(dir, r.output_filename.as_deref(), "concatenated.mp4", MP4);
    Task::Concatenate(ConcatenateTask { clips })
}

fn plan_audio_concatenate(b: &mut Builder<'_>, r: &AudioConcatenate, dir: &str) -> Task {
    let clips = b.clips(&r.audio_urls);
    let format = b.audio_output(dir, r.output_filename.as_deref(), "concatenated.mp3");
    Task::AudioConcatenate(AudioFormatTask { clips, format })
}

fn plan_audio_trim(b: &mut Builder<'_>, r: &AudioTrim, dir: &str) -> Task {
    b.input("audio", &r.source_uri);
    let format = b.audio_output(dir, r.output_filename.as_deref(), "trimmed.mp3");
    Task::AudioTrim(AudioTrimTask { start_sec: r.start_sec, duration_sec: r.duration_sec, format })
}

fn plan_video_music(b: &mut Builder<'_>, r: &VideoTrilhaSonora, dir: &str) -> Task {
    b.input("video", &r.url_video);
    b.input("music", &r.trilha_sonora);
    b.output(dir, r.output_filename.as_deref(), "video_with_trilha.mp4", MP4);
    Task::VideoMusic(MusicTask { reduction_db: r.volume_reduction_db.unwrap_or(DEFAULT_VIDEO_MUSIC_REDUCTION_DB) })
}

fn plan_audio_music(b: &mut Builder<'_>, r: &AudioTrilhaSonora, dir: &str) -> Task {
    b.input("audio", &r.audio_url);
    b.input("music", &r.trilha_sonora);
    let format = b.audio_output(dir, r.output_filename.as_deref(), "audio_with_trilha.mp3");
    Task::AudioMusic(AudioMusicTask { reduction_db: r.db_offset.unwrap_or(DEFAULT_AUDIO_MUSIC_OFFSET_DB), format })
}

fn plan_concat_video_audio(b: &mut Builder<'_>, r: &ConcatVideoAudio, dir: &str) -> Task {
    let clips = b.clips(&r.video_urls);
    b.input("audio", &r.url_audio);
    b.output(dir, r.output_filename.as_deref(), "video_with_audio.mp4", MP4);
    Task::ConcatVideoAudio(ConcatVideoAudioTask { clips, normalize: r.normalize.unwrap_or(true) })
}

fn plan_downsample(b: &mut Builder<'_>, r: &Downsample, dir: &str) -> Task {
    let height = crate::resolution_height(&r.resolution).unwrap_or(720);
    b.input("video", &r.url_video);
    b.output(dir, r.output_filename.as_deref(), &format!("video_{height}p.mp4"), MP4);
    Task::Downsample(DownsampleTask { height })
}

/// The folder outputs go to: `<tenant prefix><path>/`, or `<tenant prefix>jobs/<job id>/`
/// when no path is given.
pub fn output_dir(tenant_prefix: &str, path: Option<&str>, job_id: &str) -> String {
    let path = path.map(|p| p.trim_matches('/')).filter(|p| !p.is_empty());
    match path {
        Some(p) => format!("{tenant_prefix}{p}/"),
        None => format!("{tenant_prefix}jobs/{job_id}/"),
    }
}

/// Frames for a clip of `seconds` at `fps`: `round(seconds × fps)` with halves rounded
/// away from zero, at least 1. The clip then lasts exactly `frames / fps` seconds.
pub fn frames_for(seconds: f64, fps: u32) -> u32 {
    let f = (seconds * f64::from(fps)).round();
    if f < 1.0 { 1 } else { f as u32 }
}

/// Output size: explicit width/height win; otherwise the orientation's default.
pub fn output_size(r: &Img2Vid) -> (u32, u32) {
    let portrait = matches!(r.orientation.as_deref(), Some("portrait" | "vertical"));
    let (dw, dh) = if portrait { PORTRAIT } else { LANDSCAPE };
    (r.width.unwrap_or(dw), r.height.unwrap_or(dh))
}

fn plan_img2vid(r: &Img2Vid, job_id: &str, prefix: &str, ctx: &RefContext) -> Plan {
    let fps = r.frame_rate.unwrap_or(DEFAULT_FRAME_RATE);
    let (width, height) = output_size(r);
    let types: Vec<ZoomType> = match &r.zoom_types {
        Some(t) => t.iter().filter_map(|s| ZoomType::parse(s)).collect(),
        None => ZoomType::ALL.to_vec(),
    };
    let zooms = distribute_zooms(r.images.len(), &types, seed_from(job_id));
    let dir = output_dir(prefix, r.path.as_deref(), job_id);
    let mut inputs = Vec::with_capacity(r.images.len());
    let mut outputs = Vec::with_capacity(r.images.len());
    let mut clips = Vec::with_capacity(r.images.len());
    for (i, (img, zoom)) in r.images.iter().zip(zooms).enumerate() {
        let n = i + 1;
        let (input, output) = (format!("image_{n}"), format!("video_{n}"));
        // Validated above, so the reference parses.
        let source = parse_media_ref(&img.image_url, ctx).unwrap_or(MediaRef::Url(img.image_url.clone()));
        inputs.push(PlannedInput { name: input.clone(), source });
        outputs.push(PlannedOutput { name: output.clone(), key: format!("{dir}video_{n}.mp4"), content_type: "video/mp4".into() });
        clips.push(ClipTask {
            id: img.id.as_ref().map_or_else(|| n.to_string(), ToString::to_string),
            input,
            output,
            frames: frames_for(img.duracao, fps),
            zoom,
        });
    }
    Plan { inputs, outputs, task: Task::Img2vid(Img2VidTask { width, height, frame_rate: fps, clips }) }
}

/// `n` zoom types, proportional to `types` (each gets ⌊n/k⌋, the first `n mod k` one
/// more), then shuffled by a Fisher–Yates shuffle driven by SplitMix64 from `seed`.
pub fn distribute_zooms(n: usize, types: &[ZoomType], seed: u64) -> Vec<ZoomType> {
    let types = if types.is_empty() { &ZoomType::ALL[..] } else { types };
    let k = types.len();
    let mut out: Vec<ZoomType> =
        types.iter().enumerate().flat_map(|(i, t)| std::iter::repeat_n(*t, n / k + usize::from(i < n % k))).collect();
    let mut rng = SplitMix64(seed);
    for i in (1..out.len()).rev() {
        let j = (rng.next() % (i as u64 + 1)) as usize;
        out.swap(i, j);
    }
    out
}

/// FNV-1a of the job id: a stable seed that never changes between releases.
pub fn seed_from(job_id: &str) -> u64 {
    job_id.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::Operation;

    fn ctx() -> RefContext {
        RefContext { allow_loopback_http: false, bucket: Some("media".into()), tenant_prefix: Some("t/acme/".into()) }
    }

    #[test]
    fn frame_rounding_rule() {
        assert_eq!(frames_for(5.0, 24), 120);
        assert_eq!(frames_for(6.48, 24), 156); // 155.52
        assert_eq!(frames_for(2.5 / 24.0, 24), 3); // 2.5 rounds away from zero
        assert_eq!(frames_for(0.01, 24), 1);
        assert_eq!(frames_for(0.1, 60), 6);
    }

    #[test]
    fn zooms_are_proportional_and_deterministic() {
        let all = ZoomType::ALL;
        let z = distribute_zooms(10, &all, 42);
        let count = |t| z.iter().filter(|x| **x == t).count();
        assert_eq!((count(ZoomType::Zoomin), count(ZoomType::Zoomout), count(ZoomType::Zoompanright)), (4, 3, 3));
        assert_eq!(z, distribute_zooms(10, &all, 42));
        assert_ne!(z, distribute_zooms(10, &all, 43), "another seed, another order");
        assert_eq!(distribute_zooms(3, &[ZoomType::Zoomout], 1), vec![ZoomType::Zoomout; 3]);
        assert!(distribute_zooms(0, &all, 1).is_empty());
        // The exact order for a seed is part of the contract (a job replays identically).
        assert_eq!(distribute_zooms(4, &all, seed_from("job-1")), distribute_zooms(4, &all, seed_from("job-1")));
        assert_eq!(seed_from(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(seed_from("a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn plans_img2vid() {
        let req = Operation::Img2vid
            .parse(
                br#"{"images":[{"id":"a","image_url":"r2://t/acme/in/a.jpg","duracao":6.48},
                                  {"image_url":"https://cdn.example.com/b.png","duration":1}],
                        "path":"shorts/ep1/","frame_rate":24,"zoom_types":["zoomout"]}"#,
            )
            .unwrap();
        let plan = plan(&req, "job-1", &ctx()).unwrap();
        assert_eq!(
            plan.inputs,
            vec![
                PlannedInput { name: "image_1".into(), source: MediaRef::Object { key: "t/acme/in/a.jpg".into() } },
                PlannedInput { name: "image_2".into(), source: MediaRef::Url("https://cdn.example.com/b.png".into()) },
            ]
        );
        assert_eq!(plan.outputs[0].key, "t/acme/shorts/ep1/video_1.mp4");
        assert_eq!(plan.outputs[1].key, "t/acme/shorts/ep1/video_2.mp4");
        let Task::Img2vid(t) = plan.task else { panic!("img2vid task") };
        assert_eq!((t.width, t.height, t.frame_rate), (1920, 1080, 24));
        assert_eq!(t.clips[0].frames, 156);
        assert_eq!(t.clips[0].id, "a");
        assert_eq!(t.clips[1].id, "2");
        assert!(t.clips.iter().all(|c| c.zoom == ZoomType::Zoomout));
    }

    #[test]
    fn portrait_default_and_job_folder() {
        let req =
            Operation::Img2vid.parse(br#"{"images":[{"image_url":"r2://t/acme/a.jpg","duracao":1}],"orientation":"vertical"}"#).unwrap();
        let plan = plan(&req, "j9", &ctx()).unwrap();
        let Task::Img2vid(t) = &plan.task else { panic!("img2vid task") };
        assert_eq!((t.width, t.height), (1080, 1920));
        assert_eq!(plan.outputs[0].key, "t/acme/jobs/j9/video_1.mp4");
    }

    #[test]
    fn invalid_and_unimplemented() {
        let bad = Operation::Img2vid.parse(br#"{"images":[]}"#).unwrap();
        assert!(matches!(plan(&bad, "j", &ctx()), Err(PlanError::Invalid(p)) if p[0].code == "too-few"));
        let trim = Operation::AudioTrim
            .parse(br#"{"source_uri":"r2://t/acme/a.wav","start_sec":1,"duration_sec":2,"output_filename":"cut.wav","path":"x"}"#)
            .unwrap();
        let p = plan(&trim, "j", &ctx()).unwrap();
        assert_eq!(
            p.outputs,
            vec![PlannedOutput { name: "output".into(), key: "t/acme/x/cut.wav".into(), content_type: "audio/wav".into() }]
        );
        assert_eq!(p.task, Task::AudioTrim(AudioTrimTask { start_sec: 1.0, duration_sec: 2.0, format: AudioFormat::Wav }));
        let cat = Operation::Concatenate.parse(br#"{"video_urls":[{"video_url":"r2://t/acme/1.mp4"},"r2://t/acme/2.mp4"]}"#).unwrap();
        let p = plan(&cat, "j7", &ctx()).unwrap();
        assert_eq!(p.inputs.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(), ["clip_1", "clip_2"]);
        assert_eq!(p.outputs[0].key, "t/acme/jobs/j7/concatenated.mp4");
        let add =
            Operation::AddAudio.parse(br#"{"url_video":"r2://t/acme/v.mp4","url_audio":"r2://t/acme/a.mp3","sync":"loop_video"}"#).unwrap();
        assert_eq!(plan(&add, "j", &ctx()).unwrap().task, Task::AddAudio(AddAudioTask { sync: SyncMode::LoopVideo }));
        let down = Operation::Downsample.parse(br#"{"url_video":"r2://t/acme/v.mp4","resolution":"480p"}"#).unwrap();
        let p = plan(&down, "j", &ctx()).unwrap();
        assert_eq!((p.task, p.outputs[0].key.as_str()), (Task::Downsample(DownsampleTask { height: 480 }), "t/acme/jobs/j/video_480p.mp4"));
        let stage = Operation::ObjectsStage
            .parse(br#"{"source_uri":"https://cdn.example.com/a.mp3","dest_uri":"r2://t/acme/staged/a.mp3"}"#)
            .unwrap();
        let p = plan(&stage, "j", &ctx()).unwrap();
        assert_eq!(p.task, Task::Stage);
        assert_eq!(
            p.outputs,
            vec![PlannedOutput { name: "output".into(), key: "t/acme/staged/a.mp3".into(), content_type: "audio/mpeg".into() }]
        );
        let cap = Operation::CaptionStyle
            .parse(
                br#"{"url_video":"https://x.example/v.mp4","url_caption":"https://x.example/w.json","type":"highlight","uppercase":true}"#,
            )
            .unwrap();
        let p = plan(&cap, "j", &ctx()).unwrap();
        assert_eq!(p.task, Task::Caption(CaptionTask { mode: CaptionMode::Highlight { style: Default::default() }, uppercase: true }));
        assert_eq!(p.inputs.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(), ["video", "captions"]);
        let tr = Operation::Transcribe.parse(br#"{"audio_url":"https://x.example/a.mp3"}"#).unwrap();
        assert_eq!(plan(&tr, "j", &ctx()), Err(PlanError::NotImplemented(Operation::Transcribe)));
    }
}
