//! What cairn measures and how it is exported.
//!
//! One [`Metrics`] per detector; the shell sums the detectors of all partitions with
//! [`Metrics::merge`] and exports [`Metrics::samples`] and [`Metrics::histograms`], each
//! tagged with its [`catalog`] family. Labels are bounded: stream and hop names come from the
//! config, reasons and kinds from fixed lists, never from a trace's free text.
//!
//! Layout:
//! - [`catalog`]: every metric family of cairn (detector, shell, tracer), defined once.
//! - [`exposition`]: the Prometheus text format, written from catalog entries.
//! - `counters`: the per-stream and per-hop counters the detector updates.
//! - `histogram`: the latency histograms (HDR, milliseconds) and their exported buckets.
//! - this file: [`Metrics`], the counters of a whole detector, and its samples.

pub mod catalog;
mod counters;
pub mod exposition;
pub(crate) mod histogram;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use self::catalog::MetricDef;
use self::exposition::HistogramValue;
use crate::lineage::{Lineage, Rejection, StreamId};
use crate::model::{HopRef, Reason};

pub use self::counters::{DuplicateKind, HopMetrics, StreamMetrics, Unwatched};
pub use self::histogram::HISTOGRAM_MAX_MS;

/// One exported value: its family, its labels and its value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample<'a> {
    /// A counter or gauge of [`catalog`].
    pub def: &'static MetricDef,
    pub stream: Option<&'a str>,
    pub hop: Option<&'a HopRef>,
    /// A bounded extra label such as `("reason", "expired")`, the family's last.
    pub label: Option<(&'static str, &'static str)>,
    pub value: u64,
}

/// One exported histogram, recorded in its family's `recorded_in` unit.
#[derive(Clone, Debug)]
pub struct HistogramSample<'a> {
    /// A histogram of [`catalog`].
    pub def: &'static MetricDef,
    pub stream: &'a str,
    pub hop: Option<&'a HopRef>,
    pub histogram: &'a Histogram<u64>,
}

impl HistogramSample<'_> {
    /// The buckets, sum and count of the family, in its exported unit.
    pub fn exported(&self) -> HistogramValue {
        histogram::exported(self.def, self.histogram)
    }
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
            .map(|plan| {
                let hops = plan
                    .hops()
                    .iter()
                    .map(|h| HopMetrics::new(h.hop_ref.clone(), h.role))
                    .collect();
                StreamMetrics::new(plan.name.clone(), hops)
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

    /// One stream's counters by name, to change.
    pub(crate) fn stream_by_name_mut(&mut self, name: &str) -> Option<&mut StreamMetrics> {
        self.streams.iter_mut().find(|s| s.stream == name)
    }

    /// One stream's counters by name, made (without hops, after the lineage's streams) for a
    /// stream the lineage no longer has.
    pub(crate) fn stream_entry(&mut self, name: &str) -> &mut StreamMetrics {
        let at = match self.streams.iter().position(|s| s.stream == name) {
            Some(at) => at,
            None => {
                self.streams
                    .push(StreamMetrics::new(name.to_owned(), Vec::new()));
                self.streams.len() - 1
            }
        };
        &mut self.streams[at]
    }

    /// The stream's counters; `None` only for an id from another lineage.
    pub(crate) fn stream(&mut self, id: StreamId) -> Option<&mut StreamMetrics> {
        self.streams.get_mut(usize::from(id.0))
    }

    /// See [`catalog::TRACES_REJECTED`].
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

    /// See [`catalog::TRACES_MALFORMED`].
    pub fn malformed(&self, reason: &str) -> u64 {
        self.malformed.get(reason).copied().unwrap_or(0)
    }

    /// Adds `other` into `self`, matching streams and hops by name.
    pub fn merge(&mut self, other: &Metrics) {
        self.merge_parts(other, true);
    }

    /// Adds the counters and histograms of a detector that no longer runs (its partition was
    /// revoked) into `self`, leaving out its gauges: the messages it held are no longer in this
    /// process's memory.
    pub fn merge_retired(&mut self, other: &Metrics) {
        self.merge_parts(other, false);
    }

    fn merge_parts(&mut self, other: &Metrics, gauges: bool) {
        for (a, b) in self.rejected.iter_mut().zip(other.rejected) {
            *a += b;
        }
        for (reason, count) in &other.malformed {
            *self.malformed.entry(reason).or_default() += count;
        }
        for stream in &other.streams {
            match self.streams.iter_mut().find(|s| s.stream == stream.stream) {
                Some(mine) => mine.merge(stream, gauges),
                None => {
                    let mut adopted = stream.clone();
                    if !gauges {
                        adopted.clear_gauges();
                    }
                    self.streams.push(adopted);
                }
            }
        }
    }

    /// Every counter and gauge with its labels, zero ones included (so series exist from the
    /// start): the trace intake's, then per stream its own and its hops'.
    pub fn samples(&self) -> Vec<Sample<'_>> {
        let mut out = Vec::new();
        self.intake_samples(&mut out);
        for s in &self.streams {
            stream_samples(s, &mut out);
            for h in s.hops() {
                hop_samples(&s.stream, h, &mut out);
            }
        }
        out
    }

    /// Traces rejected by the lineage or not decoded, by reason.
    fn intake_samples<'a>(&'a self, out: &mut Vec<Sample<'a>>) {
        let by_reason = |def, reason, value| Sample {
            def,
            stream: None,
            hop: None,
            label: Some(("reason", reason)),
            value,
        };
        for reason in Rejection::ALL {
            let value = self.rejected(reason);
            out.push(by_reason(&catalog::TRACES_REJECTED, reason.as_str(), value));
        }
        for (&reason, &value) in &self.malformed {
            out.push(by_reason(&catalog::TRACES_MALFORMED, reason, value));
        }
    }

    /// Every latency histogram with its labels.
    pub fn histograms(&self) -> Vec<HistogramSample<'_>> {
        let mut out = Vec::new();
        for s in &self.streams {
            out.push(HistogramSample {
                def: &catalog::END_TO_END_LATENCY,
                stream: &s.stream,
                hop: None,
                histogram: s.end_to_end(),
            });
            for h in s.hops() {
                if let Some(histogram) = h.latency() {
                    out.push(HistogramSample {
                        def: &catalog::HOP_LATENCY,
                        stream: &s.stream,
                        hop: Some(&h.hop),
                        histogram,
                    });
                }
            }
        }
        out
    }

    /// The sum of every sample of family `name` (a catalog entry's `name`) whose extra label
    /// value is `label` (any, if `None`).
    pub fn total(&self, name: &str, label: Option<&str>) -> u64 {
        self.samples()
            .iter()
            .filter(|s| s.def.name == name && (label.is_none() || s.label.map(|(_, v)| v) == label))
            .map(|s| s.value)
            .sum()
    }
}

/// A stream's own counters and gauge.
fn stream_samples<'a>(s: &'a StreamMetrics, out: &mut Vec<Sample<'a>>) {
    for (def, value) in [
        (&catalog::MESSAGES_SEEN, s.messages_seen()),
        (&catalog::MESSAGES_COMPLETE, s.messages_complete()),
        (&catalog::MESSAGES_IN_MEMORY, s.messages_in_memory()),
        (&catalog::MESSAGES_SPILLED, s.messages_spilled()),
        (&catalog::MESSAGES_SHED, s.messages_shed()),
        (&catalog::SHED_TRACES, s.shed_traces()),
        (&catalog::END_TO_END_CLOCK_SKEW, s.end_to_end_clock_skew()),
        (&catalog::DROPPED_TRACES_REPORTED, s.tracer_dropped()),
    ] {
        out.push(Sample {
            def,
            stream: Some(&s.stream),
            hop: None,
            label: None,
            value,
        });
    }
    for reason in Unwatched::ALL {
        out.push(Sample {
            def: &catalog::LINEAGE_UNWATCHED,
            stream: Some(&s.stream),
            hop: None,
            label: Some(("reason", reason.as_str())),
            value: s.unwatched(reason),
        });
    }
}

/// One hop's counters, lost by reason and duplicates by kind.
fn hop_samples<'a>(stream: &'a str, h: &'a HopMetrics, out: &mut Vec<Sample<'a>>) {
    let sample = |def, label, value| Sample {
        def,
        stream: Some(stream),
        hop: Some(&h.hop),
        label,
        value,
    };
    out.push(sample(&catalog::TRACES_SEEN, None, h.traces_seen()));
    for reason in Reason::ALL {
        let label = Some(("reason", reason.as_str()));
        out.push(sample(&catalog::LOST, label, h.lost(reason)));
    }
    for kind in DuplicateKind::ALL {
        let label = Some(("kind", kind.as_str()));
        out.push(sample(&catalog::DUPLICATES, label, h.duplicates(kind)));
    }
    for (def, value) in [
        (&catalog::RETRACTED, h.retracted()),
        (&catalog::STUCK, h.stuck()),
        (&catalog::TRACE_GAPS, h.trace_gaps()),
        (&catalog::UNKNOWN, h.unknown()),
        (&catalog::CLOCK_SKEW, h.clock_skew()),
    ] {
        out.push(sample(def, None, value));
    }
}

fn rejection_index(reason: Rejection) -> usize {
    Rejection::ALL
        .iter()
        .position(|&r| r == reason)
        .unwrap_or(0)
}
