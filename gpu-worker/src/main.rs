//! The `gpu-worker` binary: `serve` (RunPod-shaped local API), `run --test-input FILE`
//! (one job, like RunPod's `--test_input`), and RunPod platform mode.

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
    /// Run one job from a JSON file (`{"input": <WorkerJob>}` or the job itself) and
    /// print the output; exit 1 on failure.
    Run {
        #[arg(long = "test-input", alias = "test_input")]
        test_input: PathBuf,
    },
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
            let job: job_spec::WorkerJob = serde_json::from_value(value).context("test input is not a worker job")?;
            let exec = Executor::new(cfg).await.map_err(anyhow::Error::msg)?;
            let cancel = CancellationToken::new();
            tokio::spawn(signal_shutdown(cancel.clone()));
            let progress =
                Arc::new(|p: job_spec::Progress| tracing::info!(stage = %p.stage, completed = p.completed, total = p.total, "progress"));
            match exec.execute(&job, progress, &cancel).await {
                Ok(out) => {
                    println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "output": out }))?);
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
            let pcfg = PlatformConfig::from_lookup(|k| std::env::var(k).ok()).map_err(anyhow::Error::msg)?;
            let exec = Executor::new(cfg).await.map_err(anyhow::Error::msg)?;
            let shutdown = CancellationToken::new();
            tokio::spawn(signal_shutdown(shutdown.clone()));
            platform::run(pcfg, exec, shutdown).await.map_err(anyhow::Error::msg)
        }
        None => {
            eprintln!(
                "nothing to do: use `gpu-worker serve`, `gpu-worker run --test-input FILE`, or set RUNPOD_WEBHOOK_GET_JOB (see --help)"
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
