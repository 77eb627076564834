//! What the detector benches share: the 3-hop stream they run on.
//! (A folder module, so cargo does not take it for a bench target of its own.)

use std::sync::Arc;
use std::time::Duration;

use cairn_core::config::{AppConfig, Location, StreamConfig, Timing};
use cairn_core::lineage::Lineage;

fn location(topic: &str) -> Location {
    Location {
        cluster: "a".to_owned(),
        topic: topic.to_owned(),
    }
}

/// producer → a/l0 → x1 → a/l1 → x2 → a/l2 → sink, with production-like timing.
pub fn three_hops() -> Arc<Lineage> {
    let app =
        |name: &str, group: Option<&str>, reads: Option<&str>, writes: Option<&str>| AppConfig {
            app: name.to_owned(),
            group: group.map(str::to_owned),
            reads: reads.map(location),
            writes: writes.map(location),
        };
    let stream = StreamConfig {
        name: "playback".to_owned(),
        timing: Timing {
            first_check: Duration::from_secs(30),
            backoff: Duration::from_secs(5),
            backoff_max: Duration::from_secs(60),
            max_wait: Duration::from_secs(3_600),
            confirmation_delay: Duration::from_secs(10),
            dedup_window: Duration::from_secs(600),
            max_offsets_age: Duration::from_secs(30),
        },
        sample_rate: 1.0,
        apps: vec![
            app("producer", None, None, Some("l0")),
            app("x1", Some("g1"), Some("l0"), Some("l1")),
            app("x2", Some("g2"), Some("l1"), Some("l2")),
            app("sink", Some("g3"), Some("l2"), None),
        ],
    };
    Arc::new(Lineage::compile(&[stream]).expect("bench lineage compiles"))
}
