//! What the advisor reads of one group each round: sums over its partitions.

use crate::model::Millis;
use crate::watch::{ConsumerState, GroupObservation, GroupReport};

/// One round of one group, as the advisor sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScaleSample {
    /// When the log ends were read (the round's time when they could not be), ms since the
    /// epoch. Not the round's end: a round that waits on a slow read would otherwise stretch
    /// or squeeze the interval the rate is taken over.
    pub at: Millis,
    /// Sum of the log ends of every partition the group reads; `None` when any is unknown.
    pub log_end: Option<i64>,
    /// Sum of the group's committed offsets over the partitions it has one for; `None` when
    /// any of those is unknown.
    pub committed: Option<i64>,
    /// The group's lag in records (the watch's sum).
    pub lag_records: Option<i64>,
    /// Members, when the group's state could be read.
    pub members: Option<u32>,
    /// Partitions the group reads: no more instances than this can take work.
    pub partitions: u32,
}

impl ScaleSample {
    /// The sample of a group as the watch read it (`observed`) and judged it at `now`:
    /// values from the report (which leaves stale reads out), time from the reads.
    pub fn from_round(
        now: Millis,
        observed: &GroupObservation,
        judged: &GroupReport,
    ) -> ScaleSample {
        let read_at = observed
            .partitions
            .iter()
            .filter_map(|p| p.log_end.get().map(|end| end.read_at))
            .max();
        ScaleSample {
            at: read_at.unwrap_or(now),
            ..ScaleSample::from_report(now, judged)
        }
    }

    /// The sample of a group the watch judged at `report_at`, stamped with that time.
    pub fn from_report(report_at: Millis, group: &GroupReport) -> ScaleSample {
        let log_end = group.partitions.iter().map(|p| p.log_end.get()).sum();
        let committed = group
            .partitions
            .iter()
            .filter(|p| p.state != ConsumerState::NoCommit)
            .map(|p| p.committed.get())
            .sum();
        ScaleSample {
            at: report_at,
            log_end,
            committed,
            lag_records: group.summary.lag_records,
            members: group.summary.members,
            partitions: u32::try_from(group.partitions.len()).unwrap_or(u32::MAX),
        }
    }
}
