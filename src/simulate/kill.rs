//! Real broker-side loss: kill -9 the leader of partition 0 of a location under load, and
//! start it again later, with `deploy/kafka/kafka.sh kill N` / `restart N` (node N is broker
//! id N of the three-node cluster). With `acks=1` and `unclean.leader.election.enable=true`
//! on the topic, writes the old leader acknowledged but had not replicated are lost.

use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

use super::scenario::KillLeader;

/// Waits until the producers have `kill.after` acknowledged writes, then kills the leader.
pub fn kill_leader_when(
    kill: &KillLeader,
    cluster: &ClientConfig,
    produced: &AtomicU64,
) -> anyhow::Result<()> {
    while produced.load(Ordering::Relaxed) < kill.after {
        std::thread::sleep(Duration::from_millis(20));
    }
    let topic = kill.location.split_once('/').map_or("", |(_, t)| t);
    let consumer: BaseConsumer = cluster.create()?;
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let leader = metadata
        .topics()
        .iter()
        .flat_map(|t| t.partitions())
        .find(|p| p.id() == 0)
        .map(|p| p.leader())
        .with_context(|| format!("no leader for {} partition 0", kill.location))?;
    anyhow::ensure!(
        (1..=3).contains(&leader),
        "leader {leader} is not a node of kafka.sh's three-node cluster"
    );
    tracing::info!(leader, location = %kill.location, "killing the partition leader");
    kafka_sh(kill, "kill", leader)?;
    std::thread::sleep(kill.down_for);
    kafka_sh(kill, "restart", leader)
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
