//! Grading verdicts against the truth: pure, no I/O, so every rule below has a unit test.
//!
//! Verdicts and truth lines join on (id, hop). Verdict records are idempotent by (id, hop,
//! verdict), so repeats count once (the earliest `detected_at` is kept: that is when an owner
//! could first have acted). Then, for each distinct lost verdict:
//! - a `retracted` verdict for the same (id, hop) withdrew it: a **false alarm** that cairn
//!   took back itself. It is neither a detection nor a false positive;
//! - otherwise it **stands**. A standing verdict at a hop the truth says `lost` is a
//!   **detection** (a true positive), even with another reason, which is counted apart as a
//!   wrong reason; one at a hop the truth says delivered, duplicated, unreached or filtered,
//!   or that the truth does not list, is a **false positive**, and also a false alarm
//!   ("contradicted by the truth").
//!
//! Precision is detections / standing lost verdicts; recall is detections / lost lines of the
//! truth. Per reason, precision groups verdicts by their own reason and recall groups truth
//! lines by the truth's reason; both count only detections with the right reason.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use cairn_core::model::{HopRef, Kind, Millis, Reason, Verdict, VerdictKind};
use serde::Serialize;

use crate::truth::{Outcome, TruthRecord};

/// The stream name under which every stream is summed.
pub const OVERALL: &str = "(all streams)";

/// Duplicates as counted by cairn's metrics
/// ([`DUPLICATES`](cairn_core::metrics::catalog::DUPLICATES)), and its stuck count.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FoundCounts {
    /// (stream, kind label) → extra copies found.
    pub duplicates: BTreeMap<(String, String), u64>,
    /// stream → expected traces given up on ([`STUCK`](cairn_core::metrics::catalog::STUCK)).
    pub stuck: BTreeMap<String, u64>,
}

/// The two kinds of duplicate, as cairn's metrics label them.
pub const DUPLICATE_KINDS: [&str; 2] = ["written_twice", "delivered_twice"];

/// Detection delay over true detections, in milliseconds (`detected_at − passed_at`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Delay {
    /// Detections with a known `passed_at`.
    pub count: u64,
    pub p50_ms: i64,
    pub p99_ms: i64,
    pub max_ms: i64,
}

/// Precision and recall of one reason.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReasonScore {
    pub reason: Reason,
    /// Standing lost verdicts giving this reason.
    pub verdicts: u64,
    /// Of those, detections whose truth gives the same reason.
    pub verdicts_right: u64,
    pub precision: Option<f64>,
    /// Lost lines of the truth with this reason.
    pub lost_true: u64,
    /// Of those, detected with this reason.
    pub detected_right: u64,
    pub recall: Option<f64>,
}

/// True and found extra copies of one kind.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DuplicateScore {
    /// `written_twice` (sent more than once) or `delivered_twice` (received more than once).
    pub kind: &'static str,
    /// Extra copies by the truth: `count − 1` over its duplicated lines.
    pub truth: u64,
    /// Extra copies cairn counted; `None` when no metrics were given.
    pub found: Option<u64>,
}

/// The score of one stream (or of all of them, under [`OVERALL`]).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StreamScore {
    pub stream: String,
    /// Distinct message ids in the truth.
    pub messages: u64,
    /// Lines of the truth (expected hops).
    pub truth_hops: u64,
    /// Lines of the truth with outcome lost.
    pub lost_true: u64,
    /// Distinct lost verdicts read.
    pub lost_verdicts: u64,
    /// Distinct (id, hop) with a retracted verdict: false alarms cairn withdrew.
    pub retracted: u64,
    /// Lost verdicts not withdrawn.
    pub standing: u64,
    /// Standing lost verdicts at a hop the truth says lost.
    pub detected: u64,
    /// Detections whose reason differs from the truth's.
    pub wrong_reason: u64,
    /// Lost lines of the truth without a standing lost verdict.
    pub missed: u64,
    /// Standing lost verdicts the truth contradicts (or does not list).
    pub false_positives: u64,
    /// `retracted + false_positives`.
    pub false_alarms: u64,
    pub precision: Option<f64>,
    pub recall: Option<f64>,
    /// Reasons that occur in the verdicts or the truth, in [`Reason::ALL`] order.
    pub by_reason: Vec<ReasonScore>,
    /// `None` without detections that have a `passed_at`.
    pub delay: Option<Delay>,
    /// Detections whose truth line has no `passed_at`.
    pub delay_unknown: u64,
    pub duplicates: Vec<DuplicateScore>,
    /// [`STUCK`](cairn_core::metrics::catalog::STUCK), when metrics were given.
    pub stuck: Option<u64>,
}

/// What [`score`] concluded, per stream and overall.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Scores {
    pub streams: Vec<StreamScore>,
    pub overall: StreamScore,
    /// Verdict records given, repeats included.
    pub verdict_records: u64,
    /// Records dropped as repeats of an (id, hop, verdict) already counted.
    pub verdict_repeats: u64,
}

/// Why the truth cannot be scored against.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum MatchError {
    #[error(
        "the truth lists message {id:?} at hop {app}({group})@{location} twice (records {first} and {second}); each (id, hop) is one line"
    )]
    TruthTwice {
        id: String,
        app: String,
        group: String,
        location: String,
        first: usize,
        second: usize,
    },
}

type Key = (String, HopRef);

fn key(id: &str, hop: &HopRef) -> Key {
    (id.to_owned(), hop.clone())
}

/// Counts of one stream while scoring.
#[derive(Default)]
struct Tally {
    messages: BTreeSet<String>,
    truth_hops: u64,
    lost_true: HashMap<Option<Reason>, u64>,
    lost_verdicts: u64,
    retracted: u64,
    standing: HashMap<Reason, u64>,
    /// (verdict reason, truth reason) → detections.
    detected: HashMap<(Reason, Option<Reason>), u64>,
    false_positives: u64,
    delays: Vec<i64>,
    delay_unknown: u64,
    duplicates_true: [u64; 2],
}

/// Grades `verdicts` against `truth`; `found` is cairn's own duplicate and stuck counts.
pub fn score(
    truth: &[TruthRecord],
    verdicts: &[Verdict],
    found: Option<&FoundCounts>,
) -> Result<Scores, MatchError> {
    let by_key = index_truth(truth)?;
    let (lost, retracted) = distinct_verdicts(verdicts);
    let distinct = (lost.len() + retracted.len()) as u64;
    let mut tallies = Tallies::default();
    tallies.count_truth(truth);
    tallies.count_verdicts(&by_key, &lost, &retracted);

    let finish = |stream: &str, tally: Tally| finish(stream, tally, found);
    let streams = tallies
        .streams
        .into_iter()
        .map(|(stream, tally)| finish(&stream, tally))
        .collect();
    Ok(Scores {
        streams,
        overall: finish(OVERALL, tallies.overall),
        verdict_records: verdicts.len() as u64,
        verdict_repeats: verdicts.len() as u64 - distinct,
    })
}

/// Each truth line by (id, hop), with its index; a hop given twice is a mistake.
fn index_truth(truth: &[TruthRecord]) -> Result<HashMap<Key, (usize, &TruthRecord)>, MatchError> {
    let mut by_key: HashMap<Key, (usize, &TruthRecord)> = HashMap::with_capacity(truth.len());
    for (ix, record) in truth.iter().enumerate() {
        if let Some((first, _)) = by_key.insert(key(&record.id, &record.hop), (ix, record)) {
            return Err(MatchError::TruthTwice {
                id: record.id.clone(),
                app: record.hop.app.clone(),
                group: record.hop.group.clone().unwrap_or_else(|| "-".into()),
                location: record.hop.location.clone(),
                first: first + 1,
                second: ix + 1,
            });
        }
    }
    Ok(by_key)
}

/// Lost and retracted verdicts by (id, hop).
type Distinct<'v> = HashMap<Key, &'v Verdict>;

/// The distinct lost and retracted verdicts: repeats count once; the earliest detection of
/// each is kept.
fn distinct_verdicts(verdicts: &[Verdict]) -> (Distinct<'_>, Distinct<'_>) {
    let mut lost: Distinct = HashMap::new();
    let mut retracted: Distinct = HashMap::new();
    for verdict in verdicts {
        let distinct = match verdict.verdict {
            VerdictKind::Lost => &mut lost,
            VerdictKind::Retracted => &mut retracted,
        };
        distinct
            .entry(key(&verdict.id, &verdict.hop))
            .and_modify(|kept| {
                if verdict.detected_at < kept.detected_at {
                    *kept = verdict;
                }
            })
            .or_insert(verdict);
    }
    (lost, retracted)
}

/// A tally per stream and one over all of them.
#[derive(Default)]
struct Tallies {
    streams: BTreeMap<String, Tally>,
    overall: Tally,
}

impl Tallies {
    /// Applies `f` to the tally of `stream` and to the overall one.
    fn both(&mut self, stream: &str, mut f: impl FnMut(&mut Tally)) {
        f(self.streams.entry(stream.to_owned()).or_default());
        f(&mut self.overall);
    }

    fn count_truth(&mut self, truth: &[TruthRecord]) {
        for record in truth {
            self.both(&record.stream, |t| {
                t.messages.insert(record.id.clone());
                t.truth_hops += 1;
                match record.outcome {
                    Outcome::Lost => *t.lost_true.entry(record.reason).or_default() += 1,
                    Outcome::Duplicated => {
                        let ix = usize::from(record.kind != Kind::Sent);
                        t.duplicates_true[ix] += u64::from(record.count.saturating_sub(1));
                    }
                    _ => {}
                }
            });
        }
    }

    /// Retractions, and each lost verdict: withdrawn, detected (with its delay), or a false
    /// positive.
    fn count_verdicts(
        &mut self,
        by_key: &HashMap<Key, (usize, &TruthRecord)>,
        lost: &Distinct,
        retracted: &Distinct,
    ) {
        for verdict in retracted.values() {
            self.both(&verdict.stream, |t| t.retracted += 1);
        }
        for (k, verdict) in lost {
            let withdrawn = retracted.contains_key(k);
            let truth_line = by_key.get(k).map(|(_, r)| *r);
            self.both(&verdict.stream, |t| {
                t.lost_verdicts += 1;
                if withdrawn {
                    return;
                }
                *t.standing.entry(verdict.reason).or_default() += 1;
                match truth_line {
                    Some(line) if line.outcome == Outcome::Lost => {
                        *t.detected.entry((verdict.reason, line.reason)).or_default() += 1;
                        match line.passed_at {
                            Some(passed) => t.delays.push(delay(verdict.detected_at, passed)),
                            None => t.delay_unknown += 1,
                        }
                    }
                    _ => t.false_positives += 1,
                }
            });
        }
    }
}

fn delay(detected_at: Millis, passed_at: Millis) -> i64 {
    detected_at.saturating_sub(passed_at)
}

fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

fn finish(stream: &str, t: Tally, found: Option<&FoundCounts>) -> StreamScore {
    let lost_true: u64 = t.lost_true.values().sum();
    let standing: u64 = t.standing.values().sum();
    let detected: u64 = t.detected.values().sum();
    let wrong_reason: u64 = t
        .detected
        .iter()
        .filter(|((verdict, truth), _)| truth.is_some_and(|truth| truth != *verdict))
        .map(|(_, n)| n)
        .sum();
    let right = |reason: Reason| {
        t.detected
            .get(&(reason, Some(reason)))
            .copied()
            .unwrap_or(0)
    };
    let by_reason = Reason::ALL
        .into_iter()
        .filter_map(|reason| {
            let verdicts = t.standing.get(&reason).copied().unwrap_or(0);
            let truth = t.lost_true.get(&Some(reason)).copied().unwrap_or(0);
            (verdicts > 0 || truth > 0).then(|| ReasonScore {
                reason,
                verdicts,
                verdicts_right: right(reason),
                precision: ratio(right(reason), verdicts),
                lost_true: truth,
                detected_right: right(reason),
                recall: ratio(right(reason), truth),
            })
        })
        .collect();
    let overall = stream == OVERALL;
    let found_for = |kind: &str| {
        found.map(|f| {
            f.duplicates
                .iter()
                .filter(|((s, k), _)| (overall || s == stream) && k == kind)
                .map(|(_, n)| n)
                .sum()
        })
    };
    let duplicates = DUPLICATE_KINDS
        .iter()
        .zip(t.duplicates_true)
        .map(|(&kind, truth)| DuplicateScore {
            kind,
            truth,
            found: found_for(kind),
        })
        .collect();
    let stuck = found.map(|f| {
        f.stuck
            .iter()
            .filter(|(s, _)| overall || *s == stream)
            .map(|(_, n)| n)
            .sum()
    });
    StreamScore {
        stream: stream.to_owned(),
        messages: t.messages.len() as u64,
        truth_hops: t.truth_hops,
        lost_true,
        lost_verdicts: t.lost_verdicts,
        retracted: t.retracted,
        standing,
        detected,
        wrong_reason,
        missed: lost_true.saturating_sub(detected),
        false_positives: t.false_positives,
        false_alarms: t.retracted + t.false_positives,
        precision: ratio(detected, standing),
        recall: ratio(detected, lost_true),
        by_reason,
        delay: percentiles(t.delays),
        delay_unknown: t.delay_unknown,
        duplicates,
        stuck,
    }
}

/// p50, p99 and max by nearest rank over a sorted copy.
fn percentiles(mut delays: Vec<i64>) -> Option<Delay> {
    if delays.is_empty() {
        return None;
    }
    delays.sort_unstable();
    let rank = |p: f64| {
        let n = delays.len();
        let ix = ((p * n as f64).ceil() as usize).clamp(1, n) - 1;
        delays[ix]
    };
    Some(Delay {
        count: delays.len() as u64,
        p50_ms: rank(0.50),
        p99_ms: rank(0.99),
        max_ms: *delays.last().expect("not empty"),
    })
}

#[cfg(test)]
mod tests;
