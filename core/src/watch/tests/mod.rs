//! Unit and property tests of the watch core, one file per job, around a small model of
//! Kafka partitions that the harness reads the way the shell will.

mod end_table;
mod headroom;
mod incidents;
mod lag;
mod props;
mod reconcile;
mod scenarios;
mod shared;
mod states;
mod stuck_clock;

use super::Evaluator;
use super::incident::{Incident, IncidentBook};
use super::input::{
    FirstUnread, GroupObservation, GroupState, GroupStatus, Observed, PartitionObservation, Round,
};
use super::report::{GroupReport, PartitionReport, RoundReport, TimestampCounts};
use super::settings::GroupSettings;
use super::state::ConsumerState;
use crate::model::Millis;

pub(super) const T0: Millis = 1_700_000_000_000;
pub(super) const POLL: Millis = 5_000;
pub(super) const WINDOW: Millis = 180_000;

pub(super) fn settings() -> GroupSettings {
    GroupSettings {
        window: std::time::Duration::from_millis(WINDOW as u64),
        poll_interval: std::time::Duration::from_millis(POLL as u64),
        ..GroupSettings::default()
    }
}

/// One record slot of a partition's log: a record, or a transaction marker.
#[derive(Clone, Copy, Debug)]
pub(super) struct Entry {
    pub ts: Millis,
    pub marker: bool,
}

/// Which of a partition's reads fail this round.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Failures {
    pub committed: bool,
    pub log_start: bool,
    pub log_end: bool,
}

/// A partition of the model: its log (offset = index), what retention removed, and the
/// group's committed offset (`None`: never committed).
#[derive(Clone, Debug)]
pub(super) struct Part {
    pub topic: String,
    pub partition: i32,
    pub log: Vec<Entry>,
    pub log_start: i64,
    pub committed: Option<i64>,
    pub fail: Failures,
}

impl Part {
    pub fn new(topic: &str, partition: i32) -> Part {
        Part {
            topic: topic.to_owned(),
            partition,
            log: Vec::new(),
            log_start: 0,
            committed: Some(0),
            fail: Failures::default(),
        }
    }

    pub fn log_end(&self) -> i64 {
        self.log.len() as i64
    }

    /// What the shell's `read_committed` fetch of one record from `from` finds.
    fn fetch(&self, from: i64) -> FirstUnread {
        let first = from.max(self.log_start).max(0) as usize;
        match self
            .log
            .iter()
            .enumerate()
            .skip(first)
            .find(|(_, e)| !e.marker)
        {
            Some((offset, entry)) => FirstUnread::Record {
                from,
                offset: offset as i64,
                timestamp: entry.ts,
            },
            None => FirstUnread::NoneBefore {
                from,
                end: self.log_end(),
            },
        }
    }
}

/// The model, an evaluator and an incident book, with the shell's part played by `round`.
pub(super) struct Harness {
    pub now: Millis,
    pub evaluator: Evaluator,
    /// A second evaluator fed the same rounds group by group, owned, as the shell feeds them
    /// (`evaluate_stream`): every poll checks that it concludes exactly what `evaluate` does.
    pub streaming: Evaluator,
    pub book: IncidentBook,
    pub settings: GroupSettings,
    /// `None`: the group's state could not be read.
    pub status: Option<GroupStatus>,
    pub parts: Vec<Part>,
    /// Whether the shell fetches the first unread record (as it will in production).
    pub fetch: bool,
    /// Every incident record so far.
    pub incidents: Vec<Incident>,
    pub timestamps: TimestampCounts,
    pub last: Option<RoundReport>,
}

impl Harness {
    /// One partition `t/0`, empty, committed at 0, a stable group of one member.
    pub fn new() -> Harness {
        Harness {
            now: T0,
            evaluator: Evaluator::new(),
            streaming: Evaluator::new(),
            book: IncidentBook::new(),
            settings: settings(),
            status: Some(stable()),
            parts: vec![Part::new("t", 0)],
            fetch: true,
            incidents: Vec::new(),
            timestamps: TimestampCounts::default(),
            last: None,
        }
    }

    pub fn part(&mut self, i: usize) -> &mut Part {
        &mut self.parts[i]
    }

    /// Appends `n` records to partition `i`, stamped now.
    pub fn produce(&mut self, i: usize, n: usize) {
        let now = self.now;
        self.parts[i].log.extend((0..n).map(|_| Entry {
            ts: now,
            marker: false,
        }));
    }

    /// Appends one record stamped `ts`.
    pub fn produce_at(&mut self, i: usize, ts: Millis) {
        self.parts[i].log.push(Entry { ts, marker: false });
    }

    /// Appends a transaction marker.
    pub fn marker(&mut self, i: usize) {
        let now = self.now;
        self.parts[i].log.push(Entry {
            ts: now,
            marker: true,
        });
    }

    pub fn commit(&mut self, i: usize, offset: i64) {
        self.parts[i].committed = Some(offset);
    }

    /// Commits everything partition `i` has.
    pub fn catch_up(&mut self, i: usize) {
        let end = self.parts[i].log_end();
        self.commit(i, end);
    }

    pub fn observation(&self) -> GroupObservation {
        let now = self.now;
        fn fresh<T>(value: T, read_at: Millis) -> Option<Observed<T>> {
            Some(Observed { value, read_at })
        }
        let partitions = self
            .parts
            .iter()
            .map(|p| {
                let first_unread = match p.committed {
                    Some(c) if self.fetch && !p.fail.committed && c < p.log_end() => {
                        Some(Box::new(p.fetch(c)))
                    }
                    _ => None,
                };
                PartitionObservation {
                    topic: p.topic.as_str().into(),
                    partition: p.partition,
                    committed: if p.fail.committed {
                        None
                    } else {
                        fresh(p.committed, now)
                    }
                    .into(),
                    log_start: if p.fail.log_start {
                        None
                    } else {
                        fresh(p.log_start, now)
                    }
                    .into(),
                    log_end: if p.fail.log_end {
                        None
                    } else {
                        fresh(p.log_end(), now)
                    }
                    .into(),
                    first_unread,
                }
            })
            .collect();
        GroupObservation {
            cluster: "c".into(),
            group: "g".into(),
            settings: self.settings,
            status: self.status.map(|value| Observed {
                value,
                read_at: now,
            }),
            partitions,
        }
    }

    /// One poll: the evaluator judges the model as it is now, the book sees the report.
    pub fn round(&mut self) -> &RoundReport {
        let round = Round {
            now: self.now,
            groups: vec![self.observation()],
        };
        let report = self.evaluator.evaluate(&round);
        assert_eq!(
            self.streaming
                .evaluate_stream(round.now, round.groups.into_iter()),
            report,
            "evaluate_stream concluded otherwise"
        );
        self.incidents.extend(self.book.observe(&report));
        self.timestamps.missing += report.timestamps.missing;
        self.timestamps.future += report.timestamps.future;
        self.last = Some(report);
        self.last.as_ref().expect("just set")
    }

    /// Moves the clock on by `ms` and polls.
    pub fn poll_after(&mut self, ms: Millis) -> &RoundReport {
        self.now += ms;
        self.round()
    }

    /// Polls every POLL for `ms`, returning the states partition 0 went through.
    pub fn polls_for(&mut self, ms: Millis) -> Vec<ConsumerState> {
        let rounds = ms / POLL;
        (0..rounds)
            .map(|_| self.poll_after(POLL).groups[0].partitions[0].state)
            .collect()
    }

    pub fn group(&self) -> &GroupReport {
        &self.last.as_ref().expect("a round ran").groups[0]
    }

    pub fn p(&self, i: usize) -> &PartitionReport {
        &self.group().partitions[i]
    }

    pub fn state(&self) -> ConsumerState {
        self.p(0).state
    }
}

pub(super) fn stable() -> GroupStatus {
    GroupStatus {
        state: GroupState::Stable,
        members: 1,
    }
}

pub(super) fn status(state: GroupState, members: u32) -> GroupStatus {
    GroupStatus { state, members }
}
