//! The states a partition (and so a group) can be in, and how bad each is.

use serde::{Deserialize, Serialize};

/// A partition's state for one group, or a group's: the worst of its partitions.
///
/// The variants are declared worst first; [`ConsumerState::severity`] and `Ord` follow that
/// order, so `max` of states is the worst one. The order, and why:
/// 1. `expired`: records were deleted before the group read them; nothing brings them back.
/// 2. `committed_beyond_end`: the group's position is not in the log (topic recreated, log
///    truncated); records written below it will be skipped.
/// 3. `stuck`: unread records wait and the group has not committed for a whole window.
/// 4. `empty_group_with_backlog`: unread records wait and nobody is in the group to read them.
/// 5. `falling_behind`: commits move, but the lag in time has grown for three windows.
/// 6. `lagging`: the oldest unread record is older than the group's `max_lag`.
/// 7. `rebalancing`: the group is rebalancing; nobody can commit until it ends.
/// 8. `unknown`: a read failed or is stale; nothing is concluded from missing data.
/// 9. `no_commit`: the group has never committed here.
/// 10. `ok`: none of the above.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsumerState {
    Expired,
    CommittedBeyondEnd,
    Stuck,
    EmptyGroupWithBacklog,
    FallingBehind,
    Lagging,
    Rebalancing,
    Unknown,
    NoCommit,
    Ok,
}

impl ConsumerState {
    /// Every state, worst first.
    pub const ALL: [ConsumerState; 10] = [
        ConsumerState::Expired,
        ConsumerState::CommittedBeyondEnd,
        ConsumerState::Stuck,
        ConsumerState::EmptyGroupWithBacklog,
        ConsumerState::FallingBehind,
        ConsumerState::Lagging,
        ConsumerState::Rebalancing,
        ConsumerState::Unknown,
        ConsumerState::NoCommit,
        ConsumerState::Ok,
    ];

    /// Higher is worse: `ok` is 0, `expired` is 9.
    pub fn severity(self) -> u8 {
        match self {
            ConsumerState::Ok => 0,
            ConsumerState::NoCommit => 1,
            ConsumerState::Unknown => 2,
            ConsumerState::Rebalancing => 3,
            ConsumerState::Lagging => 4,
            ConsumerState::FallingBehind => 5,
            ConsumerState::EmptyGroupWithBacklog => 6,
            ConsumerState::Stuck => 7,
            ConsumerState::CommittedBeyondEnd => 8,
            ConsumerState::Expired => 9,
        }
    }

    /// The lowercase name used in JSON and in `docs/watch.md`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConsumerState::Expired => "expired",
            ConsumerState::CommittedBeyondEnd => "committed_beyond_end",
            ConsumerState::Stuck => "stuck",
            ConsumerState::EmptyGroupWithBacklog => "empty_group_with_backlog",
            ConsumerState::FallingBehind => "falling_behind",
            ConsumerState::Lagging => "lagging",
            ConsumerState::Rebalancing => "rebalancing",
            ConsumerState::Unknown => "unknown",
            ConsumerState::NoCommit => "no_commit",
            ConsumerState::Ok => "ok",
        }
    }
}

impl PartialOrd for ConsumerState {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ConsumerState {
    /// By severity: `a < b` when `b` is worse.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.severity().cmp(&other.severity())
    }
}

/// How a lag in time was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LagMethod {
    /// `now` minus the timestamp of the first record at or after the committed offset.
    FirstUnreadRecord,
    /// `now` minus the time the log end passed the first unread offset, interpolated from
    /// the partition's table of (log end, time) points.
    Interpolated,
    /// Nothing is unread: the lag is zero.
    CaughtUp,
    /// Neither method had the data.
    Unknown,
}
