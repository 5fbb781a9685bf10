//! Hostile caption files through `encode`'s subtitles (the user's own ASS, burned by
//! libass) with real ffmpeg: what libass would choke on is bounded or refused before
//! ffmpeg starts, and the job ends quickly either way.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Env, duration, env, frames, streams};
use job_spec::worker::{EncodeTask, InputUrl, OUTPUT, OutputTarget};
use job_spec::{Task, WorkerError, WorkerJob};
use tokio_util::sync::CancellationToken;

/// One test at a time: two cores.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const HEADER: &str = "[Script Info]\nScriptType: v4.00+\nPlayResX: 640\nPlayResY: 360\n\n[V4+ Styles]\n\
     Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, Underline, \
     StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding\n\
     Style: Default,DejaVu Sans,40,&H00FFFFFF,&H000000FF,&H00000000,&H80000000,-1,0,0,0,100,100,0,0,1,2,0,2,10,10,10,1\n\n";
const EVENTS: &str = "[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n";

/// A deterministic scribble of `n` segments over the frame (and far past it).
fn scribble(n: usize, span: u64) -> String {
    let mut x: u64 = 1;
    let mut out = String::from("m 0 0");
    for _ in 0..n {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        out.push_str(&format!(" l {} {}", (x >> 33) % span, (x >> 13) % span));
    }
    out
}

fn dialogue(text: &str) -> String {
    format!("Dialogue: 0,0:00:00.00,0:00:02.00,Default,,0,0,0,,{text}\n")
}

/// Encodes `blue.mp4` with the subtitles stored under `key`: the outcome and how long
/// the job took.
async fn burn(e: &Env, key: &str) -> (Result<(), WorkerError>, Duration) {
    let job = WorkerJob {
        progress_url: None,
        job_id: "hostile-captions".into(),
        attempt: 1,
        inputs: [("video", "blue.mp4"), ("subtitles", key)]
            .iter()
            .map(|(n, k)| InputUrl { name: (*n).into(), url: e.storage.url(k) })
            .collect(),
        outputs: vec![OutputTarget {
            name: OUTPUT.into(),
            key: "out".into(),
            put_url: e.storage.url("out"),
            content_type: "video/mp4".into(),
        }],
        task: Task::Encode(EncodeTask { audio: false, subtitles: true }),
    };
    let started = Instant::now();
    let r = e.exec.execute(&job, Arc::new(|_| {}), &CancellationToken::new()).await.map(|_| ()).map_err(|e| e.to_worker_error());
    (r, started.elapsed())
}

async fn setup() -> Env {
    let e = env().await;
    e.make("blue.mp4", &["-f", "lavfi", "-i", "color=c=0x2040a0:s=640x360:r=24:d=2", "-c:v", "libx264", "-preset", "ultrafast"]);
    e
}

/// Pixels of the output's frame at 1 s that are white, and that are not the background.
fn frame_pixels(e: &Env) -> (usize, usize) {
    let path = e.dir.path().join("frame-src.mp4");
    std::fs::write(&path, e.storage.get("out").unwrap()).unwrap();
    let out = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-ss", "1", "-i"])
        .arg(&path)
        .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .unwrap();
    assert_eq!(out.stdout.len(), 640 * 360 * 3);
    let px = out.stdout.chunks(3);
    let white = px.clone().filter(|p| p[0] > 200 && p[1] > 200 && p[2] > 200).count();
    let other = px.filter(|p| p[0].abs_diff(0x20) > 40 || p[1].abs_diff(0x40) > 40 || p[2].abs_diff(0xa0) > 40).count();
    (white, other)
}

/// An embedded font, `\fs100000`, `\blur1000`, `\be` and a drawing flung far off the frame
/// (coordinates to 1e6, scaled 400 %): bounded, burned, with the caption readable.
#[tokio::test]
async fn a_hostile_ass_is_bounded_and_burned() {
    let _g = SERIAL.lock().await;
    let e = setup().await;
    let font_blob: String =
        (0..4000).map(|i| format!("M{}\n", "!\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ".repeat(1 + i % 2))).collect();
    let ass = format!(
        "{HEADER}[Fonts]\nfontname: evil_0.ttf\n{font_blob}\n[Graphics]\nfilename: x.png\n!!!!\n\n{EVENTS}{}{}{}",
        dialogue("{\\fs100000\\blur1000\\be1000\\bord100000\\fscx100000}W"),
        dialogue(&format!("{{\\an7\\pos(0,0)\\fscx400\\fscy400\\p1\\t(\\frz360)}}{}{{\\p0}}", scribble(900, 1_000_000))),
        dialogue("{\\an8\\pos(320,10)\\fs30}HELLO"),
    );
    e.storage.put("hostile.ass", ass.into_bytes());
    let (r, took) = burn(&e, "hostile.ass").await;
    r.unwrap();
    assert!(took < Duration::from_secs(30), "burned in {took:?}");
    let p = common::ffprobe_bytes(e.dir.path(), "out.probe", &e.storage.get("out").unwrap());
    assert_eq!(streams(&p, "video"), 1);
    assert!((duration(&p) - 2.0).abs() < 0.1, "{}", duration(&p));
    assert_eq!(frames(&p), Some(48));
    let (white, _) = frame_pixels(&e);
    assert!(white > 300, "the caption is there: {white} white pixels");
}

/// A drawing of a million numbers (a 3 MiB event) and 3,000 events on screen at once:
/// libass would spend minutes on each (a rotating drawing of 100,000 segments takes ~30 s
/// for these 2 s); both are refused before ffmpeg starts.
#[tokio::test]
async fn captions_libass_would_choke_on_are_refused_at_once() {
    let _g = SERIAL.lock().await;
    let e = setup().await;
    let cases = [
        ("drawing.ass", format!("{HEADER}{EVENTS}{}", dialogue(&format!("{{\\p1\\t(\\frz360)}}{}{{\\p0}}", scribble(150_000, 640))))),
        ("crowd.ass", format!("{HEADER}{EVENTS}{}", (0..3000).map(|i| dialogue(&format!("{{\\t(\\frz360)}}W{i}"))).collect::<String>())),
        ("huge.ass", format!("{HEADER}{EVENTS}{}{}", dialogue("x"), ";".repeat(5 << 20))),
    ];
    for (key, ass) in cases {
        e.storage.put(key, ass.into_bytes());
        let (r, took) = burn(&e, key).await;
        let err = r.expect_err(key);
        assert_eq!((err.code.as_str(), err.retryable), ("captions-too-large", false), "{key}: {err:?}");
        assert!(took < Duration::from_secs(10), "{key}: refused after {took:?}");
        assert!(e.storage.get("out").is_none(), "{key}: nothing uploaded");
    }
}
