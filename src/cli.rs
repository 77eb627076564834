//! The `cairn` command line. Each subcommand's doc comment is its help text.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use cairn_core::config::parse_duration;
use clap::{Args, Parser, Subcommand};

/// cairn: find the messages your Kafka pipeline lost or duplicated, per message, with evidence.
#[derive(Debug, Parser)]
#[command(name = "cairn", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// How log lines on stderr are written: `text` (human lines; colours only when stderr is a
    /// terminal) or `json` (one JSON object per line, for log shippers).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "CAIRN_LOG_FORMAT")]
    pub log_format: LogFormat,
}

/// The `--log-format` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
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
    /// Watch every consumer group of the declared clusters: report per group and partition
    /// whether it keeps up, lags, is stuck or lost records to retention, open and close
    /// incidents (sent to [watch] incidents_topic and webhooks), and serve /api/consumers,
    /// /api/incidents and /metrics on [http] listen. See docs/watch.md.
    Watch {
        /// Path to cairn.toml; only [clusters], [http] and [watch] are needed
        /// (see schemas/cairn.example.toml).
        #[arg(long, short, env = "CAIRN_CONFIG")]
        config: PathBuf,
        /// Directory of the watch's own state (its open incidents, restored at start).
        #[arg(long, default_value = cairn_shell::watch::DEFAULT_STORE)]
        store: PathBuf,
    },
    /// Send heartbeats through every broker of the declared clusters and match what is read
    /// back exactly: per partition and broker produced, acknowledged, consumed, lost sequence
    /// numbers, duplicates, reorders, latency and availability. Keeps a canary topic with a
    /// partition led by every broker ([canary] topic), and serves /api/canary, /api/brokers
    /// and /metrics on [http] listen. [canary] mode splits writing and reading over several
    /// instances (produce, consume, both). See docs/canary.md.
    Canary {
        /// Path to cairn.toml; only [clusters], [http] and [canary] are needed
        /// (see schemas/cairn.example.toml).
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
        /// A directory to control the readers through while they run (created if missing):
        /// creating `<app>.hang` makes that app stop reading and committing (a stuck
        /// consumer); creating `<app>.relaunch` relaunches it (it rejoins its group and
        /// carries on), as a responder's action would. Each file is removed once obeyed.
        #[arg(long, value_name = "DIR")]
        control: Option<PathBuf>,
    },
    /// Compare verdicts with a ground truth and print precision, recall, false alarms,
    /// detection delay and duplicates, per stream and overall. Exits non-zero, naming the
    /// limit, when a threshold flag is missed.
    Score(ScoreArgs),
    /// Zero-setup demo: an in-process mock Kafka cluster, a simulated pipeline with faults,
    /// the detector, and a score table.
    Demo,
    /// Internal: the child process through which `cairn watch` reads committed offsets.
    /// Started by the watch itself, with its socket as standard input.
    #[command(name = "committed-offsets-reader", hide = true)]
    CommittedOffsetsReader,
}

/// The flags of `cairn score`.
#[derive(Debug, Args)]
pub struct ScoreArgs {
    /// Ground truth written by `cairn simulate` (JSONL, schemas/truth.schema.json).
    #[arg(long)]
    pub truth: PathBuf,
    /// Verdicts: a JSONL file of verdict records (a bad line is an error naming it), or a
    /// topic as kafka://<host:port>[,<host:port>...]/<topic>, read from the beginning to its
    /// current end without joining a group (records that are not verdicts are counted and
    /// shown in the report).
    #[arg(long)]
    pub verdicts: String,
    /// The `/metrics` of the `cairn detect` that made the verdicts (an http:// URL or a file
    /// of its text), to compare duplicates and stuck counts. Without it duplicates are not
    /// compared.
    #[arg(long)]
    pub metrics: Option<String>,
    /// Fail unless overall precision (detected / standing lost verdicts) is at least this.
    #[arg(long, value_parser = unit_interval)]
    pub min_precision: Option<f64>,
    /// Fail unless overall recall (detected / lost in the truth) is at least this.
    #[arg(long, value_parser = unit_interval)]
    pub min_recall: Option<f64>,
    /// Fail if there are more false alarms (retracted + contradicted by the truth) than this.
    #[arg(long)]
    pub max_false_alarms: Option<u64>,
    /// Fail if the p99 detection delay (detected_at - passed_at) is above this, e.g. 30s.
    #[arg(long, value_parser = parse_duration)]
    pub max_delay_p99: Option<Duration>,
    /// Print the report as JSON (the same fields) instead of the table.
    #[arg(long)]
    pub json: bool,
    /// How long reading a verdict topic or fetching --metrics may take.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub timeout: Duration,
}

/// A ratio flag: a number from 0 to 1.
fn unit_interval(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("expected a number from 0 to 1, got `{text}`")),
    }
}

/// Why a subcommand could not run.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("thresholds missed: {0}")]
    ThresholdsMissed(String),
}

/// Runs one subcommand to completion.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let init_logging = || init_logging(cli.log_format);
    match cli.command {
        Command::Detect { config } => {
            init_logging();
            let loaded = cairn_core::config::Config::load(&config)
                .with_context(|| format!("loading {}", config.display()))?;
            cairn_shell::detect::run(loaded)
        }
        Command::Watch { config, store } => {
            init_logging();
            // The offsets reader writes its log lines as the watch does.
            let format = match cli.log_format {
                LogFormat::Text => "text",
                LogFormat::Json => "json",
            };
            cairn_shell::watch::committed::set_launcher(cairn_shell::watch::committed::Launcher {
                program: std::env::current_exe().context("finding the cairn executable")?,
                args: [
                    "--log-format",
                    format,
                    cairn_shell::watch::committed::READER_SUBCOMMAND,
                ]
                .map(std::ffi::OsString::from)
                .to_vec(),
            });
            let loaded = cairn_core::config::WatchConfig::load(&config)
                .with_context(|| format!("loading {}", config.display()))?;
            cairn_shell::watch::run(loaded, store)
        }
        Command::Canary { config } => {
            init_logging();
            let loaded = cairn_core::config::CanaryConfig::load(&config)
                .with_context(|| format!("loading {}", config.display()))?;
            cairn_shell::canary::run(loaded)
        }
        Command::Simulate {
            scenario,
            out,
            bootstraps,
            control,
        } => {
            init_logging();
            let loaded = cairn_sim::simulate::Scenario::load(&scenario)?;
            let options = cairn_sim::simulate::SimulateOptions {
                out,
                bootstraps: bootstraps.into_iter().collect(),
                skip_topic_creation: false,
                control,
            };
            let report = cairn_sim::simulate::run(&loaded, &options)?;
            println!("{}", report.summary());
            Ok(())
        }
        Command::Score(args) => score(args),
        Command::CommittedOffsetsReader => {
            init_logging();
            cairn_shell::watch::committed::serve()
        }
        Command::Demo => {
            // Quiet by default: the demo's output is its report. RUST_LOG shows detect's logs.
            if std::env::var_os("RUST_LOG").is_some() {
                init_logging();
            }
            cairn_sim::demo::run()
        }
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

/// Prints the report (table or JSON) on stdout, then fails naming every missed threshold.
fn score(args: ScoreArgs) -> anyhow::Result<()> {
    let options = cairn_sim::score::ScoreOptions {
        truth: args.truth,
        verdicts: args.verdicts,
        metrics: args.metrics,
        thresholds: cairn_sim::score::thresholds::Thresholds {
            min_precision: args.min_precision,
            min_recall: args.min_recall,
            max_false_alarms: args.max_false_alarms,
            max_delay_p99: args.max_delay_p99,
        },
        timeout: args.timeout,
    };
    let report = cairn_sim::score::run(&options)?;
    if args.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_text());
    }
    let missed: Vec<String> = report.missed().iter().map(|c| c.describe()).collect();
    if missed.is_empty() {
        Ok(())
    } else {
        Err(CliError::ThresholdsMissed(missed.join("; ")).into())
    }
}

/// Structured logs on stderr; `RUST_LOG` overrides the default level (info). No ANSI colour
/// codes unless stderr is a terminal: a file or a log shipper gets plain text (or JSON).
fn init_logging(format: LogFormat) {
    use std::io::IsTerminal as _;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder.json().with_ansi(false).try_init(),
    };
}
