//! The JSON Schemas in `schemas/` are the published contract; the Rust codecs are what cairn runs.
//! These tests keep the two from drifting apart: the schemas are valid draft 2020-12 with a
//! description on every field, they accept and reject the examples they should, and the trace
//! decoder agrees with the trace schema on every example either can judge. The incident
//! schema is checked against records the watch core really makes, the action schema against
//! records built from the responder core's real decisions.

use std::path::PathBuf;

use cairn_core::model::{Evidence, HopRef, MessageRef, Millis, Reason, Verdict, VerdictKind};
use cairn_core::respond::record::{self as action, ActionRecord};
use cairn_core::respond::{
    ActionKind, GroupPolicy, Outcome, Reason as ActionReason, Responder, Via,
};
use cairn_core::watch::incident::{
    self, Incident, IncidentKind, PartitionEvidence, PartitionRef, Phase,
};
use cairn_core::watch::{
    ConsumerState, Evaluator, FirstUnread, GroupObservation, GroupSettings, GroupState,
    GroupStatus, IncidentBook, Observed, PartitionObservation, Round,
};
use cairn_core::{trace, verdict};
use serde_json::Value;

fn schema(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../schemas")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

fn validator(name: &str) -> jsonschema::Validator {
    jsonschema::draft202012::new(&schema(name))
        .unwrap_or_else(|e| panic!("{name} does not compile: {e}"))
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("test example is not JSON: {e}: {text}"))
}

#[test]
fn every_schema_is_valid_draft_2020_12() {
    for name in [
        "trace.schema.json",
        "verdict.schema.json",
        "incident.schema.json",
        "action.schema.json",
    ] {
        let schema = schema(name);
        if let Err(err) = jsonschema::draft202012::meta::validate(&schema) {
            panic!("{name} is not a valid draft 2020-12 schema: {err}");
        }
        assert_eq!(
            schema["$schema"], "https://json-schema.org/draft/2020-12/schema",
            "{name}"
        );
    }
}

/// Every schema under a `properties` keyword, with its JSON pointer.
fn property_schemas<'a>(value: &'a Value, pointer: String, out: &mut Vec<(String, &'a Value)>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let child_pointer = format!("{pointer}/{key}");
                if key == "properties" {
                    for (field, field_schema) in child.as_object().into_iter().flatten() {
                        out.push((format!("{child_pointer}/{field}"), field_schema));
                    }
                }
                property_schemas(child, child_pointer, out);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                property_schemas(item, format!("{pointer}/{i}"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn every_field_has_a_description() {
    for (name, top_level_fields) in [
        ("trace.schema.json", 17),
        ("verdict.schema.json", 10),
        ("incident.schema.json", 9),
        ("action.schema.json", 15),
    ] {
        let schema = schema(name);
        assert!(
            schema["description"].is_string(),
            "{name} has no top-level description"
        );
        let top = schema["properties"]
            .as_object()
            .expect("an object schema")
            .len();
        assert_eq!(top, top_level_fields, "{name}: top-level fields");
        let mut fields = Vec::new();
        property_schemas(&schema, String::new(), &mut fields);
        for (pointer, field_schema) in fields {
            // Restating a field's type inside `if`/`then` needs no second description.
            if pointer.contains("/allOf/") {
                continue;
            }
            let description = field_schema["description"].as_str().unwrap_or_default();
            assert!(
                description.len() > 10,
                "{name}{pointer} has no real description"
            );
        }
    }
}

// ---- traces ----

/// A trace record as JSON text, built from literal JSON values so that examples can hold
/// numbers `serde_json::Value` would round (past u64, exponents).
fn trace_text(fields: &[(&str, String)]) -> String {
    let body: Vec<String> = fields
        .iter()
        .map(|(name, value)| format!("\"{name}\":{value}"))
        .collect();
    format!("{{{}}}", body.join(","))
}

fn quoted(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

/// Valid bases, one per shape a trace can take.
fn trace_bases() -> Vec<Vec<(&'static str, String)>> {
    let common = |kind: &str| {
        vec![
            ("v", "1".to_owned()),
            ("id", quoted("a4c1")),
            ("stream", quoted("playback")),
            ("kind", quoted(kind)),
            ("location", quoted("fronting/playback")),
            ("partition", "3".to_owned()),
            ("offset", "1234".to_owned()),
            ("app", quoted("router-es")),
            ("ts", "1763800000123".to_owned()),
        ]
    };
    let with_group = |mut fields: Vec<(&'static str, String)>| {
        fields.push(("group", quoted("router-es")));
        fields
    };
    vec![
        common("sent"),
        with_group(common("sent")),
        with_group(common("received")),
        with_group(common("filtered")),
    ]
}

/// JSON values to put in every field: each type, and values at and just past every bound.
fn value_pool() -> Vec<String> {
    let mut pool: Vec<String> = [
        "null",
        "true",
        "false",
        "0",
        "1",
        "2",
        "-1",
        "1.0",
        "1.5",
        "3.0",
        "-0.5",
        "-2.0",
        "1e3",
        "2147483647",
        "2147483648",
        "9223372036854775807",
        "9223372036854775808",
        "18446744073709551616",
        "1e19",
        "[]",
        "[1,2]",
        "{}",
        "{\"a\":{\"b\":[null]}}",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    for s in [
        "",
        "x",
        "sent",
        "received",
        "filtered",
        "SENT",
        "a/b",
        "a/b/c",
        "/b",
        "a/",
        "/",
        "router-es",
        "with \"quotes\" and \\ and \u{0}",
    ] {
        pool.push(quoted(s));
    }
    pool.push(r#""a\/b""#.to_owned()); // an escaped slash is still a slash
    pool.push(quoted(&"x".repeat(256)));
    pool.push(quoted(&"x".repeat(257)));
    pool
}

/// Every single-field change of every base: each field removed, or set to each pool value,
/// plus an unknown field set to each pool value.
fn trace_mutations() -> Vec<String> {
    let fields = [
        "v",
        "id",
        "stream",
        "kind",
        "location",
        "partition",
        "offset",
        "app",
        "group",
        "ts",
        "extra",
    ];
    let mut out = Vec::new();
    for base in trace_bases() {
        out.push(trace_text(&base));
        for field in fields {
            let without: Vec<_> = base
                .iter()
                .filter(|(name, _)| *name != field)
                .cloned()
                .collect();
            out.push(trace_text(&without));
            for value in value_pool() {
                let mut changed = without.clone();
                changed.push((field, value));
                out.push(trace_text(&changed));
            }
        }
    }
    out
}

#[test]
fn trace_schema_accepts_the_design_example_and_encoder_output() {
    let validator = validator("trace.schema.json");
    let example = r#"{"v":1,"id":"a4c1","stream":"playback","kind":"sent","location":"fronting/playback",
        "partition":3,"offset":1234,"app":"playback-api","group":null,"ts":1763800000123}"#;
    assert!(validator.is_valid(&parse(example)));
    let decoded = trace::decode(example.as_bytes()).expect("valid");
    let encoded = String::from_utf8(trace::encode(&decoded)).expect("utf-8");
    assert!(validator.is_valid(&parse(&encoded)), "{encoded}");
}

#[test]
fn trace_schema_rejects_the_invalid_examples() {
    let validator = validator("trace.schema.json");
    let ok = r#"{"v":1,"id":"a","stream":"s","kind":"received","location":"c/t","partition":0,"offset":0,"app":"a","group":"g","ts":0}"#;
    assert!(validator.is_valid(&parse(ok)));
    let invalid = [
        ("missing v", ok.replace(r#""v":1,"#, "")),
        ("version 2", ok.replace(r#""v":1"#, r#""v":2"#)),
        ("empty id", ok.replace(r#""id":"a""#, r#""id":"""#)),
        ("unknown kind", ok.replace("received", "resent")),
        ("no slash in location", ok.replace("c/t", "ct")),
        (
            "negative offset",
            ok.replace(r#""offset":0"#, r#""offset":-5"#),
        ),
        (
            "string partition",
            ok.replace(r#""partition":0"#, r#""partition":"0""#),
        ),
        ("received without group", ok.replace(r#","group":"g""#, "")),
        (
            "received with null group",
            ok.replace(r#""group":"g""#, r#""group":null"#),
        ),
        (
            "filtered without group",
            ok.replace(r#","group":"g""#, "")
                .replace("received", "filtered"),
        ),
        ("fractional ts", ok.replace(r#""ts":0"#, r#""ts":0.5"#)),
    ];
    for (what, text) in invalid {
        assert_ne!(text, ok, "{what}: the example did not change");
        assert!(
            !validator.is_valid(&parse(&text)),
            "schema accepted {what}: {text}"
        );
        assert!(
            trace::decode(text.as_bytes()).is_err(),
            "decoder accepted {what}: {text}"
        );
    }
}

#[test]
fn trace_decoder_agrees_with_the_schema_on_every_single_field_change() {
    let validator = validator("trace.schema.json");
    let examples = trace_mutations();
    let (mut accepted, mut disagreements) = (0, Vec::new());
    for text in &examples {
        let schema_says = validator.is_valid(&parse(text));
        let decoder_says = trace::decode(text.as_bytes());
        accepted += usize::from(schema_says);
        if schema_says != decoder_says.is_ok() {
            disagreements.push(format!(
                "schema {schema_says}, decoder {decoder_says:?}: {text}"
            ));
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} disagreements:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
    // Both outcomes must be well represented, or agreement means little.
    assert!(examples.len() > 1000, "{} examples", examples.len());
    assert!(
        accepted > 100 && accepted < examples.len() / 2,
        "{accepted} of {} accepted",
        examples.len()
    );
}

/// Where JSON Schema cannot follow the decoder. Listed so that a change on either side shows up here.
#[test]
fn the_documented_divergences_are_the_only_kind_left() {
    let validator = validator("trace.schema.json");
    let with_id = |id: &str| {
        format!(
            r#"{{"v":1,"id":{},"stream":"s","kind":"sent","location":"c/t","partition":0,"offset":0,"app":"a","ts":0}}"#,
            quoted(id)
        )
    };
    // 1. The id bound is in bytes; maxLength counts characters.
    let two_byte_chars = with_id(&"é".repeat(200));
    assert!(validator.is_valid(&parse(&two_byte_chars)));
    assert_eq!(
        trace::decode(two_byte_chars.as_bytes()),
        Err(trace::TraceError::IdTooLong { len: 400 })
    );
    let fits_both = with_id(&"é".repeat(128));
    assert!(validator.is_valid(&parse(&fits_both)) && trace::decode(fits_both.as_bytes()).is_ok());
    // 2. A duplicated key: JSON Schema sees only the parsed object (last value wins); the decoder refuses.
    let duplicated = with_id("a").replacen(r#""id":"a""#, r#""id":"a","id":"b""#, 1);
    assert!(validator.is_valid(&parse(&duplicated)));
    assert_eq!(
        trace::decode(duplicated.as_bytes()),
        Err(trace::TraceError::Duplicate { field: "id" })
    );
}

// ---- verdicts ----

fn verdicts() -> Vec<Verdict> {
    let mut out = Vec::new();
    for kind in [VerdictKind::Lost, VerdictKind::Retracted] {
        for reason in Reason::ALL {
            for (committed, log_start) in [
                (Some(1240), Some(0)),
                (None, Some(1300)),
                (Some(5), None),
                (None, None),
            ] {
                for group in [Some("router-es".to_owned()), None] {
                    out.push(Verdict {
                        verdict: kind,
                        reason,
                        id: "a4c1 \"quoted\" é".into(),
                        stream: "playback".into(),
                        hop: HopRef {
                            app: "router-es".into(),
                            group,
                            location: "fronting/playback".into(),
                        },
                        message: MessageRef {
                            location: "fronting/playback".into(),
                            partition: 3,
                            offset: 1234,
                        },
                        evidence: Evidence {
                            committed,
                            log_start,
                        },
                        first_seen: 1_763_800_000_123,
                        detected_at: 1_763_800_031_000,
                    });
                }
            }
        }
    }
    out
}

#[test]
fn every_encoded_verdict_validates() {
    let validator = validator("verdict.schema.json");
    let all = verdicts();
    assert_eq!(all.len(), 2 * 3 * 4 * 2);
    for v in all {
        let text = String::from_utf8(verdict::encode(&v)).expect("utf-8");
        let errors: Vec<String> = validator
            .iter_errors(&parse(&text))
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{text}: {errors:?}");
    }
}

#[test]
fn verdict_schema_and_decoder_reject_the_invalid_examples() {
    let validator = validator("verdict.schema.json");
    let ok = String::from_utf8(verdict::encode(&verdicts()[0])).expect("utf-8");
    assert!(validator.is_valid(&parse(&ok)));
    assert!(verdict::decode(ok.as_bytes()).is_ok());
    let invalid = [
        ("version 2", ok.replace(r#""v":1"#, r#""v":2"#)),
        (
            "unknown verdict",
            ok.replace(r#""verdict":"lost""#, r#""verdict":"found""#),
        ),
        ("unknown reason", ok.replace("committed_past", "vanished")),
        (
            "missing message",
            ok.replace(
                r#""message":{"location":"fronting/playback","partition":3,"offset":1234},"#,
                "",
            ),
        ),
        (
            "negative offset",
            ok.replace(r#""offset":1234"#, r#""offset":-1"#),
        ),
        (
            "numeric hop group",
            ok.replace(r#""group":"router-es","#, r#""group":7,"#),
        ),
        (
            "bad hop location",
            ok.replace(
                r#""location":"fronting/playback"}"#,
                r#""location":"fronting"}"#,
            ),
        ),
        (
            "empty id",
            ok.replace(r#""id":"a4c1 \"quoted\" é""#, r#""id":"""#),
        ),
        (
            "missing evidence",
            ok.replace(r#""evidence":{"committed":1240,"log_start":0},"#, ""),
        ),
        (
            "string committed",
            ok.replace(r#""committed":1240"#, r#""committed":"1240""#),
        ),
    ];
    for (what, text) in invalid {
        assert_ne!(text, ok, "{what}: the example did not change");
        assert!(
            !validator.is_valid(&parse(&text)),
            "schema accepted {what}: {text}"
        );
        assert!(
            verdict::decode(text.as_bytes()).is_err(),
            "decoder accepted {what}: {text}"
        );
    }
}

// ---- incidents ----

/// One round of group `g` on cluster `c` with one partition `t/0`: committed, log start and
/// log end as given, the first unread record stamped `now - 30 s`.
fn incident_round(now: Millis, committed: i64, log_start: i64, log_end: i64) -> Round {
    let read = |value| {
        Some(Observed {
            value,
            read_at: now,
        })
    };
    Round {
        now,
        groups: vec![GroupObservation {
            cluster: "c".into(),
            group: "g".into(),
            settings: GroupSettings::default(),
            status: Some(Observed {
                value: GroupStatus {
                    state: GroupState::Stable,
                    members: 2,
                },
                read_at: now,
            }),
            partitions: vec![PartitionObservation {
                topic: "t".into(),
                partition: 0,
                committed: Some(Observed {
                    value: Some(committed),
                    read_at: now,
                })
                .into(),
                log_start: read(log_start).into(),
                log_end: read(log_end).into(),
                first_unread: (committed < log_end).then(|| {
                    Box::new(FirstUnread::Record {
                        from: committed,
                        offset: committed.max(log_start),
                        timestamp: now - 30_000,
                    })
                }),
            }],
        }],
    }
}

/// The records the watch core makes for a stuck episode and an expired one, then a close by
/// a deleted topic: every shape the evaluator and the book produce.
fn real_incidents() -> Vec<Incident> {
    let (mut evaluator, mut book) = (Evaluator::new(), IncidentBook::new());
    let mut records = Vec::new();
    let mut now = 1_763_800_000_000;
    let mut play = |round: Round| {
        let report = evaluator.evaluate(&round);
        records.extend(book.observe(&report));
    };
    // Stuck: committed 100 for four minutes while records wait, then it moves.
    for _ in 0..50 {
        now += 5_000;
        play(incident_round(now, 100, 0, 500));
    }
    now += 5_000;
    play(incident_round(now, 200, 0, 500));
    // Expired: retention passes the commit; then the group and its topic are gone.
    now += 5_000;
    play(incident_round(now, 200, 260, 600));
    now += 5_000;
    let mut gone = incident_round(now, 0, 0, 0);
    gone.groups[0].partitions.clear();
    play(gone);
    records
}

fn hand_made_incidents() -> Vec<Incident> {
    let mut out = Vec::new();
    for phase in [Phase::Open, Phase::Close] {
        for kind in IncidentKind::ALL {
            for state in ConsumerState::ALL {
                for known in [true, false] {
                    let value = |v: i64| known.then_some(v);
                    out.push(Incident {
                        phase,
                        kind,
                        cluster: "fronting".into(),
                        group: "router \"es\" é".into(),
                        since: 1_763_800_000_000,
                        at: 1_763_800_180_000,
                        evidence: incident::Evidence {
                            group_state: GroupState::Empty,
                            members: known.then_some(0),
                            partitions: vec![PartitionEvidence {
                                topic: "playback".into(),
                                partition: 2_147_483_647,
                                state,
                                committed: value(0),
                                log_start: value(12),
                                log_end: value(9_223_372_036_854_775_807),
                                lag_records: value(0),
                                lag_seconds: known.then_some(0.25),
                                stuck_since: value(-1),
                                last_commit_at: value(1_763_799_000_000),
                                expired_records: value(12),
                            }],
                            gone: vec![PartitionRef {
                                topic: "old".into(),
                                partition: 0,
                            }],
                        },
                    });
                }
            }
        }
    }
    out
}

#[test]
fn every_incident_the_core_makes_validates() {
    let validator = validator("incident.schema.json");
    let real = real_incidents();
    let shape: Vec<(Phase, IncidentKind)> = real.iter().map(|i| (i.phase, i.kind)).collect();
    assert_eq!(
        shape,
        [
            (Phase::Open, IncidentKind::Stuck),
            (Phase::Close, IncidentKind::Stuck),
            (Phase::Open, IncidentKind::Expired),
            (Phase::Close, IncidentKind::Expired),
        ]
    );
    assert_eq!(real[3].evidence.gone.len(), 1, "closed by a deleted topic");
    let hand_made = hand_made_incidents();
    assert_eq!(hand_made.len(), 2 * 2 * 10 * 2);
    for record in real.iter().chain(&hand_made) {
        let text = String::from_utf8(incident::encode(record)).expect("utf-8");
        let errors: Vec<String> = validator
            .iter_errors(&parse(&text))
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{text}: {errors:?}");
        assert_eq!(incident::decode(text.as_bytes()).as_ref(), Ok(record));
    }
}

#[test]
fn incident_schema_and_decoder_reject_the_invalid_examples() {
    let validator = validator("incident.schema.json");
    let ok = String::from_utf8(incident::encode(&real_incidents()[0])).expect("utf-8");
    assert!(validator.is_valid(&parse(&ok)), "{ok}");
    assert!(
        ok.contains(r#""committed":100,"log_start":0,"log_end":500"#),
        "{ok}"
    );
    let invalid = [
        ("version 2", ok.replace(r#""v":1"#, r#""v":2"#)),
        (
            "unknown phase",
            ok.replace(r#""incident":"open""#, r#""incident":"reopen""#),
        ),
        (
            "unknown kind",
            ok.replace(r#""kind":"stuck""#, r#""kind":"slow""#),
        ),
        ("empty group", ok.replace(r#""group":"g""#, r#""group":"""#)),
        ("missing since", ok.replace(r#""since":"#, r#""sinse":"#)),
        (
            "string at",
            ok.replace(r#","at":"#, r#","at":"0","ignored":"#),
        ),
        ("missing evidence", {
            let start = ok.find(r#","evidence":"#).expect("has evidence");
            format!("{}}}", &ok[..start])
        }),
        (
            "unknown group state",
            ok.replace(r#""group_state":"stable""#, r#""group_state":"busy""#),
        ),
        (
            "unknown partition state",
            ok.replace(r#""state":"stuck""#, r#""state":"hung""#),
        ),
        (
            "negative committed",
            ok.replace(r#""committed":100"#, r#""committed":-100"#),
        ),
        (
            "negative partition",
            ok.replace(r#""partition":0"#, r#""partition":-1"#),
        ),
        (
            "string log end",
            ok.replace(r#""log_end":500"#, r#""log_end":"500""#),
        ),
        (
            "negative members",
            ok.replace(r#""members":2"#, r#""members":-2"#),
        ),
    ];
    for (what, text) in invalid {
        assert_ne!(text, ok, "{what}: the example did not change");
        assert!(
            !validator.is_valid(&parse(&text)),
            "schema accepted {what}: {text}"
        );
        assert!(
            incident::decode(text.as_bytes()).is_err(),
            "decoder accepted {what}: {text}"
        );
    }
}

// ---- responder actions ----

/// Records of every action, reason and outcome the responder core decides, as the shell
/// would write them.
fn real_actions() -> Vec<ActionRecord> {
    use std::time::Duration;
    let policy = |stateless| GroupPolicy {
        stateless,
        suppress_for: Duration::from_secs(3600),
        verify_within: Duration::from_secs(180),
    };
    let mut responder = Responder::new([
        (("a".to_owned(), "sink".to_owned()), policy(true)),
        (("a".to_owned(), "ledger".to_owned()), policy(false)),
    ]);
    let incident = |group: &str, phase, at| Incident {
        phase,
        kind: IncidentKind::Stuck,
        cluster: "a".into(),
        group: group.into(),
        since: at - 180_000,
        at,
        evidence: incident::Evidence {
            group_state: GroupState::Stable,
            members: Some(1),
            partitions: Vec::new(),
            gone: Vec::new(),
        },
    };
    let t: Millis = 1_763_800_185_000;
    let mut decisions = Vec::new();
    let relaunch = responder.on_incident(&incident("sink", Phase::Open, t), t);
    decisions.extend(relaunch.clone());
    decisions.extend(responder.on_failed(&relaunch[0], t + 30_000));
    decisions
        .extend(responder.on_incident(&incident("sink", Phase::Close, t + 60_000), t + 60_000));
    decisions
        .extend(responder.on_incident(&incident("sink", Phase::Open, t + 600_000), t + 600_000));
    decisions.extend(responder.on_incident(&incident("ledger", Phase::Open, t), t));
    let reasons: Vec<(ActionKind, ActionReason)> =
        decisions.iter().map(|d| (d.action, d.reason)).collect();
    assert_eq!(
        reasons,
        [
            (ActionKind::Relaunch, ActionReason::IncidentOpened),
            (ActionKind::Escalate, ActionReason::ActionFailed),
            (ActionKind::Escalate, ActionReason::StuckAgain),
            (ActionKind::Notify, ActionReason::Stateful),
        ]
    );
    let mut records = Vec::new();
    for d in &decisions {
        for (outcome, via, exit_code, http_status, error) in [
            (Outcome::Ok, Via::Command, Some(0), None, None),
            (
                Outcome::Failed,
                Via::Command,
                Some(3),
                None,
                Some("exit status 3".to_owned()),
            ),
            (
                Outcome::TimedOut,
                Via::Command,
                None,
                None,
                Some("killed after 30s".to_owned()),
            ),
            (Outcome::Ok, Via::Http, None, Some(204), None),
            (
                Outcome::Failed,
                Via::Http,
                None,
                Some(503),
                Some("status 503".to_owned()),
            ),
            (Outcome::Ok, Via::Webhook, None, None, None),
            (Outcome::Recorded, Via::None, None, None, None),
        ] {
            let (output, output_truncated) = action::bounded_output("é".repeat(3000).as_bytes());
            records.push(ActionRecord {
                v: action::VERSION,
                action: d.action,
                cluster: d.cluster.clone(),
                group: d.group.clone(),
                at: d.at,
                reason: d.reason,
                incident: d.incident,
                outcome,
                via,
                exit_code,
                http_status,
                duration_ms: 1_250,
                output,
                output_truncated,
                error,
            });
        }
    }
    records
}

#[test]
fn every_action_record_the_responder_makes_validates() {
    let validator = validator("action.schema.json");
    let records = real_actions();
    assert_eq!(records.len(), 4 * 7);
    for record in &records {
        let text = String::from_utf8(action::encode(record)).expect("utf-8");
        let errors: Vec<String> = validator
            .iter_errors(&parse(&text))
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{text}: {errors:?}");
        assert_eq!(action::decode(text.as_bytes()).as_ref(), Ok(record));
    }
}

#[test]
fn action_schema_and_decoder_reject_the_invalid_examples() {
    let validator = validator("action.schema.json");
    let mut record = real_actions().remove(0);
    record.output = "done".into();
    record.output_truncated = false;
    let ok = String::from_utf8(action::encode(&record)).expect("utf-8");
    assert!(validator.is_valid(&parse(&ok)), "{ok}");
    let invalid = [
        ("version 2", ok.replace(r#""v":1"#, r#""v":2"#)),
        (
            "unknown action",
            ok.replace(r#""action":"relaunch""#, r#""action":"restart""#),
        ),
        (
            "unknown outcome",
            ok.replace(r#""outcome":"ok""#, r#""outcome":"fine""#),
        ),
        (
            "unknown reason",
            ok.replace(r#""reason":"incident_opened""#, r#""reason":"bored""#),
        ),
        (
            "empty cluster",
            ok.replace(r#""cluster":"a""#, r#""cluster":"""#),
        ),
        ("missing at", ok.replace(r#""at":"#, r#""when":"#)),
        (
            "negative duration",
            ok.replace(r#""duration_ms":1250"#, r#""duration_ms":-1"#),
        ),
        (
            "string exit code",
            ok.replace(r#""exit_code":0"#, r#""exit_code":"0""#),
        ),
        (
            "unknown incident kind",
            ok.replace(r#""kind":"stuck""#, r#""kind":"slow""#),
        ),
        (
            "long output",
            ok.replace(
                r#""output":"done""#,
                &format!(r#""output":"{}""#, "x".repeat(4097)),
            ),
        ),
    ];
    for (what, text) in invalid {
        assert_ne!(text, ok, "{what}: the example did not change");
        assert!(
            !validator.is_valid(&parse(&text)),
            "schema accepted {what}: {text}"
        );
        assert!(
            action::decode(text.as_bytes()).is_err(),
            "decoder accepted {what}: {text}"
        );
    }
}

// ---- gap records (on the tracing topic, in trace.schema.json) ----

const GAP: &str = r#"{"v":1,"kind":"gap","stream":"s","app":"sink","group":"g","location":"c/t","partition":2,"dropped":"received","ranges":[[3,5],[9,9]],"count":4,"from_ts":10,"to_ts":20,"copy":0,"copies":3,"ts":20}"#;

#[test]
fn gap_records_validate_and_round_trip() {
    let validator = validator("trace.schema.json");
    assert!(validator.is_valid(&parse(GAP)));
    let Ok(trace::Record::Gap(gap)) = trace::decode_record(GAP.as_bytes()) else {
        panic!("the example gap decodes as a gap");
    };
    let encoded = trace::gap::encode(&gap);
    assert!(validator.is_valid(&parse(std::str::from_utf8(&encoded).unwrap())));
    assert_eq!(
        trace::decode_record(&encoded),
        Ok(trace::Record::Gap(gap)),
        "encode then decode is the identity"
    );
    assert_eq!(
        trace::decode(GAP.as_bytes()),
        Err(trace::TraceError::GapNotTrace),
        "the trace-only decoder names what it found"
    );
}

#[test]
fn gap_schema_and_decoder_reject_the_invalid_examples() {
    let validator = validator("trace.schema.json");
    let invalid = [
        ("no ranges", GAP.replace(r#""ranges":[[3,5],[9,9]],"#, "")),
        ("empty ranges", GAP.replace(r#"[[3,5],[9,9]]"#, "[]")),
        ("a range of three", GAP.replace("[9,9]", "[9,9,9]")),
        ("negative offset", GAP.replace("[3,5]", "[-3,5]")),
        (
            "received gap without group",
            GAP.replace(r#""group":"g","#, ""),
        ),
        (
            "unknown dropped kind",
            GAP.replace(r#""dropped":"received""#, r#""dropped":"gap""#),
        ),
        ("zero count", GAP.replace(r#""count":4"#, r#""count":0"#)),
        ("no from_ts", GAP.replace(r#""from_ts":10,"#, "")),
        ("copies zero", GAP.replace(r#""copies":3"#, r#""copies":0"#)),
    ];
    for (what, text) in invalid {
        assert_ne!(text, GAP, "{what}: the example did not change");
        assert!(
            !validator.is_valid(&parse(&text)),
            "schema accepted {what}: {text}"
        );
        assert!(
            trace::decode_record(text.as_bytes()).is_err(),
            "decoder accepted {what}: {text}"
        );
    }
    // Beyond the schema: ranges out of order, a range backwards, a copy past the copies.
    for text in [
        GAP.replace("[[3,5],[9,9]]", "[[9,9],[3,5]]"),
        GAP.replace("[3,5]", "[5,3]"),
        GAP.replace(r#""copy":0"#, r#""copy":3"#),
    ] {
        assert!(validator.is_valid(&parse(&text)), "{text}");
        assert!(
            trace::decode_record(text.as_bytes()).is_err(),
            "decoder accepted {text}"
        );
    }
}
// ---- canary incidents (kind metadata_mismatch) ----

fn mismatch_incidents() -> Vec<cairn_core::canary::consistency::MismatchIncident> {
    use cairn_core::canary::consistency::{
        BrokerMetadata, MetadataJudge, MetadataRound, PartitionView,
    };
    use std::collections::BTreeMap;
    let view = |leader: i32, epoch: i32, isr: &[i32]| PartitionView {
        leader,
        leader_epoch: epoch,
        isr: isr.to_vec(),
    };
    let answer = |brokers: &[i32], v: PartitionView| {
        Some(BrokerMetadata {
            brokers: brokers.iter().copied().collect(),
            partitions: BTreeMap::from([(("t".to_owned(), 0), v)]),
        })
    };
    // Split: brokers 1 and 2 have fenced broker 3, which still serves an old view. Healed:
    // every broker lists all three and agrees.
    let round = |at: Millis, split: bool| {
        let listed: &[i32] = if split { &[1, 2] } else { &[1, 2, 3] };
        MetadataRound {
            at,
            brokers: BTreeMap::from([
                (1, answer(listed, view(1, 2, &[1, 2]))),
                (2, answer(listed, view(1, 2, &[1, 2]))),
                (
                    3,
                    if split {
                        answer(&[1, 2, 3], view(3, 1, &[1, 2, 3]))
                    } else {
                        answer(listed, view(1, 2, &[1, 2]))
                    },
                ),
            ]),
            quorum: None,
        }
    };
    let mut judge = MetadataJudge::new("local", 1_000);
    let mut out = judge.round(&round(0, true));
    out.extend(judge.round(&round(2_000, true)));
    out.extend(judge.round(&round(3_000, false)));
    out
}

#[test]
fn every_metadata_mismatch_incident_validates_and_needs_its_broker() {
    let validator = validator("incident.schema.json");
    let records = mismatch_incidents();
    assert_eq!(records.len(), 2, "an open and a close");
    for record in &records {
        let value = serde_json::to_value(record).expect("serializes");
        assert!(validator.is_valid(&value), "{value}");
        let mut without_broker = value.clone();
        without_broker.as_object_mut().unwrap().remove("broker");
        assert!(
            !validator.is_valid(&without_broker),
            "a mismatch names its broker"
        );
    }
    let watch = String::from_utf8(incident::encode(&real_incidents()[0])).expect("utf-8");
    let no_group = watch.replace(r#""group":"g","#, "");
    assert_ne!(no_group, watch);
    assert!(
        !validator.is_valid(&parse(&no_group)),
        "a watch kind names its group"
    );
}
