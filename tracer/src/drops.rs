//! What the tracer dropped, kept until it can tell the detector: per (kind, group, location,
//! partition), the exact offsets as merged ranges, how many traces, and their time span.
//! Reported as gap records (`cairn_core::trace::gap`) once the tracing cluster answers again.

use std::collections::BTreeMap;

use cairn_core::model::{Gap, Kind, Millis};
use cairn_core::trace::MAX_GAP_RANGES;

/// Where the dropped traces were: one gap record (or a few, if long) per key.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    kind: u8,
    group: Option<String>,
    location: String,
    partition: i32,
}

#[derive(Clone, Debug, Default)]
struct Dropped {
    /// Inclusive ranges, ascending and disjoint.
    ranges: Vec<(i64, i64)>,
    count: u64,
    from_ts: Millis,
    to_ts: Millis,
}

/// Drops not yet reported.
#[derive(Debug, Default)]
pub(crate) struct DropLog {
    pending: BTreeMap<Key, Dropped>,
}

fn kind_code(kind: Kind) -> u8 {
    match kind {
        Kind::Sent => 0,
        Kind::Received => 1,
        Kind::Filtered => 2,
    }
}

fn kind_of(code: u8) -> Kind {
    match code {
        0 => Kind::Sent,
        1 => Kind::Received,
        _ => Kind::Filtered,
    }
}

impl DropLog {
    /// One dropped trace.
    pub fn record(
        &mut self,
        kind: Kind,
        group: Option<&str>,
        location: &str,
        (partition, offset): (i32, i64),
        ts: Millis,
    ) {
        self.add(
            kind,
            group,
            location,
            partition,
            &[(offset, offset)],
            1,
            (ts, ts),
        );
    }

    #[allow(clippy::too_many_arguments, reason = "the fields of one gap, private")]
    fn add(
        &mut self,
        kind: Kind,
        group: Option<&str>,
        location: &str,
        partition: i32,
        ranges: &[(i64, i64)],
        count: u64,
        (from_ts, to_ts): (Millis, Millis),
    ) {
        // Look up without allocating: the common case is a key already pending.
        let probe = Key {
            kind: kind_code(kind),
            group: None,
            location: String::new(),
            partition,
        };
        let found = self
            .pending
            .range(probe..)
            .take_while(|(k, _)| k.kind == kind_code(kind))
            .find(|(k, _)| {
                k.partition == partition && k.location == location && k.group.as_deref() == group
            })
            .map(|(k, _)| k.clone());
        let key = found.unwrap_or_else(|| Key {
            kind: kind_code(kind),
            group: group.map(str::to_owned),
            location: location.to_owned(),
            partition,
        });
        let entry = self.pending.entry(key).or_insert_with(|| Dropped {
            from_ts,
            to_ts,
            ..Dropped::default()
        });
        for &range in ranges {
            insert_range(&mut entry.ranges, range);
        }
        entry.count = entry.count.saturating_add(count);
        entry.from_ts = entry.from_ts.min(from_ts);
        entry.to_ts = entry.to_ts.max(to_ts);
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Every pending drop as gap records of `stream`/`app` (split so that none carries more
    /// than [`MAX_GAP_RANGES`] ranges), leaving the log empty.
    pub fn take(&mut self, stream: &str, app: &str) -> Vec<Gap> {
        let mut out = Vec::new();
        for (key, dropped) in std::mem::take(&mut self.pending) {
            let chunks: Vec<&[(i64, i64)]> = dropped.ranges.chunks(MAX_GAP_RANGES).collect();
            let offsets: Vec<u64> = chunks.iter().map(|c| offsets_in(c)).collect();
            // A redelivered offset dropped twice counts twice: the extra goes to the first chunk.
            let extra = dropped.count.saturating_sub(offsets.iter().sum());
            for (i, chunk) in chunks.iter().enumerate() {
                out.push(Gap {
                    stream: stream.to_owned(),
                    app: app.to_owned(),
                    group: key.group.clone(),
                    location: key.location.clone(),
                    partition: key.partition,
                    dropped: kind_of(key.kind),
                    ranges: chunk.to_vec(),
                    count: offsets[i] + if i == 0 { extra } else { 0 },
                    from_ts: dropped.from_ts,
                    to_ts: dropped.to_ts,
                    copy: 0,
                    copies: 1,
                });
            }
        }
        out
    }
}

fn offsets_in(ranges: &[(i64, i64)]) -> u64 {
    ranges
        .iter()
        .map(|&(a, b)| (b - a) as u64 + 1)
        .fold(0u64, u64::saturating_add)
}

/// Inserts `[first, last]` into ascending disjoint ranges, merging what overlaps or touches.
pub(crate) fn insert_range(ranges: &mut Vec<(i64, i64)>, (first, last): (i64, i64)) {
    // Fast path: drops arrive mostly in offset order.
    if let Some(tail) = ranges.last_mut() {
        if first > tail.1.saturating_add(1) {
            ranges.push((first, last));
            return;
        }
        if first >= tail.0 {
            tail.1 = tail.1.max(last);
            return;
        }
    } else {
        ranges.push((first, last));
        return;
    }
    // General case: every range touching [first - 1, last + 1] merges into one.
    let start = ranges.partition_point(|&(_, b)| b.saturating_add(1) < first);
    let end = ranges.partition_point(|&(a, _)| a <= last.saturating_add(1));
    let merged = ranges[start..end]
        .iter()
        .fold((first, last), |(lo, hi), &(a, b)| (lo.min(a), hi.max(b)));
    ranges.splice(start..end, [merged]);
}

#[cfg(test)]
mod tests;
