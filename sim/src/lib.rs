//! cairn's proving ground, kept apart from the production job: it plays pipelines with known
//! faults and grades what `cairn detect` concluded about them.
//!
//! Layout:
//! - [`simulate`]: `cairn simulate`: a traced pipeline of real Kafka apps (producers,
//!   processors, sinks) with injected faults, and its ground truth rebuilt from the topics, the
//!   apps' ledgers and the committed offsets it observed.
//! - [`truth`]: the ground truth file (`truth.jsonl`), written by `simulate`, read by `score`.
//! - [`score`]: `cairn score`: verdicts graded against the truth (precision, recall, false
//!   alarms, detection delay, duplicates), as a table or JSON, with pass/fail thresholds.
//! - [`demo`]: `cairn demo`, the zero-setup tour: a mock cluster, a simulated pipeline with
//!   faults, `detect` run in-process, and the score.

pub mod demo;
pub mod score;
pub mod simulate;
pub mod truth;
