//! The tests that need nothing outside this process: the command line, the score and truth
//! contracts, the demo, and the Kafka tests, which run on librdkafka's in-process mock cluster.
//!
//! The Kafka tests mean the same on a real broker, and `deploy/test-all.sh` runs them there
//! too: with `CAIRN_TEST_BROKERS` they use that broker (and `kafka_offsets` also checks what
//! only a real broker does), and with `CAIRN_TEST_CLUSTER_BROKERS` `kafka_cluster` uses the
//! real three-node cluster. Tests that prove nothing on the mock live in the `real_broker` and
//! `real_cluster` binaries instead.

mod cli;
mod control_plane;
mod demo;
mod detect_harness;
mod kafka_cluster;
mod kafka_offsets;
mod kafka_roundtrip;
mod oracle;
mod score_cli;
mod simulate;
mod tracer;
mod truth_schema;
mod watch_standby;

/// The `cairn` binary under test.
const CAIRN: &str = env!("CARGO_BIN_EXE_cairn");
