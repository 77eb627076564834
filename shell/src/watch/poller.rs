//! One thread per cluster: each `poll_interval` it reads the cluster, judges the round, keeps
//! the report for HTTP, records incidents in the shared book (stored before they go out) and
//! hands them to the publisher.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cairn_core::config::WatchConfig;
use cairn_core::watch::{IncidentBook, Round};
use parking_lot::Mutex;
use tokio::sync::mpsc;

use super::book::BookStore;
use super::first_unread::FirstUnreadFetcher;
use super::publish::Outgoing;
use super::reads::ClusterReads;
use super::round::{RoundMemory, observe_cluster};
use super::view::{WatchCounters, WatchView};
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
    let handle = std::thread::Builder::new()
        .name(format!("watch-{cluster}"))
        .spawn(move || {
            let mut memory = RoundMemory::default();
            let interval = config.watch.poll_interval;
            while !stop.load(Ordering::Acquire) {
                let started = Instant::now();
                let groups = observe_cluster(
                    &config,
                    &cluster,
                    &mut reads,
                    &mut fetcher,
                    &mut memory,
                    &view.counters,
                    now_millis,
                );
                let round = Round {
                    now: now_millis(),
                    groups,
                };
                judge(&cluster, &round, &view, &book, &publish);
                let left = interval.saturating_sub(started.elapsed());
                sleep_unless_stopped(left, &stop);
            }
            tracing::info!(cluster, "watch poller stopped");
        })?;
    Ok(handle)
}

/// Evaluates a round and passes on what it concluded. Every instance keeps its book up to
/// date; only the active one records and publishes the round's incident records, decided
/// under the book's lock so that a takeover (which reconciles under it) falls between rounds.
pub(super) fn judge(
    cluster: &str,
    round: &Round,
    view: &WatchView,
    book: &Mutex<SharedBook>,
    publish: &mpsc::Sender<Outgoing>,
) {
    let Some(cluster_view) = view.cluster(cluster) else {
        return;
    };
    let report = cluster_view.evaluator.lock().evaluate(round);
    let timestamps = report.timestamps;
    WatchCounters::add(
        &view.counters.odd_timestamps,
        cluster,
        "missing",
        timestamps.missing,
    );
    WatchCounters::add(
        &view.counters.odd_timestamps,
        cluster,
        "future",
        timestamps.future,
    );
    let mut shared = book.lock();
    let incidents = shared.book.observe(&report);
    let SharedBook { book: kept, store } = &mut *shared;
    if let Err(err) = store.save(kept) {
        tracing::error!(cluster, error = %err, "incident book not stored");
    }
    *cluster_view.latest.lock() = Some(report);
    cluster_view.rounds.fetch_add(1, Ordering::Relaxed);
    cluster_view.ready.store(true, Ordering::Release);
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
