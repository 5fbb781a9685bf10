//! End to end: `POST /audio/transcribe` through the real local stack (client → edge under
//! `wrangler dev` → `gpu-worker serve` with Whisper tiny.en → s3s-fs): English speech from
//! espeak-ng uploaded under the tenant's prefix, the four files downloaded through the
//! result's URLs and read the way a user would, then the chain — the produced
//! `words.json` burned as word-by-word karaoke by `caption_style` `highlight`.
//!
//! `#[ignore]`d in a plain `cargo test`; `make test` runs it against a fresh stack (whose
//! worker has the models `scripts/models.sh` installed, tiny.en by default).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::{Stack, ffmpeg, ffprobe, stack, tempfile_dir, unique};
use job_spec::captions;
use serde_json::{Value, json};

const SPEECH: &str = "Please send the report to the office before noon. We will meet again on Monday morning at the station.";
const W: usize = 320;
const H: usize = 240;

fn num(v: &Value) -> Option<f64> {
    v.as_f64().or_else(|| v.as_str()?.parse().ok())
}

/// Lower case, letters and digits only: "Noon." → "noon".
fn norm(w: &str) -> String {
    w.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

async fn download(s: &Stack, url: &Value, job: &Value) -> String {
    let url = url.as_str().unwrap_or_else(|| panic!("no URL: {job}"));
    let resp = s.http.get(url).send().await.unwrap();
    assert_eq!(resp.status(), 200, "GET {url}: {job}");
    String::from_utf8(resp.bytes().await.unwrap().to_vec()).expect("UTF-8")
}

/// Frame `n` of a video as 8-bit gray `W`×`H`.
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

/// Share of the pixels in rows `from..to` that differ by more than coding noise.
fn changed(a: &[u8], b: &[u8], from: usize, to: usize) -> f64 {
    let n = (from * W..to * W).filter(|&i| a[i].abs_diff(b[i]) > 40).count();
    n as f64 / ((to - from) * W) as f64
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn transcribe_speech_then_caption_it_word_by_word() {
    let s = stack();
    let dir = tempfile_dir();
    let run = unique("transcribe");
    let p = |n: &str| dir.join(n).to_str().unwrap().to_owned();
    // English narration: espeak-ng, 1 s of silence before it, as an MP3; and a video to
    // caption with it (320×240, the narration's length).
    let st = Command::new("espeak-ng").args(["-v", "en", "-s", "150", "-w", &p("speech.wav"), SPEECH]).status().unwrap();
    assert!(st.success(), "espeak-ng (make setup installs it)");
    ffmpeg(&["-i", &p("speech.wav"), "-af", "adelay=1000:all=1", "-c:a", "libmp3lame", &p("speech.mp3")]);
    let length = num(&ffprobe(&dir.join("speech.mp3"))["format"]["duration"]).unwrap();
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=320x240:r=24",
        "-i",
        &p("speech.mp3"),
        "-shortest",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        &p("video.mp4"),
    ]);
    let key = |n: &str| format!("{}inputs/{run}/{n}", s.prefix);
    for n in ["speech.mp3", "video.mp4"] {
        s.upload(&key(n), &dir.join(n)).await;
    }

    // ---- transcribe (the worker's default model, language detected / implied).
    let body = json!({"audio_url": format!("r2://{}", key("speech.mp3")), "path": format!("e2e-transcribe/{run}"), "id_roteiro": 7});
    let (status, job) = s.post("/audio/transcribe", Some(&s.key), &body).await;
    assert_eq!(status, 202, "{job}");
    assert_eq!(job["operation"], "audio/transcribe", "{job}");
    let job = s.wait_done(job["jobId"].as_str().unwrap()).await;
    assert_eq!(job["status"], "COMPLETED", "{job:#}");
    assert_eq!(job["idRoteiro"], 7, "{job}");
    let r = &job["result"];
    let out = |file: &str| format!("{}e2e-transcribe/{run}/{file}", s.prefix);
    assert_eq!(
        r["s3_keys"],
        json!({"segments": {"srt": out("segments.srt"), "json": out("segments.json")},
               "words": {"ass_karaoke": out("karaoke.ass"), "json": out("words.json")}}),
        "{job}"
    );
    assert_eq!(r["language"], "en", "{job}");
    assert!(num(&r["duration"]).is_some_and(|d| (d - length).abs() < 0.1), "duration vs {length}: {job}");
    assert_eq!(r["stats"]["model"], "tiny.en", "{job}");
    for stage in ["download", "transcribe", "write", "upload", "total"] {
        assert!(r["timings_ms"][stage].is_u64(), "timing `{stage}`: {job}");
    }
    eprintln!("transcribe job: stats {} timings_ms {}", r["stats"], r["timings_ms"]);

    // words.json, as caption_style highlight reads it: the narration's words, in order,
    // after the 1 s of silence. tiny.en on espeak-ng mishears a word or two (the engine's
    // own tests measure its error rate): at most 2 of the 19 may be missing.
    let files = &r["files"];
    let words = captions::parse_words(&download(&s, &files["words"]["json"], &job).await).expect("words.json parses");
    let said: Vec<String> = words.iter().map(|w| norm(&w.word)).collect();
    let missing: Vec<String> = SPEECH.split_whitespace().map(norm).filter(|w| !said.contains(w)).collect();
    assert!(missing.len() <= 2, "missing {missing:?} from {said:?}");
    for w in ["report", "office", "monday"] {
        assert!(said.contains(&w.to_owned()), "{w} in {said:?}");
    }
    assert!(words[0].start >= 0.8 && words.last().unwrap().end <= length + 0.05, "{words:?}");
    let text = r["transcription"].as_str().unwrap();
    assert_eq!(text.split_whitespace().map(norm).collect::<Vec<_>>(), said, "{job}");

    // segments.srt parses as SRT and says the same; segments.json lists the same cues.
    let cues = captions::parse_srt(&download(&s, &files["segments"]["srt"], &job).await).expect("SRT parses");
    let srt_words: Vec<String> = cues.iter().flat_map(|c| c.text.split_whitespace().map(norm).collect::<Vec<_>>()).collect();
    assert_eq!(srt_words, said);
    let segments: Value = serde_json::from_str(&download(&s, &files["segments"]["json"], &job).await).unwrap();
    let texts: Vec<&str> = segments.as_array().unwrap().iter().map(|x| x["text"].as_str().unwrap()).collect();
    assert_eq!(texts, cues.iter().map(|c| c.text.as_str()).collect::<Vec<_>>());

    // karaoke.ass: a script with one highlighted event per word.
    let ass = download(&s, &files["words"]["ass_karaoke"], &job).await;
    assert!(ass.starts_with("[Script Info]"), "{ass}");
    let events = ass.lines().filter(|l| l.starts_with("Dialogue:") && l.contains("{\\c&H0000FFFF}")).count();
    assert!(events > 0 && events <= words.len(), "{events} events, {} words", words.len());

    // ---- the chain: the produced words.json burned into the video as karaoke.
    let body = json!({
        "url_video": format!("r2://{}", key("video.mp4")),
        "url_caption": format!("r2://{}", out("words.json")),
        "type": "highlight",
        "path": format!("e2e-transcribe/{run}"),
        "output_filename": "captioned.mp4",
    });
    let (status, job) = s.post("/video/caption_style", Some(&s.key), &body).await;
    assert_eq!(status, 202, "{job}");
    let job = s.wait_done(job["jobId"].as_str().unwrap()).await;
    assert_eq!(job["status"], "COMPLETED", "{job:#}");
    let resp = s.http.get(job["result"]["url"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(resp.status(), 200, "{job}");
    std::fs::write(dir.join("captioned.mp4"), resp.bytes().await.unwrap()).unwrap();
    // While the word "office" is spoken, text sits in the bottom third, not the top.
    let office = words.iter().find(|w| norm(&w.word) == "office").unwrap();
    let frame = (((office.start + office.end) / 2.0) * 24.0).round() as u32;
    let (a, b) = (gray_frame(&dir.join("video.mp4"), frame), gray_frame(&dir.join("captioned.mp4"), frame));
    let (top, bottom) = (changed(&a, &b, 0, H / 3), changed(&a, &b, H - H / 3, H));
    assert!(bottom > 0.005 && bottom > 4.0 * top, "karaoke burned at the bottom: top {top:.4}, bottom {bottom:.4}; {job}");
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn transcribe_refuses_what_it_cannot_do() {
    let s = stack();
    // Every problem at once, before any job exists.
    let (status, err) = s
        .post(
            "/audio/transcribe",
            Some(&s.key),
            &json!({"audio_url": "ftp://x/a.mp3", "language": "Portuguese", "model": "..", "beam_size": 11, "temperature": -1}),
        )
        .await;
    assert_eq!((status, err["code"].as_str()), (400, Some("validation-failed")), "{err}");
    let fields: Vec<&str> = err["details"].as_array().unwrap().iter().map(|d| d["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["audio_url", "language", "model", "beam_size", "temperature"], "{err}");

    // A model the worker does not have: the job fails with a stable code, not retried.
    let dir = tempfile_dir();
    let wav = dir.join("tone.wav");
    ffmpeg(&["-f", "lavfi", "-i", "sine=d=1", wav.to_str().unwrap()]);
    let key = format!("{}inputs/{}/tone.wav", s.prefix, unique("transcribe-bad"));
    s.upload(&key, &wav).await;
    let (status, job) = s.post("/audio/transcribe", Some(&s.key), &json!({"audio_url": format!("r2://{key}"), "model": "large-v9"})).await;
    assert_eq!(status, 202, "{job}");
    let job = s.wait_done(job["jobId"].as_str().unwrap()).await;
    assert_eq!(job["status"], "FAILED", "{job:#}");
    assert_eq!(job["error"]["code"], "unknown-model", "{job}");
    assert_eq!(job["attempts"], 1, "not retried: {job}");
}
