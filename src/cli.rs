//! The `cairn` command line. Each subcommand's doc comment is its help text.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

/// cairn: find the messages your Kafka pipeline lost or duplicated, per message, with evidence.
#[derive(Debug, Parser)]
#[command(name = "cairn", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the detector: consume the tracing topic, decide lost/duplicate/late per message,
    /// publish verdicts and serve metrics.
    Detect {
        /// Path to cairn.toml (see schemas/cairn.example.toml).
        #[arg(long, short, env = "CAIRN_CONFIG")]
        config: PathBuf,
    },
    /// Run a traced pipeline with injected faults against Kafka and write its ground truth.
    Simulate {
        /// Scenario file describing the pipeline, rates and faults.
        #[arg(long)]
        scenario: PathBuf,
    },
    /// Compare verdicts with a ground truth and print precision, recall and detection delay.
    Score {
        /// Ground truth written by `cairn simulate` (JSONL).
        #[arg(long)]
        truth: PathBuf,
        /// Verdicts: a JSONL file, or a topic as kafka://<bootstrap>/<topic>.
        #[arg(long)]
        verdicts: String,
    },
    /// Zero-setup demo: an in-process mock Kafka cluster, a simulated pipeline with faults,
    /// the detector, and a score table.
    Demo,
}

/// Why a subcommand could not run.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("`cairn {0}` is not implemented yet; it is tracked in the project's issues")]
    NotImplemented(&'static str),
}

impl Command {
    pub fn name(&self) -> &'static str {
        match self {
            Command::Detect { .. } => "detect",
            Command::Simulate { .. } => "simulate",
            Command::Score { .. } => "score",
            Command::Demo => "demo",
        }
    }
}

/// Runs one subcommand to completion.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Detect { config } => {
            init_logging();
            let loaded = cairn_core::config::Config::load(&config)
                .with_context(|| format!("loading {}", config.display()))?;
            crate::detect::run(loaded)
        }
        // Not built yet: say so rather than print anything that looks real.
        other => Err(CliError::NotImplemented(other.name()).into()),
    }
}

/// Structured logs on stderr; `RUST_LOG` overrides the default level (info).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
