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
