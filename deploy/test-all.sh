#!/usr/bin/env bash
# Runs every test of cairn, the way CI does:
#   1. formatting and lints;
#   2. unit, property and Kafka tests on librdkafka's in-process mock cluster;
#   3. the Kafka tests again against a real Apache Kafka broker (KRaft) that this script
#      fetches from Maven Central, starts on 127.0.0.1 and stops when it is done;
#   4. the fault tests against a real three-node cluster (a node is killed with SIGKILL).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
kafka="$root/deploy/kafka/kafka.sh"

step() { printf '\n==> %s\n' "$*"; }

step "format and lints"
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings

step "unit, property and mock-cluster tests"
env -u CAIRN_TEST_BROKERS -u CAIRN_TEST_CLUSTER_BROKERS cargo test --workspace --locked

step "real broker: fetch and start Apache Kafka"
trap '"$kafka" stop; "$kafka" cluster-stop' EXIT
"$kafka" start

step "Kafka tests against the real broker"
env -u CAIRN_TEST_CLUSTER_BROKERS CAIRN_TEST_BROKERS=$("$kafka" bootstrap) cargo test -p cairn --tests --locked

"$kafka" stop

step "fault tests against a real three-node cluster"
"$kafka" cluster-start
CAIRN_TEST_CLUSTER_BROKERS=$("$kafka" bootstrap cluster) cargo test -p cairn --test kafka_cluster --test simulate_broker_loss --locked

step "all tests passed"
