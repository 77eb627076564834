//! One thread per cluster: each `poll_interval` it reads the cluster, judges the round, keeps
//! the report for HTTP, records incidents in the shared book (stored before they go out) and
//! hands them to the publisher.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cairn_core::config::WatchConfig;
use cairn_core::model::Millis;
#[cfg(test)]
use cairn_core::watch::Round;
use cairn_core::watch::{
    GroupObservation, GroupState, IncidentBook, Retention, RoundReport, group_headroom,
};
use parking_lot::Mutex;
use tokio::sync::mpsc;

use super::book::BookStore;
use super::events::{
    LongRebalance, OddTimestamps, ReadFailed, ReadReason, TopicChange, TopicChanged,
};
use super::first_unread::FirstUnreadFetcher;
use super::publish::Outgoing;
use super::reads::ClusterReads;
use super::retention::RetentionCache;
use super::round::{RoundMemory, observe_cluster};
use super::scale;
use super::view::{ClusterView, Rebalance, WatchCounters, WatchView};
use crate::clock::now_millis;
use crate::kafka::client::client_config;

/// The incident book every cluster's poller records into, with its store.
pub struct SharedBook {
    pub book: IncidentBook,
    pub store: BookStore,
}

/// A cluster's first-unread fetch waits at most this long per topic, and never longer than
/// the request timeout.
const FIRST_UNREAD_TIMEOUT: Duration = Duration::from_secs(2);

/// Starts the poller of `cluster`; it stops at the next round after `stop` is set.
pub fn spawn_poller(
    config: Arc<WatchConfig>,
    cluster: String,
    view: Arc<WatchView>,
    book: Arc<Mutex<SharedBook>>,
    publish: mpsc::Sender<Outgoing>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<JoinHandle<()>> {
    let settings = config
        .cluster(&cluster)
        .expect("pollers run for declared clusters");
    let timeout = config.watch.request_timeout;
    let mut reads = ClusterReads::new(&client_config(settings), timeout)?;
    let mut fetcher = FirstUnreadFetcher::new(reads.base(), timeout.min(FIRST_UNREAD_TIMEOUT))?;
    let mut retention = RetentionCache::new(reads.base(), timeout)?;
    let handle = std::thread::Builder::new()
        .name(format!("watch-{cluster}"))
        .spawn(move || {
            let mut memory = RoundMemory::default();
            let interval = config.watch.poll_interval;
            while !stop.load(Ordering::Acquire) {
                let started = Instant::now();
                let (read, mut phases) = observe_cluster(
                    &config,
                    &cluster,
                    &mut reads,
                    &mut fetcher,
                    &mut memory,
                    &view.counters,
                    now_millis,
                );
                let now = now_millis();
                phases.time("retention", || {
                    read_retention(&cluster, read.topics_read(), &mut retention, &view)
                });
                // The advisor reads the observations of its few groups after the judging,
                // which consumes the round's reads.
                let scaled = read.observations_of(|group| scale::scales(&config, &cluster, group));
                phases.time("judge", || {
                    judge_groups(
                        &cluster,
                        now,
                        read.into_observations(),
                        &view,
                        &book,
                        &publish,
                    )
                });
                if let Some(cluster_view) = view.cluster(&cluster)
                    && let Some(report) = cluster_view.latest.lock().as_ref()
                {
                    phases.time("scale", || {
                        scale::advise(&config, &view, cluster_view, &scaled, report)
                    });
                }
                if let Some(cluster_view) = view.cluster(&cluster) {
                    round_done(cluster_view, started.elapsed());
                }
                tracing::debug!(cluster, total_ms = started.elapsed().as_millis() as u64, phases = %phases, "watch round phases");
                let left = interval.saturating_sub(started.elapsed());
                sleep_unless_stopped(left, &stop);
            }
            tracing::info!(cluster, "watch poller stopped");
        })?;
    Ok(handle)
}

/// Keeps how long the round took, then counts it, then says the cluster is ready: a scrape
/// that sees the count move (or `/readyz` turn ready) sees this round's duration, not the
/// last one's.
pub(super) fn round_done(cluster_view: &ClusterView, took: Duration) {
    let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
    cluster_view
        .last_round_micros
        .store(micros, Ordering::Relaxed);
    cluster_view.rounds.fetch_add(1, Ordering::Release);
    cluster_view.ready.store(true, Ordering::Release);
}

/// Evaluates a whole round (the tests' way in; the poller judges its reads as they are turned
/// into observations, [`judge_groups`]).
#[cfg(test)]
pub(super) fn judge(
    cluster: &str,
    round: Round,
    view: &WatchView,
    book: &Mutex<SharedBook>,
    publish: &mpsc::Sender<Outgoing>,
) {
    judge_groups(
        cluster,
        round.now,
        round.groups.into_iter(),
        view,
        book,
        publish,
    );
}

/// Evaluates a round and passes on what it concluded. Every instance keeps its book up to
/// date; only the active one records and publishes the round's incident records, decided
/// under the book's lock so that a takeover (which reconciles under it) falls between rounds.
pub(super) fn judge_groups(
    cluster: &str,
    now: Millis,
    groups: impl Iterator<Item = GroupObservation>,
    view: &WatchView,
    book: &Mutex<SharedBook>,
    publish: &mpsc::Sender<Outgoing>,
) {
    let Some(cluster_view) = view.cluster(cluster) else {
        return;
    };
    // One report at a time: the last one is dropped before the next is made (at issue 10's
    // size a report is 400,000 pairs, ~70 MiB), and API calls that want it wait for this
    // round's judging (~0.1 s there) instead of reading the last one meanwhile.
    let mut latest = cluster_view.latest.lock();
    drop(latest.take());
    let report = cluster_view.evaluator.lock().evaluate_stream(now, groups);
    OddTimestamps {
        cluster,
        missing: report.timestamps.missing,
        future: report.timestamps.future,
    }
    .emit(&view.counters);
    logs_went_back(cluster, &report, &view.counters);
    follow_rebalances(cluster, cluster_view, &report, &view.counters);
    // The book stays locked until the round's records are queued: a takeover reconciling
    // the book never sees records of a round half handed on.
    let mut shared = book.lock();
    let incidents = shared.book.observe(&report);
    let SharedBook { book: kept, store } = &mut *shared;
    if let Err(err) = store.save(kept) {
        tracing::error!(cluster, error = %err, "incident book not stored");
    }
    let headroom = headroom_by_group(&report, &cluster_view.retention.lock());
    *cluster_view.headroom.lock() = headroom;
    *latest = Some(report);
    drop(latest);
    let Some(term) = view.leader.active_term() else {
        for incident in &incidents {
            tracing::debug!(cluster, group = incident.group, phase = ?incident.phase, "incident concluded on standby, not published");
        }
        return;
    };
    view.record_incidents(cluster, &incidents);
    for incident in incidents {
        tracing::info!(
            cluster,
            group = incident.group,
            phase = ?incident.phase,
            kind = incident.kind.as_str(),
            since = incident.since,
            "incident"
        );
        if let Err(err) = publish.try_send(Outgoing { term, incident }) {
            tracing::error!(cluster, error = %err, "incident record dropped: the publish queue is full or closed");
        }
    }
    drop(shared);
}

/// Each group's retention headroom (see [`group_headroom`]), for `/metrics`; groups whose
/// headroom cannot be known are left out.
fn headroom_by_group(
    report: &RoundReport,
    retention: &HashMap<String, Retention>,
) -> HashMap<String, f64> {
    report
        .groups
        .iter()
        .filter_map(|group| {
            let headroom =
                group_headroom(&group.partitions, |topic| retention.get(topic).copied())?;
            Some((group.summary.group.clone(), headroom))
        })
        .collect()
}

/// One event per topic whose partitions' logs went back this round.
fn logs_went_back(cluster: &str, report: &RoundReport, counters: &WatchCounters) {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (topic, partition) in &report.logs_went_back {
        by_topic.entry(topic).or_default().push(*partition);
    }
    for (topic, partitions) in by_topic {
        TopicChanged {
            cluster,
            topic,
            change: TopicChange::LogWentBack,
            detail: &format!("partitions {partitions:?}"),
        }
        .emit(counters);
    }
}

/// Keeps when each group started rebalancing; a rebalance that outlasts the group's window is
/// said once. A round that could not read the group's state neither starts nor ends one.
fn follow_rebalances(
    cluster: &str,
    view: &ClusterView,
    report: &RoundReport,
    counters: &WatchCounters,
) {
    let mut rebalancing = view.rebalancing.lock();
    let mut keep = BTreeSet::new();
    for group in &report.groups {
        let summary = &group.summary;
        match summary.group_state {
            GroupState::Rebalancing => {}
            GroupState::Unknown => {
                keep.insert(summary.group.as_str());
                continue;
            }
            _ => continue,
        }
        keep.insert(summary.group.as_str());
        let rebalance = rebalancing
            .entry(summary.group.clone())
            .or_insert(Rebalance {
                since: report.now,
                reported: false,
            });
        let lasted = report.now.saturating_sub(rebalance.since);
        let window = i64::try_from(group.settings.window.as_millis()).unwrap_or(i64::MAX);
        if !rebalance.reported && lasted >= window {
            rebalance.reported = true;
            LongRebalance {
                cluster,
                group: &summary.group,
                for_seconds: lasted as f64 / 1000.0,
            }
            .emit(counters);
        }
    }
    rebalancing.retain(|group, rebalance| {
        let goes_on = keep.contains(group.as_str());
        if !goes_on && rebalance.reported {
            let lasted = report.now.saturating_sub(rebalance.since) as f64 / 1000.0;
            tracing::info!(
                cluster,
                group,
                lasted_seconds = lasted,
                "long rebalance ended; the group gets a full window to commit"
            );
        }
        goes_on
    });
}

/// Refreshes the retention of the round's topics when due; a failed read keeps the last
/// values, and is logged and counted.
fn read_retention(
    cluster: &str,
    topics: BTreeSet<String>,
    cache: &mut RetentionCache,
    view: &WatchView,
) {
    let Some(cluster_view) = view.cluster(cluster) else {
        return;
    };
    let topics = topics.into_iter().collect();
    match cache.refresh(topics, Instant::now()) {
        Ok(known) => *cluster_view.retention.lock() = known.clone(),
        Err(error) => ReadFailed {
            cluster,
            operation: "retention",
            reason: ReadReason::of_kafka(&error),
            error: &error,
        }
        .emit(&view.counters),
    }
}

/// Sleeps `total` in short steps, returning early once `stop` is set.
fn sleep_unless_stopped(total: Duration, stop: &AtomicBool) {
    let deadline = Instant::now() + total;
    while !stop.load(Ordering::Acquire) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
}
