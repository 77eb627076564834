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
