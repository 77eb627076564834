//! A `cairn watch` that must be elected but cannot reach the control group's cluster stands
//! by, says why on `/api/watch` and `/metrics`, and still serves (it never acts alone).

use std::path::Path;
use std::time::{Duration, Instant};

use cairn_testkit::config::ClusterToml;
use cairn_testkit::detect::{EXIT_TIMEOUT, READY_TIMEOUT};
use cairn_testkit::instance::free_local_port;
use cairn_testkit::metric;
use cairn_testkit::watch::WatchToml;
use cairn_testkit::workdir::Workdir;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_that_cannot_reach_the_control_group_stands_by_and_says_why() {
    let workdir = Workdir::new("watch-standby", Path::new(crate::CAIRN));
    // A port nobody listens on: the cluster is unreachable.
    let nowhere = free_local_port().to_string();
    let config = WatchToml::new(ClusterToml::new("local", &nowhere))
        .request_timeout(Duration::from_secs(1))
        .incidents_topic("local/incidents");
    let instance = workdir.watch_instance("watch", config);
    let mut watch = workdir.spawn_watch(&instance);
    watch.wait_ready(READY_TIMEOUT).await;
    // Give the election a few attempts; it must stay standing by throughout.
    let until = Instant::now() + Duration::from_secs(4);
    let mut role = Value::Null;
    while Instant::now() < until {
        role = serde_json::from_str(&watch.get_ok("/api/watch").await).expect("JSON");
        assert_eq!(role["role"], "standby", "{role}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let reason = role["reason"].as_str().expect("a reason");
    assert!(
        reason.contains("control cluster unreachable"),
        "the reason names the control group or topic: {reason}"
    );
    assert_eq!(role["term"], 0, "never elected: {role}");
    assert_eq!(role["election"]["control_topic"], "local/incidents.control");
    let metrics = watch.metrics().await;
    assert_eq!(metrics.sum(metric::WATCH_ACTIVE.name, &[]), 0.0);
    eprintln!("standing by: {reason}");
    watch.terminate(EXIT_TIMEOUT).await;
}
