use crate::canary::follow::{FollowReading, Missing, Track, horizon};

const HORIZON: i64 = 10_000;
const TIMEOUT: i64 = 2_000;

fn first(measure: bool, reordered: bool) -> FollowReading {
    FollowReading::First { measure, reordered }
}

#[test]
fn an_unbroken_run_is_consumed_with_no_gap() {
    let mut t = Track::new();
    for seq in 5..10 {
        assert_eq!(t.read(seq, 0, 1, 0), first(true, false));
    }
    let j = t.judge(100_000, HORIZON, TIMEOUT);
    assert!(j.lost.is_empty());
    assert_eq!((j.open, t.first(), t.next()), (0, Some(5), 10));
    assert_eq!(t.counts().consumed, 5);
}

#[test]
fn a_gap_is_lag_until_the_horizon_then_lost_exactly() {
    let mut t = Track::new();
    t.read(0, 0, 1, 0);
    t.read(3, 0, 2, 1_000);
    let j = t.judge(3_500, HORIZON, TIMEOUT);
    assert!(j.lost.is_empty(), "before the horizon a gap is lag");
    assert_eq!((j.open, j.overdue), (2, 2));
    let j = t.judge(11_000, HORIZON, TIMEOUT);
    assert_eq!(
        j.lost,
        vec![
            Missing {
                sequence: 1,
                leader: 2
            },
            Missing {
                sequence: 2,
                leader: 2
            }
        ]
    );
    assert_eq!(t.counts().lost, 2);
    assert_eq!(t.read(2, 1, 2, 12_000), FollowReading::Late);
    assert_eq!(t.counts().late, 1);
}

#[test]
fn a_gap_filled_by_a_resend_or_a_reorder_is_not_lost() {
    let mut t = Track::new();
    t.read(0, 0, 1, 0);
    t.read(3, 0, 1, 0);
    assert_eq!(t.read(1, 1, 1, 10), first(false, false), "the owed re-send");
    assert_eq!(t.read(2, 0, 1, 20), first(true, true), "a reorder");
    assert!(t.judge(100_000, HORIZON, TIMEOUT).lost.is_empty());
    let c = t.counts();
    assert_eq!((c.consumed, c.reordered, c.lost), (4, 1, 0));
}

#[test]
fn copies_are_duplicates_under_one_attempt_and_resent_copies_under_another() {
    let mut t = Track::new();
    t.read(0, 0, 1, 0);
    t.read(1, 0, 1, 0);
    assert_eq!(t.read(1, 0, 1, 0), FollowReading::Duplicate);
    assert_eq!(t.read(1, 1, 1, 0), FollowReading::ResentCopy);
    assert_eq!(t.read(1, 1, 1, 0), FollowReading::Duplicate);
    let c = t.counts();
    assert_eq!((c.consumed, c.duplicated, c.resent_copies), (2, 2, 1));
}

#[test]
fn what_came_before_the_first_read_and_wild_jumps_are_not_judged() {
    let mut t = Track::new();
    t.read(50, 0, 1, 0);
    assert_eq!(t.read(49, 1, 1, 0), FollowReading::BeforeStart);
    assert_eq!(t.read(50 + 1 + 200_000, 0, 1, 0), FollowReading::Unexpected);
    assert_eq!(t.open_gaps(), 0);
    assert_eq!(t.next(), 51);
}

#[test]
fn the_horizon_covers_every_resend() {
    assert_eq!(horizon(2_000, 5_000), 4 * 2_000 + 5_000);
}
