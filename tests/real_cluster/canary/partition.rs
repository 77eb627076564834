//! Done-when 5: a broker cut off from the controllers while it still serves clients. The test
//! starts its own three-node cluster (`kafka.sh` with `CAIRN_KAFKA_QUORUM_PROXY_PORT`) whose
//! nodes reach the controllers through a TCP proxy it runs; cutting one node's links to and
//! from the other controllers leaves its broker listener untouched. The canary must flag that
//! broker (`metadata_consistent` false, a `metadata_mismatch` incident) within grace + 2
//! intervals, and clear it once the links heal. The open and close records must also reach the
//! incidents topic (keyed by `<cluster>/broker/<id>`) and a webhook, as `cairn watch`'s do.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use cairn_testkit::canary::{CanaryToml, report};
use cairn_testkit::config::ClusterToml;
use cairn_testkit::kafka::{create_topics, kafka_sh_path};
use cairn_testkit::proxy::Proxy;
use cairn_testkit::webhook::WebhookReceiver;
use cairn_testkit::workdir::Workdir;
use rdkafka::admin::{NewTopic, TopicReplication};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use serde_json::Value;

use super::{READY_TIMEOUT, wait_for};

const INTERVAL: Duration = Duration::from_secs(2);
const GRACE: Duration = Duration::from_secs(6);
/// Kafka's default `broker.session.timeout.ms`: the controllers fence a broker whose
/// heartbeats stopped this long ago, and only then does the cluster's metadata change.
const FENCING: Duration = Duration::from_secs(9);
/// Loaded-machine slack on top of the bounds.
const SLACK: Duration = Duration::from_secs(3);

/// The test cluster's ports, away from the shared cluster's (`CAIRN_KAFKA_CLUSTER_PORT`).
fn ports() -> (u16, u16) {
    let shared: u16 = std::env::var("CAIRN_KAFKA_CLUSTER_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(19092);
    (shared + 500, shared + 800)
}

/// `kafka.sh` for the test's own cluster; wiped when dropped.
struct OwnCluster {
    state: PathBuf,
    brokers: u16,
    proxy: u16,
}

impl OwnCluster {
    fn run(&self, command: &str) -> std::process::ExitStatus {
        kafka_sh(&self.state, self.brokers, self.proxy, command)
    }

    fn bootstrap(&self) -> String {
        (0..3)
            .map(|i| format!("127.0.0.1:{}", self.brokers + i))
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // Stopped, not wiped: its logs tell why.
            self.run("cluster-stop");
            eprintln!(
                "the proxied cluster's data and logs: {}",
                self.state.display()
            );
        } else {
            self.run("cluster-wipe");
        }
    }
}

/// `kafka.sh <command>` for a cluster in `state` on its own ports, its nodes reaching the
/// controllers through the proxy.
fn kafka_sh(state: &Path, brokers: u16, proxy: u16, command: &str) -> std::process::ExitStatus {
    Command::new(kafka_sh_path())
        .arg(command)
        .env("CAIRN_KAFKA_STATE", state)
        .env("CAIRN_KAFKA_CLUSTER_PORT", brokers.to_string())
        .env("CAIRN_KAFKA_QUORUM_PROXY_PORT", proxy.to_string())
        .env("CAIRN_KAFKA_HEAP", "-Xms128m -Xmx512m")
        .status()
        .expect("run kafka.sh")
}

/// Every (key, record) on the incidents topic, read from its start to its end.
async fn read_incidents(config: &rdkafka::ClientConfig, topic: &str) -> Vec<(String, Value)> {
    let consumer: BaseConsumer = config
        .clone()
        .set("group.id", "canary-partition-reader")
        .set("enable.auto.commit", "false")
        .create()
        .expect("a consumer");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut out = Vec::new();
    loop {
        let (_, high) = consumer
            .fetch_watermarks(topic, 0, Duration::from_secs(5))
            .expect("watermarks of the incidents topic");
        let mut list = TopicPartitionList::new();
        list.add_partition_offset(topic, 0, Offset::Beginning)
            .unwrap();
        consumer.assign(&list).expect("assign");
        out.clear();
        let mut next = 0;
        while next < high && Instant::now() < deadline {
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
                next = m.offset() + 1;
                let key = String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned();
                let value =
                    serde_json::from_slice(m.payload().unwrap_or_default()).unwrap_or(Value::Null);
                out.push((key, value));
            }
        }
        // The close may still be on its way to the topic.
        if out.iter().filter(|(k, _)| k.contains("/broker/")).count() >= 2
            || Instant::now() >= deadline
        {
            return out;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn link(from: u16, to: u16) -> String {
    format!("{from}->{to}")
}

fn consistent(r: &cairn_core::canary::report::ClusterReport, broker: i32) -> Option<bool> {
    r.brokers
        .iter()
        .find(|b| b.id == broker)
        .map(|b| b.metadata_consistent)
}

async fn incidents(canary: &cairn_testkit::process::DetectProcess) -> Vec<Value> {
    let body = canary.get_ok("/api/incidents").await;
    let value: Value = serde_json::from_str(&body).expect("/api/incidents is JSON");
    value["incidents"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_flags_a_broker_cut_off_from_the_controllers() {
    let dir = Workdir::new("canary-partition", crate::cairn());
    let (brokers, proxy_base) = ports();
    let links: Vec<(String, u16, u16)> = (1..=3u16)
        .flat_map(|n| {
            (1..=3u16).map(move |m| (link(n, m), proxy_base + 10 * n + m, brokers + 99 + m))
        })
        .collect();
    let proxy = Proxy::start(&links).await;
    let cluster = OwnCluster {
        state: std::env::temp_dir().join(format!("cairn-canary-quorum-{}", std::process::id())),
        brokers,
        proxy: proxy_base,
    };
    let started = Instant::now();
    // kafka.sh blocks until the nodes answer; the proxy's tasks must keep running meanwhile.
    let (state, b, p) = (cluster.state.clone(), cluster.brokers, cluster.proxy);
    let status = tokio::task::spawn_blocking(move || kafka_sh(&state, b, p, "cluster-start"))
        .await
        .expect("kafka.sh ran");
    assert!(status.success(), "the proxied cluster did not start");
    eprintln!("proxied cluster up after {:?}", started.elapsed());

    let hook = WebhookReceiver::start().await;
    let incidents_topic = "canary-incidents";
    let mut admin_config = rdkafka::ClientConfig::new();
    admin_config.set("bootstrap.servers", cluster.bootstrap());
    create_topics(
        &admin_config,
        &[NewTopic::new(
            incidents_topic,
            1,
            TopicReplication::Fixed(3),
        )],
        Duration::from_secs(30),
    )
    .await;
    let config = CanaryToml::new(
        ClusterToml::new("local", &cluster.bootstrap()),
        "canary-quorum",
    )
    .incidents_topic(&format!("local/{incidents_topic}"))
    .webhook(&hook.url)
    .rate(10)
    .metadata_interval(INTERVAL)
    .grace(GRACE)
    .management_interval(Duration::from_secs(5));
    let instance = dir.canary_instance("canary", &config);
    let mut canary = dir.spawn_canary(&instance);
    canary.wait_ready(READY_TIMEOUT).await;
    let r = wait_for(
        &canary,
        Duration::from_secs(60),
        "quorum read, every broker consistent",
        |r| {
            r.quorum.is_some()
                && r.brokers.len() == 3
                && r.brokers.iter().all(|b| b.metadata_consistent)
        },
    )
    .await;
    let leader = r.quorum.as_ref().expect("quorum").leader;
    let victim: u16 = if leader == 3 { 2 } else { 3 };
    let others: Vec<u16> = (1..=3).filter(|n| *n != victim).collect();
    tokio::time::sleep(INTERVAL * 3).await;
    assert!(
        report(&canary)
            .await
            .brokers
            .iter()
            .all(|b| b.metadata_consistent)
    );

    for &m in &others {
        proxy.set_cut(&link(victim, m), true);
        proxy.set_cut(&link(m, victim), true);
    }
    let cut = Instant::now();
    eprintln!("node {victim} cut off from the controllers (quorum leader {leader})");
    let flag_bound = GRACE + INTERVAL * 2;
    let r = wait_for(
        &canary,
        flag_bound + Duration::from_secs(30),
        "victim flagged",
        |r| consistent(r, i32::from(victim)) == Some(false),
    )
    .await;
    let flagged_after = cut.elapsed();
    let opened = incidents(&canary).await;
    let open = opened
        .iter()
        .find(|i| i["incident"] == "open" && i["broker"] == i64::from(victim))
        .unwrap_or_else(|| panic!("an open metadata_mismatch for node {victim}: {opened:?}"));
    assert_eq!(open["kind"], "metadata_mismatch");
    for b in &r.brokers {
        if i32::from(victim) != b.id {
            assert!(
                b.metadata_consistent,
                "only the cut node is flagged: {r:#?}"
            );
        }
    }
    eprintln!(
        "flagged after {flagged_after:?}; evidence {}",
        open["evidence"]
    );

    for &m in &others {
        proxy.set_cut(&link(victim, m), false);
        proxy.set_cut(&link(m, victim), false);
    }
    let healed = Instant::now();
    wait_for(&canary, Duration::from_secs(60), "victim cleared", |r| {
        consistent(r, i32::from(victim)) == Some(true)
    })
    .await;
    let cleared_after = healed.elapsed();
    let all = incidents(&canary).await;
    assert!(
        all.iter()
            .any(|i| i["incident"] == "close" && i["broker"] == i64::from(victim)),
        "a close record: {all:?}"
    );
    // The same records at the sinks `cairn watch` uses.
    for phase in ["open", "close"] {
        let got = hook
            .wait_for(Duration::from_secs(30), phase, |v| {
                v["incident"] == phase && v["broker"] == i64::from(victim)
            })
            .await;
        let api = all
            .iter()
            .find(|i| i["incident"] == phase && i["broker"] == i64::from(victim))
            .unwrap();
        assert_eq!(&got, api, "the webhook got the record /api/incidents lists");
    }
    let on_topic = read_incidents(&admin_config, incidents_topic).await;
    let key = format!("local/broker/{victim}");
    let phases: Vec<&str> = on_topic
        .iter()
        .filter(|(k, _)| *k == key)
        .map(|(_, v)| v["incident"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        phases,
        ["open", "close"],
        "records keyed {key}: {on_topic:?}"
    );
    // The canary's own part: from the first round that saw the disagreement to the open.
    let judged = Duration::from_millis(
        (open["at"].as_i64().unwrap() - open["since"].as_i64().unwrap()) as u64,
    );
    let flag_bound_from_cut = FENCING + flag_bound + SLACK;
    println!(
        "canary partition: node {victim} cut off from the controllers flagged {flagged_after:?} \
         after the cut ({judged:?} after the first disagreeing round; bound grace {GRACE:?} + \
         2 x {INTERVAL:?} = {flag_bound:?}, after the controllers' {FENCING:?} fencing); \
         cleared {cleared_after:?} after the links healed (2 intervals = {:?})",
        INTERVAL * 2
    );
    assert!(
        judged <= flag_bound,
        "opened {judged:?} after the disagreement began"
    );
    assert!(
        flagged_after <= flag_bound_from_cut,
        "flagged {flagged_after:?} after the cut, bound {flag_bound_from_cut:?}"
    );
    assert!(
        cleared_after <= INTERVAL * 2 + SLACK,
        "cleared {cleared_after:?} after healing"
    );
    canary.terminate(Duration::from_secs(20)).await;
    drop(proxy);
}
