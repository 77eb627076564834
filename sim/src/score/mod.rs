//! `cairn score`: grades cairn's verdicts against the ground truth of a simulated run.
//!
//! - [`inputs`]: the truth file, verdicts from a JSONL file or a Kafka topic, `/metrics`.
//! - [`topic`]: reading a verdict topic to its end without joining a group.
//! - [`prom`]: the duplicate and stuck counters out of a `/metrics` page.
//! - [`matching`]: the pure grading: precision, recall, false alarms, delay, duplicates.
//! - [`thresholds`]: pass/fail limits on the overall score.
//! - [`report`]: the aligned text table and `--json`.

pub mod inputs;
pub mod matching;
pub mod prom;
pub mod report;
pub mod thresholds;
pub mod topic;

use std::path::PathBuf;
use std::time::Duration;

use self::inputs::{InputError, VerdictSource};
use self::matching::MatchError;
use self::report::Report;
use self::thresholds::Thresholds;

/// What `cairn score` was asked to do.
#[derive(Clone, Debug)]
pub struct ScoreOptions {
    pub truth: PathBuf,
    /// A JSONL file, or `kafka://<host:port>[,host:port]/<topic>`.
    pub verdicts: String,
    /// `/metrics` of the `cairn detect` that made the verdicts: an http URL or a file.
    pub metrics: Option<String>,
    pub thresholds: Thresholds,
    /// How long reading a topic or fetching metrics may take.
    pub timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ScoreError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Match(#[from] MatchError),
    #[error("starting the async runtime for --metrics: {0}")]
    Runtime(std::io::Error),
}

/// Reads every input and grades the verdicts. Thresholds are checked into the report, not
/// turned into an error here: the caller prints the report first.
pub fn run(options: &ScoreOptions) -> Result<Report, ScoreError> {
    let truth = inputs::read_truth_file(&options.truth)?;
    let source = VerdictSource::parse(&options.verdicts)?;
    let read = inputs::read_verdicts(&source, options.timeout)?;
    let found = match &options.metrics {
        Some(metrics) => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(ScoreError::Runtime)?;
            Some(runtime.block_on(inputs::read_metrics(metrics, options.timeout))?)
        }
        None => None,
    };
    let scores = matching::score(&truth, &read.verdicts, found.as_ref())?;
    let thresholds = options.thresholds.check(&scores.overall);
    Ok(Report {
        truth: options.truth.display().to_string(),
        truth_lines: truth.len() as u64,
        verdicts: options.verdicts.clone(),
        malformed_verdicts: read.malformed,
        metrics: options.metrics.clone(),
        scores,
        thresholds,
    })
}
