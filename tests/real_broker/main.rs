//! The tests that prove something only on a real Kafka broker: `cairn detect` end to end
//! (a pipeline with exact truth, its own backlog, kill -9, a graceful restart, a rebalance, a
//! broker restart, readiness that waits for the offsets oracle, a 1 MiB memory budget that spills
//! most messages to disk), `cairn simulate` with every fault watched by `cairn detect`, and the faults
//! the mock cluster cannot play, `cairn watch` (stuck, idle, restart, expired; scenarios 3-5: a
//! half-speed consumer, transactions, a compacted topic; faults: topics grown, deleted and
//! recreated, timestamps; retention headroom), and its first responder (relaunch once,
//! escalate, notify, no second relaunch after a kill -9), and secured clusters (SASL_SSL and
//! SSL: detect, simulate, the tracer and watch through them; a refused login or certificate
//! stops the start with one line; no secret in any output).
//!
//! Built only with the root package's `real-broker` feature, so a plain `cargo test` leaves it
//! out; `deploy/test-all.sh` starts a broker and runs it. Without `CAIRN_TEST_BROKERS` every test
//! fails, naming the variable.
//!
//! The tests run in parallel, each on topics and groups of its own; the ones that stop the
//! broker or load it heavily take it alone (`Sharing::Exclusive`, `on_real_broker_alone`).

mod detect_backlog;
mod detect_broker_restart;
mod detect_control_plane;
mod detect_crash;
mod detect_pipeline;
mod detect_readiness;
mod detect_rebalance;
mod detect_restart;
mod detect_spill;
mod logs;
mod respond;
mod scale;
mod secured;
mod simulate;
mod simulate_detect;
mod tracer_outage;
mod watch;
mod watch_committed;
mod watch_failover;
mod watch_faults;
mod watch_headroom;
mod watch_scenarios;

use std::path::Path;

/// The `cairn` binary under test.
fn cairn() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_cairn"))
}
