//! `cairn watch`: the shell around [`cairn_core::watch`]. Every `poll_interval` a thread per
//! cluster reads every watched consumer group (state, committed offsets, log start and end,
//! the first unread record of lagging partitions), the core judges the round, incidents are
//! stored in sled, then published to the incidents topic and the webhooks; HTTP serves the
//! latest reports. `docs/watch.md` explains the states and the contract with the core.
//!
//! Layout:
//! - [`reads`]: one cluster's Kafka reads (groups, topics, committed offsets, watermarks).
//! - [`committed`]: every group's committed offsets through one admin client, all at once.
//! - [`first_unread`]: the read_committed fetch of one record at a committed offset, cached.
//! - [`retention`]: the topics' retention, read now and then, for the headroom gauge.
//! - [`round`]: the reads of a round assembled into the core's observations.
//! - [`phases`]: how long each step of a round took, logged at debug level.
//! - [`poller`]: the thread per cluster: read, judge, record, hand incidents on.
//! - [`book`]: the incident book in sled, restored at start.
//! - [`leader`]: several instances elect the active one; [`leader::LeaderHandle::is_active`].
//! - [`takeover`]: what a newly active instance does: fence, read the incidents topic, reconcile.
//! - [`publish`]: the incidents topic and the webhooks; hands each record to the responder.
//! - [`respond`]: the first responder: relaunch, notify, escalate, each action audited.
//! - [`view`]: what the pollers publish for HTTP: reports, incidents, counters, readiness.
//! - [`events`]: what the watch logs and counts about itself.
//! - [`metrics`]: the `cairn_watch_*` families for `/metrics`.
//! - [`scale`]: the autoscaling advisor, fed each judged round.
//! - [`http`]: the endpoints.

pub mod book;
pub mod committed;
pub mod events;
pub mod first_unread;
pub mod http;
pub mod leader;
pub mod metrics;
mod page;
pub mod phases;
pub mod poller;
pub mod publish;
pub mod reads;
pub mod respond;
pub mod retention;
pub mod round;
pub mod scale;
pub mod takeover;
pub mod view;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use cairn_core::config::WatchConfig;
use cairn_core::watch::Evaluator;
use parking_lot::Mutex;

use self::book::BookStore;
use self::leader::{LeaderHandle, spawn_election};
use self::poller::{SharedBook, spawn_poller};
use self::publish::FencedSink;
use self::takeover::IncidentsTakeover;
use self::view::WatchView;
use crate::kafka::client::client_config;

/// Where the incident book is kept when no `--store` is given (relative to the working directory).
pub const DEFAULT_STORE: &str = "cairn-watch-data";

/// How long the incident records still queued at shutdown may take to go out.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the responder may take after that to audit the actions it started (it gives
/// them 10 s itself).
const RESPONDER_DRAIN_TIMEOUT: Duration = Duration::from_secs(12);

/// Runs the watch until SIGTERM/SIGINT, keeping its incident book in `store`.
pub fn run(config: WatchConfig, store: PathBuf) -> anyhow::Result<()> {
    run_until(config, &store, crate::detect::wait_for_signal())
}

/// Runs the watch until `shutdown` completes. Call it from a plain thread: it starts its own
/// runtime.
pub fn run_until(
    config: WatchConfig,
    store: &Path,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // A refused login or certificate ends the start here, with one line naming the cluster.
    let probed: Vec<_> = config
        .clusters
        .iter()
        .map(|cluster| (cluster.name.clone(), client_config(cluster)))
        .collect();
    crate::kafka::probe::check_clusters(&probed, config.watch.request_timeout)?;
    let config = Arc::new(config);
    let mut book_store = BookStore::open(store)?;
    let book = book_store.load()?;
    tracing::info!(store = %store.display(), open_incidents = book.open().len(), "incident book loaded");
    let evaluators = config
        .clusters
        .iter()
        .map(|c| {
            let mut evaluator = Evaluator::new();
            evaluator.resume(&book);
            (c.name.clone(), evaluator)
        })
        .collect();
    let leader = match &config.watch.election {
        Some(election) => LeaderHandle::elected_by(election),
        None => LeaderHandle::single(),
    };
    let mut view = WatchView::new(evaluators).with_leader(leader.clone());
    view.partition_metrics = config.watch.partition_metrics;
    let view = Arc::new(view);
    let book = Arc::new(Mutex::new(SharedBook {
        book,
        store: book_store,
    }));
    let fenced = config
        .watch
        .election
        .as_ref()
        .map(|_| FencedSink::default());

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .thread_name("cairn-watch-io")
        .build()
        .context("starting the async runtime")?;
    let _ = view.io.set(runtime.handle().clone());
    let stop = Arc::new(AtomicBool::new(false));
    // The responder acts only while this instance holds the active role.
    let active: respond::ActiveFlag = {
        let leader = leader.clone();
        Arc::new(move || leader.is_active())
    };
    let (publish, publisher, responder) = {
        let _guard = runtime.enter();
        let db = book.lock().store.db();
        let shared = book.clone();
        let open: respond::OpenIncidents = Arc::new(move || shared.lock().book.open().to_vec());
        let responder = respond::spawn_responder(&config, db, open, view.clone(), active)
            .context("starting the responder")?;
        let (publish, publisher) = publish::spawn_publisher(
            &config,
            view.clone(),
            fenced.clone(),
            responder.as_ref().map(|r| r.incidents.clone()),
        )
        .context("creating the incidents producer")?;
        (publish, publisher, responder.map(|r| r.task))
    };
    let election_stop = Arc::new(AtomicBool::new(false));
    let election = match (&config.watch.election, fenced) {
        (Some(election), Some(sink)) => {
            let cluster = config
                .cluster(&election.control_topic.cluster)
                .expect("the config validates that control_topic names a declared cluster");
            let takeover = IncidentsTakeover {
                config: config.clone(),
                election: election.clone(),
                book: book.clone(),
                view: view.clone(),
                sink,
            };
            Some(
                spawn_election(
                    election,
                    client_config(cluster),
                    config.watch.request_timeout,
                    leader,
                    Box::new(takeover),
                    election_stop.clone(),
                )
                .context("starting the election of the active instance")?,
            )
        }
        _ => None,
    };
    let mut pollers = Vec::new();
    for cluster in &config.clusters {
        pollers.push(
            spawn_poller(
                config.clone(),
                cluster.name.clone(),
                view.clone(),
                book.clone(),
                publish.clone(),
                stop.clone(),
            )
            .with_context(|| format!("starting the poller of cluster `{}`", cluster.name))?,
        );
    }
    drop(publish);
    let listen = config.http.listen.clone();
    let served = runtime.block_on(crate::http::serving::bind_and_serve(
        &listen,
        http::router(view.clone()),
        shutdown,
    ));
    tracing::info!("stopping the watch");
    stop.store(true, Ordering::Release);
    for poller in pollers {
        if poller.join().is_err() {
            tracing::error!("a watch poller panicked");
        }
    }
    // Every sender is gone with the pollers: the publisher ends once the queue is drained.
    runtime.block_on(async {
        if tokio::time::timeout(DRAIN_TIMEOUT, publisher)
            .await
            .is_err()
        {
            tracing::warn!("incident records still queued at shutdown were not all published");
        }
        // The publisher held the responder's only sender: it ends once its actions are audited.
        if let Some(responder) = responder {
            match tokio::time::timeout(RESPONDER_DRAIN_TIMEOUT, responder).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => tracing::error!("the responder task panicked"),
                Err(_) => tracing::warn!("the responder did not finish its actions at shutdown"),
            }
        }
    });
    // Last: the role is held while the queues drain; leaving the group then lets a standby
    // take over at once.
    election_stop.store(true, Ordering::Release);
    if let Some(election) = election
        && election.join().is_err()
    {
        tracing::error!("the watch election panicked");
    }
    served
}
