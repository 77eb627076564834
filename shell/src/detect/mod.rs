//! `cairn detect`: the streaming job around the detector core.
//!
//! The job runs sessions, one at a time: a session is one member of cairn's consumer group on
//! the tracing topic with its workers and its checkpoint producer. A session that fails for a
//! reason outside cairn is replaced by a new one that resumes from the last checkpoint; HTTP and
//! the offsets oracle live as long as the job.
//!
//! - [`supervise`]: the restart loop, with back-off; what ends the job instead ([`error`]).
//! - [`session`]: one session's steps: start checkpoints, spawn workers, subscribe, run, shut down.
//! - [`consume`]: the Kafka consumer side, [`consume::TracingConsumer`]: polls the tracing topic
//!   and runs the periodic checkpoints. (The per-trace logic is the core's `detector`.)
//! - [`rebalance`]: partitions assigned (restored, handed to workers) and revoked (checkpointed).
//! - [`dispatch`]: routes records and requests to the worker that owns their partition.
//! - [`worker`]: threads that own tracing partitions and run their detectors.
//! - [`checkpoint`]: state, verdicts and offsets made durable together.
//! - [`restore`]: a partition's state rebuilt on assign, from the local snapshot or from the changelog.
//! - [`changelog`]: the compacted topic that carries state from one owner to the next.
//! - [`spill`]: the disk tier that holds messages past the memory budget ([`budget`] sizes it).

pub mod budget;
pub mod changelog;
pub mod checkpoint;
pub mod consume;
pub mod dispatch;
pub mod error;
pub mod frontier;
pub mod looks;
pub mod rebalance;
pub mod restore;
pub mod session;
pub mod spill;
pub mod supervise;
pub mod watchdog;
pub mod worker;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use cairn_core::config::Config;
use cairn_core::lineage::Lineage;
use cairn_core::metrics::Metrics;

use self::session::Shared;
use crate::clock::now_millis;
use crate::kafka::client::client_config;
use crate::lineage::LineageCell;
use crate::lineage::control_plane::ControlPlane;
use crate::observe::Observatory;
use crate::oracle::{OracleHandle, every_cluster, spawn_oracle, watches_from_config};
use crate::store::Store;

/// How often state, verdicts and offsets are checkpointed (and metrics refreshed).
const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);
/// How often workers run due timers when no trace arrives.
const TICK_INTERVAL: Duration = Duration::from_millis(100);

/// Runs the job until SIGTERM/SIGINT; returns after a final checkpoint.
pub fn run(config: Config) -> anyhow::Result<()> {
    run_until(config, async {
        wait_for_signal().await;
        tracing::info!("signal received; finishing with a final checkpoint");
    })
}

/// Runs the job until `shutdown` completes, then returns after a final checkpoint: for a
/// caller that runs the job in its own process and stops it itself (`cairn demo`). Call it
/// from a plain thread, not from inside an async runtime: the job starts its own.
pub fn run_until(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .thread_name("cairn-io")
        .build()
        .context("starting the async runtime")?;
    let lineage = Arc::new(match &config.control_plane {
        None => LineageCell::from_file(
            &config,
            Lineage::compile(&config.streams).context("compiling the lineage")?,
            now_millis(),
        ),
        Some(control_plane) => LineageCell::awaiting(&control_plane.url),
    });
    let observatory = Arc::new(Observatory::with_lineage(lineage.clone()));
    if let Some(applied) = lineage.current() {
        observatory
            .metrics
            .store(Arc::new(Metrics::for_lineage(&applied.lineage)));
    }

    check_clusters(&config)?;
    let tracing_base = client_config(
        config
            .cluster(&config.tracing.cluster)
            .context("the tracing cluster is not declared")?,
    );
    let output_base = (config.output.cluster != config.tracing.cluster)
        .then(|| {
            config
                .cluster(&config.output.cluster)
                .map(client_config)
                .context("the output cluster is not declared")
        })
        .transpose()?;
    let changelog_topic = runtime
        .block_on(changelog::ensure_changelog(
            &tracing_base,
            &config.tracing.group,
            &config.tracing.topic,
            config.oracle.request_timeout,
        ))
        .context("preparing the changelog topic")?;
    let store = Arc::new(Store::open(&config.store.path).context("opening the state store")?);
    let instance = store.instance_id().context("reading the instance id")?;
    let budgets = budget::resolve(
        config.detector.max_memory,
        config.detector.max_disk,
        &config.store.path,
    );
    let tier = Arc::new(
        spill::SpillTier::open(&config.store.path.join("spill"), budgets.max_disk)
            .context("opening the detector's disk tier")?,
    );
    tracing::info!(
        max_memory = budgets.max_memory,
        memory_derived = budgets.memory_derived,
        max_disk = budgets.max_disk,
        disk_derived = budgets.disk_derived,
        "detector budgets: messages past max_memory spill to disk, past max_disk they are shed"
    );

    // A served lineage may come to use any declared cluster: each gets a poller from the start.
    let watches = match &config.control_plane {
        None => watches_from_config(&config),
        Some(_) => every_cluster(&config),
    };
    let oracle = spawn_oracle(
        watches,
        config.oracle.poll_interval,
        config.oracle.request_timeout,
    )
    .context("starting the offsets oracle")?;
    observatory.oracle.lock().extend(oracle.stats.clone());

    let stop = Arc::new(AtomicBool::new(false));
    let http = serve_http(&runtime, &config, &observatory, &oracle, &stop)?;
    {
        let stop = stop.clone();
        runtime.spawn(async move {
            shutdown.await;
            stop.store(true, Ordering::Relaxed);
        });
    }

    if config.control_plane.is_some()
        && !follow_control_plane(&runtime, &config, &lineage, &observatory, &oracle, &stop)?
    {
        // Stopped before a first lineage came: nothing was consumed, nothing to checkpoint.
        oracle.shutdown();
        let _ = runtime.block_on(http);
        return Ok(());
    }

    let shared = Shared {
        config: &config,
        lineage: &lineage,
        observatory: &observatory,
        board: &oracle.board,
        tracing_base: &tracing_base,
        output_base: output_base.as_ref(),
        changelog_topic: &changelog_topic,
        store: &store,
        instance: &instance,
        tier: &tier,
        max_memory: budgets.max_memory,
    };
    let outcome = supervise::supervise(&shared, &stop);
    stop.store(true, Ordering::Relaxed);
    oracle.shutdown();
    let _ = runtime.block_on(http);
    Ok(outcome?)
}

/// Probes every cluster the job talks to (tracing, output, the lineage's) before any client is
/// built: a refused login or certificate ends the start with one line naming the cluster.
fn check_clusters(config: &Config) -> Result<(), crate::kafka::probe::ClusterRefused> {
    let watched = watches_from_config(config);
    let used: Vec<(String, rdkafka::ClientConfig)> = config
        .clusters
        .iter()
        .filter(|cluster| {
            cluster.name == config.tracing.cluster
                || cluster.name == config.output.cluster
                || watched.iter().any(|w| w.cluster.name == cluster.name)
        })
        .map(|cluster| (cluster.name.clone(), client_config(cluster)))
        .collect();
    crate::kafka::probe::check_clusters(&used, config.oracle.request_timeout)
}

/// Starts the control plane's refresh loop on the job's runtime (the oracle's watches follow
/// each lineage it applies), then waits for its first lineage: false when `stop` came first.
/// Until then the job is not ready and `/readyz` says what it waits for.
fn follow_control_plane(
    runtime: &tokio::runtime::Runtime,
    config: &Config,
    lineage: &Arc<LineageCell>,
    observatory: &Arc<Observatory>,
    oracle: &OracleHandle,
    stop: &Arc<AtomicBool>,
) -> anyhow::Result<bool> {
    let watched = oracle.watched.clone();
    let plane = ControlPlane::new(
        config.clone(),
        lineage.clone(),
        Box::new(move |applied| watched.set(&watches_from_config(&applied.config))),
    )
    .context("preparing the control plane client")?;
    runtime.spawn(plane.run(stop.clone()));
    tracing::info!(
        url = lineage.control_plane().unwrap_or_default(),
        "waiting for the first lineage from the control plane"
    );
    while lineage.current().is_none() {
        if stop.load(Ordering::Relaxed) {
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    if let Some(applied) = lineage.current() {
        observatory
            .metrics
            .store(Arc::new(Metrics::for_lineage(&applied.lineage)));
    }
    Ok(true)
}

/// Starts the HTTP face on the job's runtime; it serves until `stop`.
fn serve_http(
    runtime: &tokio::runtime::Runtime,
    config: &Config,
    observatory: &Arc<Observatory>,
    oracle: &OracleHandle,
    stop: &Arc<AtomicBool>,
) -> anyhow::Result<tokio::task::JoinHandle<std::io::Result<()>>> {
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(&config.http.listen))
        .with_context(|| format!("binding {}", config.http.listen))?;
    let stop = stop.clone();
    let shutdown = async move {
        while !stop.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    Ok(runtime.spawn(crate::http::serve(
        listener,
        observatory.clone(),
        oracle.board.clone(),
        shutdown,
    )))
}

pub(crate) async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(test)]
mod tests;
