//! `cairn simulate` end to end on a broker: the truth matches the injected faults exactly
//! where the faults make it exact. The mock cluster by default; `CAIRN_TEST_BROKERS` for a
//! real broker. The faults only a real broker can play are in the `real_broker` binary.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use cairn_core::model::Reason;
use cairn_sim::simulate::choice::picks;
use cairn_sim::simulate::{Scenario, SimulateOptions, SimulateReport, run, topics_to_create};
use cairn_sim::truth::{Outcome, TruthRecord};
use cairn_testkit::kafka::TestKafka;
use cairn_testkit::simulate::fan_out::{ids_with, lines, write_config};

/// Messages the api writes.
const MESSAGES: usize = 200;

#[tokio::test(flavor = "multi_thread")]
async fn truth_matches_the_injected_faults() {
    let kafka = TestKafka::start();
    let dir = tempfile::tempdir().unwrap();
    let s = write_config(dir.path(), &kafka.bootstrap);
    let (report, out) = simulate(&kafka, dir.path(), &s).await;
    println!("{}", report.summary());
    let truth = &report.truth;
    let ids: Vec<String> = (0..MESSAGES).map(|n| format!("r{s}-api-{n:06}")).collect();
    let t1 = format!("local/t1-{s}");
    let t2 = format!("local/t2-{s}");
    assert_every_hop_has_a_line(&report, &ids, &t1);
    assert_archiver_skips_are_committed_past(truth, &ids, &t1);
    let enricher = EnricherFaults::picked_among(&ids);
    assert_enricher_filters_drops_and_doubles(truth, &ids, &t1, &t2, &enricher);
    assert_sink_loses_nothing(truth, &t2, &enricher);
    assert_truth_file_is_the_same(&out, truth);
}

/// Runs the scenario (faults at every app but the api) in this process, on topics created
/// beforehand; returns its report and the output directory.
async fn simulate(kafka: &TestKafka, dir: &Path, s: &str) -> (SimulateReport, PathBuf) {
    let scenario = format!(
        r#"
cairn_config = "cairn.toml"
run_id = "r{s}"
partitions = 2
drain_timeout = "60s"
[apps.api]
messages = {MESSAGES}
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
    let scenario = Scenario::from_toml_str(&scenario, dir).unwrap();
    for (_, topic, partitions) in topics_to_create(&scenario) {
        kafka.create_topic(&topic, partitions).await;
    }
    let out = dir.join("out");
    let report = tokio::task::block_in_place(|| {
        run(
            &scenario,
            &SimulateOptions {
                out: out.clone(),
                skip_topic_creation: true,
                control: None,
                ..Default::default()
            },
        )
    })
    .unwrap();
    (report, out)
}

/// Every message has a line for every hop (api write, archiver read, enricher read and
/// write, sink read), the api's writes are all delivered, and every loss is decided.
fn assert_every_hop_has_a_line(report: &SimulateReport, ids: &[String], t1: &str) {
    let truth = &report.truth;
    assert_eq!(truth.len(), 5 * ids.len());
    assert!(
        lines(truth, "api", t1)
            .iter()
            .all(|r| r.outcome == Outcome::Delivered && r.hop.group.is_none())
    );
    assert_eq!(report.undecided, 0);
}

/// archiver: skips (untraced, committed past) are lost committed_past; the stall is not.
fn assert_archiver_skips_are_committed_past(truth: &[TruthRecord], ids: &[String], t1: &str) {
    let archiver = lines(truth, "archiver", t1);
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
}

/// The ids the enricher's faults pick, each id at most one fault: a filtered id is not
/// dropped, a dropped one is not written twice.
struct EnricherFaults {
    filtered: BTreeSet<String>,
    dropped: BTreeSet<String>,
    doubled: BTreeSet<String>,
}

impl EnricherFaults {
    fn picked_among(ids: &[String]) -> EnricherFaults {
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
        EnricherFaults {
            filtered,
            dropped,
            doubled,
        }
    }
}

/// enricher: filtered and dropped ids exactly; dropped → lost_in_app at its write hop.
fn assert_enricher_filters_drops_and_doubles(
    truth: &[TruthRecord],
    ids: &[String],
    t1: &str,
    t2: &str,
    faults: &EnricherFaults,
) {
    let EnricherFaults {
        filtered,
        dropped,
        doubled,
    } = faults;
    assert!(!filtered.is_empty() && !dropped.is_empty() && !doubled.is_empty());
    let enricher_reads = lines(truth, "enricher", t1);
    assert_eq!(
        ids_with(&enricher_reads, Outcome::Delivered).len(),
        ids.len()
    );
    let enricher_writes = lines(truth, "enricher", t2);
    assert_eq!(&ids_with(&enricher_writes, Outcome::Filtered), filtered);
    assert_eq!(&ids_with(&enricher_writes, Outcome::Lost), dropped);
    assert!(
        enricher_writes
            .iter()
            .filter(|r| r.outcome == Outcome::Lost)
            .all(|r| r.reason == Some(Reason::LostInApp) && r.passed_at.is_some())
    );
    assert_eq!(&ids_with(&enricher_writes, Outcome::Duplicated), doubled);
}

/// sink: unreached below a drop, filtered below a filter; the crash redelivers (duplicates
/// beyond the written-twice ones) but loses nothing.
fn assert_sink_loses_nothing(truth: &[TruthRecord], t2: &str, enricher: &EnricherFaults) {
    let sink = lines(truth, "sink", t2);
    assert_eq!(ids_with(&sink, Outcome::Unreached), enricher.dropped);
    assert_eq!(ids_with(&sink, Outcome::Filtered), enricher.filtered);
    assert!(ids_with(&sink, Outcome::Lost).is_empty());
    let sink_doubled = ids_with(&sink, Outcome::Duplicated);
    assert!(
        enricher.doubled.is_subset(&sink_doubled),
        "written twice, read twice"
    );
}

/// The file is the same truth.
fn assert_truth_file_is_the_same(out: &Path, truth: &[TruthRecord]) {
    let file = std::fs::File::open(out.join("truth.jsonl")).unwrap();
    let read = cairn_sim::truth::read_truth(std::io::BufReader::new(file)).unwrap();
    assert_eq!(read, truth);
}
