use std::path::Path;

use super::*;

const CAIRN_TOML: &str = r#"
[clusters.local]
bootstrap = "127.0.0.1:9092"
[tracing]
cluster = "local"
topic = "traces"
group = "cairn"
[output]
cluster = "local"
topic = "lost"
[[streams]]
name = "orders"
[[streams.apps]]
app = "api"
writes = "local/t1"
[[streams.apps]]
app = "enricher"
group = "enricher"
reads = "local/t1"
writes = "local/t2"
[[streams.apps]]
app = "sink"
group = "sink"
reads = "local/t2"
"#;

fn parse(scenario: &str) -> Result<Scenario, ScenarioError> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cairn.toml"), CAIRN_TOML).unwrap();
    Scenario::from_toml_str(
        &format!("cairn_config = \"cairn.toml\"\n{scenario}"),
        dir.path(),
    )
}

fn error(scenario: &str) -> String {
    parse(scenario).expect_err(scenario).to_string()
}

#[test]
fn the_committed_example_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/scenario.example.toml");
    let scenario = Scenario::load(&path).unwrap();
    assert_eq!(scenario.stream.name, "playback");
    assert_eq!(scenario.apps["playback-api"].messages, 500);
    assert_eq!(scenario.apps["enricher"].faults.drop_share, 0.02);
    assert_eq!(
        scenario.apps["indexer"].faults.stall,
        Some(Window {
            after: 100,
            duration: Duration::from_secs(2)
        })
    );
    assert_eq!(
        scenario.apps["search-sink"].faults.offset_reset_after,
        Some(300)
    );
    assert_eq!(scenario.topics.len(), 4);
}

#[test]
fn a_reader_may_hang_until_relaunched() {
    let scenario = parse("[apps.sink.faults]\nhang_after = 25\n").unwrap();
    assert_eq!(scenario.apps["sink"].faults.hang_after, Some(25));
}

#[test]
fn defaults_fill_what_is_left_out() {
    let scenario = parse("").unwrap();
    assert_eq!(scenario.stream.name, "orders");
    assert_eq!(scenario.apps.len(), 3);
    assert_eq!(scenario.apps["api"].messages, 100);
    assert_eq!(scenario.apps["api"].acks, "all");
    assert_eq!(scenario.apps["sink"].faults, Faults::default());
    assert_eq!(scenario.topics["local/t2"].partitions, 3);
    assert_eq!(scenario.drain_timeout, Duration::from_secs(60));
}

#[test]
fn topic_settings_apply_to_their_location() {
    let scenario =
        parse("[topics.\"local/t2\"]\npartitions = 1\nconfig = { \"retention.ms\" = \"3000\" }\n")
            .unwrap();
    assert_eq!(scenario.topics["local/t2"].partitions, 1);
    assert_eq!(scenario.topics["local/t2"].config["retention.ms"], "3000");
    assert_eq!(scenario.topics["local/t1"].partitions, 3);
}

#[test]
fn mistakes_name_their_key() {
    let cases = [
        ("colour = 1\n", "unknown field `colour`"),
        ("[apps.api]\nmesages = 3\n", "unknown field `mesages`"),
        (
            "[apps.nobody]\n",
            "apps.nobody: not an app of stream `orders`",
        ),
        (
            "[apps.api]\nfilter_share = 0.1\n",
            "apps.api.filter_share: only processors",
        ),
        (
            "[apps.sink]\nfilter_share = 0.1\n",
            "apps.sink.filter_share: only processors",
        ),
        (
            "[apps.enricher.faults]\ndrop_share = 1.5\n",
            "apps.enricher.faults.drop_share: 1.5, expected a share in [0, 1]",
        ),
        (
            "[apps.sink.faults]\ndrop_share = 0.1\n",
            "apps.sink.faults.drop_share: only processors",
        ),
        (
            "[apps.api.faults]\nskip_share = 0.1\n",
            "only apps that read",
        ),
        (
            "[apps.api.faults]\nhang_after = 10\n",
            "only apps that read",
        ),
        (
            "[apps.sink.faults]\nstall = { after = 1, for = \"soon\" }\n",
            "apps.sink.faults.stall.for: \"soon\" is not",
        ),
        ("[apps.api]\nrate = -1.0\n", "apps.api.rate: -1"),
        ("[apps.api]\nacks = \"2\"\n", "apps.api.acks"),
        (
            "[topics.\"local/t9\"]\npartitions = 1\n",
            "topics.\"local/t9\": not a location of the stream",
        ),
        (
            "partitions = 0\n",
            "partitions: 0, expected a positive number",
        ),
        (
            "stream = \"billing\"\n",
            "stream: \"billing\" is not a [[streams]] name",
        ),
        ("run_id = \"a b\"\n", "run_id: expected 1 to 64 characters"),
        (
            "[kill_leader]\nlocation = \"local/t9\"\nafter = 1\ndown_for = \"1s\"\n",
            "kill_leader.location",
        ),
        (
            "[kill_leader]\nlocation = \"local/t1\"\nafter = 1\ndown_for = \"1s\"\n",
            "kill_leader.location: \"local/t1\" has replication 1; a follower to go stale needs at least 2",
        ),
        ("tracing_replication = 0\n", "tracing_replication: 0"),
    ];
    for (text, expected) in cases {
        let err = error(text);
        assert!(err.contains(expected), "{text:?}: {err}");
    }
}

#[test]
fn a_broken_cairn_config_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let err = Scenario::from_toml_str("cairn_config = \"missing.toml\"\n", dir.path())
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("scenario: cairn_config = "), "{err}");
    assert!(err.contains("missing.toml"), "{err}");
}

#[test]
fn kill_leader_takes_its_defaults() {
    let scenario = parse(
        "tracing_replication = 3\n[topics.\"local/t1\"]\nreplication = 2\n\
         [kill_leader]\nlocation = \"local/t1\"\nafter = 10\ndown_for = \"2s\"\n",
    )
    .unwrap();
    assert_eq!(scenario.tracing_replication, 3);
    let kill = scenario.kill_leader.unwrap();
    assert_eq!((kill.after, kill.stale_writes), (10, 100));
    assert_eq!(kill.down_for, Duration::from_secs(2));
    assert!(kill.kafka_sh.ends_with("deploy/kafka/kafka.sh"));
}
