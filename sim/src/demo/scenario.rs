//! The scenario `cairn demo` plays with `cairn simulate`: 80 orders through three apps on the
//! mock cluster, with one fault of each kind the mock can show. Shares pick messages by a hash
//! of (app, fault, id) and the run id is fixed, so every demo injects the same faults.

/// The file name the demo's cairn.toml is written under, next to the scenario.
pub const CONFIG_FILE: &str = "cairn.toml";

/// The scenario, as a user would write it (see schemas/scenario.example.toml).
pub const SCENARIO: &str = r#"
cairn_config = "cairn.toml"
run_id = "demo"
drain_timeout = "30s"

[apps.api]
messages = 80

[apps.enricher.faults]
skip_share = 0.08           # commits past them without reading them: lost, committed_past
duplicate_share = 0.08      # writes them twice: duplicates, written twice

[apps.indexer]
filter_share = 0.08         # drops them on purpose, with a `filtered` trace: not lost

[apps.indexer.faults]
drop_share = 0.08           # reads them, never writes them: lost, lost_in_app

[apps.sink.faults]
crash_after = 30            # stops without committing after 30 and restarts: redelivered
"#;

/// The faults above in words, for the demo's report.
pub const FAULTS: [&str; 5] = [
    "enricher commits past ~8% of orders without reading them (lost: committed_past)",
    "enricher writes ~8% of orders twice (duplicates: written twice)",
    "indexer filters ~8% of orders on purpose, tracing `filtered` (not a loss)",
    "indexer reads ~8% of orders and never writes them (lost: lost_in_app)",
    "sink crashes after 30 orders without committing, and restarts (duplicates: delivered twice)",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scenario_loads_against_the_demo_config() {
        let dir = tempfile::tempdir().unwrap();
        let text = super::super::config::toml(
            "127.0.0.1:1",
            "127.0.0.1:9464".parse().unwrap(),
            &dir.path().join("store"),
        );
        std::fs::write(dir.path().join(CONFIG_FILE), text).unwrap();
        let scenario = crate::simulate::Scenario::from_toml_str(SCENARIO, dir.path()).unwrap();
        assert_eq!(scenario.apps["api"].messages, 80);
        assert_eq!(scenario.apps["sink"].faults.crash_after, Some(30));
    }
}
