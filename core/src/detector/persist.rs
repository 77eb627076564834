//! The per-message state in a portable form, for the shell's store.
//!
//! Slots are keyed by location and app *name*, not index, so a state written under one
//! lineage restores under a reloaded one: slots the new lineage lacks are dropped, and an
//! app the state does not list was not in the plan the message was made with, so nothing is
//! expected of it (a message keeps the plan it started with; `docs/control-plane.md`). For
//! that a state lists every reader of its plan, even one with nothing seen, and says so with
//! the `PLAN_LISTED` status bit; a state written before that bit existed lists only readers
//! with something seen, and restores as it always did (a new app expected). Flag bits are the
//! detector's own and are versioned by [`STATE_FORMAT`]. What verdicts were emitted is in
//! those bits, so a restored message never emits one again.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::state::{Message, MessageView, app_flags, status};
use crate::lineage::{LocIx, StreamPlan};
use crate::model::Millis;

/// The version of the stored state layout this build writes and reads.
pub const STATE_FORMAT: u8 = 1;

/// Largest stored state accepted: a corrupt length never turns into a huge allocation. The
/// shell's store frames no larger state either.
pub const MAX_STATE_BYTES: usize = 1 << 20;

fn bincode_config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_STATE_BYTES>()
}

/// Why a stored state could not be written or read back.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum StateError {
    #[error(
        "stored message state does not decode ({0}); the record is corrupt or from another program"
    )]
    Decode(String),
    #[error("message state could not be encoded: {0}")]
    Encode(String),
    #[error(
        "stored message state has format {found}, this build reads {STATE_FORMAT}; drop the store or run the matching version"
    )]
    Format { found: u8 },
    #[error("stored message state is for stream `{0}`, which the lineage no longer has")]
    UnknownStream(String),
    #[error(
        "message `{id}` of stream `{stream}` is already in memory; restore into a fresh detector"
    )]
    AlreadyPresent { stream: String, id: String },
}

/// One message's state, as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredMessage<'a> {
    pub format: u8,
    pub stream: Cow<'a, str>,
    /// Detector time of the first trace; the `*_dts` fields are deltas from it.
    pub anchor: Millis,
    /// When the message's timer fires next (detector time).
    pub deadline: Millis,
    pub backoff: u8,
    pub status: u8,
    pub locations: Vec<StoredLocation<'a>>,
    pub apps: Vec<StoredApp<'a>>,
}

/// Where the message sits at one location.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredLocation<'a> {
    pub location: Cow<'a, str>,
    pub flags: u8,
    pub partition: i32,
    pub offset: i64,
    pub sent_dts: i32,
    /// Further copies written there (partition, offset).
    pub extra_sent: Vec<(i32, i64)>,
}

/// What one reading app did and what was concluded about it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredApp<'a> {
    pub app: Cow<'a, str>,
    pub flags: u16,
    pub recv_dts: i32,
}

impl StoredMessage<'_> {
    /// Appends the state's bytes to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<usize, StateError> {
        bincode::serde::encode_into_std_write(self, out, bincode_config())
            .map_err(|e| StateError::Encode(e.to_string()))
    }

    /// Reads a state written by [`StoredMessage::encode`].
    pub fn decode(bytes: &[u8]) -> Result<StoredMessage<'static>, StateError> {
        let (stored, _): (StoredMessage<'static>, usize) =
            bincode::serde::decode_from_slice(bytes, bincode_config())
                .map_err(|e| StateError::Decode(e.to_string()))?;
        if stored.format != STATE_FORMAT {
            return Err(StateError::Format {
                found: stored.format,
            });
        }
        Ok(stored)
    }
}

/// The stored form of a message, borrowing names from its plan.
pub(crate) fn snapshot<'p>(plan: &'p StreamPlan, msg: &MessageView<'_>) -> StoredMessage<'p> {
    let locations = plan
        .locations()
        .iter()
        .enumerate()
        .filter_map(|(i, location)| {
            let at = msg.loc(i);
            (at.flags != 0).then(|| StoredLocation {
                location: Cow::Borrowed(location.name.as_str()),
                flags: at.flags,
                partition: at.partition,
                offset: at.offset,
                sent_dts: at.sent_dts,
                extra_sent: msg
                    .extra_sent()
                    .iter()
                    .filter(|e| usize::from(e.location) == i)
                    .map(|e| (e.partition, e.offset))
                    .collect(),
            })
        })
        .collect();
    let apps = plan
        .readers()
        .iter()
        .enumerate()
        .map(|(slot, &app)| {
            let s = msg.app(slot);
            StoredApp {
                app: Cow::Borrowed(plan.app(app).name.as_str()),
                flags: s.flags,
                recv_dts: s.recv_dts,
            }
        })
        .collect();
    StoredMessage {
        format: STATE_FORMAT,
        stream: Cow::Borrowed(plan.name.as_str()),
        anchor: msg.row.anchor,
        deadline: msg.deadline(),
        backoff: msg.row.backoff,
        status: (msg.row.status & status::PERSISTED) | status::PLAN_LISTED,
        locations,
        apps,
    }
}

/// Fills a fresh row from its stored form, matching slots by name.
pub(crate) fn fill(plan: &StreamPlan, stored: &StoredMessage<'_>, msg: &mut Message<'_>) {
    msg.row.backoff = stored.backoff;
    msg.set_status(stored.status & status::PERSISTED, true);
    for s in &stored.locations {
        let Some(ix) = plan.location_ix(&s.location) else {
            continue;
        };
        msg.set_loc(
            ix,
            super::state::LocSlot {
                flags: s.flags,
                partition: s.partition,
                offset: s.offset,
                sent_dts: s.sent_dts,
            },
        );
        for &(partition, offset) in &s.extra_sent {
            add_extra(msg, ix, partition, offset);
        }
    }
    for s in &stored.apps {
        let Some(slot) = plan.app_ix(&s.app).and_then(|a| plan.app(a).slot) else {
            continue;
        };
        msg.set_app(
            slot,
            super::state::AppSlot {
                flags: s.flags,
                recv_dts: s.recv_dts,
            },
        );
    }
    if stored.status & status::PLAN_LISTED != 0 {
        for &app in plan.readers() {
            let app = plan.app(app);
            let listed = stored.apps.iter().any(|s| s.app == app.name.as_str());
            if let (false, Some(slot)) = (listed, app.slot) {
                msg.set_app(
                    slot,
                    super::state::AppSlot {
                        flags: app_flags::UNPLANNED,
                        recv_dts: 0,
                    },
                );
            }
        }
    }
}

fn add_extra(msg: &mut Message<'_>, location: LocIx, partition: i32, offset: i64) {
    if !msg.has_extra_sent(location, partition, offset) {
        msg.add_extra_sent(location, partition, offset);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> StoredMessage<'static> {
        StoredMessage {
            format: STATE_FORMAT,
            stream: Cow::Borrowed("s"),
            anchor: 1_763_800_000_123,
            deadline: 1_763_800_030_123,
            backoff: 2,
            status: status::LINGERING,
            locations: vec![StoredLocation {
                location: Cow::Borrowed("c/t"),
                flags: 3,
                partition: 4,
                offset: 1234,
                sent_dts: -5,
                extra_sent: vec![(4, 1300)],
            }],
            apps: vec![StoredApp {
                app: Cow::Borrowed("x"),
                flags: 17,
                recv_dts: 40,
            }],
        }
    }

    #[test]
    fn encodes_and_decodes() {
        let mut bytes = Vec::new();
        sample().encode(&mut bytes).unwrap();
        assert_eq!(StoredMessage::decode(&bytes).unwrap(), sample());
    }

    #[test]
    fn garbage_and_other_formats_are_errors_not_panics() {
        assert!(matches!(
            StoredMessage::decode(&[]),
            Err(StateError::Decode(_))
        ));
        assert!(matches!(
            StoredMessage::decode(&[0xff; 64]),
            Err(StateError::Decode(_))
        ));
        let mut other = sample();
        other.format = STATE_FORMAT + 1;
        let mut bytes = Vec::new();
        other.encode(&mut bytes).unwrap();
        assert_eq!(
            StoredMessage::decode(&bytes),
            Err(StateError::Format {
                found: STATE_FORMAT + 1
            })
        );
        // Every truncation of a valid record fails cleanly.
        let mut bytes = Vec::new();
        sample().encode(&mut bytes).unwrap();
        for cut in 0..bytes.len() {
            assert!(
                StoredMessage::decode(&bytes[..cut]).is_err(),
                "cut at {cut}"
            );
        }
    }
}
