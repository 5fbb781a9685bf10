//! Transcription's audio decoding ([`gpu_worker::transcribe::audio`]): WAV, FLAC, MP3 and Ogg
//! Vorbis decoded in-process must give what ffmpeg gives for the same file (the samples
//! the model hears), within the same limits; everything else still goes through ffmpeg.
//! Inputs are espeak-ng speech and lavfi tones and chirps, encoded by the ffmpeg CLI here.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod common;
use common::ffmpeg_file as make;

use gpu_worker::transcribe::Limits;
use gpu_worker::transcribe::audio::{self, Decoder};

const RATE: f64 = 16_000.0;
/// Samples of ffmpeg's within which ours must start and end: 30 ms.
const SLACK: usize = 480;
/// The RMS of our samples' difference from ffmpeg's, over the RMS of ffmpeg's, at most.
/// Measured: 0 at 16 kHz, 0.2 % for a resampled chirp, 0.9–1.9 % for resampled speech
/// (ffmpeg's and rubato's anti-aliasing filters differ near 8 kHz, where espeak-ng's 22 kHz
/// speech still has some energy); a 0.2 % wrong rate, the channels' mean instead of
/// ffmpeg's mix, or a 0.1 s gap give 29 % and more (`a_wrong_rate_mix_or_gap_is_caught`).
const MAX_DIFFERENCE: f64 = 0.05;

fn ffmpeg() -> &'static Path {
    Path::new("ffmpeg")
}

/// espeak-ng's WAV (22 050 Hz mono s16) of a few seconds of English.
fn speech(dir: &Path) -> PathBuf {
    let wav = dir.join("speech.wav");
    let st = std::process::Command::new("espeak-ng")
        .args(["-v", "en", "-s", "160", "-w"])
        .arg(&wav)
        .arg("Please send the report to the office before noon. We will meet again on Monday morning at the station.")
        .status()
        .expect("espeak-ng runs (make setup installs it)");
    assert!(st.success());
    wav
}

/// ffmpeg's decode of `path`, the reference.
fn reference(path: &Path) -> Vec<f32> {
    let mut all = Vec::new();
    audio::stream_ffmpeg(ffmpeg(), path, &Limits::default(), |s| {
        all.extend_from_slice(s);
        ControlFlow::Continue(())
    })
    .expect("ffmpeg decodes it");
    all
}

/// How far `ours` is from `reference`: the lag (in samples) at which they match best
/// within ±[`SLACK`], and the RMS of their difference there over the RMS of `reference`.
fn difference(ours: &[f32], reference: &[f32]) -> (isize, f64) {
    let energy: f64 = reference.iter().map(|&x| f64::from(x).powi(2)).sum();
    (-(SLACK as isize)..=SLACK as isize)
        .map(|lag| {
            // ours[i + lag] against reference[i]; samples without a partner count whole.
            let err: f64 = (0..reference.len().max(ours.len()))
                .map(|i| {
                    let r = reference.get(i).copied().unwrap_or(0.0);
                    let o = i.checked_add_signed(lag).and_then(|j| ours.get(j)).copied().unwrap_or(0.0);
                    f64::from(o - r).powi(2)
                })
                .sum();
            (lag, (err / energy).sqrt())
        })
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap_or((0, f64::INFINITY))
}

/// Decodes `path` in-process and holds it to ffmpeg's decode; returns our samples.
fn assert_matches_ffmpeg(path: &Path, what: &str) -> Vec<f32> {
    let (ours, decoder) = audio::decode_with(ffmpeg(), path, &Limits::default()).expect("decodes");
    assert_eq!(decoder, Decoder::Symphonia, "{what} is decoded in-process");
    let theirs = reference(path);
    let (lag, diff) = difference(&ours, &theirs);
    eprintln!(
        "{what}: {} samples, ffmpeg {} ({:+.1} ms), best lag {lag}, difference {:.3} %",
        ours.len(),
        theirs.len(),
        (ours.len() as f64 - theirs.len() as f64) / RATE * 1000.0,
        diff * 100.0
    );
    assert!(ours.len().abs_diff(theirs.len()) <= SLACK, "{what}: {} samples, ffmpeg gives {}", ours.len(), theirs.len());
    assert!(diff <= MAX_DIFFERENCE, "{what}: differs from ffmpeg's by {:.1} % (lag {lag})", diff * 100.0);
    ours
}

#[test]
fn wav_of_every_sample_format_and_rate_matches_ffmpeg() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let speech = speech(d);
    let speech_s = speech.to_str().expect("utf-8 path");
    assert_matches_ffmpeg(&speech, "espeak-ng 22050 Hz mono s16");
    // Stereo with different channels: speech left, a tone right.
    let mono = "aformat=sample_fmts=s16:sample_rates=44100:channel_layouts=mono";
    let merge = format!("[0]{mono}[a];[1]{mono}[b];[a][b]amerge=inputs=2");
    let stereo =
        make(d, "stereo.wav", &["-i", speech_s, "-f", "lavfi", "-i", "sine=f=220:r=44100", "-filter_complex", &merge, "-c:a", "pcm_s16le"]);
    assert_matches_ffmpeg(&stereo, "44100 Hz stereo s16");
    for (codec, rate) in [
        ("pcm_f32le", "48000"),
        ("pcm_s16le", "16000"),
        ("pcm_u8", "11025"),
        ("pcm_s24le", "96000"),
        ("pcm_s32le", "32000"),
        ("pcm_f64le", "24000"),
        ("pcm_mulaw", "8000"),
        ("pcm_alaw", "8000"),
    ] {
        let wav = make(d, &format!("{codec}-{rate}.wav"), &["-i", speech_s, "-ar", rate, "-c:a", codec]);
        assert_matches_ffmpeg(&wav, &format!("{rate} Hz mono {codec}"));
    }
    let stereo_f32 = make(d, "stereo-f32.wav", &["-i", stereo.to_str().expect("utf-8"), "-ar", "48000", "-c:a", "pcm_f32le"]);
    assert_matches_ffmpeg(&stereo_f32, "48000 Hz stereo f32");
}

#[test]
fn mp3_flac_and_vorbis_match_ffmpeg() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let speech = speech(d);
    let speech_s = speech.to_str().expect("utf-8 path");
    // A chirp from 100 Hz to 6.5 kHz over 4 s: every band Whisper hears.
    let chirp = ["-f", "lavfi", "-i", "aevalsrc=0.4*sin(2*PI*(100*t+800*t*t)):s=48000:d=4"];
    let flac = make(d, "chirp.flac", &[&chirp[..], &["-c:a", "flac", "-sample_fmt", "s32"]].concat());
    assert_matches_ffmpeg(&flac, "48000 Hz 24-bit FLAC chirp");
    let flac = make(d, "speech.flac", &["-i", speech_s, "-c:a", "flac"]);
    assert_matches_ffmpeg(&flac, "22050 Hz FLAC speech");
    // MP3s carry encoder delay and padding (LAME's tag): trimmed as ffmpeg trims them, or
    // the lengths would differ by ~50 ms and the samples be shifted.
    let mp3 = make(d, "speech.mp3", &["-i", speech_s, "-ar", "44100", "-ac", "2", "-c:a", "libmp3lame", "-b:a", "128k"]);
    let ours = assert_matches_ffmpeg(&mp3, "44100 Hz stereo MP3 speech");
    let wav = reference(&speech);
    assert!(ours.len().abs_diff(wav.len()) <= SLACK, "the MP3 lasts as long as its source: {} against {}", ours.len(), wav.len());
    let mp3 = make(d, "chirp.mp3", &[&chirp[..], &["-c:a", "libmp3lame", "-q:a", "2"]].concat());
    assert_matches_ffmpeg(&mp3, "48000 Hz mono MP3 chirp");
    // Without an ID3 tag: the file starts with a frame.
    let bare = make(d, "bare.mp3", &["-i", speech_s, "-c:a", "libmp3lame", "-id3v2_version", "0", "-write_xing", "0"]);
    assert_eq!(std::fs::read(&bare).expect("read")[0], 0xFF);
    assert_matches_ffmpeg(&bare, "22050 Hz MP3 without a tag or LAME header");
    // An ID3v2 tag holding MP3 frames (a PRIV frame: the start of the same MP3): a probe
    // that scanned for a frame sync instead of reading the tag's size would decode them.
    let frames = std::fs::read(&bare).expect("read");
    let mut body = b"PRIV".to_vec();
    body.extend_from_slice(&(2 + 4000u32).to_be_bytes());
    body.extend_from_slice(&[0, 0, b'x', 0]);
    body.extend_from_slice(&frames[..4000]);
    let size = body.len() as u32;
    let mut tagged = b"ID3\x03\x00\x00".to_vec();
    // The tag's size in four 7-bit bytes.
    tagged.extend([21, 14, 7, 0].map(|shift| (size >> shift & 0x7F) as u8));
    tagged.extend(body);
    tagged.extend_from_slice(&frames);
    let tagged_path = d.join("tagged.mp3");
    std::fs::write(&tagged_path, tagged).expect("write");
    let ours = assert_matches_ffmpeg(&tagged_path, "an MP3 whose ID3v2 tag holds MP3 frames");
    assert_eq!(ours.len(), reference(&bare).len());
    let ogg = make(d, "speech.ogg", &["-i", speech_s, "-ar", "44100", "-c:a", "libvorbis", "-q:a", "4"]);
    assert_matches_ffmpeg(&ogg, "44100 Hz Ogg Vorbis speech");
    // Chained Ogg (one stream after another, as radio recordings are), the second at
    // another rate and in stereo: each stream's samples, one after the other. (ffmpeg puts
    // ~20 ms more at the seam, so the whole is held to each stream decoded alone.)
    let second = make(d, "second.ogg", &["-i", speech_s, "-ar", "22050", "-ac", "2", "-c:a", "libvorbis"]);
    let chained = d.join("chained.ogg");
    std::fs::write(&chained, [std::fs::read(&ogg).expect("read"), std::fs::read(&second).expect("read")].concat()).expect("write");
    let (ours, decoder) = audio::decode_with(ffmpeg(), &chained, &Limits::default()).expect("decodes");
    assert_eq!(decoder, Decoder::Symphonia);
    let (one, two) = (reference(&ogg), reference(&second));
    assert!(ours.len().abs_diff(one.len() + two.len()) <= SLACK, "{} samples for {} + {}", ours.len(), one.len(), two.len());
    let seam = one.len().min(ours.len());
    for (part, theirs, what) in [(&ours[..seam], &one, "first"), (&ours[seam..], &two, "second")] {
        let (lag, diff) = difference(part, theirs);
        eprintln!("chained Ogg, {what} stream: lag {lag}, difference {:.3} %", diff * 100.0);
        assert!(
            diff <= MAX_DIFFERENCE && lag.unsigned_abs() <= SLACK,
            "the {what} chained stream differs by {:.1} % (lag {lag})",
            diff * 100.0
        );
    }
}

/// The checks above would catch a decoder that gets the rate, the mix or the continuity
/// wrong: each such fault is far past [`MAX_DIFFERENCE`].
#[test]
fn a_wrong_rate_mix_or_gap_is_caught() {
    let dir = tempfile::tempdir().expect("tempdir");
    let speech = speech(dir.path());
    let theirs = reference(&speech);
    // The same WAV with its header saying 22 000 Hz instead of 22 050 Hz (0.2 % off).
    let mut bytes = std::fs::read(&speech).expect("read");
    assert_eq!(&bytes[12..16], b"fmt ", "espeak-ng's WAV starts with its fmt chunk");
    assert_eq!(u32::from_le_bytes([bytes[24], bytes[25], bytes[26], bytes[27]]), 22_050);
    bytes[24..28].copy_from_slice(&22_000u32.to_le_bytes());
    bytes[28..32].copy_from_slice(&44_000u32.to_le_bytes());
    let wrong_rate = dir.path().join("wrong-rate.wav");
    std::fs::write(&wrong_rate, bytes).expect("write");
    let (ours, _) = audio::decode_with(ffmpeg(), &wrong_rate, &Limits::default()).expect("decodes");
    let (_, diff) = difference(&ours, &theirs);
    eprintln!("a 0.2 % wrong rate: {:.1} %", diff * 100.0);
    assert!(diff > 2.0 * MAX_DIFFERENCE, "a wrong rate passes: {diff}");

    // Two channels averaged: √½ of ffmpeg's (L + R)·√½.
    let stereo = make(dir.path(), "stereo.wav", &["-i", speech.to_str().expect("utf-8 path"), "-ac", "2", "-c:a", "pcm_s16le"]);
    let (ours, _) = audio::decode_with(ffmpeg(), &stereo, &Limits::default()).expect("decodes");
    let mean: Vec<f32> = ours.iter().map(|x| x * std::f32::consts::FRAC_1_SQRT_2).collect();
    let (_, diff) = difference(&mean, &reference(&stereo));
    eprintln!("the channels' mean: {:.1} %", diff * 100.0);
    assert!(diff > 2.0 * MAX_DIFFERENCE, "a mean mix passes: {diff}");

    let (ours, _) = audio::decode_with(ffmpeg(), &speech, &Limits::default()).expect("decodes");
    // A tenth of a second lost in the middle.
    let mid = ours.len() / 2;
    let gap: Vec<f32> = ours[..mid].iter().chain(&ours[mid + 1600..]).copied().collect();
    let (_, diff) = difference(&gap, &theirs);
    eprintln!("a 0.1 s gap: {:.1} %", diff * 100.0);
    assert!(diff > 2.0 * MAX_DIFFERENCE, "a gap passes: {diff}");
}

#[test]
fn other_formats_go_through_ffmpeg() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let speech = speech(d);
    let speech_s = speech.to_str().expect("utf-8 path");
    let seconds = reference(&speech).len() as f64 / RATE;
    let mp4 = make(
        d,
        "video.mp4",
        &["-f", "lavfi", "-i", "testsrc2=s=160x120:r=10", "-i", speech_s, "-shortest", "-c:v", "libx264", "-c:a", "aac"],
    );
    let opus = make(d, "speech.opus", &["-i", speech_s, "-c:a", "libopus"]);
    let m4a = make(d, "speech.m4a", &["-i", speech_s, "-c:a", "aac"]);
    let surround = make(d, "surround.wav", &["-i", speech_s, "-af", "pan=5.1|c0=c0|c1=c0|c2=c0|c3=c0|c4=c0|c5=c0", "-c:a", "pcm_s16le"]);
    for (path, what) in [(&mp4, "MP4 with AAC"), (&opus, "Ogg Opus"), (&m4a, "M4A"), (&surround, "5.1 WAV")] {
        let (samples, decoder) = audio::decode_with(ffmpeg(), path, &Limits::default()).expect("decodes");
        assert_eq!(decoder, Decoder::Ffmpeg, "{what}");
        let got = samples.len() as f64 / RATE;
        assert!((got - seconds).abs() < 0.2, "{what}: {got} s of {seconds}");
    }
    // ffmpeg mixes 5.1 by its channels' positions: the same samples as ever.
    assert_eq!(audio::decode(ffmpeg(), &surround, &Limits::default()).expect("decodes"), reference(&surround));
}

#[test]
fn limits_hold_in_process() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wav = make(dir.path(), "tone.wav", &["-f", "lavfi", "-i", "sine=f=440:r=44100:d=10", "-c:a", "pcm_s16le"]);
    let short = Limits { max_seconds: 5.0, ..Limits::default() };
    let err = audio::decode(ffmpeg(), &wav, &short).expect_err("10 s over a 5 s limit");
    let theirs = audio::stream_ffmpeg(ffmpeg(), &wav, &short, |_| ControlFlow::Continue(())).expect_err("ffmpeg refuses it too");
    assert_eq!(err, theirs, "the same refusal as ffmpeg's");
    assert_eq!(err.code, "input-duration-out-of-range");

    // Cancelled before: nothing given. Cancelled by the sink: no piece after that.
    let cancelled = Limits::default();
    cancelled.cancel.cancel();
    let err = audio::stream(ffmpeg(), &wav, &cancelled, |_| panic!("no samples after the cancel")).expect_err("cancelled");
    assert_eq!(err.code, "cancelled");
    let limits = Limits::default();
    let mut pieces = Vec::new();
    let err = audio::stream(ffmpeg(), &wav, &limits, |s| {
        pieces.push(s.len());
        limits.cancel.cancel();
        ControlFlow::Continue(())
    })
    .expect_err("cancelled");
    assert_eq!((err.code, pieces), ("cancelled", vec![16_000]));

    // The sink stops it: what it took is the count.
    let streamed = audio::stream(ffmpeg(), &wav, &Limits::default(), |_| ControlFlow::Break(())).expect("stops");
    assert_eq!((streamed.samples, streamed.decoder), (16_000, Decoder::Symphonia));
    // Pieces of a second, the last one the rest.
    let mut pieces = Vec::new();
    audio::stream(ffmpeg(), &wav, &Limits::default(), |s| {
        pieces.push(s.len());
        ControlFlow::Continue(())
    })
    .expect("decodes");
    assert_eq!(pieces, vec![16_000; 10]);

    // Out of time: refused, naming the setting.
    let no_time = Limits { decode_timeout: Duration::ZERO, ..Limits::default() };
    let err = audio::decode(ffmpeg(), &wav, &no_time).expect_err("no time to decode");
    assert_eq!(err.code, "transcribe-failed");
    assert!(err.message.contains("FFMPEG_TIMEOUT_SECS"), "{}", err.message);
}

#[test]
fn broken_files_are_not_media_or_decode_what_is_there() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let speech = speech(d);
    let bytes = std::fs::read(&speech).expect("read");
    let write = |name: &str, bytes: &[u8]| {
        let path = d.join(name);
        std::fs::write(&path, bytes).expect("write");
        path
    };
    for (name, body) in [
        ("notes.txt", b"this is not audio\n".to_vec()),
        ("header-only.wav", bytes[..30].to_vec()),
        ("garbage.wav", [&b"RIFF\x24\x10\0\0WAVE"[..], &[0x5A; 4000]].concat()),
        ("empty.mp3", Vec::new()),
    ] {
        let err = audio::decode(ffmpeg(), &write(name, &body), &Limits::default()).expect_err("not media");
        assert_eq!(err.code, "input-not-media", "{name}: {err}");
    }
    // Cut in the middle of its samples: what is there, as ffmpeg reads it.
    let cut = write("cut.wav", &bytes[..bytes.len() / 2]);
    assert_matches_ffmpeg(&cut, "a WAV cut in half");

    // Damage anywhere in each format: an answer (samples or input-not-media), in time, no panic.
    let speech_s = speech.to_str().expect("utf-8 path");
    let files = [
        speech.clone(),
        make(d, "s.mp3", &["-i", speech_s, "-c:a", "libmp3lame"]),
        make(d, "s.flac", &["-i", speech_s, "-c:a", "flac"]),
        make(d, "s.ogg", &["-i", speech_s, "-c:a", "libvorbis"]),
    ];
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for file in &files {
        let clean = std::fs::read(file).expect("read");
        for round in 0..12 {
            let mut damaged = clean.clone();
            // Runs of random bytes at random places, the header included now and then.
            for _ in 0..(1 + round % 4) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let at = if round % 3 == 0 { (seed % 64) as usize } else { (seed % damaged.len() as u64) as usize };
                let end = (at + 1 + (seed >> 40) as usize % 200).min(damaged.len());
                for (i, b) in damaged[at..end].iter_mut().enumerate() {
                    *b = (seed >> (i % 8 * 8)) as u8 ^ i as u8;
                }
            }
            let name = format!("damaged-{round}-{}", file.file_name().and_then(|n| n.to_str()).unwrap_or("x"));
            let path = write(&name, &damaged);
            let clock = Instant::now();
            // A damaged header may say another rate or length: any number of samples will do.
            if let Err(e) = audio::decode(ffmpeg(), &path, &Limits::default()) {
                assert_eq!(e.code, "input-not-media", "{name}: {e}");
            }
            assert!(clock.elapsed() < Duration::from_secs(10), "{name} took {:?}", clock.elapsed());
        }
    }
}
