//! The tracer against a broker: records decode with the core's decoder and are keyed by id,
//! sampling is consistent, and an unreachable tracing cluster costs the caller nothing but
//! dropped (counted) traces. Real broker with `CAIRN_TEST_BROKERS`, else the mock cluster.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use cairn_core::model::Kind;
use cairn_core::sampling::is_sampled;
use cairn_testkit::kafka::{TIMEOUT, TestKafka};
use cairn_testkit::names::rand_topic;
use cairn_tracer::{Tracer, TracerConfig};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use rdkafka::{Message, Offset, TopicPartitionList};

/// Reads `topic` partition 0 from the start until `count` records came (or TIMEOUT passed).
fn read_back(bootstrap: &str, topic: &str, count: usize) -> Vec<(String, Vec<u8>)> {
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "cairn-test-tracer-reader")
        .set("enable.auto.commit", "false")
        .create()
        .expect("create a reader");
    let mut list = TopicPartitionList::new();
    list.add_partition_offset(topic, 0, Offset::Beginning)
        .expect("a partition");
    consumer.assign(&list).expect("assign");
    let deadline = Instant::now() + TIMEOUT;
    let mut records = Vec::new();
    while records.len() < count && Instant::now() < deadline {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) {
            let key = String::from_utf8(message.key().unwrap_or_default().to_vec()).unwrap();
            records.push((key, message.payload().unwrap_or_default().to_vec()));
        }
    }
    records
}

fn config(bootstrap: &str, topic: &str) -> TracerConfig {
    let mut config = TracerConfig::new(bootstrap, topic, "playback", "enricher");
    config
        .client
        .push(("message.timeout.ms".into(), "10000".into()));
    config
}

#[tokio::test(flavor = "multi_thread")]
async fn traces_decode_and_are_keyed_by_id() {
    let kafka = TestKafka::start();
    let topic = rand_topic("tracer");
    kafka.create_topic(&topic, 1).await;
    let tracer = Tracer::new(config(&kafka.bootstrap, &topic)).unwrap();
    tracer.sent("m-1", "fronting/playback", 2, 40);
    tracer.received("m-1", "fronting/playback", "enricher", 2, 40);
    tracer.filtered("m-2", "fronting/playback", "enricher", 0, 7);
    assert!(tracer.flush(TIMEOUT), "traces delivered");
    let stats = tracer.stats();
    assert_eq!((stats.emitted, stats.delivered, stats.failed), (3, 3, 0));

    let records = read_back(&kafka.bootstrap, &topic, 3);
    assert_eq!(records.len(), 3);
    let mut kinds = Vec::new();
    for (key, payload) in &records {
        let trace = cairn_core::trace::decode(payload).expect("a valid trace");
        assert_eq!(trace.id, key.as_str(), "keyed by the message id");
        assert_eq!(trace.stream, "playback");
        assert_eq!(trace.app, "enricher");
        assert_eq!(trace.location, "fronting/playback");
        assert!(trace.ts > 1_700_000_000_000, "wall clock in ms");
        kinds.push((
            key.clone(),
            trace.kind,
            trace.group.map(|g| g.into_owned()),
            trace.partition,
            trace.offset,
        ));
    }
    assert_eq!(
        kinds,
        vec![
            ("m-1".into(), Kind::Sent, None, 2, 40),
            ("m-1".into(), Kind::Received, Some("enricher".into()), 2, 40),
            ("m-2".into(), Kind::Filtered, Some("enricher".into()), 0, 7),
        ]
    );
}

/// The Java client's `Utils.murmur2`, the hash of its default partitioner.
fn java_murmur2(data: &[u8]) -> i32 {
    const M: u32 = 0x5bd1_e995;
    let mut h: u32 = 0x9747_b28c ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> 24;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M) ^ k;
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, byte) in tail.iter().enumerate().rev() {
            h ^= u32::from(*byte) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition the Java client's default partitioner picks for `key`.
fn java_partition(key: &str, partitions: i32) -> i32 {
    (java_murmur2(key.as_bytes()) & 0x7fff_ffff) % partitions
}

#[test]
fn java_murmur2_matches_the_java_clients_own_vectors() {
    // From the Java client's UtilsTest.testMurmur2.
    for (key, hash) in [
        ("21", -973_932_308),
        ("foobar", -790_332_482),
        ("a-little-bit-long-string", -985_981_536),
        ("a-little-bit-longer-string", -1_486_304_829),
        (
            "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
            -58_897_971,
        ),
        ("abc", 479_470_107),
    ] {
        assert_eq!(java_murmur2(key.as_bytes()), hash, "murmur2({key:?})");
    }
}

/// Mixed fleets: a message's traces from the Rust tracer land in the partition a Java tracer
/// would pick for the same id, so the detector sees all of them in one place.
#[tokio::test(flavor = "multi_thread")]
async fn traces_land_in_the_partition_the_java_client_picks() {
    const PARTITIONS: i32 = 6;
    let kafka = TestKafka::start();
    let topic = rand_topic("tracer-partitions");
    kafka.create_topic(&topic, PARTITIONS).await;
    let tracer = Tracer::new(config(&kafka.bootstrap, &topic)).unwrap();
    let ids: Vec<String> = (0..60).map(|i| format!("order-{i}-{}", i * 7919)).collect();
    for id in &ids {
        tracer.sent(id, "fronting/playback", 0, 1);
    }
    assert!(tracer.flush(TIMEOUT), "traces delivered");

    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &kafka.bootstrap)
        .set("group.id", "cairn-test-tracer-partitions")
        .set("enable.auto.commit", "false")
        .create()
        .expect("create a reader");
    let mut list = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        list.add_partition_offset(&topic, partition, Offset::Beginning)
            .expect("a partition");
    }
    consumer.assign(&list).expect("assign");
    let deadline = Instant::now() + TIMEOUT;
    let mut placed = BTreeMap::new();
    while placed.len() < ids.len() && Instant::now() < deadline {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) {
            let key = String::from_utf8(message.key().unwrap_or_default().to_vec()).unwrap();
            placed.insert(key, message.partition());
        }
    }
    assert_eq!(placed.len(), ids.len(), "every trace read back");
    let used: std::collections::BTreeSet<i32> = placed.values().copied().collect();
    assert!(
        used.len() > 1,
        "60 ids spread over several partitions: {used:?}"
    );
    for (id, partition) in &placed {
        assert_eq!(
            *partition,
            java_partition(id, PARTITIONS),
            "trace of {id} is in partition {partition}, the Java client would pick another"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sampling_keeps_the_same_ids_at_every_hop() {
    let kafka = TestKafka::start();
    let topic = rand_topic("tracer-sampling");
    kafka.create_topic(&topic, 1).await;
    let rate = 0.3;
    let mut api = config(&kafka.bootstrap, &topic);
    api.sample_rate = rate;
    api.app = "api".into();
    let mut enricher = api.clone();
    enricher.app = "enricher".into();
    let (api, enricher) = (Tracer::new(api).unwrap(), Tracer::new(enricher).unwrap());
    let ids: Vec<String> = (0..200).map(|n| format!("order-{n}")).collect();
    for id in &ids {
        api.sent(id, "fronting/orders", 0, 1);
        enricher.received(id, "fronting/orders", "enricher", 0, 1);
    }
    assert!(api.flush(TIMEOUT) && enricher.flush(TIMEOUT));
    let sampled: Vec<&String> = ids.iter().filter(|id| is_sampled(id, rate)).collect();
    assert!(!sampled.is_empty() && sampled.len() < ids.len());
    let skipped = (ids.len() - sampled.len()) as u64;
    assert_eq!(api.stats().sampled_out, skipped);
    assert_eq!(enricher.stats().sampled_out, skipped);

    let records = read_back(&kafka.bootstrap, &topic, 2 * sampled.len());
    let mut per_id: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (key, payload) in &records {
        let trace = cairn_core::trace::decode(payload).unwrap();
        per_id
            .entry(key.clone())
            .or_default()
            .push(trace.app.into_owned());
    }
    // Two producers: their records of one id may land in either order.
    per_id.values_mut().for_each(|apps| apps.sort());
    let expected: BTreeMap<String, Vec<String>> = sampled
        .iter()
        .map(|id| ((*id).clone(), vec!["api".into(), "enricher".into()]))
        .collect();
    assert_eq!(
        per_id, expected,
        "every sampled id traced by both apps, no other id"
    );
}

/// A port on 127.0.0.1 that nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[test]
fn an_unreachable_cluster_drops_and_counts() {
    let mut config = config(&format!("127.0.0.1:{}", closed_port()), "cairn-traces");
    config.queue_capacity = 10;
    config
        .client
        .push(("message.timeout.ms".into(), "1000".into()));
    let tracer = Tracer::new(config).unwrap();
    for n in 0..50 {
        tracer.sent(&format!("m-{n}"), "fronting/playback", 0, n);
    }
    let stats = tracer.stats();
    assert_eq!(stats.emitted, 10, "the queue holds its capacity");
    assert_eq!(
        stats.dropped_queue_full, 40,
        "the rest are dropped, not waited for"
    );
    // The queued traces time out (message.timeout.ms) and are counted as failed.
    tracer.flush(TIMEOUT);
    let stats = tracer.stats();
    assert_eq!((stats.delivered, stats.failed), (0, 10));
    // With the queue drained there is room again.
    tracer.sent("m-again", "fronting/playback", 0, 99);
    assert_eq!(tracer.stats().emitted, 11);
}

#[tokio::test(flavor = "multi_thread")]
async fn traces_flow_again_when_the_cluster_comes_back() {
    let mock: MockCluster<'static, DefaultProducerContext> = MockCluster::new(1).unwrap();
    mock.create_topic("cairn-traces", 1, 1).unwrap();
    let mut config = config(&mock.bootstrap_servers(), "cairn-traces");
    config
        .client
        .push(("message.timeout.ms".into(), "2000".into()));
    let tracer = Tracer::new(config).unwrap();
    tracer.sent("before", "fronting/playback", 0, 1);
    assert!(tracer.flush(TIMEOUT));
    assert_eq!(tracer.stats().delivered, 1);

    mock.broker_down(1).unwrap();
    tracer.sent("during", "fronting/playback", 0, 2);
    tracer.flush(TIMEOUT);
    assert_eq!(
        tracer.stats().failed,
        1,
        "the trace sent while down timed out"
    );

    mock.broker_up(1).unwrap();
    // librdkafka reconnects on its own back-off; traces sent meanwhile may still time out.
    let mut attempts = 0;
    while tracer.stats().delivered < 2 && attempts < 10 {
        attempts += 1;
        tracer.sent(&format!("after-{attempts}"), "fronting/playback", 0, 3);
        tracer.flush(TIMEOUT);
    }
    let stats = tracer.stats();
    assert_eq!(
        stats.delivered, 2,
        "delivered again once the broker is back"
    );
    assert_eq!(stats.emitted, stats.delivered + stats.failed);
    let keys: Vec<String> = read_back(&mock.bootstrap_servers(), "cairn-traces", 2)
        .into_iter()
        .map(|(key, _)| key)
        .collect();
    assert_eq!(keys, vec!["before".to_owned(), format!("after-{attempts}")]);
}
