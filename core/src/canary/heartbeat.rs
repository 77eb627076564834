//! The heartbeat record: what the canary writes to its topic and reads back (JSON, one per
//! Kafka record). Decoding never panics: bytes that are not a heartbeat come back as a
//! [`HeartbeatError`] the shell counts and skips.

use serde::{Deserialize, Serialize};

use crate::model::Millis;

/// The version of the heartbeat record this module reads and writes.
pub const VERSION: i64 = 1;

/// One heartbeat. `(run, instance, partition, seq)` names it; `attempt` tells a re-send of
/// a sequence whose earlier send failed from a duplicate written by Kafka.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    pub v: i64,
    /// Fresh at every start of the canary, so a restart never looks like loss or duplicates.
    pub run: String,
    /// The canary instance that wrote it (`[canary] instance`).
    pub instance: String,
    pub partition: i32,
    /// Per run and partition: 0, 1, 2, ...
    pub seq: u64,
    /// When this attempt was handed to the producer (ms since the epoch, the writer's clock).
    pub produced_at: Millis,
    /// 0 for the first send; n for the n-th re-send after a failed one. Latency is measured
    /// on first sends only, so the time a client spent reconnecting is never counted as it.
    #[serde(default)]
    pub attempt: u32,
}

/// Why bytes read from the canary topic are not a heartbeat.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HeartbeatError {
    #[error("empty record")]
    Empty,
    #[error("not a heartbeat: {0}")]
    Invalid(String),
    #[error("`v`: unsupported version {0}, expected 1")]
    UnsupportedVersion(i64),
}

impl HeartbeatError {
    /// A fixed word for a metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            HeartbeatError::Empty => "empty",
            HeartbeatError::Invalid(_) => "invalid",
            HeartbeatError::UnsupportedVersion(_) => "version",
        }
    }
}

impl Heartbeat {
    pub fn encode(&self) -> Vec<u8> {
        // Plain owned strings and numbers: serialization cannot fail.
        serde_json::to_vec(self).expect("a heartbeat always serializes")
    }

    pub fn decode(bytes: &[u8]) -> Result<Heartbeat, HeartbeatError> {
        if bytes.is_empty() {
            return Err(HeartbeatError::Empty);
        }
        let beat: Heartbeat =
            serde_json::from_slice(bytes).map_err(|e| HeartbeatError::Invalid(e.to_string()))?;
        if beat.v != VERSION {
            return Err(HeartbeatError::UnsupportedVersion(beat.v));
        }
        if beat.partition < 0 {
            return Err(HeartbeatError::Invalid(format!(
                "`partition`: {} is negative",
                beat.partition
            )));
        }
        Ok(beat)
    }
}
