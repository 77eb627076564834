use std::collections::BTreeSet;

use proptest::prelude::*;

use super::*;

proptest! {
    /// Whatever order offsets are dropped in, the ranges hold exactly those offsets,
    /// ascending, disjoint and not touching (fully merged).
    #[test]
    fn ranges_hold_exactly_the_dropped_offsets(offsets in proptest::collection::vec(0i64..200, 0..120)) {
        let mut ranges = Vec::new();
        for &o in &offsets {
            insert_range(&mut ranges, (o, o));
        }
        let want: BTreeSet<i64> = offsets.iter().copied().collect();
        let got: BTreeSet<i64> = ranges.iter().flat_map(|&(a, b)| a..=b).collect();
        prop_assert_eq!(got, want);
        for pair in ranges.windows(2) {
            prop_assert!(pair[0].1 + 1 < pair[1].0, "{:?}", ranges);
        }
    }
}

#[test]
fn drops_are_grouped_by_where_they_were_and_counted_whole() {
    let mut log = DropLog::default();
    for offset in [5, 6, 7, 9, 7] {
        log.record(Kind::Received, Some("g"), "c/t", (1, offset), 100 + offset);
    }
    log.record(Kind::Sent, None, "c/u", (0, 3), 50);
    let gaps = log.take("s", "app");
    assert!(log.is_empty());
    assert_eq!(gaps.len(), 2);
    let received = gaps.iter().find(|g| g.dropped == Kind::Received).unwrap();
    assert_eq!(received.ranges, vec![(5, 7), (9, 9)]);
    assert_eq!(received.count, 5, "offset 7 was dropped twice");
    assert_eq!((received.from_ts, received.to_ts), (105, 109));
    assert_eq!(received.group.as_deref(), Some("g"));
    let sent = gaps.iter().find(|g| g.dropped == Kind::Sent).unwrap();
    assert_eq!(
        (sent.partition, sent.ranges.clone(), sent.count),
        (0, vec![(3, 3)], 1)
    );
}

#[test]
fn long_reports_are_split_and_the_count_is_kept() {
    let mut log = DropLog::default();
    for n in 0..(MAX_GAP_RANGES as i64 + 10) {
        log.record(Kind::Received, Some("g"), "c/t", (0, n * 2), 0);
    }
    let gaps = log.take("s", "app");
    assert_eq!(gaps.len(), 2);
    assert_eq!(gaps[0].ranges.len(), MAX_GAP_RANGES);
    assert_eq!(
        gaps.iter().map(|g| g.count).sum::<u64>(),
        MAX_GAP_RANGES as u64 + 10
    );
}
