//! Pass/fail limits on the overall score, for CI and for `cairn demo`.
//!
//! A measure that does not apply passes: precision with no standing lost verdict (nothing was
//! claimed, so nothing wrong was), recall with no loss in the truth, delay with no detection.
//! The other limits catch those cases (a run with losses and no verdicts misses recall).

use std::time::Duration;

use cairn_core::config::format_duration;
use serde::Serialize;

use super::matching::StreamScore;

/// The limits given on the command line; `None` is not checked.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Thresholds {
    pub min_precision: Option<f64>,
    pub min_recall: Option<f64>,
    pub max_false_alarms: Option<u64>,
    pub max_delay_p99: Option<Duration>,
}

/// One limit checked: its flag, the limit, the value found and whether it passed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Check {
    /// What is measured: `precision`, `recall`, `false alarms`, `delay p99`.
    pub measure: &'static str,
    pub flag: &'static str,
    pub limit: String,
    pub value: String,
    pub passed: bool,
}

impl Check {
    /// "recall 0.500 < --min-recall 1" style, for the error message.
    pub fn describe(&self) -> String {
        let relation = if self.flag.starts_with("--min") {
            "<"
        } else {
            ">"
        };
        format!(
            "{} {} {relation} {} {}",
            self.measure, self.value, self.flag, self.limit
        )
    }
}

impl Thresholds {
    /// Every given limit, checked against the overall score.
    pub fn check(&self, overall: &StreamScore) -> Vec<Check> {
        let mut out = Vec::new();
        let ratio = |r: Option<f64>| r.map_or_else(|| "n/a".to_owned(), |r| format!("{r:.3}"));
        if let Some(min) = self.min_precision {
            out.push(Check {
                measure: "precision",
                flag: "--min-precision",
                limit: min.to_string(),
                value: ratio(overall.precision),
                passed: overall.precision.is_none_or(|p| p >= min),
            });
        }
        if let Some(min) = self.min_recall {
            out.push(Check {
                measure: "recall",
                flag: "--min-recall",
                limit: min.to_string(),
                value: ratio(overall.recall),
                passed: overall.recall.is_none_or(|r| r >= min),
            });
        }
        if let Some(max) = self.max_false_alarms {
            out.push(Check {
                measure: "false alarms",
                flag: "--max-false-alarms",
                limit: max.to_string(),
                value: overall.false_alarms.to_string(),
                passed: overall.false_alarms <= max,
            });
        }
        if let Some(max) = self.max_delay_p99 {
            let p99 = overall.delay.map(|d| d.p99_ms);
            out.push(Check {
                measure: "delay p99",
                flag: "--max-delay-p99",
                limit: format_duration(max),
                value: p99.map_or_else(|| "n/a".to_owned(), |ms| format!("{ms}ms")),
                passed: p99.is_none_or(|ms| i128::from(ms) <= max.as_millis() as i128),
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::score::matching::{Delay, score};

    fn overall() -> StreamScore {
        let mut s = score(&[], &[], None).unwrap().overall;
        s.precision = Some(0.5);
        s.recall = Some(1.0);
        s.false_alarms = 2;
        s.delay = Some(Delay {
            count: 3,
            p50_ms: 100,
            p99_ms: 31_000,
            max_ms: 31_000,
        });
        s
    }

    #[test]
    fn each_limit_passes_or_misses() {
        let all = Thresholds {
            min_precision: Some(1.0),
            min_recall: Some(1.0),
            max_false_alarms: Some(0),
            max_delay_p99: Some(Duration::from_secs(30)),
        };
        let checks = all.check(&overall());
        let missed: Vec<String> = checks
            .iter()
            .filter(|c| !c.passed)
            .map(Check::describe)
            .collect();
        assert_eq!(
            missed,
            [
                "precision 0.500 < --min-precision 1",
                "false alarms 2 > --max-false-alarms 0",
                "delay p99 31000ms > --max-delay-p99 30s",
            ]
        );
        assert!(Thresholds::default().check(&overall()).is_empty());
    }

    #[test]
    fn a_measure_that_does_not_apply_passes() {
        let mut s = overall();
        s.precision = None;
        s.recall = None;
        s.delay = None;
        let checks = Thresholds {
            min_precision: Some(1.0),
            min_recall: Some(1.0),
            max_false_alarms: None,
            max_delay_p99: Some(Duration::from_millis(1)),
        }
        .check(&s);
        assert_eq!(checks.len(), 3);
        assert!(
            checks.iter().all(|c| c.passed && c.value == "n/a"),
            "{checks:?}"
        );
    }
}
