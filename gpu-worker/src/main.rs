//! The `gpu-worker` binary: `serve` (RunPod-shaped local API), `run --test-input FILE`
//! (one job, like RunPod's `--test_input`), `render-local` (the render on local files),
//! and RunPod platform mode.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use gpu_worker::config::Config;
use gpu_worker::executor::Executor;
use gpu_worker::platform::{self, PlatformConfig};
use gpu_worker::serve::{self, ServeConfig};
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(version, about = "api-gpu worker: renders media jobs with ffmpeg through presigned URLs")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve RunPod's public REST API shape locally (the edge's development backend).
    Serve {
        #[arg(long, env = "SERVE_HOST", default_value = "127.0.0.1")]
        host: std::net::IpAddr,
        #[arg(long, env = "SERVE_PORT", default_value_t = 8000)]
        port: u16,
        /// The endpoint id in `/v2/{endpoint}/…`.
        #[arg(long, env = "RUNPOD_ENDPOINT_ID", default_value = "local")]
        endpoint_id: String,
        /// Require `Authorization: Bearer <key>`.
        #[arg(long, env = "RUNPOD_API_KEY")]
        api_key: Option<String>,
        /// Jobs running at once; others queue.
        #[arg(long, env = "SERVE_CONCURRENCY", default_value_t = 1)]
        concurrency: usize,
        /// Seconds between completion-webhook attempts (RunPod: 10).
        #[arg(long, env = "WEBHOOK_RETRY_DELAY_SECS", default_value_t = 10)]
        webhook_retry_delay_secs: u64,
    },
    /// Run one job from a JSON file (`{"input": <WorkerJob>}` or the job itself, or a
    /// seed 004 `{"input": {"task": …, "parameters": {…}}}`) and print the output; exit 1
    /// on failure.
    Run {
        #[arg(long = "test-input", alias = "test_input")]
        test_input: PathBuf,
    },
    /// Render a video from local files, as `/video/render` does (no HTTP): prints the
    /// stages' timings and the result's facts as JSON; exit 1 on failure.
    RenderLocal {
        /// The task: a RenderTask as JSON (a render job's `params`).
        #[arg(long)]
        task: PathBuf,
        /// An input by name: `scene_1=photo.jpg`, `narration=voice.mp3`, `music=…`,
        /// `captions=words.json`; every input the task reads.
        #[arg(long = "input", value_name = "NAME=PATH", value_parser = named_path)]
        inputs: Vec<(String, PathBuf)>,
        /// The MP4 to write.
        #[arg(long)]
        output: PathBuf,
    },
}

fn named_path(s: &str) -> Result<(String, PathBuf), String> {
    match s.split_once('=') {
        Some((name, path)) if !name.is_empty() && !path.is_empty() => Ok((name.to_owned(), PathBuf::from(path))),
        _ => Err(format!("`{s}`: expected NAME=PATH")),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .json()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let cli = Cli::parse();
    let cfg = Config::from_env().map_err(anyhow::Error::msg).context("configuration")?;
    match cli.command {
        Some(Command::Serve { host, port, endpoint_id, api_key, concurrency, webhook_retry_delay_secs }) => {
            // Before the encoder probe: a refused bind fails at once.
            serve::check_bind(SocketAddr::new(host, port), api_key.as_deref()).map_err(anyhow::Error::msg)?;
            let exec = Executor::new(cfg).await.map_err(anyhow::Error::msg)?;
            tracing::info!(encoder = exec.encoder.name(), "encoder selected");
            let shutdown = CancellationToken::new();
            tokio::spawn(signal_shutdown(shutdown.clone()));
            let scfg = ServeConfig {
                endpoint_id,
                api_key,
                concurrency,
                webhook_retries: 2,
                webhook_retry_delay: Duration::from_secs(webhook_retry_delay_secs),
                default_execution_timeout: Duration::from_secs(600),
            };
            serve::serve(SocketAddr::new(host, port), scfg, exec, shutdown).await?;
            Ok(())
        }
        Some(Command::Run { test_input }) => {
            let text = std::fs::read_to_string(&test_input).with_context(|| format!("reading {}", test_input.display()))?;
            let value: serde_json::Value = serde_json::from_str(&text).context("test input is not JSON")?;
            let value = value.get("input").cloned().unwrap_or(value);
            // The edge's WorkerJob, or seed 004's task + parameters; refused like a failed job.
            let incoming = match gpu_worker::seed_task::parse_input(value, cfg.public_inputs.as_ref()) {
                Ok(i) => i,
                Err(e) => {
                    println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "error": e }))?);
                    std::process::exit(1);
                }
            };
            let exec = Executor::new(cfg).await.map_err(anyhow::Error::msg)?;
            let cancel = CancellationToken::new();
            tokio::spawn(signal_shutdown(cancel.clone()));
            let progress =
                Arc::new(|p: job_spec::Progress| tracing::info!(stage = %p.stage, completed = p.completed, total = p.total, "progress"));
            match exec.execute(incoming.job(), progress, &cancel).await {
                Ok(out) => {
                    println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "output": incoming.output_value(&out) }))?);
                    Ok(())
                }
                Err(e) => {
                    println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "error": e.to_worker_error() }))?);
                    std::process::exit(1);
                }
            }
        }
        Some(Command::RenderLocal { task, inputs, output }) => {
            let text = std::fs::read_to_string(&task).with_context(|| format!("reading {}", task.display()))?;
            let task: job_spec::worker::RenderTask = serde_json::from_str(&text).context("the task is not a render task's JSON")?;
            let mut named = BTreeMap::new();
            for (name, path) in inputs {
                if named.insert(name.clone(), path).is_some() {
                    anyhow::bail!("input `{name}` given twice");
                }
            }
            let exec = Executor::new(cfg).await.map_err(anyhow::Error::msg)?;
            let cancel = CancellationToken::new();
            tokio::spawn(signal_shutdown(cancel.clone()));
            let progress = Arc::new(|p: job_spec::Progress| {
                tracing::debug!(stage = %p.stage, completed = p.completed, total = p.total, "progress");
            });
            match exec.render_local(&task, &named, &output, &(progress as gpu_worker::executor::ProgressFn), &cancel).await {
                Ok((extras, timings)) => {
                    let mut report = serde_json::json!({
                        "output": output.display().to_string(),
                        "encoder": exec.encoder.name(),
                        "timings_ms": timings,
                    });
                    for (k, v) in extras {
                        report[k] = v;
                    }
                    println!("{}", serde_json::to_string_pretty(&report)?);
                    Ok(())
                }
                Err(e) => {
                    println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "error": e.to_worker_error() }))?);
                    std::process::exit(1);
                }
            }
        }
        None if std::env::var_os("RUNPOD_WEBHOOK_GET_JOB").is_some() => {
            // Checked before the encoder probe so a misconfigured worker fails at once.
            if cfg.allow_loopback_http {
                anyhow::bail!(
                    "ALLOW_LOOPBACK_HTTP is for local development (the local S3 server) and is refused in RunPod platform mode: \
                     it lets job URLs reach http:// services on the pod's loopback; remove it from the endpoint's environment"
                );
            }
            let pcfg = PlatformConfig::from_lookup(|k| std::env::var(k).ok()).map_err(anyhow::Error::msg)?;
            let exec = Executor::new(cfg).await.map_err(anyhow::Error::msg)?;
            let shutdown = CancellationToken::new();
            tokio::spawn(signal_shutdown(shutdown.clone()));
            platform::run(pcfg, exec, shutdown).await.map_err(anyhow::Error::msg)
        }
        None => {
            eprintln!(
                "nothing to do: use `gpu-worker serve`, `gpu-worker run --test-input FILE`, `gpu-worker render-local …`, or set RUNPOD_WEBHOOK_GET_JOB (see --help)"
            );
            std::process::exit(2);
        }
    }
}

async fn signal_shutdown(token: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return,
        };
        tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down");
    token.cancel();
}
