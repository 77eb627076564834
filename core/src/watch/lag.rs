//! Lag in time: how old the oldest unread record is, and how that was found.
//!
//! The first unread record's timestamp is the direct answer. A record without a timestamp
//! (-1) falls back to interpolation; one stamped in the future (a producer's clock ahead of
//! ours) is clamped to now, a lag of zero. Both are counted, once per record.

use super::end_table::EndTable;
use super::state::LagMethod;
use super::unread::Unread;
use crate::model::Millis;

/// A lag in time, in milliseconds, and the method that gave it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lag {
    pub millis: Option<Millis>,
    pub method: LagMethod,
}

/// Something odd about the first unread record's timestamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimestampFault {
    /// -1 (or any negative value): the record carries no time.
    Missing,
    /// Later than now: clamped to now.
    Future,
}

/// The lag in time of the unread part at `now`.
pub fn lag_in_time(now: Millis, unread: Unread, table: &EndTable) -> (Lag, Option<TimestampFault>) {
    let caught_up = Lag {
        millis: Some(0),
        method: LagMethod::CaughtUp,
    };
    match unread {
        Unread::Nothing | Unread::MarkersOnly => (caught_up, None),
        Unread::Record { offset, timestamp } if timestamp < 0 => (
            interpolated(now, offset, table),
            Some(TimestampFault::Missing),
        ),
        Unread::Record { timestamp, .. } => {
            let fault = (timestamp > now).then_some(TimestampFault::Future);
            let lag = Lag {
                millis: Some(now.saturating_sub(timestamp).max(0)),
                method: LagMethod::FirstUnreadRecord,
            };
            (lag, fault)
        }
        Unread::Offsets { first } => (interpolated(now, first, table), None),
        // One offset that may be a marker has no age worth reporting.
        Unread::MaybeMarker { .. } => (unknown(), None),
    }
}

fn interpolated(now: Millis, offset: i64, table: &EndTable) -> Lag {
    match table.appended_at(offset) {
        Some(at) => Lag {
            millis: Some(now.saturating_sub(at).max(0)),
            method: LagMethod::Interpolated,
        },
        None => unknown(),
    }
}

fn unknown() -> Lag {
    Lag {
        millis: None,
        method: LagMethod::Unknown,
    }
}
