//! Recent rounds of one partition, the last `history_points` of them: what
//! `/api/consumers/{cluster}/{group}/history` serves and what a forecast will read.

use std::collections::VecDeque;

use serde::Serialize;
use smallvec::SmallVec;

use super::report::seconds;
use super::state::ConsumerState;
use crate::model::Millis;

/// One round of one partition.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct HistoryPoint {
    /// The round's time, ms since the epoch.
    pub at: Millis,
    pub state: ConsumerState,
    pub committed: Option<i64>,
    pub log_end: Option<i64>,
    pub lag_records: Option<i64>,
    pub lag_seconds: Option<f64>,
}

/// The times of a group's recent rounds, shared by the histories of its partitions: every
/// partition of a group has a point in each of the group's rounds from the one it joined.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct RoundTimes {
    /// How many rounds the group has had; the next round's number.
    next: u32,
    /// The times of the last rounds, oldest first.
    times: VecDeque<Millis>,
}

impl RoundTimes {
    /// Records a round at `at`, keeping the last `capacity`; returns its number.
    pub fn push(&mut self, at: Millis, capacity: usize) -> u32 {
        while self.times.len() >= capacity.max(1) {
            self.times.pop_front();
        }
        self.times.push_back(at);
        let round = self.next;
        self.next = self.next.wrapping_add(1);
        round
    }

    /// The number of the oldest round kept.
    fn first_kept(&self) -> u32 {
        self.next.wrapping_sub(self.times.len() as u32)
    }
}

/// One partition's last points, kept as runs: consecutive rounds whose points differ only in
/// their time (and in a lag in time that grew with the clock) are stored once, so a partition
/// that does not change costs one run however many rounds are kept; one that changes every
/// round costs a run per round, up to `history_points`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    /// The first round (in the group's numbering) this partition has a point for.
    first: u32,
    /// Oldest first; each run lasts until the next one starts.
    runs: SmallVec<[Run; 2]>,
}

/// Rounds from `from` on with the same point. Optional values are stored as [`NONE`].
#[derive(Clone, Copy, Debug, PartialEq)]
struct Run {
    from: u32,
    state: ConsumerState,
    lag: RunLag,
    committed: i64,
    log_end: i64,
    lag_records: i64,
    /// Under [`RunLag::Since`]: when the oldest unread record was written (time − lag).
    since: Millis,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RunLag {
    Unknown,
    Zero,
    /// `at − since` at every round of the run.
    Since,
}

/// Offsets and lags are never `i64::MIN`.
const NONE: i64 = i64::MIN;

fn pack(value: Option<i64>) -> i64 {
    value.unwrap_or(NONE)
}

fn unpack(value: i64) -> Option<i64> {
    (value != NONE).then_some(value)
}

impl History {
    /// A history whose first point will be the group's round `round`.
    pub(super) fn starting(round: u32) -> History {
        History {
            first: round,
            runs: SmallVec::new(),
        }
    }

    /// Adds the point of the group's round `round` (just pushed on `times`), with its lag in
    /// time in milliseconds; drops what `times` no longer keeps.
    pub(super) fn push(
        &mut self,
        round: u32,
        point: &HistoryPoint,
        lag: Option<Millis>,
        times: &RoundTimes,
    ) {
        let (kind, since) = match lag {
            None => (RunLag::Unknown, 0),
            Some(0) => (RunLag::Zero, 0),
            Some(millis) => (RunLag::Since, point.at.saturating_sub(millis)),
        };
        let run = Run {
            from: round,
            state: point.state,
            lag: kind,
            committed: pack(point.committed),
            log_end: pack(point.log_end),
            lag_records: pack(point.lag_records),
            since,
        };
        let same = self.runs.last().is_some_and(|last| {
            Run {
                from: round,
                ..*last
            } == run
        });
        if !same {
            if self.runs.len() == self.runs.capacity() {
                // Grow by half: most partitions never hold more than a run or two.
                self.runs.reserve_exact((self.runs.len() / 2).max(1));
            }
            self.runs.push(run);
        }
        let first_kept = times.first_kept();
        let behind = |from: u32| first_kept.wrapping_sub(from) as i32 >= 0;
        let gone = self
            .runs
            .iter()
            .skip(1)
            .take_while(|r| behind(r.from))
            .count();
        if gone > 0 {
            self.runs.drain(..gone);
        }
    }

    /// The points of the rounds `times` keeps, oldest first.
    pub(super) fn points(&self, times: &RoundTimes) -> Vec<HistoryPoint> {
        let kept = times.first_kept();
        // Rounds are numbered with wrapping: compare by distance from the oldest kept.
        let skip = self.first.wrapping_sub(kept) as i32;
        let start = if skip > 0 { skip as usize } else { 0 };
        let mut r = 0;
        let mut points = Vec::with_capacity(times.times.len().saturating_sub(start));
        for (i, &at) in times.times.iter().enumerate().skip(start) {
            let round = kept.wrapping_add(i as u32);
            while self
                .runs
                .get(r + 1)
                .is_some_and(|next| round.wrapping_sub(next.from) as i32 >= 0)
            {
                r += 1;
            }
            let Some(run) = self.runs.get(r) else { break };
            points.push(HistoryPoint {
                at,
                state: run.state,
                committed: unpack(run.committed),
                log_end: unpack(run.log_end),
                lag_records: unpack(run.lag_records),
                lag_seconds: match run.lag {
                    RunLag::Unknown => None,
                    RunLag::Zero => Some(0.0),
                    RunLag::Since => Some(seconds(at.saturating_sub(run.since))),
                },
            });
        }
        points
    }
}

/// One partition's history, as served.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PartitionHistory {
    pub topic: String,
    pub partition: i32,
    pub points: Vec<HistoryPoint>,
}

/// A group's history: every partition it has now.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GroupHistory {
    pub cluster: String,
    pub group: String,
    pub partitions: Vec<PartitionHistory>,
}
