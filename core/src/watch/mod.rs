//! The pure core of `cairn watch`: from what the shell reads of every consumer group each
//! round to a state per partition and group, with its evidence, and to incidents.
//!
//! No Kafka, no clock, no threads: the shell passes a [`Round`] (the time, and per group its
//! state, members and per partition the committed offset, log start, log end and the first
//! unread record it fetched), and [`Evaluator::evaluate`] returns a [`RoundReport`] whose
//! types serialize to the REST API's shapes. [`IncidentBook::observe`] turns reports into
//! `open`/`close` records and is the state the shell keeps across restarts.
//! `docs/watch.md` explains the states, the stuck clock and lag in time.
//!
//! Layout:
//! - [`input`]: a round as the shell reads it.
//! - [`settings`]: one group's knobs (window, poll interval, max lag, incidents, history).
//! - [`state`]: the states, worst first, and the lag-in-time methods.
//! - `unread`: records, markers only, or nothing between the commit and the log end.
//! - `end_table`: the bounded (log end, time) table lag in time is interpolated from.
//! - `lag`: lag in time from the first unread record, or interpolated.
//! - `log_track`: what is learnt of a partition's log (its end table), shared by its groups.
//! - `trend`: lag in time sampled per window, for `falling_behind`.
//! - `partition`: one partition across rounds: the stuck clock and the state of a round.
//! - `evaluator`: rounds in, reports out; groups and partitions come and go with rounds.
//! - [`packed`]: optional numbers in 8 bytes, for what is kept per (group, partition).
//! - [`report`]: what a round concludes, in the API's JSON shapes.
//! - [`history`]: the recent points per partition, kept as runs, for the history endpoint.
//! - [`headroom`]: retention minus lag in time, per group.
//! - [`incident`]: the incident book and the incident record.

mod end_table;
mod evaluator;
pub mod headroom;
pub mod history;
pub mod incident;
pub mod input;
mod lag;
mod log_track;
pub mod packed;
mod partition;
pub mod report;
pub mod settings;
pub mod state;
mod trend;
mod unread;

pub use end_table::{END_POINTS, EndPoint, EndTable};
pub use evaluator::Evaluator;
pub use headroom::{Retention, group_headroom};
pub use history::{GroupHistory, HistoryPoint, PartitionHistory};
pub use incident::{Incident, IncidentBook, IncidentKind, Phase};
pub use input::{
    FirstUnread, GroupObservation, GroupState, GroupStatus, Observed, PartitionObservation, Round,
};
pub use report::{GroupReport, GroupSummary, PartitionReport, RoundReport, TimestampCounts};
pub use settings::GroupSettings;
pub use state::{ConsumerState, LagMethod};

#[cfg(test)]
mod tests;
