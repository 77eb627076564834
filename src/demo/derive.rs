//! The ground truth of a demo run, derived from what the apps really did ([`Journal`]: reads,
//! acknowledged writes with the broker's partitions and offsets, filters, commits), not from
//! the faults that were planned. Pure, so it is unit-tested.
//!
//! Per message, hop by hop along the chain: a read hop is delivered or duplicated by how often
//! the app processed the message; never processed but committed past is lost
//! (`committed_past`). A processor's write hop is delivered or duplicated by how many copies
//! it wrote; none, with a `filtered` trace, is filtered; none otherwise, with its group
//! committed past the input, is lost (`lost_in_app`). After a loss every later hop is
//! unreached, after a filter filtered. `passed_at` is when the commit past the message returned.

use cairn_core::model::{HopRef, Kind, MessageRef, Reason};

use super::pipeline::{Journal, STREAM, Stage, location};
use crate::truth::{Outcome, TRUTH_VERSION, TruthRecord};

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum DeriveError {
    #[error(
        "demo truth: {id} reached {app} but was neither processed nor committed past; the demo pipeline commits everything it reads"
    )]
    Undecided { id: String, app: &'static str },
}

/// What happened upstream on the message's branch.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Upstream {
    Reached,
    Lost,
    Filtered,
}

/// One truth line per message per expected hop (the producer's write is not a hop: nothing
/// can go missing before the message exists).
pub fn truth(journal: &Journal) -> Result<Vec<TruthRecord>, DeriveError> {
    let mut out = Vec::new();
    for id in &journal.ids {
        let mut upstream = Upstream::Reached;
        for stage in Stage::ALL {
            let app = stage.app();
            let input = stage.reads();
            let hop = |index: usize| HopRef {
                app: app.to_owned(),
                group: Some(app.to_owned()),
                location: location(index),
            };
            let line = |hop: HopRef, kind, outcome, count, message| TruthRecord {
                v: TRUTH_VERSION,
                id: id.clone(),
                stream: STREAM.to_owned(),
                hop,
                kind,
                outcome,
                count,
                reason: None,
                message,
                passed_at: None,
            };
            let first_copy = journal
                .writes
                .iter()
                .find(|w| &w.id == id && w.topic == input)
                .map(|w| (w.partition, w.offset));
            let Some((partition, offset)) = first_copy.filter(|_| upstream == Upstream::Reached)
            else {
                let outcome = match upstream {
                    Upstream::Filtered => Outcome::Filtered,
                    _ => Outcome::Unreached,
                };
                out.push(line(hop(input), Kind::Received, outcome, 0, None));
                if let Some(output) = stage.writes() {
                    out.push(line(hop(output), Kind::Sent, outcome, 0, None));
                }
                continue;
            };
            let message = MessageRef {
                location: location(input),
                partition,
                offset,
            };
            let commit = journal.commits.get(&stage);
            let committed_past =
                commit.filter(|c| c.offsets.get(&partition).is_some_and(|&next| next > offset));
            let lost = |hop: HopRef, kind, reason| -> Result<TruthRecord, DeriveError> {
                let commit = committed_past.ok_or_else(|| DeriveError::Undecided {
                    id: id.clone(),
                    app,
                })?;
                Ok(TruthRecord {
                    reason: Some(reason),
                    passed_at: Some(commit.at),
                    ..line(hop, kind, Outcome::Lost, 0, Some(message.clone()))
                })
            };
            let reads = journal
                .reads
                .iter()
                .filter(|r| r.stage == stage && &r.id == id)
                .count() as u32;
            if reads == 0 {
                out.push(lost(hop(input), Kind::Received, Reason::CommittedPast)?);
                upstream = Upstream::Lost;
                if let Some(output) = stage.writes() {
                    out.push(line(hop(output), Kind::Sent, Outcome::Unreached, 0, None));
                }
                continue;
            }
            out.push(line(
                hop(input),
                Kind::Received,
                happened(reads),
                reads,
                Some(message.clone()),
            ));
            let Some(output) = stage.writes() else {
                continue;
            };
            let written = journal
                .writes
                .iter()
                .filter(|w| w.app == app && &w.id == id && w.topic == output)
                .count() as u32;
            if written > 0 {
                out.push(line(
                    hop(output),
                    Kind::Sent,
                    happened(written),
                    written,
                    Some(message.clone()),
                ));
            } else if journal.filtered.iter().any(|(s, f)| *s == stage && f == id) {
                out.push(line(hop(output), Kind::Sent, Outcome::Filtered, 0, None));
                upstream = Upstream::Filtered;
            } else {
                out.push(lost(hop(output), Kind::Sent, Reason::LostInApp)?);
                upstream = Upstream::Lost;
            }
        }
    }
    Ok(out)
}

fn happened(times: u32) -> Outcome {
    if times > 1 {
        Outcome::Duplicated
    } else {
        Outcome::Delivered
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::pipeline::{Commit, PRODUCER, Read, Write};

    /// A journal where `ids` are written to the first topic, one per partition 0 offset n.
    fn journal(ids: &[&str]) -> Journal {
        let mut j = Journal::default();
        for (n, id) in ids.iter().enumerate() {
            j.ids.push((*id).to_owned());
            j.writes.push(Write {
                app: PRODUCER,
                id: (*id).to_owned(),
                topic: 0,
                partition: 0,
                offset: n as i64,
            });
        }
        for stage in Stage::ALL {
            let mut commit = Commit {
                offsets: Default::default(),
                at: 100 + stage as i64,
            };
            commit.offsets.insert(0, 1_000);
            j.commits.insert(stage, commit);
        }
        j
    }

    /// `stage` reads `id` at partition 0 offset `offset` `times` times, and (processors)
    /// writes it on `copies` times.
    fn pass(j: &mut Journal, stage: Stage, id: &str, times: usize, copies: usize) {
        let offset = 7;
        for _ in 0..times {
            j.reads.push(Read {
                stage,
                id: id.into(),
                partition: 0,
                offset,
            });
        }
        if let Some(output) = stage.writes() {
            for n in 0..copies {
                j.writes.push(Write {
                    app: stage.app(),
                    id: id.into(),
                    topic: output,
                    partition: 0,
                    offset: n as i64,
                });
            }
        }
    }

    fn outcomes(truth: &[TruthRecord], id: &str) -> Vec<(String, Outcome, u32)> {
        truth
            .iter()
            .filter(|t| t.id == id)
            .map(|t| {
                (
                    format!("{}@{}", t.hop.app, t.hop.location),
                    t.outcome,
                    t.count,
                )
            })
            .collect()
    }

    #[test]
    fn every_hop_of_a_delivered_message_has_a_line() {
        let mut j = journal(&["a"]);
        for stage in Stage::ALL {
            pass(&mut j, stage, "a", 1, 1);
        }
        let t = truth(&j).unwrap();
        assert_eq!(
            outcomes(&t, "a"),
            [
                ("enricher@demo/orders-raw".into(), Outcome::Delivered, 1),
                (
                    "enricher@demo/orders-enriched".into(),
                    Outcome::Delivered,
                    1
                ),
                ("indexer@demo/orders-enriched".into(), Outcome::Delivered, 1),
                ("indexer@demo/orders-indexed".into(), Outcome::Delivered, 1),
                ("sink@demo/orders-indexed".into(), Outcome::Delivered, 1),
            ]
        );
        assert!(
            t.iter()
                .all(|l| l.reason.is_none() && l.passed_at.is_none())
        );
        assert_eq!(t[0].kind, Kind::Received);
        assert_eq!(t[1].kind, Kind::Sent);
    }

    #[test]
    fn a_message_committed_past_unread_is_lost_there_and_unreached_after() {
        let j = journal(&["a"]);
        let t = truth(&j).unwrap();
        assert_eq!(t.len(), 5);
        assert_eq!(t[0].outcome, Outcome::Lost);
        assert_eq!(t[0].reason, Some(Reason::CommittedPast));
        assert_eq!(
            t[0].passed_at,
            Some(100),
            "when the enricher's commit returned"
        );
        assert_eq!(t[0].message.as_ref().map(|m| m.offset), Some(0));
        assert!(t[1..].iter().all(|l| l.outcome == Outcome::Unreached));
    }

    #[test]
    fn a_processor_that_reads_but_never_writes_loses_it_in_the_app() {
        let mut j = journal(&["a"]);
        pass(&mut j, Stage::Enricher, "a", 1, 1);
        pass(&mut j, Stage::Indexer, "a", 1, 0);
        let t = truth(&j).unwrap();
        let indexer_write = &t[3];
        assert_eq!(indexer_write.hop.location, "demo/orders-indexed");
        assert_eq!(
            (indexer_write.outcome, indexer_write.reason),
            (Outcome::Lost, Some(Reason::LostInApp))
        );
        assert_eq!(indexer_write.passed_at, Some(101));
        let input = indexer_write.message.as_ref().unwrap();
        assert_eq!(
            (input.location.as_str(), input.offset),
            ("demo/orders-enriched", 0)
        );
        assert_eq!(t[4].outcome, Outcome::Unreached);
    }

    #[test]
    fn duplicates_and_filters_are_what_happened() {
        let mut j = journal(&["dup", "f"]);
        pass(&mut j, Stage::Enricher, "dup", 1, 2);
        pass(&mut j, Stage::Indexer, "dup", 2, 1);
        pass(&mut j, Stage::Sink, "dup", 3, 0);
        pass(&mut j, Stage::Enricher, "f", 1, 1);
        pass(&mut j, Stage::Indexer, "f", 1, 0);
        j.filtered.push((Stage::Indexer, "f".into()));
        let t = truth(&j).unwrap();
        let dup: Vec<_> = outcomes(&t, "dup")
            .into_iter()
            .map(|(_, o, c)| (o, c))
            .collect();
        assert_eq!(
            dup,
            [
                (Outcome::Delivered, 1),
                (Outcome::Duplicated, 2),
                (Outcome::Duplicated, 2),
                (Outcome::Delivered, 1),
                (Outcome::Duplicated, 3),
            ]
        );
        let f: Vec<_> = outcomes(&t, "f").into_iter().map(|(_, o, _)| o).collect();
        assert_eq!(
            f,
            [
                Outcome::Delivered,
                Outcome::Delivered,
                Outcome::Delivered,
                Outcome::Filtered,
                Outcome::Filtered
            ]
        );
    }

    #[test]
    fn a_message_neither_read_nor_committed_past_is_an_error() {
        let mut j = journal(&["a"]);
        j.commits.clear();
        let err = truth(&j).unwrap_err();
        assert_eq!(
            err,
            DeriveError::Undecided {
                id: "a".into(),
                app: "enricher"
            }
        );
    }
}
