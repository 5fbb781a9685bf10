//! `/pipeline/segment` as a worker job, through `Executor::execute` on real ffmpeg: masters
//! made with lavfi (a 48 kHz mono WAV, 44.1 kHz stereo MP3 and M4A), served by an
//! in-process storage server, segments with fractional starts read back as a user would —
//! the WAV header's rate, channels and length, ffprobe's sample count, and the samples
//! themselves (equal to the master's at the offset for a WAV master; a tone's onset at its
//! place for lossy ones, per channel).
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};

use common::{Env, env, ffmpeg_make};
use job_spec::worker::{InputUrl, OutputTarget, SegmentAudioTask, SegmentCut};
use job_spec::{Progress, Task, WorkerError, WorkerJob, WorkerOutput};
use tokio_util::sync::CancellationToken;

fn cuts(list: &[(f64, f64)]) -> Vec<SegmentCut> {
    list.iter().enumerate().map(|(i, &(start_sec, duration_sec))| SegmentCut { index: i as u32, start_sec, duration_sec }).collect()
}

fn task(segments: Vec<SegmentCut>, stage_master: bool, stage_presenter: bool) -> SegmentAudioTask {
    SegmentAudioTask {
        pipeline_id: "p1".into(),
        expected: segments.len() as u32,
        segments,
        master_key: "t/pipelines/p1/inputs/audio/master.bin".into(),
        stage_master,
        presenter_key: stage_presenter.then(|| "t/pipelines/p1/inputs/image/presenter.png".into()),
        stage_presenter,
    }
}

/// A WAV as a user reads it: rate, channels, and the interleaved samples.
struct Wav {
    rate: u32,
    channels: u16,
    samples: Vec<i16>,
}

impl Wav {
    fn parse(b: &[u8]) -> Wav {
        assert_eq!((&b[0..4], &b[8..12], &b[12..16], &b[36..40]), (&b"RIFF"[..], &b"WAVE"[..], &b"fmt "[..], &b"data"[..]));
        let u16_at = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        assert_eq!((u16_at(20), u16_at(34)), (1, 16), "PCM, 16-bit");
        assert_eq!(u32_at(4) as usize, b.len() - 8, "RIFF size");
        assert_eq!(u32_at(40) as usize, b.len() - 44, "data size");
        let samples = b[44..].chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]])).collect();
        Wav { rate: u32_at(24), channels: u16_at(22), samples }
    }

    fn frames(&self) -> usize {
        self.samples.len() / usize::from(self.channels)
    }

    /// The first frame where channel `ch` is louder than a quarter of full scale.
    fn onset(&self, ch: usize) -> Option<usize> {
        self.samples.chunks_exact(usize::from(self.channels)).position(|f| f[ch].unsigned_abs() > 8192)
    }
}

impl Env {
    /// Runs the task against the stored `master` (and `presenter`); returns the result and
    /// the progress stages in order.
    async fn run(&self, master: &str, t: SegmentAudioTask) -> (Result<WorkerOutput, WorkerError>, Vec<String>) {
        let mut inputs = vec![InputUrl { name: "master".into(), url: self.storage.url(master) }];
        if t.stage_presenter {
            inputs.push(InputUrl { name: "presenter".into(), url: self.storage.url("presenter.png") });
        }
        let target = |name: String, key: &str| OutputTarget {
            put_url: self.storage.url(&format!("out/{name}")),
            key: key.into(),
            content_type: job_spec::media::content_type_for(key).into(),
            name,
        };
        let mut outputs: Vec<OutputTarget> = t.segments.iter().map(|c| target(c.output(), &format!("t/seg/{}.wav", c.output()))).collect();
        if t.stage_master {
            outputs.push(target("staged_master".into(), &t.master_key));
        }
        if t.stage_presenter {
            outputs.push(target("staged_presenter".into(), "t/pipelines/p1/inputs/image/presenter.png"));
        }
        let job = WorkerJob { progress_url: None, job_id: "segment-test".into(), attempt: 1, inputs, outputs, task: Task::SegmentAudio(t) };
        let stages = Arc::new(Mutex::new(Vec::<String>::new()));
        let seen = stages.clone();
        let progress = Arc::new(move |p: Progress| {
            let mut s = seen.lock().unwrap();
            if s.last() != Some(&p.stage) {
                s.push(p.stage);
            }
        });
        let r = self.exec.execute(&job, progress, &CancellationToken::new()).await.map_err(|e| e.to_worker_error());
        assert_eq!(common::entries(&self.dir.path().join("work")), 0, "the job's work dir is removed");
        let stages = stages.lock().unwrap().clone();
        (r, stages)
    }

    fn segment(&self, i: u32) -> (Vec<u8>, Wav) {
        let bytes = self.storage.get(&format!("out/segment_{i}")).unwrap_or_else(|| panic!("segment_{i} uploaded"));
        let wav = Wav::parse(&bytes);
        (bytes, wav)
    }

    /// ffprobe's sample count of a segment (PCM in WAV: `duration_ts` is in samples).
    fn probed_samples(&self, i: u32, bytes: &[u8]) -> u64 {
        let p = common::ffprobe_bytes(self.dir.path(), &format!("probe_{i}.wav"), bytes);
        let s = common::stream(&p, "audio").unwrap();
        s["duration_ts"].as_u64().unwrap()
    }
}

/// A master's samples as raw s16le, decoded by ffmpeg.
fn decoded(dir: &Path, src: &[u8]) -> Vec<i16> {
    let path = dir.join("decoded_src");
    std::fs::write(&path, src).unwrap();
    let raw = ffmpeg_make(dir, "decoded.raw", &["-i", path.to_str().unwrap(), "-f", "s16le", "-c:a", "pcm_s16le"]);
    raw.chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]])).collect()
}

fn facts(out: &WorkerOutput, i: u32) -> serde_json::Value {
    out.extras["segments"].as_array().unwrap().iter().find(|f| f["index"] == i).unwrap().clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn wav_master_cut_sample_exactly() {
    let e = env().await;
    // 10 s at 48 kHz mono: a sweep-like signal whose every sample differs from its neighbours.
    let src = ffmpeg_make(
        e.dir.path(),
        "master.wav",
        &["-f", "lavfi", "-i", "aevalsrc=0.8*sin(2*PI*(200+300*t)*t):s=48000:d=10", "-c:a", "pcm_s16le"],
    );
    let pcm = decoded(e.dir.path(), &src);
    assert_eq!(pcm.len(), 480_000);
    e.storage.put("master.wav", src);
    let asked = [(1.234_56, 2.5), (0.0, 1.0 / 3.0), (7.777_77, 1.111_11), (3.000_01, 0.000_01), (9.5, 2.0)];
    let (out, stages) = e.run("master.wav", task(cuts(&asked), false, false)).await;
    let out = out.unwrap();
    assert_eq!(stages, ["download", "decode", "cut", "upload"]);
    for k in ["download", "decode", "cut", "upload", "total"] {
        assert!(out.timings_ms.contains_key(k), "timing {k}: {:?}", out.timings_ms);
    }
    assert_eq!((out.extras["sample_rate"].clone(), out.extras["channels"].clone()), (48_000.into(), 1.into()));
    assert_eq!(out.extras["master_samples"], 480_000);
    for (i, &(start, dur)) in asked.iter().enumerate() {
        let i = i as u32;
        let first = (start * 48_000.0_f64).round() as usize;
        let want = ((dur * 48_000.0_f64).round() as usize).max(1);
        let n = want.min(480_000 - first);
        let (bytes, wav) = e.segment(i);
        assert_eq!((wav.rate, wav.channels, wav.frames()), (48_000, 1, n), "segment {i}");
        assert_eq!(e.probed_samples(i, &bytes), n as u64, "segment {i}: ffprobe's duration_ts");
        assert_eq!(wav.samples, pcm[first..first + n], "segment {i}: the master's samples at {first}");
        let f = facts(&out, i);
        assert_eq!((f["samples"].as_u64(), f["start_sample"].as_u64()), (Some(n as u64), Some(first as u64)));
        assert_eq!(f["truncated"], n < want, "segment {i}");
        let meta = out.output(&format!("segment_{i}")).unwrap();
        assert_eq!((meta.bytes, meta.content_type.as_str()), (bytes.len() as u64, "audio/wav"));
        assert_eq!(meta.duration, Some(n as f64 / 48_000.0));
    }
    // 7.77777 s for 1.11111 s: 373 333 and 53 333 samples; 9.5 s for 2 s runs 1.5 s past the end.
    assert_eq!(e.segment(2).1.frames(), 53_333);
    assert_eq!((e.segment(4).1.frames(), facts(&out, 4)["truncated"].as_bool()), (24_000, Some(true)));
    // Nothing staged.
    assert!(out.output("staged_master").is_none() && e.storage.get("out/staged_master").is_none());
}

/// Stereo 44.1 kHz: left silent until 3 s then a 1 kHz tone, right silent until 4 s.
/// Through MP3 and AAC (their priming removed by ffmpeg's gapless handling), each segment
/// has its exact length, and each channel's onset lands where the cut puts it.
#[tokio::test(flavor = "multi_thread")]
async fn lossy_stereo_masters_keep_rate_channels_and_timing() {
    let e = env().await;
    let source = "aevalsrc=0.9*gte(t\\,3)*sin(2*PI*1000*t)|0.9*gte(t\\,4)*sin(2*PI*1000*t):s=44100:d=6";
    for (name, codec) in [("master.mp3", "libmp3lame"), ("master.m4a", "aac")] {
        let src = ffmpeg_make(e.dir.path(), name, &["-f", "lavfi", "-i", source, "-c:a", codec, "-b:a", "192k"]);
        e.storage.put(name, src.clone());
        let asked = [(2.512_34, 1.0), (3.300_3, 0.987_65), (5.5, 2.0)];
        let (out, _) = e.run(name, task(cuts(&asked), true, false)).await;
        let out = out.unwrap();
        assert_eq!((out.extras["sample_rate"].clone(), out.extras["channels"].clone()), (44_100.into(), 2.into()), "{name}");
        let total = out.extras["master_samples"].as_u64().unwrap() as usize;
        assert!(total.abs_diff(6 * 44_100) <= 2048, "{name}: {total} samples decoded");
        for (i, &(start, dur)) in asked.iter().enumerate() {
            let first = (start * 44_100.0_f64).round() as usize;
            let n = ((dur * 44_100.0_f64).round() as usize).min(total - first);
            let (bytes, wav) = e.segment(i as u32);
            assert_eq!((wav.rate, wav.channels, wav.frames()), (44_100, 2, n), "{name} segment {i}");
            assert_eq!(e.probed_samples(i as u32, &bytes), n as u64, "{name} segment {i}");
        }
        // Segment 0 starts 0.48766 s before the left tone and 1.48766 s before the right one.
        // (A 1 kHz sine at 0.9 passes a quarter of full scale 2 samples after it starts.)
        let (_, s0) = e.segment(0);
        let left = s0.onset(0).unwrap() as i64 - (3.0_f64 * 44_100.0 - (2.512_34_f64 * 44_100.0).round()) as i64;
        assert!(left.abs() <= 8, "{name}: the left tone starts {left} samples off");
        assert_eq!(s0.onset(1), None, "{name}: the right channel is still silent");
        // Segment 1 starts after the left onset and 0.6997 s before the right one.
        let (_, s1) = e.segment(1);
        assert!(s1.onset(0).unwrap() < 50, "{name}: the left tone plays from the start");
        let right = s1.onset(1).unwrap() as i64 - (4.0_f64 * 44_100.0 - (3.300_3_f64 * 44_100.0).round()) as i64;
        assert!(right.abs() <= 8, "{name}: the right tone starts {right} samples off");
        println!("{name}: tone onsets {left} (left) and {right} (right) samples from where the cut puts them");
        // The last runs past the end: cut short and said so.
        assert_eq!(facts(&out, 2)["truncated"], true);
        // The master was staged byte for byte.
        assert_eq!(e.storage.get("out/staged_master").unwrap(), src, "{name} staged unchanged");
        assert_eq!(out.output("staged_master").unwrap().key, "t/pipelines/p1/inputs/audio/master.bin");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_segment_past_the_end_fails_the_job_naming_it() {
    let e = env().await;
    let src = ffmpeg_make(e.dir.path(), "short.wav", &["-f", "lavfi", "-i", "sine=f=440:d=2", "-c:a", "pcm_s16le"]);
    e.storage.put("short.wav", src);
    let (out, _) = e.run("short.wav", task(cuts(&[(0.0, 1.0), (1.5, 1.0), (2.0, 1.0)]), false, false)).await;
    let err = out.unwrap_err();
    assert_eq!((err.code.as_str(), err.retryable), ("start-beyond-end", false));
    assert!(err.message.contains("segment 2 starts at 2 s"), "{}", err.message);
    assert!(e.storage.get("out/segment_0").is_none(), "nothing is uploaded when a segment is impossible");
    // Not audio at all: the usual codes.
    let video = ffmpeg_make(e.dir.path(), "silent.mp4", &["-f", "lavfi", "-i", "testsrc2=s=64x64:d=1", "-c:v", "libx264"]);
    e.storage.put("silent.mp4", video);
    let err = e.run("silent.mp4", task(cuts(&[(0.0, 0.5)]), false, false)).await.0.unwrap_err();
    assert_eq!(err.code, "input-missing-stream");
    e.storage.put("junk.wav", b"not audio".to_vec());
    assert_eq!(e.run("junk.wav", task(cuts(&[(0.0, 0.5)]), false, false)).await.0.unwrap_err().code, "input-not-media");
}

#[tokio::test(flavor = "multi_thread")]
async fn stages_the_presenter_and_times_many_segments() {
    let e = env().await;
    // 60 s of 44.1 kHz stereo MP3, cut into 120 half-second segments.
    let src = ffmpeg_make(
        e.dir.path(),
        "long.mp3",
        &["-f", "lavfi", "-i", "sine=f=330:d=60:sample_rate=44100", "-ac", "2", "-c:a", "libmp3lame"],
    );
    e.storage.put("long.mp3", src);
    let png = common::still(e.dir.path(), "presenter.png", "64x64");
    e.storage.put("presenter.png", png.clone());
    let asked: Vec<(f64, f64)> = (0..120).map(|i| (f64::from(i) * 0.5 + 0.000_7, 0.5)).collect();
    let (out, stages) = e.run("long.mp3", task(cuts(&asked), false, true)).await;
    let out = out.unwrap();
    assert_eq!(stages, ["download", "decode", "cut", "upload"]);
    assert_eq!(e.storage.get("out/staged_presenter").unwrap(), png);
    assert_eq!(out.outputs.len(), 121);
    for i in 0..119 {
        assert_eq!(e.segment(i).1.frames(), 22_050, "segment {i}");
    }
    println!(
        "120 segments of a 60 s 44.1 kHz stereo MP3: decode {} ms, cut {} ms, upload {} ms, total {} ms",
        out.timings_ms["decode"], out.timings_ms["cut"], out.timings_ms["upload"], out.timings_ms["total"]
    );
}
