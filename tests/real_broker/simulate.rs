//! `cairn simulate` end to end on a real broker, with the faults the mock cluster cannot play:
//! the truth matches the injected faults exactly where the faults make it exact. The other
//! faults run in the `standalone` binary, on the mock cluster or a real broker.

use std::collections::{BTreeMap, BTreeSet};

use cairn_core::model::Reason;
use cairn_sim::simulate::{Scenario, SimulateOptions, run};
use cairn_sim::truth::{Outcome, TruthRecord};
use cairn_testkit::kafka::{Sharing, TestKafka};
use cairn_testkit::simulate::fan_out::{ids_with, lines, write_config};

/// Faults that need a real broker: retention expiry (the mock cluster never moves a log start),
/// an intruder in a group and an offset reset.
#[tokio::test(flavor = "multi_thread")]
async fn real_broker_expiry_intruder_and_offset_reset() {
    let kafka = TestKafka::real(Sharing::Shared).await;
    let dir = tempfile::tempdir().unwrap();
    let s = write_config(dir.path(), &kafka.bootstrap);
    let scenario = format!(
        r#"
cairn_config = "cairn.toml"
run_id = "r{s}"
partitions = 2
drain_timeout = "90s"
[topics."local/t1-{s}"]
config = {{ "retention.ms" = "1500", "segment.ms" = "200" }}
[apps.api]
messages = 400
rate = 80
[apps.enricher.faults]
intruder = {{ after = 30, for = "2s" }}
[apps.archiver.faults]
stall = {{ after = 20, for = "9s" }}
[apps.sink.faults]
stall = {{ after = 50, for = "2s" }}
offset_reset_after = 60
"#
    );
    let scenario = Scenario::from_toml_str(&scenario, dir.path()).unwrap();
    let report = tokio::task::block_in_place(|| {
        run(
            &scenario,
            &SimulateOptions {
                out: dir.path().join("out"),
                ..Default::default()
            },
        )
    })
    .unwrap();
    println!("{}", report.summary());
    let truth = &report.truth;
    assert_eq!(report.undecided, 0);
    let t1 = format!("local/t1-{s}");
    let t2 = format!("local/t2-{s}");
    let reasons = |records: &[&TruthRecord]| -> BTreeSet<&'static str> {
        records
            .iter()
            .filter(|r| r.outcome == Outcome::Lost)
            .map(|r| r.reason.map_or("none", Reason::as_str))
            .collect()
    };

    // The archiver stalled past the retention: what expired before it read it is expired.
    let archiver = lines(truth, "archiver", &t1);
    assert!(
        ids_with(&archiver, Outcome::Lost).len() > 50,
        "{}",
        report.summary()
    );
    assert!(reasons(&archiver).contains("expired"));
    assert!(ids_with(&archiver, Outcome::Delivered).len() >= 20);

    // The intruder took some of the enricher's messages; below them the sink is unreached.
    let enricher = lines(truth, "enricher", &t1);
    let taken = ids_with(&enricher, Outcome::Lost);
    assert!(!taken.is_empty(), "{}", report.summary());
    assert_eq!(reasons(&enricher), BTreeSet::from(["committed_past"]));
    let sink = lines(truth, "sink", &t2);
    assert_eq!(ids_with(&sink, Outcome::Unreached), taken);

    // The reset jumped the sink over what piled up during its stall.
    let jumped = ids_with(&sink, Outcome::Lost);
    assert!(!jumped.is_empty(), "{}", report.summary());
    assert_eq!(reasons(&sink), BTreeSet::from(["committed_past"]));
    // The reset redelivers nothing: a sink line is duplicated only where the enricher wrote
    // the message that many times (the intruder's rebalances can make the enricher process a
    // message twice), never because the sink read one copy twice.
    let written: BTreeMap<&str, u32> = lines(truth, "enricher", &t2)
        .iter()
        .map(|r| (r.id.as_str(), r.count))
        .collect();
    for line in sink.iter().filter(|r| r.outcome == Outcome::Duplicated) {
        assert_eq!(
            Some(&line.count),
            written.get(line.id.as_str()),
            "sink read {} {} times",
            line.id,
            line.count
        );
    }
}
