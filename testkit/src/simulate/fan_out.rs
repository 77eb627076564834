//! What the in-process `cairn simulate` tests share: the cairn.toml of a small pipeline with a
//! fan-out, and questions asked of the truth the simulator writes.

use std::collections::BTreeSet;
use std::path::Path;

use cairn_sim::truth::{Outcome, TruthRecord};

use crate::config::{CairnToml, ClusterToml, StreamToml};
use crate::names::rand_suffix;

/// Writes `<dir>/cairn.toml` with fresh topic and group names ending in the returned suffix:
/// stream `orders`, api → t1 → enricher → t2 → sink, and an archiver reading t1 too (fan-out).
pub fn write_config(dir: &Path, bootstrap: &str) -> String {
    let s = rand_suffix().to_lowercase();
    let (t1, t2) = (format!("local/t1-{s}"), format!("local/t2-{s}"));
    CairnToml::new(ClusterToml::new("local", bootstrap))
        .tracing("local", &format!("traces-{s}"), &format!("cairn-{s}"))
        .output("local", &format!("lost-{s}"))
        .stream(
            StreamToml::new("orders")
                .producer("api", &t1)
                .processor("enricher", &format!("enricher-{s}"), &t1, &t2)
                .sink("archiver", &format!("archiver-{s}"), &t1)
                .sink("sink", &format!("sink-{s}"), &t2),
        )
        .write_to(&dir.join("cairn.toml"));
    s
}

/// The truth lines of `app` at locations starting with `location_prefix`.
pub fn lines<'a>(
    truth: &'a [TruthRecord],
    app: &str,
    location_prefix: &str,
) -> Vec<&'a TruthRecord> {
    truth
        .iter()
        .filter(|r| r.hop.app == app && r.hop.location.starts_with(location_prefix))
        .collect()
}

/// The ids of `records` with `outcome`.
pub fn ids_with(records: &[&TruthRecord], outcome: Outcome) -> BTreeSet<String> {
    records
        .iter()
        .filter(|r| r.outcome == outcome)
        .map(|r| r.id.clone())
        .collect()
}
