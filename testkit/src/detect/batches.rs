//! The two batches of the three-hop pipeline test, shared with the check that runs the same
//! batches through the core in-process: the harness's truth is trusted only because the core
//! concludes it from these very fates.

use super::{Fate, Stage};

/// Batch A: every kind of loss at every hop, duplicates, and messages that go through.
pub fn fates_a() -> Vec<(Fate, usize)> {
    vec![
        (Fate::Delivered, 14),
        (Fate::Skipped(Stage::Enricher), 2),
        (Fate::DroppedInApp(Stage::Enricher), 2),
        (Fate::Skipped(Stage::Indexer), 2),
        (Fate::DroppedInApp(Stage::Indexer), 2),
        (Fate::Skipped(Stage::Sink), 2),
        (Fate::WrittenTwice, 2),
        (Fate::DeliveredTwice(Stage::Indexer), 2),
        (Fate::DeliveredTwice(Stage::Sink), 1),
    ]
}

/// Batch B: played while the indexer is behind; its losses are at and after the indexer,
/// so none of them is decidable until the indexer catches up.
pub fn fates_b() -> Vec<(Fate, usize)> {
    vec![
        (Fate::Delivered, 12),
        (Fate::Skipped(Stage::Indexer), 1),
        (Fate::DroppedInApp(Stage::Indexer), 1),
        (Fate::Skipped(Stage::Sink), 1),
        (Fate::DeliveredTwice(Stage::Sink), 1),
    ]
}
