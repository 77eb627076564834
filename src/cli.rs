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
        /// Scenario file describing the pipeline, rates and faults
        /// (see schemas/scenario.example.toml).
        #[arg(long)]
        scenario: PathBuf,
        /// Directory for truth.jsonl and the apps' ledgers (created if missing).
        #[arg(long, default_value = "cairn-simulate")]
        out: PathBuf,
        /// Replace a cluster's bootstrap servers from the cairn_config, as CLUSTER=HOST:PORT[,...];
        /// repeat for several clusters.
        #[arg(long = "bootstrap", value_name = "CLUSTER=SERVERS", value_parser = parse_bootstrap)]
        bootstraps: Vec<(String, String)>,
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
        Command::Simulate {
            scenario,
            out,
            bootstraps,
        } => {
            init_logging();
            let loaded = crate::simulate::Scenario::load(&scenario)?;
            let options = crate::simulate::SimulateOptions {
                out,
                bootstraps: bootstraps.into_iter().collect(),
                skip_topic_creation: false,
            };
            let report = crate::simulate::run(&loaded, &options)?;
            println!("{}", report.summary());
            Ok(())
        }
        // Not built yet: say so rather than print anything that looks real.
        other => Err(CliError::NotImplemented(other.name()).into()),
    }
}

/// Reads `CLUSTER=SERVERS`.
fn parse_bootstrap(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((cluster, servers)) if !cluster.is_empty() && !servers.is_empty() => {
            Ok((cluster.to_owned(), servers.to_owned()))
        }
        _ => Err(format!(
            "{text:?}: expected CLUSTER=HOST:PORT[,HOST:PORT...]"
        )),
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
