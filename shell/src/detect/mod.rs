//! `cairn detect`: the streaming job around the detector core.
//!
//! - [`ingest`]: the tracing-topic consumer (poll loop, rebalance callback, routing, checkpoints).
//! - [`worker`]: threads that own tracing partitions and run their detectors.
//! - [`checkpoint`]: state, verdicts and offsets made durable together.
//! - [`restore`]: a partition's state rebuilt on assign, from the local snapshot or from the changelog.
//! - [`changelog`]: the compacted topic that carries state from one owner to the next.

pub mod changelog;
pub mod checkpoint;
pub mod ingest;
pub mod restore;
pub mod worker;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::Context as _;
use cairn_core::config::Config;
use cairn_core::lineage::Lineage;
use cairn_core::metrics::Metrics;
use parking_lot::Mutex;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

use self::checkpoint::{CheckpointRunner, Checkpointer, ExternalOutput};
use self::ingest::{Dispatcher, IngestContext, Pipeline};
use self::restore::Restorer;
use self::worker::{Worker, WorkerError};
use crate::kafka::client::{client_config, set_default};
use crate::observe::Observatory;
use crate::oracle::{OffsetsBoard, spawn_oracle, watches_from_config};
use crate::store::Store;

/// How often state, verdicts and offsets are checkpointed (and metrics refreshed).
const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);
/// How often workers run due timers when no trace arrives.
const TICK_INTERVAL: Duration = Duration::from_millis(100);
/// Back-off before a failed session starts again, doubling up to the max.
const RESTART_BACKOFF_MIN: Duration = Duration::from_secs(1);
const RESTART_BACKOFF_MAX: Duration = Duration::from_secs(30);

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
    let lineage = Arc::new(Lineage::compile(&config.streams).context("compiling the lineage")?);
    let observatory = Arc::new(Observatory::default());
    observatory
        .metrics
        .store(Arc::new(Metrics::for_lineage(&lineage)));
    let timeout = config.oracle.request_timeout;

    let tracing_cluster = config
        .cluster(&config.tracing.cluster)
        .context("the tracing cluster is not declared")?;
    let tracing_base = client_config(tracing_cluster);
    let changelog_topic = runtime
        .block_on(changelog::ensure_changelog(
            &tracing_base,
            &config.tracing.group,
            &config.tracing.topic,
            timeout,
        ))
        .context("preparing the changelog topic")?;

    let store = Arc::new(Store::open(&config.store.path).context("opening the state store")?);
    let instance = store.instance_id().context("reading the instance id")?;

    let oracle = spawn_oracle(
        watches_from_config(&config),
        config.oracle.poll_interval,
        timeout,
    )
    .context("starting the offsets oracle")?;
    observatory.oracle.lock().extend(oracle.stats.clone());

    let stop = Arc::new(AtomicBool::new(false));
    let http = {
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(&config.http.listen))
            .with_context(|| format!("binding {}", config.http.listen))?;
        let stop = stop.clone();
        let shutdown = async move {
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        };
        runtime.spawn(crate::http::serve(
            listener,
            observatory.clone(),
            oracle.board.clone(),
            shutdown,
        ))
    };
    {
        let stop = stop.clone();
        runtime.spawn(async move {
            shutdown.await;
            stop.store(true, Ordering::Relaxed);
        });
    }

    let shared = Shared {
        config: &config,
        lineage: &lineage,
        observatory: &observatory,
        board: &oracle.board,
        tracing_base: &tracing_base,
        changelog_topic: &changelog_topic,
        store: &store,
        instance: &instance,
    };
    let outcome = supervise(&shared, &stop);
    stop.store(true, Ordering::Relaxed);
    oracle.shutdown();
    let _ = runtime.block_on(http);
    outcome
}

/// What every session of the job shares: made once per process.
struct Shared<'a> {
    config: &'a Config,
    lineage: &'a Arc<Lineage>,
    observatory: &'a Arc<Observatory>,
    board: &'a Arc<OffsetsBoard>,
    tracing_base: &'a ClientConfig,
    changelog_topic: &'a str,
    store: &'a Arc<Store>,
    instance: &'a str,
}

/// Runs sessions until `stop`. A session that fails for a reason outside cairn (a broker died
/// under a checkpoint, a coordinator moved) is started again after a back-off, as a restarted
/// process would be: it rebuilds its partitions from the last committed checkpoint, so nothing
/// is lost or repeated. Only what a restart cannot cure ends the job: `on_malformed = "fail"`,
/// a state that does not encode, or a first session that cannot even subscribe.
fn supervise(shared: &Shared<'_>, stop: &AtomicBool) -> anyhow::Result<()> {
    let mut backoff = RESTART_BACKOFF_MIN;
    let mut ever_subscribed = false;
    loop {
        let started = std::time::Instant::now();
        let outcome = run_session(shared, stop, &mut ever_subscribed);
        let err = match outcome {
            Ok(()) => return Ok(()),
            // A first session that cannot even subscribe is a setting or a cluster that is
            // wrong from the start: say so and stop rather than retry forever.
            Err(err)
                if stop.load(Ordering::Relaxed)
                    || !ever_subscribed
                    || err.downcast_ref::<WorkerError>().is_some() =>
            {
                return Err(err);
            }
            Err(err) => err,
        };
        if started.elapsed() > RESTART_BACKOFF_MAX * 2 {
            backoff = RESTART_BACKOFF_MIN;
        }
        shared.observatory.ready.store(false, Ordering::Relaxed);
        shared
            .observatory
            .shell
            .session_restarts
            .fetch_add(1, Ordering::Relaxed);
        tracing::error!(error = format!("{err:#}"), restart_in = ?backoff, "the job stopped; starting it again from the last checkpoint");
        let resume_at = std::time::Instant::now() + backoff;
        while std::time::Instant::now() < resume_at {
            if stop.load(Ordering::Relaxed) {
                return Err(err);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        backoff = (backoff * 2).min(RESTART_BACKOFF_MAX);
    }
}

/// One session: a consumer-group member, its workers and its checkpoint producer, from
/// subscribing until `stop` or a failure.
fn run_session(
    shared: &Shared<'_>,
    stop: &AtomicBool,
    subscribed: &mut bool,
) -> anyhow::Result<()> {
    let Shared {
        config,
        lineage,
        observatory,
        board,
        tracing_base,
        changelog_topic,
        store,
        instance,
    } = *shared;
    let timeout = config.oracle.request_timeout;
    let workers = match config.detector.workers {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let (errors_tx, errors_rx) = mpsc::sync_channel::<WorkerError>(workers);
    let mut senders = Vec::new();
    let mut threads = Vec::new();
    for n in 0..workers {
        let (tx, rx) = mpsc::sync_channel(64);
        senders.push(tx);
        let worker = Worker::new(
            Metrics::for_lineage(lineage),
            board.clone(),
            config.detector.on_malformed,
            TICK_INTERVAL,
            errors_tx.clone(),
        );
        threads.push(
            std::thread::Builder::new()
                .name(format!("cairn-worker-{n}"))
                .spawn(move || worker.run(rx))?,
        );
    }

    let external = if config.output.cluster == config.tracing.cluster {
        None
    } else {
        let cluster = config
            .cluster(&config.output.cluster)
            .context("the output cluster is not declared")?;
        Some(ExternalOutput::new(
            &client_config(cluster),
            &config.output.topic,
        )?)
    };
    let checkpointer = Checkpointer::new(
        tracing_base,
        &config.tracing.topic,
        changelog_topic,
        &config.output.topic,
        external,
        store.clone(),
        observatory.clone(),
        instance,
        timeout,
    )
    .context("starting the checkpoint producer")?;
    let restorer = Restorer {
        lineage: lineage.clone(),
        store: store.clone(),
        tracing_base: tracing_base.clone(),
        tracing_topic: config.tracing.topic.clone(),
        changelog_topic: changelog_topic.to_owned(),
        observatory: observatory.clone(),
        timeout,
    };
    let context = IngestContext {
        pipeline: Mutex::new(Pipeline {
            dispatcher: Dispatcher::new(senders),
            checkpoints: CheckpointRunner::start(checkpointer)?,
            restorer,
        }),
        fatal: Mutex::new(None),
        poisoned: AtomicBool::new(false),
        observatory: observatory.clone(),
        tracing_topic: config.tracing.topic.clone(),
    };
    let mut consumer_config = tracing_base.clone();
    // The default fetch (1 MiB per partition) leaves the consumer waiting on round trips at
    // about 200k traces/s; bigger fetches keep the workers busy, and a smaller prefetch queue
    // (64 MiB by default) keeps memory for the detector's state. Either can be overridden in
    // [clusters.<name>.client].
    set_default(&mut consumer_config, "max.partition.fetch.bytes", "8388608");
    set_default(&mut consumer_config, "queued.max.messages.kbytes", "16384");
    let consumer: BaseConsumer<IngestContext> = consumer_config
        .set("group.id", &config.tracing.group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        // Eager: revocation runs before the group moves to a new generation, so the final
        // checkpoint of revoked partitions can still commit offsets in a transaction.
        .set("partition.assignment.strategy", "roundrobin")
        .set("isolation.level", "read_uncommitted")
        // Workers decide only on partitions read to their end (see `worker`): the end of a
        // partition must be reported.
        .set("enable.partition.eof", "true")
        .create_with_context(context)
        .context("creating the tracing consumer")?;
    consumer
        .subscribe(&[&config.tracing.topic])
        .context("subscribing to the tracing topic")?;
    *subscribed = true;
    observatory.ready.store(true, Ordering::Relaxed);
    tracing::info!(topic = %config.tracing.topic, group = %config.tracing.group, workers, "cairn detect started");

    let outcome = ingest::poll_loop(&consumer, CHECKPOINT_INTERVAL, stop, &errors_rx);
    // Leave the group: the revoke callback checkpoints what is still owned (unless the session
    // failed: then the next owner, or the next session, resumes from the last checkpoint).
    consumer.unsubscribe();
    let _ = consumer.poll(Duration::from_millis(500));
    consumer.context().pipeline.lock().dispatcher.stop();
    drop(consumer);
    for thread in threads {
        let _ = thread.join();
    }
    outcome
}

async fn wait_for_signal() {
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
