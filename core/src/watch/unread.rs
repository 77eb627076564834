//! What waits between a group's committed offset and the log end: records, transaction
//! markers only, or nothing.
//!
//! Offsets alone cannot tell a record from a transaction marker: an exactly-once consumer
//! that is caught up commits the offset of its last transaction's commit marker, and the
//! offsets then show a lag of one forever. The shell's `read_committed` fetch of the first
//! record at or after the committed offset settles it. Without that answer a single offset
//! past the commit may be a marker, so it is not taken as a backlog; two or more are.

use super::input::FirstUnread;
use crate::model::Millis;

/// The unread part of one partition, as far as this round's reads show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unread {
    /// The log end is at (or below) the committed offset.
    Nothing,
    /// The fetch found no record a `read_committed` reader would get before the log end:
    /// only transaction markers or aborted records.
    MarkersOnly,
    /// The fetch found a record: the first one the group will read.
    Record { offset: i64, timestamp: Millis },
    /// Two or more offsets past `first`, no fetch answer for them: records.
    Offsets { first: i64 },
    /// Exactly one offset past `first`, no fetch answer for it: it may be a marker.
    MaybeMarker { first: i64 },
}

impl Unread {
    /// Judges the unread part from fresh offsets and the fetch (used only when it was made
    /// from this committed offset; a cached answer for an older one says nothing).
    pub fn judge(committed: i64, log_end: i64, fetch: Option<FirstUnread>) -> Unread {
        if log_end <= committed {
            return Unread::Nothing;
        }
        match fetch.filter(|f| f.from() == committed) {
            // A record past the log end we read means our log end is the older read: ignore it.
            Some(FirstUnread::Record {
                offset, timestamp, ..
            }) if offset < log_end => Unread::Record {
                offset: offset.max(committed),
                timestamp,
            },
            Some(FirstUnread::NoneBefore { end, .. }) if end >= log_end => Unread::MarkersOnly,
            // Appended since the fetch: judged by offsets from where the fetch stopped.
            Some(FirstUnread::NoneBefore { end, .. }) => by_offsets(end.max(committed), log_end),
            _ => by_offsets(committed, log_end),
        }
    }

    /// Whether records (not just markers) are known to wait: what keeps the stuck clock running.
    pub fn is_backlog(self) -> bool {
        matches!(self, Unread::Record { .. } | Unread::Offsets { .. })
    }

    /// The first offset that may hold an unread record.
    pub fn first_offset(self) -> Option<i64> {
        match self {
            Unread::Record { offset, .. } => Some(offset),
            Unread::Offsets { first } | Unread::MaybeMarker { first } => Some(first),
            Unread::Nothing | Unread::MarkersOnly => None,
        }
    }

    /// Offsets from the first that may hold an unread record to the log end: zero when only
    /// markers wait.
    pub fn lag_records(self, log_end: i64) -> i64 {
        self.first_offset()
            .map_or(0, |first| log_end.saturating_sub(first).max(0))
    }
}

fn by_offsets(first: i64, log_end: i64) -> Unread {
    if log_end - first >= 2 {
        Unread::Offsets { first }
    } else {
        Unread::MaybeMarker { first }
    }
}
