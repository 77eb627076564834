use std::borrow::Cow;

use proptest::prelude::*;

use super::*;

const EXAMPLE: &str = r#"{"v":1,"id":"a4c1","stream":"playback","kind":"sent","location":"fronting/playback",
 "partition":3,"offset":1234,"app":"playback-api","group":null,"ts":1763800000123}"#;

fn received() -> serde_json::Value {
    serde_json::json!({"v":1,"id":"a4c1","stream":"playback","kind":"received","location":"fronting/playback",
        "partition":3,"offset":1234,"app":"router-es","group":"router-es","ts":1763800000200_i64})
}

/// Decodes `received()` with `change` applied to it.
fn decode_with(
    change: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>),
) -> Result<Trace<'static>, TraceError> {
    let mut value = received();
    let serde_json::Value::Object(map) = &mut value else {
        unreachable!("received() is an object")
    };
    change(map);
    let bytes = serde_json::to_vec(&value).expect("a json value serializes");
    decode(&bytes).map(Trace::into_owned)
}

#[test]
fn decodes_the_design_example_borrowing_every_string() {
    let trace = decode(EXAMPLE.as_bytes()).expect("the contract's example is valid");
    assert_eq!(trace.id, "a4c1");
    assert_eq!(trace.stream, "playback");
    assert_eq!(trace.kind, Kind::Sent);
    assert_eq!(trace.location, "fronting/playback");
    assert_eq!((trace.partition, trace.offset), (3, 1234));
    assert_eq!(trace.app, "playback-api");
    assert_eq!(trace.group, None);
    assert_eq!(trace.ts, 1_763_800_000_123);
    for s in [&trace.id, &trace.stream, &trace.location, &trace.app] {
        assert!(matches!(s, Cow::Borrowed(_)), "{s:?} was copied");
    }
}

#[test]
fn escaped_strings_are_unescaped_into_owned_copies() {
    let bytes = br#"{"v":1,"id":"a\"b\u00e9","stream":"s","kind":"sent","location":"c/t","partition":0,"offset":0,"app":"a","ts":0}"#;
    let trace = decode(bytes).expect("escapes are valid JSON");
    assert_eq!(trace.id, "a\"bé");
    assert!(matches!(trace.id, Cow::Owned(_)));
    assert!(matches!(trace.stream, Cow::Borrowed(_)));
}

#[test]
fn escaped_keys_match_known_fields() {
    let bytes = br#"{"v":1,"\u0069d":"x","stream":"s","kind":"sent","location":"c/t","partition":0,"offset":0,"app":"a","ts":0}"#;
    assert_eq!(decode(bytes).expect("an escaped key is still `id`").id, "x");
}

#[test]
fn unknown_fields_of_any_shape_are_ignored() {
    let trace = decode_with(|m| {
        m.insert(
            "extra".into(),
            serde_json::json!({"nested": [1, {"deep": null}], "k": "v"}),
        );
        m.insert("zz".into(), serde_json::json!(3.5));
    })
    .expect("unknown fields are ignored");
    assert_eq!(trace.app, "router-es");
}

#[test]
fn group_is_kept_on_sent_and_null_means_absent() {
    let with_group = decode_with(|m| {
        m.insert("kind".into(), "sent".into());
    })
    .expect("a sent trace may name a group");
    assert_eq!(with_group.group.as_deref(), Some("router-es"));
    let null_group = decode_with(|m| {
        m.insert("kind".into(), "sent".into());
        m.insert("group".into(), serde_json::Value::Null);
    })
    .expect("a sent trace may have a null group");
    assert_eq!(null_group.group, None);
}

#[test]
fn received_and_filtered_require_a_group() {
    for kind in [Kind::Received, Kind::Filtered] {
        for remove in [true, false] {
            let err = decode_with(|m| {
                m.insert("kind".into(), kind.as_str().into());
                if remove {
                    m.remove("group");
                } else {
                    m.insert("group".into(), serde_json::Value::Null);
                }
            })
            .expect_err("a read without a group");
            assert_eq!(err, TraceError::GroupRequired { kind });
            assert_eq!(err.field(), Some("group"));
        }
    }
}

#[test]
fn filtered_decodes_with_its_group() {
    let trace = decode_with(|m| {
        m.insert("kind".into(), "filtered".into());
    })
    .expect("a filtered trace with a group");
    assert_eq!(trace.kind, Kind::Filtered);
}

#[test]
fn every_missing_field_is_named() {
    for field in [
        "v",
        "id",
        "stream",
        "kind",
        "location",
        "partition",
        "offset",
        "app",
        "ts",
    ] {
        let err = decode_with(|m| {
            m.remove(field);
        })
        .expect_err("a required field is missing");
        assert_eq!(
            err,
            TraceError::Missing {
                field: field_name(field)
            },
            "removing {field}"
        );
        assert_eq!(err.to_string(), format!("`{field}`: missing"));
        assert_eq!(err.kind_label(), "missing_field");
    }
}

fn field_name(field: &str) -> &'static str {
    [
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
    ]
    .into_iter()
    .find(|known| *known == field)
    .expect("a known field")
}

#[test]
fn wrong_types_name_the_field_and_the_types() {
    let cases: [(&str, serde_json::Value, &str, &str); 8] = [
        ("id", serde_json::json!(42), "a string", "a number"),
        ("stream", serde_json::json!(null), "a string", "null"),
        ("kind", serde_json::json!(["sent"]), "a string", "an array"),
        (
            "location",
            serde_json::json!({"c": "t"}),
            "a string",
            "an object",
        ),
        (
            "partition",
            serde_json::json!("3"),
            "an integer",
            "a string",
        ),
        (
            "offset",
            serde_json::json!(12.5),
            "an integer",
            "a number with a fraction",
        ),
        (
            "group",
            serde_json::json!(true),
            "a string or null",
            "a boolean",
        ),
        ("ts", serde_json::json!(false), "an integer", "a boolean"),
    ];
    for (field, value, expected, found) in cases {
        let err = decode_with(|m| {
            m.insert(field.into(), value);
        })
        .expect_err("a wrong type");
        assert_eq!(
            err,
            TraceError::WrongType {
                field: field_name(field),
                expected,
                found
            }
        );
        assert_eq!(
            err.to_string(),
            format!("`{field}`: expected {expected}, found {found}")
        );
        assert_eq!(err.kind_label(), "wrong_type");
    }
}

#[test]
fn integral_floats_are_integers() {
    let trace = decode_with(|m| {
        m.insert("partition".into(), serde_json::json!(7.0));
        m.insert("offset".into(), serde_json::json!(1e3));
    })
    .expect("integral floats are integers");
    assert_eq!((trace.partition, trace.offset), (7, 1000));
}

#[test]
fn negative_numbers_are_rejected_by_field() {
    for field in ["partition", "offset", "ts"] {
        for value in [serde_json::json!(-1), serde_json::json!(-2.0)] {
            let err = decode_with(|m| {
                m.insert(field.into(), value);
            })
            .expect_err("a negative number");
            assert_eq!(
                err,
                TraceError::Negative {
                    field: field_name(field)
                }
            );
        }
    }
}

/// A received record as JSON text, with some fields' literal JSON replaced. For literals that
/// `serde_json::Value` cannot carry (integers past u64, exponents).
fn record_with(field: &str, literal: &str) -> String {
    let fields = [
        ("v", "1"),
        ("id", "\"a4c1\""),
        ("stream", "\"playback\""),
        ("kind", "\"received\""),
        ("location", "\"fronting/playback\""),
        ("partition", "3"),
        ("offset", "1234"),
        ("app", "\"router-es\""),
        ("group", "\"router-es\""),
        ("ts", "1763800000200"),
    ];
    let body: Vec<String> = fields
        .iter()
        .map(|(name, value)| {
            format!(
                "\"{name}\":{}",
                if *name == field { literal } else { value }
            )
        })
        .collect();
    format!("{{{}}}", body.join(","))
}

#[test]
fn numbers_past_their_type_are_out_of_range() {
    let cases: [(&str, &str, i64); 5] = [
        ("partition", "2147483648", i32::MAX.into()),
        ("offset", "9223372036854775808", i64::MAX),
        ("ts", "18446744073709551616", i64::MAX),
        ("offset", "1e19", i64::MAX),
        ("v", "9223372036854775808", i64::MAX),
    ];
    for (field, literal, max) in cases {
        let json = record_with(field, literal);
        let err = decode(json.as_bytes()).expect_err("out of range");
        assert_eq!(
            err,
            TraceError::OutOfRange {
                field: field_name(field),
                max
            },
            "{json}"
        );
    }
    let json = record_with("partition", "2147483647");
    assert_eq!(
        decode(json.as_bytes()).expect("i32::MAX fits").partition,
        i32::MAX
    );
    let json = record_with("offset", "9223372036854775807");
    assert_eq!(
        decode(json.as_bytes()).expect("i64::MAX fits").offset,
        i64::MAX
    );
}

#[test]
fn version_must_be_one() {
    let err = decode_with(|m| {
        m.insert("v".into(), serde_json::json!(2));
    })
    .expect_err("version 2");
    assert_eq!(err, TraceError::UnsupportedVersion { found: 2 });
    assert_eq!(err.to_string(), "`v`: unsupported version 2, expected 1");
    // The version is checked before anything else: a v2 record may have other fields.
    let err = decode_with(|m| {
        m.insert("v".into(), serde_json::json!(2));
        m.remove("id");
    })
    .expect_err("version 2 without id");
    assert_eq!(err.kind_label(), "unsupported_version");
    let err = decode_with(|m| {
        m.insert("v".into(), serde_json::json!("1"));
    })
    .expect_err("a string version");
    assert_eq!(err.field(), Some("v"));
    assert_eq!(err.kind_label(), "wrong_type");
}

#[test]
fn id_must_be_one_to_256_bytes() {
    let at_limit = "x".repeat(MAX_ID_BYTES);
    assert_eq!(
        decode_with(|m| {
            m.insert("id".into(), at_limit.clone().into());
        })
        .expect("256 bytes")
        .id,
        at_limit
    );
    let err = decode_with(|m| {
        m.insert("id".into(), "x".repeat(MAX_ID_BYTES + 1).into());
    })
    .expect_err("257 bytes");
    assert_eq!(err, TraceError::IdTooLong { len: 257 });
    assert_eq!(
        err.to_string(),
        "`id`: 257 bytes long, expected at most 256 bytes"
    );
    // Bytes, not characters: 129 two-byte characters are 258 bytes.
    let err = decode_with(|m| {
        m.insert("id".into(), "é".repeat(129).into());
    })
    .expect_err("258 bytes in 129 characters");
    assert_eq!(err, TraceError::IdTooLong { len: 258 });
    let err = decode_with(|m| {
        m.insert("id".into(), "".into());
    })
    .expect_err("empty id");
    assert_eq!(err, TraceError::Empty { field: "id" });
}

#[test]
fn empty_names_are_rejected() {
    for field in ["stream", "app", "group"] {
        let err = decode_with(|m| {
            m.insert(field.into(), "".into());
        })
        .expect_err("an empty string");
        assert_eq!(
            err,
            TraceError::Empty {
                field: field_name(field)
            }
        );
        assert_eq!(err.kind_label(), "empty_field");
    }
}

#[test]
fn location_must_be_cluster_slash_topic() {
    for bad in ["playback", "/playback", "fronting/", "a/b/c", "/"] {
        let err = decode_with(|m| {
            m.insert("location".into(), bad.into());
        })
        .expect_err("a malformed location");
        assert_eq!(
            err,
            TraceError::BadLocation {
                found: bad.to_owned()
            }
        );
        assert!(err.to_string().contains("<cluster>/<topic>"), "{err}");
    }
}

#[test]
fn unknown_kind_is_named_and_echo_is_bounded() {
    let err = decode_with(|m| {
        m.insert("kind".into(), "resent".into());
    })
    .expect_err("unknown kind");
    assert_eq!(
        err,
        TraceError::UnknownKind {
            found: "resent".into()
        }
    );
    assert!(
        err.to_string()
            .contains("expected \"sent\", \"received\" or \"filtered\"")
    );
    let err = decode_with(|m| {
        m.insert("kind".into(), "é".repeat(1000).into());
    })
    .expect_err("unknown kind");
    let TraceError::UnknownKind { found } = err else {
        panic!("expected UnknownKind, got {err:?}")
    };
    assert!(
        found.len() <= 64 + '…'.len_utf8(),
        "echo of {} bytes",
        found.len()
    );
}

#[test]
fn duplicate_known_fields_are_rejected() {
    let bytes = br#"{"v":1,"id":"a","id":"b","stream":"s","kind":"sent","location":"c/t","partition":0,"offset":0,"app":"a","ts":0}"#;
    let err = decode(bytes).expect_err("id twice");
    assert_eq!(err, TraceError::Duplicate { field: "id" });
    assert_eq!(err.kind_label(), "duplicate_field");
    // Duplicated unknown fields are not ours to judge.
    let bytes = br#"{"v":1,"x":1,"x":2,"id":"a","stream":"s","kind":"sent","location":"c/t","partition":0,"offset":0,"app":"a","ts":0}"#;
    assert!(decode(bytes).is_ok());
}

#[test]
fn non_json_and_non_objects_are_told_apart() {
    for bad in [
        &b""[..],
        b"{",
        b"{\"v\":1,}",
        b"{} x",
        b"\xff\xfe",
        b"{\"id\":\"\xff\"}",
    ] {
        let err = decode(bad).expect_err("not JSON");
        assert!(
            matches!(err, TraceError::NotJson { .. }),
            "{bad:?}: {err:?}"
        );
        assert_eq!(err.field(), None);
        assert_eq!(err.kind_label(), "not_json");
    }
    for (bad, found) in [
        ("[1]", "an array"),
        ("\"x\"", "a string"),
        ("3", "a number"),
        ("null", "null"),
        ("true", "a boolean"),
    ] {
        assert_eq!(
            decode(bad.as_bytes()),
            Err(TraceError::NotAnObject { found })
        );
    }
}

#[test]
fn every_label_is_listed_and_fit_for_a_metric() {
    let samples = [
        TraceError::NotJson {
            detail: String::new(),
        },
        TraceError::NotAnObject { found: "null" },
        TraceError::Missing { field: "id" },
        TraceError::Duplicate { field: "id" },
        TraceError::WrongType {
            field: "id",
            expected: "a string",
            found: "null",
        },
        TraceError::OutOfRange {
            field: "offset",
            max: 1,
        },
        TraceError::Negative { field: "offset" },
        TraceError::Empty { field: "id" },
        TraceError::IdTooLong { len: 300 },
        TraceError::BadLocation {
            found: String::new(),
        },
        TraceError::UnknownKind {
            found: String::new(),
        },
        TraceError::GroupRequired {
            kind: Kind::Received,
        },
        TraceError::UnsupportedVersion { found: 2 },
        TraceError::BadGap {
            detail: String::new(),
        },
        TraceError::GapNotTrace,
    ];
    let labels: Vec<_> = samples.iter().map(TraceError::kind_label).collect();
    assert_eq!(labels, TraceError::LABELS);
    for label in labels {
        assert!(
            label.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
            "{label}"
        );
    }
}

#[test]
fn encode_writes_the_design_field_order() {
    let trace = decode(EXAMPLE.as_bytes()).expect("valid");
    let expected: String = EXAMPLE
        .chars()
        .filter(|c| *c != '\n' && *c != ' ')
        .collect();
    assert_eq!(String::from_utf8(encode(&trace)).expect("utf-8"), expected);
}

fn any_trace() -> impl Strategy<Value = Trace<'static>> {
    let name = "[a-z][a-z0-9._-]{0,20}";
    (
        // Any characters, including quotes, backslashes and control characters that need escapes.
        proptest::string::string_regex("(?s).{1,60}").expect("regex"),
        name,
        prop_oneof![Just(Kind::Sent), Just(Kind::Received), Just(Kind::Filtered)],
        (name, name),
        (0..=i32::MAX, 0..=i64::MAX, 0..=i64::MAX),
        name,
        proptest::option::of("[^\u{0}]{1,30}"),
    )
        .prop_map(
            |(id, stream, kind, (cluster, topic), (partition, offset, ts), app, group)| {
                let group = match (kind, group) {
                    (Kind::Sent, g) => g,
                    (_, g) => Some(g.unwrap_or_else(|| "g".into())),
                };
                Trace {
                    id: Cow::Owned(id),
                    stream: Cow::Owned(stream),
                    kind,
                    location: Cow::Owned(format!("{cluster}/{topic}")),
                    partition,
                    offset,
                    app: Cow::Owned(app),
                    group: group.map(Cow::Owned),
                    ts,
                }
            },
        )
        .prop_filter("ids fit the contract", |t| t.id.len() <= MAX_ID_BYTES)
}

proptest! {
    #[test]
    fn encode_then_decode_is_the_identity(trace in any_trace()) {
        let bytes = encode(&trace);
        prop_assert_eq!(decode(&bytes), Ok(trace));
    }

    #[test]
    fn decode_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = decode(&bytes);
    }

    #[test]
    fn decode_never_panics_on_damaged_records(trace in any_trace(), cut in 0usize..400, byte in any::<u8>()) {
        let mut bytes = encode(&trace);
        let at = cut % bytes.len();
        bytes[at] = byte;
        // Whatever comes back, an Ok must still satisfy the contract.
        if let Ok(decoded) = decode(&bytes) {
            prop_assert!(!decoded.id.is_empty() && decoded.id.len() <= MAX_ID_BYTES);
            prop_assert!(decoded.partition >= 0 && decoded.offset >= 0 && decoded.ts >= 0);
            prop_assert!(decoded.kind == Kind::Sent || decoded.group.is_some());
        }
    }
}
