//! The simulated apps: real rdkafka producers and consumer-group members, one thread each,
//! that trace what they do with [`cairn_tracer`], keep a [`Ledger`], and inject their faults.
//!
//! Readers process what one poll burst gives them in order (per-key order holds: one thread per
//! app, writes awaited in order before the next burst), and commit by hand only what is done:
//! the offsets after the messages they processed, on partitions they still own, every
//! [`COMMIT_INTERVAL`]. That makes a crash (drop the consumer without committing) redeliver.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use cairn_core::config::{AppConfig, Location};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::BorrowedMessage;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

use super::choice::picks;
use super::ledger::{Action, Entry, Ledger};
use super::scenario::{AppBehaviour, Window};
use cairn_tracer::Tracer;

/// How often readers commit what they have processed.
pub const COMMIT_INTERVAL: Duration = Duration::from_millis(200);
const POLL: Duration = Duration::from_millis(100);
const ACK_TIMEOUT: Duration = Duration::from_secs(30);

/// What every app thread gets.
pub struct AppRun {
    pub app: AppConfig,
    pub behaviour: AppBehaviour,
    /// Client settings per cluster name (bootstrap overrides applied).
    pub clusters: BTreeMap<String, ClientConfig>,
    pub tracer: Tracer,
    pub ledger: Ledger,
    /// Every message id starts with this (the run's id and a dash).
    pub prefix: String,
    /// Readers stop when this is set and they are idle.
    pub stop: Arc<AtomicBool>,
    /// Producers add every acknowledged message here (the leader-kill trigger watches it).
    pub produced: Arc<AtomicU64>,
    /// While set, producers write nothing new (the leader kill bounds the doomed writes).
    pub hold: Arc<AtomicBool>,
    /// Readers: the files through which they are hung and relaunched from outside.
    pub control: Option<Control>,
}

/// How a reader is controlled from outside while it runs, through two files of a directory:
/// `<app>.hang` (stop reading and committing, as a stuck consumer does: the member stays in
/// its group, never polled) and `<app>.relaunch` (leave the group and join it again from the
/// committed offsets, as a restarted process does; this also ends a hang). Each file is removed
/// once obeyed, so a responder's relaunch command can be `touch <dir>/<app>.relaunch`.
#[derive(Clone, Debug)]
pub struct Control {
    hang: PathBuf,
    relaunch: PathBuf,
}

impl Control {
    pub fn new(dir: &Path, app: &str) -> Control {
        Control {
            hang: dir.join(format!("{app}.hang")),
            relaunch: dir.join(format!("{app}.relaunch")),
        }
    }

    fn hang_asked(&self) -> bool {
        self.hang.exists()
    }

    /// Whether a relaunch was asked; if so, it (and any hang) is taken as done.
    fn take_relaunch(&self) -> bool {
        if !self.relaunch.exists() {
            return false;
        }
        for file in [&self.relaunch, &self.hang] {
            if let Err(err) = std::fs::remove_file(file)
                && err.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(file = %file.display(), error = %err, "control file not removed");
            }
        }
        true
    }
}

/// How often a reader looks at its control files.
const CONTROL_EVERY: Duration = Duration::from_millis(100);

impl AppRun {
    fn cluster(&self, name: &str) -> anyhow::Result<ClientConfig> {
        self.clusters.get(name).cloned().with_context(|| {
            format!(
                "cluster `{name}` of app `{}` is not configured",
                self.app.app
            )
        })
    }

    fn producer(&self, cluster: &str) -> anyhow::Result<FutureProducer> {
        let acks = self.behaviour.acks.as_str();
        let mut config = self.cluster(cluster)?;
        config
            .set("acks", acks)
            // Idempotence needs acks=all; with acks=1 (the broker-loss fault) it is off.
            .set(
                "enable.idempotence",
                if matches!(acks, "all" | "-1") {
                    "true"
                } else {
                    "false"
                },
            )
            .set("linger.ms", "2")
            .set("message.timeout.ms", "20000");
        config.create().context("creating an app's producer")
    }
}

/// A write waiting for its acknowledgement.
struct Pending {
    id: String,
    topic: String,
    delivery: DeliveryFuture,
}

/// Awaits writes in order; each acknowledged one is ledgered and traced `sent`.
fn settle(
    run: &AppRun,
    runtime: &tokio::runtime::Runtime,
    cluster: &str,
    pending: &mut Vec<Pending>,
) -> anyhow::Result<()> {
    for write in pending.drain(..) {
        let result =
            runtime.block_on(async { tokio::time::timeout(ACK_TIMEOUT, write.delivery).await });
        match result {
            Ok(Ok(Ok(delivery))) => {
                let at = (delivery.partition, delivery.offset);
                run.ledger.record(&Entry {
                    id: write.id.clone(),
                    action: Action::Acked,
                    location: format!("{cluster}/{}", write.topic),
                    partition: at.0,
                    offset: at.1,
                })?;
                run.tracer
                    .sent_delivery(&write.id, cluster, &write.topic, at);
                run.produced.fetch_add(1, Ordering::Relaxed);
            }
            // Not acknowledged: the app knows it did not write it, so it traces nothing.
            Ok(Ok(Err((err, _)))) => {
                tracing::warn!(app = %run.app.app, id = %write.id, error = %err, "write not acknowledged")
            }
            Ok(Err(_)) | Err(_) => {
                tracing::warn!(app = %run.app.app, id = %write.id, "write not acknowledged in time")
            }
        }
    }
    Ok(())
}

fn write(producer: &FutureProducer, topic: &str, id: &str) -> anyhow::Result<Pending> {
    let delivery = producer
        .send_result(FutureRecord::to(topic).key(id).payload(id))
        .map_err(|(err, _)| anyhow::anyhow!("enqueueing {id} for {topic}: {err}"))?;
    Ok(Pending {
        id: id.to_owned(),
        topic: topic.to_owned(),
        delivery,
    })
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .context("starting an app's runtime")
}

/// A producer app: writes `messages` ids at `rate`, duplicating the ones its fault picks.
pub fn run_producer(run: AppRun) -> anyhow::Result<()> {
    let location = run
        .app
        .writes
        .clone()
        .context("a producer writes a location")?;
    let producer = run.producer(&location.cluster)?;
    let runtime = runtime()?;
    let name = &run.app.app;
    let started = Instant::now();
    let mut pending = Vec::new();
    for n in 0..run.behaviour.messages {
        let id = format!("{}{name}-{n:06}", run.prefix);
        if run.behaviour.rate > 0.0 {
            let due = started + Duration::from_secs_f64(n as f64 / run.behaviour.rate);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                settle(&run, &runtime, &location.cluster, &mut pending)?;
                std::thread::sleep(wait);
            }
        }
        if run.hold.load(Ordering::Relaxed) {
            settle(&run, &runtime, &location.cluster, &mut pending)?;
            while run.hold.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        pending.push(write(&producer, &location.topic, &id)?);
        if picks(name, "duplicate", &id, run.behaviour.faults.duplicate_share) {
            pending.push(write(&producer, &location.topic, &id)?);
        }
        if pending.len() >= 64 {
            settle(&run, &runtime, &location.cluster, &mut pending)?;
        }
    }
    settle(&run, &runtime, &location.cluster, &mut pending)?;
    run.ledger.flush()?;
    Ok(())
}

/// One-shot faults of a reader, by the count of messages it has consumed.
#[derive(Default)]
struct Triggers {
    consumed: u64,
    crashed: bool,
    stalled: bool,
    intruded: bool,
    reset: bool,
    hung: bool,
}

/// How one membership of the reader's group ended.
enum Next {
    /// Stop was asked while idle: settle, commit and leave for good.
    Finish,
    /// Leave the group without committing (a crash) and start again.
    Restart,
    /// Leave the group (after a commit), wait, and start again behind.
    Stall(Duration),
    /// Leave the group, move its offsets to the log end, and start again.
    ResetToEnd,
    /// Stop reading and committing, still a member, until relaunched.
    Hang,
    /// Leave the group and join it again (asked through the control files).
    Relaunch,
}

type Intruders = Vec<std::thread::JoinHandle<anyhow::Result<()>>>;

/// A processor or sink: reads its location as its group and does what its behaviour says.
pub fn run_reader(run: AppRun) -> anyhow::Result<()> {
    let reader = Reader::new(run)?;
    let mut triggers = Triggers::default();
    let mut intruders = Vec::new();
    loop {
        let consumer = member(
            &reader.run.cluster(&reader.reads.cluster)?,
            &reader.group,
            &reader.reads.topic,
        )?;
        let mut progress = Progress::new();
        let next = reader
            .consume(&consumer, &mut progress, &mut triggers, &mut intruders)
            .with_context(|| {
                format!(
                    "reading {} as group `{}`",
                    reader.reads.name(),
                    reader.group
                )
            })?;
        match next {
            Next::Restart => {}
            Next::Stall(duration) => {
                // Out of the group while stalled: a member that only stops polling keeps
                // prefetching in the background, so retention could never pass it.
                drop(consumer);
                std::thread::sleep(duration);
            }
            Next::ResetToEnd => {
                // Leave the group first: the coordinator takes a standalone commit only from
                // an empty group.
                drop(consumer);
                reset_to_end(
                    &reader.run.cluster(&reader.reads.cluster)?,
                    &reader.group,
                    &reader.reads.topic,
                )?;
            }
            Next::Relaunch => {
                tracing::info!(app = %reader.run.app.app, "relaunched");
                drop(consumer);
            }
            Next::Hang => {
                tracing::info!(app = %reader.run.app.app, "hung until relaunched");
                if !reader.hang_until_relaunched() {
                    // Stopped while hung: the run ends with this group behind, as it should.
                    break;
                }
                tracing::info!(app = %reader.run.app.app, "relaunched");
                drop(consumer);
            }
            Next::Finish => {
                reader.settle(&mut progress.pending)?;
                progress.commit(&consumer, &reader.reads.topic);
                break;
            }
        }
    }
    for intruder in intruders {
        intruder
            .join()
            .map_err(|_| anyhow::anyhow!("an intruder thread panicked"))?
            .with_context(|| format!("an intruder in group `{}`", reader.group))?;
    }
    reader.run.ledger.flush().context("flushing the ledger")?;
    Ok(())
}

/// What a reader app is made of: where it reads and writes, and its clients.
struct Reader {
    run: AppRun,
    reads: Location,
    group: String,
    writes: Option<Location>,
    producer: Option<FutureProducer>,
    runtime: tokio::runtime::Runtime,
}

/// What one membership of the group has done since it joined.
struct Progress {
    /// Next offset per partition, for partitions processed since the last commit.
    done: BTreeMap<i32, i64>,
    /// What this member last committed per partition.
    committed: BTreeMap<i32, i64>,
    last_commit: Instant,
    /// Writes not yet acknowledged.
    pending: Vec<Pending>,
}

impl Progress {
    fn new() -> Progress {
        Progress {
            done: BTreeMap::new(),
            committed: BTreeMap::new(),
            last_commit: Instant::now(),
            pending: Vec::new(),
        }
    }

    fn commit(&mut self, consumer: &BaseConsumer, topic: &str) {
        commit(consumer, topic, &mut self.done, &mut self.committed);
    }
}

impl Reader {
    fn new(run: AppRun) -> anyhow::Result<Reader> {
        let reads = run.app.reads.clone().context("a reader reads a location")?;
        let group = run.app.group.clone().context("a reader has a group")?;
        let writes = run.app.writes.clone();
        let producer = writes
            .as_ref()
            .map(|w| run.producer(&w.cluster))
            .transpose()?;
        Ok(Reader {
            run,
            reads,
            group,
            writes,
            producer,
            runtime: runtime()?,
        })
    }

    /// Awaits this app's writes in order.
    fn settle(&self, pending: &mut Vec<Pending>) -> anyhow::Result<()> {
        // The cluster this app writes to ("" for a sink), for settling its acknowledgements.
        let cluster = self.writes.as_ref().map_or("", |w| w.cluster.as_str());
        settle(&self.run, &self.runtime, cluster, pending)
    }

    /// Consumes as one member of the group until a fault ends the membership or stop is
    /// asked while idle.
    fn consume(
        &self,
        consumer: &BaseConsumer,
        progress: &mut Progress,
        triggers: &mut Triggers,
        intruders: &mut Intruders,
    ) -> anyhow::Result<Next> {
        let mut idle = false;
        let mut looked = Instant::now();
        while !(idle && self.run.stop.load(Ordering::Relaxed)) {
            if looked.elapsed() >= CONTROL_EVERY {
                looked = Instant::now();
                if let Some(next) = self.control_asks() {
                    // What is done is committed first: a hang loses nothing, a relaunch
                    // repeats nothing.
                    self.settle(&mut progress.pending)?;
                    progress.commit(consumer, &self.reads.topic);
                    return Ok(next);
                }
            }
            let Some(message) = consumer.poll(POLL) else {
                idle = true;
                self.on_idle(consumer, progress)?;
                continue;
            };
            idle = false;
            let message = match message {
                Ok(message) => message,
                Err(err) => {
                    tracing::debug!(app = %self.run.app.app, error = %err, "consumer error");
                    continue;
                }
            };
            triggers.consumed += 1;
            if let Some(fault) = fault_due(&self.run, triggers) {
                self.settle(&mut progress.pending)?;
                if let Some(next) = self.inject(fault, consumer, progress, intruders)? {
                    return Ok(next);
                }
            }
            self.handle(consumer, progress, &message)?;
        }
        Ok(Next::Finish)
    }

    /// A relaunch or a hang asked through the control files, if any.
    fn control_asks(&self) -> Option<Next> {
        let control = self.run.control.as_ref()?;
        if control.take_relaunch() {
            Some(Next::Relaunch)
        } else if control.hang_asked() {
            Some(Next::Hang)
        } else {
            None
        }
    }

    /// Waits, reading nothing, until a relaunch is asked (true) or the run stops (false).
    fn hang_until_relaunched(&self) -> bool {
        loop {
            if self
                .run
                .control
                .as_ref()
                .is_some_and(Control::take_relaunch)
            {
                return true;
            }
            if self.run.stop.load(Ordering::Relaxed) {
                return false;
            }
            std::thread::sleep(CONTROL_EVERY);
        }
    }

    /// Nothing to read: every write is settled and what is done is committed.
    fn on_idle(&self, consumer: &BaseConsumer, progress: &mut Progress) -> anyhow::Result<()> {
        self.settle(&mut progress.pending)?;
        if progress.last_commit.elapsed() >= COMMIT_INTERVAL {
            note_positions(
                consumer,
                &self.reads.topic,
                &progress.committed,
                &mut progress.done,
            );
            progress.last_commit = Instant::now();
        }
        progress.commit(consumer, &self.reads.topic);
        Ok(())
    }

    /// Injects a due fault (the writes before it are settled); `Some` when it ends the
    /// membership.
    fn inject(
        &self,
        fault: Fault,
        consumer: &BaseConsumer,
        progress: &mut Progress,
        intruders: &mut Intruders,
    ) -> anyhow::Result<Option<Next>> {
        let topic = &self.reads.topic;
        Ok(match fault {
            Fault::Crash => Some(Next::Restart),
            Fault::Stall(duration) => {
                progress.commit(consumer, topic);
                Some(Next::Stall(duration))
            }
            Fault::Intruder(window) => {
                progress.commit(consumer, topic);
                let (config, group, topic) = (
                    self.run.cluster(&self.reads.cluster)?,
                    self.group.clone(),
                    topic.clone(),
                );
                intruders.push(std::thread::spawn(move || {
                    intrude(&config, &group, &topic, window.duration)
                }));
                None
            }
            Fault::Reset => {
                progress.commit(consumer, topic);
                Some(Next::ResetToEnd)
            }
            Fault::Hang => {
                progress.commit(consumer, topic);
                Some(Next::Hang)
            }
        })
    }

    /// Processes one message, and commits what is done every [`COMMIT_INTERVAL`].
    fn handle(
        &self,
        consumer: &BaseConsumer,
        progress: &mut Progress,
        message: &BorrowedMessage<'_>,
    ) -> anyhow::Result<()> {
        process(
            &self.run,
            &self.group,
            &self.reads.cluster,
            self.producer.as_ref(),
            self.writes.as_ref().map(|w| w.topic.as_str()),
            message,
            &mut progress.pending,
        )?;
        progress
            .done
            .insert(message.partition(), message.offset() + 1);
        if progress.pending.len() >= 64 {
            self.settle(&mut progress.pending)?;
        }
        if progress.last_commit.elapsed() >= COMMIT_INTERVAL {
            self.settle(&mut progress.pending)?;
            progress.commit(consumer, &self.reads.topic);
            progress.last_commit = Instant::now();
        }
        Ok(())
    }
}

enum Fault {
    Crash,
    Stall(Duration),
    Intruder(Window),
    Reset,
    Hang,
}

fn fault_due(run: &AppRun, t: &mut Triggers) -> Option<Fault> {
    let faults = &run.behaviour.faults;
    let at = |after: Option<u64>, fired: &mut bool| {
        let due = !*fired && after.is_some_and(|after| t.consumed > after);
        *fired |= due;
        due
    };
    if at(faults.crash_after, &mut t.crashed) {
        // The message that triggered it was not processed; it comes back after the restart.
        t.consumed -= 1;
        return Some(Fault::Crash);
    }
    if at(faults.offset_reset_after, &mut t.reset) {
        t.consumed -= 1;
        return Some(Fault::Reset);
    }
    if let Some(stall) = faults.stall
        && at(Some(stall.after), &mut t.stalled)
    {
        t.consumed -= 1;
        return Some(Fault::Stall(stall.duration));
    }
    if at(faults.hang_after, &mut t.hung) {
        t.consumed -= 1;
        return Some(Fault::Hang);
    }
    if let Some(window) = faults.intruder
        && at(Some(window.after), &mut t.intruded)
    {
        return Some(Fault::Intruder(window));
    }
    None
}

/// One message: skip (untraced), filter, or receive and then drop or write (once or twice).
fn process(
    run: &AppRun,
    group: &str,
    cluster: &str,
    producer: Option<&FutureProducer>,
    topic: Option<&str>,
    message: &BorrowedMessage<'_>,
    pending: &mut Vec<Pending>,
) -> anyhow::Result<()> {
    let Some(id) = message.key().and_then(|k| std::str::from_utf8(k).ok()) else {
        return Ok(());
    };
    // Another run's message, or another producer's: not part of this run.
    if !id.starts_with(&run.prefix) {
        return Ok(());
    }
    let name = &run.app.app;
    let faults = &run.behaviour.faults;
    if picks(name, "skip", id, faults.skip_share) {
        return Ok(());
    }
    let mut entry = Entry {
        id: id.to_owned(),
        action: Action::Received,
        location: format!("{cluster}/{}", message.topic()),
        partition: message.partition(),
        offset: message.offset(),
    };
    if picks(name, "filter", id, run.behaviour.filter_share) {
        entry.action = Action::Filtered;
        run.ledger.record(&entry)?;
        run.tracer.filtered_message(id, cluster, group, message);
        return Ok(());
    }
    run.ledger.record(&entry)?;
    run.tracer.received_message(id, cluster, group, message);
    let (Some(producer), Some(topic)) = (producer, topic) else {
        return Ok(());
    };
    if picks(name, "drop", id, faults.drop_share) {
        return Ok(());
    }
    pending.push(write(producer, topic, id)?);
    if picks(name, "duplicate", id, faults.duplicate_share) {
        pending.push(write(producer, topic, id)?);
    }
    Ok(())
}

/// A consumer-group member that commits by hand and starts new groups at the log start.
fn member(cluster: &ClientConfig, group: &str, topic: &str) -> anyhow::Result<BaseConsumer> {
    let consumer: BaseConsumer = cluster
        .clone()
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500")
        .create()
        .with_context(|| format!("creating a consumer for group `{group}`"))?;
    consumer
        .subscribe(&[topic])
        .with_context(|| format!("subscribing group `{group}` to {topic}"))?;
    Ok(consumer)
}

/// When idle (the last poll gave nothing and every write is acknowledged), the consumer's
/// position on each owned partition is done too, and is committed like a real app's
/// auto-commit would. Where this member has consumed nothing of a partition its position is
/// unknown to librdkafka, yet the consumer is reading from the group's committed offset or,
/// when retention already removed that offset, from the log start (`auto.offset.reset`):
/// then the log start is what the group has done, since nothing before it can be read any
/// more. Without this a reader that comes back to a log retention emptied never commits
/// again and never catches up.
fn note_positions(
    consumer: &BaseConsumer,
    topic: &str,
    committed: &BTreeMap<i32, i64>,
    done: &mut BTreeMap<i32, i64>,
) {
    let Ok(positions) = consumer.position() else {
        return;
    };
    let mut unknown = TopicPartitionList::new();
    for element in positions.elements_for_topic(topic) {
        match element.offset() {
            Offset::Offset(offset) => {
                if committed.get(&element.partition()) != Some(&offset) {
                    done.entry(element.partition()).or_insert(offset);
                }
            }
            _ => {
                unknown.add_partition(topic, element.partition());
            }
        }
    }
    if unknown.count() == 0 {
        return;
    }
    let Ok(group) = consumer.committed_offsets(unknown, ACK_TIMEOUT) else {
        return;
    };
    for element in group.elements_for_topic(topic) {
        let partition = element.partition();
        let Ok((log_start, _)) = consumer.fetch_watermarks(topic, partition, ACK_TIMEOUT) else {
            continue;
        };
        let expired = match element.offset() {
            Offset::Offset(offset) => offset < log_start,
            _ => true,
        };
        if expired && committed.get(&partition) != Some(&log_start) {
            done.entry(partition).or_insert(log_start);
        }
    }
}

/// Commits the processed offsets of partitions the consumer still owns, and notes them in
/// `committed`.
fn commit(
    consumer: &BaseConsumer,
    topic: &str,
    done: &mut BTreeMap<i32, i64>,
    committed: &mut BTreeMap<i32, i64>,
) {
    if done.is_empty() {
        return;
    }
    let owned = consumer.assignment().unwrap_or_default();
    let mut list = TopicPartitionList::new();
    for (&partition, &offset) in done.iter() {
        if owned.find_partition(topic, partition).is_some() {
            let _ = list.add_partition_offset(topic, partition, Offset::Offset(offset));
        }
    }
    done.clear();
    if list.count() == 0 {
        return;
    }
    match consumer.commit(&list, CommitMode::Sync) {
        Ok(()) => {
            for element in list.elements() {
                if let Offset::Offset(offset) = element.offset() {
                    committed.insert(element.partition(), offset);
                }
            }
        }
        Err(err) => tracing::debug!(%topic, error = %err, "commit refused"),
    }
}

/// An untraced consumer in `group` for `duration`: reads and commits whatever it is given.
fn intrude(
    cluster: &ClientConfig,
    group: &str,
    topic: &str,
    duration: Duration,
) -> anyhow::Result<()> {
    let consumer = member(cluster, group, topic)?;
    let until = Instant::now() + duration;
    let (mut done, mut committed) = (BTreeMap::new(), BTreeMap::new());
    while Instant::now() < until {
        if let Some(Ok(message)) = consumer.poll(POLL) {
            done.insert(message.partition(), message.offset() + 1);
        }
        commit(&consumer, topic, &mut done, &mut committed);
    }
    commit(&consumer, topic, &mut done, &mut committed);
    Ok(())
}

/// Moves `group`'s committed offsets on every partition of `topic` to the log end, as
/// `kafka-consumer-groups --reset-offsets --to-latest` does (the group must be empty).
fn reset_to_end(cluster: &ClientConfig, group: &str, topic: &str) -> anyhow::Result<()> {
    let consumer: BaseConsumer = cluster
        .clone()
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()?;
    let metadata = consumer.fetch_metadata(Some(topic), ACK_TIMEOUT)?;
    let mut list = TopicPartitionList::new();
    for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
        let (_, end) = consumer.fetch_watermarks(topic, partition.id(), ACK_TIMEOUT)?;
        list.add_partition_offset(topic, partition.id(), Offset::Offset(end))?;
    }
    // The old member may still be leaving; retry until the coordinator accepts a standalone commit.
    let mut tries = 0;
    loop {
        match consumer.commit(&list, CommitMode::Sync) {
            Ok(()) => return Ok(()),
            Err(err) if tries < 50 => {
                tries += 1;
                tracing::debug!(%group, error = %err, "offset reset refused, retrying");
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(err) => {
                return Err(err)
                    .with_context(|| format!("resetting group `{group}` to the log end"));
            }
        }
    }
}
