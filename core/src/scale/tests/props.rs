//! Properties over arbitrary series: the bounds always hold.

use proptest::prelude::*;

use super::super::{Planner, ScaleSample};
use super::{T0, settings};

proptest! {
    /// Whatever the traffic, commits, members and bounds, a recommendation lies within
    /// [min(min, cap), cap] with cap = min(max, partitions), and never above the partitions.
    #[test]
    fn never_more_instances_than_partitions(
        steps in prop::collection::vec((0i64..50_000, 0i64..50_000, 0u32..20, any::<bool>()), 12..60),
        partitions in 1u32..40,
        min in 1u32..10,
        extra in 0u32..50,
    ) {
        let mut s = settings();
        s.min_instances = min;
        s.max_instances = min + extra;
        s.min_samples = 5;
        let mut planner = Planner::new();
        let (mut end, mut committed) = (0i64, 0i64);
        for (i, (produced, consumed, members, known)) in steps.into_iter().enumerate() {
            end += produced;
            committed = (committed + consumed).min(end);
            let sample = ScaleSample {
                at: T0 + i as i64 * 1000,
                log_end: known.then_some(end),
                committed: Some(committed),
                lag_records: Some(end - committed),
                members: Some(members),
                partitions,
            };
            let advice = planner.observe("a", "g", &s, sample);
            let cap = s.max_instances.min(partitions);
            if let Some(n) = advice.recommendation {
                prop_assert!(n <= partitions && n <= cap, "{} > {}: {:?}", n, cap, advice);
                prop_assert!(n >= s.min_instances.min(cap));
            }
            for value in [advice.required_rate, advice.forecast.map(|f| f.incoming_records)] {
                prop_assert!(value.is_none_or(|v| v >= 0.0), "{:?}", advice);
            }
        }
    }
}
