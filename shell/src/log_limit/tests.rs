use super::*;

#[test]
fn the_first_few_per_interval_pass_and_the_rest_are_counted() {
    let mut limiter = LogLimiter::new(10_000, 3);
    let admitted: Vec<Admit> = (0..10).map(|i| limiter.admit("not_json", i)).collect();
    assert_eq!(&admitted[..3], &[Admit::Log { skipped: 0 }; 3]);
    assert!(admitted[3..].iter().all(|a| *a == Admit::Skip));
    // Another kind has its own allowance.
    assert_eq!(limiter.admit("wrong_type", 5), Admit::Log { skipped: 0 });
    // The next window's first line carries what the last one held back.
    assert_eq!(limiter.admit("not_json", 10_000), Admit::Log { skipped: 7 });
    assert_eq!(limiter.admit("not_json", 10_001), Admit::Log { skipped: 0 });
}

#[test]
fn a_storm_that_stops_is_summarised_once() {
    let mut limiter = LogLimiter::new(1_000, 1);
    for t in 0..5 {
        limiter.admit("bad_gap", t);
    }
    assert!(
        limiter.due_summaries(999).is_empty(),
        "not before its window ends"
    );
    assert_eq!(limiter.due_summaries(1_000), vec![("bad_gap", 4)]);
    assert!(limiter.due_summaries(5_000).is_empty(), "reported once");
    assert_eq!(limiter.admit("bad_gap", 6_000), Admit::Log { skipped: 0 });
}

#[test]
fn every_line_is_either_written_or_counted_as_skipped() {
    let mut limiter = LogLimiter::new(100, 4);
    let (mut written, mut reported_skipped, mut held) = (0u64, 0u64, 0u64);
    for t in 0..10_000 {
        match limiter.admit("k", t / 3) {
            Admit::Log { skipped } => {
                written += 1;
                reported_skipped += skipped;
            }
            Admit::Skip => held += 1,
        }
    }
    let tail: u64 = limiter.due_summaries(i64::MAX).iter().map(|(_, n)| n).sum();
    assert_eq!(
        reported_skipped + tail,
        held,
        "every skipped line is reported"
    );
    assert_eq!(written + held, 10_000);
    assert!(
        written < 200,
        "{written} lines written for 10 000 in 34 windows"
    );
}
