//! Counters and latency histograms kept by the detector, per stream and per hop.
//!
//! One [`Metrics`] per detector; the shell sums the detectors of all partitions with
//! [`Metrics::merge`] and exports [`Metrics::samples`] and [`Metrics::histograms`] by
//! name. Labels are bounded: stream and hop names come from the config, reasons and
//! kinds from fixed lists, never from a trace's free text.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use crate::lineage::{HopIx, HopRole, Lineage, Rejection, StreamId};
use crate::model::{HopRef, Reason};

/// Metric names, as exported.
pub mod names {
    /// Traces that name a stream, app, location or group the lineage does not know (label `reason`).
    pub const TRACES_REJECTED: &str = "cairn_traces_rejected_total";
    /// Trace records that did not decode (label `reason`), counted by the shell.
    pub const TRACES_MALFORMED: &str = "cairn_traces_malformed_total";
    /// Messages whose first trace was seen.
    pub const MESSAGES_SEEN: &str = "cairn_messages_seen_total";
    /// Messages all of whose expected traces arrived.
    pub const MESSAGES_COMPLETE: &str = "cairn_messages_complete_total";
    /// Messages held in memory now (a gauge).
    pub const MESSAGES_IN_MEMORY: &str = "cairn_messages_in_memory";
    /// End-to-end latencies that came out negative (clock skew) and were clamped to 0.
    pub const END_TO_END_CLOCK_SKEW: &str = "cairn_end_to_end_clock_skew_total";
    /// Traces seen at a hop.
    pub const TRACES_SEEN: &str = "cairn_traces_seen_total";
    /// Lost verdicts at a hop (label `reason`).
    pub const LOST: &str = "cairn_lost_total";
    /// Extra copies at a hop (label `kind`: written_twice, delivered_twice).
    pub const DUPLICATES: &str = "cairn_duplicates_total";
    /// Lost verdicts withdrawn because the trace came after all: false alarms.
    pub const RETRACTED: &str = "cairn_retracted_total";
    /// Expected traces given up on after the stream's max wait, never declared lost.
    pub const STUCK: &str = "cairn_stuck_total";
    /// Traces that never came although a later one proves the message passed (lost traces, not messages).
    pub const TRACE_GAPS: &str = "cairn_trace_gaps_total";
    /// Hop latencies that came out negative (clock skew) and were clamped to 0.
    pub const CLOCK_SKEW: &str = "cairn_clock_skew_total";
    /// `received.ts − sent.ts` per read hop, in milliseconds.
    pub const HOP_LATENCY: &str = "cairn_hop_latency_ms";
    /// `last.ts − first sent.ts` per complete message, in milliseconds.
    pub const END_TO_END_LATENCY: &str = "cairn_end_to_end_latency_ms";
}

/// Highest latency a histogram tells apart; larger values are recorded as this.
pub const HISTOGRAM_MAX_MS: u64 = 7 * 24 * 3_600_000;
/// Two significant digits: 1% resolution at a few kilobytes per histogram.
const HISTOGRAM_SIGFIG: u8 = 2;

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

fn new_histogram() -> Histogram<u64> {
    // Constant bounds that `histogram_bounds_are_valid` checks: this cannot fail at run time.
    Histogram::new_with_bounds(1, HISTOGRAM_MAX_MS, HISTOGRAM_SIGFIG)
        .expect("constant histogram bounds are valid")
}

/// Adds `src` into `dst`, saturating values `dst` cannot hold instead of failing.
fn merge_histogram(dst: &mut Histogram<u64>, src: &Histogram<u64>) {
    if dst.add(src).is_err() {
        for v in src.iter_recorded() {
            dst.saturating_record_n(v.value_iterated_to(), v.count_at_value());
        }
    }
}

/// Records a latency, clamping a negative one (clock skew) to 0; says whether it clamped.
fn record_latency(histogram: &mut Histogram<u64>, millis: i64) -> bool {
    histogram.saturating_record(u64::try_from(millis).unwrap_or(0));
    millis < 0
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
    clock_skew: u64,
    /// Read hops only.
    latency: Option<Histogram<u64>>,
}

impl HopMetrics {
    fn new(hop: HopRef, role: HopRole) -> Self {
        HopMetrics {
            hop,
            role,
            traces_seen: 0,
            lost: [0; 3],
            duplicates: [0; 2],
            retracted: 0,
            stuck: 0,
            trace_gaps: 0,
            clock_skew: 0,
            latency: (role == HopRole::Read).then(new_histogram),
        }
    }

    /// See [`names::TRACES_SEEN`].
    pub fn traces_seen(&self) -> u64 {
        self.traces_seen
    }

    /// See [`names::LOST`].
    pub fn lost(&self, reason: Reason) -> u64 {
        self.lost[reason_index(reason)]
    }

    /// See [`names::DUPLICATES`].
    pub fn duplicates(&self, kind: DuplicateKind) -> u64 {
        self.duplicates[kind.index()]
    }

    /// See [`names::RETRACTED`].
    pub fn retracted(&self) -> u64 {
        self.retracted
    }

    /// See [`names::STUCK`].
    pub fn stuck(&self) -> u64 {
        self.stuck
    }

    /// See [`names::TRACE_GAPS`].
    pub fn trace_gaps(&self) -> u64 {
        self.trace_gaps
    }

    /// See [`names::CLOCK_SKEW`].
    pub fn clock_skew(&self) -> u64 {
        self.clock_skew
    }

    /// See [`names::HOP_LATENCY`]; `None` for write hops.
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

    fn merge(&mut self, other: &HopMetrics) {
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
    end_to_end_clock_skew: u64,
    end_to_end: Histogram<u64>,
    hops: Vec<HopMetrics>,
    spare: Option<Box<HopMetrics>>,
}

impl StreamMetrics {
    /// See [`names::MESSAGES_SEEN`].
    pub fn messages_seen(&self) -> u64 {
        self.messages_seen
    }

    /// See [`names::MESSAGES_COMPLETE`].
    pub fn messages_complete(&self) -> u64 {
        self.messages_complete
    }

    /// See [`names::MESSAGES_IN_MEMORY`].
    pub fn messages_in_memory(&self) -> u64 {
        self.messages_in_memory
    }

    /// See [`names::END_TO_END_CLOCK_SKEW`].
    pub fn end_to_end_clock_skew(&self) -> u64 {
        self.end_to_end_clock_skew
    }

    /// See [`names::END_TO_END_LATENCY`].
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

    pub(crate) fn count_complete(&mut self, end_to_end: Option<i64>) {
        self.messages_complete += 1;
        if let Some(millis) = end_to_end
            && record_latency(&mut self.end_to_end, millis)
        {
            self.end_to_end_clock_skew += 1;
        }
    }

    fn merge(&mut self, other: &StreamMetrics) {
        self.messages_seen += other.messages_seen;
        self.messages_complete += other.messages_complete;
        self.messages_in_memory += other.messages_in_memory;
        self.end_to_end_clock_skew += other.end_to_end_clock_skew;
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

/// Whether a sample only grows or goes up and down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SampleKind {
    Counter,
    Gauge,
}

/// One exported value: a name, its labels and its value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample<'a> {
    pub name: &'static str,
    pub kind: SampleKind,
    pub stream: Option<&'a str>,
    pub hop: Option<&'a HopRef>,
    /// A bounded extra label such as `("reason", "expired")`.
    pub label: Option<(&'static str, &'static str)>,
    pub value: u64,
}

/// One exported histogram.
#[derive(Clone, Debug)]
pub struct HistogramSample<'a> {
    pub name: &'static str,
    pub stream: &'a str,
    pub hop: Option<&'a HopRef>,
    pub histogram: &'a Histogram<u64>,
}

/// Everything one detector (or, merged, a whole process) counted.
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    streams: Vec<StreamMetrics>,
    rejected: [u64; Rejection::ALL.len()],
    malformed: BTreeMap<&'static str, u64>,
}

impl Metrics {
    /// Zeroed counters for every stream and hop of `lineage`, in lineage order.
    pub fn for_lineage(lineage: &Lineage) -> Self {
        let streams = lineage
            .streams()
            .iter()
            .map(|plan| StreamMetrics {
                stream: plan.name.clone(),
                messages_seen: 0,
                messages_complete: 0,
                messages_in_memory: 0,
                end_to_end_clock_skew: 0,
                end_to_end: new_histogram(),
                hops: plan
                    .hops()
                    .iter()
                    .map(|h| HopMetrics::new(h.hop_ref.clone(), h.role))
                    .collect(),
                spare: None,
            })
            .collect();
        Metrics {
            streams,
            ..Metrics::default()
        }
    }

    /// Every stream counted.
    pub fn streams(&self) -> &[StreamMetrics] {
        &self.streams
    }

    /// One stream's counters by name.
    pub fn stream_by_name(&self, name: &str) -> Option<&StreamMetrics> {
        self.streams.iter().find(|s| s.stream == name)
    }

    /// The stream's counters; `None` only for an id from another lineage.
    pub(crate) fn stream(&mut self, id: StreamId) -> Option<&mut StreamMetrics> {
        self.streams.get_mut(usize::from(id.0))
    }

    /// See [`names::TRACES_REJECTED`].
    pub fn rejected(&self, reason: Rejection) -> u64 {
        self.rejected[rejection_index(reason)]
    }

    pub(crate) fn count_rejected(&mut self, reason: Rejection) {
        self.rejected[rejection_index(reason)] += 1;
    }

    /// Counts a trace record that did not decode; `reason` must be a fixed string (a bounded label).
    pub fn count_malformed(&mut self, reason: &'static str) {
        *self.malformed.entry(reason).or_default() += 1;
    }

    /// See [`names::TRACES_MALFORMED`].
    pub fn malformed(&self, reason: &str) -> u64 {
        self.malformed.get(reason).copied().unwrap_or(0)
    }

    /// Adds `other` into `self`, matching streams and hops by name.
    pub fn merge(&mut self, other: &Metrics) {
        for (a, b) in self.rejected.iter_mut().zip(other.rejected) {
            *a += b;
        }
        for (reason, count) in &other.malformed {
            *self.malformed.entry(reason).or_default() += count;
        }
        for stream in &other.streams {
            match self.streams.iter_mut().find(|s| s.stream == stream.stream) {
                Some(mine) => mine.merge(stream),
                None => self.streams.push(stream.clone()),
            }
        }
    }

    /// Every counter and gauge with its labels, zero ones included (so series exist from the start).
    pub fn samples(&self) -> Vec<Sample<'_>> {
        let mut out = Vec::new();
        let plain = |name, kind, stream, hop, label, value| Sample {
            name,
            kind,
            stream,
            hop,
            label,
            value,
        };
        for reason in Rejection::ALL {
            let label = Some(("reason", reason.as_str()));
            out.push(plain(
                names::TRACES_REJECTED,
                SampleKind::Counter,
                None,
                None,
                label,
                self.rejected(reason),
            ));
        }
        for (&reason, &value) in &self.malformed {
            out.push(plain(
                names::TRACES_MALFORMED,
                SampleKind::Counter,
                None,
                None,
                Some(("reason", reason)),
                value,
            ));
        }
        for s in &self.streams {
            let name = Some(s.stream.as_str());
            out.push(plain(
                names::MESSAGES_SEEN,
                SampleKind::Counter,
                name,
                None,
                None,
                s.messages_seen,
            ));
            out.push(plain(
                names::MESSAGES_COMPLETE,
                SampleKind::Counter,
                name,
                None,
                None,
                s.messages_complete,
            ));
            out.push(plain(
                names::MESSAGES_IN_MEMORY,
                SampleKind::Gauge,
                name,
                None,
                None,
                s.messages_in_memory,
            ));
            out.push(plain(
                names::END_TO_END_CLOCK_SKEW,
                SampleKind::Counter,
                name,
                None,
                None,
                s.end_to_end_clock_skew,
            ));
            for h in &s.hops {
                let hop = Some(&h.hop);
                let counter = |n, label, v| plain(n, SampleKind::Counter, name, hop, label, v);
                out.push(counter(names::TRACES_SEEN, None, h.traces_seen));
                for reason in Reason::ALL {
                    out.push(counter(
                        names::LOST,
                        Some(("reason", reason.as_str())),
                        h.lost(reason),
                    ));
                }
                for kind in DuplicateKind::ALL {
                    out.push(counter(
                        names::DUPLICATES,
                        Some(("kind", kind.as_str())),
                        h.duplicates(kind),
                    ));
                }
                out.push(counter(names::RETRACTED, None, h.retracted));
                out.push(counter(names::STUCK, None, h.stuck));
                out.push(counter(names::TRACE_GAPS, None, h.trace_gaps));
                out.push(counter(names::CLOCK_SKEW, None, h.clock_skew));
            }
        }
        out
    }

    /// Every latency histogram with its labels.
    pub fn histograms(&self) -> Vec<HistogramSample<'_>> {
        let mut out = Vec::new();
        for s in &self.streams {
            out.push(HistogramSample {
                name: names::END_TO_END_LATENCY,
                stream: &s.stream,
                hop: None,
                histogram: &s.end_to_end,
            });
            for h in &s.hops {
                if let Some(histogram) = &h.latency {
                    out.push(HistogramSample {
                        name: names::HOP_LATENCY,
                        stream: &s.stream,
                        hop: Some(&h.hop),
                        histogram,
                    });
                }
            }
        }
        out
    }

    /// The sum of every sample called `name` whose extra label value is `label` (any, if `None`).
    pub fn total(&self, name: &str, label: Option<&str>) -> u64 {
        self.samples()
            .iter()
            .filter(|s| s.name == name && (label.is_none() || s.label.map(|(_, v)| v) == label))
            .map(|s| s.value)
            .sum()
    }
}

fn rejection_index(reason: Rejection) -> usize {
    Rejection::ALL
        .iter()
        .position(|&r| r == reason)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lineage::tests::{app, stream};

    fn lineage() -> Lineage {
        Lineage::compile(&[stream(
            "s",
            vec![
                app("p", None, None, Some("c/a")),
                app("q", Some("g"), Some("c/a"), None),
            ],
        )])
        .unwrap()
    }

    #[test]
    fn histogram_bounds_are_valid() {
        assert!(Histogram::<u64>::new_with_bounds(1, HISTOGRAM_MAX_MS, HISTOGRAM_SIGFIG).is_ok());
    }

    #[test]
    fn counts_are_readable_by_name_and_label() {
        let mut m = Metrics::for_lineage(&lineage());
        let s = m.stream(StreamId(0)).unwrap();
        s.count_seen();
        s.hop(HopIx(1)).count_lost(Reason::Expired);
        s.hop(HopIx(1))
            .count_duplicate(DuplicateKind::DeliveredTwice);
        m.count_rejected(Rejection::UnknownApp);
        m.count_malformed("not_json");
        assert_eq!(m.total(names::LOST, Some("expired")), 1);
        assert_eq!(m.total(names::LOST, Some("committed_past")), 0);
        assert_eq!(m.total(names::DUPLICATES, None), 1);
        assert_eq!(m.total(names::MESSAGES_IN_MEMORY, None), 1);
        assert_eq!(m.total(names::TRACES_REJECTED, Some("unknown_app")), 1);
        assert_eq!(m.malformed("not_json"), 1);
        let lost = m
            .samples()
            .into_iter()
            .find(|s| s.name == names::LOST && s.value == 1)
            .unwrap();
        assert_eq!(lost.hop.map(|h| h.app.as_str()), Some("q"));
        assert_eq!(lost.stream, Some("s"));
    }

    #[test]
    fn negative_latency_is_clamped_and_counted() {
        let mut m = Metrics::for_lineage(&lineage());
        let s = m.stream(StreamId(0)).unwrap();
        s.hop(HopIx(1)).record_latency(-5);
        s.hop(HopIx(1)).record_latency(40);
        s.count_complete(Some(-1));
        let hop = &m.streams()[0].hops()[1];
        assert_eq!(hop.clock_skew(), 1);
        let latency = hop.latency().unwrap();
        assert_eq!((latency.len(), latency.min(), latency.max()), (2, 0, 40));
        assert_eq!(m.streams()[0].end_to_end_clock_skew(), 1);
        assert_eq!(m.streams()[0].end_to_end().max(), 0);
    }

    #[test]
    fn merge_sums_counters_and_histograms_by_name() {
        let l = lineage();
        let mut a = Metrics::for_lineage(&l);
        let mut b = Metrics::for_lineage(&l);
        for m in [&mut a, &mut b] {
            let s = m.stream(StreamId(0)).unwrap();
            s.count_seen();
            s.hop(HopIx(1)).record_latency(10);
            s.hop(HopIx(1)).count_stuck();
        }
        b.count_malformed("bad");
        a.merge(&b);
        assert_eq!(a.total(names::MESSAGES_SEEN, None), 2);
        assert_eq!(a.total(names::STUCK, None), 2);
        assert_eq!(a.malformed("bad"), 1);
        assert_eq!(a.streams()[0].hops()[1].latency().unwrap().len(), 2);
        assert_eq!(a.histograms().len(), 2, "end to end and the one read hop");
        // A stream only the other side knows is adopted whole.
        let other =
            Lineage::compile(&[stream("t", vec![app("p", None, None, Some("c/a"))])]).unwrap();
        a.merge(&Metrics::for_lineage(&other));
        assert!(a.stream_by_name("t").is_some());
    }
}
