//! Recording one trace into its message's state: positions, duplicates, hop latency,
//! and the retraction of a lost verdict the trace proves wrong.
//!
//! Duplicates, counted once per extra copy:
//! - a `sent` at a location whose (partition, offset) differs from every copy already
//!   seen there is *written twice*; the same (partition, offset) again is the same copy
//!   traced twice, and is not counted;
//! - a second `received` by one group is *delivered twice*, even at the same partition
//!   and offset: a consumer that reads one record twice (a rebalance, a retry after a
//!   failed commit) hands it to the app twice.

use super::state::{LocSlot, Message, app_flags, loc_flags};
use super::verdicts::{Expectation, retract};
use crate::lineage::{LocIx, Resolved, StreamPlan};
use crate::metrics::{DuplicateKind, StreamMetrics};
use crate::model::{Kind, Millis, Trace, VerdictSink};

/// Records `trace` (already resolved against `plan`) into `msg`.
pub(crate) fn record(
    plan: &StreamPlan,
    msg: &mut Message<'_>,
    resolved: Resolved,
    trace: &Trace<'_>,
    now: Millis,
    metrics: &mut StreamMetrics,
    sink: &mut impl VerdictSink,
) {
    let dts = msg.dts(trace.ts);
    let placed_before = msg.loc(resolved.location).has(loc_flags::POSITION);
    match resolved.kind {
        Kind::Sent => record_sent(plan, msg, resolved, trace, dts, metrics),
        Kind::Received => record_received(plan, msg, resolved, trace, dts, metrics),
        Kind::Filtered => record_filtered(plan, msg, resolved, trace, metrics),
    }
    // Any trace by an app proves it read the message; a `sent` or `filtered` also
    // proves its processing ended as it should.
    let proven: &[Expectation] = match resolved.kind {
        Kind::Received => &[Expectation::Reception],
        Kind::Sent | Kind::Filtered => &[Expectation::Reception, Expectation::Write],
    };
    retract(plan, msg, resolved.app, proven, now, metrics, sink);
    if !placed_before {
        // The message reached this location: the processors that write it here (and
        // that it reached upstream) did read it and pass it on.
        for &writer in &plan.location(resolved.location).writers {
            let reached = plan
                .app(writer)
                .reads
                .is_some_and(|r| msg.loc(r).has(loc_flags::POSITION));
            if reached {
                let both = [Expectation::Reception, Expectation::Write];
                retract(plan, msg, writer, &both, now, metrics, sink);
            }
        }
    }
}

fn record_sent(
    plan: &StreamPlan,
    msg: &mut Message<'_>,
    r: Resolved,
    trace: &Trace<'_>,
    dts: i32,
    metrics: &mut StreamMetrics,
) {
    let app = plan.app(r.app);
    if let Some(hop) = app.write_hop {
        metrics.hop(hop).count_trace();
    }
    let mut at = msg.loc(r.location);
    if at.has(loc_flags::SENT) {
        let same_copy = (at.partition, at.offset) == (trace.partition, trace.offset)
            || msg.has_extra_sent(r.location, trace.partition, trace.offset);
        if !same_copy {
            msg.add_extra_sent(r.location, trace.partition, trace.offset);
            if let Some(hop) = app.write_hop {
                metrics
                    .hop(hop)
                    .count_duplicate(DuplicateKind::WrittenTwice);
            }
        }
    } else {
        at = LocSlot {
            flags: at.flags | loc_flags::SENT | loc_flags::POSITION,
            partition: trace.partition,
            offset: trace.offset,
            sent_dts: dts,
        };
        msg.set_loc(r.location, at);
        record_waiting_latencies(plan, msg, r.location, dts, metrics);
    }
    if let Some(slot) = app.slot {
        let mut s = msg.app(slot);
        s.flags |= app_flags::WROTE;
        msg.set_app(slot, s);
    }
}

/// A `sent` that arrives after some `received`s at its location completes their hop latency.
fn record_waiting_latencies(
    plan: &StreamPlan,
    msg: &Message<'_>,
    location: LocIx,
    sent_dts: i32,
    metrics: &mut StreamMetrics,
) {
    for &reader in &plan.location(location).readers {
        let app = plan.app(reader);
        let (Some(slot), Some(hop)) = (app.slot, app.read_hop) else {
            continue;
        };
        let s = msg.app(slot);
        if s.has(app_flags::RECEIVED) {
            metrics
                .hop(hop)
                .record_latency(i64::from(s.recv_dts) - i64::from(sent_dts));
        }
    }
}

fn record_received(
    plan: &StreamPlan,
    msg: &mut Message<'_>,
    r: Resolved,
    trace: &Trace<'_>,
    dts: i32,
    metrics: &mut StreamMetrics,
) {
    let app = plan.app(r.app);
    let (Some(slot), Some(hop)) = (app.slot, app.read_hop) else {
        return;
    };
    metrics.hop(hop).count_trace();
    let mut s = msg.app(slot);
    let at = note_position(msg, r.location, trace);
    if s.has(app_flags::RECEIVED) {
        metrics
            .hop(hop)
            .count_duplicate(DuplicateKind::DeliveredTwice);
        return;
    }
    s.flags |= app_flags::RECEIVED;
    s.recv_dts = dts;
    msg.set_app(slot, s);
    if at.has(loc_flags::SENT) {
        metrics
            .hop(hop)
            .record_latency(i64::from(dts) - i64::from(at.sent_dts));
    }
}

fn record_filtered(
    plan: &StreamPlan,
    msg: &mut Message<'_>,
    r: Resolved,
    trace: &Trace<'_>,
    metrics: &mut StreamMetrics,
) {
    let app = plan.app(r.app);
    let Some(slot) = app.slot else { return };
    if let Some(hop) = app.read_hop {
        metrics.hop(hop).count_trace();
    }
    note_position(msg, r.location, trace);
    let mut s = msg.app(slot);
    s.flags |= app_flags::FILTERED;
    msg.set_app(slot, s);
}

/// Takes the trace's partition/offset as the message's position at `location` when no
/// trace gave one yet (the `sent` is missing or still in flight). Returns the slot.
fn note_position(msg: &mut Message<'_>, location: LocIx, trace: &Trace<'_>) -> LocSlot {
    let mut at = msg.loc(location);
    if !at.has(loc_flags::POSITION) {
        at.flags |= loc_flags::POSITION;
        at.partition = trace.partition;
        at.offset = trace.offset;
        msg.set_loc(location, at);
    }
    at
}
