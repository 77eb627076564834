#!/usr/bin/env bash
# Runs every test of cairn, the way CI does:
#   1. formatting and lints (every target, the real-Kafka test binaries included);
#   2. unit, property and Kafka tests on librdkafka's in-process mock cluster: a plain
#      `cargo test`, which leaves out the binaries gated by the `real-broker` and
#      `real-cluster` features;
#   3. a real Apache Kafka broker (KRaft) that this script fetches from Maven Central, starts
#      on 127.0.0.1 (with its SASL_SSL and SSL listeners) and stops when it is done: the
#      `standalone` Kafka tests again against it, then the `real_broker` binary;
#   4. a real three-node cluster (a node is killed with SIGKILL): `kafka_cluster` of the
#      `standalone` binary against it, then the `real_cluster` binary.
# The real-Kafka binaries are built with --all-features, one feature set for both stages.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
kafka="$root/deploy/kafka/kafka.sh"

step() { printf '\n==> %s\n' "$*"; }

step "format and lints"
cargo fmt --all --check
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings

step "unit, property and mock-cluster tests"
env -u CAIRN_TEST_BROKERS -u CAIRN_TEST_CLUSTER_BROKERS cargo test --workspace --locked

step "real broker: fetch and start Apache Kafka"
trap '"$kafka" stop; "$kafka" cluster-stop' EXIT
"$kafka" start
brokers=$("$kafka" bootstrap)
# The broker's SASL_SSL and SSL listeners, its test CA and SCRAM user, for the secured tests.
eval "$("$kafka" secure-env)"

step "Kafka tests against the real broker"
env -u CAIRN_TEST_CLUSTER_BROKERS CAIRN_TEST_BROKERS="$brokers" \
    cargo test -p cairn --test standalone --locked
env -u CAIRN_TEST_CLUSTER_BROKERS CAIRN_TEST_BROKERS="$brokers" \
    cargo test -p cairn --all-features --test real_broker --locked

"$kafka" stop

step "fault tests against a real three-node cluster"
"$kafka" cluster-start
cluster=$("$kafka" bootstrap cluster)
env -u CAIRN_TEST_BROKERS CAIRN_TEST_CLUSTER_BROKERS="$cluster" \
    cargo test -p cairn --test standalone --locked -- kafka_cluster::
env -u CAIRN_TEST_BROKERS CAIRN_TEST_CLUSTER_BROKERS="$cluster" \
    cargo test -p cairn --all-features --test real_cluster --locked -- --test-threads=1

step "all tests passed"
