//! Gap records: a tracer's report of the traces it dropped, on the same tracing topic as the
//! traces (`schemas/trace.schema.json`, `docs/contracts.md`). They are rare (one per outage
//! per tracing partition), so they are read with plain serde rather than the borrowing
//! two-pass decoder that traces need.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::{MAX_GAP_RANGES, TraceError, VERSION, truncated};
use crate::model::{Gap, Kind, Millis};

/// The `kind` that marks a gap record.
pub const GAP_KIND: &str = "gap";

#[derive(Deserialize)]
struct WireGapIn<'a> {
    v: i64,
    #[serde(borrow)]
    stream: Cow<'a, str>,
    #[serde(borrow)]
    app: Cow<'a, str>,
    #[serde(borrow, default)]
    group: Option<Cow<'a, str>>,
    #[serde(borrow)]
    location: Cow<'a, str>,
    partition: i64,
    #[serde(borrow)]
    dropped: Cow<'a, str>,
    ranges: Vec<(i64, i64)>,
    count: u64,
    from_ts: Millis,
    to_ts: Millis,
    #[serde(default)]
    copy: u32,
    #[serde(default = "one")]
    copies: u32,
}

fn one() -> u32 {
    1
}

#[derive(Serialize)]
struct WireGapOut<'a> {
    v: i64,
    kind: &'static str,
    stream: &'a str,
    app: &'a str,
    group: Option<&'a str>,
    location: &'a str,
    partition: i32,
    dropped: &'static str,
    ranges: &'a [(i64, i64)],
    count: u64,
    from_ts: Millis,
    to_ts: Millis,
    copy: u32,
    copies: u32,
    /// Same as `to_ts`: every record on the tracing topic has a `ts`.
    ts: Millis,
}

/// Encodes a gap record; [`decode`] reads it back to an equal gap.
pub fn encode(gap: &Gap) -> Vec<u8> {
    let wire = WireGapOut {
        v: VERSION,
        kind: GAP_KIND,
        stream: &gap.stream,
        app: &gap.app,
        group: gap.group.as_deref(),
        location: &gap.location,
        partition: gap.partition,
        dropped: gap.dropped.as_str(),
        ranges: &gap.ranges,
        count: gap.count,
        from_ts: gap.from_ts,
        to_ts: gap.to_ts,
        copy: gap.copy,
        copies: gap.copies,
        ts: gap.to_ts,
    };
    // Strings, integers and pairs of integers: serde_json has no way to fail on these.
    serde_json::to_vec(&wire).expect("a gap of strings and integers always serializes")
}

/// Decodes a record whose `kind` is `"gap"`.
pub fn decode(bytes: &[u8]) -> Result<Gap, TraceError> {
    let bad = |detail: String| TraceError::BadGap { detail };
    let wire: WireGapIn<'_> =
        serde_json::from_slice(bytes).map_err(|e| bad(truncated(&e.to_string())))?;
    if wire.v != VERSION {
        return Err(TraceError::UnsupportedVersion { found: wire.v });
    }
    for (field, value) in [
        ("stream", &wire.stream),
        ("app", &wire.app),
        ("location", &wire.location),
    ] {
        if value.is_empty() {
            return Err(TraceError::Empty { field });
        }
    }
    let location = super::location(super::wire::Value::Str(wire.location))?;
    let partition = i32::try_from(wire.partition)
        .ok()
        .filter(|p| *p >= 0)
        .ok_or_else(|| {
            bad(format!(
                "`partition`: {} is not in 0..=2147483647",
                wire.partition
            ))
        })?;
    let dropped = match wire.dropped.as_ref() {
        "sent" => Kind::Sent,
        "received" => Kind::Received,
        "filtered" => Kind::Filtered,
        other => {
            return Err(bad(format!(
                "`dropped`: {:?}, expected \"sent\", \"received\" or \"filtered\"",
                truncated(other)
            )));
        }
    };
    let group = match wire.group {
        Some(g) if g.is_empty() => return Err(TraceError::Empty { field: "group" }),
        other => other.map(Cow::into_owned),
    };
    if group.is_none() && dropped != Kind::Sent {
        return Err(TraceError::GroupRequired { kind: dropped });
    }
    check_ranges(&wire.ranges).map_err(bad)?;
    if wire.count == 0 {
        return Err(bad("`count`: 0, expected at least 1 dropped trace".into()));
    }
    if wire.from_ts < 0 || wire.to_ts < wire.from_ts {
        return Err(bad(format!(
            "`from_ts`..`to_ts`: {}..{}, expected 0 <= from_ts <= to_ts",
            wire.from_ts, wire.to_ts
        )));
    }
    if wire.copy >= wire.copies {
        return Err(bad(format!(
            "`copy`: {} of {} copies, expected 0 <= copy < copies",
            wire.copy, wire.copies
        )));
    }
    Ok(Gap {
        stream: wire.stream.into_owned(),
        app: wire.app.into_owned(),
        group,
        location: location.into_owned(),
        partition,
        dropped,
        ranges: wire.ranges,
        count: wire.count,
        from_ts: wire.from_ts,
        to_ts: wire.to_ts,
        copy: wire.copy,
        copies: wire.copies,
    })
}

/// 1 to [`MAX_GAP_RANGES`] inclusive ranges `[first, last]`, `0 <= first <= last`, ascending
/// and disjoint (so a lookup can bisect them).
fn check_ranges(ranges: &[(i64, i64)]) -> Result<(), String> {
    if ranges.is_empty() || ranges.len() > MAX_GAP_RANGES {
        return Err(format!(
            "`ranges`: {} ranges, expected 1 to {MAX_GAP_RANGES}",
            ranges.len()
        ));
    }
    let mut after = -1i64;
    for (i, &(first, last)) in ranges.iter().enumerate() {
        if first <= after || last < first {
            return Err(format!(
                "`ranges`[{i}]: [{first}, {last}], expected 0 <= first <= last, above the previous range"
            ));
        }
        after = last;
    }
    Ok(())
}
