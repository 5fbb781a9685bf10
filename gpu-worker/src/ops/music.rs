//! trilhasonora: background music under a voice, for video and for audio.
//!
//! Both tracks are measured with EBU R128 (`ebur128`, integrated loudness in LUFS); the
//! music's gain puts it `reduction_db` below the voice. The music loops
//! (`-stream_loop -1`) and is cut to the voice's length. `amix` divides its inputs by
//! their count unless `normalize=0`, which would lower the voice by 6 dB: we keep it off.

use std::path::Path;

use job_spec::worker::AudioFormat;

use super::av::{aac, audio_out, head, input, mp4_out, secs};

/// Loudness of a voice track below which it counts as silence (R128 gates at -70).
pub const SILENCE_LUFS: f64 = -60.0;
/// Where the voice is assumed to sit when the video has none (a typical narration).
pub const REFERENCE_VOICE_LUFS: f64 = -16.0;

/// Measures the integrated loudness of the first audio stream. Only the summary is
/// printed: ebur128 logs a line per 100 ms of audio at `info` (6 h: ~27 MB of stderr);
/// `framelog=verbose` puts those below ffmpeg's level (ffmpeg 5.1 knows no `quiet`
/// there), and `-nostats` drops the progress lines.
pub fn loudness_args(src: &Path) -> Vec<String> {
    let mut a: Vec<String> = ["-hide_banner", "-nostdin", "-nostats"].map(str::to_owned).to_vec();
    a.extend(input(src));
    a.extend(["-map", "0:a:0", "-af", "ebur128=framelog=verbose", "-f", "null", "-"].map(str::to_owned));
    a
}

/// The integrated loudness from ebur128's summary (`I:  -23.4 LUFS`), the last one printed.
pub fn parse_integrated(stderr: &str) -> Option<f64> {
    stderr.lines().rev().find_map(|l| {
        let rest = l.trim().strip_prefix("I:")?;
        rest.trim().strip_suffix("LUFS")?.trim().parse().ok()
    })
}

/// The music gain in dB, and the voice loudness used (`None` when there is no voice).
pub fn music_gain(voice_lufs: Option<f64>, music_lufs: f64, reduction_db: f64) -> f64 {
    let voice = voice_lufs.filter(|v| *v > SILENCE_LUFS).unwrap_or(REFERENCE_VOICE_LUFS);
    let music = if music_lufs > SILENCE_LUFS { music_lufs } else { voice };
    (voice - reduction_db) - music
}

/// Every track is mixed as 48 kHz float stereo.
pub(crate) const STEREO: &str = "aresample=48000,aformat=sample_fmts=fltp:channel_layouts=stereo";

/// The mix, labelled `[a]`: the voice (`(label, filters after its resampling)`, the
/// filters empty or starting with a comma) and the music, `gain_db`, cut at `seconds`;
/// the voice's length is the mix's. Without a voice, the music alone.
pub(crate) fn mix_graph(voice: Option<(&str, &str)>, music: &str, gain_db: f64, seconds: f64) -> String {
    let m = format!("[{music}]{STEREO},volume={gain_db:.2}dB,atrim=0:{}[m]", secs(seconds));
    match voice {
        Some((v, tail)) => format!("[{v}]{STEREO}{tail}[v];{m};[v][m]amix=inputs=2:duration=first:dropout_transition=0:normalize=0[a]"),
        None => m.replace("[m]", "[a]"),
    }
}

/// Video: video stream copied; audio = voice (if any) + music, for `video_secs`.
pub fn video_args(video: &Path, music: &Path, has_voice: bool, gain_db: f64, video_secs: f64, out: &Path) -> Vec<String> {
    let mut a = head();
    a.extend(input(video));
    a.extend(["-stream_loop".into(), "-1".into()]);
    a.extend(input(music));
    let graph = mix_graph(has_voice.then_some(("0:a:0", "")), "1:a:0", gain_db, video_secs);
    a.extend(["-filter_complex".into(), graph, "-map".into(), "0:v:0".into(), "-map".into(), "[a]".into(), "-c:v".into(), "copy".into()]);
    a.extend(aac());
    a.extend(["-t".into(), secs(video_secs)]);
    a.extend(mp4_out(out));
    a
}

/// Audio: voice + music for the voice's length, in `format`.
pub fn audio_args(voice: &Path, music: &Path, gain_db: f64, voice_secs: f64, format: AudioFormat, out: &Path) -> Vec<String> {
    let mut a = head();
    a.extend(input(voice));
    a.extend(["-stream_loop".into(), "-1".into()]);
    a.extend(input(music));
    let graph = mix_graph(Some(("0:a:0", "")), "1:a:0", gain_db, voice_secs);
    a.extend(["-filter_complex".into(), graph, "-map".into(), "[a]".into(), "-t".into(), secs(voice_secs)]);
    a.extend(audio_out(format, out));
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_summary() {
        let stderr = "[Parsed_ebur128_0 @ 0x5] Summary:\n\n  Integrated loudness:\n    I:         -19.7 LUFS\n    Threshold: -30.0 LUFS\n";
        assert_eq!(parse_integrated(stderr), Some(-19.7));
        assert_eq!(parse_integrated("nothing"), None);
    }

    #[test]
    fn gain_rules() {
        assert_eq!(music_gain(Some(-16.0), -10.0, 20.0), -26.0);
        assert_eq!(music_gain(None, -10.0, 20.0), -26.0, "no voice: the reference level");
        assert_eq!(music_gain(Some(-70.0), -20.0, 10.0), -6.0, "a silent voice counts as none");
        assert_eq!(music_gain(Some(-20.0), -70.0, 10.0), -10.0, "silent music: relative to the voice");
    }

    #[test]
    fn exact_arguments() {
        assert_eq!(
            loudness_args(Path::new("/w/v.mp4")).join(" "),
            "-hide_banner -nostdin -nostats -i /w/v.mp4 -map 0:a:0 -af ebur128=framelog=verbose -f null -"
        );
        assert_eq!(
            video_args(Path::new("/w/v.mp4"), Path::new("/w/m.mp3"), true, -12.5, 10.0, Path::new("/w/o.mp4")).join(" "),
            "-hide_banner -nostdin -y -i /w/v.mp4 -stream_loop -1 -i /w/m.mp3 -filter_complex \
             [0:a:0]aresample=48000,aformat=sample_fmts=fltp:channel_layouts=stereo[v];\
             [1:a:0]aresample=48000,aformat=sample_fmts=fltp:channel_layouts=stereo,volume=-12.50dB,atrim=0:10.000000[m];\
             [v][m]amix=inputs=2:duration=first:dropout_transition=0:normalize=0[a] \
             -map 0:v:0 -map [a] -c:v copy -c:a aac -b:a 192k -t 10.000000 -movflags +faststart -f mp4 /w/o.mp4"
        );
        let silent = video_args(Path::new("/w/v.mp4"), Path::new("/w/m.mp3"), false, -3.0, 2.0, Path::new("/w/o.mp4")).join(" ");
        assert!(
            silent.contains(
                "-filter_complex [1:a:0]aresample=48000,aformat=sample_fmts=fltp:channel_layouts=stereo,volume=-3.00dB,atrim=0:2.000000[a] "
            ),
            "{silent}"
        );
        assert_eq!(
            audio_args(Path::new("/w/v.wav"), Path::new("/w/m.mp3"), -30.0, 5.0, AudioFormat::Mp3, Path::new("/w/o.mp3")).join(" "),
            "-hide_banner -nostdin -y -i /w/v.wav -stream_loop -1 -i /w/m.mp3 -filter_complex \
             [0:a:0]aresample=48000,aformat=sample_fmts=fltp:channel_layouts=stereo[v];\
             [1:a:0]aresample=48000,aformat=sample_fmts=fltp:channel_layouts=stereo,volume=-30.00dB,atrim=0:5.000000[m];\
             [v][m]amix=inputs=2:duration=first:dropout_transition=0:normalize=0[a] -map [a] -t 5.000000 \
             -c:a libmp3lame -b:a 192k -f mp3 /w/o.mp3"
        );
    }
}
