//! Workers under a memory budget that forces spills, driven through their inbox with the real
//! disk tier: the verdicts are exactly those of a worker without a budget, also when the
//! partition is restored from a checkpoint taken in the middle; past `max_disk`, shed messages
//! are counted and never judged lost.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cairn_core::config::{Config, MalformedPolicy};
use cairn_core::detector::Detector;
use cairn_core::lineage::Lineage;
use cairn_core::metrics::Metrics;
use cairn_core::model::{Kind, Trace, Verdict};
use cairn_core::offsets::Observed;
use cairn_core::trace;

use crate::clock::now_millis;
use crate::detect::frontier::{Frontier, Look};
use crate::detect::spill::SpillTier;
use crate::detect::worker::{
    PartitionCheckpoint, Record, Worker, WorkerError, WorkerMsg, split_state_key,
};
use crate::lineage::LineageCell;
use crate::oracle::snapshot::{ClusterOffsets, OffsetsBoard, TopicOffsets};

const MESSAGES: i64 = 60;

/// The one lineage of these tests, as the session hands it to workers: the detectors are
/// built on the same `Arc`, so no worker takes it for a new lineage.
fn cell() -> Arc<LineageCell> {
    static CELL: std::sync::OnceLock<Arc<LineageCell>> = std::sync::OnceLock::new();
    CELL.get_or_init(|| {
        let config = config();
        let lineage = Lineage::compile(&config.streams).expect("lineage");
        Arc::new(LineageCell::from_file(&config, lineage, now_millis()))
    })
    .clone()
}

fn lineage() -> Arc<Lineage> {
    cell()
        .current()
        .expect("a lineage from the file")
        .lineage
        .clone()
}

fn config() -> Config {
    Config::from_toml_str(
        r#"
[clusters.c]
bootstrap = "127.0.0.1:9"
[tracing]
cluster = "c"
topic = "t"
group = "g"
[output]
cluster = "c"
topic = "o"
[timing]
first_check = "300ms"
backoff = "100ms"
backoff_max = "200ms"
confirmation_delay = "100ms"
max_wait = "20s"
dedup_window = "20s"
max_offsets_age = "1h"
[[streams]]
name = "s"
[[streams.apps]]
app = "p"
writes = "c/a"
[[streams.apps]]
app = "r"
group = "r"
reads = "c/a"
[[streams.apps]]
app = "audit"
group = "audit"
reads = "c/a"
"#,
    )
    .expect("a valid config")
}

/// Group `audit` committed past every message; `r` committed nothing (it is behind).
fn board() -> Arc<OffsetsBoard> {
    let board = Arc::new(OffsetsBoard::new(["c"]));
    publish_audit_past_all(&board);
    board
}

fn publish_audit_past_all(board: &OffsetsBoard) {
    let mut topic = TopicOffsets::default();
    topic.committed.insert(
        "audit".into(),
        vec![Some(Observed {
            value: MESSAGES + 10,
            read_at: now_millis(),
        })],
    );
    let mut offsets = ClusterOffsets::default();
    offsets.topics.insert("a".into(), topic);
    offsets.polled_at = now_millis();
    board.publish("c", offsets);
}

fn record(offset: i64, t: &Trace<'_>) -> Record {
    Record {
        partition: 0,
        offset,
        payload: trace::encode(t),
    }
}

fn trace_of(id: &str, kind: Kind, offset: i64) -> Trace<'_> {
    let (app, group) = match kind {
        Kind::Sent => ("p", None),
        _ => ("r", Some(Cow::Borrowed("r"))),
    };
    Trace {
        id: Cow::Borrowed(id),
        stream: Cow::Borrowed("s"),
        kind,
        location: Cow::Borrowed("c/a"),
        partition: 0,
        offset,
        app: Cow::Borrowed(app),
        group,
        ts: 1_000,
    }
}

/// Every message is sent; the even ones are received by `r`; none by `audit` (lost there).
fn records(from: i64, to: i64) -> Vec<Record> {
    let mut out = Vec::new();
    for i in from..to {
        let id = format!("message-{i:03}");
        out.push(record(2 * i, &trace_of(&id, Kind::Sent, i)));
        if i % 2 == 0 {
            out.push(record(2 * i + 1, &trace_of(&id, Kind::Received, i)));
        }
    }
    out
}

struct Running {
    inbox: Sender<WorkerMsg>,
    errors: Receiver<WorkerError>,
    thread: JoinHandle<()>,
}

fn start(
    tier: &Arc<SpillTier>,
    share: u64,
    detector: Detector,
    next_offset: i64,
    board: Arc<OffsetsBoard>,
) -> Running {
    start_reading(
        tier,
        share,
        detector,
        next_offset,
        board,
        Frontier::everything_read(),
    )
}

fn start_reading(
    tier: &Arc<SpillTier>,
    share: u64,
    detector: Detector,
    next_offset: i64,
    board: Arc<OffsetsBoard>,
    frontier: Frontier,
) -> Running {
    let (errors_tx, errors) = mpsc::sync_channel(1);
    let worker = Worker::new(
        Metrics::for_lineage(detector.lineage()),
        cell(),
        board,
        MalformedPolicy::Fail,
        Duration::from_millis(20),
        errors_tx,
        tier.clone(),
        share,
        frontier,
    );
    let (inbox, rx) = mpsc::channel();
    let thread = std::thread::spawn(move || worker.run(rx));
    inbox
        .send(WorkerMsg::Assign {
            partition: 0,
            detector: Box::new(detector),
            next_offset,
        })
        .expect("assign");
    Running {
        inbox,
        errors,
        thread,
    }
}

impl Running {
    fn feed(&self, records: Vec<Record>) {
        self.inbox
            .send(WorkerMsg::Records(records))
            .expect("records");
        self.inbox
            .send(WorkerMsg::ReachedEnd {
                partition: 0,
                position: None,
            })
            .expect("end");
    }

    fn checkpoint(&self) -> (Vec<PartitionCheckpoint>, Metrics) {
        let (reply, answer) = mpsc::channel();
        if self.inbox.send(WorkerMsg::Checkpoint { reply }).is_err() {
            panic!("the worker stopped: {:?}", self.errors.try_recv());
        }
        let out = answer
            .recv_timeout(Duration::from_secs(30))
            .expect("a checkpoint");
        assert!(self.errors.try_recv().is_err(), "the worker failed");
        out
    }

    fn stop(self) {
        let _ = self.inbox.send(WorkerMsg::Stop);
        self.thread.join().expect("worker");
    }
}

/// Checkpoints until `done` holds for what was gathered (verdicts and the last metrics), at
/// most for a minute (the machine is shared: timers run on the wall clock).
fn gather(
    w: &Running,
    changelog: &mut HashMap<String, Vec<u8>>,
    verdicts: &mut Vec<Verdict>,
    done: impl Fn(&[Verdict], &Metrics) -> bool,
) -> Metrics {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (checkpoints, metrics) = w.checkpoint();
        for c in checkpoints {
            for (key, state) in c.changes {
                match state {
                    Some(state) => changelog.insert(key, state),
                    None => changelog.remove(&key),
                };
            }
            verdicts.extend(c.verdicts);
        }
        if done(verdicts, &metrics) || Instant::now() > deadline {
            return metrics;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn restored(changelog: &HashMap<String, Vec<u8>>) -> Detector {
    let mut det = Detector::new(lineage());
    for (key, state) in changelog {
        let (_, id) = split_state_key(key).expect("a state key");
        det.restore(id, state).expect("restore");
    }
    det
}

fn keys(verdicts: &[Verdict]) -> BTreeSet<(String, String, String)> {
    verdicts
        .iter()
        .map(|v| {
            (
                v.id.clone(),
                v.hop.app.clone(),
                format!("{:?}/{:?}", v.verdict, v.reason),
            )
        })
        .collect()
}

/// Every message lost at `audit`: the run is over.
fn all_judged(verdicts: &[Verdict], _: &Metrics) -> bool {
    verdicts.len() as i64 >= MESSAGES
}

/// Runs the pipeline in two halves with a restart from the checkpoint in between.
fn run(share: u64, tier: &Arc<SpillTier>) -> (Vec<Verdict>, u64) {
    let mut changelog = HashMap::new();
    let mut verdicts = Vec::new();
    let first = start(tier, share, Detector::new(lineage()), 0, board());
    first.feed(records(0, MESSAGES / 2));
    let metrics = gather(&first, &mut changelog, &mut verdicts, |_, _| true);
    let spilled_first = metrics.total("cairn_messages_spilled", None);
    first.stop();
    // As `Restorer::restore` does: what the tier held of the partition is older than the
    // restored state.
    tier.drop_partition(0).expect("drop the partition");
    let second = start(tier, share, restored(&changelog), MESSAGES, board());
    second.feed(records(MESSAGES / 2, MESSAGES));
    gather(&second, &mut changelog, &mut verdicts, all_judged);
    second.stop();
    (verdicts, spilled_first)
}

#[test]
fn a_budget_that_forces_spills_changes_no_verdict_even_across_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tier = Arc::new(SpillTier::open(dir.path(), u64::MAX).expect("tier"));
    let (plain, _) = run(u64::MAX, &tier);
    // A few messages' worth: most of each half goes to disk.
    let (spilled, spilled_count) = run(1_000, &tier);
    assert!(
        spilled_count > 10,
        "the budget forced spills: {spilled_count} on disk at the checkpoint"
    );
    assert_eq!(
        plain.len() as i64,
        MESSAGES,
        "every message is lost at audit, once"
    );
    assert_eq!(keys(&plain), keys(&spilled));
    assert_eq!(spilled.len(), plain.len(), "no verdict repeated");
}

#[test]
fn past_max_disk_messages_are_shed_counted_and_never_judged_lost() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tier = Arc::new(SpillTier::open(dir.path(), 3_000).expect("tier"));
    let mut changelog = HashMap::new();
    let mut verdicts = Vec::new();
    // Nothing is committed yet: nothing can be lost while the messages are shed.
    let offsets = Arc::new(OffsetsBoard::new(["c"]));
    let w = start(&tier, 1_000, Detector::new(lineage()), 0, offsets.clone());
    w.feed(records(0, MESSAGES));
    let metrics = gather(&w, &mut changelog, &mut verdicts, |_, _| true);
    let shed = metrics.total("cairn_messages_shed_total", None);
    assert!(shed > 0, "the disk limit shed messages");
    assert!(tier.used_bytes() <= 3_000);
    let shed_ids: BTreeSet<String> = changelog
        .iter()
        .filter(|(_, state)| {
            cairn_core::detector::StoredMessage::decode(state).is_ok_and(|s| s.locations.is_empty())
        })
        .map(|(key, _)| split_state_key(key).expect("key").1.to_owned())
        .collect();
    assert_eq!(
        shed_ids.len() as u64,
        shed,
        "a marker per shed message in the checkpoint"
    );
    // Now `audit` commits past everything: every message still watched is lost there.
    publish_audit_past_all(&offsets);
    let watched = MESSAGES as u64 - shed;
    // Messages still watched may be shed later too (spilled ones come back when due, and the
    // disk is full): each is judged or shed.
    let shed_later = |m: &Metrics| m.total("cairn_messages_shed_total", None) - shed;
    let metrics = gather(&w, &mut changelog, &mut verdicts, |v, m| {
        v.len() as u64 + shed_later(m) >= watched
    });
    w.stop();
    let lost: BTreeSet<&str> = verdicts.iter().map(|v| v.id.as_str()).collect();
    assert_eq!(lost.len(), verdicts.len(), "no verdict repeated");
    assert!(
        lost.len() as u64 + shed_later(&metrics) >= watched,
        "every message judged or shed"
    );
    assert!(
        shed_ids.iter().all(|id| !lost.contains(id.as_str())),
        "no shed message is judged lost"
    );
}

#[test]
fn a_worker_judges_no_further_than_its_partition_was_read() {
    use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

    let dir = tempfile::tempdir().expect("tempdir");
    let tier = Arc::new(SpillTier::open(dir.path(), u64::MAX).expect("tier"));
    let frontier = Frontier::new();
    let fed = records(0, MESSAGES);
    let next_offset = fed.last().expect("records").offset + 1;
    // The look thread's stand-in: the log holds five records more than are fed at first
    // (audit's traces could be among them).
    let log_end = Arc::new(AtomicI64::new(next_offset + 5));
    let stop = Arc::new(AtomicBool::new(false));
    let looker = {
        let (frontier, log_end, stop) = (frontier.clone(), log_end.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let end = log_end.load(Ordering::Relaxed);
                let asked_at = now_millis();
                frontier.saw(0, Look { end, asked_at });
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let w = start_reading(
        &tier,
        u64::MAX,
        Detector::new(lineage()),
        0,
        board(),
        frontier,
    );
    w.feed(fed);
    // Audit committed past every message, but while records wait unread nothing is judged.
    let mut verdicts = Vec::new();
    let until = Instant::now() + Duration::from_millis(1_500);
    while Instant::now() < until {
        for c in w.checkpoint().0 {
            verdicts.extend(c.verdicts);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        verdicts.is_empty(),
        "judged past what was read: {verdicts:?}"
    );
    // The rest turns out to be other messages' traces: once they are fed, every message is
    // judged lost at audit.
    w.feed(
        (next_offset..next_offset + 5)
            .map(|offset| {
                let id = format!("other-{offset}");
                record(offset, &trace_of(&id, Kind::Sent, 1_000 + offset))
            })
            .collect(),
    );
    gather(&w, &mut HashMap::new(), &mut verdicts, all_judged);
    w.stop();
    stop.store(true, Ordering::Relaxed);
    looker.join().expect("looker");
    assert_eq!(verdicts.len() as i64, MESSAGES);
}
