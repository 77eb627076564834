//! The core of `cairn canary`: heartbeats through every broker, accounted exactly, with time
//! passed in. `docs/canary.md` explains the words.
//!
//! Layout:
//! - [`heartbeat`]: the record on the canary topic (run, instance, partition, sequence,
//!   produced at, attempt), encoded and decoded.
//! - [`ledger`]: one partition's sequences: acknowledged, read, lost, duplicated, reordered.
//! - [`follow`]: a consume-mode instance's account of another instance's sequences.
//! - [`availability`]: the share of good outcomes over a sliding window.
//! - [`cluster`]: one cluster's ledgers, leaders and per-broker counts, latency and
//!   availability; its reports.
//! - [`consistency`]: each broker's metadata against the others' and the KRaft quorum, with grace;
//!   `metadata_mismatch` incidents.
//! - [`placement`]: which partitions the canary topic needs so every broker leads one.
//! - [`report`]: the JSON shapes of `/api/canary` and `/api/brokers`.

pub mod availability;
pub mod cluster;
pub mod consistency;
pub mod follow;
pub mod heartbeat;
pub mod ledger;
pub mod placement;
pub mod report;

#[cfg(test)]
mod tests;

pub use self::cluster::{CanaryCluster, CanarySettings};
pub use self::heartbeat::{Heartbeat, HeartbeatError};
