//! The latency histograms the detector keeps (HDR, in the unit the catalog says they are
//! recorded in: milliseconds) and their conversion into a family's exported buckets.

use hdrhistogram::Histogram;

use super::catalog::MetricDef;
use super::exposition::HistogramValue;

/// Highest latency a histogram tells apart; larger values are recorded as this.
pub const HISTOGRAM_MAX_MS: u64 = 7 * 24 * 3_600_000;
/// Two significant digits: 1% resolution at a few kilobytes per histogram.
const HISTOGRAM_SIGFIG: u8 = 2;

pub(crate) fn new_histogram() -> Histogram<u64> {
    // Constant bounds that `histogram_bounds_are_valid` checks: this cannot fail at run time.
    Histogram::new_with_bounds(1, HISTOGRAM_MAX_MS, HISTOGRAM_SIGFIG)
        .expect("constant histogram bounds are valid")
}

/// Adds `src` into `dst`, saturating values `dst` cannot hold instead of failing.
pub(super) fn merge_histogram(dst: &mut Histogram<u64>, src: &Histogram<u64>) {
    if dst.add(src).is_err() {
        for v in src.iter_recorded() {
            dst.saturating_record_n(v.value_iterated_to(), v.count_at_value());
        }
    }
}

/// Records a latency, clamping a negative one (clock skew) to 0; says whether it clamped.
pub(crate) fn record_latency(histogram: &mut Histogram<u64>, millis: i64) -> bool {
    histogram.saturating_record(u64::try_from(millis).unwrap_or(0));
    millis < 0
}

/// `histogram`, recorded in `def.recorded_in`, as the buckets, sum and count of histogram
/// family `def` in its exported unit.
///
/// A value counts under a bound when the HDR bucket holding it starts at or below the bound
/// (as `Histogram::count_between(0, bound)`): exact below 256 ms, within 1% above. The sum is
/// the middle of each HDR bucket times its count, so it too is within the histogram's 1%.
pub fn exported(def: &MetricDef, histogram: &Histogram<u64>) -> HistogramValue {
    let mut per_bucket = vec![0u64; def.buckets.len()];
    let mut sum = 0f64;
    for v in histogram.iter_recorded() {
        let value = v.value_iterated_to();
        let count = v.count_at_value();
        sum += histogram.median_equivalent(value) as f64 * count as f64;
        let lowest = histogram.lowest_equivalent(value);
        if let Some(ix) = def.buckets.iter().position(|&le| lowest <= le) {
            per_bucket[ix] += count;
        }
    }
    let mut cumulative = 0;
    let buckets = def
        .buckets
        .iter()
        .zip(per_bucket)
        .map(|(&le, n)| {
            cumulative += n;
            (def.exported(le as f64), cumulative)
        })
        .collect();
    HistogramValue {
        buckets,
        sum: def.exported(sum),
        count: histogram.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::catalog::{self, LATENCY_BUCKETS_MS};

    #[test]
    fn histogram_bounds_are_valid() {
        assert!(Histogram::<u64>::new_with_bounds(1, HISTOGRAM_MAX_MS, HISTOGRAM_SIGFIG).is_ok());
    }

    #[test]
    fn buckets_convert_milliseconds_to_seconds_at_their_bounds() {
        let mut h = new_histogram();
        for ms in [0, 5, 6, 250, 3_600_000, 5_000_000] {
            h.record(ms).expect("in range");
        }
        let v = exported(&catalog::HOP_LATENCY, &h);
        assert_eq!(v.count, 6);
        assert_eq!(v.buckets.len(), LATENCY_BUCKETS_MS.len());
        let at = |le: f64| v.buckets.iter().find(|b| b.0 == le).expect("a bound").1;
        assert_eq!(at(0.005), 2, "0 and 5 ms: a bound is inclusive");
        assert_eq!(at(0.01), 3);
        assert_eq!(at(0.25), 4);
        assert_eq!(at(1800.0), 4);
        assert_eq!(at(3600.0), 5);
        // 5 000 000 ms is above the last bound: only in +Inf (= count).
        assert_eq!(v.buckets.last().map(|b| b.1), Some(5));
        assert!((v.sum - 8_600.261).abs() < 8_600.261 * 0.01, "{}", v.sum);
        let empty = exported(&catalog::END_TO_END_LATENCY, &new_histogram());
        assert_eq!((empty.count, empty.sum), (0, 0.0));
        assert!(empty.buckets.iter().all(|b| b.1 == 0));
    }

    #[test]
    fn every_bound_is_the_declared_one_in_the_exported_unit() {
        let v = exported(&catalog::HOP_LATENCY, &new_histogram());
        let bounds: Vec<f64> = v.buckets.iter().map(|b| b.0).collect();
        let expected: Vec<f64> = LATENCY_BUCKETS_MS
            .iter()
            .map(|&ms| ms as f64 / 1_000.0)
            .collect();
        assert_eq!(bounds, expected);
        assert_eq!((bounds[0], bounds[17]), (0.005, 3600.0));
    }
}
