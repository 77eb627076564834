//! Property tests of the detector against a small simulated Kafka pipeline.
//!
//! Each case draws a lineage (a chain of 0–3 processors, so 1–4 read hops along it;
//! fan-out to up to 3 groups per location; an optional second cluster; one or two
//! producers merging into the first location) and a fate per message (delivered; dropped
//! by a reader; dropped inside a processor; filtered; written twice; redelivered; a sink's
//! trace arriving far too late; a `sent` trace lost), plus consumers that stall on one
//! partition for a while or forever, retention that may overtake a stalled consumer, and
//! optionally a restart from drained state.
//!
//! The simulation is a discrete-event model of Kafka: offsets are assigned per partition
//! in write order; each group processes a partition in offset order and commits only
//! after it has processed (and traced) a message, or after dropping it when the fate says
//! so. Traces reach the detector after a random delay of at most the confirmation delay
//! (a trace may land after the commit, never later than that), except the deliberately
//! late ones. The detector sees committed offsets through a `StaticOffsets` re-polled every
//! 500 ms. The truth is what the simulation did; the verdicts and counters must equal it.

use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use cairn_core::config::{AppConfig, Location, StreamConfig, Timing};
use cairn_core::detector::Detector;
use cairn_core::lineage::Lineage;
use cairn_core::metrics::{Metrics, catalog};
use cairn_core::model::{Kind, Millis, Reason, Trace, Verdict, VerdictKind};
use cairn_core::offsets::StaticOffsets;
use proptest::prelude::*;

const FIRST_CHECK: Millis = 5_000;
const CONFIRM: Millis = 3_000;
const MAX_WAIT: Millis = 120_000;
const DEDUP: Millis = 300_000;
const TICK: Millis = 100;
const POLL: Millis = 500;
const END: Millis = 700_000;
/// How late a deliberately late trace is: far past any confirmation.
const LATE: Millis = 40_000;
/// How often the test drains changed state into its store (as the shell checkpoints).
const DRAIN_EVERY: Millis = 1_000;

fn timing() -> Timing {
    Timing {
        first_check: Duration::from_millis(FIRST_CHECK as u64),
        backoff: Duration::from_secs(1),
        backoff_max: Duration::from_secs(4),
        max_wait: Duration::from_millis(MAX_WAIT as u64),
        confirmation_delay: Duration::from_millis(CONFIRM as u64),
        dedup_window: Duration::from_millis(DEDUP as u64),
        max_offsets_age: Duration::from_secs(5),
    }
}

/// A tiny deterministic generator for the simulation's own choices (delays, partitions).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }
}

// ---------------------------------------------------------------------------------------
// The generated case.

#[derive(Clone, Debug)]
struct LineageSpec {
    /// Processors in the chain: locations t0..=t{chain}.
    chain: usize,
    /// Extra sink groups per location (the last location gets at least one).
    sinks: Vec<usize>,
    /// Per location: on the second cluster?
    on_b: Vec<bool>,
    two_producers: bool,
    partitions: i32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    Delivered,
    /// A reader commits past the message without reading it.
    DropAtReception,
    /// A processor reads it, commits, and never writes it on.
    DropInApp,
    /// A processor reads it and filters it on purpose.
    Filtered,
    /// The writer of a location writes it twice.
    WriteTwice,
    /// A reader is handed it twice (a processor then writes it twice).
    Redeliver,
    /// A sink's `received` trace arrives long after the verdict.
    LateSinkTrace,
    /// The `sent` trace at a location never arrives.
    DropSentTrace,
}

#[derive(Clone, Debug)]
struct MessageSpec {
    fate: Fate,
    target: u8,
    producer: u8,
    at: Millis,
}

#[derive(Clone, Debug)]
struct StallSpec {
    reader: u8,
    forever: bool,
    until: Millis,
}

#[derive(Clone, Debug)]
struct Case {
    lineage: LineageSpec,
    messages: Vec<MessageSpec>,
    stalls: Vec<StallSpec>,
    /// Retention overtaking a consumer that stalled for good on partition 0 of the first
    /// location: (which reader of it, when, how many offsets it drops).
    expire: Option<(u8, Millis, i64)>,
    restart_at: Option<Millis>,
    seed: u64,
}

fn fate() -> impl Strategy<Value = Fate> {
    prop_oneof![
        6 => Just(Fate::Delivered),
        1 => Just(Fate::DropAtReception),
        1 => Just(Fate::DropInApp),
        1 => Just(Fate::Filtered),
        1 => Just(Fate::WriteTwice),
        1 => Just(Fate::Redeliver),
        1 => Just(Fate::LateSinkTrace),
        1 => Just(Fate::DropSentTrace),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    let lineage = (
        0usize..=3,
        prop::collection::vec(0usize..=2, 4),
        prop::collection::vec(any::<bool>(), 4),
        any::<bool>(),
        any::<bool>(),
        2i32..=3,
    )
        .prop_map(
            |(chain, sinks, on_b, second_cluster, two_producers, partitions)| LineageSpec {
                chain,
                sinks,
                on_b: on_b.into_iter().map(|b| b && second_cluster).collect(),
                two_producers,
                partitions,
            },
        );
    let message =
        (fate(), any::<u8>(), any::<u8>(), 0i64..5_000).prop_map(|(fate, target, producer, at)| {
            MessageSpec {
                fate,
                target,
                producer,
                at,
            }
        });
    let stall =
        (any::<u8>(), any::<bool>(), 20_000i64..60_000).prop_map(|(reader, forever, until)| {
            StallSpec {
                reader,
                forever,
                until,
            }
        });
    (
        lineage,
        prop::collection::vec(message, 1..30),
        prop::collection::vec(stall, 0..=2),
        proptest::option::of((any::<u8>(), 30_000i64..60_000, 0i64..12)),
        proptest::option::of(1_000i64..150_000),
        any::<u64>(),
    )
        .prop_map(
            |(lineage, messages, stalls, expire, restart_at, seed)| Case {
                lineage,
                messages,
                stalls,
                expire,
                restart_at,
                seed,
            },
        )
}

// ---------------------------------------------------------------------------------------
// The pipeline the lineage describes.

#[derive(Clone, Debug)]
struct Reader {
    app: String,
    group: String,
    reads: usize,
    writes: Option<usize>,
}

struct Pipeline {
    locations: Vec<String>,
    producers: Vec<String>,
    readers: Vec<Reader>,
    /// Readers of each location.
    readers_of: Vec<Vec<usize>>,
    partitions: i32,
}

impl Pipeline {
    fn new(spec: &LineageSpec) -> Pipeline {
        let n = spec.chain + 1;
        let locations: Vec<String> = (0..n)
            .map(|i| format!("{}/t{i}", if spec.on_b[i] { "b" } else { "a" }))
            .collect();
        let producers = if spec.two_producers {
            vec!["p0".to_owned(), "p1".to_owned()]
        } else {
            vec!["p0".to_owned()]
        };
        let mut readers = Vec::new();
        for i in 0..spec.chain {
            readers.push(Reader {
                app: format!("x{i}"),
                group: format!("gx{i}"),
                reads: i,
                writes: Some(i + 1),
            });
        }
        for (i, &extra) in spec.sinks.iter().take(n).enumerate() {
            let count = if i == n - 1 { extra.max(1) } else { extra };
            for j in 0..count {
                readers.push(Reader {
                    app: format!("s{i}_{j}"),
                    group: format!("gs{i}_{j}"),
                    reads: i,
                    writes: None,
                });
            }
        }
        let mut readers_of = vec![Vec::new(); n];
        for (r, reader) in readers.iter().enumerate() {
            readers_of[reader.reads].push(r);
        }
        Pipeline {
            locations,
            producers,
            readers,
            readers_of,
            partitions: spec.partitions,
        }
    }

    fn stream_config(&self) -> StreamConfig {
        let loc = |name: &str| {
            let (cluster, topic) = name.split_once('/').unwrap_or(("a", name));
            Location {
                cluster: cluster.to_owned(),
                topic: topic.to_owned(),
            }
        };
        let mut apps: Vec<AppConfig> = self
            .producers
            .iter()
            .map(|p| AppConfig {
                app: p.clone(),
                group: None,
                reads: None,
                writes: Some(loc(&self.locations[0])),
            })
            .collect();
        apps.extend(self.readers.iter().map(|r| AppConfig {
            app: r.app.clone(),
            group: Some(r.group.clone()),
            reads: Some(loc(&self.locations[r.reads])),
            writes: r.writes.map(|w| loc(&self.locations[w])),
        }));
        StreamConfig {
            name: "s".to_owned(),
            timing: timing(),
            sample_rate: 1.0,
            apps,
        }
    }

    fn processors(&self) -> Vec<usize> {
        (0..self.readers.len())
            .filter(|&r| self.readers[r].writes.is_some())
            .collect()
    }

    fn sinks(&self) -> Vec<usize> {
        (0..self.readers.len())
            .filter(|&r| self.readers[r].writes.is_none())
            .collect()
    }
}

// ---------------------------------------------------------------------------------------
// The simulation.

/// A message's fate with its target resolved against the pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Resolved {
    Delivered,
    DropAtReception(usize),
    DropInApp(usize),
    Filtered(usize),
    WriteTwice(usize),
    Redeliver(usize),
    LateSinkTrace(usize),
    DropSentTrace(usize),
}

fn resolve(p: &Pipeline, m: &MessageSpec) -> Resolved {
    let pick = |v: &[usize]| (!v.is_empty()).then(|| v[m.target as usize % v.len()]);
    let all: Vec<usize> = (0..p.readers.len()).collect();
    let location = m.target as usize % p.locations.len();
    let r = match m.fate {
        Fate::Delivered => None,
        Fate::DropAtReception => pick(&all).map(Resolved::DropAtReception),
        Fate::DropInApp => pick(&p.processors()).map(Resolved::DropInApp),
        Fate::Filtered => pick(&p.processors()).map(Resolved::Filtered),
        Fate::WriteTwice => Some(Resolved::WriteTwice(location)),
        Fate::Redeliver => pick(&all).map(Resolved::Redeliver),
        Fate::LateSinkTrace => pick(&p.sinks()).map(Resolved::LateSinkTrace),
        Fate::DropSentTrace => Some(Resolved::DropSentTrace(location)),
    };
    r.unwrap_or(Resolved::Delivered)
}

/// Who writes a copy: a producer (by index) or a processor (by reader index).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Writer {
    Producer(usize),
    Processor(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    Write {
        msg: usize,
        location: usize,
        writer: Writer,
        copy: u32,
    },
    Process {
        msg: usize,
        reader: usize,
        partition: i32,
        offset: i64,
        again: bool,
    },
    Commit {
        reader: usize,
        partition: i32,
        value: i64,
    },
    Expire {
        value: i64,
    },
}

/// A trace on its way to the detector.
#[derive(Clone, Debug)]
struct InFlight {
    arrival: Millis,
    seq: u64,
    id: String,
    kind: Kind,
    location: String,
    partition: i32,
    offset: i64,
    app: String,
    group: Option<String>,
    ts: Millis,
}

impl InFlight {
    fn trace(&self) -> Trace<'_> {
        Trace {
            id: Cow::Borrowed(&self.id),
            stream: Cow::Borrowed("s"),
            kind: self.kind,
            location: Cow::Borrowed(&self.location),
            partition: self.partition,
            offset: self.offset,
            app: Cow::Borrowed(&self.app),
            group: self.group.as_deref().map(Cow::Borrowed),
            ts: self.ts,
        }
    }
}

/// A lost verdict as compared: (id, hop app, hop location, reason, message location,
/// partition, offset).
type LostLine = (String, String, String, &'static str, String, i32, i64);

/// What the detector must conclude.
#[derive(Debug, Default)]
struct Truth {
    lost: Vec<LostLine>,
    /// (id, hop app, reason).
    retracted: Vec<(String, String, &'static str)>,
    /// (message, reader) pairs still open at max wait.
    stuck: Vec<(usize, usize)>,
    trace_gaps: u64,
}

struct Sim<'p> {
    p: &'p Pipeline,
    fates: Vec<Resolved>,
    ids: Vec<String>,
    rng: Rng,
    events: BinaryHeap<Reverse<(Millis, u64, Event)>>,
    seq: u64,
    in_flight: Vec<InFlight>,
    next_offset: HashMap<(usize, i32), i64>,
    /// When each (reader, partition) consumer is free again.
    free_at: HashMap<(usize, i32), Millis>,
    /// Stalls on partition 0: reader → until (None = forever).
    stalls: HashMap<usize, Option<Millis>>,
    committed: HashMap<(usize, i32), i64>,
    log_start: i64,
    /// Copies written at partition 0 of the first location that a forever-stalled reader never read.
    unread_at_first: Vec<(usize, usize, i64)>,
    truth: Truth,
    /// Every trace emitted, for counting duplicates by definition.
    emitted: Vec<InFlight>,
}

impl<'p> Sim<'p> {
    fn new(p: &'p Pipeline, fates: Vec<Resolved>, seed: u64) -> Self {
        Sim {
            p,
            ids: (0..fates.len()).map(|i| format!("msg-{i}")).collect(),
            fates,
            rng: Rng(seed),
            events: BinaryHeap::new(),
            seq: 0,
            in_flight: Vec::new(),
            next_offset: HashMap::new(),
            free_at: HashMap::new(),
            stalls: HashMap::new(),
            committed: HashMap::new(),
            log_start: 0,
            unread_at_first: Vec::new(),
            truth: Truth::default(),
            emitted: Vec::new(),
        }
    }

    fn schedule(&mut self, at: Millis, event: Event) {
        self.seq += 1;
        self.events.push(Reverse((at, self.seq, event)));
    }

    #[allow(clippy::too_many_arguments)]
    fn emit(
        &mut self,
        msg: usize,
        kind: Kind,
        app: &str,
        group: Option<&str>,
        location: usize,
        at: (i32, i64),
        ts: Millis,
        delay: Millis,
    ) {
        self.in_flight.push(InFlight {
            arrival: ts + delay,
            seq: self.rng.next(),
            id: self.ids[msg].clone(),
            kind,
            location: self.p.locations[location].clone(),
            partition: at.0,
            offset: at.1,
            app: app.to_owned(),
            group: group.map(str::to_owned),
            ts,
        });
        if let Some(t) = self.in_flight.last() {
            self.emitted.push(t.clone());
        }
    }

    /// A normal trace delay: anywhere up to the confirmation delay, often exactly it.
    fn delay(&mut self, msg: usize, location: usize) -> Millis {
        if self.fates[msg] == Resolved::DropSentTrace(location) {
            // Downstream traces are all that places the message here: keep them well in time.
            return self.rng.range(0, CONFIRM - 500);
        }
        match self.rng.range(0, 3) {
            0 => CONFIRM,
            _ => self.rng.range(0, CONFIRM),
        }
    }

    fn write(&mut self, now: Millis, msg: usize, location: usize, writer: Writer, copy: u32) {
        let fated = self.fates[msg] != Resolved::Delivered;
        // Fated messages keep off partition 0, where consumers may stall.
        let partition = if fated {
            self.rng.range(1, i64::from(self.p.partitions) - 1) as i32
        } else {
            self.rng.range(0, i64::from(self.p.partitions) - 1) as i32
        };
        let next = self.next_offset.entry((location, partition)).or_insert(0);
        let offset = *next;
        *next += 1;
        let app = match writer {
            Writer::Producer(i) => self.p.producers[i].clone(),
            Writer::Processor(r) => self.p.readers[r].app.clone(),
        };
        if self.fates[msg] == Resolved::DropSentTrace(location) {
            self.truth.trace_gaps += 1;
        } else {
            let d = self.delay(msg, location);
            self.emit(
                msg,
                Kind::Sent,
                &app,
                None,
                location,
                (partition, offset),
                now,
                d,
            );
        }
        if self.fates[msg] == Resolved::WriteTwice(location) && copy == 0 {
            self.schedule(
                now + 5,
                Event::Write {
                    msg,
                    location,
                    writer,
                    copy: 1,
                },
            );
        }
        for &r in &self.p.readers_of[location].clone() {
            let stall = if partition == 0 {
                self.stalls.get(&r).copied()
            } else {
                None
            };
            match stall {
                Some(None) => {
                    if location == 0 {
                        self.unread_at_first.push((msg, r, offset));
                    } else {
                        self.truth.stuck.push((msg, r));
                    }
                }
                Some(Some(until)) => self.queue(now.max(until), msg, r, partition, offset),
                None => self.queue(now, msg, r, partition, offset),
            }
        }
    }

    /// Processing happens in offset order per consumer: after the previous one is done.
    fn queue(&mut self, available: Millis, msg: usize, reader: usize, partition: i32, offset: i64) {
        let free = self.free_at.get(&(reader, partition)).copied().unwrap_or(0);
        let done = available.max(free) + self.rng.range(5, 300);
        self.free_at.insert((reader, partition), done);
        self.schedule(
            done,
            Event::Process {
                msg,
                reader,
                partition,
                offset,
                again: false,
            },
        );
    }

    fn process(&mut self, now: Millis, msg: usize, r: usize, at: (i32, i64), again: bool) {
        let commit = Event::Commit {
            reader: r,
            partition: at.0,
            value: at.1 + 1,
        };
        if self.fates[msg] == Resolved::DropAtReception(r) {
            let lost = self.lost(msg, r, Reason::CommittedPast, self.p.readers[r].reads, at);
            self.truth.lost.push(lost);
            self.schedule(now, commit);
            return;
        }
        self.receive(now, msg, r, at, again);
        self.pass_on(now, msg, r, at, again, commit);
    }

    /// The truth line of a message that reader `r` lost at `hop_location`.
    fn lost(
        &self,
        msg: usize,
        r: usize,
        reason: Reason,
        hop_location: usize,
        at: (i32, i64),
    ) -> LostLine {
        let reader = &self.p.readers[r];
        (
            self.ids[msg].clone(),
            reader.app.clone(),
            self.p.locations[hop_location].clone(),
            reason.as_str(),
            self.p.locations[reader.reads].clone(),
            at.0,
            at.1,
        )
    }

    /// Reader `r` traces `received` (late, when its fate says so), and is handed the message
    /// once more when it is to be redelivered.
    fn receive(&mut self, now: Millis, msg: usize, r: usize, at: (i32, i64), again: bool) {
        let reader = self.p.readers[r].clone();
        let fate = self.fates[msg];
        let mut d = self.delay(msg, reader.reads);
        if fate == Resolved::LateSinkTrace(r) {
            d += LATE;
            let lost = self.lost(msg, r, Reason::CommittedPast, reader.reads, at);
            self.truth.lost.push(lost);
            self.truth.retracted.push((
                self.ids[msg].clone(),
                reader.app.clone(),
                Reason::CommittedPast.as_str(),
            ));
        }
        self.emit(
            msg,
            Kind::Received,
            &reader.app,
            Some(&reader.group),
            reader.reads,
            at,
            now,
            d,
        );
        if fate == Resolved::Redeliver(r) && !again {
            self.schedule(
                now + 10,
                Event::Process {
                    msg,
                    reader: r,
                    partition: at.0,
                    offset: at.1,
                    again: true,
                },
            );
        }
    }

    /// After reading: a sink commits; a processor filters, drops or writes the message on,
    /// and commits after the write (at-least-once).
    fn pass_on(
        &mut self,
        now: Millis,
        msg: usize,
        r: usize,
        at: (i32, i64),
        again: bool,
        commit: Event,
    ) {
        let reader = self.p.readers[r].clone();
        let fate = self.fates[msg];
        match reader.writes {
            None => self.schedule(now, commit),
            Some(_) if fate == Resolved::Filtered(r) => {
                let d = self.delay(msg, reader.reads);
                self.emit(
                    msg,
                    Kind::Filtered,
                    &reader.app,
                    Some(&reader.group),
                    reader.reads,
                    at,
                    now,
                    d,
                );
                self.schedule(now, commit);
            }
            Some(w) => {
                let write_at = now + self.rng.range(0, 50);
                if fate == Resolved::DropInApp(r) {
                    let lost = self.lost(msg, r, Reason::LostInApp, w, at);
                    self.truth.lost.push(lost);
                } else {
                    let copy = if again { 2 } else { 0 };
                    self.schedule(
                        write_at,
                        Event::Write {
                            msg,
                            location: w,
                            writer: Writer::Processor(r),
                            copy,
                        },
                    );
                }
                // Commit after the write: at-least-once.
                self.schedule(write_at, commit);
            }
        }
    }

    fn handle(&mut self, now: Millis, event: Event) {
        match event {
            Event::Write {
                msg,
                location,
                writer,
                copy,
            } => self.write(now, msg, location, writer, copy),
            Event::Process {
                msg,
                reader,
                partition,
                offset,
                again,
            } => self.process(now, msg, reader, (partition, offset), again),
            Event::Commit {
                reader,
                partition,
                value,
            } => {
                let c = self.committed.entry((reader, partition)).or_insert(0);
                *c = (*c).max(value);
            }
            Event::Expire { value } => self.log_start = value,
        }
    }

    fn offsets(&self, now: Millis) -> StaticOffsets {
        let mut view = StaticOffsets::default();
        for (&(r, partition), &value) in &self.committed {
            let reader = &self.p.readers[r];
            view.set_committed(
                &reader.group,
                &self.p.locations[reader.reads],
                partition,
                value,
                now,
            );
        }
        for (location, name) in self.p.locations.iter().enumerate() {
            for partition in 0..self.p.partitions {
                let start = if location == 0 && partition == 0 {
                    self.log_start
                } else {
                    0
                };
                view.set_log_start(name, partition, start, now);
            }
        }
        view
    }
}

/// What the detector said over the whole run.
struct Outcome {
    verdicts: Vec<Verdict>,
    metrics: Metrics,
    in_memory: usize,
}

fn run(case: &Case) -> (Vec<Resolved>, Truth, Outcome, Vec<InFlight>) {
    let p = Pipeline::new(&case.lineage);
    let lineage =
        Arc::new(Lineage::compile(&[p.stream_config()]).expect("generated lineage compiles"));
    let fates: Vec<Resolved> = case.messages.iter().map(|m| resolve(&p, m)).collect();
    let mut sim = Sim::new(&p, fates.clone(), case.seed);
    sim.prepare(case);
    let outcome = play(&mut sim, case, lineage);
    let truth = sim.final_truth();
    (fates, truth, outcome, std::mem::take(&mut sim.emitted))
}

impl Sim<'_> {
    /// Sets the case's stalls and retention, and schedules the producers' writes.
    fn prepare(&mut self, case: &Case) {
        let p = self.p;
        // At most one stall per location, so retention never overtakes two consumers at once.
        let mut stalled_locations = Vec::new();
        if let Some((reader, when, count)) = case.expire {
            let r = p.readers_of[0][reader as usize % p.readers_of[0].len()];
            self.stalls.insert(r, None);
            stalled_locations.push(0);
            self.schedule(when, Event::Expire { value: count });
        }
        for s in &case.stalls {
            let r = s.reader as usize % p.readers.len();
            let location = p.readers[r].reads;
            if !stalled_locations.contains(&location) {
                stalled_locations.push(location);
                self.stalls.insert(r, (!s.forever).then_some(s.until));
            }
        }
        for (i, m) in case.messages.iter().enumerate() {
            let producer = m.producer as usize % p.producers.len();
            self.schedule(
                m.at,
                Event::Write {
                    msg: i,
                    location: 0,
                    writer: Writer::Producer(producer),
                    copy: 0,
                },
            );
        }
    }

    /// Handles every event due by `now`.
    fn run_due(&mut self, now: Millis) {
        while let Some(Reverse((at, _, event))) = self.events.peek().copied() {
            if at > now {
                break;
            }
            self.events.pop();
            self.handle(at, event);
        }
    }

    /// The traces that reach the detector by `now`, in arrival order.
    fn arrived(&mut self, now: Millis) -> Vec<InFlight> {
        let mut arrived: Vec<InFlight> = Vec::new();
        self.in_flight.retain(|t| {
            if t.arrival <= now {
                arrived.push(t.clone());
                false
            } else {
                true
            }
        });
        arrived.sort_by_key(|t| (t.arrival, t.seq));
        arrived
    }

    /// The truth once the run is over: what a reader stalled for good never read at the
    /// first location is lost if retention passed it, else stuck.
    fn final_truth(&mut self) -> Truth {
        let p = self.p;
        let mut truth = std::mem::take(&mut self.truth);
        for &(msg, r, offset) in &self.unread_at_first {
            let reader = &p.readers[r];
            if offset < self.log_start {
                let location = p.locations[0].clone();
                truth.lost.push((
                    self.ids[msg].clone(),
                    reader.app.clone(),
                    location.clone(),
                    Reason::Expired.as_str(),
                    location,
                    0,
                    offset,
                ));
            } else {
                truth.stuck.push((msg, r));
            }
        }
        truth
    }
}

/// Runs the simulation tick by tick against the detector, as the shell would.
fn play(sim: &mut Sim, case: &Case, lineage: Arc<Lineage>) -> Outcome {
    let mut job = Job::new(lineage);
    let mut offsets = sim.offsets(0);
    let mut now = 0;
    while now <= END {
        sim.run_due(now);
        for t in &sim.arrived(now) {
            job.detector.on_trace(&t.trace(), now, &mut job.verdicts);
        }
        if now % POLL == 0 {
            offsets = sim.offsets(now);
        }
        job.detector.on_tick(now, &offsets, &mut job.verdicts);
        if now % DRAIN_EVERY == 0 {
            drain(&mut job.detector, &mut job.store);
        }
        if let Some(at) = case.restart_at
            && !job.restarted
            && now >= at
        {
            job.restart();
        }
        now += TICK;
    }
    job.finish()
}

/// The detector as the shell holds it: its verdicts, its drained state, and the metrics of
/// an instance that restarted.
struct Job {
    lineage: Arc<Lineage>,
    detector: Detector,
    retired: Metrics,
    store: BTreeMap<String, Vec<u8>>,
    restarted: bool,
    verdicts: Vec<Verdict>,
}

impl Job {
    fn new(lineage: Arc<Lineage>) -> Job {
        Job {
            detector: Detector::new(lineage.clone()),
            lineage,
            retired: Metrics::default(),
            store: BTreeMap::new(),
            restarted: false,
            verdicts: Vec::new(),
        }
    }

    /// A new detector restored from the drained state.
    fn restart(&mut self) {
        drain(&mut self.detector, &mut self.store);
        self.retired.merge(self.detector.metrics());
        self.detector = Detector::new(self.lineage.clone());
        for (id, bytes) in &self.store {
            self.detector
                .restore(id, bytes)
                .expect("drained state restores");
        }
        self.restarted = true;
    }

    fn finish(mut self) -> Outcome {
        drain(&mut self.detector, &mut self.store);
        assert!(
            self.store.is_empty(),
            "the store follows the detector: {} states left",
            self.store.len()
        );
        self.retired.merge(self.detector.metrics());
        Outcome {
            verdicts: self.verdicts,
            metrics: self.retired,
            in_memory: self.detector.messages_in_memory(),
        }
    }
}

fn drain(detector: &mut Detector, store: &mut BTreeMap<String, Vec<u8>>) {
    detector
        .drain_changes(|c| match c.state {
            Some(bytes) => {
                store.insert(c.id.to_owned(), bytes.to_vec());
            }
            None => {
                store.remove(c.id);
            }
        })
        .expect("state encodes");
}

/// Extra copies by definition, from the traces the simulation emitted.
fn duplicates_in(traces: &[InFlight]) -> (u64, u64) {
    let mut sent: HashMap<(&str, &str), Vec<(i32, i64)>> = HashMap::new();
    let mut received: HashMap<(&str, &str), u64> = HashMap::new();
    for t in traces {
        match t.kind {
            Kind::Sent => {
                let copies = sent.entry((&t.id, &t.location)).or_default();
                if !copies.contains(&(t.partition, t.offset)) {
                    copies.push((t.partition, t.offset));
                }
            }
            Kind::Received => *received.entry((&t.id, &t.app)).or_default() += 1,
            Kind::Filtered => {}
        }
    }
    let written = sent.values().map(|v| v.len() as u64 - 1).sum();
    let delivered = received.values().map(|&n| n - 1).sum();
    (written, delivered)
}

fn check(case: &Case) -> Result<(), TestCaseError> {
    let (fates, mut truth, outcome, all_traces) = run(case);
    print_stats(case, &truth, &all_traces);
    check_verdicts(&outcome, &mut truth, &fates)?;
    check_counters(case, &outcome, &truth, &all_traces)?;
    check_completion(case, &outcome, &truth)
}

fn print_stats(case: &Case, truth: &Truth, all_traces: &[InFlight]) {
    // `CAIRN_PROP_STATS=1 cargo test --test detector_props -- --nocapture` shows what the cases exercise.
    if std::env::var_os("CAIRN_PROP_STATS").is_some() {
        let (w, d) = duplicates_in(all_traces);
        let reasons: Vec<&str> = truth.lost.iter().map(|l| l.3).collect();
        eprintln!(
            "stats lost={reasons:?} retracted={} stuck={} gaps={} written={w} delivered={d} restart={:?}",
            truth.retracted.len(),
            truth.stuck.len(),
            truth.trace_gaps,
            case.restart_at
        );
    }
}

/// The lost and retracted verdicts are exactly the truth's.
fn check_verdicts(
    outcome: &Outcome,
    truth: &mut Truth,
    fates: &[Resolved],
) -> Result<(), TestCaseError> {
    let mut lost: Vec<_> = outcome
        .verdicts
        .iter()
        .filter(|v| v.verdict == VerdictKind::Lost)
        .map(|v| {
            (
                v.id.clone(),
                v.hop.app.clone(),
                v.hop.location.clone(),
                v.reason.as_str(),
                v.message.location.clone(),
                v.message.partition,
                v.message.offset,
            )
        })
        .collect();
    lost.sort();
    truth.lost.sort();
    prop_assert_eq!(&lost, &truth.lost, "lost verdicts (fates {:?})", fates);

    let mut retracted: Vec<_> = outcome
        .verdicts
        .iter()
        .filter(|v| v.verdict == VerdictKind::Retracted)
        .map(|v| (v.id.clone(), v.hop.app.clone(), v.reason.as_str()))
        .collect();
    retracted.sort();
    truth.retracted.sort();
    prop_assert_eq!(&retracted, &truth.retracted, "retractions");
    Ok(())
}

/// Every counter equals what the simulation did.
fn check_counters(
    case: &Case,
    outcome: &Outcome,
    truth: &Truth,
    all_traces: &[InFlight],
) -> Result<(), TestCaseError> {
    let m = &outcome.metrics;
    let (written, delivered) = duplicates_in(all_traces);
    prop_assert_eq!(
        m.total(catalog::DUPLICATES.name, Some("written_twice")),
        written,
        "written twice"
    );
    prop_assert_eq!(
        m.total(catalog::DUPLICATES.name, Some("delivered_twice")),
        delivered,
        "delivered twice"
    );
    prop_assert_eq!(
        m.total(catalog::TRACE_GAPS.name, None),
        truth.trace_gaps,
        "trace gaps"
    );
    prop_assert_eq!(
        m.total(catalog::STUCK.name, None),
        truth.stuck.len() as u64,
        "stuck"
    );
    prop_assert_eq!(
        m.total(catalog::RETRACTED.name, None),
        truth.retracted.len() as u64
    );
    prop_assert_eq!(m.total(catalog::TRACES_REJECTED.name, None), 0);
    prop_assert_eq!(
        m.total(catalog::MESSAGES_SEEN.name, None),
        case.messages.len() as u64
    );
    for reason in Reason::ALL {
        let want = truth.lost.iter().filter(|l| l.3 == reason.as_str()).count() as u64;
        prop_assert_eq!(
            m.total(catalog::LOST.name, Some(reason.as_str())),
            want,
            "lost {:?}",
            reason
        );
    }
    Ok(())
}

/// Messages complete exactly when nothing was lost or stuck, and none is left in memory.
fn check_completion(case: &Case, outcome: &Outcome, truth: &Truth) -> Result<(), TestCaseError> {
    let m = &outcome.metrics;
    // Complete: every message without an unretracted loss and without a stuck hop.
    let spoiled: std::collections::BTreeSet<String> = truth
        .lost
        .iter()
        .filter(|l| !truth.retracted.iter().any(|r| r.0 == l.0 && r.1 == l.1))
        .map(|l| l.0.clone())
        .chain(truth.stuck.iter().map(|&(msg, _)| format!("msg-{msg}")))
        .collect();
    prop_assert_eq!(
        m.total(catalog::MESSAGES_COMPLETE.name, None),
        (case.messages.len() - spoiled.len()) as u64,
        "complete"
    );
    prop_assert_eq!(
        outcome.in_memory,
        0,
        "every message dropped after its window"
    );
    Ok(())
}

/// The same cases with every message lost to nobody: only copies, lost traces, in-flight
/// traces and consumers that fall behind for a while.
fn fault_free_case() -> impl Strategy<Value = Case> {
    case().prop_map(|mut c| {
        for m in &mut c.messages {
            m.fate = match m.fate {
                Fate::WriteTwice | Fate::Redeliver | Fate::DropSentTrace => m.fate,
                _ => Fate::Delivered,
            };
        }
        for s in &mut c.stalls {
            s.forever = false;
        }
        c.expire = None;
        c
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn verdicts_and_counts_equal_the_simulated_truth(case in case()) {
        check(&case)?;
    }

    #[test]
    fn a_pipeline_that_loses_nothing_gets_no_verdict(case in fault_free_case()) {
        let (_, _, outcome, _) = run(&case);
        prop_assert!(outcome.verdicts.is_empty(), "{:?}", outcome.verdicts);
        prop_assert_eq!(outcome.metrics.total(catalog::STUCK.name, None), 0);
        prop_assert_eq!(outcome.metrics.total(catalog::RETRACTED.name, None), 0);
        prop_assert_eq!(
            outcome.metrics.total(catalog::MESSAGES_COMPLETE.name, None),
            case.messages.len() as u64
        );
    }
}
