//! Verdict records built from a message's state, and the bits that keep them idempotent.

use super::state::{Message, app_flags};
use crate::lineage::{AppIx, StreamPlan};
use crate::metrics::StreamMetrics;
use crate::model::{Evidence, MessageRef, Millis, Reason, Verdict, VerdictKind, VerdictSink};

/// Which of an app's two expectations a verdict is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Expectation {
    /// The app's `received` at the location it reads.
    Reception,
    /// The processor's `sent` at the location it writes.
    Write,
}

/// Emits a verdict about `app`'s `expectation`. The hop is the app's read or write hop;
/// the message part is where the message sits at the location the app reads.
pub(crate) fn emit(
    plan: &StreamPlan,
    msg: &Message<'_>,
    app: AppIx,
    expectation: Expectation,
    (verdict, reason, evidence): (VerdictKind, Reason, Evidence),
    now: Millis,
    sink: &mut impl VerdictSink,
) {
    let a = plan.app(app);
    let hop = match expectation {
        Expectation::Reception => a.read_hop,
        Expectation::Write => a.write_hop,
    };
    let (Some(hop), Some(read)) = (hop, a.reads) else {
        return;
    };
    let at = msg.loc(read);
    sink.emit(Verdict {
        verdict,
        reason,
        id: msg.row.id.to_string(),
        stream: plan.name.clone(),
        hop: plan.hop(hop).hop_ref.clone(),
        message: MessageRef {
            location: plan.location(read).name.clone(),
            partition: at.partition,
            offset: at.offset,
        },
        evidence,
        first_seen: msg.first_seen(),
        detected_at: now,
    });
}

/// Withdraws the lost verdicts about `app` that a trace just proved wrong: each at most once.
pub(crate) fn retract(
    plan: &StreamPlan,
    msg: &mut Message<'_>,
    app: AppIx,
    expectations: &[Expectation],
    now: Millis,
    metrics: &mut StreamMetrics,
    sink: &mut impl VerdictSink,
) {
    let a = plan.app(app);
    let Some(slot) = a.slot else { return };
    for &expectation in expectations {
        let mut s = msg.app(slot);
        let (lost, retracted, hop) = match expectation {
            Expectation::Reception => (app_flags::RX_LOST, app_flags::RX_RETRACTED, a.read_hop),
            Expectation::Write => (app_flags::APP_LOST, app_flags::APP_RETRACTED, a.write_hop),
        };
        if !s.has(lost) || s.has(retracted) {
            continue;
        }
        let reason = match expectation {
            Expectation::Reception if s.has(app_flags::RX_EXPIRED) => Reason::Expired,
            Expectation::Reception => Reason::CommittedPast,
            Expectation::Write => Reason::LostInApp,
        };
        s.flags |= retracted;
        msg.set_app(slot, s);
        if let Some(hop) = hop {
            metrics.hop(hop).count_retracted();
        }
        emit(
            plan,
            msg,
            app,
            expectation,
            (VerdictKind::Retracted, reason, Evidence::default()),
            now,
            sink,
        );
    }
}
