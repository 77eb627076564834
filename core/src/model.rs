//! The shared vocabulary of the core: what a trace says and what a verdict concludes.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch. Trace timestamps use the emitter's clock;
/// detector time is whatever clock the shell passes in.
pub type Millis = i64;

/// What an app did with a message at a location.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The app wrote the message at location/partition/offset (after the broker acked).
    Sent,
    /// The app, as consumer group `group`, read the message from location/partition/offset.
    Received,
    /// The app read the message and on purpose did not forward it.
    Filtered,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Sent => "sent",
            Kind::Received => "received",
            Kind::Filtered => "filtered",
        }
    }
}

/// One decoded trace record. Strings borrow from the input buffer when they hold
/// no JSON escapes, so decoding a typical record allocates nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trace<'a> {
    /// The message id, 1 to 256 bytes, kept by every hop.
    pub id: Cow<'a, str>,
    /// The logical stream the message belongs to (a `[[streams]]` name in cairn.toml).
    pub stream: Cow<'a, str>,
    pub kind: Kind,
    /// `<cluster>/<topic>`.
    pub location: Cow<'a, str>,
    pub partition: i32,
    pub offset: i64,
    pub app: Cow<'a, str>,
    /// The consumer group that read the message; required for `received`.
    pub group: Option<Cow<'a, str>>,
    /// When the app did it, by the emitter's clock.
    pub ts: Millis,
}

impl Trace<'_> {
    /// A copy that owns its strings, for callers that must keep a trace past its buffer.
    pub fn into_owned(self) -> Trace<'static> {
        Trace {
            id: Cow::Owned(self.id.into_owned()),
            stream: Cow::Owned(self.stream.into_owned()),
            kind: self.kind,
            location: Cow::Owned(self.location.into_owned()),
            partition: self.partition,
            offset: self.offset,
            app: Cow::Owned(self.app.into_owned()),
            group: self.group.map(|g| Cow::Owned(g.into_owned())),
            ts: self.ts,
        }
    }
}

/// What cairn concluded about one expected trace of one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerdictKind {
    Lost,
    /// A trace arrived after the message was declared lost: the earlier verdict was wrong.
    Retracted,
}

/// Why a message was declared lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The reading group committed past the message's offset without tracing it.
    CommittedPast,
    /// The log start moved past the message before the group read it (retention).
    Expired,
    /// A processor read the message and committed past it upstream, but never wrote it downstream.
    LostInApp,
}

impl Reason {
    pub const ALL: [Reason; 3] = [Reason::CommittedPast, Reason::Expired, Reason::LostInApp];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::CommittedPast => "committed_past",
            Reason::Expired => "expired",
            Reason::LostInApp => "lost_in_app",
        }
    }
}

/// The hop a verdict is about: which app (as which group) failed to trace the message where.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HopRef {
    pub app: String,
    pub group: Option<String>,
    pub location: String,
}

/// Where the original message sits, for an auto-recovery job to re-fetch it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MessageRef {
    pub location: String,
    pub partition: i32,
    pub offset: i64,
}

/// The offsets that justified the verdict, as the oracle last saw them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Evidence {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub committed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_start: Option<i64>,
}

/// One verdict, as published on the lost-messages topic (keyed by `id`).
/// Idempotent by (`id`, `hop`, `verdict`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Verdict {
    pub verdict: VerdictKind,
    pub reason: Reason,
    pub id: String,
    pub stream: String,
    pub hop: HopRef,
    pub message: MessageRef,
    pub evidence: Evidence,
    /// The earliest trace timestamp cairn holds for the message.
    pub first_seen: Millis,
    /// Detector time when the verdict was made.
    pub detected_at: Millis,
}

/// Where verdicts go. The Kafka producer is one sink; a `Vec` is another, in tests.
pub trait VerdictSink {
    fn emit(&mut self, verdict: Verdict);
}

impl VerdictSink for Vec<Verdict> {
    fn emit(&mut self, verdict: Verdict) {
        self.push(verdict);
    }
}

/// A tracer's report of traces it dropped (its queue was full, or the tracing cluster did not
/// take them in time): `count` traces of kind `dropped` by `app` (as `group`) at
/// `location`/`partition`, at the offsets of `ranges`, stamped between `from_ts` and `to_ts`
/// by the emitter's clock. The detector turns an expectation such a gap covers into "unknown
/// at this hop", never a lost verdict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    pub stream: String,
    pub app: String,
    /// The consumer group, for gaps of `received` and `filtered` traces.
    pub group: Option<String>,
    /// `<cluster>/<topic>`.
    pub location: String,
    pub partition: i32,
    /// The kind of the traces dropped.
    pub dropped: Kind,
    /// Inclusive offset ranges, ascending and disjoint.
    pub ranges: Vec<(i64, i64)>,
    /// How many traces were dropped (a redelivered offset can be dropped twice).
    pub count: u64,
    pub from_ts: Millis,
    pub to_ts: Millis,
    /// A tracer writes one copy of a report to every partition of the tracing topic (the
    /// detector is sharded by partition); copies are numbered `0..copies`, and only copy 0
    /// counts the dropped traces, so totals over partitions are exact.
    pub copy: u32,
    pub copies: u32,
}

impl Gap {
    /// Whether `offset` falls in one of the gap's ranges.
    pub fn covers(&self, offset: i64) -> bool {
        // Ranges are ascending and disjoint: the last range starting at or before `offset`.
        let i = self.ranges.partition_point(|&(first, _)| first <= offset);
        i > 0 && self.ranges[i - 1].1 >= offset
    }
}
