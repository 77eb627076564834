//! Retention headroom and the opt-in per-partition gauges on a real broker: a group two
//! records behind on a topic kept for an hour has about an hour minus the age of its oldest
//! unread record left, read from the topic's own config (DescribeConfigs).

use std::time::{Duration, Instant};

use cairn_testkit::detect::EXIT_TIMEOUT;
use cairn_testkit::metric;

use crate::watch::{CLUSTER, LOOK_EVERY, World, report};

const RETENTION_SECONDS: f64 = 3_600.0;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headroom_is_retention_minus_the_oldest_unread_age() {
    let world =
        World::start_configured("watch-headroom", &[("retention.ms", "3600000")], |config| {
            config.partition_metrics()
        })
        .await;
    world.commit_at_end();
    world.produce(2).await;
    let mut watch = world.spawn_watch().await;

    let group = world.group.as_str();
    let ours = [("cluster", CLUSTER), ("group", group)];
    let deadline = Instant::now() + Duration::from_secs(30);
    let (before, headroom, after) = loop {
        let before = report(&watch, group).await;
        let scrape = watch.metrics().await;
        let after = report(&watch, group).await;
        let lags =
            |r: &Option<serde_json::Value>| r.as_ref().and_then(|r| r["lag_seconds"].as_f64());
        if scrape.has_series(metric::WATCH_RETENTION_HEADROOM.name, &ours)
            && let (Some(before), Some(after)) = (lags(&before), lags(&after))
        {
            let headroom = scrape.sum(metric::WATCH_RETENTION_HEADROOM.name, &ours);
            let partition = [
                ("cluster", CLUSTER),
                ("group", group),
                ("topic", world.topic.as_str()),
                ("partition", "0"),
            ];
            assert_eq!(
                scrape.sum(metric::WATCH_PARTITION_LAG_RECORDS.name, &partition),
                2.0,
                "the partition's own lag in records"
            );
            assert!(scrape.has_series(metric::WATCH_PARTITION_LAG_SECONDS.name, &partition));
            break (before, headroom, after);
        }
        assert!(Instant::now() < deadline, "no headroom gauge for {group}");
        tokio::time::sleep(LOOK_EVERY).await;
    };
    eprintln!("lag {before:.2}..{after:.2} s, headroom {headroom:.2} s");
    // The scrape's round lies between the two reports' (a poll on either side at most).
    assert!(
        headroom <= RETENTION_SECONDS - before + 1.0 && headroom >= RETENTION_SECONDS - after - 1.0,
        "headroom {headroom} is not {RETENTION_SECONDS} s minus a lag of {before}..{after} s"
    );
    watch.terminate(EXIT_TIMEOUT).await;
}
