//! What a round concludes, shaped for the REST API: `GET /api/consumers/{cluster}/{group}`
//! serializes a [`GroupReport`], `GET /api/consumers` a list of [`GroupSummary`].

use std::sync::Arc;

use serde::Serialize;

use super::input::GroupState;
use super::packed::{MaybeF64, MaybeI64};
use super::settings::GroupSettings;
use super::state::{ConsumerState, LagMethod};
use crate::model::Millis;

/// Everything one round concluded.
#[derive(Clone, Debug, PartialEq)]
pub struct RoundReport {
    pub now: Millis,
    /// One per observed group, in the round's order.
    pub groups: Vec<GroupReport>,
    /// First-unread records with odd timestamps seen for the first time this round.
    pub timestamps: TimestampCounts,
    /// (topic, partition) whose log start or end went below what was seen before this round
    /// (the topic was recreated between two rounds, or the log truncated): what was learnt
    /// about them started again.
    pub logs_went_back: Vec<(String, i32)>,
}

impl RoundReport {
    pub fn group(&self, cluster: &str, group: &str) -> Option<&GroupReport> {
        self.groups
            .iter()
            .find(|g| g.summary.cluster == cluster && g.summary.group == group)
    }
}

/// Records whose timestamp could not be used as it was; each record counts once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TimestampCounts {
    /// Timestamp -1 (or negative): lag in time was interpolated instead.
    pub missing: u64,
    /// Timestamp later than now: clamped to now.
    pub future: u64,
}

/// One group: its summary and its partitions.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GroupReport {
    #[serde(flatten)]
    pub summary: GroupSummary,
    pub partitions: Vec<PartitionReport>,
    /// The settings the group was judged with (incidents read `incidents` from here).
    #[serde(skip)]
    pub settings: GroupSettings,
}

/// One group without its partitions.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GroupSummary {
    pub cluster: String,
    pub group: String,
    /// The worst state of its partitions (see [`ConsumerState`] for the order); for a group
    /// without partitions, `unknown` or `rebalancing` from its own state, else `ok`.
    pub state: ConsumerState,
    /// Sum over the partitions it has committed offsets for; null when any is unknown.
    pub lag_records: Option<i64>,
    /// The largest over those partitions; null when any is unknown.
    pub lag_seconds: Option<f64>,
    /// How the largest lag in time was found.
    pub lag_method: LagMethod,
    /// The earliest stuck clock start among its stuck partitions (ms since the epoch).
    pub stuck_since: Option<Millis>,
    /// Seconds since the most recent commit change the watch saw on any partition.
    pub last_commit_age_seconds: Option<f64>,
    /// The group's own state, `unknown` when it could not be read.
    pub group_state: GroupState,
    /// Members, when the group's state could be read.
    pub members: Option<u32>,
}

/// One partition of one group. Offsets are this round's reads: null when the read failed
/// or is stale (the state is then `unknown`), and `committed` is null under `no_commit`.
///
/// Optional numbers are packed ([`MaybeI64`], [`MaybeF64`]: 8 bytes where an `Option` takes
/// 16) and serialize exactly as the `Option` would: a report holds one of these per
/// (group, partition), 400,000 at issue 10's size. (The compiler lays the fields out; their
/// order here is the JSON's.)
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PartitionReport {
    /// The observation's shared name.
    pub topic: Arc<str>,
    pub partition: i32,
    pub state: ConsumerState,
    pub committed: MaybeI64,
    pub log_start: MaybeI64,
    pub log_end: MaybeI64,
    /// Offsets from the first that may hold an unread record to the log end. Transaction
    /// markers the first-unread fetch skipped are not counted.
    pub lag_records: MaybeI64,
    /// The age of the oldest unread record; 0 when nothing is unread.
    pub lag_seconds: MaybeF64,
    pub lag_method: LagMethod,
    /// When the stuck clock started, once it has run a whole window (ms since the epoch).
    /// Set whenever the stuck condition holds, also under a worse state such as `expired`.
    pub stuck_since: MaybeI64,
    /// When the watch saw the committed offset change (or first saw it).
    pub last_commit_at: MaybeI64,
    pub last_commit_age_seconds: MaybeF64,
    /// Under `expired`: offsets retention deleted before the group read them (log start − committed).
    pub expired_records: MaybeI64,
    /// Under `expired`: the first round that saw it.
    pub expired_since: MaybeI64,
}

/// Milliseconds as seconds, for JSON.
pub(super) fn seconds(millis: Millis) -> f64 {
    millis as f64 / 1000.0
}
