use std::path::Path;
use std::time::Duration;

use cairn_core::config::{Config, MalformedPolicy};

use super::{CairnToml, ClusterToml, StreamToml, TimingToml};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn example() -> Config {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/cairn.example.toml");
    Config::load(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// `schemas/cairn.example.toml`, key by key, through the builder.
fn example_built() -> CairnToml {
    CairnToml::new(ClusterToml::new("fronting", "127.0.0.1:9092"))
        .cluster(
            ClusterToml::new(
                "backbone",
                "127.0.0.1:19092,127.0.0.1:19093,127.0.0.1:19094",
            )
            .client("socket.timeout.ms", "30000"),
        )
        .tracing("fronting", "cairn-traces", "cairn")
        .output("backbone", "cairn-lost-messages")
        .timing(
            TimingToml::default()
                .first_check(secs(10))
                .backoff(secs(5))
                .backoff_max(secs(60))
                .max_wait(secs(3600))
                .confirmation_delay(secs(5))
                .dedup_window(secs(600))
                .max_offsets_age(secs(30)),
        )
        .workers(0)
        .on_malformed(MalformedPolicy::Skip)
        .oracle_poll_interval(secs(5))
        .oracle_request_timeout(secs(10))
        .http("127.0.0.1:9464".parse().unwrap())
        .store(Path::new("target/cairn-data"))
        .stream(
            StreamToml::new("playback")
                .sample_rate(1.0)
                .producer("playback-api", "fronting/playback")
                .processor(
                    "enricher",
                    "enricher",
                    "fronting/playback",
                    "backbone/playback-enriched",
                )
                .processor(
                    "archiver",
                    "archiver",
                    "fronting/playback",
                    "backbone/playback-archive",
                )
                .processor(
                    "indexer",
                    "indexer",
                    "backbone/playback-enriched",
                    "backbone/playback-indexed",
                )
                .sink("search-sink", "search-sink", "backbone/playback-indexed"),
        )
        .stream(
            StreamToml::new("billing")
                .sample_rate(0.05)
                .timing(
                    TimingToml::default()
                        .first_check(secs(60))
                        .backoff_max(secs(300))
                        .max_wait(secs(6 * 3600)),
                )
                .producer("billing-api", "fronting/billing")
                .sink("billing-batch", "billing-batch", "fronting/billing"),
        )
}

#[test]
fn the_example_file_built_key_by_key_reads_as_the_example() {
    let built = example_built();
    assert_eq!(built.to_config(), example(), "{built}");
}

#[test]
fn every_value_set_is_read_back() {
    let built = example_built()
        .timing(
            TimingToml::default()
                .first_check(Duration::from_millis(300))
                .backoff(Duration::from_millis(200))
                .backoff_max(Duration::from_millis(1500))
                .max_wait(secs(20))
                .confirmation_delay(Duration::from_millis(500))
                .dedup_window(secs(2))
                .max_offsets_age(secs(5)),
        )
        .workers(3)
        .on_malformed(MalformedPolicy::Fail)
        .max_memory("3MiB")
        .oracle_poll_interval(Duration::from_millis(200))
        .oracle_request_timeout(secs(4))
        .http("127.0.0.1:45123".parse().unwrap())
        .store(Path::new("/tmp/a \"quoted\" store"));
    let config = built.to_config();
    let t = config.timing;
    assert_eq!(
        [
            t.first_check,
            t.backoff,
            t.backoff_max,
            t.max_wait,
            t.confirmation_delay,
            t.dedup_window,
            t.max_offsets_age
        ],
        [
            Duration::from_millis(300),
            Duration::from_millis(200),
            Duration::from_millis(1500),
            secs(20),
            Duration::from_millis(500),
            secs(2),
            secs(5)
        ]
    );
    assert_eq!(config.detector.workers, 3);
    assert_eq!(config.detector.on_malformed, MalformedPolicy::Fail);
    assert_eq!(config.detector.max_memory, Some(3 << 20));
    assert_eq!(config.oracle.poll_interval, Duration::from_millis(200));
    assert_eq!(config.oracle.request_timeout, secs(4));
    assert_eq!(config.http.listen, "127.0.0.1:45123");
    assert_eq!(
        config.store.path,
        Path::new("/tmp/a \"quoted\" store"),
        "{built}"
    );
    // A stream's own timing overrides only what it sets; the rest follows [timing].
    let billing = config.stream("billing").expect("billing");
    assert_eq!(billing.timing.first_check, secs(60));
    assert_eq!(
        billing.timing.confirmation_delay,
        Duration::from_millis(500)
    );
}

#[test]
fn a_control_plane_serves_the_streams_the_file_leaves_out() {
    let built = example_built();
    let file = built
        .clone()
        .without_streams()
        .control_plane("http://127.0.0.1:8080/streams.toml", Some(secs(7)))
        .control_plane_timeout(secs(3));
    let config = file.to_config();
    let control_plane = config.control_plane.clone().expect("a control plane");
    assert_eq!(control_plane.url, "http://127.0.0.1:8080/streams.toml");
    assert_eq!(control_plane.refresh, secs(7));
    assert_eq!(control_plane.timeout, secs(3));
    assert!(config.streams.is_empty());
    let served = config
        .with_served_streams(&built.streams_document(Some("v1")))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(served.version.as_deref(), Some("v1"));
    assert_eq!(served.config.streams, built.to_config().streams);
}

#[test]
fn what_is_not_set_is_left_to_cairns_defaults() {
    let built = CairnToml::new(ClusterToml::new("local", "127.0.0.1:9092"))
        .stream(StreamToml::new("s").producer("api", "local/t1"));
    let text = built.to_toml();
    for absent in [
        "[timing]",
        "[detector]",
        "[oracle]",
        "[http]",
        "[store]",
        "[control_plane]",
        "client",
        "sample_rate",
    ] {
        assert!(!text.contains(absent), "{absent} written:\n{text}");
    }
    let config = built.to_config();
    assert_eq!(config.tracing.cluster, "local");
    assert_eq!(config.tracing.topic, "cairn-traces");
    assert_eq!(config.tracing.group, "cairn");
    assert_eq!(config.output.cluster, "local");
    assert_eq!(config.output.topic, "cairn-lost-messages");
    assert_eq!(config.timing, cairn_core::config::Timing::default());
    assert_eq!(config.control_plane, None);
    assert_eq!(config.streams[0].sample_rate, 1.0);
}

#[test]
fn client_settings_keep_their_order_and_dotted_keys() {
    let config = CairnToml::new(
        ClusterToml::new("local", "127.0.0.1:9092")
            .client("session.timeout.ms", "6000")
            .client("heartbeat.interval.ms", "1000"),
    )
    .stream(StreamToml::new("s").producer("api", "local/t1"))
    .to_config();
    assert_eq!(
        config.clusters[0].client,
        vec![
            ("session.timeout.ms".to_owned(), "6000".to_owned()),
            ("heartbeat.interval.ms".to_owned(), "1000".to_owned()),
        ]
    );
}

#[test]
#[should_panic(expected = "invalid cairn.toml")]
fn a_file_cairn_refuses_fails_naming_it() {
    // A reader of a location that no app of the stream writes.
    CairnToml::new(ClusterToml::new("local", "127.0.0.1:9092"))
        .stream(
            StreamToml::new("s")
                .producer("api", "local/t1")
                .sink("sink", "g", "local/nowhere"),
        )
        .to_config();
}
