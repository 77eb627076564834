//! Done-when 2: node 2 killed for 30 s with acks=all and min.insync.replicas=2 loses nothing;
//! the availability dip is attributed to broker 2; the cluster's produce availability is back
//! at 1.0 within 15 s of the new leader's election. Node 2 may also be the active controller:
//! then Kafka can keep a few heartbeats twice (see [`extra_copies_in_log`]), and the canary
//! must report exactly those copies.

use std::time::{Duration, Instant};

use cairn_testkit::canary::report;
use cairn_testkit::cluster::ThreeNodes;
use cairn_testkit::names::rand_suffix;
use cairn_testkit::workdir::Workdir;

use super::{READY_TIMEOUT, assert_exact_but_the_log_s_copies, canary_config, drained, wait_for};

const KILLED_FOR: Duration = Duration::from_secs(30);
/// The bound from the election to availability 1.0 again.
const BACK_WITHIN: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_node_killed_loses_nothing_and_names_the_broker() {
    let cluster = ThreeNodes::real();
    let dir = Workdir::new("canary-node-loss", crate::cairn());
    let topic = format!("canary-kill-{}", rand_suffix());
    let config = canary_config(&cluster, &topic).acks("all");
    let instance = dir.canary_instance("canary", &config);
    let mut canary = dir.spawn_canary(&instance);
    canary.wait_ready(READY_TIMEOUT).await;
    let before = wait_for(
        &canary,
        Duration::from_secs(30),
        "every broker leads a partition",
        |r| r.brokers.len() == 3 && r.brokers.iter().all(|b| b.leads.len() == 1),
    )
    .await;
    let doomed = before.brokers.iter().find(|b| b.id == 2).unwrap().leads[0];
    tokio::time::sleep(Duration::from_secs(6)).await;

    cluster.kill(2, &topic);
    let killed = Instant::now();
    let mut elected: Option<Instant> = None;
    // The first report after the election with the cluster's produce availability at 1.0.
    let mut back: Option<Duration> = None;
    let mut broker2_min: f64 = 1.0;
    let mut others_min: f64 = 1.0;
    while killed.elapsed() < KILLED_FOR {
        let r = report(&canary).await;
        let leader = r
            .partitions
            .iter()
            .find(|p| p.partition == doomed)
            .map(|p| p.leader);
        if elected.is_none() && leader.is_some_and(|l| l != 2 && l >= 0) {
            elected = Some(Instant::now());
            eprintln!(
                "partition {doomed} has a new leader {leader:?} after {:?}",
                killed.elapsed()
            );
        }
        if let Some(at) = elected
            && back.is_none()
            && r.produce_availability == 1.0
        {
            back = Some(at.elapsed());
        }
        for b in &r.brokers {
            if b.id == 2 {
                broker2_min = broker2_min.min(b.produce_availability);
            } else {
                others_min = others_min.min(b.produce_availability);
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    elected.expect("a new leader for broker 2's partition within 30 s");
    let back_after = back.expect("produce availability back at 1.0 while node 2 was still down");
    eprintln!("cluster produce availability 1.0 again {back_after:?} after the election");
    assert!(
        back_after <= BACK_WITHIN,
        "availability back {back_after:?} after the election, more than {BACK_WITHIN:?}"
    );
    cluster.restart(2);
    let r = drained(&canary).await;
    assert_exact_but_the_log_s_copies(&cluster, &topic, &r).await;
    let broker = |id: i32| r.brokers.iter().find(|b| b.id == id).unwrap();
    assert!(broker(2).send_failures > 0 || broker2_min < 1.0, "{r:#?}");
    assert!(broker2_min < 1.0, "the dip is broker 2's: {broker2_min}");
    assert!(
        others_min > broker2_min,
        "brokers 1 and 3 stayed more available ({others_min}) than broker 2 ({broker2_min})"
    );
    assert_eq!(
        broker(1).send_failures + broker(3).send_failures,
        0,
        "{r:#?}"
    );
    println!(
        "canary node 2 killed {KILLED_FOR:?}: lost {} duplicated {} send failures {} (broker 2: {}) \
         resent {} resent copies {}; broker 2 min availability {broker2_min:.3}, others min \
         {others_min:.3}; availability back {back_after:?} after the election",
        r.lost,
        r.duplicated,
        r.send_failures,
        broker(2).send_failures,
        r.resent,
        r.resent_copies
    );
    canary.terminate(Duration::from_secs(20)).await;
}
