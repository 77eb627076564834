//! Every fault `cairn simulate` injects (broker loss aside: see `simulate_broker_loss` in the
//! `real_cluster` binary), played
//! by real apps on a real broker while the real `cairn detect` binary watches, graded by
//! `cairn score` against the simulator's truth: each fault must be found exactly (precision =
//! recall = 1, the right reason, no false alarm), faults that lose nothing must cause no lost
//! verdict, and detect's duplicate counters must equal the true extra copies.
//!
//! Each fault has a stream of its own (`cairn_testkit::simulate`), so each is graded on its own
//! numbers; the streams run at once, watched by one detector. Nine pipelines and a detector
//! at once load the machine, and some faults ride on timing margins, so it takes the broker
//! alone.

use std::collections::HashMap;
use std::time::Instant;

use cairn_core::model::Reason;
use cairn_sim::score::matching::StreamScore;
use cairn_sim::score::report::Report;
use cairn_sim::truth::{Outcome, read_truth};
use cairn_testkit::detect::{EXIT_TIMEOUT, READY_TIMEOUT};
use cairn_testkit::kafka::Sharing;
use cairn_testkit::simulate::{Shape, StreamSpec, World, duplicates, stream, table};

/// What each stream must show.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// Every true loss found with this reason, and nothing else.
    Lost(Reason),
    /// No loss, no lost verdict; the truth has lines with this outcome (the fault happened).
    NoLoss(Outcome),
    /// No loss; the true extra copies of this kind (> 0) all counted by detect.
    Duplicates(&'static str),
}

fn streams() -> Vec<(StreamSpec, Expect)> {
    vec![
        (
            StreamSpec {
                name: "drop",
                shape: Shape::TwoHops,
                scenario: "[apps.api]\nmessages = 300\nrate = 150\n\
                           [apps.proc.faults]\ndrop_share = 0.1\n",
            },
            Expect::Lost(Reason::LostInApp),
        ),
        (
            StreamSpec {
                name: "skip",
                shape: Shape::OneHop,
                scenario: "[apps.api]\nmessages = 300\nrate = 150\n\
                           [apps.reader.faults]\nskip_share = 0.1\n",
            },
            Expect::Lost(Reason::CommittedPast),
        ),
        (
            StreamSpec {
                name: "written",
                shape: Shape::TwoHops,
                scenario: "[apps.api]\nmessages = 300\nrate = 150\n\
                           [apps.api.faults]\nduplicate_share = 0.05\n\
                           [apps.proc.faults]\nduplicate_share = 0.05\n",
            },
            Expect::Duplicates("written_twice"),
        ),
        (
            StreamSpec {
                name: "redeliver",
                shape: Shape::TwoHops,
                scenario: "[apps.api]\nmessages = 300\nrate = 150\n\
                           [apps.sink.faults]\ncrash_after = 40\n",
            },
            Expect::Duplicates("delivered_twice"),
        ),
        (
            StreamSpec {
                name: "stall",
                shape: Shape::OneHop,
                scenario: "[apps.api]\nmessages = 300\nrate = 100\n\
                           [apps.reader.faults]\nstall = { after = 30, for = \"4s\" }\n",
            },
            Expect::NoLoss(Outcome::Delivered),
        ),
        (
            StreamSpec {
                name: "intruder",
                shape: Shape::TwoHops,
                scenario: "[apps.api]\nmessages = 300\nrate = 80\n\
                           [apps.proc.faults]\nintruder = { after = 30, for = \"2s\" }\n",
            },
            Expect::Lost(Reason::CommittedPast),
        ),
        (
            StreamSpec {
                name: "expiry",
                shape: Shape::OneHop,
                scenario: "[topics.\"{t1}\"]\n\
                           config = { \"retention.ms\" = \"1500\", \"segment.ms\" = \"200\" }\n\
                           [apps.api]\nmessages = 240\nrate = 80\n\
                           [apps.reader.faults]\nstall = { after = 20, for = \"10s\" }\n",
            },
            // The api is done after 3 s; retention (1.5 s, checked every 2 s by the broker
            // of deploy/kafka) has passed everything by about 7 s, and the reader comes back
            // (and commits the log start) after 10 s. The margin matters: per the decision
            // rule a group that has also committed past the message makes it committed_past,
            // and detect needs the expiry to hold for first check + backoff + confirmation
            // before the commit moves.
            Expect::Lost(Reason::Expired),
        ),
        (
            StreamSpec {
                name: "reset",
                shape: Shape::OneHop,
                scenario: "[apps.api]\nmessages = 300\nrate = 80\n\
                           [apps.reader.faults]\nstall = { after = 50, for = \"2s\" }\n\
                           offset_reset_after = 60\n",
            },
            Expect::Lost(Reason::CommittedPast),
        ),
        (
            StreamSpec {
                name: "filter",
                shape: Shape::TwoHops,
                scenario: "[apps.api]\nmessages = 300\nrate = 150\n\
                           [apps.proc]\nfilter_share = 0.2\n",
            },
            Expect::NoLoss(Outcome::Filtered),
        ),
    ]
}

/// Whether every true loss has a detection and every duplicate kind is fully counted.
fn complete(report: &Report) -> bool {
    report
        .scores
        .streams
        .iter()
        .all(|s| s.detected == s.lost_true && s.duplicates.iter().all(|d| d.found == Some(d.truth)))
}

/// What is wrong with one stream's numbers, if anything.
fn check(
    s: &StreamScore,
    expect: Expect,
    outcomes: &HashMap<Outcome, usize>,
    problems: &mut Vec<String>,
) {
    let name = &s.stream;
    let mut fail = |what: String| problems.push(format!("{name}: {what}"));
    check_no_false_alarm_nor_stray_count(s, &mut fail);
    match expect {
        Expect::Lost(reason) => check_found_exactly(s, reason, &mut fail),
        Expect::NoLoss(outcome) => {
            check_lost_nothing(s, &mut fail);
            if outcomes.get(&outcome).copied().unwrap_or(0) == 0 {
                fail(format!("no {outcome:?} line in the truth"));
            }
        }
        Expect::Duplicates(kind) => {
            check_lost_nothing(s, &mut fail);
            check_duplicates_counted(s, kind, &mut fail);
        }
    }
}

/// What every stream must show: no false alarm, nothing stuck, and detect's count of each
/// duplicate kind equal to the truth's.
fn check_no_false_alarm_nor_stray_count(s: &StreamScore, fail: &mut impl FnMut(String)) {
    if s.false_alarms != 0 {
        fail(format!(
            "{} false alarms ({} retracted, {} contradicted by the truth)",
            s.false_alarms, s.retracted, s.false_positives
        ));
    }
    if s.stuck != Some(0) {
        fail(format!("stuck {:?}, expected 0", s.stuck));
    }
    // Only the duplicates a stream injects: a stray one elsewhere would show as found ≠ truth.
    for d in &s.duplicates {
        if d.found != Some(d.truth) {
            fail(format!(
                "{} extra copies: truth {}, detect counted {:?}",
                d.kind, d.truth, d.found
            ));
        }
    }
}

/// A fault that loses: every true loss found with `reason`, no other reason, each with a delay.
fn check_found_exactly(s: &StreamScore, reason: Reason, fail: &mut impl FnMut(String)) {
    if s.lost_true == 0 {
        fail("the fault lost nothing: the scenario did not exercise it".into());
    }
    if s.precision != Some(1.0) || s.recall != Some(1.0) {
        fail(format!(
            "precision {:?}, recall {:?} ({} detected of {} lost, {} lost verdicts)",
            s.precision, s.recall, s.detected, s.lost_true, s.lost_verdicts
        ));
    }
    if s.wrong_reason != 0 {
        fail(format!(
            "{} detections with the wrong reason",
            s.wrong_reason
        ));
    }
    for r in &s.by_reason {
        if r.reason != reason && (r.lost_true > 0 || r.verdicts > 0) {
            fail(format!(
                "reason {}: {} true, {} verdicts; only {} expected",
                r.reason.as_str(),
                r.lost_true,
                r.verdicts,
                reason.as_str()
            ));
        }
        if r.reason == reason && (r.precision != Some(1.0) || r.recall != Some(1.0)) {
            fail(format!(
                "{}: precision {:?}, recall {:?}",
                reason.as_str(),
                r.precision,
                r.recall
            ));
        }
    }
    if s.delay.is_none() || s.delay_unknown != 0 {
        fail(format!(
            "delay {:?}, {} detections without passed_at",
            s.delay, s.delay_unknown
        ));
    }
}

/// A fault that loses nothing: no true loss and no lost verdict.
fn check_lost_nothing(s: &StreamScore, fail: &mut impl FnMut(String)) {
    if s.lost_true != 0 || s.lost_verdicts != 0 {
        fail(format!(
            "{} true losses, {} lost verdicts; expected none",
            s.lost_true, s.lost_verdicts
        ));
    }
}

/// A fault that doubles: the truth has extra copies of `kind`, and detect counted them all.
fn check_duplicates_counted(s: &StreamScore, kind: &str, fail: &mut impl FnMut(String)) {
    let (truth, found) = duplicates(s, kind);
    if truth == 0 {
        fail(format!("no {kind} in the truth: the fault did not happen"));
    }
    if found != Some(truth) {
        fail(format!("{kind}: truth {truth}, detect counted {found:?}"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_fault_is_found_exactly_on_a_real_broker() {
    let started = Instant::now();
    let specs = streams();
    let world = World::on_real_broker(
        crate::cairn(),
        Sharing::Exclusive,
        "simdetect",
        specs.iter().map(|(spec, _)| spec.clone()).collect(),
    )
    .await;
    // Killed when dropped, if the test fails before it is stopped.
    let mut detect = world.spawn_detect();
    detect.wait_ready(READY_TIMEOUT).await;

    let truth_path = tokio::task::block_in_place(|| world.simulate_all());
    println!("simulations done after {:?}", started.elapsed());
    let report =
        tokio::task::block_in_place(|| world.score_when_complete(&truth_path, &detect, complete));
    println!("{}", table(&report));
    println!("scored after {:?}", started.elapsed());

    let truth = read_truth(std::io::BufReader::new(
        std::fs::File::open(&truth_path).expect("the truth"),
    ))
    .expect("a valid truth");
    let mut problems = Vec::new();
    for (spec, expect) in &specs {
        let mut outcomes = HashMap::new();
        for record in truth.iter().filter(|r| r.stream == spec.name) {
            *outcomes.entry(record.outcome).or_insert(0) += 1;
        }
        check(
            stream(&report, spec.name),
            *expect,
            &outcomes,
            &mut problems,
        );
    }
    assert!(
        problems.is_empty(),
        "{}\n{}\n{}",
        problems.join("\n"),
        table(&report),
        report.to_text()
    );
    detect.terminate(EXIT_TIMEOUT).await;
    println!("wall time {:?}", started.elapsed());
}
