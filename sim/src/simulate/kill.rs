//! Real broker-side loss on partition 0 of a location of the three-node cluster, with
//! `deploy/kafka/kafka.sh` (node N is broker id N). With `acks=1`, replication 2 and
//! `unclean.leader.election.enable=true` on the topic, Kafka loses acknowledged writes only
//! when the leader dies while its follower is behind; a leader killed under load with an
//! in-sync follower loses nothing (the follower holds every write below the high watermark,
//! and `acks=1` writes above it are few and racy). So the loss is provoked step by step:
//!
//! 1. pause the follower (`kafka.sh pause`, SIGSTOP), let `stale_writes` more acknowledged
//!    writes land on the leader alone, then hold the producers;
//! 2. wait until the leader drops the follower from the ISR (`replica.lag.time.max.ms`, 3 s on
//!    kafka.sh's cluster; longer when the paused node was the active KRaft controller). Holding
//!    the producers meanwhile bounds the doomed writes to about `stale_writes`, so the writes
//!    after the election reuse (and pass) every lost offset and each loss is decidable;
//! 3. kill -9 the leader, then resume the follower at once (two nodes must stay up for the
//!    KRaft quorum of combined nodes: the gap between the two is a few milliseconds);
//! 4. once the controller fences the dead leader, unclean election makes the stale follower
//!    the leader: the writes it never had are gone, and new writes reuse their offsets;
//! 5. after `down_for`, start the old leader again: it truncates its log to the new leader's.

use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

use super::scenario::KillLeader;

/// How long each step may take (ISR shrink, an election after the dead leader is fenced).
const STEP_TIMEOUT: Duration = Duration::from_secs(60);
/// Metadata requests are short: a request to the paused node would otherwise hang.
const METADATA_TIMEOUT: Duration = Duration::from_secs(2);

/// Partition 0 as the cluster sees it.
#[derive(Debug)]
struct PartitionView {
    leader: i32,
    /// host:port of the leader.
    leader_address: String,
    replicas: Vec<i32>,
    isr: Vec<i32>,
}

/// Plays the steps above once the producers have `kill.after` acknowledged writes.
pub fn kill_leader_when(
    kill: &KillLeader,
    cluster: &ClientConfig,
    produced: &AtomicU64,
    hold: &AtomicBool,
) -> anyhow::Result<()> {
    while produced.load(Ordering::Relaxed) < kill.after {
        std::thread::sleep(Duration::from_millis(20));
    }
    let topic = kill.location.split_once('/').map_or("", |(_, t)| t);
    let consumer: BaseConsumer = cluster.create()?;
    let view = wait_for(&consumer, topic, "a leader with an in-sync follower", |v| {
        v.leader > 0 && v.isr.len() >= 2
    })?;
    let leader = view.leader;
    let follower = *view
        .isr
        .iter()
        .find(|&&r| r != leader)
        .context("no in-sync follower")?;
    for node in [leader, follower] {
        anyhow::ensure!(
            (1..=3).contains(&node),
            "node {node} is not a node of kafka.sh's three-node cluster"
        );
    }
    // Ask the leader itself while the follower is paused: a metadata request that librdkafka
    // sends to the paused node hangs until it times out.
    let at_leader: BaseConsumer = cluster
        .clone()
        .set("bootstrap.servers", &view.leader_address)
        .create()?;
    tracing::info!(leader, follower, location = %kill.location, "pausing the follower");
    kafka_sh(kill, "pause", follower)?;
    let stale = (|| {
        let from = produced.load(Ordering::Relaxed);
        let deadline = Instant::now() + STEP_TIMEOUT;
        while produced.load(Ordering::Relaxed) < from + kill.stale_writes {
            anyhow::ensure!(
                Instant::now() < deadline,
                "the producers made fewer than {} writes in {STEP_TIMEOUT:?} with the follower paused",
                kill.stale_writes
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        hold.store(true, Ordering::Relaxed);
        wait_for(&at_leader, topic, "the follower out of the ISR", |v| {
            v.leader == leader && !v.isr.contains(&follower)
        })?;
        tracing::info!(leader, location = %kill.location, "killing the partition leader");
        kafka_sh(kill, "kill", leader)
    })();
    // Resume the follower and the producers whatever happened: a paused node must not
    // outlive the run.
    let resumed = kafka_sh(kill, "resume", follower);
    hold.store(false, Ordering::Relaxed);
    resumed?;
    stale?;
    let elected = wait_for(&consumer, topic, "a new leader", |v| {
        v.leader > 0 && v.leader != leader
    })?;
    tracing::info!(
        new_leader = elected.leader,
        replicas = ?elected.replicas,
        "unclean election done; the old leader stays down for {:?}",
        kill.down_for
    );
    std::thread::sleep(kill.down_for);
    kafka_sh(kill, "restart", leader)
}

/// Polls partition 0's metadata until `done` holds.
fn wait_for(
    consumer: &BaseConsumer,
    topic: &str,
    what: &str,
    done: impl Fn(&PartitionView) -> bool,
) -> anyhow::Result<PartitionView> {
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        let last = match partition_zero(consumer, topic) {
            Ok(view) if done(&view) => return Ok(view),
            Ok(view) => format!("{view:?}"),
            Err(err) => format!("{err:#}"),
        };
        anyhow::ensure!(
            Instant::now() < deadline,
            "{topic} partition 0: no {what} within {STEP_TIMEOUT:?}; last seen: {last}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn partition_zero(consumer: &BaseConsumer, topic: &str) -> anyhow::Result<PartitionView> {
    let metadata = consumer.fetch_metadata(Some(topic), METADATA_TIMEOUT)?;
    let partition = metadata
        .topics()
        .iter()
        .flat_map(|t| t.partitions())
        .find(|p| p.id() == 0)
        .with_context(|| format!("{topic} has no partition 0"))?;
    let leader_address = metadata
        .brokers()
        .iter()
        .find(|b| b.id() == partition.leader())
        .map(|b| format!("{}:{}", b.host(), b.port()))
        .unwrap_or_default();
    Ok(PartitionView {
        leader: partition.leader(),
        leader_address,
        replicas: partition.replicas().to_vec(),
        isr: partition.isr().to_vec(),
    })
}

fn kafka_sh(kill: &KillLeader, verb: &str, node: i32) -> anyhow::Result<()> {
    let status = Command::new(&kill.kafka_sh)
        .arg(verb)
        .arg(node.to_string())
        .status()
        .with_context(|| format!("running {} {verb} {node}", kill.kafka_sh.display()))?;
    anyhow::ensure!(
        status.success(),
        "{} {verb} {node} failed: {status}",
        kill.kafka_sh.display()
    );
    Ok(())
}
