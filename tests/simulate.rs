//! `cairn simulate` end to end on a broker: the truth matches the injected faults exactly
//! where the faults make it exact. The mock cluster by default; `CAIRN_TEST_BROKERS` for a
//! real broker (where the retention fault also runs).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use cairn_core::model::Reason;
use cairn_sim::simulate::choice::picks;
use cairn_sim::simulate::{Scenario, SimulateOptions, run, topics_to_create};
use cairn_sim::truth::{Outcome, TruthRecord};
use common::{TestKafka, rand_suffix};

/// A cairn.toml with fresh topic and group names: api → t1 → enricher → t2 → sink, and an
/// archiver reading t1 too (fan-out).
fn write_config(dir: &Path, bootstrap: &str) -> String {
    let s = rand_suffix().to_lowercase();
    let text = format!(
        r#"
[clusters.local]
bootstrap = "{bootstrap}"
[tracing]
cluster = "local"
topic = "traces-{s}"
group = "cairn-{s}"
[output]
cluster = "local"
topic = "lost-{s}"
[[streams]]
name = "orders"
[[streams.apps]]
app = "api"
writes = "local/t1-{s}"
[[streams.apps]]
app = "enricher"
group = "enricher-{s}"
reads = "local/t1-{s}"
writes = "local/t2-{s}"
[[streams.apps]]
app = "archiver"
group = "archiver-{s}"
reads = "local/t1-{s}"
[[streams.apps]]
app = "sink"
group = "sink-{s}"
reads = "local/t2-{s}"
"#
    );
    std::fs::write(dir.join("cairn.toml"), text).unwrap();
    s
}

fn lines<'a>(truth: &'a [TruthRecord], app: &str, location_prefix: &str) -> Vec<&'a TruthRecord> {
    truth
        .iter()
        .filter(|r| r.hop.app == app && r.hop.location.starts_with(location_prefix))
        .collect()
}

fn ids_with(records: &[&TruthRecord], outcome: Outcome) -> BTreeSet<String> {
    records
        .iter()
        .filter(|r| r.outcome == outcome)
        .map(|r| r.id.clone())
        .collect()
}

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

/// Faults that need a real broker: retention expiry (the mock cluster never moves a log start),
/// an intruder in a group and an offset reset. Skipped without `CAIRN_TEST_BROKERS`.
#[tokio::test(flavor = "multi_thread")]
async fn real_broker_expiry_intruder_and_offset_reset() {
    let kafka = TestKafka::start();
    if !kafka.is_real() {
        println!(
            "skipped: set {} to run against a real broker",
            common::BROKERS_ENV
        );
        return;
    }
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
