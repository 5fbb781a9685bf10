//! Timing child processes: wall, CPU (user + sys), peak RSS.
//!
//! Every measured command runs under a fresh copy of this binary (`bench __measure
//! REPORT -- PROGRAM ARGS…`) that spawns it, waits, and then reads
//! `getrusage(RUSAGE_CHILDREN)`: in a process whose only children are the command and
//! what it waits for, that is exactly the command's process tree — user and system CPU
//! summed over the tree, and `ru_maxrss` of its largest process. The wrapper also samples
//! the tree's summed RSS (`/proc`, every 20 ms), since a renderer and its ffmpeg run side
//! by side and `ru_maxrss` sees only one of them. The wrapper's own time is not counted.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nix::sys::resource::{UsageWho, getrusage};
use serde::{Deserialize, Serialize};

pub const SUBCOMMAND: &str = "__measure";

/// What one command (or a chain of them, run one after another) cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub wall_s: f64,
    pub user_s: f64,
    pub sys_s: f64,
    /// Largest `ru_maxrss` of any process, KiB.
    pub max_rss_kib: u64,
    /// Largest sampled sum of the tree's RSS, KiB.
    pub tree_rss_kib: u64,
}

impl Sample {
    pub fn cpu_s(&self) -> f64 {
        self.user_s + self.sys_s
    }

    /// `self` then `next`: times add, memory peaks are the larger one.
    pub fn then(self, next: Sample) -> Sample {
        Sample {
            wall_s: self.wall_s + next.wall_s,
            user_s: self.user_s + next.user_s,
            sys_s: self.sys_s + next.sys_s,
            max_rss_kib: self.max_rss_kib.max(next.max_rss_kib),
            tree_rss_kib: self.tree_rss_kib.max(next.tree_rss_kib),
        }
    }
}

/// The wrapper: `REPORT -- PROGRAM ARGS…`. Exits with the command's status.
pub fn wrapper(args: &[String]) -> anyhow::Result<()> {
    let [report, sep, program, rest @ ..] = args else { bail!("usage: bench {SUBCOMMAND} REPORT -- PROGRAM [ARGS…]") };
    anyhow::ensure!(sep == "--", "usage: bench {SUBCOMMAND} REPORT -- PROGRAM [ARGS…]");
    let start = Instant::now();
    let mut child = Command::new(program).args(rest).stdin(Stdio::null()).spawn().with_context(|| format!("starting {program}"))?;
    let pid = child.id();
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut peak = 0;
            while !stop.load(Ordering::Relaxed) {
                peak = peak.max(tree_rss_kib(pid));
                std::thread::sleep(Duration::from_millis(20));
            }
            peak
        })
    };
    let status = child.wait()?;
    let wall_s = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let tree_rss_kib = sampler.join().unwrap_or(0);
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN)?;
    let sample = Sample {
        wall_s,
        user_s: secs(usage.user_time()),
        sys_s: secs(usage.system_time()),
        max_rss_kib: u64::try_from(usage.max_rss()).unwrap_or(0),
        tree_rss_kib,
    };
    std::fs::write(report, serde_json::to_vec(&sample)?)?;
    if !status.success() {
        std::process::exit(status.code().unwrap_or(1));
    }
    Ok(())
}

fn secs(t: nix::sys::time::TimeVal) -> f64 {
    t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6
}

/// User + system CPU seconds of `who` so far (`RUSAGE_SELF`: every thread of this process;
/// `RUSAGE_CHILDREN`: the children it has reaped).
pub fn cpu_s(who: UsageWho) -> anyhow::Result<f64> {
    let usage = getrusage(who)?;
    Ok(secs(usage.user_time()) + secs(usage.system_time()))
}

/// Summed VmRSS of `pid` and its descendants (threads' children included), KiB.
fn tree_rss_kib(pid: u32) -> u64 {
    let mut total = 0;
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        let Ok(status) = std::fs::read_to_string(format!("/proc/{p}/status")) else { continue };
        total += status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or(0);
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else { continue };
        for t in tasks.flatten() {
            if let Ok(children) = std::fs::read_to_string(t.path().join("children")) {
                todo.extend(children.split_whitespace().filter_map(|c| c.parse::<u32>().ok()));
            }
        }
    }
    total
}

/// Runs commands under the wrapper, logging each one's output to its own file.
pub struct Runner {
    exe: PathBuf,
    logs: PathBuf,
    count: std::cell::Cell<u32>,
}

impl Runner {
    pub fn new(logs: &Path) -> anyhow::Result<Runner> {
        std::fs::create_dir_all(logs)?;
        Ok(Runner { exe: std::env::current_exe()?, logs: logs.to_path_buf(), count: 0.into() })
    }

    /// This binary (for the hidden subcommands).
    pub fn exe(&self) -> &Path {
        &self.exe
    }

    fn log_path(&self, label: &str) -> PathBuf {
        let n = self.count.get() + 1;
        self.count.set(n);
        let name: String = label.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
        self.logs.join(format!("{n:03}-{name}.log"))
    }

    /// Runs `argv` (program first) measured; its stdout and stderr go to a log file.
    pub fn measure(&self, label: &str, argv: &[String]) -> anyhow::Result<Sample> {
        let log = self.log_path(label);
        let report = log.with_extension("json");
        std::fs::write(&log, format!("$ {}\n", shell_line(argv)))?;
        let out = std::fs::OpenOptions::new().append(true).open(&log)?;
        let status = Command::new(&self.exe)
            .arg(SUBCOMMAND)
            .arg(&report)
            .arg("--")
            .args(argv)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .status()?;
        if !status.success() {
            bail!("{label} failed ({status}); log {}:\n{}", log.display(), tail(&log));
        }
        Ok(serde_json::from_slice(&std::fs::read(&report)?)?)
    }

    /// Runs `argv` unmeasured (preparation, analysis); output logged.
    pub fn run(&self, label: &str, argv: &[String]) -> anyhow::Result<()> {
        let log = self.log_path(label);
        std::fs::write(&log, format!("$ {}\n", shell_line(argv)))?;
        let out = std::fs::OpenOptions::new().append(true).open(&log)?;
        let status = Command::new(&argv[0]).args(&argv[1..]).stdin(Stdio::null()).stdout(out.try_clone()?).stderr(out).status()?;
        if !status.success() {
            bail!("{label} failed ({status}); log {}:\n{}", log.display(), tail(&log));
        }
        Ok(())
    }
}

/// The last lines of a log.
pub fn tail(path: &Path) -> String {
    let mut s = String::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        let _ = f.read_to_string(&mut s);
    }
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

/// `argv` as a copy-pasteable shell line.
pub fn shell_line(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if !a.is_empty() && a.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c)) {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_add_times_and_keep_peaks() {
        let a = Sample { wall_s: 1.0, user_s: 2.0, sys_s: 0.5, max_rss_kib: 10, tree_rss_kib: 30 };
        let b = Sample { wall_s: 2.0, user_s: 1.0, sys_s: 0.25, max_rss_kib: 20, tree_rss_kib: 25 };
        let c = a.then(b);
        assert_eq!((c.wall_s, c.cpu_s(), c.max_rss_kib, c.tree_rss_kib), (3.0, 3.75, 20, 30));
    }

    #[test]
    fn shell_lines_quote_what_needs_it() {
        let argv: Vec<String> = ["ffmpeg", "-vf", "scale=6720:3840,zoompan=z='min(1,2)'", "a b"].map(str::to_owned).to_vec();
        assert_eq!(shell_line(&argv), r"ffmpeg -vf 'scale=6720:3840,zoompan=z='\''min(1,2)'\''' 'a b'");
    }
}
