//! `schemas/truth.schema.json` is the published contract of `truth.jsonl`; `cairn_sim::truth` is
//! what `cairn simulate` writes and `cairn score` reads. As `core/tests/schemas.rs` does for
//! traces and verdicts, these tests keep the two from drifting apart: the schema is valid draft
//! 2020-12 with a description on every field, and the Rust reader and the schema agree on a few
//! records either way, with the places where they cannot agree listed.

use std::path::PathBuf;

use cairn_core::model::{HopRef, Kind, MessageRef, Reason};
use cairn_sim::truth::{Outcome, TRUTH_VERSION, TruthRecord, read_truth, write_truth};
use serde_json::Value;

fn schema() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schemas/truth.schema.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

fn validator() -> jsonschema::Validator {
    jsonschema::draft202012::new(&schema())
        .unwrap_or_else(|e| panic!("truth.schema.json does not compile: {e}"))
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("test example is not JSON: {e}: {text}"))
}

/// Whether cairn's reader accepts one line.
fn reader_accepts(line: &str) -> bool {
    read_truth(line.as_bytes()).is_ok()
}

fn record(outcome: Outcome) -> TruthRecord {
    let lost = outcome == Outcome::Lost;
    TruthRecord {
        v: TRUTH_VERSION,
        id: "m-1 \"quoted\" é".into(),
        stream: "playback".into(),
        hop: HopRef {
            app: "enricher".into(),
            group: Some("enricher".into()),
            location: "fronting/playback".into(),
        },
        kind: Kind::Received,
        outcome,
        count: match outcome {
            Outcome::Delivered => 1,
            Outcome::Duplicated => 3,
            _ => 0,
        },
        reason: lost.then_some(Reason::LostInApp),
        message: Some(MessageRef {
            location: "fronting/playback".into(),
            partition: 3,
            offset: 1234,
        }),
        passed_at: lost.then_some(1_763_800_000_123),
    }
}

fn line(record: &TruthRecord) -> String {
    let mut bytes = Vec::new();
    write_truth(&mut bytes, [record]).expect("writes to a Vec");
    String::from_utf8(bytes)
        .expect("utf-8")
        .trim_end()
        .to_owned()
}

#[test]
fn the_schema_is_valid_draft_2020_12_with_every_field_described() {
    let schema = schema();
    if let Err(err) = jsonschema::draft202012::meta::validate(&schema) {
        panic!("truth.schema.json is not a valid draft 2020-12 schema: {err}");
    }
    assert!(schema["description"].as_str().is_some_and(|d| d.len() > 10));
    let top = schema["properties"].as_object().expect("an object schema");
    let fields: Vec<&str> = top.keys().map(String::as_str).collect();
    assert_eq!(
        fields.len(),
        10,
        "every field of TruthRecord, no more: {fields:?}"
    );
    let mut described = 0;
    let mut nested = vec![top];
    while let Some(properties) = nested.pop() {
        for (name, field) in properties {
            let description = field["description"].as_str().unwrap_or_default();
            assert!(description.len() > 10, "{name} has no real description");
            described += 1;
            if let Some(inner) = field["properties"].as_object() {
                nested.push(inner);
            }
        }
    }
    assert_eq!(described, 10 + 3 + 3, "top level, hop and message fields");
}

#[test]
fn what_the_writer_writes_the_schema_accepts_and_the_reader_reads_back() {
    let validator = validator();
    let mut records: Vec<TruthRecord> = [
        Outcome::Delivered,
        Outcome::Duplicated,
        Outcome::Lost,
        Outcome::Unreached,
        Outcome::Filtered,
    ]
    .into_iter()
    .map(record)
    .collect();
    let mut producer_hop = record(Outcome::Lost);
    producer_hop.kind = Kind::Sent;
    producer_hop.hop.group = None;
    producer_hop.reason = Some(Reason::Expired);
    producer_hop.message = None;
    records.push(producer_hop);
    for record in &records {
        let text = line(record);
        let errors: Vec<String> = validator
            .iter_errors(&parse(&text))
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{text}: {errors:?}");
        assert_eq!(
            read_truth(text.as_bytes()).expect("reads back"),
            vec![record.clone()]
        );
    }
}

#[test]
fn both_reject_the_invalid_examples() {
    let validator = validator();
    let ok = line(&record(Outcome::Lost));
    assert!(validator.is_valid(&parse(&ok)) && reader_accepts(&ok));
    let invalid = [
        ("version 2", ok.replace(r#""v":1"#, r#""v":2"#)),
        ("missing v", ok.replace(r#""v":1,"#, "")),
        (
            "missing hop",
            ok.replace(
                r#""hop":{"app":"enricher","group":"enricher","location":"fronting/playback"},"#,
                "",
            ),
        ),
        ("hop without app", ok.replace(r#""app":"enricher","#, "")),
        (
            "numeric group",
            ok.replace(r#""group":"enricher""#, r#""group":7"#),
        ),
        ("unknown outcome", ok.replace(r#""lost""#, r#""vanished""#)),
        ("unknown reason", ok.replace("lost_in_app", "gone")),
        ("unknown kind", ok.replace(r#""received""#, r#""resent""#)),
        (
            "negative count",
            ok.replace(r#""count":0"#, r#""count":-1"#),
        ),
        ("string count", ok.replace(r#""count":0"#, r#""count":"0""#)),
        (
            "count past u32",
            ok.replace(r#""count":0"#, r#""count":4294967296"#),
        ),
        ("missing count", ok.replace(r#""count":0,"#, "")),
        (
            "fractional passed_at",
            ok.replace(r#""passed_at":1763800000123"#, r#""passed_at":1.5"#),
        ),
        (
            "message without offset",
            ok.replace(r#","offset":1234"#, ""),
        ),
    ];
    for (what, text) in invalid {
        assert_ne!(text, ok, "{what}: the example did not change");
        assert!(
            !validator.is_valid(&parse(&text)),
            "schema accepted {what}: {text}"
        );
        assert!(!reader_accepts(&text), "reader accepted {what}: {text}");
    }
}

/// Where the reader is looser than the schema: it trusts `cairn simulate`, its only writer.
/// Listed so that a change on either side shows up here.
#[test]
fn the_documented_divergences_are_the_only_kind_left() {
    let validator = validator();
    let ok = line(&record(Outcome::Lost));
    let looser = [
        (
            "empty id",
            ok.replace(r#""id":"m-1 \"quoted\" é""#, r#""id":"""#),
        ),
        (
            "kind filtered",
            ok.replace(r#""received""#, r#""filtered""#),
        ),
        (
            "negative partition",
            ok.replace(r#""partition":3"#, r#""partition":-3"#),
        ),
        (
            "location without a cluster",
            ok.replace(
                r#""location":"fronting/playback"}"#,
                r#""location":"playback"}"#,
            ),
        ),
    ];
    for (what, text) in looser {
        assert_ne!(text, ok, "{what}: the example did not change");
        assert!(
            !validator.is_valid(&parse(&text)),
            "schema accepted {what}: {text}"
        );
        assert!(reader_accepts(&text), "reader now rejects {what}: {text}");
    }
}
