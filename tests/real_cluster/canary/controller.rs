//! A fault of the list: the active controller (the KRaft quorum's leader, a combined
//! node of kafka.sh's cluster) killed. The quorum elects another leader and the canary follows
//! it (DescribeQuorum names the new leader); with `acks=all` and `min.insync.replicas=2`
//! nothing is lost; a node that is down is not judged for consistency, so no
//! `metadata_mismatch` opens, before or after it comes back.
//!
//! Losing the controller and a partition leader at once can make Kafka write some heartbeats
//! twice even from an idempotent producer (sends in flight across the producer's epoch bump
//! after local timeouts): the canary must report exactly the copies the log holds, which the
//! test counts by reading every partition back.

use std::time::Duration;

use cairn_testkit::cluster::ThreeNodes;
use cairn_testkit::names::rand_suffix;
use cairn_testkit::workdir::Workdir;
use serde_json::Value;

use super::{READY_TIMEOUT, assert_exact_but_the_log_s_copies, canary_config, drained, wait_for};

const INTERVAL: Duration = Duration::from_secs(2);
/// Longer than a restarted node takes to catch up on the metadata log on this machine.
const GRACE: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_rides_out_the_active_controller_killed() {
    let _alone = cairn_testkit::cluster::killing_nodes().await;
    let cluster = ThreeNodes::real();
    let dir = Workdir::new("canary-controller", crate::cairn());
    let topic = format!("canary-ctl-{}", rand_suffix());
    let config = canary_config(&cluster, &topic)
        .acks("all")
        .metadata_interval(INTERVAL)
        .grace(GRACE);
    let instance = dir.canary_instance("canary", &config);
    let mut canary = dir.spawn_canary(&instance);
    canary.wait_ready(READY_TIMEOUT).await;
    let r = wait_for(&canary, Duration::from_secs(60), "the quorum read", |r| {
        r.quorum.as_ref().is_some_and(|q| q.leader > 0) && r.brokers.len() == 3
    })
    .await;
    let leader = r.quorum.as_ref().unwrap().leader;
    tokio::time::sleep(Duration::from_secs(3)).await;

    cluster.kill(leader, &topic);
    eprintln!("killed node {leader}, the active controller");
    let r = wait_for(
        &canary,
        Duration::from_secs(60),
        "a new quorum leader",
        |r| {
            r.quorum
                .as_ref()
                .is_some_and(|q| q.leader > 0 && q.leader != leader)
        },
    )
    .await;
    let new_leader = r.quorum.as_ref().unwrap().leader;
    eprintln!("node {new_leader} leads the quorum");
    tokio::time::sleep(Duration::from_secs(5)).await;
    cluster.restart(leader);
    // Back in the broker list, every partition led again, and a few rounds judged.
    wait_for(&canary, Duration::from_secs(90), "the node back", |r| {
        r.brokers.iter().filter(|b| b.live).count() == 3
    })
    .await;
    tokio::time::sleep(INTERVAL * 4).await;
    let r = drained(&canary).await;
    assert_exact_but_the_log_s_copies(&cluster, &topic, &r).await;
    assert!(
        r.brokers.iter().all(|b| b.metadata_consistent),
        "no broker flagged: {r:#?}"
    );
    let body = canary.get_ok("/api/incidents").await;
    let incidents: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        incidents["incidents"].as_array().map(Vec::len),
        Some(0),
        "no metadata_mismatch: {body}"
    );
    println!(
        "canary controller: node {leader} (active controller) killed, node {new_leader} elected; \
         lost {} duplicated {} (as many extra copies in the log) send failures {} resent {}; \
         no metadata_mismatch",
        r.lost, r.duplicated, r.send_failures, r.resent
    );
    canary.terminate(Duration::from_secs(20)).await;
}
