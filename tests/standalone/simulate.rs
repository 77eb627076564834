//! `cairn simulate` end to end on a broker: the truth matches the injected faults exactly
//! where the faults make it exact. The mock cluster by default; `CAIRN_TEST_BROKERS` for a
//! real broker. The faults only a real broker can play are in the `real_broker` binary.

use std::collections::BTreeSet;

use cairn_core::model::Reason;
use cairn_sim::simulate::choice::picks;
use cairn_sim::simulate::{Scenario, SimulateOptions, run, topics_to_create};
use cairn_sim::truth::Outcome;
use cairn_testkit::kafka::TestKafka;
use cairn_testkit::simulate::fan_out::{ids_with, lines, write_config};

#[tokio::test(flavor = "multi_thread")]
async fn truth_matches_the_injected_faults() {
    let kafka = TestKafka::start();
    let dir = tempfile::tempdir().unwrap();
    let s = write_config(dir.path(), &kafka.bootstrap);
    let scenario = format!(
        r#"
cairn_config = "cairn.toml"
run_id = "r{s}"
partitions = 2
drain_timeout = "60s"
[apps.api]
messages = 200
[apps.enricher]
filter_share = 0.1
[apps.enricher.faults]
drop_share = 0.1
duplicate_share = 0.05
[apps.archiver.faults]
skip_share = 0.1
stall = {{ after = 50, for = "1s" }}
[apps.sink.faults]
crash_after = 40
"#
    );
    let scenario = Scenario::from_toml_str(&scenario, dir.path()).unwrap();
    for (_, topic, partitions) in topics_to_create(&scenario) {
        kafka.create_topic(&topic, partitions).await;
    }
    let out = dir.path().join("out");
    let report = tokio::task::block_in_place(|| {
        run(
            &scenario,
            &SimulateOptions {
                out: out.clone(),
                skip_topic_creation: true,
                ..Default::default()
            },
        )
    })
    .unwrap();
    println!("{}", report.summary());
    let truth = &report.truth;
    let ids: Vec<String> = (0..200).map(|n| format!("r{s}-api-{n:06}")).collect();
    // Every message has a line for every hop: api write, archiver read, enricher read and
    // write, sink read.
    assert_eq!(truth.len(), 5 * ids.len());
    assert!(
        lines(truth, "api", &format!("local/t1-{s}"))
            .iter()
            .all(|r| r.outcome == Outcome::Delivered && r.hop.group.is_none())
    );
    assert_eq!(report.undecided, 0);
    let t1 = format!("local/t1-{s}");
    let t2 = format!("local/t2-{s}");

    // archiver: skips (untraced, committed past) are lost committed_past; the stall is not.
    let archiver = lines(truth, "archiver", &t1);
    let skipped: BTreeSet<String> = ids
        .iter()
        .filter(|id| picks("archiver", "skip", id, 0.1))
        .cloned()
        .collect();
    assert!(!skipped.is_empty());
    assert_eq!(ids_with(&archiver, Outcome::Lost), skipped);
    assert!(
        archiver
            .iter()
            .filter(|r| r.outcome == Outcome::Lost)
            .all(|r| r.reason == Some(Reason::CommittedPast) && r.passed_at.is_some())
    );
    assert_eq!(
        ids_with(&archiver, Outcome::Delivered).len(),
        ids.len() - skipped.len()
    );

    // enricher: filtered and dropped ids exactly; dropped → lost_in_app at its write hop.
    let filtered: BTreeSet<String> = ids
        .iter()
        .filter(|id| picks("enricher", "filter", id, 0.1))
        .cloned()
        .collect();
    let dropped: BTreeSet<String> = ids
        .iter()
        .filter(|id| !filtered.contains(*id) && picks("enricher", "drop", id, 0.1))
        .cloned()
        .collect();
    let doubled: BTreeSet<String> = ids
        .iter()
        .filter(|id| {
            !filtered.contains(*id)
                && !dropped.contains(*id)
                && picks("enricher", "duplicate", id, 0.05)
        })
        .cloned()
        .collect();
    assert!(!filtered.is_empty() && !dropped.is_empty() && !doubled.is_empty());
    let enricher_reads = lines(truth, "enricher", &t1);
    assert_eq!(
        ids_with(&enricher_reads, Outcome::Delivered).len(),
        ids.len()
    );
    let enricher_writes = lines(truth, "enricher", &t2);
    assert_eq!(ids_with(&enricher_writes, Outcome::Filtered), filtered);
    assert_eq!(ids_with(&enricher_writes, Outcome::Lost), dropped);
    assert!(
        enricher_writes
            .iter()
            .filter(|r| r.outcome == Outcome::Lost)
            .all(|r| r.reason == Some(Reason::LostInApp) && r.passed_at.is_some())
    );
    assert_eq!(ids_with(&enricher_writes, Outcome::Duplicated), doubled);

    // sink: unreached below a drop, filtered below a filter; the crash redelivers (duplicates
    // beyond the written-twice ones) but loses nothing.
    let sink = lines(truth, "sink", &t2);
    assert_eq!(ids_with(&sink, Outcome::Unreached), dropped);
    assert_eq!(ids_with(&sink, Outcome::Filtered), filtered);
    assert!(ids_with(&sink, Outcome::Lost).is_empty());
    let sink_doubled = ids_with(&sink, Outcome::Duplicated);
    assert!(
        doubled.is_subset(&sink_doubled),
        "written twice, read twice"
    );

    // The file is the same truth.
    let file = std::fs::File::open(out.join("truth.jsonl")).unwrap();
    let read = cairn_sim::truth::read_truth(std::io::BufReader::new(file)).unwrap();
    assert_eq!(&read, truth);
}
