//! `/pipeline/segment` in the worker: the master audio cut into WAV segments,
//! sample-exactly.
//!
//! The master is downloaded once and decoded once by ffmpeg to raw 16-bit PCM at its own
//! sample rate and channel count (both from ffprobe, and passed to ffmpeg as `-ar`/`-ac`
//! so the raw samples are known to be laid out that way). Each segment is then cut in
//! Rust by sample index — first sample round(start_sec × rate), round(duration_sec ×
//! rate) samples — and written as a WAV (a 44-byte header and the copied bytes). No
//! per-segment seek or re-decode, so segments are exact and a thousand of them cost
//! one decode. A segment starting at or past the end fails the job (`start-beyond-end`,
//! naming it); one running past the end is cut short and says so (`truncated`).
//!
//! A master or presenter given as a URL is uploaded unchanged to its staged key (the
//! part of a fanned-out job that was told to). Stages, timed and reported as progress:
//! `download`, `decode`, `cut` (per segment), `upload`.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use job_spec::worker::{SegmentAudioTask, SegmentCut};
use job_spec::{Progress, WorkerJob, WorkerOutput};
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use super::av::{head, input, limit_output, output_within};
use crate::error::JobError;
use crate::executor::{Executor, ProgressFn, elapsed_ms};
use crate::process::{self, ProcessError};

/// Bytes per sample of the decoded PCM (signed 16-bit little-endian).
pub const BYTES_PER_SAMPLE: u64 = 2;

/// ffmpeg: the first audio stream of `src`, decoded to raw s16le at `rate` Hz and
/// `channels` channels (the master's own), written to `out`.
pub fn decode_args(src: &Path, rate: u32, channels: u32, out: &Path) -> Vec<String> {
    let mut a = head();
    a.extend(input(src));
    a.extend(["-map", "0:a:0", "-vn", "-sn", "-dn"].map(str::to_owned));
    a.extend(["-ar".into(), rate.to_string(), "-ac".into(), channels.to_string()]);
    a.extend(["-c:a", "pcm_s16le", "-f", "s16le"].map(str::to_owned));
    a.push(out.display().to_string());
    a
}

/// The canonical 44-byte header of a PCM WAV holding `frames` sample frames.
pub fn wav_header(rate: u32, channels: u16, frames: u64) -> Result<[u8; 44], String> {
    let block = u32::from(channels) * BYTES_PER_SAMPLE as u32;
    let data = frames.checked_mul(u64::from(block)).filter(|d| *d <= u64::from(u32::MAX) - 36);
    let data = data.ok_or_else(|| format!("{frames} samples of {channels} channels do not fit a WAV file (4 GiB)"))? as u32;
    let mut h = [0u8; 44];
    let mut at = 0;
    let mut put = |bytes: &[u8]| {
        h[at..at + bytes.len()].copy_from_slice(bytes);
        at += bytes.len();
    };
    put(b"RIFF");
    put(&(36 + data).to_le_bytes());
    put(b"WAVEfmt ");
    put(&16u32.to_le_bytes()); // fmt chunk size
    put(&1u16.to_le_bytes()); // PCM
    put(&channels.to_le_bytes());
    put(&rate.to_le_bytes());
    put(&(rate * block).to_le_bytes()); // byte rate
    put(&(block as u16).to_le_bytes()); // block align
    put(&(BYTES_PER_SAMPLE as u16 * 8).to_le_bytes()); // bits per sample
    put(b"data");
    put(&data.to_le_bytes());
    Ok(h)
}

/// Where one segment lies in the decoded master.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cut {
    pub index: u32,
    /// First sample frame.
    pub start: u64,
    /// Sample frames written (fewer than asked when `truncated`).
    pub frames: u64,
    /// The segment ran past the end of the master and was cut short.
    pub truncated: bool,
}

/// Segments in sample frames of a master of `total` frames at `rate` Hz; `Err` is the
/// first segment that starts at or past the end, with a message naming it.
pub fn plan_cuts(segments: &[SegmentCut], rate: u32, total: u64) -> Result<Vec<Cut>, (u32, String)> {
    segments
        .iter()
        .map(|s| {
            let (start, want) = s.samples(rate);
            if start >= total {
                let end = total as f64 / f64::from(rate);
                return Err((
                    s.index,
                    format!(
                        "segment {} starts at {} s (sample {start}), at or past the end of the audio ({end:.3} s, {total} samples)",
                        s.index, s.start_sec
                    ),
                ));
            }
            let frames = want.min(total - start);
            Ok(Cut { index: s.index, start, frames, truncated: frames < want })
        })
        .collect()
}

/// Writes `cut` of the raw PCM `pcm` (`channels` channels) to `out` as a WAV.
pub fn write_segment(pcm: &mut std::fs::File, rate: u32, channels: u16, cut: &Cut, out: &Path) -> std::io::Result<()> {
    let block = u64::from(channels) * BYTES_PER_SAMPLE;
    let header = wav_header(rate, channels, cut.frames).map_err(std::io::Error::other)?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(out)?);
    w.write_all(&header)?;
    pcm.seek(SeekFrom::Start(cut.start * block))?;
    let copied = std::io::copy(&mut Read::by_ref(pcm).take(cut.frames * block), &mut w)?;
    if copied != cut.frames * block {
        return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the decoded audio is shorter than planned"));
    }
    w.into_inner().map_err(|e| e.into_error())?.sync_all()
}

/// The result's facts: per segment `{index, samples, start_sample, truncated}`, and the
/// master's `sample_rate`, `channels`, `master_samples`, `master_duration`.
pub fn extras(cuts: &[Cut], rate: u32, channels: u16, total: u64) -> Map<String, Value> {
    let mut m = Map::new();
    let segments: Vec<Value> =
        cuts.iter().map(|c| json!({"index": c.index, "samples": c.frames, "start_sample": c.start, "truncated": c.truncated})).collect();
    m.insert("segments".into(), segments.into());
    m.insert("sample_rate".into(), rate.into());
    m.insert("channels".into(), channels.into());
    m.insert("master_samples".into(), total.into());
    m.insert("master_duration".into(), json!(total as f64 / f64::from(rate)));
    m
}

impl Executor {
    pub(crate) async fn segment_audio(
        &self,
        job: &WorkerJob,
        t: &SegmentAudioTask,
        dir: &Path,
        progress: &ProgressFn,
        cancel: &CancellationToken,
        timings: &mut BTreeMap<String, u64>,
    ) -> Result<WorkerOutput, JobError> {
        t.check().map_err(JobError::InvalidTask)?;
        let n = t.segments.len() as u64;

        let clock = Instant::now();
        progress(Progress::new("download", 0, 1));
        let master = self.download_inputs(job, vec![SegmentAudioTask::MASTER.into()], dir, cancel);
        let presenter = async {
            if !t.stage_presenter {
                return Ok(None);
            }
            let dest = dir.join("presenter");
            self.fetch_input(job, SegmentAudioTask::PRESENTER, &dest, cancel).await?;
            Ok::<_, JobError>(Some(dest))
        };
        let (mut master, presenter) = tokio::try_join!(master, presenter)?;
        let (master_path, probe) = master.remove(0);
        timings.insert("download".into(), elapsed_ms(clock));
        crate::single::need_audio(SegmentAudioTask::MASTER, &probe)?;
        let stream = probe.audio().ok_or_else(|| JobError::Internal("audio stream vanished".into()))?;
        let rate: u32 =
            stream.sample_rate.as_deref().and_then(|r| r.parse().ok()).filter(|r| *r > 0).ok_or_else(|| JobError::BadInput {
                name: SegmentAudioTask::MASTER.into(),
                code: "input-not-media",
                message: "its audio stream has no sample rate".into(),
            })?;
        let channels = stream.channels.filter(|c| (1..=32).contains(c)).ok_or_else(|| JobError::BadInput {
            name: SegmentAudioTask::MASTER.into(),
            code: "input-not-media",
            message: "its audio stream has no channel count".into(),
        })? as u16;

        let clock = Instant::now();
        progress(Progress::new("decode", 0, 1));
        let pcm = dir.join("master.pcm");
        // The decoded PCM's size follows the decoded length, not the probed one: `-fs`
        // bounds it, and a master that reaches the limit is refused, not cut short.
        let limit = self.cfg.max_output_bytes;
        let args = limit_output(&decode_args(&master_path, rate, u32::from(channels), &pcm), limit);
        process::run_ffmpeg(&self.cfg.ffmpeg, &args, self.cfg.ffmpeg_timeout, cancel, |_| {})
            .await
            .map_err(|e| if e == ProcessError::Cancelled { JobError::Cancelled } else { JobError::Ffmpeg(e) })?;
        if !output_within(&pcm, limit) {
            return Err(JobError::OutputTooLarge { limit });
        }
        let bytes = std::fs::metadata(&pcm).map_err(|e| JobError::Internal(format!("decoded audio: {e}")))?.len();
        let total = bytes / (u64::from(channels) * BYTES_PER_SAMPLE);
        timings.insert("decode".into(), elapsed_ms(clock));

        let cuts = plan_cuts(&t.segments, rate, total).map_err(|(_, message)| JobError::BadInput {
            name: SegmentAudioTask::MASTER.into(),
            code: "start-beyond-end",
            message,
        })?;
        // A plain WAV says its size in 32 bits: refuse (not retry) a segment that cannot fit.
        if let Some((c, e)) = cuts.iter().find_map(|c| wav_header(rate, channels, c.frames).err().map(|e| (c, e))) {
            let message = format!("segment {}: {e}", c.index);
            return Err(JobError::BadInput { name: SegmentAudioTask::MASTER.into(), code: "segment-too-large", message });
        }
        let clock = Instant::now();
        progress(Progress::new("cut", 0, n));
        let files = {
            let (cuts, dir, pcm, progress, cancel) = (cuts.clone(), dir.to_owned(), pcm.clone(), progress.clone(), cancel.clone());
            tokio::task::spawn_blocking(move || -> Result<Vec<(String, PathBuf)>, JobError> {
                let io = |e: std::io::Error| JobError::Internal(format!("writing a segment: {e}"));
                let mut src = std::fs::File::open(&pcm).map_err(io)?;
                let mut files = Vec::with_capacity(cuts.len());
                for (i, c) in cuts.iter().enumerate() {
                    if cancel.is_cancelled() {
                        return Err(JobError::Cancelled);
                    }
                    let out = dir.join(format!("segment_{}.wav", c.index));
                    write_segment(&mut src, rate, channels, c, &out).map_err(io)?;
                    files.push((format!("segment_{}", c.index), out));
                    progress(Progress::new("cut", i as u64 + 1, cuts.len() as u64));
                }
                Ok(files)
            })
            .await
            .map_err(|e| JobError::Internal(format!("cutting: {e}")))??
        };
        // The decoded master is no longer needed: free the work dir (often RAM) before uploading.
        let _ = std::fs::remove_file(&pcm);
        timings.insert("cut".into(), elapsed_ms(clock));

        let clock = Instant::now();
        let mut uploads = files;
        if t.stage_master {
            uploads.push((SegmentAudioTask::STAGED_MASTER.into(), master_path));
        }
        if let Some(p) = presenter {
            uploads.push((SegmentAudioTask::STAGED_PRESENTER.into(), p));
        }
        let count = uploads.len() as u64;
        progress(Progress::new("upload", 0, count));
        let mut outputs = self.upload_outputs(job, uploads, None, cancel).await?;
        progress(Progress::new("upload", count, count));
        timings.insert("upload".into(), elapsed_ms(clock));
        for o in &mut outputs {
            if let Some(c) = cuts.iter().find(|c| format!("segment_{}", c.index) == o.name) {
                o.duration = Some(c.frames as f64 / f64::from(rate));
            } else if o.name == SegmentAudioTask::STAGED_MASTER {
                o.duration = Some(total as f64 / f64::from(rate));
            }
        }
        Ok(WorkerOutput { outputs, extras: extras(&cuts, rate, channels, total), ..Default::default() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_arguments() {
        assert_eq!(
            decode_args(Path::new("/w/in_0"), 44_100, 2, Path::new("/w/master.pcm")).join(" "),
            "-hide_banner -nostdin -y -i /w/in_0 -map 0:a:0 -vn -sn -dn -ar 44100 -ac 2 -c:a pcm_s16le -f s16le /w/master.pcm"
        );
    }

    #[test]
    fn header_is_canonical_pcm_wav() {
        let h = wav_header(48_000, 1, 24_000).unwrap();
        assert_eq!(&h[0..4], b"RIFF");
        assert_eq!(u32::from_le_bytes(h[4..8].try_into().unwrap()), 36 + 48_000);
        assert_eq!(&h[8..16], b"WAVEfmt ");
        assert_eq!(u32::from_le_bytes(h[16..20].try_into().unwrap()), 16);
        assert_eq!(u16::from_le_bytes(h[20..22].try_into().unwrap()), 1);
        assert_eq!(u16::from_le_bytes(h[22..24].try_into().unwrap()), 1);
        assert_eq!(u32::from_le_bytes(h[24..28].try_into().unwrap()), 48_000);
        assert_eq!(u32::from_le_bytes(h[28..32].try_into().unwrap()), 96_000);
        assert_eq!(u16::from_le_bytes(h[32..34].try_into().unwrap()), 2);
        assert_eq!(u16::from_le_bytes(h[34..36].try_into().unwrap()), 16);
        assert_eq!(&h[36..40], b"data");
        assert_eq!(u32::from_le_bytes(h[40..44].try_into().unwrap()), 48_000);
        let stereo = wav_header(44_100, 2, 10).unwrap();
        assert_eq!(
            (u32::from_le_bytes(stereo[28..32].try_into().unwrap()), u16::from_le_bytes(stereo[32..34].try_into().unwrap())),
            (176_400, 4)
        );
        // Past 4 GiB of data a plain WAV cannot say its size.
        assert!(wav_header(48_000, 8, 6 * 3600 * 48_000).is_err());
    }

    #[test]
    fn cuts_round_truncate_and_refuse() {
        let seg = |index, start_sec, duration_sec| SegmentCut { index, start_sec, duration_sec };
        let cuts = plan_cuts(&[seg(0, 0.0, 6.2), seg(1, 6.2, 5.8), seg(2, 10.5, 1.0)], 44_100, 11 * 44_100).unwrap();
        assert_eq!(cuts[0], Cut { index: 0, start: 0, frames: 273_420, truncated: false });
        assert_eq!(cuts[1], Cut { index: 1, start: 273_420, frames: 211_680, truncated: true });
        assert_eq!(cuts[2], Cut { index: 2, start: 463_050, frames: 22_050, truncated: true });
        let (index, msg) = plan_cuts(&[seg(0, 0.0, 1.0), seg(4, 11.0, 1.0)], 44_100, 11 * 44_100).unwrap_err();
        assert_eq!(index, 4);
        assert!(msg.contains("segment 4 starts at 11 s") && msg.contains("(11.000 s, 485100 samples)"), "{msg}");
    }

    #[test]
    fn segments_are_the_bytes_at_their_offset() {
        let dir = tempfile::tempdir().unwrap();
        let pcm = dir.path().join("m.pcm");
        // Stereo frames whose samples are their own index (left) and its negation (right).
        let raw: Vec<u8> = (0..1000i16).flat_map(|i| [i.to_le_bytes(), (-i).to_le_bytes()].concat()).collect();
        std::fs::write(&pcm, &raw).unwrap();
        let out = dir.path().join("s.wav");
        let mut f = std::fs::File::open(&pcm).unwrap();
        write_segment(&mut f, 8000, 2, &Cut { index: 0, start: 990, frames: 10, truncated: false }, &out).unwrap();
        let wav = std::fs::read(&out).unwrap();
        assert_eq!(wav.len(), 44 + 40);
        assert_eq!(&wav[..44], &wav_header(8000, 2, 10).unwrap());
        assert_eq!(&wav[44..48], &[990i16.to_le_bytes(), (-990i16).to_le_bytes()].concat()[..]);
        assert_eq!(&wav[80..84], &[999i16.to_le_bytes(), (-999i16).to_le_bytes()].concat()[..]);
        // Asking past the end of the file is an error, never a short segment.
        let short = write_segment(&mut f, 8000, 2, &Cut { index: 1, start: 995, frames: 10, truncated: false }, &out);
        assert_eq!(short.unwrap_err().kind(), std::io::ErrorKind::UnexpectedEof);
    }
}
