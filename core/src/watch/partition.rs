//! One partition of one group across rounds: the stuck clock, the lag trend, the history;
//! and the state one round's reads put it in (the log end table is the log's, in `log_track`).
//!
//! The stuck clock starts at the later of two moments, both as the watch saw them: the last
//! change of the committed offset, and the first round of an unbroken run of rounds in which
//! records (not just markers) waited beyond it. A round that cannot vouch for the run (a read
//! failed or is stale, the group is rebalancing or its state is unknown) breaks it, so the
//! clock starts again once the data is back: a gap in the data never counts towards stuck.

use super::history::{History, HistoryPoint, RoundTimes};
use super::input::{GroupState, GroupStatus, PartitionObservation};
use super::lag::{Lag, TimestampFault, lag_in_time};
use super::log_track::LogTrack;
use super::packed::{MaybeCommit, MaybeI64};
use super::report::{PartitionReport, TimestampCounts, seconds};
use super::settings::GroupSettings;
use super::state::{ConsumerState, LagMethod};
use super::trend::Trend;
use super::unread::Unread;
use crate::model::Millis;

/// What a partition's evaluation needs to know about its group this round.
pub(super) struct GroupContext<'a> {
    pub now: Millis,
    pub settings: GroupSettings,
    /// The group's state, when read and fresh.
    pub status: Option<GroupStatus>,
    /// Since when the group has been seen empty without a break.
    pub empty_since: Option<Millis>,
    /// This round's number among the group's rounds, and the times of the rounds kept.
    pub round: u32,
    pub times: &'a RoundTimes,
}

/// What the evaluator remembers about one (group, partition) between rounds: only what the
/// decision rule needs, and the history's runs. What belongs to the log (the end table, the
/// last log start) is kept once per partition in a [`LogTrack`] shared by the groups.
#[derive(Clone, Debug, Default)]
pub(super) struct PartitionTrack {
    /// The committed offset last read (`Some(None)`: no commit) and when the watch first saw it.
    committed: MaybeCommit,
    commit_seen_at: Millis,
    /// First round of the current unbroken run of rounds with records waiting.
    backlog_since: MaybeI64,
    expired_since: MaybeI64,
    trend: Trend,
    history: History,
    /// The first-unread record whose timestamp fault was last counted, so each counts once.
    counted_record: MaybeI64,
    /// The shared log's epoch this track was learnt under (`None`: not yet seen, take it).
    log_epoch: Option<u32>,
}

/// What one round found, before it is named a state.
struct Findings {
    /// `None` when the committed offset or the log end is missing.
    unread: Option<Unread>,
    stuck_since: Option<Millis>,
    lag: Lag,
    expired_records: Option<i64>,
}

/// This round's reads that are fresh enough to judge on.
struct Fresh {
    /// `Some(None)`: read, no commit. `None`: not read or stale.
    committed: Option<Option<i64>>,
    log_start: Option<i64>,
    log_end: Option<i64>,
}

impl PartitionTrack {
    /// A partition first seen in the group's round `round`.
    pub fn new(round: u32) -> Self {
        PartitionTrack {
            history: History::starting(round),
            ..PartitionTrack::default()
        }
    }

    /// A partition whose stuck clock an open incident vouches for: committed `committed` and
    /// waiting records since `stuck_since`, as before a restart of the watch.
    pub fn resumed(committed: i64, stuck_since: Millis, expired_since: Option<Millis>) -> Self {
        PartitionTrack {
            committed: MaybeCommit::new(Some(Some(committed))),
            commit_seen_at: stuck_since,
            backlog_since: MaybeI64::new(Some(stuck_since)),
            expired_since: MaybeI64::new(expired_since),
            ..PartitionTrack::default()
        }
    }

    pub fn history(&self) -> &History {
        &self.history
    }

    /// Judges this round's reads, updates the memory, and says what it found.
    pub fn evaluate(
        &mut self,
        ctx: &GroupContext,
        obs: &PartitionObservation,
        log: &mut LogTrack,
        counts: &mut TimestampCounts,
    ) -> PartitionReport {
        let fresh = self.read_fresh(ctx, obs);
        log.follow(fresh.log_start, fresh.log_end, ctx.now);
        self.follow_log(log, ctx.round);
        self.follow_commit(&fresh, ctx.now);
        let unread = match (fresh.committed, fresh.log_end) {
            (Some(Some(committed)), Some(end)) => Some(Unread::judge(
                committed,
                end,
                obs.first_unread.as_deref().copied(),
            )),
            _ => None,
        };
        let findings = Findings {
            unread,
            stuck_since: self.run_stuck_clock(ctx, unread),
            lag: self.measure_lag(ctx, unread, log, counts),
            expired_records: self.follow_expiry(&fresh, ctx.now),
        };
        let state = self.state(ctx, &fresh, &findings);
        self.report(ctx, obs, &fresh, &findings, state)
    }

    fn follow_commit(&mut self, fresh: &Fresh, now: Millis) {
        if let Some(committed) = fresh.committed
            && self.committed.get() != Some(committed)
        {
            self.committed = MaybeCommit::new(Some(committed));
            self.commit_seen_at = now;
        }
    }

    /// Lag in time, its timestamp faults counted, its trend sampled.
    fn measure_lag(
        &mut self,
        ctx: &GroupContext,
        unread: Option<Unread>,
        log: &LogTrack,
        counts: &mut TimestampCounts,
    ) -> Lag {
        let (lag, fault) = match unread {
            Some(unread) => lag_in_time(ctx.now, unread, log.table()),
            None => (
                Lag {
                    millis: None,
                    method: LagMethod::Unknown,
                },
                None,
            ),
        };
        self.count_fault(unread, fault, counts);
        self.trend.observe(
            ctx.now,
            lag.millis,
            self.commit_seen_at,
            ctx.settings.window_ms(),
        );
        lag
    }

    /// Offsets deleted unread, if any; keeps when that was first seen.
    fn follow_expiry(&mut self, fresh: &Fresh, now: Millis) -> Option<i64> {
        let expired_records = match (fresh.committed.flatten(), fresh.log_start) {
            (Some(committed), Some(start)) if committed < start => Some(start - committed),
            _ => None,
        };
        self.expired_since =
            MaybeI64::new(expired_records.map(|_| self.expired_since.get().unwrap_or(now)));
        expired_records
    }

    /// The round's point in the history, and the report.
    fn report(
        &mut self,
        ctx: &GroupContext,
        obs: &PartitionObservation,
        fresh: &Fresh,
        findings: &Findings,
        state: ConsumerState,
    ) -> PartitionReport {
        let committed = fresh.committed.flatten();
        let lag_records = match (findings.unread, fresh.log_end) {
            (Some(unread), Some(end)) => Some(unread.lag_records(end)),
            _ => None,
        };
        let lag_seconds = findings.lag.millis.map(seconds);
        let point = HistoryPoint {
            at: ctx.now,
            state,
            committed,
            log_end: fresh.log_end,
            lag_records,
            lag_seconds,
        };
        self.history
            .push(ctx.round, &point, findings.lag.millis, ctx.times);
        let last_commit_at =
            matches!(self.committed.get(), Some(Some(_))).then_some(self.commit_seen_at);
        PartitionReport {
            topic: obs.topic.clone(),
            partition: obs.partition,
            state,
            committed: committed.into(),
            log_start: fresh.log_start.into(),
            log_end: fresh.log_end.into(),
            lag_records: lag_records.into(),
            lag_seconds: lag_seconds.into(),
            lag_method: findings.lag.method,
            stuck_since: findings.stuck_since.into(),
            last_commit_at: last_commit_at.into(),
            last_commit_age_seconds: last_commit_at
                .map(|at| seconds(ctx.now.saturating_sub(at)))
                .into(),
            expired_records: findings.expired_records.into(),
            expired_since: self.expired_since,
        }
    }

    fn read_fresh(&self, ctx: &GroupContext, obs: &PartitionObservation) -> Fresh {
        let stale_after = ctx.settings.stale_after_ms();
        let fresh = |read_at: Millis| ctx.now.saturating_sub(read_at) <= stale_after;
        Fresh {
            committed: obs
                .committed
                .get()
                .filter(|o| fresh(o.read_at))
                .map(|o| o.value),
            log_start: obs
                .log_start
                .get()
                .filter(|o| fresh(o.read_at))
                .map(|o| o.value),
            log_end: obs
                .log_end
                .get()
                .filter(|o| fresh(o.read_at))
                .map(|o| o.value),
        }
    }

    /// Starts again when the shared log went back (topic recreated, log truncated) since this
    /// track last saw it: everything learnt about the old log is dropped but the commit.
    fn follow_log(&mut self, log: &LogTrack, round: u32) {
        match self.log_epoch {
            Some(epoch) if epoch != log.epoch() => {
                *self = PartitionTrack {
                    committed: self.committed,
                    commit_seen_at: self.commit_seen_at,
                    log_epoch: Some(log.epoch()),
                    ..PartitionTrack::new(round)
                };
            }
            _ => self.log_epoch = Some(log.epoch()),
        }
    }

    /// Runs the clock for this round; returns its start once it has run a whole window.
    fn run_stuck_clock(&mut self, ctx: &GroupContext, unread: Option<Unread>) -> Option<Millis> {
        // Only a settled group can be expected to commit: Stable, or Empty (nobody to commit).
        let settled = ctx
            .status
            .is_some_and(|s| matches!(s.state, GroupState::Stable | GroupState::Empty));
        let waiting = settled && unread.is_some_and(Unread::is_backlog);
        if !waiting {
            self.backlog_since = MaybeI64::NONE;
        } else if self.backlog_since.get().is_none() {
            self.backlog_since = MaybeI64::new(Some(ctx.now));
        }
        let start = self.backlog_since.get()?.max(self.commit_seen_at);
        (ctx.now.saturating_sub(start) >= ctx.settings.window_ms()).then_some(start)
    }

    fn count_fault(
        &mut self,
        unread: Option<Unread>,
        fault: Option<TimestampFault>,
        counts: &mut TimestampCounts,
    ) {
        let (Some(Unread::Record { offset, .. }), Some(fault)) = (unread, fault) else {
            return;
        };
        if self.counted_record.get() == Some(offset) {
            return;
        }
        self.counted_record = MaybeI64::new(Some(offset));
        match fault {
            TimestampFault::Missing => counts.missing += 1,
            TimestampFault::Future => counts.future += 1,
        }
    }

    /// The worst state the facts support.
    fn state(&self, ctx: &GroupContext, fresh: &Fresh, findings: &Findings) -> ConsumerState {
        let settings = &ctx.settings;
        let mut state = ConsumerState::Ok;
        let mut consider = |candidate: ConsumerState| state = state.max(candidate);
        match ctx.status.map(|s| s.state) {
            None | Some(GroupState::Dead | GroupState::Unknown) => consider(ConsumerState::Unknown),
            Some(GroupState::Rebalancing) => consider(ConsumerState::Rebalancing),
            Some(GroupState::Stable | GroupState::Empty) => {}
        }
        let committed = match fresh.committed {
            None => {
                consider(ConsumerState::Unknown);
                return state;
            }
            Some(None) => {
                consider(ConsumerState::NoCommit);
                return state;
            }
            Some(Some(committed)) => committed,
        };
        if fresh.log_start.is_none() || fresh.log_end.is_none() {
            consider(ConsumerState::Unknown);
        }
        if findings.expired_records.is_some() {
            consider(ConsumerState::Expired);
        }
        if fresh.log_end.is_some_and(|end| committed > end) {
            consider(ConsumerState::CommittedBeyondEnd);
        }
        if findings.stuck_since.is_some() {
            consider(ConsumerState::Stuck);
        }
        let backlog = findings.unread.is_some_and(Unread::is_backlog);
        let empty_since_before_commit = ctx
            .empty_since
            .is_some_and(|empty| self.commit_seen_at <= empty);
        if backlog && empty_since_before_commit {
            // Nobody has committed since the group emptied: no `assign()`-style reader either.
            consider(ConsumerState::EmptyGroupWithBacklog);
        }
        let window = settings.window_ms();
        let commits_move = ctx.now.saturating_sub(self.commit_seen_at) < window;
        if backlog && commits_move && self.trend.growing(settings.poll_ms()) {
            consider(ConsumerState::FallingBehind);
        }
        let lagging = match findings.lag.millis {
            Some(millis) => millis > settings.max_lag_ms(),
            // Records wait and their age is unknown: not shown to be young.
            None => backlog,
        };
        if lagging {
            consider(ConsumerState::Lagging);
        }
        state
    }
}
