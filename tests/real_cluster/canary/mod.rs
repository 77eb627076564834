//! `cairn canary` on the real three-node cluster (issue 12's "done when" list): steady state
//! (`steady`, 1), a node killed (`node_loss`, 2), a truncation under `acks=1` (`truncation`,
//! 3), restarts of the canary (`restarts`, 4), a broker cut off from the controllers and its
//! incident at the sinks (`partition`, 5), a topic placed on two nodes (`placement`, 6); the
//! modes (`modes`); and faults: the active controller killed (`controller`), the topic
//! deleted underneath and garbage records (`faults`). Each test uses its own canary topic and
//! instance.

mod controller;
mod faults;
mod modes;
mod node_loss;
mod partition;
mod placement;
mod restarts;
mod steady;
mod truncation;

use std::time::{Duration, Instant};

use cairn_core::canary::report::ClusterReport;
use cairn_testkit::canary::{CanaryToml, report};
use cairn_testkit::cluster::ThreeNodes;
use cairn_testkit::config::ClusterToml;
use cairn_testkit::process::DetectProcess;

/// How long a canary may take to create its topic and assign its consumer.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A canary of the real cluster on `topic`, with short windows so a test sees changes soon.
fn canary_config(cluster: &ThreeNodes, topic: &str) -> CanaryToml {
    CanaryToml::new(ClusterToml::new("local", &cluster.bootstrap()), topic)
        .rate(50)
        .management_interval(Duration::from_secs(5))
        .availability_window(Duration::from_secs(5))
        .send_timeout(Duration::from_secs(5))
        .consume_timeout(Duration::from_secs(10))
        .topic_config("min.insync.replicas", "2")
}

/// Polls `/api/canary` until `done` holds for the report, or fails after `timeout` showing the
/// last one.
async fn wait_for(
    canary: &DetectProcess,
    timeout: Duration,
    what: &str,
    done: impl Fn(&ClusterReport) -> bool,
) -> ClusterReport {
    let started = Instant::now();
    loop {
        canary.assert_alive(what);
        let r = report(canary).await;
        if done(&r) {
            eprintln!("{what}: after {:?}", started.elapsed());
            return r;
        }
        if started.elapsed() > timeout {
            panic!("{what}: not within {timeout:?}; last report: {r:#?}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Waits until every acknowledged heartbeat was read (nothing in flight unread).
async fn drained(canary: &DetectProcess) -> ClusterReport {
    wait_for(
        canary,
        Duration::from_secs(60),
        "every acknowledged heartbeat read",
        |r| r.unread == 0 && r.acknowledged > 0,
    )
    .await
}

/// The exactness every test ends with: nothing lost, nothing duplicated, nothing unexpected.
fn assert_exact(r: &ClusterReport) {
    assert_eq!(r.lost, 0, "lost sequences: {:?}", r.lost_sequences);
    assert_eq!(r.duplicated, 0, "{r:#?}");
    assert_eq!(r.unexpected, 0, "{r:#?}");
    assert_eq!(r.late, 0, "{r:#?}");
    assert!(
        r.consumed >= r.acknowledged,
        "every acknowledged heartbeat is read: {r:#?}"
    );
}
