//! The counters of one stream and of each of its hops, as the detector updates them.

use hdrhistogram::Histogram;

use super::histogram::{merge_histogram, new_histogram, record_latency};
use crate::lineage::{HopIx, HopRole};
use crate::model::{HopRef, Reason};

/// How a message came to be duplicated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DuplicateKind {
    /// Two `sent` at one location with different partition/offset.
    WrittenTwice,
    /// Two `received` by one group (a redelivery, even at the same offset).
    DeliveredTwice,
}

impl DuplicateKind {
    /// Every kind, in export order.
    pub const ALL: [DuplicateKind; 2] =
        [DuplicateKind::WrittenTwice, DuplicateKind::DeliveredTwice];

    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            DuplicateKind::WrittenTwice => "written_twice",
            DuplicateKind::DeliveredTwice => "delivered_twice",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

fn reason_index(reason: Reason) -> usize {
    match reason {
        Reason::CommittedPast => 0,
        Reason::Expired => 1,
        Reason::LostInApp => 2,
    }
}

/// Counters of one hop.
#[derive(Clone, Debug)]
pub struct HopMetrics {
    pub hop: HopRef,
    pub role: HopRole,
    traces_seen: u64,
    lost: [u64; 3],
    duplicates: [u64; 2],
    retracted: u64,
    stuck: u64,
    trace_gaps: u64,
    unknown: u64,
    clock_skew: u64,
    /// Read hops only.
    latency: Option<Histogram<u64>>,
}

impl HopMetrics {
    pub(super) fn new(hop: HopRef, role: HopRole) -> Self {
        HopMetrics {
            hop,
            role,
            traces_seen: 0,
            lost: [0; 3],
            duplicates: [0; 2],
            retracted: 0,
            stuck: 0,
            trace_gaps: 0,
            unknown: 0,
            clock_skew: 0,
            latency: (role == HopRole::Read).then(new_histogram),
        }
    }

    /// See [`catalog::TRACES_SEEN`](super::catalog::TRACES_SEEN).
    pub fn traces_seen(&self) -> u64 {
        self.traces_seen
    }

    /// See [`catalog::LOST`](super::catalog::LOST).
    pub fn lost(&self, reason: Reason) -> u64 {
        self.lost[reason_index(reason)]
    }

    /// See [`catalog::DUPLICATES`](super::catalog::DUPLICATES).
    pub fn duplicates(&self, kind: DuplicateKind) -> u64 {
        self.duplicates[kind.index()]
    }

    /// See [`catalog::RETRACTED`](super::catalog::RETRACTED).
    pub fn retracted(&self) -> u64 {
        self.retracted
    }

    /// See [`catalog::STUCK`](super::catalog::STUCK).
    pub fn stuck(&self) -> u64 {
        self.stuck
    }

    /// See [`catalog::TRACE_GAPS`](super::catalog::TRACE_GAPS).
    pub fn trace_gaps(&self) -> u64 {
        self.trace_gaps
    }

    /// See [`catalog::CLOCK_SKEW`](super::catalog::CLOCK_SKEW).
    pub fn clock_skew(&self) -> u64 {
        self.clock_skew
    }

    /// See [`catalog::HOP_LATENCY`](super::catalog::HOP_LATENCY); `None` for write hops.
    pub fn latency(&self) -> Option<&Histogram<u64>> {
        self.latency.as_ref()
    }

    pub(crate) fn count_trace(&mut self) {
        self.traces_seen += 1;
    }

    pub(crate) fn count_lost(&mut self, reason: Reason) {
        self.lost[reason_index(reason)] += 1;
    }

    pub(crate) fn count_duplicate(&mut self, kind: DuplicateKind) {
        self.duplicates[kind.index()] += 1;
    }

    pub(crate) fn count_retracted(&mut self) {
        self.retracted += 1;
    }

    pub(crate) fn count_stuck(&mut self) {
        self.stuck += 1;
    }

    /// See [`catalog::UNKNOWN`](super::catalog::UNKNOWN).
    pub fn unknown(&self) -> u64 {
        self.unknown
    }

    pub(crate) fn count_unknown(&mut self) {
        self.unknown += 1;
    }

    pub(crate) fn count_trace_gap(&mut self) {
        self.trace_gaps += 1;
    }

    /// `received.ts − sent.ts`; a negative value is clamped to 0 and counted as skew.
    pub(crate) fn record_latency(&mut self, millis: i64) {
        let latency = self.latency.get_or_insert_with(new_histogram);
        if record_latency(latency, millis) {
            self.clock_skew += 1;
        }
    }

    pub(super) fn merge(&mut self, other: &HopMetrics) {
        self.traces_seen += other.traces_seen;
        for (a, b) in self.lost.iter_mut().zip(other.lost) {
            *a += b;
        }
        for (a, b) in self.duplicates.iter_mut().zip(other.duplicates) {
            *a += b;
        }
        self.retracted += other.retracted;
        self.stuck += other.stuck;
        self.trace_gaps += other.trace_gaps;
        self.unknown += other.unknown;
        self.clock_skew += other.clock_skew;
        match (&mut self.latency, &other.latency) {
            (Some(dst), Some(src)) => merge_histogram(dst, src),
            (dst @ None, Some(src)) => *dst = Some(src.clone()),
            (_, None) => {}
        }
    }
}

/// Counters of one stream and of its hops.
#[derive(Clone, Debug)]
pub struct StreamMetrics {
    pub stream: String,
    messages_seen: u64,
    messages_complete: u64,
    messages_in_memory: u64,
    messages_spilled: u64,
    messages_shed: u64,
    shed_traces: u64,
    end_to_end_clock_skew: u64,
    tracer_dropped: u64,
    /// Dropped from watch when the lineage changed, by [`Unwatched`] reason.
    unwatched: [u64; Unwatched::ALL.len()],
    end_to_end: Histogram<u64>,
    hops: Vec<HopMetrics>,
    spare: Option<Box<HopMetrics>>,
}

/// Why the detector stopped watching something when the lineage changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unwatched {
    /// A message held for a stream the new lineage no longer has (counted per message).
    StreamRemoved,
    /// An expectation still open at an app the new lineage removed or changed (counted per
    /// expectation).
    HopRemoved,
}

impl Unwatched {
    pub const ALL: [Unwatched; 2] = [Unwatched::StreamRemoved, Unwatched::HopRemoved];

    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Unwatched::StreamRemoved => "stream_removed",
            Unwatched::HopRemoved => "hop_removed",
        }
    }
}

impl StreamMetrics {
    /// Zeroed counters of stream `stream` with the given hops, in lineage order.
    pub(super) fn new(stream: String, hops: Vec<HopMetrics>) -> Self {
        StreamMetrics {
            stream,
            messages_seen: 0,
            messages_complete: 0,
            messages_in_memory: 0,
            messages_spilled: 0,
            messages_shed: 0,
            shed_traces: 0,
            end_to_end_clock_skew: 0,
            tracer_dropped: 0,
            unwatched: [0; Unwatched::ALL.len()],
            end_to_end: new_histogram(),
            hops,
            spare: None,
        }
    }

    /// See [`catalog::MESSAGES_SEEN`](super::catalog::MESSAGES_SEEN).
    pub fn messages_seen(&self) -> u64 {
        self.messages_seen
    }

    /// See [`catalog::MESSAGES_COMPLETE`](super::catalog::MESSAGES_COMPLETE).
    pub fn messages_complete(&self) -> u64 {
        self.messages_complete
    }

    /// See [`catalog::MESSAGES_IN_MEMORY`](super::catalog::MESSAGES_IN_MEMORY).
    pub fn messages_in_memory(&self) -> u64 {
        self.messages_in_memory
    }

    /// See [`catalog::MESSAGES_SPILLED`](super::catalog::MESSAGES_SPILLED).
    pub fn messages_spilled(&self) -> u64 {
        self.messages_spilled
    }

    /// See [`catalog::MESSAGES_SHED`](super::catalog::MESSAGES_SHED).
    pub fn messages_shed(&self) -> u64 {
        self.messages_shed
    }

    /// See [`catalog::SHED_TRACES`](super::catalog::SHED_TRACES).
    pub fn shed_traces(&self) -> u64 {
        self.shed_traces
    }

    /// A message moved from memory to the disk tier.
    pub(crate) fn count_spilled(&mut self) {
        self.messages_in_memory = self.messages_in_memory.saturating_sub(1);
        self.messages_spilled += 1;
    }

    /// Messages already on the disk tier when a new lineage takes over the stream.
    pub(crate) fn carry_spilled(&mut self, spilled: u64) {
        self.messages_spilled += spilled;
    }

    /// A message read back from the disk tier.
    pub(crate) fn count_unspilled(&mut self) {
        self.messages_spilled = self.messages_spilled.saturating_sub(1);
        self.messages_in_memory += 1;
    }

    /// A message given up on for want of memory and disk.
    pub(crate) fn count_shed(&mut self) {
        self.messages_in_memory = self.messages_in_memory.saturating_sub(1);
        self.messages_shed += 1;
    }

    /// A trace of a shed message, skipped.
    pub(crate) fn count_shed_trace(&mut self) {
        self.shed_traces += 1;
    }

    /// See [`catalog::END_TO_END_CLOCK_SKEW`](super::catalog::END_TO_END_CLOCK_SKEW).
    pub fn end_to_end_clock_skew(&self) -> u64 {
        self.end_to_end_clock_skew
    }

    /// See [`catalog::DROPPED_TRACES_REPORTED`](super::catalog::DROPPED_TRACES_REPORTED).
    pub fn tracer_dropped(&self) -> u64 {
        self.tracer_dropped
    }

    /// See [`catalog::LINEAGE_UNWATCHED`](super::catalog::LINEAGE_UNWATCHED).
    pub fn unwatched(&self, reason: Unwatched) -> u64 {
        self.unwatched[reason as usize]
    }

    pub(crate) fn count_unwatched(&mut self, reason: Unwatched, count: u64) {
        self.unwatched[reason as usize] = self.unwatched[reason as usize].saturating_add(count);
    }

    pub(crate) fn count_tracer_dropped(&mut self, count: u64) {
        self.tracer_dropped = self.tracer_dropped.saturating_add(count);
    }

    /// See [`catalog::END_TO_END_LATENCY`](super::catalog::END_TO_END_LATENCY).
    pub fn end_to_end(&self) -> &Histogram<u64> {
        &self.end_to_end
    }

    /// Every hop of the stream.
    pub fn hops(&self) -> &[HopMetrics] {
        &self.hops
    }

    /// The hop's counters by its name, if the stream has it.
    pub fn hop_by_ref(&self, hop: &HopRef) -> Option<&HopMetrics> {
        self.hops.iter().find(|h| &h.hop == hop)
    }

    /// The hop's counters. Indices come from the same lineage the metrics were built from;
    /// one that does not fit lands on an unexported spare entry rather than panicking.
    pub(crate) fn hop(&mut self, ix: HopIx) -> &mut HopMetrics {
        match self.hops.get_mut(ix.index()) {
            Some(hop) => hop,
            None => self.spare.get_or_insert_with(|| {
                let hop = HopRef {
                    app: String::new(),
                    group: None,
                    location: String::new(),
                };
                Box::new(HopMetrics::new(hop, HopRole::Read))
            }),
        }
    }

    pub(crate) fn count_seen(&mut self) {
        self.messages_seen += 1;
        self.messages_in_memory += 1;
    }

    pub(crate) fn count_restored(&mut self) {
        self.messages_in_memory += 1;
    }

    pub(crate) fn count_removed(&mut self) {
        self.messages_in_memory = self.messages_in_memory.saturating_sub(1);
    }

    pub(super) fn clear_gauges(&mut self) {
        self.messages_in_memory = 0;
        self.messages_spilled = 0;
    }

    pub(crate) fn count_complete(&mut self, end_to_end: Option<i64>) {
        self.messages_complete += 1;
        if let Some(millis) = end_to_end
            && record_latency(&mut self.end_to_end, millis)
        {
            self.end_to_end_clock_skew += 1;
        }
    }

    /// Adds `other`'s counters and histograms, and its gauges when `gauges`.
    pub(super) fn merge(&mut self, other: &StreamMetrics, gauges: bool) {
        self.messages_seen += other.messages_seen;
        self.messages_complete += other.messages_complete;
        if gauges {
            self.messages_in_memory += other.messages_in_memory;
            self.messages_spilled += other.messages_spilled;
        }
        self.messages_shed += other.messages_shed;
        self.shed_traces += other.shed_traces;
        self.end_to_end_clock_skew += other.end_to_end_clock_skew;
        self.tracer_dropped += other.tracer_dropped;
        for (mine, theirs) in self.unwatched.iter_mut().zip(other.unwatched) {
            *mine += theirs;
        }
        merge_histogram(&mut self.end_to_end, &other.end_to_end);
        for hop in &other.hops {
            match self
                .hops
                .iter_mut()
                .find(|h| h.hop == hop.hop && h.role == hop.role)
            {
                Some(mine) => mine.merge(hop),
                None => self.hops.push(hop.clone()),
            }
        }
    }
}
