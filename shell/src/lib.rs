//! cairn's I/O shell: everything that talks to Kafka, the disk, the network or the clock, around
//! the pure decisions of [`cairn_core`].
//!
//! Layout (start with [`detect`]):
//! - [`detect`]: the `cairn detect` job: sessions of the tracing consumer (restarted in-process
//!   after a failure), one worker thread per core that owns whole tracing partitions,
//!   checkpoints (one Kafka transaction each), restore on assign.
//! - [`oracle`]: the offsets oracle: a poller thread per cluster publishes committed offsets and
//!   watermarks as snapshots that workers read without locks.
//! - [`lineage`]: the lineage in use and where it came from (the file, or a control plane
//!   fetched over HTTP and applied without a restart).
//! - [`kafka`]: client settings and the offsets primitive (another group's committed offsets and
//!   a partition's watermarks, read without joining the group).
//! - [`store`]: the local snapshot of each tracing partition's state (a file, with its checkpoint
//!   in sled), written when the partition leaves this instance.
//! - [`observe`]: what the running job shows outside: merged metrics, recent verdicts, health.
//! - [`readiness`]: when the job is ready (its session runs and the oracle has read every
//!   cluster), decided in one place for `/readyz` and `cairn_ready`.
//! - [`events`]: what the job reports about itself, each event logged and counted together.
//! - [`http`]: the HTTP face: `/metrics` (Prometheus), `/api/...` (JSON), `/healthz`, `/readyz`.
//! - [`watch`]: the `cairn watch` job: a poller per cluster reads every watched consumer group,
//!   the core judges it, incidents are stored in sled and published; HTTP shows the reports;
//!   its first responder (`watch::respond`) relaunches, notifies and escalates on incidents.
//! - [`canary`]: the `cairn canary` job: per cluster a manager (topic placement, metadata,
//!   judgement), a direct-assign consumer and a paced producer of heartbeats; HTTP shows the reports.
//! - [`clock`]: the wall clock (the core takes time as an argument).
//! - [`log_limit`]: per-kind rate limits for log lines that hostile input can repeat.

pub use cairn_core as core;

pub mod canary;
pub mod clock;
pub mod detect;
pub mod events;
pub mod http;
pub mod kafka;
pub mod lineage;
pub mod log_limit;
pub mod observe;
pub mod oracle;
pub mod readiness;
pub mod store;
pub mod watch;
