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

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use cairn_core::canary::Heartbeat;
use cairn_core::canary::report::ClusterReport;
use cairn_testkit::canary::{CanaryToml, report};
use cairn_testkit::cluster::ThreeNodes;
use cairn_testkit::config::ClusterToml;
use cairn_testkit::names::rand_suffix;
use cairn_testkit::process::DetectProcess;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

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

/// The (sequence, attempt) of every heartbeat of `r`'s run and instance on `partition`, in log
/// order, read from the log's start to its end: the truth a test compares the canary with.
async fn read_heartbeats(
    reader: &BaseConsumer,
    topic: &str,
    partition: i32,
    r: &ClusterReport,
) -> Vec<(u64, u32)> {
    let deadline = Instant::now() + Duration::from_secs(60);
    // The reader's metadata may still name a killed leader: ask again until it learns.
    let high = loop {
        match reader.fetch_watermarks(topic, partition, Duration::from_secs(5)) {
            Ok((_, high)) => break high,
            Err(err) if Instant::now() < deadline => {
                eprintln!("watermarks of {topic}/{partition}: {err}; asking again");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(err) => panic!("watermarks of {topic}/{partition}: {err}"),
        }
    };
    let mut list = TopicPartitionList::new();
    list.add_partition_offset(topic, partition, Offset::Beginning)
        .unwrap();
    reader.assign(&list).expect("assign");
    let mut beats = Vec::new();
    let mut next = 0;
    while next < high {
        assert!(
            Instant::now() < deadline,
            "read {topic}/{partition} to {high}"
        );
        let Some(message) = reader.poll(Duration::from_millis(200)) else {
            continue;
        };
        let message = match message {
            Ok(message) => message,
            Err(err) => {
                eprintln!("reading {topic}/{partition}: {err}; going on");
                continue;
            }
        };
        next = message.offset() + 1;
        if let Ok(beat) = Heartbeat::decode(message.payload().unwrap_or_default())
            && beat.run == r.run
            && beat.instance == r.instance
        {
            beats.push((beat.seq, beat.attempt));
        }
    }
    beats
}

/// [`assert_exact`] for a run that lost a partition leader: the duplicates reported must be
/// exactly the extra copies the log holds (see [`extra_copies_in_log`]) rather than none.
async fn assert_exact_but_the_log_s_copies(cluster: &ThreeNodes, topic: &str, r: &ClusterReport) {
    assert_eq!(r.lost, 0, "lost sequences: {:?}", r.lost_sequences);
    assert_eq!((r.unexpected, r.late), (0, 0), "{r:#?}");
    assert!(r.consumed >= r.acknowledged, "{r:#?}");
    let in_log = extra_copies_in_log(cluster, topic, r).await;
    assert_eq!(
        r.duplicated, in_log,
        "the duplicates reported are the extra copies in the log: {r:#?}"
    );
}

/// How many extra copies of a heartbeat (the same sequence and attempt) the canary topic holds
/// for `r`'s run, read back partition by partition. Losing a partition leader (and more so the
/// active controller with it) can make Kafka keep a batch twice even from an idempotent
/// producer (sends in flight across the producer's epoch bump after local timeouts), so a test
/// of a killed node checks that the canary reports exactly these, not that there are none.
async fn extra_copies_in_log(cluster: &ThreeNodes, topic: &str, r: &ClusterReport) -> u64 {
    let reader: BaseConsumer = cluster
        .config()
        .set("group.id", format!("copies-reader-{}", rand_suffix()))
        .set("enable.auto.commit", "false")
        .create()
        .expect("reader");
    let mut extra = 0;
    for p in &r.partitions {
        let mut copies: BTreeMap<(u64, u32), u64> = BTreeMap::new();
        for beat in read_heartbeats(&reader, topic, p.partition, r).await {
            *copies.entry(beat).or_default() += 1;
        }
        extra += copies.values().map(|n| n - 1).sum::<u64>();
    }
    extra
}
