//! The pure core of cairn: everything that decides, nothing that waits.
//!
//! No Kafka, no wall clock, no threads live here; time comes in as an argument and
//! committed offsets come in through [`offsets::OffsetsView`]. That keeps every rule
//! testable by plain unit and property tests.
//!
//! Layout:
//! - [`model`]: the shared vocabulary (trace kinds, decoded traces, verdicts, ids).
//! - [`trace`]: decoding trace records from the JSON wire contract.
//! - [`verdict`]: encoding verdict records to the JSON wire contract.
//! - [`config`]: `cairn.toml`, parsed and then validated into domain types.
//! - [`lineage`]: a stream's apps compiled into the traces each message must produce.
//! - [`offsets`]: the read-only view of committed offsets and watermarks the rule consults.
//! - [`detector`]: per-message state, timers, the decision rule, duplicates, latency.
//! - [`metrics`]: the catalog of every metric family, the detector's counters and latency
//!   histograms, and the Prometheus text writer the shell and the tracer share.
//! - [`scale`]: the autoscaling advisor: a traffic forecast (quadratic, else linear least
//!   squares) and the instances that clear a group's backlog within a target time.
//! - [`sampling`]: consistent sampling by a hash of the message id, the same at every hop.
//! - [`canary`]: the core of `cairn canary`: heartbeat sequence accounting (lost, duplicated,
//!   reordered), per-broker availability and latency, and where the canary topic needs partitions.
//! - [`watch`]: the core of `cairn watch`: per consumer group and partition a state (ok,
//!   lagging, stuck, expired, ...) with its evidence and lag in time, and incidents.
//! - [`respond`]: the first responder's policy (relaunch once, then escalate) and its audit
//!   record.

pub mod canary;
pub mod config;
pub mod detector;
pub mod lineage;
pub mod metrics;
pub mod model;
pub mod offsets;
pub mod respond;
pub mod sampling;
pub mod scale;
pub mod trace;
pub mod verdict;
pub mod watch;
