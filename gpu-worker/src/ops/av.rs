//! Shared argument pieces: audio codecs per output format, AAC for MP4, the MP4 muxer
//! flags, and the concat demuxer's list syntax.

use std::path::Path;

use job_spec::worker::AudioFormat;

/// Common head of every ffmpeg run: quiet banner, never read stdin, overwrite.
pub fn head() -> Vec<String> {
    ["-hide_banner", "-nostdin", "-y"].map(str::to_owned).to_vec()
}

pub fn input(path: &Path) -> [String; 2] {
    ["-i".to_owned(), path.display().to_string()]
}

/// AAC for audio inside MP4.
pub fn aac() -> Vec<String> {
    ["-c:a", "aac", "-b:a", "192k"].map(str::to_owned).to_vec()
}

/// MP4 output with the index at the front (playable while downloading).
pub fn mp4_out(out: &Path) -> Vec<String> {
    vec!["-movflags".into(), "+faststart".into(), "-f".into(), "mp4".into(), out.display().to_string()]
}

/// Codec and muxer for an audio-only output.
pub fn audio_out(format: AudioFormat, out: &Path) -> Vec<String> {
    let a: &[&str] = match format {
        AudioFormat::Mp3 => &["-c:a", "libmp3lame", "-b:a", "192k", "-f", "mp3"],
        AudioFormat::M4a => &["-c:a", "aac", "-b:a", "192k", "-movflags", "+faststart", "-f", "mp4"],
        AudioFormat::Aac => &["-c:a", "aac", "-b:a", "192k", "-f", "adts"],
        AudioFormat::Wav => &["-c:a", "pcm_s16le", "-f", "wav"],
        AudioFormat::Ogg => &["-c:a", "libvorbis", "-q:a", "5", "-f", "ogg"],
        AudioFormat::Opus => &["-c:a", "libopus", "-b:a", "128k", "-f", "opus"],
        AudioFormat::Flac => &["-c:a", "flac", "-f", "flac"],
    };
    let mut v: Vec<String> = a.iter().map(|s| (*s).to_owned()).collect();
    v.push(out.display().to_string());
    v
}

/// Re-encodes the video through `filter` and copies the audio (if any): the shape of
/// `downsample` and of burning captions.
pub fn filter_video_copy_audio(src: &Path, filter: String, fps: u32, out: &Path, encoder: crate::encoder::Encoder) -> Vec<String> {
    let mut a = head();
    a.extend(input(src));
    a.extend(["-map", "0:v:0", "-map", "0:a?", "-vf"].map(str::to_owned));
    a.push(filter);
    a.extend(encoder.video_args(fps));
    a.extend(["-c:a".into(), "copy".into()]);
    a.extend(mp4_out(out));
    a
}

/// `args` with `-fs <bytes>` before its last argument, the output file (every builder
/// here ends with it): ffmpeg stops writing there, so a stream copy sized by a lying
/// input cannot fill the work dir. ffmpeg then exits 0; [`output_within`] tells.
pub fn limit_output(args: &[String], bytes: u64) -> Vec<String> {
    let mut a = args.to_vec();
    let at = a.len().saturating_sub(1);
    a.splice(at..at, ["-fs".to_owned(), bytes.to_string()]);
    a
}

/// Whether the file at `out` stayed under the `-fs` limit (absent counts as under:
/// ffmpeg's own error says why).
pub fn output_within(out: &Path, bytes: u64) -> bool {
    std::fs::metadata(out).map_or(true, |m| m.len() < bytes)
}

/// One line of a concat-demuxer list: `file '<path>'`, single quotes escaped the way the
/// demuxer's parser expects (`'` → `'\''`).
pub fn concat_list_line(path: &Path) -> String {
    format!("file '{}'\n", path.display().to_string().replace('\'', r"'\''"))
}

/// Seconds for ffmpeg options, fixed precision (no exponent notation).
pub fn secs(s: f64) -> String {
    format!("{s:.6}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces() {
        assert_eq!(concat_list_line(Path::new("/w/it's.mp4")), "file '/w/it'\\''s.mp4'\n");
        assert_eq!(audio_out(AudioFormat::Wav, Path::new("/o.wav")).join(" "), "-c:a pcm_s16le -f wav /o.wav");
        assert_eq!(audio_out(AudioFormat::Mp3, Path::new("/o.mp3")).join(" "), "-c:a libmp3lame -b:a 192k -f mp3 /o.mp3");
        assert_eq!(secs(1.0 / 3.0), "0.333333");
        assert_eq!(secs(12.0), "12.000000");
        let args: Vec<String> = ["-i", "in.mp4", "-c", "copy", "/o.mp4"].map(str::to_owned).to_vec();
        assert_eq!(limit_output(&args, 1 << 30).join(" "), "-i in.mp4 -c copy -fs 1073741824 /o.mp4");
    }
}
