//! The score as people read it (an aligned plain-text table whose every row says what it
//! means) and as programs read it (`--json`, the same fields).

use std::fmt::Write as _;

use cairn_core::metrics::catalog;
use serde::Serialize;

use super::matching::{Delay, Scores, StreamScore};
use super::thresholds::Check;

/// Everything `cairn score` found, with where it came from.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// Where the truth came from.
    pub truth: String,
    pub truth_lines: u64,
    /// Where the verdicts came from.
    pub verdicts: String,
    /// Records on a verdict topic that are not verdicts ("partition p offset o: why").
    pub malformed_verdicts: Vec<String>,
    /// Where cairn's metrics came from; `None`: duplicates and stuck were not compared.
    pub metrics: Option<String>,
    #[serde(flatten)]
    pub scores: Scores,
    /// The limits given, each checked against the overall score.
    pub thresholds: Vec<Check>,
}

impl Report {
    /// The limits that were missed.
    pub fn missed(&self) -> Vec<&Check> {
        self.thresholds.iter().filter(|c| !c.passed).collect()
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report of strings and numbers serializes")
    }

    /// The plain-text table.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let s = &self.scores;
        let _ = writeln!(out, "cairn score");
        let _ = writeln!(
            out,
            "  truth     {}: {} lines",
            self.truth, self.truth_lines
        );
        let _ = writeln!(
            out,
            "  verdicts  {}: {} records, {} repeats of an (id, hop, verdict) counted once, {} not verdicts",
            self.verdicts,
            s.verdict_records,
            s.verdict_repeats,
            self.malformed_verdicts.len()
        );
        for bad in self.malformed_verdicts.iter().take(5) {
            let _ = writeln!(out, "            not a verdict: {bad}");
        }
        match &self.metrics {
            Some(metrics) => {
                let _ = writeln!(out, "  metrics   {metrics}");
            }
            None => {
                let _ = writeln!(
                    out,
                    "  metrics   none given (--metrics): duplicates found and stuck were not compared"
                );
            }
        }
        let mut sections: Vec<(String, Vec<[String; 3]>)> = s
            .streams
            .iter()
            .map(|stream| {
                (
                    format!("stream {}", stream.stream),
                    rows(stream, self.metrics.is_some()),
                )
            })
            .collect();
        // With one stream the sum would repeat it row for row.
        if let [(title, _)] = sections.as_mut_slice() {
            title.push_str(" (all streams)");
        } else {
            sections.push((
                "all streams".to_owned(),
                rows(&s.overall, self.metrics.is_some()),
            ));
        }
        let width = |col: usize| {
            sections
                .iter()
                .flat_map(|(_, rows)| rows.iter().map(move |r| r[col].chars().count()))
                .max()
                .unwrap_or(0)
        };
        let (w0, w1) = (width(0), width(1));
        for (title, rows) in &sections {
            let _ = writeln!(out, "\n{title}");
            for [measure, value, meaning] in rows {
                let _ = writeln!(out, "  {measure:<w0$}  {value:<w1$}  {meaning}");
            }
        }
        if !self.thresholds.is_empty() {
            let _ = writeln!(out, "\nthresholds (on all streams)");
            for check in &self.thresholds {
                let verdict = if check.passed { "ok    " } else { "MISSED" };
                let _ = writeln!(
                    out,
                    "  {verdict}  {} {} (limit {} {})",
                    check.measure, check.value, check.flag, check.limit
                );
            }
        }
        out
    }
}

fn row(measure: impl Into<String>, value: impl Into<String>, meaning: &str) -> [String; 3] {
    [measure.into(), value.into(), meaning.to_owned()]
}

/// `0.875 (7/8)`, or `n/a (none)` when the whole is 0.
fn ratio(value: Option<f64>, part: u64, whole: u64) -> String {
    match value {
        Some(v) => format!("{v:.3} ({part}/{whole})"),
        None => "n/a (0/0)".to_owned(),
    }
}

/// `850ms` below a second, `12.3s` above.
pub fn millis(ms: i64) -> String {
    if ms.abs() < 1_000 {
        format!("{ms}ms")
    } else {
        format!("{:.1}s", ms as f64 / 1_000.0)
    }
}

fn delay(d: Option<Delay>) -> String {
    match d {
        Some(d) => format!(
            "{} / {} / {}",
            millis(d.p50_ms),
            millis(d.p99_ms),
            millis(d.max_ms)
        ),
        None => "n/a".to_owned(),
    }
}

fn rows(s: &StreamScore, metrics: bool) -> Vec<[String; 3]> {
    let mut rows = detection_rows(s);
    rows.extend(reason_rows(s));
    rows.push(delay_row(s));
    rows.extend(duplicate_rows(s));
    if metrics {
        rows.push(stuck_row(s));
    }
    rows
}

/// What was lost, what cairn said, and how well the two agree.
fn detection_rows(s: &StreamScore) -> Vec<[String; 3]> {
    vec![
        row(
            "messages",
            s.messages.to_string(),
            "distinct message ids in the truth",
        ),
        row(
            "lost (truth)",
            s.lost_true.to_string(),
            "hops where the truth says a message went missing first",
        ),
        row(
            "lost verdicts",
            s.lost_verdicts.to_string(),
            "distinct lost verdicts read",
        ),
        row(
            "detected",
            s.detected.to_string(),
            "standing lost verdicts at a hop the truth says lost (true positives)",
        ),
        row(
            "  with the wrong reason",
            s.wrong_reason.to_string(),
            "detected at the right hop, but with another reason than the truth's",
        ),
        row(
            "missed",
            s.missed.to_string(),
            "lost in the truth, no standing lost verdict (false negatives)",
        ),
        row(
            "false alarms",
            s.false_alarms.to_string(),
            "retracted + contradicted by the truth",
        ),
        row(
            "  retracted",
            s.retracted.to_string(),
            "lost verdicts cairn withdrew itself when the trace came late",
        ),
        row(
            "  contradicted by the truth",
            s.false_positives.to_string(),
            "standing lost verdicts where the truth says delivered, duplicated, unreached, filtered or nothing (false positives)",
        ),
        row(
            "precision",
            ratio(s.precision, s.detected, s.standing),
            "detected / standing lost verdicts (withdrawn ones are not standing)",
        ),
        row(
            "recall",
            ratio(s.recall, s.detected, s.lost_true),
            "detected / lost (truth)",
        ),
    ]
}

/// Precision and recall per reason.
fn reason_rows(s: &StreamScore) -> Vec<[String; 3]> {
    let mut rows = Vec::new();
    for r in &s.by_reason {
        let reason = r.reason.as_str();
        rows.push(row(
            format!("  precision {reason}"),
            ratio(r.precision, r.verdicts_right, r.verdicts),
            "of the standing verdicts giving this reason, the detections whose truth gives it too",
        ));
        rows.push(row(
            format!("  recall {reason}"),
            ratio(r.recall, r.detected_right, r.lost_true),
            "of the truth's losses with this reason, those detected with this reason",
        ));
    }
    rows
}

fn delay_row(s: &StreamScore) -> [String; 3] {
    let measured = s.delay.map_or(0, |d| d.count);
    let delay_meaning = match s.delay_unknown {
        0 => format!("detected_at - passed_at over {measured} detections"),
        unknown => format!(
            "detected_at - passed_at over {measured} detections ({unknown} more without passed_at)"
        ),
    };
    row(
        "detection delay p50/p99/max",
        delay(s.delay),
        &delay_meaning,
    )
}

/// Extra copies per kind, found by cairn (with metrics) against the truth.
fn duplicate_rows(s: &StreamScore) -> Vec<[String; 3]> {
    let mut rows = Vec::new();
    for d in &s.duplicates {
        let (value, meaning) = match d.found {
            Some(found) => (
                format!("found {found}, true {}", d.truth),
                format!(
                    "extra copies: {} vs the truth's count - 1",
                    catalog::DUPLICATES.name
                ),
            ),
            None => (
                format!("true {} (not compared)", d.truth),
                "extra copies by the truth's count - 1; give --metrics to compare".to_owned(),
            ),
        };
        rows.push(row(format!("duplicates {}", d.kind), value, &meaning));
    }
    rows
}

fn stuck_row(s: &StreamScore) -> [String; 3] {
    let meaning = format!(
        "expected traces cairn gave up on after max_wait, never called lost ({})",
        catalog::STUCK.name
    );
    row("stuck", s.stuck.unwrap_or(0).to_string(), &meaning)
}

#[cfg(test)]
mod tests {
    use cairn_core::model::{HopRef, Kind, Reason};

    use super::*;
    use crate::score::matching::score;
    use crate::truth::{Outcome, TRUTH_VERSION, TruthRecord};

    fn report(metrics: bool) -> Report {
        let mut other = truth();
        other.stream = "billing".into();
        other.id = "b".into();
        Report {
            scores: score(
                &[truth(), other],
                &[],
                metrics.then(Default::default).as_ref(),
            )
            .unwrap(),
            truth_lines: 2,
            ..single(metrics)
        }
    }

    fn truth() -> TruthRecord {
        TruthRecord {
            v: TRUTH_VERSION,
            id: "a".into(),
            stream: "orders".into(),
            hop: HopRef {
                app: "q".into(),
                group: Some("g".into()),
                location: "c/t".into(),
            },
            kind: Kind::Received,
            outcome: Outcome::Lost,
            count: 0,
            reason: Some(Reason::CommittedPast),
            message: None,
            passed_at: Some(0),
        }
    }

    /// A report on one stream, `orders`.
    fn single(metrics: bool) -> Report {
        let truth = truth();
        let found = metrics.then(Default::default);
        Report {
            truth: "truth.jsonl".into(),
            truth_lines: 1,
            verdicts: "v.jsonl".into(),
            malformed_verdicts: Vec::new(),
            metrics: metrics.then(|| "m.txt".into()),
            scores: score(&[truth], &[], found.as_ref()).unwrap(),
            thresholds: Vec::new(),
        }
    }

    #[test]
    fn the_table_is_aligned_and_says_what_each_row_means() {
        let text = report(false).to_text();
        assert!(text.contains("\nstream billing\n"), "{text}");
        assert!(text.contains("\nstream orders\n"), "{text}");
        assert!(text.contains("\nall streams\n"), "{text}");
        let one = single(false).to_text();
        assert!(one.contains("\nstream orders (all streams)\n"), "{one}");
        assert_eq!(one.matches("\n  messages ").count(), 1, "{one}");
        assert!(
            text.contains("duplicates found and stuck were not compared"),
            "{text}"
        );
        assert!(!text.contains("\n  stuck"), "{text}");
        let recall = text
            .lines()
            .find(|l| l.starts_with("  recall "))
            .expect("a recall row");
        assert!(recall.contains("0.000 (0/1)"), "{recall}");
        // Values start in one column in every section.
        let columns: Vec<usize> = text
            .lines()
            .filter(|l| l.starts_with("  messages") || l.starts_with("  precision "))
            .map(|l| {
                let body = &l[2..];
                let gap = body.find("  ").expect("two spaces after the measure");
                2 + gap + body[gap..].find(|c: char| c != ' ').expect("a value")
            })
            .collect();
        assert!(
            columns.len() == 6 && columns.iter().all(|c| *c == columns[0]),
            "{text}"
        );
    }

    #[test]
    fn json_has_the_same_fields() {
        let json: serde_json::Value = serde_json::from_str(&report(true).to_json()).unwrap();
        assert_eq!(json["overall"]["recall"], 0.0);
        assert_eq!(json["overall"]["lost_true"], 2);
        assert_eq!(json["streams"][1]["stream"], "orders");
        assert_eq!(json["metrics"], "m.txt");
        assert_eq!(json["overall"]["duplicates"][0]["found"], 0);
        assert!(report(true).to_text().contains("\n  stuck "));
    }
}
