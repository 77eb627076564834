//! Where `cairn score` reads from: the truth file, verdicts from a JSONL file or a Kafka topic
//! (`kafka://<host:port>[,host:port]/<topic>`), and cairn's `/metrics` from a URL or a file.
//!
//! Bad input in a file is an error naming the file and the line. On a topic, a record that is
//! not a verdict is counted and shown in the report instead: a topic is shared and append-only,
//! so one stray record must not make every later score impossible.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::Duration;

use cairn_core::model::Verdict;
use cairn_core::verdict::{self, VerdictError};

use super::matching::FoundCounts;
use super::prom::{self, PromError};
use super::topic::{self, TopicError, TopicRead};
use crate::truth::{TruthError, TruthRecord, read_truth};

/// Why an input could not be read.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("opening {path}: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Truth { path: PathBuf, source: TruthError },
    #[error(
        "verdicts {path} line {line}: {source}; expected one verdict record per line (schemas/verdict.schema.json)"
    )]
    VerdictLine {
        path: PathBuf,
        line: usize,
        source: VerdictError,
    },
    #[error("verdicts {path}: {source}")]
    VerdictIo {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`{0}` is not a verdict topic: expected kafka://<host:port>[,<host:port>...]/<topic>")]
    TopicSpec(String),
    #[error(transparent)]
    Topic(#[from] TopicError),
    #[error("metrics {source_name}: {detail}")]
    Metrics { source_name: String, detail: String },
    #[error("metrics {source_name}: {source}")]
    MetricsText {
        source_name: String,
        source: PromError,
    },
}

/// Where verdicts come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VerdictSource {
    File(PathBuf),
    Topic { bootstrap: String, topic: String },
}

impl VerdictSource {
    /// `kafka://host:port[,host:port]/topic` is a topic; anything else is a file path.
    pub fn parse(text: &str) -> Result<VerdictSource, InputError> {
        let Some(rest) = text.strip_prefix("kafka://") else {
            return Ok(VerdictSource::File(PathBuf::from(text)));
        };
        let bad = || InputError::TopicSpec(text.to_owned());
        let (bootstrap, topic) = rest.split_once('/').ok_or_else(bad)?;
        let hosts_ok = bootstrap.split(',').all(|host| {
            host.rsplit_once(':')
                .is_some_and(|(h, port)| !h.is_empty() && port.parse::<u16>().is_ok())
        });
        if !hosts_ok || topic.is_empty() || topic.contains('/') {
            return Err(bad());
        }
        Ok(VerdictSource::Topic {
            bootstrap: bootstrap.to_owned(),
            topic: topic.to_owned(),
        })
    }
}

/// Verdicts as read, with what could not be.
#[derive(Debug, Default)]
pub struct VerdictsRead {
    pub verdicts: Vec<Verdict>,
    /// Records on a topic that are not verdicts: where, and why (always empty for a file).
    pub malformed: Vec<String>,
}

pub fn read_truth_file(path: &Path) -> Result<Vec<TruthRecord>, InputError> {
    let file = File::open(path).map_err(|source| InputError::Open {
        path: path.to_owned(),
        source,
    })?;
    read_truth(BufReader::new(file)).map_err(|source| InputError::Truth {
        path: path.to_owned(),
        source,
    })
}

/// Reads verdicts from `source`; a topic is read up to its end as of now, within `timeout`.
pub fn read_verdicts(
    source: &VerdictSource,
    timeout: Duration,
) -> Result<VerdictsRead, InputError> {
    match source {
        VerdictSource::File(path) => {
            let file = File::open(path).map_err(|source| InputError::Open {
                path: path.clone(),
                source,
            })?;
            let verdicts = read_verdict_lines(BufReader::new(file), path)?;
            Ok(VerdictsRead {
                verdicts,
                malformed: Vec::new(),
            })
        }
        VerdictSource::Topic { bootstrap, topic } => {
            let TopicRead {
                verdicts,
                malformed,
            } = topic::read_to_end(bootstrap, topic, timeout)?;
            Ok(VerdictsRead {
                verdicts,
                malformed,
            })
        }
    }
}

/// JSONL verdicts; blank lines are skipped, any other bad line is an error naming it.
pub fn read_verdict_lines(input: impl BufRead, path: &Path) -> Result<Vec<Verdict>, InputError> {
    let mut out = Vec::new();
    for (ix, line) in input.lines().enumerate() {
        let line = line.map_err(|source| InputError::VerdictIo {
            path: path.to_owned(),
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let verdict =
            verdict::decode(line.as_bytes()).map_err(|source| InputError::VerdictLine {
                path: path.to_owned(),
                line: ix + 1,
                source,
            })?;
        out.push(verdict);
    }
    Ok(out)
}

/// cairn's duplicate and stuck counts from `/metrics`: an `http://` URL or a file of its text.
pub async fn read_metrics(source: &str, timeout: Duration) -> Result<FoundCounts, InputError> {
    let failed = |detail: String| InputError::Metrics {
        source_name: source.to_owned(),
        detail,
    };
    let text = if source.starts_with("http://") || source.starts_with("https://") {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| failed(e.to_string()))?;
        let response = client
            .get(source)
            .send()
            .await
            .map_err(|e| failed(format!("request failed: {e}")))?;
        let status = response.status();
        if !status.is_success() {
            return Err(failed(format!("answered {status}")));
        }
        response
            .text()
            .await
            .map_err(|e| failed(format!("reading the body: {e}")))?
    } else {
        std::fs::read_to_string(source).map_err(|e| failed(e.to_string()))?
    };
    prom::found_counts(&text).map_err(|source_err| InputError::MetricsText {
        source_name: source.to_owned(),
        source: source_err,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kafka_url_is_a_topic_and_anything_else_a_file() {
        assert_eq!(
            VerdictSource::parse("kafka://127.0.0.1:9092,127.0.0.1:9093/lost").unwrap(),
            VerdictSource::Topic {
                bootstrap: "127.0.0.1:9092,127.0.0.1:9093".into(),
                topic: "lost".into()
            }
        );
        assert_eq!(
            VerdictSource::parse("out/verdicts.jsonl").unwrap(),
            VerdictSource::File("out/verdicts.jsonl".into())
        );
        for bad in [
            "kafka://127.0.0.1:9092",
            "kafka://127.0.0.1/lost",
            "kafka://:9092/lost",
            "kafka://h:9092/",
            "kafka://h:9092/a/b",
            "kafka://h:port/lost",
        ] {
            let err = VerdictSource::parse(bad).unwrap_err().to_string();
            assert!(
                err.contains(bad) && err.contains("kafka://<host:port>"),
                "{err}"
            );
        }
    }

    #[test]
    fn a_bad_verdict_line_is_named() {
        let good = r#"{"v":1,"verdict":"lost","reason":"expired","id":"x","stream":"s","hop":{"app":"a","group":"g","location":"c/t"},"message":{"location":"c/t","partition":0,"offset":5},"evidence":{},"first_seen":1,"detected_at":2}"#;
        let text = format!(
            "{good}\n\n{good}\n{}\n",
            good.replace("expired", "vanished")
        );
        let path = Path::new("v.jsonl");
        let err = read_verdict_lines(text.as_bytes(), path)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("verdicts v.jsonl line 4: not a verdict record"),
            "{err}"
        );
        let text = format!("{good}\n{{\"v\":1,\n");
        let err = read_verdict_lines(text.as_bytes(), path)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("verdicts v.jsonl line 2: not JSON"),
            "{err}"
        );
        let ok = read_verdict_lines(format!("{good}\n\n{good}\n").as_bytes(), path).unwrap();
        assert_eq!(ok.len(), 2);
    }

    #[test]
    fn a_missing_file_is_named() {
        let err = read_truth_file(Path::new("/nonexistent/truth.jsonl"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("opening /nonexistent/truth.jsonl:"),
            "{err}"
        );
        let err = read_verdicts(
            &VerdictSource::File("/nonexistent/v.jsonl".into()),
            Duration::from_secs(1),
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("opening /nonexistent/v.jsonl:"), "{err}");
    }
}
