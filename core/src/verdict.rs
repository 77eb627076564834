//! Verdict records: encoding to (and decoding from) the JSON wire contract (`schemas/verdict.schema.json`, `docs/contracts.md`).
//!
//! The encoder is what cairn publishes on the lost-messages topic; the decoder is for
//! consumers of that topic (`cairn score`, tests). Decoding ignores unknown fields, so a
//! newer cairn can add evidence without breaking older readers.

use serde::{Deserialize, Serialize};

use crate::model::{Evidence, HopRef, MessageRef, Millis, Reason, Verdict, VerdictKind};

/// The version of the verdict record this module reads and writes.
pub const VERSION: i64 = 1;

/// Why [`decode`] rejected a record.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerdictError {
    /// The bytes are not one JSON value.
    #[error("not JSON: {detail}")]
    NotJson { detail: String },
    /// JSON, but not the verdict shape: a field is missing, of the wrong type or out of range.
    #[error("not a verdict record: {detail}")]
    Invalid { detail: String },
    /// `v` is not a version this decoder understands.
    #[error("`v`: unsupported version {found}, expected 1")]
    UnsupportedVersion { found: i64 },
}

/// Encodes a verdict as one JSON object, fields in the contract's order.
pub fn encode(verdict: &Verdict) -> Vec<u8> {
    let wire = WireVerdict {
        v: VERSION,
        verdict: verdict.verdict,
        reason: verdict.reason,
        id: &verdict.id,
        stream: &verdict.stream,
        hop: &verdict.hop,
        message: &verdict.message,
        evidence: &verdict.evidence,
        first_seen: verdict.first_seen,
        detected_at: verdict.detected_at,
    };
    // Strings, integers and unit enums under string keys: serde_json has no way to fail on these.
    serde_json::to_vec(&wire).expect("a verdict of strings and integers always serializes")
}

/// Decodes one verdict record, checking the version first.
pub fn decode(bytes: &[u8]) -> Result<Verdict, VerdictError> {
    // A record of another version may have another shape: read only `v` before judging the rest.
    let probe: VersionProbe = serde_json::from_slice(bytes).map_err(classify)?;
    if probe.v != VERSION {
        return Err(VerdictError::UnsupportedVersion { found: probe.v });
    }
    let wire: OwnedWireVerdict = serde_json::from_slice(bytes).map_err(classify)?;
    let verdict = Verdict {
        verdict: wire.verdict,
        reason: wire.reason,
        id: wire.id,
        stream: wire.stream,
        hop: wire.hop,
        message: wire.message,
        evidence: wire.evidence,
        first_seen: wire.first_seen,
        detected_at: wire.detected_at,
    };
    check_ranges(&verdict)?;
    Ok(verdict)
}

/// A key under which a consumer of the lost-messages topic can drop repeats: verdicts are
/// idempotent by (id, hop, verdict). It is a JSON array, so no id can make two keys collide.
pub fn idempotency_key(verdict: &Verdict) -> String {
    let parts = (
        &verdict.id,
        &verdict.hop.app,
        &verdict.hop.group,
        &verdict.hop.location,
        verdict.verdict,
    );
    serde_json::to_string(&parts).expect("strings and a unit enum always serialize")
}

#[derive(Serialize)]
struct WireVerdict<'a> {
    v: i64,
    verdict: VerdictKind,
    reason: Reason,
    id: &'a str,
    stream: &'a str,
    hop: &'a HopRef,
    message: &'a MessageRef,
    evidence: &'a Evidence,
    first_seen: Millis,
    detected_at: Millis,
}

#[derive(Deserialize)]
struct VersionProbe {
    v: i64,
}

#[derive(Deserialize)]
struct OwnedWireVerdict {
    verdict: VerdictKind,
    reason: Reason,
    id: String,
    stream: String,
    hop: HopRef,
    message: MessageRef,
    evidence: Evidence,
    first_seen: Millis,
    detected_at: Millis,
}

fn classify(err: serde_json::Error) -> VerdictError {
    use serde_json::error::Category;
    match err.classify() {
        Category::Data => VerdictError::Invalid {
            detail: err.to_string(),
        },
        Category::Io | Category::Syntax | Category::Eof => VerdictError::NotJson {
            detail: err.to_string(),
        },
    }
}

/// The bounds that serde's types do not carry; the same ones `schemas/verdict.schema.json` states.
fn check_ranges(verdict: &Verdict) -> Result<(), VerdictError> {
    let invalid = |detail: &str| {
        Err(VerdictError::Invalid {
            detail: detail.to_owned(),
        })
    };
    if verdict.id.is_empty() || verdict.id.len() > crate::trace::MAX_ID_BYTES {
        return invalid("`id`: expected 1 to 256 bytes");
    }
    let is_location = |s: &str| {
        s.split_once('/').is_some_and(|(cluster, topic)| {
            !cluster.is_empty() && !topic.is_empty() && !topic.contains('/')
        })
    };
    if !is_location(&verdict.hop.location) || !is_location(&verdict.message.location) {
        return invalid("`hop.location` and `message.location`: expected <cluster>/<topic>");
    }
    if verdict.stream.is_empty()
        || verdict.hop.app.is_empty()
        || verdict.hop.group.as_deref() == Some("")
    {
        return invalid("`stream`, `hop.app` and `hop.group`: expected non-empty strings");
    }
    if verdict.message.partition < 0 || verdict.message.offset < 0 {
        return invalid("`message`: partition and offset must be >= 0");
    }
    let negative_evidence = [verdict.evidence.committed, verdict.evidence.log_start]
        .into_iter()
        .flatten()
        .any(|offset| offset < 0);
    if negative_evidence {
        return invalid("`evidence`: offsets must be >= 0");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> Verdict {
        Verdict {
            verdict: VerdictKind::Lost,
            reason: Reason::CommittedPast,
            id: "a4c1".into(),
            stream: "playback".into(),
            hop: HopRef {
                app: "router-es".into(),
                group: Some("router-es".into()),
                location: "fronting/playback".into(),
            },
            message: MessageRef {
                location: "fronting/playback".into(),
                partition: 3,
                offset: 1234,
            },
            evidence: Evidence {
                committed: Some(1240),
                log_start: Some(0),
            },
            first_seen: 1_763_800_000_123,
            detected_at: 1_763_800_031_000,
        }
    }

    /// `text` with `from` replaced, failing if `from` is not there (a test that changes nothing proves nothing).
    fn replaced(text: &str, from: &str, to: &str) -> String {
        assert!(text.contains(from), "{from} not in {text}");
        text.replacen(from, to, 1)
    }

    #[test]
    fn encodes_the_design_example_byte_for_byte() {
        let expected = r#"{"v":1,"verdict":"lost","reason":"committed_past","id":"a4c1","stream":"playback","hop":{"app":"router-es","group":"router-es","location":"fronting/playback"},"message":{"location":"fronting/playback","partition":3,"offset":1234},"evidence":{"committed":1240,"log_start":0},"first_seen":1763800000123,"detected_at":1763800031000}"#;
        assert_eq!(
            String::from_utf8(encode(&example())).expect("utf-8"),
            expected
        );
    }

    #[test]
    fn absent_evidence_and_group_are_written_as_absent_and_null() {
        let mut verdict = example();
        verdict.evidence = Evidence::default();
        verdict.hop.group = None;
        verdict.reason = Reason::LostInApp;
        let text = String::from_utf8(encode(&verdict)).expect("utf-8");
        assert!(text.contains(r#""evidence":{}"#), "{text}");
        assert!(text.contains(r#""group":null"#), "{text}");
        assert!(text.contains(r#""reason":"lost_in_app""#), "{text}");
    }

    #[test]
    fn decode_reads_back_what_encode_wrote() {
        for (kind, reason) in [
            (VerdictKind::Lost, Reason::Expired),
            (VerdictKind::Retracted, Reason::CommittedPast),
            (VerdictKind::Lost, Reason::LostInApp),
        ] {
            let mut verdict = example();
            verdict.verdict = kind;
            verdict.reason = reason;
            verdict.id = "quote\" and \\ and é".into();
            assert_eq!(decode(&encode(&verdict)), Ok(verdict));
        }
    }

    #[test]
    fn decode_ignores_unknown_fields() {
        let text = r#"{"v":1,"verdict":"lost","reason":"expired","id":"x","stream":"s","new_field":[1],
            "hop":{"app":"a","group":"g","location":"c/t","extra":true},"message":{"location":"c/t","partition":0,"offset":5},
            "evidence":{"log_start":7,"high_watermark":9},"first_seen":1,"detected_at":2}"#;
        let verdict = decode(text.as_bytes()).expect("valid with unknown fields");
        assert_eq!(
            verdict.evidence,
            Evidence {
                committed: None,
                log_start: Some(7)
            }
        );
        assert_eq!(verdict.message.offset, 5);
    }

    #[test]
    fn decode_rejects_with_a_reason() {
        assert!(matches!(decode(b"{"), Err(VerdictError::NotJson { .. })));
        let v2 = r#"{"v":2,"something":"else"}"#;
        assert_eq!(
            decode(v2.as_bytes()),
            Err(VerdictError::UnsupportedVersion { found: 2 })
        );
        let text = String::from_utf8(encode(&example())).expect("utf-8");
        let missing = replaced(&text, r#""stream":"playback","#, "");
        let Err(VerdictError::Invalid { detail }) = decode(missing.as_bytes()) else {
            panic!("a verdict without stream decoded")
        };
        assert!(detail.contains("stream"), "{detail}");
        let bad_reason = replaced(&text, "committed_past", "gone");
        assert!(matches!(
            decode(bad_reason.as_bytes()),
            Err(VerdictError::Invalid { .. })
        ));
        let negative = replaced(&text, r#""offset":1234"#, r#""offset":-1"#);
        assert!(matches!(
            decode(negative.as_bytes()),
            Err(VerdictError::Invalid { .. })
        ));
        let bad_location = replaced(
            &text,
            r#""location":"fronting/playback"}"#,
            r#""location":"playback"}"#,
        );
        assert!(matches!(
            decode(bad_location.as_bytes()),
            Err(VerdictError::Invalid { .. })
        ));
        let no_evidence = replaced(&text, r#""evidence":{"committed":1240,"log_start":0},"#, "");
        assert!(matches!(
            decode(no_evidence.as_bytes()),
            Err(VerdictError::Invalid { .. })
        ));
        let empty_id = replaced(&text, r#""id":"a4c1""#, r#""id":"""#);
        assert!(matches!(
            decode(empty_id.as_bytes()),
            Err(VerdictError::Invalid { .. })
        ));
    }

    #[test]
    fn idempotency_key_separates_hops_and_verdicts_but_not_times() {
        let lost = example();
        let mut later = example();
        later.detected_at += 1000;
        later.evidence.committed = Some(2000);
        assert_eq!(idempotency_key(&lost), idempotency_key(&later));
        let mut retracted = example();
        retracted.verdict = VerdictKind::Retracted;
        assert_ne!(idempotency_key(&lost), idempotency_key(&retracted));
        let mut other_group = example();
        other_group.hop.group = Some("router-s3".into());
        assert_ne!(idempotency_key(&lost), idempotency_key(&other_group));
        // Separators inside ids cannot make two different triples share a key.
        let mut a = example();
        a.id = "x\",\"router-es".into();
        a.hop.app = "y".into();
        let mut b = example();
        b.id = "x".into();
        b.hop.app = "router-es\",\"y".into();
        assert_ne!(idempotency_key(&a), idempotency_key(&b));
        assert_eq!(
            idempotency_key(&lost),
            r#"["a4c1","router-es","router-es","fronting/playback","lost"]"#
        );
    }
}
