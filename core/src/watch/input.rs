//! What the shell reads from Kafka each round, in the shape the evaluator takes it.
//!
//! Every read carries the time it was made ([`Observed::read_at`]); a read that failed is
//! `None`. The evaluator, not the shell, decides what is too old to trust, so the shell may
//! pass its last good value with its old time instead of dropping it.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::packed::{CommitRead, OffsetRead};
use super::settings::GroupSettings;
use crate::model::Millis;
pub use crate::offsets::Observed;

/// One poll of every watched group, at time `now` (ms since the epoch, the shell's clock).
#[derive(Clone, Debug, PartialEq)]
pub struct Round {
    pub now: Millis,
    /// Every group the watch follows. A group left out is forgotten: its series are dropped.
    pub groups: Vec<GroupObservation>,
}

/// One consumer group on one cluster, as read this round.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupObservation {
    pub cluster: String,
    pub group: String,
    /// The group's settings after `[watch]` and its overrides (see `config::WatchConfig::settings_for`).
    pub settings: GroupSettings,
    /// The group's state and members (DescribeGroups); `None` when the read failed
    /// (coordinator loading or moving, not authorised, timeout).
    pub status: Option<Observed<GroupStatus>>,
    /// Every partition the group has a committed offset for, plus the partitions of the
    /// topics it reads that it has none for yet. A partition left out is gone: its series
    /// is dropped this round (topic deleted).
    pub partitions: Vec<PartitionObservation>,
}

/// What DescribeGroups said about a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupStatus {
    pub state: GroupState,
    pub members: u32,
}

/// A consumer group's state, folded from the broker's names into what the rules need.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupState {
    /// Members hold their assignments and may commit.
    Stable,
    /// Members are joining, syncing or reconciling; nobody can commit until it ends.
    Rebalancing,
    /// No members. Offsets may still be committed by tools or `assign()`-style consumers.
    Empty,
    /// The group is being removed, or its coordinator is moving.
    Dead,
    /// A state this build does not recognise.
    Unknown,
}

impl GroupState {
    /// The state from the name a broker gives it (classic and KIP-848 groups).
    pub fn from_kafka(name: &str) -> GroupState {
        match name {
            "Stable" => GroupState::Stable,
            "PreparingRebalance" | "CompletingRebalance" | "Assigning" | "Reconciling" => {
                GroupState::Rebalancing
            }
            "Empty" => GroupState::Empty,
            "Dead" => GroupState::Dead,
            _ => GroupState::Unknown,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            GroupState::Stable => "stable",
            GroupState::Rebalancing => "rebalancing",
            GroupState::Empty => "empty",
            GroupState::Dead => "dead",
            GroupState::Unknown => "unknown",
        }
    }
}

/// One partition of one topic the group reads, as read this round.
#[derive(Clone, Debug, PartialEq)]
pub struct PartitionObservation {
    /// Shared by every partition of the topic in the round (200 groups × 2,000 partitions
    /// would otherwise hold 400,000 copies of 20 names).
    pub topic: Arc<str>,
    pub partition: i32,
    /// The group's committed offset (the next offset it will read). `Some` with
    /// `value: None` when the group has no committed offset here; `None` when the read failed.
    pub committed: CommitRead,
    /// The first offset still in the log; `None` when the read failed.
    pub log_start: OffsetRead,
    /// The offset the next record will get, as a `read_committed` reader sees it (the last
    /// stable offset); `None` when the read failed.
    pub log_end: OffsetRead,
    /// The shell's `read_committed` fetch of the first record at or after the committed
    /// offset, cached per committed offset; `None` when it was not made or failed.
    /// Boxed: only lagging partitions have one, and a round holds an observation per
    /// (group, partition) (a 32-byte field in each of 400,000 at issue 10's size).
    pub first_unread: Option<Box<FirstUnread>>,
}

/// What a `read_committed` fetch of one record from offset `from` found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FirstUnread {
    /// The first record a `read_committed` reader gets from `from`: at `offset` (past `from`
    /// when transaction markers or aborted records come first), stamped `timestamp`
    /// (ms since the epoch; -1 when the record has none).
    Record {
        from: i64,
        offset: i64,
        timestamp: Millis,
    },
    /// The fetch read from `from` up to the log end `end` it saw and found no record a
    /// `read_committed` reader would get: every offset in between is a transaction marker
    /// or an aborted record. An exactly-once consumer that is caught up leaves exactly this
    /// behind: a lag of one offset, the commit marker.
    NoneBefore { from: i64, end: i64 },
}

impl FirstUnread {
    /// The offset the fetch started from: it answers for this committed offset only.
    pub fn from(&self) -> i64 {
        match *self {
            FirstUnread::Record { from, .. } | FirstUnread::NoneBefore { from, .. } => from,
        }
    }
}
