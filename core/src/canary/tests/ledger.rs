use crate::canary::ledger::{Ledger, Loss, MAX_ATTEMPTS, Reading};

/// Sends `n` sequences through leader 1, each acknowledged at offset = seq.
fn sent_and_acked(n: u64) -> Ledger {
    let mut l = Ledger::new();
    for i in 0..n {
        assert_eq!(l.send(1), i);
        assert!(l.acknowledged(i, i as i64, 0));
    }
    l
}

#[test]
fn everything_read_once_is_neither_lost_nor_duplicated_and_is_forgotten() {
    let mut l = sent_and_acked(100);
    for i in 0..100 {
        assert!(matches!(
            l.read(i, 0, i as i64),
            Reading::First {
                measure: true,
                reordered: false
            }
        ));
    }
    let j = l.judge(10_000, 5_000);
    assert!(j.lost.is_empty());
    assert_eq!((j.unread, j.overdue), (0, 0));
    let c = l.counts();
    assert_eq!(
        (c.produced, c.acknowledged, c.consumed, c.lost, c.duplicated),
        (100, 100, 100, 0, 0)
    );
    assert_eq!(l.open(), 0, "settled sequences are forgotten");
}

#[test]
fn an_acknowledged_sequence_the_consumer_passed_is_lost_exactly() {
    let mut l = sent_and_acked(10);
    for i in [0, 1, 2, 4, 5, 7, 8, 9] {
        l.read(i, 0, i as i64);
    }
    let j = l.judge(0, 5_000);
    assert_eq!(
        j.lost,
        vec![
            Loss {
                sequence: 3,
                offset: 3,
                leader: 1
            },
            Loss {
                sequence: 6,
                offset: 6,
                leader: 1
            }
        ]
    );
    assert_eq!(l.counts().lost, 2);
    assert!(l.judge(0, 5_000).lost.is_empty(), "a loss is declared once");
}

#[test]
fn an_unread_sequence_the_consumer_has_not_reached_is_lag_not_loss() {
    let mut l = sent_and_acked(10);
    for i in 0..5 {
        l.read(i, 0, i as i64);
    }
    let j = l.judge(1_000, 5_000);
    assert!(j.lost.is_empty());
    assert_eq!((j.unread, j.overdue), (5, 0));
    let j = l.judge(6_000, 5_000);
    assert!(j.lost.is_empty(), "a slow consumer is never loss");
    assert_eq!(j.overdue, 5);
}

#[test]
fn a_sequence_read_before_its_acknowledgement_is_not_lost() {
    let mut l = Ledger::new();
    let s = l.send(1);
    l.read(s, 0, 0);
    l.passed(5);
    assert!(l.judge(0, 1).lost.is_empty());
    l.acknowledged(s, 0, 0);
    assert!(l.judge(0, 1).lost.is_empty());
    assert_eq!(l.open(), 0);
}

#[test]
fn a_truncated_offset_reused_by_another_record_is_a_loss() {
    // seq 0 acked at offset 5; after an unclean election offset 5 holds seq 1.
    let mut l = Ledger::new();
    let a = l.send(2);
    let b = l.send(3);
    l.acknowledged(a, 5, 0);
    l.acknowledged(b, 5, 0);
    l.read(b, 0, 5);
    let j = l.judge(0, 1_000);
    assert_eq!(
        j.lost,
        vec![Loss {
            sequence: 0,
            offset: 5,
            leader: 2
        }]
    );
}

#[test]
fn copies_are_duplicates_under_one_attempt_and_resent_copies_under_another() {
    let mut l = Ledger::new();
    let s = l.send(1);
    assert!(l.failed(s), "a failed first send is re-sent");
    assert_eq!(l.resend(s), Some(1));
    assert_eq!(l.resend(s), None, "one re-send per failure");
    l.acknowledged(s, 1, 0);
    // The failed first send was written after all (a timeout), then the re-send.
    assert!(matches!(l.read(s, 0, 0), Reading::First { .. }));
    assert_eq!(l.read(s, 1, 1), Reading::ResentCopy);
    assert_eq!(l.read(s, 1, 1), Reading::Duplicate);
    let c = l.counts();
    assert_eq!(
        (c.consumed, c.duplicated, c.resent_copies, c.resent),
        (1, 1, 1, 1)
    );
    assert_eq!(l.open(), 0);
    // Settled: another copy of the first send is a duplicate.
    assert_eq!(l.read(s, 0, 2), Reading::Duplicate);
}

#[test]
fn a_resent_first_copy_is_read_but_not_measured() {
    let mut l = Ledger::new();
    let s = l.send(1);
    l.failed(s);
    l.resend(s);
    l.acknowledged(s, 0, 0);
    assert_eq!(
        l.read(s, 1, 0),
        Reading::First {
            measure: false,
            reordered: false
        }
    );
}

#[test]
fn a_sequence_is_abandoned_after_every_attempt_failed_and_never_expected() {
    let mut l = Ledger::new();
    let s = l.send(1);
    let mut resends = 0;
    while l.failed(s) {
        l.resend(s).unwrap();
        resends += 1;
    }
    assert_eq!(resends, MAX_ATTEMPTS - 1);
    assert_eq!(l.counts().abandoned, 1);
    l.passed(100);
    assert!(l.judge(0, 1).lost.is_empty());
    assert_eq!(l.open(), 0);
    assert_eq!(
        l.read(s, 0, 3),
        Reading::Late,
        "a copy that was written after all"
    );
}

#[test]
fn first_sends_read_out_of_order_are_reorders() {
    let mut l = sent_and_acked(3);
    l.read(0, 0, 0);
    l.read(2, 0, 1);
    assert_eq!(
        l.read(1, 0, 2),
        Reading::First {
            measure: true,
            reordered: true
        }
    );
    assert_eq!(l.counts().reordered, 1);
}

#[test]
fn unknown_sequences_are_unexpected_and_lost_ones_read_later_are_late() {
    let mut l = sent_and_acked(2);
    assert_eq!(l.read(99, 0, 0), Reading::Unexpected);
    l.read(1, 0, 1);
    assert_eq!(l.judge(0, 1).lost.len(), 1);
    assert_eq!(l.read(0, 0, 0), Reading::Late);
    assert_eq!(l.counts().late, 1);
}

#[test]
fn a_sequence_refused_before_sending_is_taken_back() {
    let mut l = Ledger::new();
    let s = l.send(1);
    assert!(l.cancel(s));
    assert_eq!(l.send(1), s, "the same number is drawn again");
    assert_eq!(l.counts().produced, 1);
    l.acknowledged(s, 0, 0);
    assert!(!l.cancel(s), "an acknowledged sequence stays");
}

#[test]
fn a_produce_only_ledger_settles_on_acknowledgement_and_never_judges_loss() {
    let mut l = Ledger::produce_only();
    let a = l.send(1);
    let b = l.send(1);
    l.acknowledged(a, 0, 0);
    l.passed(10);
    let j = l.judge(100_000, 1);
    assert!(j.lost.is_empty());
    assert_eq!((j.unread, j.overdue), (0, 0));
    assert_eq!(l.open(), 1, "only the unacknowledged one is held");
    l.acknowledged(b, 1, 0);
    assert_eq!(l.open(), 0);
    assert_eq!(l.counts().acknowledged, 2);
}
