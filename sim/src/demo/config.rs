//! The demo's `cairn.toml`: one cluster (the mock), the `orders` stream, and timing short
//! enough that verdicts come within seconds (first check after 1 s, confirmation after 1 s,
//! offsets polled every 500 ms).

use std::net::SocketAddr;
use std::path::Path;

use cairn_core::config::{Config, ConfigError};

/// The demo's one cluster (the mock) and its stream.
pub const CLUSTER: &str = "demo";
pub const STREAM: &str = "orders";
/// The apps in pipeline order: (app and group, reads, writes), by index into [`TOPICS`].
pub const PRODUCER: &str = "api";
pub const STAGES: [(&str, usize, Option<usize>); 3] = [
    ("enricher", 0, Some(1)),
    ("indexer", 1, Some(2)),
    ("sink", 2, None),
];
/// The data topics, in pipeline order.
pub const TOPICS: [&str; 3] = ["orders-raw", "orders-enriched", "orders-indexed"];
pub const DATA_PARTITIONS: i32 = 2;

/// `<cluster>/<topic>` of the data topic at `index`.
pub fn location(index: usize) -> String {
    format!("{CLUSTER}/{}", TOPICS[index])
}

/// The tracing topic, cairn's group on it and the lost-messages topic.
pub const TRACING_TOPIC: &str = "cairn-traces";
pub const TRACING_GROUP: &str = "cairn-demo";
pub const OUTPUT_TOPIC: &str = "cairn-lost-messages";
/// Partitions of the tracing topic (and so of the changelog) and of the output topic.
pub const TRACING_PARTITIONS: i32 = 3;
pub const OUTPUT_PARTITIONS: i32 = 3;

/// The config text, as a user would write it.
pub fn toml(bootstrap: &str, http: SocketAddr, store: &Path) -> String {
    let quote = |s: &str| toml::Value::String(s.to_owned()).to_string();
    let mut apps = format!(
        "[[streams.apps]]\napp = \"{PRODUCER}\"\nwrites = \"{}\"\n",
        location(0)
    );
    for (app, reads, writes) in STAGES {
        apps.push_str(&format!(
            "\n[[streams.apps]]\napp = \"{app}\"\ngroup = \"{app}\"\nreads = \"{reads}\"\n",
            reads = location(reads),
        ));
        if let Some(writes) = writes {
            apps.push_str(&format!("writes = \"{}\"\n", location(writes)));
        }
    }
    format!(
        r#"# cairn demo: the mock cluster, short timing
[clusters.{CLUSTER}]
bootstrap = {bootstrap}

[clusters.{CLUSTER}.client]
"session.timeout.ms" = "6000"
"heartbeat.interval.ms" = "1000"

[tracing]
cluster = "{CLUSTER}"
topic = "{TRACING_TOPIC}"
group = "{TRACING_GROUP}"

[output]
cluster = "{CLUSTER}"
topic = "{OUTPUT_TOPIC}"

[timing]
first_check = "1s"
backoff = "500ms"
backoff_max = "2s"
max_wait = "60s"
confirmation_delay = "1s"
dedup_window = "5s"
max_offsets_age = "5s"

[detector]
workers = 1

[oracle]
poll_interval = "500ms"
request_timeout = "5s"

[http]
listen = "{http}"

[store]
path = {store}

[[streams]]
name = "{STREAM}"

{apps}"#,
        bootstrap = quote(bootstrap),
        store = quote(&store.display().to_string()),
    )
}

/// The config, checked by cairn's own loader.
pub fn config(bootstrap: &str, http: SocketAddr, store: &Path) -> Result<Config, ConfigError> {
    Config::from_toml_str(&toml(bootstrap, http, store))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_config_is_valid_with_short_timing() {
        let config = config(
            "127.0.0.1:1",
            "127.0.0.1:9464".parse().unwrap(),
            Path::new("/tmp/x y"),
        )
        .unwrap();
        assert_eq!(config.streams.len(), 1);
        assert_eq!(config.streams[0].apps.len(), 4);
        assert_eq!(config.timing.first_check.as_millis(), 1_000);
        assert_eq!(config.oracle.poll_interval.as_millis(), 500);
        assert_eq!(config.store.path, Path::new("/tmp/x y"));
    }
}
