//! librdkafka client settings built from a `[clusters.<name>]` section.

use cairn_core::config::ClusterConfig;
use rdkafka::ClientConfig;

/// The settings every cairn client of `cluster` starts from: its bootstrap servers and the
/// pass-through client settings of cairn.toml (security, timeouts), which win over defaults.
pub fn client_config(cluster: &ClusterConfig) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", &cluster.bootstrap);
    for (key, value) in &cluster.client {
        config.set(key, value);
    }
    config
}

/// Sets `key` unless cairn.toml's `[clusters.<name>.client]` already did: cairn's defaults for a
/// client give way to the operator's settings.
pub fn set_default(config: &mut ClientConfig, key: &str, value: &str) {
    if config.get(key).is_none() {
        config.set(key, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_give_way_to_the_operators_settings() {
        let cluster = ClusterConfig {
            name: "local".into(),
            bootstrap: "127.0.0.1:9092".into(),
            client: vec![("max.partition.fetch.bytes".into(), "1048576".into())],
        };
        let mut config = client_config(&cluster);
        set_default(&mut config, "max.partition.fetch.bytes", "8388608");
        set_default(&mut config, "queued.max.messages.kbytes", "16384");
        assert_eq!(config.get("max.partition.fetch.bytes"), Some("1048576"));
        assert_eq!(config.get("queued.max.messages.kbytes"), Some("16384"));
        assert_eq!(config.get("bootstrap.servers"), Some("127.0.0.1:9092"));
    }
}
