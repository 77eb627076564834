//! The committed offsets of many consumer groups, read from outside the groups.
//!
//! librdkafka's `committed()` answers only for the client's own `group.id`, so there is one
//! passive consumer per watched group ([`GroupOffsetsReader`], which never joins its group),
//! kept while the group is watched. Each group is asked in chunks of [`CHUNK`] partitions:
//! librdkafka files each partition of an OffsetFetch answer by a linear search of those filed
//! so far, so one answer costs the square of its size; in chunks the cost is linear.
//! `committed()` blocks for a round trip, so [`CONCURRENT`] threads ask groups at once: one
//! after another, 200 groups × 10 chunks were 2,000 round trips end to end.
//!
//! Why not librdkafka's admin `ListConsumerGroupOffsets`, all groups at once: it was faster
//! (`benches/watch_round.rs`), but with a broker killed under it librdkafka 2.12 aborted the
//! whole process (`rd_kafka_enq_once_del_source_return: Assertion 'eonce->refcnt > 0'`), seen
//! in the three-node test of a node down for 30 s. A monitor must outlive the outage it
//! watches, so the consumer path stays until that is fixed upstream.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use rdkafka::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use crate::kafka::offsets::{GroupOffsetsReader, OffsetsError};

/// Partitions asked in one OffsetFetch.
pub const CHUNK: usize = 200;
/// Groups asked at once, each on its own thread (a reader blocks for its round trip).
pub const CONCURRENT: usize = 8;

/// One partition's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Commit {
    /// The committed offset; `None`: the group committed nothing there.
    Offset(Option<i64>),
    /// The broker answered an error for this partition alone (not authorized, unstable).
    Refused(Option<RDKafkaErrorCode>),
    /// The whole request failed (group not authorized, coordinator loading or gone, timeout).
    Failed(Option<RDKafkaErrorCode>),
}

/// The offsets readers of a cluster's watched groups.
pub struct CommittedReader {
    base: ClientConfig,
    timeout: Duration,
    readers: Mutex<HashMap<String, GroupOffsetsReader>>,
}

impl CommittedReader {
    pub fn new(base: &ClientConfig, timeout: Duration) -> Result<CommittedReader, KafkaError> {
        Ok(CommittedReader {
            base: base.clone(),
            timeout,
            readers: Mutex::new(HashMap::new()),
        })
    }

    /// The committed offset of each of `partitions` for each of `groups`: per group, in the
    /// order of `partitions`. Readers of groups not asked for any more are dropped.
    pub fn committed(&self, groups: &[String], partitions: &[(String, i32)]) -> Vec<Vec<Commit>> {
        let mut readers = self.readers.lock();
        let asked: HashSet<&str> = groups.iter().map(String::as_str).collect();
        readers.retain(|group, _| asked.contains(group.as_str()));
        // A group whose reader cannot be made fails as a whole; the others are asked.
        let mut unmade: HashMap<&str, Option<RDKafkaErrorCode>> = HashMap::new();
        for group in groups {
            if !readers.contains_key(group) {
                match GroupOffsetsReader::new(&self.base, group) {
                    Ok(reader) => {
                        readers.insert(group.clone(), reader);
                    }
                    Err(err) => {
                        unmade.insert(group.as_str(), code_of(&err));
                    }
                }
            }
        }
        let readers = &*readers;
        let next = AtomicUsize::new(0);
        let ask = || {
            let mut answered = Vec::new();
            loop {
                let g = next.fetch_add(1, Ordering::Relaxed);
                let Some(group) = groups.get(g) else {
                    return answered;
                };
                let answer = match readers.get(group) {
                    Some(reader) => self.ask(reader, partitions),
                    None => {
                        let code = unmade.get(group.as_str()).copied().flatten();
                        vec![Commit::Failed(code); partitions.len()]
                    }
                };
                answered.push((g, answer));
            }
        };
        let mut out = vec![Vec::new(); groups.len()];
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..CONCURRENT.min(groups.len()))
                .map(|_| scope.spawn(ask))
                .collect();
            for worker in workers {
                // A worker that panicked leaves its groups' answers empty: failed as a whole.
                for (g, answer) in worker.join().unwrap_or_default() {
                    out[g] = answer;
                }
            }
        });
        for answer in &mut out {
            if answer.len() != partitions.len() {
                *answer = vec![Commit::Failed(None); partitions.len()];
            }
        }
        out
    }

    /// One group's answers over `partitions`, chunk by chunk.
    fn ask(&self, reader: &GroupOffsetsReader, partitions: &[(String, i32)]) -> Vec<Commit> {
        let mut out = Vec::with_capacity(partitions.len());
        for chunk in partitions.chunks(CHUNK) {
            match reader.committed_in(chunk, self.timeout) {
                Ok(answers) => out.extend(answers.into_iter().map(|answer| match answer {
                    Ok(offset) => Commit::Offset(offset),
                    Err(code) => Commit::Refused(code),
                })),
                Err(err) => {
                    out.extend(std::iter::repeat_n(
                        Commit::Failed(code_of(&err)),
                        chunk.len(),
                    ));
                }
            }
        }
        out
    }
}

/// The librdkafka code of a failed read, when it has one.
fn code_of(err: &OffsetsError) -> Option<RDKafkaErrorCode> {
    match err {
        OffsetsError::Client { source, .. }
        | OffsetsError::Committed { source, .. }
        | OffsetsError::CommittedMany { source, .. }
        | OffsetsError::Watermarks { source, .. } => source.rdkafka_error_code(),
    }
}
