//! Pure planning: from a validated request to the worker's task, the inputs to
//! resolve and the output keys to presign. Deterministic for a given job id.

use serde::{Deserialize, Serialize};

use crate::media::{MediaRef, RefContext, parse_media_ref};
use crate::ops::{
    AddAudio, AudioConcatenate, AudioTrilhaSonora, AudioTrim, ConcatVideoAudio, Concatenate, Downsample, ImageGenerate, ImagePrompts,
    Img2Vid, PipelineSegment, Render, Transcribe, TranscribeYoutube, UrlItem, VideoTrilhaSonora,
};
use crate::problem::Problem;
use crate::request::{JobRequest, OpRequest, Operation};
use crate::timing::frames_for;
use crate::values::{EasingType, ZoomType};
use crate::worker::{
    AddAudioTask, AudioFormat, AudioFormatTask, AudioMusicTask, AudioTrimTask, CaptionMode, CaptionTask, ClipTask, ConcatVideoAudioTask,
    ConcatenateTask, DownsampleTask, EncodeTask, ImageFormat, ImageGenerateTask, ImageJob, ImagePromptsTask, Img2VidTask, MusicTask,
    OUTPUT, RenderScene, RenderTask, SegmentAudioTask, SegmentCut, SyncMode, Task, TranscribeTask, TranscribeYoutubeTask,
};

/// Music under video: 20 dB below the voice unless `volume_reduction_db` says otherwise.
pub const DEFAULT_VIDEO_MUSIC_REDUCTION_DB: f64 = 20.0;
/// Music under a voice track (`/audio/trilhasonora`): `db_offset` defaults to 30 dB.
pub const DEFAULT_AUDIO_MUSIC_OFFSET_DB: f64 = 30.0;

/// Transcription: beam search of width 5 (faster-whisper's default), at temperature 0.
pub const DEFAULT_BEAM_SIZE: u32 = 5;
/// Transcription skips silence unless `enable_vad: false` (no text invented over it).
pub const DEFAULT_TRANSCRIBE_VAD: bool = true;

/// `/image/generate`'s model when none is given: Runware's FLUX.1 [schnell].
pub const DEFAULT_IMAGE_MODEL: &str = "runware:100@1";
/// `/image/generate`'s width and height when not given.
pub const DEFAULT_IMAGE_SIZE: u32 = 1024;

/// The frame defaults live with the frame maths (validation counts pixels with them).
pub use crate::timing::{DEFAULT_FRAME_RATE, LANDSCAPE, PORTRAIT, frame_size};

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
        OpRequest::Render(r) => plan_render(&mut b, r, job_id, &output_dir(prefix, r.path.as_deref(), job_id)),
        OpRequest::Transcribe(r) => plan_transcribe(&mut b, r, &output_dir(prefix, r.path.as_deref(), job_id)),
        OpRequest::PipelineSegment(r) => plan_segment(&mut b, r, prefix)?,
        OpRequest::TranscribeYoutube(r) => plan_transcribe_youtube(&mut b, r, &output_dir(prefix, r.path.as_deref(), job_id)),
        OpRequest::ImagePrompts(r) => plan_image_prompts(r),
        OpRequest::ImageGenerate(r) => plan_image_generate(&mut b, r, &output_dir(prefix, r.path.as_deref(), job_id)),
        // Every operation is planned today; one added to the contract before it is
        // rendered answers 501 here.
        #[allow(unreachable_patterns)]
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

/// `/video/render`: inputs `scene_1` … `scene_n`, then `narration`, `music`, `captions`
/// when given; one output. Scenes without a `zoom` share the `zoom_types` as img2vid's
/// images do (seeded by the job id; scenes with a `zoom` are left out of the draw).
fn plan_render(b: &mut Builder<'_>, r: &Render, job_id: &str, dir: &str) -> Task {
    let fps = r.frame_rate.unwrap_or(DEFAULT_FRAME_RATE);
    let (width, height) = frame_size(r.orientation.as_deref(), r.width, r.height);
    let unset = r.scenes.iter().filter(|s| s.zoom.is_none()).count();
    let mut drawn = distribute_zooms(unset, &zoom_types(r.zoom_types.as_deref()), seed_from(job_id)).into_iter();
    let mut scenes = Vec::with_capacity(r.scenes.len());
    for (i, s) in r.scenes.iter().enumerate() {
        let n = i + 1;
        let input = format!("scene_{n}");
        b.input(&input, &s.image_url);
        // Validated: a given zoom or easing parses.
        let zoom = match &s.zoom {
            Some(z) => ZoomType::parse(z).unwrap_or(ZoomType::Zoomin),
            None => drawn.next().unwrap_or(ZoomType::Zoomin),
        };
        scenes.push(RenderScene {
            id: s.id.as_ref().map_or_else(|| n.to_string(), ToString::to_string),
            input,
            frames: frames_for(s.duration, fps),
            seconds: s.duration,
            zoom,
            easing: s.easing.as_deref().and_then(EasingType::parse).unwrap_or_default(),
        });
    }
    if let Some(n) = &r.narration_url {
        b.input(RenderTask::NARRATION, n);
    }
    if let Some(m) = &r.music_url {
        b.input(RenderTask::MUSIC, m);
    }
    let captions = r.captions.as_ref().map(|c| {
        b.input(RenderTask::CAPTIONS, &c.url);
        let style = c.style.clone().unwrap_or_default();
        let mode = if c.kind == "highlight" { CaptionMode::Highlight { style } } else { CaptionMode::Segments { style } };
        CaptionTask { mode, uppercase: c.uppercase.unwrap_or(false) }
    });
    b.output(dir, r.output_filename.as_deref(), "render.mp4", MP4);
    let narration = r.narration_url.is_some();
    Task::Render(RenderTask {
        width,
        height,
        frame_rate: fps,
        scenes,
        narration,
        fit_to_narration: narration && r.fit_to_narration.unwrap_or(true),
        music: r.music_url.as_ref().map(|_| MusicTask { reduction_db: r.volume_reduction_db.unwrap_or(DEFAULT_VIDEO_MUSIC_REDUCTION_DB) }),
        captions,
    })
}

/// `/audio/transcribe`: input `audio`; the four files of [`TranscribeTask::OUTPUTS`] in
/// the output folder.
fn plan_transcribe(b: &mut Builder<'_>, r: &Transcribe, dir: &str) -> Task {
    b.input(TranscribeTask::AUDIO, &r.audio_url);
    transcript_outputs(b, dir);
    Task::Transcribe(TranscribeTask {
        model: r.model.clone(),
        language: r.language.clone().filter(|l| l != "auto"),
        enable_vad: r.enable_vad.unwrap_or(DEFAULT_TRANSCRIBE_VAD),
        beam_size: r.beam_size.unwrap_or(DEFAULT_BEAM_SIZE),
        temperature: r.temperature.unwrap_or(0.0),
    })
}

/// The four files of [`TranscribeTask::OUTPUTS`] in `dir`.
fn transcript_outputs(b: &mut Builder<'_>, dir: &str) {
    for (name, file) in TranscribeTask::OUTPUTS {
        b.outputs.push(PlannedOutput {
            name: name.into(),
            key: format!("{dir}{file}"),
            content_type: crate::media::content_type_for(file).into(),
        });
    }
}

/// `/video/transcribe_youtube`: no input (the worker asks YouTube); the four files of
/// [`TranscribeTask::OUTPUTS`] in the output folder, as `/audio/transcribe` writes them.
fn plan_transcribe_youtube(b: &mut Builder<'_>, r: &TranscribeYoutube, dir: &str) -> Task {
    transcript_outputs(b, dir);
    // Validated: the URL names a video.
    let video_id = crate::youtube::video_id(&r.url).unwrap_or_default();
    Task::TranscribeYoutube(TranscribeYoutubeTask { video_id, language: r.language.clone() })
}

/// `/image/prompts`: runs in the edge; no inputs, no outputs.
fn plan_image_prompts(r: &ImagePrompts) -> Task {
    Task::ImagePrompts(ImagePromptsTask {
        scenes: r.scenes(),
        style: r.estilo.clone(),
        style_detail: r.detalhe_estilo.clone(),
        script: r.roteiro.clone(),
        agent: r.agente.clone(),
    })
}

/// `/image/generate`: runs in the edge; one output `image_<index>` per prompt, written
/// to `image_<index>.<ext>` in the output folder.
fn plan_image_generate(b: &mut Builder<'_>, r: &ImageGenerate, dir: &str) -> Task {
    // Validated: a given format parses.
    let format = r.output_format.as_deref().and_then(ImageFormat::parse).unwrap_or(ImageFormat::Jpg);
    let images: Vec<ImageJob> = r
        .indexed_prompts()
        .into_iter()
        .map(|(index, prompt)| ImageJob { index, prompt: prompt.trim().to_owned(), output: ImageJob::output_name(index) })
        .collect();
    for i in &images {
        b.outputs.push(PlannedOutput {
            name: i.output.clone(),
            key: format!("{dir}image_{}.{}", i.index, format.extension()),
            content_type: format.content_type().into(),
        });
    }
    Task::ImageGenerate(ImageGenerateTask {
        model: r.image_model.clone().unwrap_or_else(|| DEFAULT_IMAGE_MODEL.to_owned()),
        width: r.largura.unwrap_or(DEFAULT_IMAGE_SIZE),
        height: r.altura.unwrap_or(DEFAULT_IMAGE_SIZE),
        negative_prompt: r.negative_prompt.clone(),
        format,
        images,
    })
}

/// `/pipeline/segment`: input `master` (and `presenter` when it is a URL to stage);
/// outputs `segment_<i>` at [`segment_key`], and `staged_master` / `staged_presenter`
/// when those come from URLs. Needs the segments: inline, or read from `segments_uri` by
/// the caller and put in `segments` before planning.
fn plan_segment(b: &mut Builder<'_>, r: &PipelineSegment, prefix: &str) -> Result<Task, PlanError> {
    let Some(segments) = &r.segments else {
        let p = Problem {
            field: "segments_uri".into(),
            code: "unresolved".into(),
            message: "the segment list at segments_uri was not read".into(),
        };
        return Err(PlanError::Invalid(vec![p]));
    };
    let pipeline = r.job_id.as_str();
    let inputs = format!("{prefix}pipelines/{pipeline}/inputs/");
    // Validated: the master is given and parses; so does the presenter when given.
    let master = parse_media_ref(r.master().unwrap_or_default(), b.ctx).unwrap_or_else(|_| MediaRef::Url(String::new()));
    b.inputs.push(PlannedInput { name: SegmentAudioTask::MASTER.into(), source: master.clone() });
    let (master_key, stage_master) = match master {
        MediaRef::Object { key } => (key, false),
        MediaRef::Url(u) => {
            let key = format!("{inputs}audio/master.{}", url_extension(&u).unwrap_or_else(|| "bin".into()));
            b.outputs.push(PlannedOutput {
                name: SegmentAudioTask::STAGED_MASTER.into(),
                content_type: crate::media::content_type_for(&key).into(),
                key: key.clone(),
            });
            (key, true)
        }
    };
    let presenter = r.presenter().and_then(|p| parse_media_ref(p, b.ctx).ok());
    let (presenter_key, stage_presenter) = match presenter {
        None => (None, false),
        Some(MediaRef::Object { key }) => (Some(key), false),
        Some(MediaRef::Url(u)) => {
            let key = format!("{inputs}image/presenter.{}", url_extension(&u).unwrap_or_else(|| "bin".into()));
            b.inputs.push(PlannedInput { name: SegmentAudioTask::PRESENTER.into(), source: MediaRef::Url(u) });
            b.outputs.push(PlannedOutput {
                name: SegmentAudioTask::STAGED_PRESENTER.into(),
                content_type: crate::media::content_type_for(&key).into(),
                key: key.clone(),
            });
            (Some(key), true)
        }
    };
    let cuts: Vec<SegmentCut> = segments
        .iter()
        .enumerate()
        .map(|(i, s)| SegmentCut { index: i as u32, start_sec: s.start_sec, duration_sec: s.duration_sec })
        .collect();
    for c in &cuts {
        b.outputs.push(PlannedOutput { name: c.output(), key: segment_key(prefix, pipeline, c.index), content_type: "audio/wav".into() });
    }
    Ok(Task::SegmentAudio(SegmentAudioTask {
        pipeline_id: pipeline.to_owned(),
        expected: cuts.len() as u32,
        segments: cuts,
        master_key,
        stage_master,
        presenter_key,
        stage_presenter,
    }))
}

/// Where segment `index` of pipeline `pipeline_id` is written (and where
/// `GET /pipeline/status` looks for it).
pub fn segment_key(tenant_prefix: &str, pipeline_id: &str, index: u32) -> String {
    format!("{tenant_prefix}pipelines/{pipeline_id}/stage/segmentation/audio_segments/segment_{index}.wav")
}

/// The extension of a URL's last path segment, lower-cased, when it looks like one
/// (1–5 ASCII letters and digits); staged copies keep it.
fn url_extension(raw: &str) -> Option<String> {
    let url = url::Url::parse(raw).ok()?;
    let name = url.path_segments()?.next_back()?;
    crate::media::extension(name).filter(|e| (1..=5).contains(&e.len()) && e.chars().all(|c| c.is_ascii_alphanumeric()))
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

/// Output size: explicit width/height win; otherwise the orientation's default.
pub fn output_size(r: &Img2Vid) -> (u32, u32) {
    frame_size(r.orientation.as_deref(), r.width, r.height)
}

/// The zoom types a request allows: its valid `zoom_types`, or all of them.
fn zoom_types(listed: Option<&[String]>) -> Vec<ZoomType> {
    match listed {
        Some(t) => t.iter().filter_map(|s| ZoomType::parse(s)).collect(),
        None => ZoomType::ALL.to_vec(),
    }
}

fn plan_img2vid(r: &Img2Vid, job_id: &str, prefix: &str, ctx: &RefContext) -> Plan {
    let fps = r.frame_rate.unwrap_or(DEFAULT_FRAME_RATE);
    let (width, height) = output_size(r);
    let zooms = distribute_zooms(r.images.len(), &zoom_types(r.zoom_types.as_deref()), seed_from(job_id));
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
            // Validated: a given easing parses.
            easing: img.easing.as_deref().or(r.easing.as_deref()).and_then(EasingType::parse).unwrap_or_default(),
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
        RefContext {
            allow_loopback_http: false,
            bucket: Some("media".into()),
            tenant_prefix: Some("t/acme/".into()),
            other_prefixes: vec!["t/other/".into()],
        }
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
        // No easing asked: linear, as zoompan moved.
        assert!(t.clips.iter().all(|c| c.easing == EasingType::Linear));
    }

    #[test]
    fn img2vid_easing_per_request_and_per_image() {
        let req = Operation::Img2vid
            .parse(
                br#"{"images":[{"image_url":"r2://t/acme/a.jpg","duracao":1},
                                  {"image_url":"r2://t/acme/b.jpg","duracao":1,"easing":"linear"}],
                        "easing":"ease-in-out"}"#,
            )
            .unwrap();
        let Task::Img2vid(t) = plan(&req, "j", &ctx()).unwrap().task else { panic!("img2vid task") };
        assert_eq!(t.clips.iter().map(|c| c.easing).collect::<Vec<_>>(), [EasingType::EaseInOut, EasingType::Linear]);
        // Tasks from before easing existed (no field) still parse, as linear.
        let old = r#"{"id":"1","input":"image_1","output":"video_1","frames":24,"zoom":"zoomin"}"#;
        let clip: ClipTask = serde_json::from_str(old).unwrap();
        assert_eq!(clip.easing, EasingType::Linear);
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
    }

    /// Seed 004's example body, keys relative to the tenant (`s3://media/` for its
    /// `s3://videos/`): the r2 URIs win over the http URLs, inline segments over
    /// `segments_uri`; nothing to stage.
    #[test]
    fn plans_the_seed_segmentation_example() {
        let body = br#"{"job_id":"job-123","master_audio_r2_uri":"s3://media/t/acme/pipelines/job-123/inputs/audio/master.m4a",
            "presenter_image_r2_uri":"s3://media/t/acme/pipelines/job-123/inputs/image/presenter.png",
            "master_audio_http_url":"https://example.com/master.m4a","presenter_image_http_url":"https://example.com/presenter.png",
            "segments":[{"start_sec":0,"duration_sec":6.2},{"start_sec":6.2,"duration_sec":5.8}],
            "segments_uri":"s3://media/t/acme/pipelines/job-123/stage/segmentation/segments.json"}"#;
        let req = Operation::PipelineSegment.parse(body).unwrap();
        let p = plan(&req, "j", &ctx()).unwrap();
        let master = "t/acme/pipelines/job-123/inputs/audio/master.m4a";
        assert_eq!(p.inputs, vec![PlannedInput { name: "master".into(), source: MediaRef::Object { key: master.into() } }]);
        let dir = "t/acme/pipelines/job-123/stage/segmentation/audio_segments";
        assert_eq!(
            p.outputs,
            (0..2)
                .map(|i| PlannedOutput {
                    name: format!("segment_{i}"),
                    key: format!("{dir}/segment_{i}.wav"),
                    content_type: "audio/wav".into()
                })
                .collect::<Vec<_>>()
        );
        assert_eq!(
            p.task,
            Task::SegmentAudio(SegmentAudioTask {
                pipeline_id: "job-123".into(),
                segments: vec![
                    SegmentCut { index: 0, start_sec: 0.0, duration_sec: 6.2 },
                    SegmentCut { index: 1, start_sec: 6.2, duration_sec: 5.8 },
                ],
                master_key: master.into(),
                stage_master: false,
                presenter_key: Some("t/acme/pipelines/job-123/inputs/image/presenter.png".into()),
                stage_presenter: false,
                expected: 2,
            })
        );
        assert_eq!(segment_key("t/acme/", "job-123", 7), format!("{dir}/segment_7.wav"));
    }

    #[test]
    fn plans_staging_of_url_sources() {
        let body = br#"{"job_id":"ep1","master_audio_http_url":"https://x.example/audio/Master.MP3?sig=1",
            "presenter_image_http_url":"https://x.example/face","segments":[{"start":1.5,"duration":2}]}"#;
        let p = plan(&Operation::PipelineSegment.parse(body).unwrap(), "j", &ctx()).unwrap();
        assert_eq!(p.inputs.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(), ["master", "presenter"]);
        assert_eq!(p.inputs[0].source, MediaRef::Url("https://x.example/audio/Master.MP3?sig=1".into()));
        let outs: Vec<(&str, &str, &str)> = p.outputs.iter().map(|o| (o.name.as_str(), o.key.as_str(), o.content_type.as_str())).collect();
        assert_eq!(
            outs,
            [
                ("staged_master", "t/acme/pipelines/ep1/inputs/audio/master.mp3", "audio/mpeg"),
                ("staged_presenter", "t/acme/pipelines/ep1/inputs/image/presenter.bin", "application/octet-stream"),
                ("segment_0", "t/acme/pipelines/ep1/stage/segmentation/audio_segments/segment_0.wav", "audio/wav"),
            ]
        );
        let Task::SegmentAudio(t) = p.task else { panic!("segment task") };
        assert!(t.stage_master && t.stage_presenter);
        assert_eq!(t.master_key, "t/acme/pipelines/ep1/inputs/audio/master.mp3");
        assert_eq!(t.segments, [SegmentCut { index: 0, start_sec: 1.5, duration_sec: 2.0 }]);
        assert_eq!(t.check(), Ok(()));
        // segments_uri alone: the caller reads it first; unread, planning refuses.
        let body = br#"{"job_id":"ep1","master_audio_uri":"r2://t/acme/m.wav","segments_uri":"r2://t/acme/segs.json"}"#;
        let req = Operation::PipelineSegment.parse(body).unwrap();
        let crate::OpRequest::PipelineSegment(r) = &req.op else { panic!() };
        assert_eq!(r.pending_segments_uri(), Some("r2://t/acme/segs.json"));
        assert!(matches!(plan(&req, "j", &ctx()), Err(PlanError::Invalid(p)) if p[0].code == "unresolved"));
    }

    #[test]
    fn segment_samples_round_to_the_nearest() {
        let c = SegmentCut { index: 0, start_sec: 6.2, duration_sec: 5.8 };
        assert_eq!(c.samples(44_100), (273_420, 255_780));
        assert_eq!(SegmentCut { index: 0, start_sec: 0.00001, duration_sec: 0.00001 }.samples(48_000), (0, 1));
        assert_eq!(SegmentCut { index: 0, start_sec: 1.0 / 3.0, duration_sec: 0.5 }.samples(48_000), (16_000, 24_000));
    }

    #[test]
    fn plans_transcribe() {
        let tr = Operation::Transcribe.parse(br#"{"audio_url":"r2://t/acme/voice.mp3","path":"ep1/subs"}"#).unwrap();
        let p = plan(&tr, "j", &ctx()).unwrap();
        assert_eq!(p.inputs, vec![PlannedInput { name: "audio".into(), source: MediaRef::Object { key: "t/acme/voice.mp3".into() } }]);
        let out = |name: &str, key: &str, content_type: &str| PlannedOutput {
            name: name.into(),
            key: key.into(),
            content_type: content_type.into(),
        };
        assert_eq!(
            p.outputs,
            vec![
                out("segments_srt", "t/acme/ep1/subs/segments.srt", "application/x-subrip"),
                out("segments_json", "t/acme/ep1/subs/segments.json", "application/json"),
                out("words_json", "t/acme/ep1/subs/words.json", "application/json"),
                out("karaoke_ass", "t/acme/ep1/subs/karaoke.ass", "text/x-ssa"),
            ]
        );
        // Defaults: the worker's model, detected language, VAD on, beam 5, temperature 0.
        assert_eq!(
            p.task,
            Task::Transcribe(TranscribeTask { model: None, language: None, enable_vad: true, beam_size: 5, temperature: 0.0 })
        );
        let tr = Operation::Transcribe
            .parse(
                br#"{"url_audio":"https://x.example/a.mp3","model":"base","language":"pt","enable_vad":false,"beam_size":1,"temperature":0.2}"#,
            )
            .unwrap();
        let p = plan(&tr, "j3", &ctx()).unwrap();
        assert_eq!(p.outputs[2].key, "t/acme/jobs/j3/words.json");
        assert_eq!(
            p.task,
            Task::Transcribe(TranscribeTask {
                model: Some("base".into()),
                language: Some("pt".into()),
                enable_vad: false,
                beam_size: 1,
                temperature: 0.2,
            })
        );
        // `auto` is detection.
        let tr = Operation::Transcribe.parse(br#"{"audio_url":"https://x.example/a.mp3","language":"auto"}"#).unwrap();
        let Task::Transcribe(t) = plan(&tr, "j", &ctx()).unwrap().task else { panic!("transcribe task") };
        assert_eq!(t.language, None);
        assert_eq!(t.check(), Ok(()));
    }

    #[test]
    fn plans_transcribe_youtube() {
        let req = Operation::TranscribeYoutube
            .parse(br#"{"url":"https://www.youtube.com/shorts/dQw4w9WgXcQ?si=x","language":"pt-BR","path":"yt/ep1"}"#)
            .unwrap();
        let p = plan(&req, "j", &ctx()).unwrap();
        assert!(p.inputs.is_empty());
        let outs: Vec<(&str, &str)> = p.outputs.iter().map(|o| (o.name.as_str(), o.key.as_str())).collect();
        assert_eq!(
            outs,
            [
                ("segments_srt", "t/acme/yt/ep1/segments.srt"),
                ("segments_json", "t/acme/yt/ep1/segments.json"),
                ("words_json", "t/acme/yt/ep1/words.json"),
                ("karaoke_ass", "t/acme/yt/ep1/karaoke.ass"),
            ]
        );
        assert_eq!(
            p.task,
            Task::TranscribeYoutube(TranscribeYoutubeTask { video_id: "dQw4w9WgXcQ".into(), language: Some("pt-BR".into()) })
        );
        assert!(!p.task.runs_on_edge());
        // The seed's example: a bare URL, no path.
        let req = Operation::TranscribeYoutube.parse(br#"{"url":"https://www.youtube.com/watch?v=dQw4w9WgXcQ"}"#).unwrap();
        let p = plan(&req, "j9", &ctx()).unwrap();
        assert_eq!(p.outputs[0].key, "t/acme/jobs/j9/segments.srt");
        let Task::TranscribeYoutube(t) = &p.task else { panic!("youtube task") };
        assert_eq!((t.video_id.as_str(), t.language.as_deref(), t.check()), ("dQw4w9WgXcQ", None, Ok(())));
    }

    #[test]
    fn plans_image_operations_for_the_edge() {
        let req = Operation::ImagePrompts
            .parse(br#"{"cenas":[{"index":2,"texto":"b"},{"index":1,"texto":"a"}],"estilo":"s","detalhe_estilo":"d","roteiro":"r","agente":"g"}"#)
            .unwrap();
        let p = plan(&req, "j", &ctx()).unwrap();
        assert!(p.inputs.is_empty() && p.outputs.is_empty() && p.task.runs_on_edge());
        let Task::ImagePrompts(t) = &p.task else { panic!("prompts task") };
        assert_eq!(t.scenes.iter().map(|s| s.index).collect::<Vec<_>>(), [2, 1]);
        assert_eq!(
            (t.style.as_deref(), t.style_detail.as_deref(), t.script.as_deref(), t.agent.as_deref()),
            (Some("s"), Some("d"), Some("r"), Some("g"))
        );

        let req = Operation::ImageGenerate
            .parse(br#"{"prompts":[{"index":3,"prompt":" a red fox "},{"index":1,"prompt":"a blue owl"}],"altura":576,"path":"ep1/img"}"#)
            .unwrap();
        let p = plan(&req, "j", &ctx()).unwrap();
        assert!(p.inputs.is_empty() && p.task.runs_on_edge());
        let outs: Vec<(&str, &str, &str)> = p.outputs.iter().map(|o| (o.name.as_str(), o.key.as_str(), o.content_type.as_str())).collect();
        assert_eq!(
            outs,
            [("image_3", "t/acme/ep1/img/image_3.jpg", "image/jpeg"), ("image_1", "t/acme/ep1/img/image_1.jpg", "image/jpeg")]
        );
        assert_eq!(
            p.task,
            Task::ImageGenerate(ImageGenerateTask {
                model: DEFAULT_IMAGE_MODEL.into(),
                width: DEFAULT_IMAGE_SIZE,
                height: 576,
                negative_prompt: None,
                format: ImageFormat::Jpg,
                images: vec![
                    ImageJob { index: 3, prompt: "a red fox".into(), output: "image_3".into() },
                    ImageJob { index: 1, prompt: "a blue owl".into(), output: "image_1".into() },
                ],
            })
        );
        let req = Operation::ImageGenerate
            .parse(br#"{"prompts":["x1","y2"],"model":"civitai:4384@130072","width":1344,"height":768,"output_format":"webp","negative_prompt":"blurry"}"#)
            .unwrap();
        let p = plan(&req, "j2", &ctx()).unwrap();
        assert_eq!(p.outputs[1].key, "t/acme/jobs/j2/image_2.webp");
        let Task::ImageGenerate(t) = p.task else { panic!("generate task") };
        assert_eq!((t.model.as_str(), t.width, t.height, t.format), ("civitai:4384@130072", 1344, 768, ImageFormat::Webp));
        assert_eq!(t.negative_prompt.as_deref(), Some("blurry"));
    }

    const RENDER: &[u8] = br##"{"scenes":[
            {"id":"intro","image_url":"r2://t/acme/in/a.jpg","duration":3,"easing":"ease_in_out"},
            {"url":"https://cdn.example.com/b.png","duracao":1.5,"zoom":"zoompanright"},
            {"image_url":"r2://t/acme/in/c.jpg","duration":2.02},
            {"image_url":"r2://t/acme/in/d.jpg","duration":1}],
        "narration_url":"r2://t/acme/voice.mp3",
        "trilha_sonora":"https://cdn.example.com/music.mp3",
        "captions":{"type":"highlight","url":"r2://t/acme/words.json","uppercase":true,"style":{"fonte":"Inter"}},
        "zoom_types":["zoomin","zoomout"],"frame_rate":30,"orientation":"portrait","path":"shorts/ep1/"}"##;

    #[test]
    fn plans_render() {
        let req = Operation::Render.parse(RENDER).unwrap();
        let p = plan(&req, "job-1", &ctx()).unwrap();
        let obj = |k: &str| MediaRef::Object { key: k.into() };
        let input = |name: &str, source| PlannedInput { name: name.into(), source };
        assert_eq!(
            p.inputs,
            vec![
                input("scene_1", obj("t/acme/in/a.jpg")),
                input("scene_2", MediaRef::Url("https://cdn.example.com/b.png".into())),
                input("scene_3", obj("t/acme/in/c.jpg")),
                input("scene_4", obj("t/acme/in/d.jpg")),
                input("narration", obj("t/acme/voice.mp3")),
                input("music", MediaRef::Url("https://cdn.example.com/music.mp3".into())),
                input("captions", obj("t/acme/words.json")),
            ]
        );
        assert_eq!(
            p.outputs,
            vec![PlannedOutput { name: "output".into(), key: "t/acme/shorts/ep1/render.mp4".into(), content_type: "video/mp4".into() }]
        );
        // Scenes 1, 3 and 4 draw from zoom_types with the job's seed; scene 2 keeps its own.
        let drawn = distribute_zooms(3, &[ZoomType::Zoomin, ZoomType::Zoomout], seed_from("job-1"));
        assert_eq!(drawn, [ZoomType::Zoomin, ZoomType::Zoomout, ZoomType::Zoomin]);
        let scene = |id: &str, n: u32, frames, seconds, zoom, easing| RenderScene {
            id: id.into(),
            input: format!("scene_{n}"),
            frames,
            seconds,
            zoom,
            easing,
        };
        let style = crate::ops::StyleOptions { fonte: Some("Inter".into()), ..Default::default() };
        assert_eq!(
            p.task,
            Task::Render(RenderTask {
                width: 1080,
                height: 1920,
                frame_rate: 30,
                scenes: vec![
                    scene("intro", 1, 90, 3.0, drawn[0], EasingType::EaseInOut),
                    scene("2", 2, 45, 1.5, ZoomType::Zoompanright, EasingType::Linear),
                    scene("3", 3, 61, 2.02, drawn[1], EasingType::Linear),
                    scene("4", 4, 30, 1.0, drawn[2], EasingType::Linear),
                ],
                narration: true,
                fit_to_narration: true,
                music: Some(MusicTask { reduction_db: DEFAULT_VIDEO_MUSIC_REDUCTION_DB }),
                captions: Some(CaptionTask { mode: CaptionMode::Highlight { style }, uppercase: true }),
            })
        );
        // The same job id replays the same zooms; the plan's task is what the worker gets.
        assert_eq!(plan(&req, "job-1", &ctx()).unwrap(), p);
        let Task::Render(t) = &p.task else { panic!("render task") };
        assert_eq!(t.input_names(), p.inputs.iter().map(|i| i.name.clone()).collect::<Vec<_>>());
        assert_eq!(t.check(), Ok(()));
    }

    #[test]
    fn plans_a_bare_render() {
        let req = Operation::Render
            .parse(
                br#"{"scenes":[{"image_url":"r2://t/acme/a.jpg","duration":2},{"image_url":"r2://t/acme/b.jpg","duration":2}],
                        "music_url":"r2://t/acme/m.mp3","volume_reduction_db":12,"captions":{"type":"segments","url":"r2://t/acme/s.srt"},
                        "output_filename":"final.mp4"}"#,
            )
            .unwrap();
        let p = plan(&req, "j5", &ctx()).unwrap();
        assert_eq!(p.inputs.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(), ["scene_1", "scene_2", "music", "captions"]);
        assert_eq!(p.outputs[0].key, "t/acme/jobs/j5/final.mp4");
        let Task::Render(t) = p.task else { panic!("render task") };
        assert_eq!((t.width, t.height, t.frame_rate), (1920, 1080, 24));
        assert_eq!(t.scenes.iter().map(|s| (s.frames, s.easing)).collect::<Vec<_>>(), [(48, EasingType::Linear); 2]);
        assert_eq!(t.scenes.iter().map(|s| s.zoom).collect::<Vec<_>>(), distribute_zooms(2, &ZoomType::ALL, seed_from("j5")));
        assert!(!t.narration && !t.fit_to_narration);
        assert_eq!(t.music, Some(MusicTask { reduction_db: 12.0 }));
        assert_eq!(t.captions, Some(CaptionTask { mode: CaptionMode::Segments { style: Default::default() }, uppercase: false }));
        // A narration fitted by default, or kept as is on request.
        let with = |extra: &str| {
            let body =
                format!(r#"{{"scenes":[{{"image_url":"r2://t/acme/a.jpg","duration":2}}],"narration_url":"r2://t/acme/n.mp3"{extra}}}"#);
            let Task::Render(t) = plan(&Operation::Render.parse(body.as_bytes()).unwrap(), "j", &ctx()).unwrap().task else { panic!() };
            (t.narration, t.fit_to_narration, t.music, t.captions)
        };
        assert_eq!(with(""), (true, true, None, None));
        assert_eq!(with(r#","fit_to_narration":false"#), (true, false, None, None));
        // Invalid requests are refused before planning.
        let bad =
            Operation::Render.parse(br#"{"scenes":[{"image_url":"r2://t/acme/a.jpg","duration":2}],"fit_to_narration":true}"#).unwrap();
        assert!(matches!(plan(&bad, "j", &ctx()), Err(PlanError::Invalid(p)) if p[0].field == "narration_url"));
    }

    #[test]
    fn render_zooms_are_deterministic_per_job() {
        let body = format!(r#"{{"scenes":[{}]}}"#, [r#"{"image_url":"r2://t/acme/a.jpg","duration":1}"#; 9].join(","));
        let req = Operation::Render.parse(body.as_bytes()).unwrap();
        let zooms = |job: &str| {
            let Task::Render(t) = plan(&req, job, &ctx()).unwrap().task else { panic!("render task") };
            t.scenes.iter().map(|s| s.zoom).collect::<Vec<_>>()
        };
        let a = zooms("job-a");
        assert_eq!(a, zooms("job-a"));
        assert_eq!(a, distribute_zooms(9, &ZoomType::ALL, seed_from("job-a")));
        for t in ZoomType::ALL {
            assert_eq!(a.iter().filter(|z| **z == t).count(), 3, "{t:?}");
        }
        assert_ne!(a, zooms("job-b"), "another job, another order");
    }
}
