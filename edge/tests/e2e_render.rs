//! End to end: `POST /video/render` through the real local stack (client → edge under
//! `wrangler dev` → `gpu-worker serve` → ffmpeg → s3s-fs): images, a narration, music
//! and a words JSON uploaded under the tenant's prefix, one MP4 back, checked with
//! ffprobe and the result's facts and timings.
//!
//! `#[ignore]`d in a plain `cargo test`; `make test` runs it against a fresh stack.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::{ffmpeg, ffprobe, stack, tempfile_dir, unique};
use serde_json::{Value, json};

fn num(v: &Value) -> Option<f64> {
    v.as_f64().or_else(|| v.as_str()?.parse().ok())
}

fn stream<'a>(probe: &'a Value, kind: &str) -> Option<&'a Value> {
    probe["streams"].as_array().unwrap().iter().find(|st| st["codec_type"] == kind)
}

/// The loudest sample (dBFS) of the first audio stream within `[from, from + len)` s.
fn max_volume(path: &Path, from: f64, len: f64) -> f64 {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostats", "-nostdin", "-i"])
        .arg(path)
        .args(["-map", "0:a:0", "-af", &format!("atrim=start={from}:duration={len},volumedetect"), "-f", "null", "-"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "volumedetect: {stderr}");
    stderr
        .lines()
        .find_map(|l| l.split("max_volume:").nth(1)?.trim().strip_suffix("dB")?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no max_volume: {stderr}"))
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn render_makes_one_video_from_images_narration_music_and_captions() {
    let s = stack();
    let dir = tempfile_dir();
    let run = unique("render");
    let p = |n: &str| dir.join(n).to_str().unwrap().to_owned();
    // Three images of different sizes and formats; 2.5 s of narration (a tone for 1 s,
    // then silence); 0.8 s of music (looped); three words for the karaoke.
    ffmpeg(&["-f", "lavfi", "-i", "testsrc2=s=800x600", "-frames:v", "1", &p("a.jpg")]);
    ffmpeg(&["-f", "lavfi", "-i", "smptebars=s=1280x720", "-frames:v", "1", &p("b.png")]);
    ffmpeg(&["-f", "lavfi", "-i", "color=c=0x602020:s=500x900", "-frames:v", "1", &p("c.jpg")]);
    ffmpeg(&["-f", "lavfi", "-i", "sine=f=440:d=1:sample_rate=48000,apad=whole_dur=2.5", "-c:a", "pcm_s16le", &p("narration.wav")]);
    ffmpeg(&["-f", "lavfi", "-i", "sine=f=880:d=0.8", "-ac", "2", "-c:a", "libmp3lame", "-b:a", "128k", &p("music.mp3")]);
    let words = json!({"words": [
        {"word": "hello", "start": 0.1, "end": 0.8},
        {"word": "render", "start": 0.9, "end": 1.6},
        {"word": "words", "start": 1.7, "end": 2.4}
    ]});
    std::fs::write(dir.join("words.json"), words.to_string()).unwrap();
    let key = |n: &str| format!("{}inputs/{run}/{n}", s.prefix);
    for n in ["a.jpg", "b.png", "c.jpg", "narration.wav", "music.mp3", "words.json"] {
        s.upload(&key(n), &dir.join(n)).await;
    }
    let r2 = |n: &str| format!("r2://{}", key(n));

    // Scenes of 1 s, 0.5 s and 1.25 s, fitted (by default) to the 2.5 s narration.
    let body = json!({
        "scenes": [
            {"id": "intro", "image_url": r2("a.jpg"), "duration": 1},
            {"url": r2("b.png"), "duracao": 0.5, "zoom": "zoomout", "easing": "ease_in_out"},
            {"image_url": r2("c.jpg"), "duration": 1.25, "zoom": "zoompanright"}
        ],
        "narration_url": r2("narration.wav"),
        "music_url": r2("music.mp3"),
        "captions": {"type": "highlight", "url": r2("words.json"), "uppercase": true,
            "style": {"texto_cor": "#FFFFFF", "highlight_texto_cor": "#FFFF00", "position": "bottom_center", "words_per_line": 3}},
        "width": 640, "height": 360, "frame_rate": 24,
        "path": format!("e2e-render/{run}"),
        "output_filename": "story.mp4"
    });
    let (status, job) = s.post("/video/render", Some(&s.key), &body).await;
    assert_ne!(status, 501, "the edge does not render yet: {job}");
    assert_eq!(status, 202, "{job}");
    assert_eq!(job["operation"], "video/render", "{job}");
    let id = job["jobId"].as_str().unwrap().to_owned();
    let job = s.wait_done(&id).await;
    assert_eq!(job["status"], "COMPLETED", "{job:#}");

    // The result: the output's key and URL, the render's facts, every stage timed.
    let r = &job["result"];
    let want_key = format!("{}e2e-render/{run}/story.mp4", s.prefix);
    assert_eq!(r["s3_key"].as_str(), Some(want_key.as_str()), "{job}");
    assert_eq!((r["filename"].as_str(), r["content_type"].as_str()), (Some("story.mp4"), Some("video/mp4")), "{job}");
    assert_eq!(r["video_url"], r["url"], "{job}");
    assert_eq!((r["frames"].as_u64(), r["width"].as_u64(), r["height"].as_u64()), (Some(60), Some(640), Some(360)), "{job}");
    assert_eq!(r["fitted_to_narration"], true, "{job}");
    assert!(num(&r["narration_duration"]).is_some_and(|d| (d - 2.5).abs() < 0.01), "{job}");
    let scenes: Vec<(Option<&str>, Option<u64>)> =
        r["scenes"].as_array().unwrap().iter().map(|sc| (sc["id"].as_str(), sc["frames"].as_u64())).collect();
    assert_eq!(scenes, [(Some("intro"), Some(22)), (Some("2"), Some(11)), (Some("3"), Some(27))], "{job}");
    assert!(num(&r["music_gain_db"]).is_some() && r["audio_analysis"]["method"] == "ebur128", "{job}");
    for stage in ["download", "analyse", "render", "upload", "total"] {
        assert!(r["timings_ms"][stage].is_u64(), "timing `{stage}`: {job}");
    }
    eprintln!("render job: timings_ms {}", r["timings_ms"]);

    // The MP4 as a user downloads it.
    let resp = s.http.get(r["url"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(resp.status(), 200, "GET result.url: {job}");
    let file = dir.join("story.mp4");
    std::fs::write(&file, resp.bytes().await.unwrap()).unwrap();
    let probe = ffprobe(&file);
    let kinds: Vec<&str> = probe["streams"].as_array().unwrap().iter().map(|st| st["codec_type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["video", "audio"], "{probe}");
    let v = stream(&probe, "video").unwrap();
    assert_eq!((v["codec_name"].as_str(), v["width"].as_u64(), v["height"].as_u64()), (Some("h264"), Some(640), Some(360)), "{v}");
    assert!(matches!(v["sample_aspect_ratio"].as_str(), None | Some("1:1")), "{v}");
    assert_eq!(num(&v["nb_read_packets"]), Some(60.0), "exactly round(2.5 × 24) frames: {v}");
    let a = stream(&probe, "audio").unwrap();
    assert_eq!(a["codec_name"], "aac", "{a}");
    assert!(num(&a["duration"]).is_some_and(|d| (d - 2.5).abs() < 0.03), "audio {a}");
    assert!(num(&probe["format"]["duration"]).is_some_and(|d| (d - 2.5).abs() < 0.03), "{probe}");
    // The music under the narration's silent part, about 20 dB below the voice.
    let (voice, music) = (max_volume(&file, 0.1, 0.8), max_volume(&file, 1.2, 1.1));
    assert!(music > -60.0 && (voice - music - 20.0).abs() < 4.0, "voice {voice} dB, music {music} dB");
}
