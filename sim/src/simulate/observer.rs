//! Watches, during the run, every reading group's committed offsets and every location's log
//! start, so the truth can say when each lost message was first passed: the moment detection
//! delay is measured from. It also tells the driver when every group has caught up.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use cairn_core::model::Millis;
use parking_lot::Mutex;
use rdkafka::ClientConfig;

use cairn_shell::clock::now_millis;
use cairn_shell::kafka::offsets::GroupOffsetsReader;

/// How often offsets are polled.
pub const POLL_INTERVAL: Duration = Duration::from_millis(200);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// (group, location, partition).
pub type GroupPartition = (String, String, i32);

/// What the observer saw, as change points: (first time seen, value).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Observations {
    pub committed: BTreeMap<GroupPartition, Vec<(Millis, i64)>>,
    pub log_start: BTreeMap<(String, i32), Vec<(Millis, i64)>>,
    /// The latest log end per (location, partition).
    pub log_end: BTreeMap<(String, i32), i64>,
    /// Completed polling rounds.
    pub rounds: u64,
}

impl Observations {
    /// When `group`'s committed offset at location/partition was first seen past `offset`.
    pub fn committed_past(
        &self,
        group: &str,
        location: &str,
        partition: i32,
        offset: i64,
    ) -> Option<Millis> {
        first_past(
            self.committed
                .get(&(group.to_owned(), location.to_owned(), partition)),
            offset,
        )
    }

    /// When the log start of location/partition was first seen past `offset`.
    pub fn log_start_past(&self, location: &str, partition: i32, offset: i64) -> Option<Millis> {
        first_past(
            self.log_start.get(&(location.to_owned(), partition)),
            offset,
        )
    }

    /// Whether each (group, location) has committed up to the log end of every partition.
    pub fn caught_up(
        &self,
        readers: &[(String, String)],
        partitions: &BTreeMap<String, i32>,
    ) -> bool {
        self.behind(readers, partitions).is_empty()
    }

    /// The readers that have not committed up to the log end: (group, location, partition,
    /// committed, log end), for the drain timeout to name.
    pub fn behind(
        &self,
        readers: &[(String, String)],
        partitions: &BTreeMap<String, i32>,
    ) -> Vec<(String, String, i32, i64, i64)> {
        let mut behind = Vec::new();
        for (group, location) in readers {
            for p in 0..partitions.get(location).copied().unwrap_or(0) {
                let end = self
                    .log_end
                    .get(&(location.clone(), p))
                    .copied()
                    .unwrap_or(0);
                let committed = self
                    .committed
                    .get(&(group.clone(), location.clone(), p))
                    .and_then(|series| series.last())
                    .map_or(0, |&(_, offset)| offset);
                if end != 0 && committed < end {
                    behind.push((group.clone(), location.clone(), p, committed, end));
                }
            }
        }
        behind
    }

    fn note_committed(&mut self, key: GroupPartition, at: Millis, offset: i64) {
        note(self.committed.entry(key).or_default(), at, offset);
    }
}

fn note(series: &mut Vec<(Millis, i64)>, at: Millis, value: i64) {
    if series.last().is_none_or(|&(_, last)| last != value) {
        series.push((at, value));
    }
}

fn first_past(series: Option<&Vec<(Millis, i64)>>, offset: i64) -> Option<Millis> {
    series?
        .iter()
        .find(|&&(_, value)| value > offset)
        .map(|&(at, _)| at)
}

/// What to watch on one cluster.
pub struct Watch {
    pub cluster: ClientConfig,
    /// (group, location, topic, partitions) for every reader of a location of this cluster.
    pub readers: Vec<(String, String, String, i32)>,
}

/// The running observer.
pub struct Observer {
    pub seen: Arc<Mutex<Observations>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Observer {
    pub fn spawn(watches: Vec<Watch>) -> anyhow::Result<Observer> {
        let mut readers = Vec::new();
        for watch in watches {
            for (group, location, topic, partitions) in watch.readers {
                let reader = GroupOffsetsReader::new(&watch.cluster, &group)?;
                readers.push((reader, location, topic, partitions));
            }
        }
        let seen = Arc::new(Mutex::new(Observations::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (seen, stop) = (Arc::clone(&seen), Arc::clone(&stop));
            std::thread::Builder::new()
                .name("simulate-observer".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        poll_round(&readers, &seen);
                        std::thread::sleep(POLL_INTERVAL);
                    }
                })?
        };
        Ok(Observer {
            seen,
            stop,
            thread: Some(thread),
        })
    }

    pub fn snapshot(&self) -> Observations {
        self.seen.lock().clone()
    }

    /// Stops polling and returns everything seen.
    pub fn finish(mut self) -> Observations {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.snapshot()
    }
}

impl Drop for Observer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn poll_round(readers: &[(GroupOffsetsReader, String, String, i32)], seen: &Mutex<Observations>) {
    for (reader, location, topic, partitions) in readers {
        let all: Vec<i32> = (0..*partitions).collect();
        // Watermarks before committed offsets: a commit seen now is never later than the end.
        let mut marks = Vec::new();
        for &p in &all {
            match reader.watermarks(topic, p, REQUEST_TIMEOUT) {
                Ok(w) => marks.push((p, w, now_millis())),
                Err(err) => tracing::debug!(error = %err, %location, "observer: watermarks"),
            }
        }
        let committed = reader.committed(topic, &all, REQUEST_TIMEOUT);
        let at = now_millis();
        let mut seen = seen.lock();
        for (p, w, at) in marks {
            note(
                seen.log_start.entry((location.clone(), p)).or_default(),
                at,
                w.log_start,
            );
            seen.log_end.insert((location.clone(), p), w.log_end);
        }
        match committed {
            Ok(offsets) => {
                for (p, offset) in offsets {
                    if let Some(offset) = offset {
                        seen.note_committed(
                            (reader.group().to_owned(), location.clone(), p),
                            at,
                            offset,
                        );
                    }
                }
            }
            Err(err) => tracing::debug!(error = %err, %location, "observer: committed offsets"),
        }
    }
    seen.lock().rounds += 1;
}
