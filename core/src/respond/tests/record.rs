//! The action record's wire form: it round-trips, refuses other versions, and output is cut
//! to its bound without splitting a character.

use crate::respond::record::{
    ActionRecord, ActionRecordError, MAX_OUTPUT_BYTES, bounded_output, decode, encode,
};
use crate::respond::{ActionKind, IncidentRef, Outcome, Reason, Via};
use crate::watch::IncidentKind;

pub(crate) fn example() -> ActionRecord {
    ActionRecord {
        v: 1,
        action: ActionKind::Relaunch,
        cluster: "a".into(),
        group: "orders-sink".into(),
        at: 1_763_800_185_000,
        reason: Reason::IncidentOpened,
        incident: IncidentRef {
            kind: IncidentKind::Stuck,
            since: 1_763_800_005_000,
            opened_at: 1_763_800_185_000,
        },
        outcome: Outcome::Ok,
        via: Via::Command,
        exit_code: Some(0),
        http_status: None,
        duration_ms: 412,
        output: "relaunched\n".into(),
        output_truncated: false,
        error: None,
    }
}

#[test]
fn a_record_round_trips() {
    let record = example();
    assert_eq!(decode(&encode(&record)), Ok(record));
}

#[test]
fn other_versions_and_bad_records_are_refused() {
    let text = String::from_utf8(encode(&example())).expect("utf-8");
    let v2 = text.replace(r#""v":1"#, r#""v":2"#);
    assert_eq!(
        decode(v2.as_bytes()),
        Err(ActionRecordError::UnsupportedVersion { found: 2 })
    );
    assert!(matches!(
        decode(b"{"),
        Err(ActionRecordError::NotJson { .. })
    ));
    let bad_action = text.replace(r#""action":"relaunch""#, r#""action":"reboot""#);
    assert!(matches!(
        decode(bad_action.as_bytes()),
        Err(ActionRecordError::Invalid { .. })
    ));
    let empty_group = text.replace(r#""group":"orders-sink""#, r#""group":"""#);
    assert!(matches!(
        decode(empty_group.as_bytes()),
        Err(ActionRecordError::Invalid { .. })
    ));
    let unknown_field = text.replace(r#""v":1"#, r#""v":1,"later":true"#);
    assert!(
        decode(unknown_field.as_bytes()).is_ok(),
        "unknown fields are ignored"
    );
}

#[test]
fn output_is_bounded_and_never_split_inside_a_character() {
    assert_eq!(bounded_output(b"short"), ("short".to_owned(), false));
    let long = "é".repeat(MAX_OUTPUT_BYTES); // two bytes each
    let (kept, cut) = bounded_output(long.as_bytes());
    assert!(cut);
    assert_eq!(kept.len(), MAX_OUTPUT_BYTES);
    let odd = format!("x{long}");
    let (kept, cut) = bounded_output(odd.as_bytes());
    assert!(cut);
    assert_eq!(
        kept.len(),
        MAX_OUTPUT_BYTES - 1,
        "the split character is left out"
    );
    let (kept, _) = bounded_output(&[0xff; 10]);
    assert_eq!(
        kept.chars().count(),
        10,
        "invalid bytes become one mark each"
    );
}

#[test]
fn a_body_template_gets_the_incident_and_a_command_its_environment() {
    use crate::respond::Decision;
    use crate::respond::template::{command_env, render_body};
    let record = example();
    let decision = Decision {
        cluster: record.cluster.clone(),
        group: record.group.clone(),
        action: record.action,
        reason: record.reason,
        incident: record.incident,
        at: record.at,
    };
    let body = render_body(
        r#"{"svc":"{{group}}","on":"{{cluster}}","kind":"{{kind}}","since":{{since}},"opened":{{opened_at}},"incident":{{incident}},"keep":"{{other}}"}"#,
        &decision,
        r#"{"v":1}"#,
    );
    assert_eq!(
        body,
        r#"{"svc":"orders-sink","on":"a","kind":"stuck","since":1763800005000,"opened":1763800185000,"incident":{"v":1},"keep":"{{other}}"}"#
    );
    let env = command_env(&decision, "{}");
    let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("CAIRN_GROUP"), Some("orders-sink"));
    assert_eq!(get("CAIRN_OPENED_AT"), Some("1763800185000"));
    assert_eq!(get("CAIRN_ACTION"), Some("relaunch"));
    assert_eq!(get("CAIRN_INCIDENT"), Some("{}"));
}
