//! Unit tests of the detector, one file per job, around a small harness.

mod duplicates_latency;
mod gaps;
mod persistence;
mod replan;
mod rules;
mod spill;

use std::borrow::Cow;
use std::sync::Arc;

use super::Detector;
use crate::config::StreamConfig;
use crate::lineage::Lineage;
use crate::lineage::tests::{app, stream};
use crate::metrics::catalog;
use crate::model::{Kind, Millis, Reason, Trace, Verdict, VerdictKind};
use crate::offsets::StaticOffsets;

/// producer → c/l0 → router (g-router) → c/l1 → sink (g-sink); audit (g-audit) also reads c/l0.
pub(super) fn pipeline() -> StreamConfig {
    stream(
        "s",
        vec![
            app("producer", None, None, Some("c/l0")),
            app("router", Some("g-router"), Some("c/l0"), Some("c/l1")),
            app("audit", Some("g-audit"), Some("c/l0"), None),
            app("sink", Some("g-sink"), Some("c/l1"), None),
        ],
    )
}

/// A detector, an offsets view refreshed at every tick (like a poll), and the verdicts so far.
pub(super) struct Harness {
    pub det: Detector,
    pub offsets: StaticOffsets,
    pub verdicts: Vec<Verdict>,
    pub now: Millis,
    /// When set, ticks stop refreshing `read_at` (the oracle is down).
    pub offsets_frozen: bool,
    /// When set, the input counts as read only through this time (the shell lags behind).
    pub read_through: Option<Millis>,
}

pub(super) const T0: Millis = 1_000_000;

impl Harness {
    pub fn new() -> Self {
        Self::with(vec![pipeline()])
    }

    pub fn with(streams: Vec<StreamConfig>) -> Self {
        let lineage = Arc::new(Lineage::compile(&streams).unwrap());
        Harness {
            det: Detector::new(lineage),
            offsets: StaticOffsets::default(),
            verdicts: Vec::new(),
            now: T0,
            offsets_frozen: false,
            read_through: None,
        }
    }

    pub fn trace(&mut self, t: Trace<'_>) {
        self.det.on_trace(&t, self.now, &mut self.verdicts);
    }

    pub fn commit(&mut self, group: &str, location: &str, partition: i32, value: i64) {
        self.offsets
            .set_committed(group, location, partition, value, self.now);
    }

    /// Advances to `T0 + at` in 100 ms ticks.
    pub fn run_to(&mut self, at: Millis) {
        while self.now < T0 + at {
            self.now = (self.now + 100).min(T0 + at);
            if !self.offsets_frozen {
                for o in self
                    .offsets
                    .committed
                    .values_mut()
                    .chain(self.offsets.log_start.values_mut())
                {
                    o.read_at = self.now;
                }
            }
            let read_through = self.read_through.unwrap_or(self.now);
            self.det.on_tick_bounded(
                self.now,
                read_through,
                &self.offsets,
                &mut self.verdicts,
                usize::MAX,
            );
        }
    }

    pub fn lost(&self) -> Vec<&Verdict> {
        self.verdicts
            .iter()
            .filter(|v| v.verdict == VerdictKind::Lost)
            .collect()
    }

    pub fn total(&self, name: &str, label: Option<&str>) -> u64 {
        self.det.metrics().total(name, label)
    }

    /// A complete, clean journey of `id` through the pipeline, all at partition 0.
    pub fn deliver_all(&mut self, id: &str, offset: i64) {
        for t in journey(id, offset) {
            self.trace(t);
        }
    }
}

pub(super) fn tr<'a>(
    id: &'a str,
    kind: Kind,
    app: &'a str,
    location: &'a str,
    group: Option<&'a str>,
    (partition, offset): (i32, i64),
    ts: Millis,
) -> Trace<'a> {
    Trace {
        id: Cow::Borrowed(id),
        stream: Cow::Borrowed("s"),
        kind,
        location: Cow::Borrowed(location),
        partition,
        offset,
        app: Cow::Borrowed(app),
        group: group.map(Cow::Borrowed),
        ts,
    }
}

pub(super) fn sent<'a>(
    id: &'a str,
    app: &'a str,
    location: &'a str,
    at: (i32, i64),
    ts: Millis,
) -> Trace<'a> {
    tr(id, Kind::Sent, app, location, None, at, ts)
}

pub(super) fn received<'a>(
    id: &'a str,
    app: &'a str,
    group: &'a str,
    location: &'a str,
    at: (i32, i64),
    ts: Millis,
) -> Trace<'a> {
    tr(id, Kind::Received, app, location, Some(group), at, ts)
}

/// Every trace of a clean journey: l0 at (0, offset), l1 at (0, offset + 100).
pub(super) fn journey(id: &str, offset: i64) -> Vec<Trace<'_>> {
    vec![
        sent(id, "producer", "c/l0", (0, offset), T0),
        received(id, "router", "g-router", "c/l0", (0, offset), T0 + 10),
        received(id, "audit", "g-audit", "c/l0", (0, offset), T0 + 12),
        sent(id, "router", "c/l1", (0, offset + 100), T0 + 20),
        received(id, "sink", "g-sink", "c/l1", (0, offset + 100), T0 + 35),
    ]
}

#[test]
fn a_clean_message_completes_and_is_dropped_after_its_dedup_window() {
    let mut h = Harness::new();
    h.deliver_all("m", 10);
    assert_eq!(h.det.messages_in_memory(), 1);
    h.run_to(6_000);
    assert_eq!(h.total(catalog::MESSAGES_COMPLETE.name, None), 1);
    assert_eq!(h.det.messages_in_memory(), 1, "kept for late duplicates");
    h.run_to(6_000 + 60_000);
    assert_eq!(h.det.messages_in_memory(), 0);
    assert_eq!(h.total(catalog::MESSAGES_IN_MEMORY.name, None), 0);
    assert!(h.verdicts.is_empty());
    assert_eq!(h.total(catalog::TRACE_GAPS.name, None), 0);
    assert_eq!(h.total(catalog::MESSAGES_SEEN.name, None), 1);
}

#[test]
fn traces_the_lineage_cannot_place_are_counted_and_skipped() {
    let mut h = Harness::new();
    let mut unknown_stream = sent("m", "producer", "c/l0", (0, 1), T0);
    unknown_stream.stream = Cow::Borrowed("other");
    h.trace(unknown_stream);
    h.trace(sent("m", "ghost", "c/l0", (0, 1), T0));
    h.trace(sent("m", "producer", "c/nowhere", (0, 1), T0));
    h.trace(received("m", "router", "g-wrong", "c/l0", (0, 1), T0));
    h.trace(tr("m", Kind::Received, "router", "c/l0", None, (0, 1), T0));
    h.trace(received("m", "router", "g-router", "c/l1", (0, 1), T0));
    assert_eq!(h.det.messages_in_memory(), 0);
    for reason in [
        "unknown_stream",
        "unknown_app",
        "unknown_location",
        "unknown_group",
        "missing_group",
        "unexpected_hop",
    ] {
        assert_eq!(
            h.total(catalog::TRACES_REJECTED.name, Some(reason)),
            1,
            "{reason}"
        );
    }
}

#[test]
fn next_deadline_is_the_first_check() {
    let mut h = Harness::new();
    assert_eq!(h.det.next_deadline(), None);
    h.trace(sent("m", "producer", "c/l0", (0, 1), T0));
    assert_eq!(h.det.next_deadline(), Some(T0 + 5_000));
}

#[test]
fn verdict_carries_hop_message_and_evidence() {
    let mut h = Harness::new();
    h.trace(sent("m", "producer", "c/l0", (3, 1234), T0 - 50));
    h.trace(received("m", "router", "g-router", "c/l0", (3, 1234), T0));
    h.trace(sent("m", "router", "c/l1", (0, 9), T0));
    h.trace(received("m", "sink", "g-sink", "c/l1", (0, 9), T0));
    h.commit("g-audit", "c/l0", 3, 1240);
    h.offsets.set_log_start("c/l0", 3, 0, h.now);
    h.run_to(10_000);
    let lost = h.lost();
    assert_eq!(lost.len(), 1);
    let v = lost[0];
    assert_eq!(v.reason, Reason::CommittedPast);
    assert_eq!(v.id, "m");
    assert_eq!(v.stream, "s");
    assert_eq!(
        (
            v.hop.app.as_str(),
            v.hop.group.as_deref(),
            v.hop.location.as_str()
        ),
        ("audit", Some("g-audit"), "c/l0")
    );
    assert_eq!(
        (
            v.message.location.as_str(),
            v.message.partition,
            v.message.offset
        ),
        ("c/l0", 3, 1234)
    );
    assert_eq!(
        (v.evidence.committed, v.evidence.log_start),
        (Some(1240), Some(0))
    );
    assert_eq!(v.first_seen, T0 - 50);
    assert_eq!(
        v.detected_at,
        T0 + 8_000,
        "first seen at the 5 s check, confirmed 3 s later"
    );
}
