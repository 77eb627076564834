//! Trace records: decoding from (and encoding to) the JSON wire contract (`schemas/trace.schema.json`, `docs/contracts.md`).
//!
//! Decoding runs in two passes. The first ([`wire`]) reads the JSON once into loosely typed
//! fields, borrowing every string that holds no escape. The second ([`validate`]) turns those
//! into a [`Trace`] or a [`TraceError`] that names the field. A typical record therefore
//! costs one pass over the bytes and no allocation.
//!
//! Rules beyond the JSON Schema (`schemas/trace.schema.json`), which agrees with them except
//! where JSON Schema cannot say it (the id bound is in bytes; the schema's `maxLength`
//! counts characters):
//! - `v` must be present and equal to 1.
//! - A known field that appears twice is an error rather than "last one wins".
//! - Integers may be written as integral floats (`3.0`), as JSON Schema's `integer` allows.
//! - `group` is required for `received` and `filtered` (both are reads by a consumer
//!   group); it is kept when present on `sent`. `null` means absent.
//! - Unknown fields are ignored, so emitters can add fields without breaking cairn.
//!
//! The tracing topic also carries gap records (`"kind":"gap"`, [`gap`]): a tracer's report of
//! the traces it dropped. [`decode_record`] reads either; [`decode`] reads traces only.

mod error;
pub mod gap;
mod wire;

use std::borrow::Cow;

use serde::Serialize;

pub use self::error::TraceError;
use self::wire::{RawTrace, TopLevel, Value};
use crate::model::{Gap, Kind, Trace};

/// The version of the trace record this module reads and writes.
pub const VERSION: i64 = 1;

/// The longest message id the contract allows, in bytes of UTF-8.
pub const MAX_ID_BYTES: usize = 256;

/// Most offset ranges one gap record may carry (a tracer splits longer reports), so a hostile
/// record cannot make the detector hold unbounded memory.
pub const MAX_GAP_RANGES: usize = 4096;

/// One record of the tracing topic: a trace, or a tracer's gap report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record<'a> {
    Trace(Trace<'a>),
    Gap(Gap),
}

/// Decodes one record of the tracing topic, trace or gap.
pub fn decode_record(bytes: &[u8]) -> Result<Record<'_>, TraceError> {
    match wire::parse(bytes) {
        Ok(TopLevel::Object(raw)) if raw.is_gap() => gap::decode(bytes).map(Record::Gap),
        Ok(TopLevel::Object(raw)) => validate(raw).map(Record::Trace),
        Ok(TopLevel::Other(found)) => Err(TraceError::NotAnObject { found }),
        Err(err) => Err(TraceError::NotJson {
            detail: err.to_string(),
        }),
    }
}

/// Decodes one trace record. Strings borrow from `bytes` unless they hold JSON escapes.
pub fn decode(bytes: &[u8]) -> Result<Trace<'_>, TraceError> {
    match wire::parse(bytes) {
        Ok(TopLevel::Object(raw)) if raw.is_gap() => Err(TraceError::GapNotTrace),
        Ok(TopLevel::Object(raw)) => validate(raw),
        Ok(TopLevel::Other(found)) => Err(TraceError::NotAnObject { found }),
        Err(err) => Err(TraceError::NotJson {
            detail: err.to_string(),
        }),
    }
}

/// Encodes a trace as one JSON object in the contract's field order; [`decode`] reads it back
/// to an equal trace.
pub fn encode(trace: &Trace) -> Vec<u8> {
    let wire = WireTrace {
        v: VERSION,
        id: &trace.id,
        stream: &trace.stream,
        kind: trace.kind.as_str(),
        location: &trace.location,
        partition: trace.partition,
        offset: trace.offset,
        app: &trace.app,
        group: trace.group.as_deref(),
        ts: trace.ts,
    };
    // Strings and integers under string keys: serde_json has no way to fail on these.
    serde_json::to_vec(&wire).expect("a trace of strings and integers always serializes")
}

#[derive(Serialize)]
struct WireTrace<'a> {
    v: i64,
    id: &'a str,
    stream: &'a str,
    kind: &'static str,
    location: &'a str,
    partition: i32,
    offset: i64,
    app: &'a str,
    group: Option<&'a str>,
    ts: i64,
}

/// The second pass: checks presence, types and ranges, in a fixed order so that the
/// same bad record always gets the same error.
fn validate(raw: RawTrace<'_>) -> Result<Trace<'_>, TraceError> {
    if let Some(field) = raw.duplicate {
        return Err(TraceError::Duplicate { field });
    }
    // The version first: a record of another version may legitimately have another shape.
    let version = integer("v", required("v", raw.v)?, i64::MAX)?;
    if version != VERSION {
        return Err(TraceError::UnsupportedVersion { found: version });
    }
    let id = string("id", required("id", raw.id)?)?;
    if id.len() > MAX_ID_BYTES {
        return Err(TraceError::IdTooLong { len: id.len() });
    }
    let stream = string("stream", required("stream", raw.stream)?)?;
    let kind = kind(required("kind", raw.kind)?)?;
    let location = location(required("location", raw.location)?)?;
    let partition = integer(
        "partition",
        required("partition", raw.partition)?,
        i32::MAX.into(),
    )?;
    let offset = integer("offset", required("offset", raw.offset)?, i64::MAX)?;
    let app = string("app", required("app", raw.app)?)?;
    let group = optional_string("group", raw.group)?;
    let ts = integer("ts", required("ts", raw.ts)?, i64::MAX)?;
    if group.is_none() && kind != Kind::Sent {
        return Err(TraceError::GroupRequired { kind });
    }
    Ok(Trace {
        id,
        stream,
        kind,
        location,
        // In range: `integer` checked it against i32::MAX and zero.
        partition: i32::try_from(partition).map_err(|_| TraceError::OutOfRange {
            field: "partition",
            max: i32::MAX.into(),
        })?,
        offset,
        app,
        group,
        ts,
    })
}

fn required<'a>(field: &'static str, value: Option<Value<'a>>) -> Result<Value<'a>, TraceError> {
    value.ok_or(TraceError::Missing { field })
}

/// A non-empty string.
fn string<'a>(field: &'static str, value: Value<'a>) -> Result<Cow<'a, str>, TraceError> {
    match value {
        Value::Str(s) if s.is_empty() => Err(TraceError::Empty { field }),
        Value::Str(s) => Ok(s),
        other => Err(TraceError::WrongType {
            field,
            expected: "a string",
            found: other.type_name(),
        }),
    }
}

/// A non-empty string, or `None` when absent or `null`.
fn optional_string<'a>(
    field: &'static str,
    value: Option<Value<'a>>,
) -> Result<Option<Cow<'a, str>>, TraceError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Str(s)) if s.is_empty() => Err(TraceError::Empty { field }),
        Some(Value::Str(s)) => Ok(Some(s)),
        Some(other) => Err(TraceError::WrongType {
            field,
            expected: "a string or null",
            found: other.type_name(),
        }),
    }
}

/// An integer in `0..=max`. Integral floats count, as they do for JSON Schema's `integer`.
fn integer(field: &'static str, value: Value<'_>, max: i64) -> Result<i64, TraceError> {
    let n = match value {
        Value::Int(n) => n,
        Value::BigUint => return Err(TraceError::OutOfRange { field, max }),
        Value::Float(f) if f.fract() == 0.0 => {
            // `as` saturates; 2^63 (the first float past i64::MAX) lands on i64::MAX, so compare as floats.
            if f < 0.0 {
                return Err(TraceError::Negative { field });
            }
            if f >= 9_223_372_036_854_775_808.0 {
                return Err(TraceError::OutOfRange { field, max });
            }
            f as i64
        }
        Value::Float(_) => {
            return Err(TraceError::WrongType {
                field,
                expected: "an integer",
                found: "a number with a fraction",
            });
        }
        other => {
            return Err(TraceError::WrongType {
                field,
                expected: "an integer",
                found: other.type_name(),
            });
        }
    };
    if n < 0 {
        return Err(TraceError::Negative { field });
    }
    if n > max {
        return Err(TraceError::OutOfRange { field, max });
    }
    Ok(n)
}

fn kind(value: Value<'_>) -> Result<Kind, TraceError> {
    match value {
        Value::Str(s) => match s.as_ref() {
            "sent" => Ok(Kind::Sent),
            "received" => Ok(Kind::Received),
            "filtered" => Ok(Kind::Filtered),
            other => Err(TraceError::UnknownKind {
                found: truncated(other),
            }),
        },
        other => Err(TraceError::WrongType {
            field: "kind",
            expected: "a string",
            found: other.type_name(),
        }),
    }
}

/// `<cluster>/<topic>`: exactly one slash, text on both sides.
fn location(value: Value<'_>) -> Result<Cow<'_, str>, TraceError> {
    let location = string("location", value)?;
    let well_formed = location.split_once('/').is_some_and(|(cluster, topic)| {
        !cluster.is_empty() && !topic.is_empty() && !topic.contains('/')
    });
    if well_formed {
        Ok(location)
    } else {
        Err(TraceError::BadLocation {
            found: truncated(&location),
        })
    }
}

/// Input echoed into an error is cut short, so a hostile record cannot flood the log.
fn truncated(s: &str) -> String {
    const MAX: usize = 64;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests;
