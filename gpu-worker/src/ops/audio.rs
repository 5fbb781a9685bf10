//! Audio-only operations: trim and concatenate, output format by extension.

use std::path::Path;

use job_spec::worker::AudioFormat;

use super::av::{audio_out, head, input, secs};

/// `audio/trim`: `duration` seconds from `start`. `-ss` before `-i` seeks the input;
/// decoding from there is sample-accurate for audio.
pub fn trim_args(src: &Path, start: f64, duration: f64, format: AudioFormat, out: &Path) -> Vec<String> {
    let mut a = head();
    a.extend(["-ss".into(), secs(start), "-t".into(), secs(duration)]);
    a.extend(input(src));
    a.extend(["-map".into(), "0:a:0".into(), "-vn".into()]);
    a.extend(audio_out(format, out));
    a
}

/// `audio/concatenate`: every input resampled to 48 kHz stereo, then joined in order.
pub fn concat_args(srcs: &[&Path], format: AudioFormat, out: &Path) -> Vec<String> {
    let mut a = head();
    let mut graph = String::new();
    let mut pads = String::new();
    for (i, s) in srcs.iter().enumerate() {
        a.extend(input(s));
        graph.push_str(&format!("[{i}:a:0]aresample=48000,aformat=sample_fmts=fltp:channel_layouts=stereo[a{i}];"));
        pads.push_str(&format!("[a{i}]"));
    }
    graph.push_str(&format!("{pads}concat=n={}:v=0:a=1[a]", srcs.len()));
    a.extend(["-filter_complex".into(), graph, "-map".into(), "[a]".into()]);
    a.extend(audio_out(format, out));
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_arguments() {
        assert_eq!(
            trim_args(Path::new("/w/a.wav"), 1.25, 2.0, AudioFormat::Mp3, Path::new("/w/o.mp3")).join(" "),
            "-hide_banner -nostdin -y -ss 1.250000 -t 2.000000 -i /w/a.wav -map 0:a:0 -vn -c:a libmp3lame -b:a 192k -f mp3 /w/o.mp3"
        );
        assert_eq!(
            concat_args(&[Path::new("/w/1.mp3"), Path::new("/w/2.wav")], AudioFormat::Wav, Path::new("/w/o.wav")).join(" "),
            "-hide_banner -nostdin -y -i /w/1.mp3 -i /w/2.wav -filter_complex \
             [0:a:0]aresample=48000,aformat=sample_fmts=fltp:channel_layouts=stereo[a0];\
             [1:a:0]aresample=48000,aformat=sample_fmts=fltp:channel_layouts=stereo[a1];[a0][a1]concat=n=2:v=0:a=1[a] \
             -map [a] -c:a pcm_s16le -f wav /w/o.wav"
        );
    }
}
