//! The tests that need the real three-node Kafka cluster, because they kill a node.
//!
//! Built only with the root package's `real-cluster` feature, so a plain `cargo test` leaves it
//! out; `deploy/test-all.sh` starts the cluster and runs it. Without
//! `CAIRN_TEST_CLUSTER_BROKERS` every test fails, naming the variable. Run it with
//! `--test-threads=1` (as `deploy/test-all.sh` does): its tests kill nodes of the one cluster. (`kafka_cluster`, which
//! means something on a three-broker mock too, is in the `standalone` binary.)

mod canary;
mod simulate_broker_loss;
mod watch_broker_loss;

use std::path::Path;

/// The `cairn` binary under test.
fn cairn() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_cairn"))
}
