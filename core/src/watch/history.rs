//! Recent rounds of one partition, kept in a ring of fixed size: what
//! `/api/consumers/{cluster}/{group}/history` serves and what a forecast will read.

use std::collections::VecDeque;

use serde::Serialize;

use super::state::ConsumerState;
use crate::model::Millis;

/// One round of one partition.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct HistoryPoint {
    /// The round's time, ms since the epoch.
    pub at: Millis,
    pub state: ConsumerState,
    pub committed: Option<i64>,
    pub log_end: Option<i64>,
    pub lag_records: Option<i64>,
    pub lag_seconds: Option<f64>,
}

/// The last `capacity` points, oldest first.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    points: VecDeque<HistoryPoint>,
}

impl History {
    pub fn push(&mut self, point: HistoryPoint, capacity: usize) {
        while self.points.len() >= capacity.max(1) {
            self.points.pop_front();
        }
        self.points.push_back(point);
    }

    pub fn points(&self) -> impl ExactSizeIterator<Item = &HistoryPoint> {
        self.points.iter()
    }
}

/// One partition's history, as served.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PartitionHistory {
    pub topic: String,
    pub partition: i32,
    pub points: Vec<HistoryPoint>,
}

/// A group's history: every partition it has now.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GroupHistory {
    pub cluster: String,
    pub group: String,
    pub partitions: Vec<PartitionHistory>,
}
