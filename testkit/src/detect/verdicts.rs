//! Reading verdicts back from an output topic and comparing them with the truth.
//!
//! A background thread reads every partition of the topic from the beginning with
//! `isolation.level=read_committed` (cairn publishes in transactions: what an aborted one
//! wrote is not a verdict) and decodes each record with `cairn_core::verdict::decode`. A
//! record that does not decode, or whose key is not its id, is a broken contract and fails
//! the test at the next look.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cairn_core::model::{Reason, Verdict, VerdictKind};
use cairn_core::verdict;
use parking_lot::Mutex;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};

use crate::kafka::TestKafka;
use crate::names::rand_group;

/// Everything a test asserts about one verdict: id, stream, verdict, reason, hop and where
/// the message sits. Evidence and times are checked by rule, not by value.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VerdictKey {
    pub id: String,
    pub verdict: &'static str,
    pub reason: &'static str,
    pub stream: String,
    pub hop_app: String,
    pub hop_group: Option<String>,
    pub hop_location: String,
    pub message_location: String,
    pub message_partition: i32,
    pub message_offset: i64,
}

impl From<&Verdict> for VerdictKey {
    fn from(v: &Verdict) -> Self {
        VerdictKey {
            id: v.id.clone(),
            verdict: match v.verdict {
                VerdictKind::Lost => "lost",
                VerdictKind::Retracted => "retracted",
            },
            reason: v.reason.as_str(),
            stream: v.stream.clone(),
            hop_app: v.hop.app.clone(),
            hop_group: v.hop.group.clone(),
            hop_location: v.hop.location.clone(),
            message_location: v.message.location.clone(),
            message_partition: v.message.partition,
            message_offset: v.message.offset,
        }
    }
}

impl fmt::Display for VerdictKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}/{} at hop {}({})@{}, message {}[{}]@{}",
            self.id,
            self.verdict,
            self.reason,
            self.hop_app,
            self.hop_group.as_deref().unwrap_or("-"),
            self.hop_location,
            self.message_location,
            self.message_partition,
            self.message_offset
        )
    }
}

/// One verdict as read from the topic.
#[derive(Clone, Debug)]
pub struct Seen {
    pub verdict: Verdict,
    /// When this test read it.
    pub at: Instant,
    pub partition: i32,
    pub offset: i64,
}

#[derive(Default)]
struct Shared {
    seen: Vec<Seen>,
    /// Records that broke the contract.
    problems: Vec<String>,
}

/// Reads a verdict topic in the background. See the module doc.
pub struct VerdictWatch {
    topic: String,
    shared: Arc<Mutex<Shared>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl VerdictWatch {
    pub fn start(kafka: &TestKafka, topic: &str, partitions: i32) -> VerdictWatch {
        let consumer: BaseConsumer = kafka
            .config()
            .set("group.id", rand_group("verdict-reader"))
            .set("enable.auto.commit", "false")
            .set("isolation.level", "read_committed")
            .create()
            .expect("create the verdict reader");
        let mut assignment = TopicPartitionList::new();
        for partition in 0..partitions {
            assignment
                .add_partition_offset(topic, partition, Offset::Beginning)
                .expect("offset");
        }
        consumer
            .assign(&assignment)
            .expect("assign the verdict topic");
        let shared = Arc::new(Mutex::new(Shared::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (shared, stop) = (shared.clone(), stop.clone());
            std::thread::Builder::new()
                .name("verdict-reader".into())
                .spawn(move || read_loop(&consumer, &shared, &stop))
                .expect("spawn the verdict reader")
        };
        VerdictWatch {
            topic: topic.to_owned(),
            shared,
            stop,
            thread: Some(thread),
        }
    }

    /// Every verdict read so far, in the order read. Fails on a record that broke the contract.
    pub fn seen(&self) -> Vec<Seen> {
        let shared = self.shared.lock();
        assert!(
            shared.problems.is_empty(),
            "the verdict topic {} holds records that break the contract:\n{}",
            self.topic,
            shared.problems.join("\n")
        );
        shared.seen.clone()
    }

    /// How many verdicts were read so far.
    pub fn count(&self) -> usize {
        self.seen().len()
    }

    /// Waits until every verdict of `expected` has come (others may have too), or fails
    /// after `timeout` naming what is missing and what came instead.
    pub async fn wait_for(
        &self,
        what: &str,
        expected: &BTreeSet<VerdictKey>,
        timeout: Duration,
    ) -> Vec<Seen> {
        let deadline = Instant::now() + timeout;
        loop {
            let seen = self.seen();
            let got: BTreeSet<VerdictKey> =
                seen.iter().map(|s| VerdictKey::from(&s.verdict)).collect();
            if expected.is_subset(&got) {
                return seen;
            }
            if Instant::now() >= deadline {
                panic!(
                    "{what}: not every expected verdict came within {timeout:?} on {}\n{}",
                    self.topic,
                    diff(expected, &seen)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits for `expected`, then watches for `grace` more, then asserts that the topic holds
    /// exactly `expected`, each verdict once (see [`assert_exactly`]). Returns what it read.
    pub async fn expect_exactly(
        &self,
        what: &str,
        expected: &BTreeSet<VerdictKey>,
        timeout: Duration,
        grace: Duration,
    ) -> Vec<Seen> {
        self.wait_for(what, expected, timeout).await;
        tokio::time::sleep(grace).await;
        let seen = self.seen();
        assert_exactly(what, expected, &seen);
        seen
    }
}

impl Drop for VerdictWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn read_loop(consumer: &BaseConsumer, shared: &Mutex<Shared>, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        let Some(result) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let message = match result {
            Ok(message) => message,
            Err(err) => {
                // Transient consumer errors (a broker hiccup) are logged, not fatal.
                eprintln!("verdict reader: {err}");
                continue;
            }
        };
        let (partition, offset) = (message.partition(), message.offset());
        let where_ = format!("partition {partition} offset {offset}");
        let key = message
            .key()
            .map(|k| String::from_utf8_lossy(k).into_owned());
        let Some(payload) = message.payload() else {
            shared
                .lock()
                .problems
                .push(format!("{where_}: a record without a payload"));
            continue;
        };
        match verdict::decode(payload) {
            Ok(verdict) => {
                let mut shared = shared.lock();
                if key.as_deref() != Some(verdict.id.as_str()) {
                    shared.problems.push(format!(
                        "{where_}: keyed {key:?}, but the verdict is about id {:?}",
                        verdict.id
                    ));
                }
                shared.seen.push(Seen {
                    verdict,
                    at: Instant::now(),
                    partition,
                    offset,
                });
            }
            Err(err) => shared.lock().problems.push(format!(
                "{where_}: does not decode ({err}): {}",
                String::from_utf8_lossy(payload)
            )),
        }
    }
}

/// Asserts that `seen` is exactly `expected`: every expected verdict, nothing else, and no
/// verdict twice (by the contract's idempotency key, id + hop + verdict, so a repeat with
/// other evidence or another time counts too). Each verdict must also obey the rule that
/// made it: a lost verdict by commit carries the committed offset past the message.
pub fn assert_exactly(what: &str, expected: &BTreeSet<VerdictKey>, seen: &[Seen]) {
    let mut by_idempotency: BTreeMap<String, usize> = BTreeMap::new();
    for s in seen {
        *by_idempotency
            .entry(verdict::idempotency_key(&s.verdict))
            .or_default() += 1;
    }
    let repeated: Vec<String> = by_idempotency
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(k, n)| format!("  {n}x {k}"))
        .collect();
    let got: BTreeSet<VerdictKey> = seen.iter().map(|s| VerdictKey::from(&s.verdict)).collect();
    assert!(
        &got == expected && repeated.is_empty(),
        "{what}: the verdicts are not exactly the truth\n{}{}",
        diff(expected, seen),
        if repeated.is_empty() {
            String::new()
        } else {
            format!("repeated verdicts:\n{}\n", repeated.join("\n"))
        }
    );
    for s in seen {
        check_evidence(&s.verdict);
    }
}

/// A lost verdict by commit must show the committed offset that is past the message, and
/// its detection cannot precede the message's first trace.
pub fn check_evidence(v: &Verdict) {
    let key = VerdictKey::from(v);
    if v.verdict == VerdictKind::Lost
        && matches!(v.reason, Reason::CommittedPast | Reason::LostInApp)
    {
        let committed = v.evidence.committed;
        assert!(
            committed.is_some_and(|c| c > v.message.offset),
            "{key}: evidence.committed {committed:?} is not past the message's offset"
        );
    }
    assert!(
        v.detected_at >= v.first_seen,
        "{key}: detected_at {} before first_seen {}",
        v.detected_at,
        v.first_seen
    );
}

/// What is missing, what is extra and what came twice, one verdict a line.
pub fn diff(expected: &BTreeSet<VerdictKey>, seen: &[Seen]) -> String {
    let mut counts: BTreeMap<VerdictKey, usize> = BTreeMap::new();
    for s in seen {
        *counts.entry(VerdictKey::from(&s.verdict)).or_default() += 1;
    }
    let mut out = format!(
        "expected {} verdicts, read {} records ({} distinct)\n",
        expected.len(),
        seen.len(),
        counts.len()
    );
    let missing: Vec<_> = expected
        .iter()
        .filter(|k| !counts.contains_key(*k))
        .collect();
    let extra: Vec<_> = counts.keys().filter(|k| !expected.contains(*k)).collect();
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    for k in &missing {
        out.push_str(&format!("  missing: {k}\n"));
    }
    for k in &extra {
        out.push_str(&format!("  extra:   {k}\n"));
    }
    for (k, n) in &twice {
        out.push_str(&format!("  {n}x:    {k}\n"));
    }
    out
}

/// The distinct verdicts of `seen`.
pub fn keys(seen: &[Seen]) -> BTreeSet<VerdictKey> {
    seen.iter().map(|s| VerdictKey::from(&s.verdict)).collect()
}

/// How many verdicts of `truth` have `reason`.
pub fn count_reason(truth: &BTreeSet<VerdictKey>, reason: &str) -> u64 {
    truth.iter().filter(|k| k.reason == reason).count() as u64
}
