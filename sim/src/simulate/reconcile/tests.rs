use cairn_core::config::Config;

use super::*;
use crate::simulate::ledger::Entry;

const CAIRN_TOML: &str = r#"
[clusters.c]
bootstrap = "127.0.0.1:9092"
[tracing]
cluster = "c"
topic = "traces"
group = "cairn"
[output]
cluster = "c"
topic = "lost"
[[streams]]
name = "orders"
sample_rate = SAMPLE
[[streams.apps]]
app = "api"
writes = "c/t1"
[[streams.apps]]
app = "enricher"
group = "eg"
reads = "c/t1"
writes = "c/t2"
[[streams.apps]]
app = "sink"
group = "sg"
reads = "c/t2"
"#;

fn stream(sample: f64) -> StreamConfig {
    let text = CAIRN_TOML.replace("SAMPLE", &sample.to_string());
    Config::from_toml_str(&text).unwrap().streams.remove(0)
}

/// Synthetic evidence, built up by what each app did.
#[derive(Default)]
struct Run {
    topics: BTreeMap<String, BTreeMap<String, BTreeSet<Position>>>,
    ledgers: BTreeMap<String, Vec<Entry>>,
    observations: Observations,
}

impl Run {
    fn in_topic(&mut self, location: &str, id: &str, at: Position) -> &mut Self {
        self.topics
            .entry(location.into())
            .or_default()
            .entry(id.into())
            .or_default()
            .insert(at);
        self
    }

    fn ledger(
        &mut self,
        app: &str,
        action: Action,
        location: &str,
        id: &str,
        at: Position,
    ) -> &mut Self {
        self.ledgers.entry(app.into()).or_default().push(Entry {
            id: id.into(),
            action,
            location: location.into(),
            partition: at.0,
            offset: at.1,
        });
        self
    }

    /// The api wrote `id` to t1 at `at` (acknowledged and in the topic).
    fn produced(&mut self, id: &str, at: Position) -> &mut Self {
        self.ledger("api", Action::Acked, "c/t1", id, at)
            .in_topic("c/t1", id, at)
    }

    fn committed(
        &mut self,
        group: &str,
        location: &str,
        partition: i32,
        series: &[(i64, i64)],
    ) -> &mut Self {
        self.observations
            .committed
            .insert((group.into(), location.into(), partition), series.to_vec());
        self
    }

    fn truth(&self, sample: f64) -> (Vec<TruthRecord>, usize) {
        let stream = stream(sample);
        reconcile(&Evidence {
            stream: &stream,
            topics: &self.topics,
            ledgers: &self.ledgers,
            observations: &self.observations,
        })
    }
}

/// (app, location, outcome, count, reason, passed_at) per line.
type Line = (String, String, Outcome, u32, Option<Reason>, Option<i64>);

fn summary(records: &[TruthRecord]) -> Vec<Line> {
    records
        .iter()
        .map(|r| {
            (
                r.hop.app.clone(),
                r.hop.location.clone(),
                r.outcome,
                r.count,
                r.reason,
                r.passed_at,
            )
        })
        .collect()
}

fn line(app: &str, location: &str, outcome: Outcome, count: u32) -> Line {
    (app.into(), location.into(), outcome, count, None, None)
}

#[test]
fn a_message_that_went_everywhere_is_delivered_at_every_hop() {
    let mut run = Run::default();
    run.produced("m", (0, 5))
        .ledger("enricher", Action::Received, "c/t1", "m", (0, 5))
        .ledger("enricher", Action::Acked, "c/t2", "m", (1, 7))
        .in_topic("c/t2", "m", (1, 7))
        .ledger("sink", Action::Received, "c/t2", "m", (1, 7));
    let (truth, undecided) = run.truth(1.0);
    assert_eq!(undecided, 0);
    assert_eq!(
        summary(&truth),
        vec![
            line("api", "c/t1", Outcome::Delivered, 1),
            line("enricher", "c/t1", Outcome::Delivered, 1),
            line("enricher", "c/t2", Outcome::Delivered, 1),
            line("sink", "c/t2", Outcome::Delivered, 1),
        ]
    );
    assert_eq!(
        (truth[0].kind, truth[0].hop.group.as_deref()),
        (Kind::Sent, None)
    );
    assert_eq!(truth[1].kind, Kind::Received);
    assert_eq!(truth[2].kind, Kind::Sent);
    assert_eq!(truth[2].hop.group.as_deref(), Some("eg"));
    assert_eq!(truth[2].message.as_ref().unwrap().location, "c/t1");
    assert_eq!(truth[3].message.as_ref().unwrap().offset, 7);
}

#[test]
fn a_skipped_message_is_lost_where_the_group_committed_past_it_and_unreached_below() {
    let mut run = Run::default();
    run.produced("m", (0, 5))
        .committed("eg", "c/t1", 0, &[(1000, 3), (2000, 5), (3000, 6)]);
    let (truth, undecided) = run.truth(1.0);
    assert_eq!(undecided, 0);
    let mut lost = line("enricher", "c/t1", Outcome::Lost, 0);
    lost.4 = Some(Reason::CommittedPast);
    lost.5 = Some(3000);
    assert_eq!(
        summary(&truth),
        vec![
            line("api", "c/t1", Outcome::Delivered, 1),
            lost,
            line("enricher", "c/t2", Outcome::Unreached, 0),
            line("sink", "c/t2", Outcome::Unreached, 0),
        ]
    );
    assert_eq!(truth[1].message.as_ref().unwrap().offset, 5);
    assert_eq!(truth[2].message, None);
}

#[test]
fn retention_that_passed_first_makes_it_expired() {
    let mut run = Run::default();
    run.produced("m", (0, 5))
        .committed("eg", "c/t1", 0, &[(1000, 0), (2500, 9)]);
    run.observations
        .log_start
        .insert(("c/t1".into(), 0), vec![(1000, 0), (1500, 8)]);
    let (truth, _) = run.truth(1.0);
    assert_eq!(
        (truth[1].reason, truth[1].passed_at),
        (Some(Reason::Expired), Some(1500))
    );

    // The other way round: the group passed it before retention did.
    run.observations
        .log_start
        .insert(("c/t1".into(), 0), vec![(3000, 8)]);
    let (truth, _) = run.truth(1.0);
    assert_eq!(
        (truth[1].reason, truth[1].passed_at),
        (Some(Reason::CommittedPast), Some(2500))
    );
}

#[test]
fn read_but_never_written_is_lost_in_app() {
    let mut run = Run::default();
    run.produced("m", (0, 5))
        .ledger("enricher", Action::Received, "c/t1", "m", (0, 5))
        .committed("eg", "c/t1", 0, &[(1000, 5), (1200, 6)]);
    let (truth, undecided) = run.truth(1.0);
    assert_eq!(undecided, 0);
    let mut lost = line("enricher", "c/t2", Outcome::Lost, 0);
    lost.4 = Some(Reason::LostInApp);
    lost.5 = Some(1200);
    assert_eq!(
        summary(&truth),
        vec![
            line("api", "c/t1", Outcome::Delivered, 1),
            line("enricher", "c/t1", Outcome::Delivered, 1),
            lost,
            line("sink", "c/t2", Outcome::Unreached, 0),
        ]
    );
}

#[test]
fn a_filtered_message_is_filtered_below_the_filter() {
    let mut run = Run::default();
    run.produced("m", (0, 5))
        .ledger("enricher", Action::Filtered, "c/t1", "m", (0, 5));
    let (truth, _) = run.truth(1.0);
    assert_eq!(
        summary(&truth),
        vec![
            line("api", "c/t1", Outcome::Delivered, 1),
            line("enricher", "c/t1", Outcome::Delivered, 1),
            line("enricher", "c/t2", Outcome::Filtered, 0),
            line("sink", "c/t2", Outcome::Filtered, 0),
        ]
    );
}

#[test]
fn copies_and_redeliveries_are_duplicates() {
    let mut run = Run::default();
    // Written twice by the api; the enricher reads both and writes each on; the sink reads
    // one copy twice (a redelivery) and the other once.
    run.produced("m", (0, 5))
        .produced("m", (0, 9))
        .ledger("enricher", Action::Received, "c/t1", "m", (0, 5))
        .ledger("enricher", Action::Received, "c/t1", "m", (0, 9))
        .ledger("enricher", Action::Acked, "c/t2", "m", (2, 1))
        .ledger("enricher", Action::Acked, "c/t2", "m", (2, 2))
        .ledger("sink", Action::Received, "c/t2", "m", (2, 1))
        .ledger("sink", Action::Received, "c/t2", "m", (2, 1))
        .ledger("sink", Action::Received, "c/t2", "m", (2, 2));
    let (truth, _) = run.truth(1.0);
    assert_eq!(
        summary(&truth),
        vec![
            line("api", "c/t1", Outcome::Duplicated, 2),
            line("enricher", "c/t1", Outcome::Duplicated, 2),
            line("enricher", "c/t2", Outcome::Duplicated, 2),
            line("sink", "c/t2", Outcome::Duplicated, 3),
        ]
    );
}

#[test]
fn an_acknowledged_write_the_broker_lost_is_still_expected() {
    let mut run = Run::default();
    // Acknowledged at (0, 5), but not in the topic after the run (unclean leader election).
    run.ledger("api", Action::Acked, "c/t1", "m", (0, 5))
        .committed("eg", "c/t1", 0, &[(4000, 12)]);
    let (truth, _) = run.truth(1.0);
    assert_eq!(truth.len(), 4);
    assert_eq!(
        (truth[1].outcome, truth[1].reason, truth[1].passed_at),
        (Outcome::Lost, Some(Reason::CommittedPast), Some(4000))
    );
}

#[test]
fn a_loss_nothing_in_kafka_shows_is_counted_undecided() {
    let mut run = Run::default();
    run.produced("m", (0, 5));
    let (truth, undecided) = run.truth(1.0);
    assert_eq!(undecided, 1);
    assert_eq!(
        (truth[1].outcome, truth[1].reason, truth[1].passed_at),
        (Outcome::Lost, None, None)
    );
}

#[test]
fn only_sampled_ids_get_lines() {
    let mut run = Run::default();
    let ids: Vec<String> = (0..100).map(|n| format!("id-{n}")).collect();
    for (n, id) in ids.iter().enumerate() {
        run.produced(id, (0, n as i64)).ledger(
            "enricher",
            Action::Filtered,
            "c/t1",
            id,
            (0, n as i64),
        );
    }
    let (truth, _) = run.truth(0.5);
    let with_lines: BTreeSet<&str> = truth.iter().map(|r| r.id.as_str()).collect();
    let sampled: BTreeSet<&str> = ids
        .iter()
        .map(String::as_str)
        .filter(|id| is_sampled(id, 0.5))
        .collect();
    assert!(!sampled.is_empty() && sampled.len() < ids.len());
    assert_eq!(with_lines, sampled);
}
