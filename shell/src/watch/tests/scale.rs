//! The advisor inside the watch, without Kafka: judged rounds of a lagging group, then
//! `/api/scale` and the recommended-instances gauge.

use std::time::Duration;

use cairn_core::config::WatchConfig;
use cairn_core::metrics::catalog;
use cairn_core::watch::{
    GroupObservation, GroupSettings, GroupState, GroupStatus, PartitionObservation, Round,
};

use super::super::poller::judge;
use super::super::scale::{advise, hook_due, observed_groups};
use super::{CLUSTER, Fixture, GROUP, at};

fn config() -> WatchConfig {
    WatchConfig::from_toml_str(
        "[clusters.c]\nbootstrap = \"127.0.0.1:9\"\n[watch]\npoll_interval = \"1s\"\n\
         [[scale.groups]]\ncluster = \"c\"\ngroup = \"g\"\ntarget = \"60s\"\nrelaunch = \"5s\"\n\
         min_samples = 5\nhistory = \"1m\"\n\
         [[scale.groups]]\ncluster = \"c\"\ngroup = \"absent\"\ntarget = \"60s\"\nrelaunch = \"5s\"\n",
    )
    .expect("a valid config")
}

/// Two stable members on four partitions; 1000 records/s arrive, 600 records/s are consumed.
fn round(second: i64) -> Round {
    let now = 1_000_000 + second * 1_000;
    let partitions = (0..4)
        .map(|p| PartitionObservation {
            topic: "t".into(),
            partition: p,
            committed: at(now, Some(150 * second)).into(),
            log_start: at(now, 0).into(),
            log_end: at(now, 5_000 + 250 * second).into(),
            first_unread: None,
        })
        .collect();
    Round {
        now,
        groups: vec![GroupObservation {
            cluster: CLUSTER.into(),
            group: GROUP.into(),
            settings: GroupSettings {
                poll_interval: Duration::from_secs(1),
                ..GroupSettings::default()
            },
            status: at(
                now,
                GroupStatus {
                    state: GroupState::Stable,
                    members: 2,
                },
            ),
            partitions,
        }],
    }
}

#[tokio::test]
async fn a_lagging_group_gets_a_recommendation_served_and_exported() {
    let fixture = Fixture::new();
    let config = config();
    let rounds: Vec<Round> = (0..12).map(round).collect();
    for second in 0..12 {
        judge(
            CLUSTER,
            rounds[second as usize].clone(),
            &fixture.view,
            &fixture.book,
            &fixture.publish,
        );
        let cluster = &fixture.view.clusters[0];
        let report = cluster.latest.lock().clone().expect("a report");
        advise(
            &config,
            &fixture.view,
            cluster,
            &observed_groups(&config, CLUSTER, &rounds[second as usize]),
            &report,
        );
    }
    let (status, body) = fixture.get("/api/scale").await;
    assert_eq!(status, axum::http::StatusCode::OK);
    let all: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(all.as_array().map(Vec::len), Some(2), "{body}");
    let (_, body) = fixture.get("/api/scale/c/g").await;
    let advice: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(advice["reason"], "planned", "{body}");
    assert_eq!(advice["fit"]["kind"], "quadratic", "{body}");
    assert_eq!(advice["partitions"], 4);
    assert_eq!(advice["members"], 2);
    let per_instance = advice["per_instance_rate"].as_f64().expect("measured");
    assert!((per_instance - 300.0).abs() < 1.0, "{body}");
    // (1000 × 60 + lag) / 55 s at 300 records/s each: more than the partitions allow.
    assert_eq!(
        advice["recommendation"], 4,
        "capped by the partitions: {body}"
    );
    assert!(
        advice["detail"]
            .as_str()
            .unwrap()
            .contains("partition count"),
        "{body}"
    );
    let rate_now = advice["forecast"]["rate_now"].as_f64().unwrap();
    assert!((rate_now - 1000.0).abs() < 10.0, "{body}");

    let (_, body) = fixture.get("/api/scale/c/absent").await;
    let absent: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(
        (
            absent["reason"].as_str(),
            absent["recommendation"].is_null()
        ),
        (Some("not_seen"), true)
    );
    assert_eq!(
        fixture.get("/api/scale/c/nope").await.0,
        axum::http::StatusCode::NOT_FOUND
    );

    let (_, metrics) = fixture.get("/metrics").await;
    let gauge = format!(
        "{}{{cluster=\"c\",group=\"g\"}} 4",
        catalog::SCALE_RECOMMENDED_INSTANCES.name
    );
    assert!(metrics.lines().any(|l| l == gauge), "{gauge} in\n{metrics}");
    assert!(
        !metrics.contains("group=\"absent\"}"),
        "no gauge without a recommendation:\n{metrics}"
    );
}

#[test]
fn the_hook_runs_on_a_change_to_a_number_on_the_active_instance_only() {
    assert!(hook_due(None, Some(3), true));
    assert!(hook_due(Some(2), Some(3), true));
    assert!(!hook_due(Some(3), Some(3), true), "no change");
    assert!(!hook_due(Some(3), None, true), "nothing to ask for");
    assert!(!hook_due(None, Some(3), false), "a standby never runs it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_recommendation_runs_the_hook_with_the_advice_once() {
    let dir = tempfile::tempdir().expect("a directory");
    let out = dir.path().join("hook");
    let config = WatchConfig::from_toml_str(&format!(
        "[clusters.c]\nbootstrap = \"127.0.0.1:9\"\n[watch]\npoll_interval = \"1s\"\n\
         [[scale.groups]]\ncluster = \"c\"\ngroup = \"g\"\ntarget = \"60s\"\nrelaunch = \"5s\"\n\
         min_samples = 5\nhistory = \"1m\"\n\
         command = [\"sh\", \"-c\", \"echo $CAIRN_GROUP $CAIRN_PREVIOUS:$CAIRN_RECOMMENDED >> {}; cat > /dev/null\"]\n",
        out.display()
    ))
    .expect("a valid config");
    let fixture = Fixture::new();
    fixture
        .view
        .io
        .set(tokio::runtime::Handle::current())
        .expect("set once");
    let rounds: Vec<Round> = (0..12).map(round).collect();
    for r in &rounds {
        judge(
            CLUSTER,
            r.clone(),
            &fixture.view,
            &fixture.book,
            &fixture.publish,
        );
        let cluster = &fixture.view.clusters[0];
        let report = cluster.latest.lock().clone().expect("a report");
        let observed = observed_groups(&config, CLUSTER, r);
        advise(&config, &fixture.view, cluster, &observed, &report);
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let runs = loop {
        let ok = fixture
            .view
            .counters
            .scale_hooks
            .lock()
            .get(&(CLUSTER.to_owned(), GROUP.to_owned(), "ok"))
            .copied();
        if let Some(runs) = ok {
            break runs;
        }
        assert!(std::time::Instant::now() < deadline, "the hook ran");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(runs, 1, "one change, one run");
    let written = std::fs::read_to_string(&out).expect("the hook wrote");
    assert_eq!(
        written.trim(),
        "g :4",
        "group, no previous, the recommendation"
    );
}
