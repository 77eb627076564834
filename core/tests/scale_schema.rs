//! `schemas/scale-advice.schema.json` against advice the planner really makes: a plan, a
//! held change, and each kind of no-recommendation.

use std::path::PathBuf;
use std::time::Duration;

use cairn_core::scale::{Advice, Planner, Reason, ScaleSample, ScaleSettings};
use serde_json::Value;

fn validator() -> jsonschema::Validator {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../schemas/scale-advice.schema.json");
    let text = std::fs::read_to_string(&path).expect("the schema");
    let schema: Value = serde_json::from_str(&text).expect("JSON");
    jsonschema::draft202012::meta::validate(&schema).expect("a draft 2020-12 schema");
    jsonschema::draft202012::new(&schema).expect("it compiles")
}

fn settings() -> ScaleSettings {
    ScaleSettings {
        target: Duration::from_secs(60),
        relaunch: Duration::from_secs(5),
        min_instances: 1,
        max_instances: 64,
        history: Duration::from_secs(120),
        error_limit: 0.25,
        cooldown: Duration::from_secs(10),
        min_samples: 5,
        poll_interval: Duration::from_secs(1),
    }
}

/// Every advice of a run: a caught-up start (rate unknown), then a backlog, then traffic that
/// jumps (a held change), plus a stale round and a group not seen.
fn advice() -> Vec<Advice> {
    let s = settings();
    let mut planner = Planner::new();
    let mut out = vec![Advice::not_seen("c", "g", 0)];
    let (mut end, mut committed) = (0i64, 0i64);
    for i in 0..60i64 {
        let produced = if i < 30 { 500 } else { 900 };
        end += produced;
        committed += if i < 10 { produced } else { 300 };
        let sample = ScaleSample {
            at: 1_000_000 + i * 1000,
            log_end: Some(end),
            committed: Some(committed),
            lag_records: Some(end - committed),
            members: Some(2),
            partitions: 64,
        };
        out.push(planner.observe("c", "g", &s, sample));
    }
    let unread = ScaleSample {
        at: 1_000_000 + 70_000,
        log_end: None,
        committed: None,
        lag_records: None,
        members: None,
        partitions: 8,
    };
    out.push(planner.observe("c", "g", &s, unread));
    out
}

#[test]
fn every_advice_the_planner_makes_matches_the_schema() {
    let validator = validator();
    let all = advice();
    for reason in [
        Reason::NotSeen,
        Reason::TooFewSamples,
        Reason::RateUnknown,
        Reason::Planned,
        Reason::Cooldown,
        Reason::Stale,
    ] {
        assert!(
            all.iter().any(|a| a.reason == reason),
            "no {reason:?} in the run"
        );
    }
    for advice in &all {
        let value = serde_json::to_value(advice).expect("serializes");
        if let Err(err) = validator.validate(&value) {
            panic!("{err}: {value}");
        }
        assert_eq!(value["reason"], advice.reason.as_str());
    }
    // A list is what /api/scale answers.
    let missing = serde_json::json!({"cluster": "c", "group": "g"});
    assert!(
        validator.validate(&missing).is_err(),
        "required fields are required"
    );
}
