//! End-to-end happy path of every implemented operation other than the
//! img2vid → concatenate → addaudio chain (covered by `e2e.rs`), through the real local
//! stack: client → edge under `wrangler dev` → `gpu-worker serve` → ffmpeg → s3s-fs.
//!
//! Tiny inputs are made with lavfi, uploaded under the tenant's prefix and referenced
//! as `r2://` keys. Every job is submitted at once (the tenant runs 4 at a time, the
//! rest wait in its queue); each is then checked as a user would: COMPLETED, the output
//! downloads from the result's URL, its key is under the tenant's prefix, and ffprobe /
//! ffmpeg say the media is what was asked for. A failing operation does not hide the
//! others: all are reported together.
//!
//! `#[ignore]`d in a plain `cargo test`; `make test` runs them against a fresh stack.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use common::{Stack, ffmpeg, ffprobe, stack, tempfile_dir, unique};
use serde_json::{Value, json};

/// Frame size and rate of the main test video.
const W: usize = 320;
const H: usize = 240;
/// The frame compared between a video and its captioned version (0.5 s at 24 fps).
const FRAME: u32 = 12;

/// What every case shares: the stack, the run's folder and the uploaded inputs' keys.
struct Ctx {
    s: Stack,
    run: String,
    dir: PathBuf,
    /// 320×240, 24 fps, 2 s (48 frames), AAC audio: a 440 Hz tone for 1 s, then silence.
    video: String,
    /// 640×360, 24 fps, 1 s, AAC tone.
    big: String,
    /// Two cues (0–0.9 s, 0.9–1.9 s).
    srt: String,
    /// Words JSON for karaoke, three words over 0–1.8 s.
    words: String,
    /// WAV, 2 s: a 440 Hz tone for 1 s, then silence.
    voice: String,
    /// MP3, 0.8 s, 880 Hz (shorter than everything it goes under, so it loops).
    music: String,
    /// WAV, 4 s, 330 Hz.
    narration: String,
}

impl Ctx {
    fn r2(key: &str) -> String {
        format!("r2://{key}")
    }

    /// The output folder (`path`) of one case, relative to the tenant's prefix.
    fn path(&self, case: &str) -> String {
        format!("e2e-ops/{}/{case}", self.run)
    }

    /// The key an output of `case` named `filename` must land at.
    fn key(&self, case: &str, filename: &str) -> String {
        format!("{}{}/{filename}", self.s.prefix, self.path(case))
    }
}

/// A finished job and its downloaded output.
struct Done {
    job: Value,
    file: PathBuf,
}

impl Done {
    fn result(&self) -> &Value {
        &self.job["result"]
    }
}

/// Submits `body` to `path`, waits for the job, and checks what every operation
/// promises: 202, the operation's name, COMPLETED, the output at `want_key` (under the
/// tenant's prefix), downloadable from `result.url` (and `video_url`/`audio_url`), of
/// `result.bytes` bytes.
async fn run_job(c: &Ctx, path: &str, operation: &str, mut body: Value, want_key: &str) -> Done {
    let s = &c.s;
    // The fields every request may carry come back on the job.
    body["id_roteiro"] = json!(42);
    body["metadata"] = json!({"case": want_key});
    let (status, job) = s.post(path, Some(&s.key), &body).await;
    assert_eq!(status, 202, "POST {path} {body}: {job}");
    assert_eq!(job["operation"], operation, "{job}");
    let id = job["jobId"].as_str().unwrap_or_else(|| panic!("no jobId: {job}")).to_owned();
    let job = s.wait_done(&id).await;
    assert_eq!(job["status"], "COMPLETED", "{path}: {job:#}");
    assert_eq!(job["operation"], operation, "{job}");
    assert_eq!((job["idRoteiro"].as_i64(), job["metadata"]["case"].as_str()), (Some(42), Some(want_key)), "echoed: {job}");
    assert_eq!(job["attempts"], 1, "{job}");
    assert!(job["completedAt"].is_string() && job["execution"]["durationMs"].is_u64(), "{job}");
    let r = &job["result"];
    assert!(want_key.starts_with(&s.prefix), "{want_key}");
    assert_eq!(r["s3_key"].as_str(), Some(want_key), "output key: {job}");
    assert_eq!(r["filename"].as_str(), want_key.rsplit('/').next(), "{job}");
    let url = r["url"].as_str().unwrap_or_else(|| panic!("no result.url: {job}"));
    let content_type = r["content_type"].as_str().unwrap_or_default();
    for kind in ["video", "audio"] {
        if content_type.starts_with(&format!("{kind}/")) {
            assert_eq!(r[format!("{kind}_url")].as_str(), Some(url), "{kind}_url: {job}");
        }
    }
    let resp = s.http.get(url).send().await.unwrap();
    assert_eq!(resp.status(), 200, "GET result.url: {job}");
    let bytes = resp.bytes().await.unwrap();
    assert_eq!(Some(bytes.len() as u64), r["bytes"].as_u64(), "result.bytes vs the download: {job}");
    let file = c.dir.join(format!("{}-{}", operation.replace('/', "_"), want_key.rsplit('/').next().unwrap()));
    std::fs::write(&file, &bytes).unwrap();
    Done { job, file }
}

// ---------------------------------------------------------------- media checks

fn num(v: &Value) -> Option<f64> {
    v.as_f64().or_else(|| v.as_str()?.parse().ok())
}

/// `codec_type/codec_name` of every stream, in order.
fn streams(probe: &Value) -> Vec<String> {
    probe["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|st| format!("{}/{}", st["codec_type"].as_str().unwrap_or_default(), st["codec_name"].as_str().unwrap_or_default()))
        .collect()
}

fn stream<'a>(probe: &'a Value, kind: &str) -> &'a Value {
    probe["streams"].as_array().unwrap().iter().find(|st| st["codec_type"] == kind).unwrap_or_else(|| panic!("no {kind} stream: {probe}"))
}

fn format_secs(probe: &Value) -> f64 {
    num(&probe["format"]["duration"]).unwrap()
}

fn stream_secs(st: &Value) -> f64 {
    num(&st["duration"]).unwrap_or_else(|| panic!("no duration: {st}"))
}

fn packets(st: &Value) -> u64 {
    num(&st["nb_read_packets"]).unwrap() as u64
}

fn close(got: f64, want: f64, tol: f64) -> bool {
    (got - want).abs() <= tol
}

/// The loudest sample (dBFS, volumedetect) of the first audio stream within
/// `[from, from + len)` seconds (to the end when `len` is None); about -91 for silence.
fn max_volume(path: &Path, from: f64, len: Option<f64>) -> f64 {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-nostats", "-nostdin", "-i"]).arg(path);
    let mut af = format!("atrim=start={from}");
    if let Some(l) = len {
        af.push_str(&format!(":duration={l}"));
    }
    af.push_str(",volumedetect");
    cmd.args(["-map", "0:a:0", "-af", &af, "-f", "null", "-"]);
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "volumedetect {}: {stderr}", path.display());
    stderr
        .lines()
        .find_map(|l| l.split("max_volume:").nth(1)?.trim().strip_suffix("dB")?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no max_volume for {}: {stderr}", path.display()))
}

/// Seconds of audio a player plays: decoded samples over the rate. (ffprobe's
/// duration of an MP3 also counts the encoder's delay and padding, about 45 ms.)
fn decoded_secs(path: &Path) -> f64 {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostats", "-nostdin", "-i"])
        .arg(path)
        .args(["-map", "0:a:0", "-af", "astats=measure_perchannel=none:measure_overall=Number_of_samples", "-f", "null", "-"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "astats {}: {stderr}", path.display());
    let samples: f64 = stderr
        .lines()
        .find_map(|l| l.split("Number of samples:").nth(1)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no sample count for {}: {stderr}", path.display()));
    let rate = num(&stream(&ffprobe(path), "audio")["sample_rate"]).unwrap();
    samples / rate
}

/// Frame `n` of a video as 8-bit gray, scaled to `W`×`H`.
fn gray_frame(path: &Path, n: u32) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-i"])
        .arg(path)
        .args(["-vf", &format!("select=eq(n\\,{n}),scale={W}:{H}"), "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "gray", "-"])
        .output()
        .unwrap();
    assert!(out.status.success() && out.stdout.len() == W * H, "frame {n} of {}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// Share of the pixels in `rows` that differ by more than a coding error between two
/// frames: text burned in there shows up, re-encoding noise does not.
fn changed(a: &[u8], b: &[u8], rows: Range<usize>) -> f64 {
    let px = rows.len() * W;
    let n = rows.flat_map(|y| (0..W).map(move |x| y * W + x)).filter(|&i| a[i].abs_diff(b[i]) > 40).count();
    n as f64 / px as f64
}

/// Top and bottom thirds' changed share between frame [`FRAME`] of `before` and `after`.
fn caption_bands(before: &Path, after: &Path) -> (f64, f64) {
    let (a, b) = (gray_frame(before, FRAME), gray_frame(after, FRAME));
    (changed(&a, &b, 0..H / 3), changed(&a, &b, H - H / 3..H))
}

/// Text burned into `band` (the other third stays as it was).
fn assert_burned(done: &Done, before: &Path, top: bool) {
    let (t, b) = caption_bands(before, &done.file);
    let (hit, other, name) = if top { (t, b, "top") } else { (b, t, "bottom") };
    assert!(hit > 0.005 && hit > 4.0 * other, "captions burned in the {name} third: changed top {t:.4}, bottom {b:.4}; {}", done.job);
}

/// The video stream: h264, `w`×`h`, square pixels, `frames` frames (±`slack`).
fn assert_video(done: &Done, probe: &Value, (w, h): (u64, u64), frames: u64, slack: u64) {
    let job = &done.job;
    let v = stream(probe, "video");
    assert_eq!(v["codec_name"], "h264", "{probe}\n{job}");
    assert_eq!((v["width"].as_u64(), v["height"].as_u64()), (Some(w), Some(h)), "size: {job}");
    assert!(matches!(v["sample_aspect_ratio"].as_str(), None | Some("1:1" | "0:1")), "SAR {}: {job}", v["sample_aspect_ratio"]);
    assert!(packets(v).abs_diff(frames) <= slack, "{} frames, want {frames}: {job}", packets(v));
}

// ---------------------------------------------------------------- inputs

fn write_inputs(dir: &Path) {
    let p = |n: &str| dir.join(n).to_str().unwrap().to_owned();
    let x264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "48", "-c:a", "aac", "-b:a", "96k"];
    let (video, big) = (p("video.mp4"), p("big.mp4"));
    let tone_then_silence =
        ["-f", "lavfi", "-i", "testsrc2=s=320x240:r=24:d=2", "-f", "lavfi", "-i", "sine=f=440:d=1:sample_rate=48000,apad=whole_dur=2"];
    ffmpeg(&[&tone_then_silence[..], &x264, &["-t", "2", &video]].concat());
    ffmpeg(
        &[
            &["-f", "lavfi", "-i", "testsrc2=s=640x360:r=24:d=1", "-f", "lavfi", "-i", "sine=f=550:d=1:sample_rate=48000"][..],
            &x264,
            &["-t", "1", &big],
        ]
        .concat(),
    );
    ffmpeg(&["-f", "lavfi", "-i", "sine=f=440:d=1,apad=whole_dur=2", "-c:a", "pcm_s16le", &p("voice.wav")]);
    ffmpeg(&["-f", "lavfi", "-i", "sine=f=880:d=0.8", "-c:a", "libmp3lame", "-b:a", "128k", &p("music.mp3")]);
    ffmpeg(&["-f", "lavfi", "-i", "sine=f=330:d=4", "-c:a", "pcm_s16le", &p("narration.wav")]);
    std::fs::write(
        dir.join("captions.srt"),
        "1\n00:00:00,000 --> 00:00:00,900\nHello captions\n\n2\n00:00:00,900 --> 00:00:01,900\nSecond cue here\n",
    )
    .unwrap();
    let words = json!({"words": [
        {"word": "hello", "start": 0.0, "end": 0.6},
        {"word": "karaoke", "start": 0.6, "end": 1.2},
        {"word": "words", "start": 1.2, "end": 1.8}
    ]});
    std::fs::write(dir.join("words.json"), words.to_string()).unwrap();
    // Incompressible bytes for objects/stage.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let blob: Vec<u8> = (0..40_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    std::fs::write(dir.join("blob.bin"), blob).unwrap();
}

async fn setup() -> Ctx {
    let s = stack();
    let run = unique("ops");
    let local = tempfile_dir();
    write_inputs(&local);
    // The fixtures are what the checks assume: tone then silence in the video and voice.
    for f in ["video.mp4", "voice.wav"] {
        let (head, tail) = (max_volume(&local.join(f), 0.1, Some(0.8)), max_volume(&local.join(f), 1.2, None));
        assert!(head > -25.0 && tail < -80.0, "fixture {f}: head {head} dB, tail {tail} dB");
    }
    let key = |n: &str| format!("{}inputs/{run}/{n}", s.prefix);
    for n in ["video.mp4", "big.mp4", "captions.srt", "words.json", "voice.wav", "music.mp3", "narration.wav", "blob.bin"] {
        s.upload(&key(n), &local.join(n)).await;
    }
    Ctx {
        video: key("video.mp4"),
        big: key("big.mp4"),
        srt: key("captions.srt"),
        words: key("words.json"),
        voice: key("voice.wav"),
        music: key("music.mp3"),
        narration: key("narration.wav"),
        dir: local,
        run,
        s,
    }
}

// ---------------------------------------------------------------- one case per operation

/// `/video/caption`: the SRT burned in at the bottom (default style); frames, size and
/// audio kept.
async fn caption(c: Arc<Ctx>) {
    let body = json!({"url_video": Ctx::r2(&c.video), "url_srt": Ctx::r2(&c.srt), "path": c.path("caption")});
    let d = run_job(&c, "/video/caption", "video/caption", body, &c.key("caption", "video_with_captions.mp4")).await;
    let probe = ffprobe(&d.file);
    assert_eq!(streams(&probe), ["video/h264", "audio/aac"], "{}", d.job);
    assert_video(&d, &probe, (320, 240), 48, 0);
    assert!(close(format_secs(&probe), 2.0, 0.05), "duration {}: {}", format_secs(&probe), d.job);
    assert_eq!(d.result()["frames"], 48, "{}", d.job);
    assert_burned(&d, &c.dir.join("video.mp4"), false);
}

/// `/video/caption_style` `segments`: an SRT with a style placing it at the top.
async fn caption_style_segments(c: Arc<Ctx>) {
    let body = json!({
        "url_video": Ctx::r2(&c.video),
        "url_caption": Ctx::r2(&c.srt),
        "path": c.path("segments"),
        "output_filename": "styled.mp4",
        "type": "segments",
        "uppercase": true,
        "style": {
            "font": {"name": "DejaVu Sans", "size": 22, "bold": true, "italic": false},
            "colors": {"primary": "#FFFF00", "outline": "#000000", "background": "#000000"},
            "opacity": {"primary": 100, "background": 50},
            "border": {"style": 1, "width": 2},
            "position": {"alignment": "top_center", "marginVertical": 10}
        }
    });
    let d = run_job(&c, "/video/caption_style", "video/caption_style", body, &c.key("segments", "styled.mp4")).await;
    let probe = ffprobe(&d.file);
    assert_eq!(streams(&probe), ["video/h264", "audio/aac"], "{}", d.job);
    assert_video(&d, &probe, (320, 240), 48, 0);
    assert!(close(format_secs(&probe), 2.0, 0.05), "duration {}: {}", format_secs(&probe), d.job);
    assert_burned(&d, &c.dir.join("video.mp4"), true);
}

/// `/video/caption_style` `highlight`: word-by-word karaoke from a words JSON, at the bottom.
async fn caption_style_highlight(c: Arc<Ctx>) {
    let body = json!({
        "url_video": Ctx::r2(&c.video),
        "url_caption": Ctx::r2(&c.words),
        "path": c.path("highlight"),
        "type": "highlight",
        "style": {
            "fonte": "DejaVu Sans", "tamanho_fonte": 22,
            "fundo_cor": "#000000", "fundo_opacidade": 80, "fundo_arredondado": true,
            "texto_cor": "#FFFFFF", "highlight_texto_cor": "#FFFF00", "highlight_cor": "#FF0000", "highlight_borda": 4,
            "padding_horizontal": 8, "padding_vertical": 4,
            "position": "bottom_center", "words_per_line": 2, "max_lines": 1
        }
    });
    let d = run_job(&c, "/video/caption_style", "video/caption_style", body, &c.key("highlight", "video_with_captions.mp4")).await;
    let probe = ffprobe(&d.file);
    assert_eq!(streams(&probe), ["video/h264", "audio/aac"], "{}", d.job);
    assert_video(&d, &probe, (320, 240), 48, 0);
    assert!(close(format_secs(&probe), 2.0, 0.05), "duration {}: {}", format_secs(&probe), d.job);
    assert_burned(&d, &c.dir.join("video.mp4"), false);
}

/// `/video/trilhasonora`: the music (0.8 s) looped under the video's voice, 20 dB below
/// it by default; the video stream copied.
async fn video_trilhasonora(c: Arc<Ctx>) {
    let body = json!({"url_video": Ctx::r2(&c.video), "trilha_sonora": Ctx::r2(&c.music), "path": c.path("vtrilha")});
    let d = run_job(&c, "/video/trilhasonora", "video/trilhasonora", body, &c.key("vtrilha", "video_with_trilha.mp4")).await;
    let (r, job) = (d.result(), &d.job);
    assert!(num(&r["video_duration"]).is_some_and(|v| close(v, 2.0, 0.05)), "{job}");
    assert!(num(&r["trilha_duration"]).is_some_and(|v| close(v, 0.8, 0.05)), "{job}");
    assert_eq!(r["loops_applied"], 3, "{job}");
    assert_eq!(num(&r["volume_reduction_db"]), Some(20.0), "{job}");
    assert!(num(&r["audio_analysis"]["music_gain_db"]).is_some(), "{job}");
    let probe = ffprobe(&d.file);
    assert_eq!(streams(&probe), ["video/h264", "audio/aac"], "{job}");
    assert_video(&d, &probe, (320, 240), 48, 0);
    assert!(close(stream_secs(stream(&probe, "audio")), 2.0, 0.05), "audio {}: {job}", stream_secs(stream(&probe, "audio")));
    // The video's audio is silent after 1 s: what plays there is the looped music,
    // about 20 dB below the voice.
    let (voice, music) = (max_volume(&d.file, 0.1, Some(0.8)), max_volume(&d.file, 1.2, Some(0.7)));
    assert!(music > -60.0, "music audible under the silent part: {music} dB; {job}");
    assert!(close(voice - music, 20.0, 4.0), "music {music} dB vs voice {voice} dB: want about 20 dB below; {job}");
}

/// `/audio/trilhasonora`: music under a voice track, `db_offset` below it; default name.
async fn audio_trilhasonora(c: Arc<Ctx>) {
    let body = json!({"audio_url": Ctx::r2(&c.voice), "trilha_sonora": Ctx::r2(&c.music), "path": c.path("atrilha"), "db_offset": 15});
    let d = run_job(&c, "/audio/trilhasonora", "audio/trilhasonora", body, &c.key("atrilha", "audio_with_trilha.mp3")).await;
    let (r, job) = (d.result(), &d.job);
    assert_eq!(r["content_type"], "audio/mpeg", "{job}");
    assert_eq!(r["loops_applied"], 3, "{job}");
    assert_eq!(num(&r["db_offset"]), Some(15.0), "{job}");
    let probe = ffprobe(&d.file);
    assert_eq!(streams(&probe), ["audio/mp3"], "{job}");
    let secs = decoded_secs(&d.file);
    assert!(close(secs, 2.0, 0.01), "the voice's 2 s, got {secs}: {job}");
    let (voice, music) = (max_volume(&d.file, 0.1, Some(0.8)), max_volume(&d.file, 1.2, Some(0.7)));
    assert!(music > -60.0, "music audible under the silent part: {music} dB; {job}");
    assert!(close(voice - music, 15.0, 4.0), "music {music} dB vs voice {voice} dB: want about 15 dB below; {job}");
}

/// `/audio/concatenate`: a WAV (2 s) then an MP3 (0.8 s), in order, as MP3.
async fn audio_concatenate(c: Arc<Ctx>) {
    let body = json!({
        "audio_urls": [{"audio_url": Ctx::r2(&c.voice)}, {"audio_url": Ctx::r2(&c.music)}],
        "path": c.path("aconcat")
    });
    let d = run_job(&c, "/audio/concatenate", "audio/concatenate", body, &c.key("aconcat", "concatenated.mp3")).await;
    let job = &d.job;
    let probe = ffprobe(&d.file);
    assert_eq!(streams(&probe), ["audio/mp3"], "{job}");
    let a = stream(&probe, "audio");
    assert_eq!((a["channels"].as_u64(), a["sample_rate"].as_str()), (Some(2), Some("48000")), "{job}");
    let secs = decoded_secs(&d.file);
    assert!(close(secs, 2.8, 0.01), "2 s + 0.8 s, got {secs}: {job}");
    // In order: the voice's silent second, then the music.
    let (gap, music) = (max_volume(&d.file, 1.2, Some(0.6)), max_volume(&d.file, 2.1, Some(0.6)));
    assert!(gap < -60.0 && music > -30.0, "voice then music: 1.2–1.8 s {gap} dB, 2.1–2.7 s {music} dB; {job}");
}

/// `/audio/trim`: 1 s from 0.5 s of the voice (tone to 1 s, then silence).
async fn audio_trim(c: Arc<Ctx>) {
    let body = json!({"source_uri": Ctx::r2(&c.voice), "start_sec": 0.5, "duration_sec": 1.0, "path": c.path("trim")});
    let d = run_job(&c, "/audio/trim", "audio/trim", body, &c.key("trim", "trimmed.mp3")).await;
    let job = &d.job;
    assert!(num(&d.result()["source_duration"]).is_some_and(|v| close(v, 2.0, 0.01)), "{job}");
    let probe = ffprobe(&d.file);
    assert_eq!(streams(&probe), ["audio/mp3"], "{job}");
    let secs = decoded_secs(&d.file);
    assert!(close(secs, 1.0, 0.01), "asked 1.0 s, got {secs}: {job}");
    // Cut from 0.5 s: the tone for its first half, silence after.
    let (tone, silence) = (max_volume(&d.file, 0.05, Some(0.35)), max_volume(&d.file, 0.6, None));
    assert!(tone > -25.0 && silence < -60.0, "from 0.5 s: 0.05–0.4 s {tone} dB, 0.6–1 s {silence} dB; {job}");
}

/// `/runpod/audio/trim` with the English field names, to WAV (exact length).
async fn runpod_alias_audio_trim(c: Arc<Ctx>) {
    let body =
        json!({"audio_url": Ctx::r2(&c.voice), "start": 0.25, "duration": 0.5, "path": c.path("alias"), "output_filename": "cut.wav"});
    let d = run_job(&c, "/runpod/audio/trim", "audio/trim", body, &c.key("alias", "cut.wav")).await;
    let job = &d.job;
    assert_eq!(d.result()["content_type"], "audio/wav", "{job}");
    let probe = ffprobe(&d.file);
    assert_eq!(streams(&probe), ["audio/pcm_s16le"], "{job}");
    let secs = decoded_secs(&d.file);
    assert!(close(secs, 0.5, 0.001), "asked 0.5 s, got {secs}: {job}");
    assert!(close(format_secs(&probe), 0.5, 0.001), "asked 0.5 s, got {}: {job}", format_secs(&probe));
    assert!(max_volume(&d.file, 0.0, None) > -25.0, "the tone: {job}");
}

/// `/video/downsample`: 640×360 to `240p`; frames and audio kept.
async fn downsample(c: Arc<Ctx>) {
    let body = json!({"url_video": Ctx::r2(&c.big), "resolution": "240p", "path": c.path("down")});
    let d = run_job(&c, "/video/downsample", "video/downsample", body, &c.key("down", "video_240p.mp4")).await;
    let job = &d.job;
    let probe = ffprobe(&d.file);
    assert_eq!(streams(&probe), ["video/h264", "audio/aac"], "{job}");
    let v = stream(&probe, "video");
    let width = v["width"].as_u64().unwrap();
    assert!(width.is_multiple_of(2) && width.abs_diff(427) <= 1, "width {width} keeps 16:9 (even): {job}");
    assert_video(&d, &probe, (width, 240), 24, 0);
    assert_eq!((d.result()["width"].as_u64(), d.result()["height"].as_u64()), (Some(width), Some(240)), "{job}");
    assert!(close(format_secs(&probe), 1.0, 0.05), "duration {}: {job}", format_secs(&probe));
}

/// `/video/concat_video_audio`: two clips of different sizes cycled under a 4 s
/// narration, normalised to the first clip's size.
async fn concat_video_audio(c: Arc<Ctx>) {
    let body = json!({
        "video_urls": [{"video_url": Ctx::r2(&c.video)}, {"video_url": Ctx::r2(&c.big)}],
        "url_audio": Ctx::r2(&c.narration),
        "path": c.path("cva"),
        "output_filename": "story.mp4"
    });
    let d = run_job(&c, "/video/concat_video_audio", "video/concat_video_audio", body, &c.key("cva", "story.mp4")).await;
    let (r, job) = (d.result(), &d.job);
    assert_eq!(r["copied"], false, "clips differ: normalised; {job}");
    assert_eq!(r["loops_applied"], 2, "3 s of clips under 4 s: {job}");
    assert!(num(&r["audio_duration"]).is_some_and(|v| close(v, 4.0, 0.01)), "{job}");
    let probe = ffprobe(&d.file);
    assert_eq!(streams(&probe), ["video/h264", "audio/aac"], "{job}");
    assert_video(&d, &probe, (320, 240), 96, 1);
    let audio = stream_secs(stream(&probe, "audio"));
    assert!(close(audio, 4.0, 0.05), "narration kept whole: {audio}; {job}");
    assert!(close(format_secs(&probe), 4.0, 0.06), "duration {}: {job}", format_secs(&probe));
    // The narration, not the clips' own audio (silent after 1 s in the first clip).
    assert!(max_volume(&d.file, 1.2, Some(0.7)) > -30.0, "narration under the clips: {job}");
}

/// `/video/encode`: video + replacement audio (cut to the video) + burned SRT, one pass.
async fn encode(c: Arc<Ctx>) {
    let body = json!({
        "url_video": Ctx::r2(&c.video),
        "url_audio": Ctx::r2(&c.narration),
        "url_subtitles": Ctx::r2(&c.srt),
        "path": c.path("encode")
    });
    let d = run_job(&c, "/video/encode", "video/encode", body, &c.key("encode", "encoded.mp4")).await;
    let job = &d.job;
    let probe = ffprobe(&d.file);
    assert_eq!(streams(&probe), ["video/h264", "audio/aac"], "{job}");
    assert_video(&d, &probe, (320, 240), 48, 0);
    let audio = stream_secs(stream(&probe, "audio"));
    assert!(close(audio, 2.0, 0.05), "audio cut to the video's 2 s: {audio}; {job}");
    // The narration replaced the video's audio (which is silent after 1 s).
    assert!(max_volume(&d.file, 1.2, Some(0.7)) > -30.0, "narration, not the original audio: {job}");
    assert_burned(&d, &c.dir.join("video.mp4"), false);
}

/// `/objects/stage`: an http(s) URL (a presigned GET here) copied byte for byte to a key.
async fn objects_stage(c: Arc<Ctx>) {
    let src = format!("{}inputs/{}/blob.bin", c.s.prefix, c.run);
    let url = edge::presign::presign(
        &c.s.s3,
        edge::presign::Method::Get,
        &src,
        std::time::Duration::from_secs(600),
        std::time::SystemTime::now(),
    )
    .unwrap();
    let dest = c.key("stage", "copy.bin");
    let body = json!({"source_uri": url, "dest_uri": Ctx::r2(&dest)});
    let d = run_job(&c, "/objects/stage", "objects/stage", body, &dest).await;
    let (got, want) = (std::fs::read(&d.file).unwrap(), std::fs::read(c.dir.join("blob.bin")).unwrap());
    assert!(got == want, "staged copy differs ({} vs {} bytes): {}", got.len(), want.len(), d.job);
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn every_operation_happy_path() {
    let c = Arc::new(setup().await);
    let start = Instant::now();
    let cases = vec![
        ("/video/caption", tokio::spawn(caption(c.clone()))),
        ("/video/caption_style segments", tokio::spawn(caption_style_segments(c.clone()))),
        ("/video/caption_style highlight", tokio::spawn(caption_style_highlight(c.clone()))),
        ("/video/trilhasonora", tokio::spawn(video_trilhasonora(c.clone()))),
        ("/audio/trilhasonora", tokio::spawn(audio_trilhasonora(c.clone()))),
        ("/audio/concatenate", tokio::spawn(audio_concatenate(c.clone()))),
        ("/audio/trim", tokio::spawn(audio_trim(c.clone()))),
        ("/runpod/audio/trim", tokio::spawn(runpod_alias_audio_trim(c.clone()))),
        ("/video/downsample", tokio::spawn(downsample(c.clone()))),
        ("/video/concat_video_audio", tokio::spawn(concat_video_audio(c.clone()))),
        ("/video/encode", tokio::spawn(encode(c.clone()))),
        ("/objects/stage", tokio::spawn(objects_stage(c.clone()))),
    ];
    let total = cases.len();
    let mut failed = vec![];
    for (name, handle) in cases {
        if let Err(e) = handle.await {
            let msg = match e.try_into_panic() {
                Ok(p) => {
                    p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned())).unwrap_or_default()
                }
                Err(e) => e.to_string(),
            };
            failed.push(format!("{name}: {msg}"));
        }
    }
    eprintln!("{total} operations in {:.1} s", start.elapsed().as_secs_f64());
    assert!(failed.is_empty(), "{} of {total} operations failed:\n\n{}", failed.len(), failed.join("\n\n"));
}
