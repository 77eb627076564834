use std::time::Duration;

use super::{CanaryAcks, CanaryConfig, CanaryMode, CanarySection};
use crate::config::{Config, WatchConfig};

const CLUSTERS: &str = r#"
[clusters.a]
bootstrap = "127.0.0.1:9092"
[clusters.b]
bootstrap = "127.0.0.1:9093"
"#;

#[test]
fn an_empty_section_takes_the_defaults_on_every_cluster() {
    let config = CanaryConfig::from_toml_str(CLUSTERS).unwrap();
    assert_eq!(config.clusters.len(), 2);
    let c = &config.canary;
    assert_eq!(c.topic, CanarySection::DEFAULT_TOPIC);
    assert_eq!(c.acks, CanaryAcks::All);
    assert_eq!(c.grace, Duration::from_secs(30));
    assert_eq!(c.metadata_interval, Duration::from_secs(10));
    assert_eq!(c.mode, CanaryMode::Both);
    assert!(c.incidents_topic.is_none() && c.webhooks.is_empty());
}

#[test]
fn every_key_is_read() {
    let text = format!(
        r#"{CLUSTERS}
[canary]
clusters = ["b"]
topic = "hb"
replication = 2
acks = "1"
rate = 500
instance = "east-1"
management_interval = "5s"
metadata_interval = "2s"
grace = "6s"
send_timeout = "3s"
consume_timeout = "4s"
availability_window = "7s"
lost_sequences_kept = 9
request_timeout = "1s"
mode = "consume"
incidents_topic = "a/incidents"
topic_config = {{ "min.insync.replicas" = "2" }}
[[canary.webhooks]]
url = "http://127.0.0.1:9/hook"
"#
    );
    let config = CanaryConfig::from_toml_str(&text).unwrap();
    assert_eq!(config.clusters.len(), 1);
    assert_eq!(config.clusters[0].name, "b");
    let c = &config.canary;
    assert_eq!((c.topic.as_str(), c.replication, c.rate), ("hb", 2, 500));
    assert_eq!(c.acks, CanaryAcks::Leader);
    assert_eq!(c.instance.as_deref(), Some("east-1"));
    assert_eq!(c.grace, Duration::from_secs(6));
    assert_eq!(c.availability_window, Duration::from_secs(7));
    assert_eq!(c.lost_sequences_kept, 9);
    assert_eq!(c.mode, CanaryMode::Consume);
    assert_eq!(
        c.incidents_topic.as_ref().map(|l| l.name()).as_deref(),
        Some("a/incidents")
    );
    assert_eq!(c.webhooks.len(), 1);
    assert_eq!(
        c.topic_config,
        vec![("min.insync.replicas".to_owned(), "2".to_owned())]
    );
}

#[test]
fn bad_values_name_their_key() {
    for (body, key) in [
        ("acks = \"2\"", "[canary] acks"),
        ("rate = 0", "[canary] rate"),
        ("grace = \"0s\"", "[canary] grace"),
        ("topic = \"a b\"", "[canary] topic"),
        ("clusters = [\"zz\"]", "[canary] clusters"),
        ("replication = 0", "[canary] replication"),
        ("mode = \"read\"", "[canary] mode"),
        (
            "incidents_topic = \"incidents\"",
            "[canary] incidents_topic",
        ),
        (
            "incidents_topic = \"zz/incidents\"",
            "[canary] incidents_topic",
        ),
        (
            "[[canary.webhooks]]\nurl = \"ftp://x\"",
            "[[canary.webhooks]] #1 url",
        ),
        ("colour = \"red\"", "colour"),
    ] {
        let text = format!("{CLUSTERS}\n[canary]\n{body}\n");
        let err = CanaryConfig::from_toml_str(&text).unwrap_err().to_string();
        assert!(err.contains(key), "{body}: {err}");
    }
}

#[test]
fn the_watch_loader_accepts_and_checks_a_canary_section() {
    let good = format!("{CLUSTERS}\n[canary]\ngrace = \"5s\"\n");
    WatchConfig::from_toml_str(&good).unwrap();
    let bad = format!("{CLUSTERS}\n[canary]\ngrace = \"0s\"\n");
    let err = WatchConfig::from_toml_str(&bad).unwrap_err().to_string();
    assert!(err.contains("[canary] grace"), "{err}");
    let _ = Config::from_toml_str; // detect's loader validates the same section
}

#[test]
fn the_example_file_serves_the_canary_and_documents_every_key() {
    const EXAMPLE: &str = include_str!("../../../../schemas/cairn.example.toml");
    let config = CanaryConfig::from_toml_str(EXAMPLE).unwrap();
    let c = &config.canary;
    assert_eq!(config.clusters.len(), 2);
    assert_eq!(c.instance.as_deref(), Some("canary-east-1"));
    assert_eq!(c.topic_config.len(), 1);
    // Every key of the section appears in the example.
    for key in [
        "clusters",
        "topic",
        "replication",
        "acks",
        "rate",
        "instance",
        "management_interval",
        "metadata_interval",
        "grace",
        "send_timeout",
        "consume_timeout",
        "availability_window",
        "lost_sequences_kept",
        "request_timeout",
        "mode",
        "incidents_topic",
        "[[canary.webhooks]]",
        "[canary.topic_config]",
    ] {
        assert!(EXAMPLE.contains(key), "the example does not show {key}");
    }
    Config::from_toml_str(EXAMPLE).unwrap();
    WatchConfig::from_toml_str(EXAMPLE).unwrap();
}

#[test]
fn a_secured_cluster_is_refused_naming_the_cluster_and_the_key() {
    let secured = "[clusters.a]\nbootstrap = \"127.0.0.1:9094\"\n\
        [clusters.a.client]\n\"security.protocol\" = \"SASL_SSL\"\n\"sasl.password\" = \"canary-secret-1\"\n";
    let err = CanaryConfig::from_toml_str(secured)
        .unwrap_err()
        .to_string();
    for part in [
        "[clusters.a.client]",
        "security.protocol",
        "SASL_SSL",
        "cairn canary",
        "PLAINTEXT",
    ] {
        assert!(err.contains(part), "{part} missing from: {err}");
    }
    assert!(!err.contains("canary-secret-1"), "{err}");
    let plain = "[clusters.a]\nbootstrap = \"127.0.0.1:9092\"\n\
        [clusters.a.client]\n\"security.protocol\" = \"plaintext\"\n";
    assert!(CanaryConfig::from_toml_str(plain).is_ok());
}
