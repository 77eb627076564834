//! The decision rule, run when a message's timer fires (`docs/decision-rule.md`).
//!
//! For each expectation of the message still open:
//! - a reader's missing `received` at L (position p/o from the `sent` at L, else from
//!   another trace at L): lost `committed_past` when the group committed past o; else
//!   lost `expired` when the log start of L/p moved past o; else wait;
//! - a processor's missing `sent` downstream, its `received` present: lost `lost_in_app`
//!   when its group committed past o at the location it reads; else wait.
//!
//! Only locations a trace placed the message at are checked, so a message lost at one
//! hop is never expected (nor reported) after it. A lost condition must hold at two
//! checks `confirmation_delay` apart: the first marks the slot *confirming* and re-arms
//! the timer at now + delay; the next check emits if it still holds. An offset older
//! than `max_offsets_age` means wait, and so does an unknown one, with one exception: a
//! group with no committed offset at all cannot have read past the log start, so a fresh
//! log start past the message still proves it expired. Waiting re-checks back off
//! (doubling up to `backoff_max`); at `max_wait` the message is reported stuck instead.
//! A message with nothing open lingers for `dedup_window` (to count late duplicates and
//! retract a wrong verdict), then is dropped.
//!
//! A lost condition on an expectation that a tracer's gap report covers ([`super::gaps`])
//! concludes "unknown at this hop" instead: the trace was dropped by the tracer, so the
//! offsets cannot tell a loss from a trace that never reached cairn. And no verdict is
//! emitted before `confirmation_delay` has passed since the detector's input resumed
//! (`hold_until`): traces and gap reports that emitters held back while the tracing cluster
//! was away must have had the chance to arrive.

use super::gaps::GapTable;
use super::state::{Message, app_flags, loc_flags, status};
use super::verdicts::{Expectation, emit};
use crate::lineage::{AppIx, LocIx, PlanApp, StreamPlan, TimingMs};
use crate::metrics::StreamMetrics;
use crate::model::{Evidence, Millis, Reason, VerdictKind, VerdictSink};
use crate::offsets::{Observed, OffsetsView};

/// What to do with a message after a check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Check again at this detector time.
    At(Millis),
    /// Drop it from memory.
    Remove,
}

/// What the offsets say about one open expectation.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Check {
    Lost(Reason, Evidence),
    Wait,
}

/// An offset as the rule may use it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Seen {
    Fresh(i64),
    Stale,
    Unknown,
}

impl Seen {
    fn of(observed: Option<Observed<i64>>, now: Millis, max_age: Millis) -> Seen {
        match observed {
            Some(o) if now.saturating_sub(o.read_at) <= max_age => Seen::Fresh(o.value),
            Some(_) => Seen::Stale,
            None => Seen::Unknown,
        }
    }

    fn fresh(self) -> Option<i64> {
        match self {
            Seen::Fresh(v) => Some(v),
            _ => None,
        }
    }
}

/// Rules 1 and 2 for a missing `received` by `group` of the message at `location`/p/o.
fn check_reception(
    view: &impl OffsetsView,
    group: &str,
    location: &str,
    (p, o): (i32, i64),
    now: Millis,
    max_age: Millis,
) -> Check {
    let committed = Seen::of(view.committed(group, location, p), now, max_age);
    let log_start = Seen::of(view.log_start(location, p), now, max_age).fresh();
    match committed {
        Seen::Fresh(c) if c > o => {
            return Check::Lost(
                Reason::CommittedPast,
                Evidence {
                    committed: Some(c),
                    log_start,
                },
            );
        }
        // The group may have committed past it since: neither rule can be trusted yet.
        Seen::Stale => return Check::Wait,
        _ => {}
    }
    match log_start {
        Some(start) if start > o => Check::Lost(
            Reason::Expired,
            Evidence {
                committed: committed.fresh(),
                log_start: Some(start),
            },
        ),
        _ => Check::Wait,
    }
}

/// The rule for a processor that traced its `received` but no `sent` downstream.
fn check_in_app(
    view: &impl OffsetsView,
    group: &str,
    location: &str,
    (p, o): (i32, i64),
    now: Millis,
    max_age: Millis,
) -> Check {
    match Seen::of(view.committed(group, location, p), now, max_age) {
        Seen::Fresh(c) if c > o => Check::Lost(
            Reason::LostInApp,
            Evidence {
                committed: Some(c),
                log_start: None,
            },
        ),
        _ => Check::Wait,
    }
}

/// The expectation of reader `slot` still open (neither met nor concluded), if any.
///
/// A trace at the location a processor writes proves that it read the message and wrote
/// it on, even when its own traces are missing (trace gaps, not losses).
pub(crate) fn open_expectation(msg: &Message<'_>, slot: u8, app: &PlanApp) -> Option<Expectation> {
    let read = app.reads?;
    if !msg.loc(read).has(loc_flags::POSITION) {
        // No trace placed the message at the location this app reads: nothing expected.
        return None;
    }
    let s = msg.app(slot);
    if s.has(app_flags::UNPLANNED) {
        // The app was not in the lineage this message was planned with.
        return None;
    }
    let passed_on = passed_on(msg, app);
    if !s.has(app_flags::READ) && !passed_on {
        let concluded = s.has(app_flags::RX_LOST | app_flags::RX_UNKNOWN);
        return (!concluded).then_some(Expectation::Reception);
    }
    let settled =
        passed_on || s.has(app_flags::FILTERED | app_flags::APP_LOST | app_flags::APP_UNKNOWN);
    (app.writes.is_some() && !settled).then_some(Expectation::Write)
}

/// Whether a trace placed the message at the location `app` writes.
pub(crate) fn passed_on(msg: &Message<'_>, app: &PlanApp) -> bool {
    app.writes
        .is_some_and(|w| msg.loc(w).has(loc_flags::POSITION))
}

/// The delay before the `n`th back-off re-check: `backoff · 2ⁿ`, at most `backoff_max`.
fn backoff_delay(t: &TimingMs, n: u8) -> Millis {
    t.backoff
        .saturating_mul(1i64 << n.min(40))
        .min(t.backoff_max)
}

/// Whether a tracer's gap report covers reader `slot`'s `expectation` of `msg`.
pub(crate) fn covered_by_gap(
    gaps: &GapTable,
    plan: &StreamPlan,
    msg: &Message<'_>,
    slot: u8,
    app: &PlanApp,
    expectation: Expectation,
) -> bool {
    if gaps.is_empty() {
        return false;
    }
    match expectation {
        Expectation::Reception => {
            let Some(read) = app.reads else { return false };
            let at = msg.loc(read);
            at.has(loc_flags::POSITION)
                && gaps
                    .iter()
                    .any(|g| g.covers_reception(slot, at.partition, at.offset))
        }
        Expectation::Write => {
            let s = msg.app(slot);
            if !s.has(app_flags::RECEIVED) {
                return false;
            }
            let received_ts = msg.anchor().saturating_add(i64::from(s.recv_dts));
            let slack = plan.timing.confirmation_delay;
            gaps.iter()
                .any(|g| g.covers_write(slot, received_ts, slack))
        }
    }
}

/// Concludes reader `slot`'s `expectation` as unknown at its hop (a tracer dropped the trace).
pub(crate) fn mark_unknown(
    msg: &mut Message<'_>,
    slot: u8,
    app: &PlanApp,
    expectation: Expectation,
    metrics: &mut StreamMetrics,
) {
    let mut s = msg.app(slot);
    let (flag, clear, hop) = match expectation {
        Expectation::Reception => (
            app_flags::RX_UNKNOWN,
            app_flags::RX_CONFIRMING,
            app.read_hop,
        ),
        Expectation::Write => (
            app_flags::APP_UNKNOWN,
            app_flags::APP_CONFIRMING,
            app.write_hop,
        ),
    };
    s.flags = (s.flags & !clear) | flag;
    msg.set_app(slot, s);
    if let Some(hop) = hop {
        metrics.hop(hop).count_unknown();
    }
}

/// What a check reads besides the message and the offsets.
pub(crate) struct Context<'a> {
    pub gaps: &'a GapTable,
    /// No verdict before this detector time (the input resumed recently).
    pub hold_until: Millis,
}

/// Checks every open expectation of `msg` and says when to look again.
pub(crate) fn evaluate(
    plan: &StreamPlan,
    msg: &mut Message<'_>,
    now: Millis,
    offsets: &impl OffsetsView,
    context: &Context<'_>,
    metrics: &mut StreamMetrics,
    sink: &mut impl VerdictSink,
) -> Next {
    if msg.has_status(status::STUCK) {
        // A stuck message is concluded; its timer fires once more, after its linger, to drop it.
        return Next::Remove;
    }
    let open = Evaluation {
        plan,
        now,
        offsets,
        context,
        metrics: &mut *metrics,
        sink,
    }
    .check_open(msg);
    next_check(plan, msg, now, open, metrics)
}

/// What the checks of a message left open.
#[derive(Clone, Copy, Debug, Default)]
struct Open {
    /// An expectation waits for its group (or for fresh offsets).
    waiting: bool,
    /// A lost condition held for the first time: it must hold again after the delay.
    confirming: bool,
}

/// One run of the rule over a message: what it reads and where its results go.
struct Evaluation<'a, O, S> {
    plan: &'a StreamPlan,
    now: Millis,
    offsets: &'a O,
    context: &'a Context<'a>,
    metrics: &'a mut StreamMetrics,
    sink: &'a mut S,
}

impl<O: OffsetsView, S: VerdictSink> Evaluation<'_, O, S> {
    fn check_open(&mut self, msg: &mut Message<'_>) -> Open {
        let mut open = Open::default();
        let plan = self.plan;
        for (slot, &app_ix) in plan.readers().iter().enumerate() {
            let held = self.check_slot(msg, slot as u8, app_ix);
            open.waiting |= held.waiting;
            open.confirming |= held.confirming;
        }
        open
    }

    /// Checks the open expectation of reader `slot`, if any: it waits, starts confirming, or
    /// (confirmed) is reported lost.
    fn check_slot(&mut self, msg: &mut Message<'_>, slot: u8, app_ix: AppIx) -> Open {
        let plan = self.plan;
        let app = plan.app(app_ix);
        let Some(expectation) = open_expectation(msg, slot, app) else {
            return Open::default();
        };
        let (Some(read), Some(group)) = (app.reads, app.group_name()) else {
            return Open::default();
        };
        let at = msg.loc(read);
        let location = plan.location(read).name.as_str();
        let position = (at.partition, at.offset);
        let (now, max_age) = (self.now, plan.timing.max_offsets_age);
        let (check, confirming_flag, lost_flag) = match expectation {
            Expectation::Reception => (
                check_reception(self.offsets, group, location, position, now, max_age),
                app_flags::RX_CONFIRMING,
                app_flags::RX_LOST,
            ),
            Expectation::Write => (
                check_in_app(self.offsets, group, location, position, now, max_age),
                app_flags::APP_CONFIRMING,
                app_flags::APP_LOST,
            ),
        };
        if matches!(check, Check::Lost(..))
            && covered_by_gap(self.context.gaps, plan, msg, slot, app, expectation)
        {
            mark_unknown(msg, slot, app, expectation, self.metrics);
            return Open::default();
        }
        let mut s = msg.app(slot);
        match check {
            Check::Lost(..) if self.now < self.context.hold_until => {
                // Held: it starts (or stays) confirming, and is judged again after the delay.
                s.flags |= confirming_flag;
                msg.set_app(slot, s);
                Open {
                    waiting: false,
                    confirming: true,
                }
            }
            Check::Wait => {
                s.flags &= !confirming_flag;
                msg.set_app(slot, s);
                Open {
                    waiting: true,
                    confirming: false,
                }
            }
            Check::Lost(..) if !s.has(confirming_flag) => {
                s.flags |= confirming_flag;
                msg.set_app(slot, s);
                Open {
                    waiting: false,
                    confirming: true,
                }
            }
            Check::Lost(reason, evidence) => {
                s.flags = (s.flags & !confirming_flag) | lost_flag;
                if reason == Reason::Expired {
                    s.flags |= app_flags::RX_EXPIRED;
                }
                msg.set_app(slot, s);
                self.report_lost(msg, app_ix, expectation, reason, evidence);
                Open::default()
            }
        }
    }

    /// Counts a confirmed loss at its hop and emits its verdict.
    fn report_lost(
        &mut self,
        msg: &Message<'_>,
        app_ix: AppIx,
        expectation: Expectation,
        reason: Reason,
        evidence: Evidence,
    ) {
        let app = self.plan.app(app_ix);
        let hop = match expectation {
            Expectation::Reception => app.read_hop,
            Expectation::Write => app.write_hop,
        };
        if let Some(hop) = hop {
            self.metrics.hop(hop).count_lost(reason);
        }
        emit(
            self.plan,
            msg,
            app_ix,
            expectation,
            (VerdictKind::Lost, reason, evidence),
            self.now,
            &mut *self.sink,
        );
    }
}

/// When to look at a message again, from what its checks left open: after the confirmation
/// delay, at the next back-off (or stuck at `max_wait`), or, with nothing open, after its
/// linger (then it is dropped).
fn next_check(
    plan: &StreamPlan,
    msg: &mut Message<'_>,
    now: Millis,
    open: Open,
    metrics: &mut StreamMetrics,
) -> Next {
    let t = plan.timing;
    let anchor = msg.anchor();
    if open.confirming || open.waiting {
        // Something is open again (a late trace placed the message somewhere new): it
        // must linger afresh once that is settled.
        msg.set_status(status::LINGERING, false);
    }
    if open.confirming {
        // Nothing else may run this message's checks before the delay has passed: that is
        // what makes a confirming flag mean "held for at least the delay" at the next check.
        return Next::At(now.saturating_add(t.confirmation_delay));
    }
    if open.waiting {
        if now >= anchor.saturating_add(t.max_wait) {
            give_up(plan, msg, metrics);
            return Next::At(now.saturating_add(t.dedup_window));
        }
        let delay = backoff_delay(&t, msg.row.backoff);
        msg.row.backoff = msg.row.backoff.saturating_add(1);
        let at = now
            .saturating_add(delay)
            .min(anchor.saturating_add(t.max_wait));
        return Next::At(at.max(now.saturating_add(1)));
    }
    if msg.has_status(status::LINGERING) {
        return Next::Remove;
    }
    count_complete_once(plan, msg, metrics);
    msg.set_status(status::LINGERING, true);
    Next::At(now.saturating_add(t.dedup_window))
}

/// Reports every open expectation stuck and concludes the message.
fn give_up(plan: &StreamPlan, msg: &mut Message<'_>, metrics: &mut StreamMetrics) {
    for (slot, &app_ix) in plan.readers().iter().enumerate() {
        let slot = slot as u8;
        let app = plan.app(app_ix);
        let Some(expectation) = open_expectation(msg, slot, app) else {
            continue;
        };
        let mut s = msg.app(slot);
        s.flags |= app_flags::STUCK;
        msg.set_app(slot, s);
        let hop = match expectation {
            Expectation::Reception => app.read_hop,
            Expectation::Write => app.write_hop,
        };
        if let Some(hop) = hop {
            metrics.hop(hop).count_stuck();
        }
    }
    msg.set_status(status::STUCK | status::LINGERING, true);
}

/// Whether every expected trace arrived (or a verdict about it was retracted).
fn is_clean(plan: &StreamPlan, msg: &Message<'_>) -> bool {
    if msg.has_status(status::STUCK) {
        return false;
    }
    plan.readers().iter().enumerate().all(|(slot, &app_ix)| {
        let s = msg.app(slot as u8);
        let open_loss = (s.has(app_flags::RX_LOST) && !s.has(app_flags::RX_RETRACTED))
            || (s.has(app_flags::APP_LOST) && !s.has(app_flags::APP_RETRACTED));
        let unknown = s.has(app_flags::RX_UNKNOWN | app_flags::APP_UNKNOWN);
        !open_loss && !unknown && open_expectation(msg, slot as u8, plan.app(app_ix)).is_none()
    })
}

/// Counts the message complete, with its end-to-end latency, the first time it is.
fn count_complete_once(plan: &StreamPlan, msg: &mut Message<'_>, metrics: &mut StreamMetrics) {
    if msg.has_status(status::COMPLETE) || !is_clean(plan, msg) {
        return;
    }
    msg.set_status(status::COMPLETE, true);
    metrics.count_complete(end_to_end(plan, msg));
}

/// `last.ts − first sent.ts` over the traces held.
fn end_to_end(plan: &StreamPlan, msg: &Message<'_>) -> Option<i64> {
    let sent = (0..plan.locations().len())
        .map(|i| msg.loc(LocIx(i as u8)))
        .filter(|l| l.has(loc_flags::SENT))
        .map(|l| l.sent_dts);
    let first_sent = sent.clone().min()?;
    let received = (0..plan.readers().len())
        .map(|i| msg.app(i as u8))
        .filter(|a| a.has(app_flags::RECEIVED))
        .map(|a| a.recv_dts);
    let last = sent.chain(received).max()?;
    Some(i64::from(last) - i64::from(first_sent))
}

/// Last accounting before a message is dropped: completion (a retraction may have
/// completed it while lingering) and trace gaps, which are final only now.
pub(crate) fn finish(plan: &StreamPlan, msg: &mut Message<'_>, metrics: &mut StreamMetrics) {
    count_complete_once(plan, msg, metrics);
    for (i, location) in plan.locations().iter().enumerate() {
        let at = msg.loc(LocIx(i as u8));
        if at.has(loc_flags::POSITION)
            && !at.has(loc_flags::SENT)
            && let Some(hop) = location.gap_hop
        {
            metrics.hop(hop).count_trace_gap();
        }
    }
    for (slot, &app_ix) in plan.readers().iter().enumerate() {
        let app = plan.app(app_ix);
        let s = msg.app(slot as u8);
        let reached = app
            .reads
            .is_some_and(|r| msg.loc(r).has(loc_flags::POSITION));
        let unseen = !s.has(app_flags::RECEIVED | app_flags::FILTERED | app_flags::UNPLANNED);
        if reached
            && unseen
            && passed_on(msg, app)
            && let Some(hop) = app.read_hop
        {
            metrics.hop(hop).count_trace_gap();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::offsets::StaticOffsets;

    #[test]
    fn reception_rules_in_order() {
        let mut v = StaticOffsets::default();
        let at = (0, 10);
        assert_eq!(
            check_reception(&v, "g", "c/t", at, 100, 50),
            Check::Wait,
            "nothing known: wait"
        );
        v.set_committed("g", "c/t", 0, 10, 100);
        assert_eq!(
            check_reception(&v, "g", "c/t", at, 100, 50),
            Check::Wait,
            "committed == offset: not past it"
        );
        v.set_log_start("c/t", 0, 11, 100);
        let expired = check_reception(&v, "g", "c/t", at, 100, 50);
        assert_eq!(
            expired,
            Check::Lost(
                Reason::Expired,
                Evidence {
                    committed: Some(10),
                    log_start: Some(11)
                }
            )
        );
        v.set_committed("g", "c/t", 0, 12, 100);
        assert!(matches!(
            check_reception(&v, "g", "c/t", at, 100, 50),
            Check::Lost(Reason::CommittedPast, _)
        ));
        // Read too long ago: stale, so wait even though it says "past".
        assert_eq!(check_reception(&v, "g", "c/t", at, 151, 50), Check::Wait);
    }

    #[test]
    fn stale_committed_blocks_the_expired_rule_too() {
        let mut v = StaticOffsets::default();
        v.set_committed("g", "c/t", 0, 3, 0);
        v.set_log_start("c/t", 0, 20, 1_000);
        assert_eq!(
            check_reception(&v, "g", "c/t", (0, 10), 1_000, 50),
            Check::Wait
        );
    }

    #[test]
    fn in_app_needs_a_fresh_commit_past_the_offset() {
        let mut v = StaticOffsets::default();
        assert_eq!(check_in_app(&v, "g", "c/t", (1, 5), 0, 10), Check::Wait);
        v.set_committed("g", "c/t", 1, 6, 0);
        assert!(matches!(
            check_in_app(&v, "g", "c/t", (1, 5), 5, 10),
            Check::Lost(Reason::LostInApp, _)
        ));
        assert_eq!(check_in_app(&v, "g", "c/t", (1, 5), 11, 10), Check::Wait);
    }

    #[test]
    fn backoff_doubles_up_to_its_max() {
        let t = TimingMs {
            first_check: 1,
            backoff: 100,
            backoff_max: 700,
            max_wait: 1,
            confirmation_delay: 1,
            dedup_window: 1,
            max_offsets_age: 1,
        };
        let delays: Vec<Millis> = (0..5).map(|n| backoff_delay(&t, n)).collect();
        assert_eq!(delays, vec![100, 200, 400, 700, 700]);
        assert_eq!(backoff_delay(&t, u8::MAX), 700);
    }
}
