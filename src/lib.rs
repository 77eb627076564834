//! cairn finds the messages a Kafka pipeline loses or duplicates, and how long each hop takes,
//! by tracing individual messages instead of comparing counts.
//!
//! The house has a pure core inside an I/O shell:
//!
//! - `cairn_core` (the `core/` crate, re-exported here as [`core`]): trace decoding, verdict
//!   encoding, `cairn.toml`, lineage, per-message state, timers and the decision rule. It knows
//!   no Kafka, no clock and no threads, so every rule is tested by fast unit and property tests.
//! - [`kafka`]: the Kafka shell: client settings, and the offsets primitive the detector is
//!   built on (another group's committed offsets and partition watermarks, read without joining).
//! - [`oracle`]: the offsets oracle: one poller thread per cluster publishes committed offsets
//!   and watermarks as snapshots that detector workers read without locks.
//! - [`store`]: the local snapshot of each tracing partition's state (a file, with its checkpoint
//!   in sled), written when the partition leaves this instance and trusted on
//!   assign only when its checkpoint token matches the committed one.
//! - [`observe`]: what the running job shows outside (merged metrics, recent verdicts, health).
//! - [`http`]: the HTTP face: `/metrics` (Prometheus), `/api/...` (JSON), `/healthz`, `/readyz`.
//! - [`clock`]: the shell's wall clock (the core takes time as an argument).
//! - [`detect`]: the `cairn detect` job: consumer group, workers, checkpoints, restore.
//! - [`cli`]: the `cairn` command line (`detect`, `simulate`, `score`, `demo`); `src/main.rs` only
//!   parses and dispatches.
//!
//! - [`truth`]: the ground truth of a simulated run (`truth.jsonl`), written by `cairn simulate`
//!   and read by `cairn score`.
//! - [`demo`]: `cairn demo`, the zero-setup tour: a mock cluster, a traced pipeline with
//!   faults, detect run in-process, and the score.
//! - [`score`]: `cairn score`: verdicts graded against the truth (precision, recall, false
//!   alarms, detection delay, duplicates), as a table or JSON, with pass/fail thresholds.
//!
//! - [`tracer`]: the library producers and stream jobs link to emit traces: consistent
//!   sampling, a bounded queue that drops and counts instead of blocking, counters.
//! - [`simulate`]: `cairn simulate`: a traced pipeline of real Kafka apps with injected faults,
//!   and its ground truth rebuilt from the topics and the apps' ledgers.

pub use cairn_core as core;

pub mod cli;
pub mod clock;
pub mod demo;
pub mod detect;
pub mod http;
pub mod kafka;
pub mod observe;
pub mod oracle;
pub mod score;
pub mod simulate;
pub mod store;
pub mod tracer;
pub mod truth;
