//! The offsets oracle: a cached view of every watched group's committed offsets and every
//! lineage location's watermarks, refreshed by one poller thread per cluster.
//!
//! - [`snapshot`]: the immutable per-cluster snapshot and the lock-free view workers read.
//! - [`poller`]: the thread that polls one cluster and publishes a new snapshot each round.
//!
//! A failed read keeps the previous value with its old read time, so it turns stale and the
//! decision rule waits; an unreachable cluster can delay verdicts, never cause one.

pub mod poller;
pub mod snapshot;

pub use poller::{
    ClusterWatch, OracleHandle, WatchedSet, WatchedTopics, every_cluster, spawn_oracle,
    watches_from_config,
};
pub use snapshot::{ClusterOffsets, OffsetsBoard, OracleView};
