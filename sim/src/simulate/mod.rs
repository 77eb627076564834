//! `cairn simulate`: a traced pipeline with real faults, and its ground truth.
//!
//! The scenario ([`scenario`]) names a cairn.toml whose stream is the lineage, so the
//! simulator and `cairn detect` agree on it, and says how each app behaves. [`run`] creates
//! the topics ([`topics`]), starts one thread per app ([`apps`]: real producers and consumer
//! group members that trace with [`cairn_tracer`] and keep a [`ledger`]), watches committed
//! offsets and log starts ([`observer`]), optionally kills a partition leader of the
//! three-node cluster ([`kill`]), waits until every group has caught up, then reads every
//! topic back and rebuilds the truth from what really happened ([`reconcile`]), written to
//! `<out>/truth.jsonl`.
//!
//! How each fault shows in the truth (see [`reconcile`] for the rules):
//! - `drop_share` (processor reads, traces `received`, never writes): read hop delivered,
//!   write hop `lost`/`lost_in_app`, below it `unreached`.
//! - `skip_share` (reader commits past without tracing): read hop `lost`/`committed_past`.
//! - `duplicate_share` (written twice): the write hop (of a producer or a processor) and
//!   every read below `duplicated` with count 2.
//! - `crash_after` (stop without committing, restart): the messages processed since the
//!   last commit are read again: `duplicated` at the read hop (and written twice below).
//! - `stall` (lags, then catches up): `delivered`; never lost.
//! - `hang_after` or a `<app>.hang` control file (stops reading and committing until
//!   relaunched through `<app>.relaunch`, see [`apps::Control`]): `delivered` once relaunched.
//! - `intruder` (an untraced consumer shares the group, commits what it took): the app's read
//!   hop `lost`/`committed_past` for exactly the messages the app never read.
//! - `offset_reset_after` (group moved to the log end): the jumped-over messages
//!   `lost`/`committed_past`.
//! - retention (topic `retention.ms`/`segment.ms` with a stalled reader): `lost`/`expired`
//!   when the log start passed the message before the group's commit did.
//! - `kill_leader` with `acks = "1"` and unclean election: an acknowledged write the broker
//!   lost is `lost`/`committed_past` at every reader of that location (the `sent` trace said
//!   it was there; the readers' groups moved past its offset).

pub mod apps;
pub mod choice;
pub mod kill;
pub mod ledger;
pub mod observer;
pub mod reconcile;
pub mod scenario;
pub mod topics;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rand::distr::{Alphanumeric, SampleString};
use rdkafka::ClientConfig;

pub use self::scenario::{Scenario, ScenarioError};
use crate::truth::{Outcome, TruthRecord, write_truth};
use cairn_shell::kafka::client::client_config;
use cairn_tracer::{Tracer, TracerConfig, TracerStats};

/// How to run a scenario, beyond the file.
#[derive(Clone, Debug, Default)]
pub struct SimulateOptions {
    /// Where truth.jsonl and the ledgers go (created if missing).
    pub out: PathBuf,
    /// bootstrap.servers per cluster name, replacing the cairn.toml's (e.g. a mock cluster).
    pub bootstraps: BTreeMap<String, String>,
    /// Leave topic creation to the caller (librdkafka's mock cluster has no CreateTopics:
    /// create [`topics_to_create`] with `MockCluster::create_topic` first).
    pub skip_topic_creation: bool,
    /// A directory through which the readers are controlled from outside (see
    /// [`apps::Control`]): `<app>.hang` makes the app hang, `<app>.relaunch` relaunches it.
    pub control: Option<PathBuf>,
}

/// A topic the run needs: (cluster name, topic, partitions), the tracing topic first.
pub fn topics_to_create(scenario: &Scenario) -> Vec<(String, String, i32)> {
    let tracing = &scenario.config.tracing;
    let mut topics = vec![(
        tracing.cluster.clone(),
        tracing.topic.clone(),
        TRACING_PARTITIONS,
    )];
    for (location, spec) in &scenario.topics {
        if let Some((cluster, topic)) = location.split_once('/') {
            topics.push((cluster.to_owned(), topic.to_owned(), spec.partitions));
        }
    }
    topics
}

/// Partitions of the tracing topic when the simulator creates it.
const TRACING_PARTITIONS: i32 = 3;

/// What a run did.
#[derive(Clone, Debug)]
pub struct SimulateReport {
    /// The prefix of every message id of this run.
    pub run_id: String,
    pub truth_path: PathBuf,
    pub truth: Vec<TruthRecord>,
    /// Lost lines for which nothing in Kafka showed the loss (no reason, no passed_at).
    pub undecided: usize,
    /// Messages the producers wrote (acknowledged writes, duplicates included).
    pub produced: u64,
    /// Each app's tracer counters.
    pub tracers: BTreeMap<String, TracerStats>,
}

impl SimulateReport {
    /// Truth lines per outcome.
    pub fn outcomes(&self) -> HashMap<Outcome, usize> {
        let mut counts = HashMap::new();
        for record in &self.truth {
            *counts.entry(record.outcome).or_insert(0) += 1;
        }
        counts
    }
}

impl SimulateReport {
    /// A few lines for the terminal: where the truth is and what it says.
    pub fn summary(&self) -> String {
        let counts = self.outcomes();
        let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
        for record in &self.truth {
            if let Some(reason) = record.reason {
                *reasons.entry(reason.as_str()).or_insert(0) += 1;
            }
        }
        let count = |o| counts.get(&o).copied().unwrap_or(0);
        format!(
            "run {}: {} writes acknowledged, {} truth lines in {}\n  delivered {}, duplicated {}, lost {} {:?}, unreached {}, filtered {}, undecidable {}",
            self.run_id,
            self.produced,
            self.truth.len(),
            self.truth_path.display(),
            count(Outcome::Delivered),
            count(Outcome::Duplicated),
            count(Outcome::Lost),
            reasons,
            count(Outcome::Unreached),
            count(Outcome::Filtered),
            self.undecided,
        )
    }
}

/// How long the start waits for each cluster to answer its first metadata request.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Plays `scenario` against its clusters and writes the ground truth.
///
/// The phases: prepare the topics, start the observer and the apps, play (the producers
/// write, a leader may be killed), drain (the readers catch up), stop, read every topic and
/// ledger back, reconcile, write the truth.
pub fn run(scenario: &Scenario, options: &SimulateOptions) -> anyhow::Result<SimulateReport> {
    let run_id = scenario.run_id.clone().unwrap_or_else(|| {
        Alphanumeric
            .sample_string(&mut rand::rng(), 8)
            .to_lowercase()
    });
    let prefix = format!("{run_id}-");
    let ledger_dir = options.out.join("ledger");
    std::fs::create_dir_all(&ledger_dir)
        .with_context(|| format!("creating {}", ledger_dir.display()))?;
    let clusters = Clusters(clusters(scenario, options)?);
    // A refused login or certificate ends the run here, with one line naming the cluster.
    let probed: Vec<_> = clusters.0.clone().into_iter().collect();
    cairn_shell::kafka::probe::check_clusters(&probed, PROBE_TIMEOUT)?;
    if !options.skip_topic_creation {
        create_topics(scenario, &clusters).context("creating the topics")?;
    }
    let readers = Readers::of(scenario);
    let observer = start_observer(scenario, &clusters, &readers.partitions)
        .context("starting the offsets observer")?;
    if let Some(dir) = &options.control {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let apps = start_apps(
        scenario,
        &clusters,
        &ledger_dir,
        &prefix,
        options.control.as_deref(),
    )
    .context("starting the apps")?;

    let ended = play_and_drain(scenario, &clusters, observer, &readers, apps);
    anyhow::ensure!(
        ended.failures.is_empty(),
        "simulation failed: {}",
        ended.failures.join("; ")
    );

    let (contents, ledgers) = read_back(scenario, &clusters, &prefix, &ledger_dir)
        .context("reading the topics and ledgers back")?;
    let (truth, undecided) = reconcile::reconcile(&reconcile::Evidence {
        stream: &scenario.stream,
        topics: &contents,
        ledgers: &ledgers,
        observations: &ended.observations,
    });
    let truth_path = options.out.join("truth.jsonl");
    write_truth_file(&truth_path, &truth)
        .with_context(|| format!("writing the truth to {}", truth_path.display()))?;
    tracing::info!(
        run_id,
        messages = messages_produced(&scenario.stream, &ledgers),
        truth_lines = truth.len(),
        undecided,
        "simulation done"
    );
    Ok(SimulateReport {
        run_id,
        truth_path,
        truth,
        undecided,
        produced: ended.produced,
        tracers: ended.tracers,
    })
}

/// Client settings per cluster name, with the bootstrap overrides applied.
struct Clusters(BTreeMap<String, ClientConfig>);

impl Clusters {
    fn get(&self, name: &str) -> anyhow::Result<ClientConfig> {
        self.0
            .get(name)
            .cloned()
            .with_context(|| format!("cluster `{name}` is not in the cairn_config"))
    }

    /// The client settings of a location's cluster, and its topic.
    fn of_location<'l>(&self, location: &'l str) -> anyhow::Result<(ClientConfig, &'l str)> {
        let (cluster, topic) = location
            .split_once('/')
            .context("a location is <cluster>/<topic>")?;
        Ok((self.get(cluster)?, topic))
    }
}

/// Creates the tracing topic and every location of the stream.
fn create_topics(scenario: &Scenario, clusters: &Clusters) -> anyhow::Result<()> {
    let tracing = &scenario.config.tracing;
    let setup = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    setup.block_on(async {
        let spec = scenario::TopicSpec {
            partitions: TRACING_PARTITIONS,
            replication: scenario.tracing_replication,
            config: BTreeMap::new(),
        };
        topics::create(&clusters.get(&tracing.cluster)?, &tracing.topic, &spec).await?;
        for (location, spec) in &scenario.topics {
            let (cluster, topic) = clusters.of_location(location)?;
            topics::create(&cluster, topic, spec).await?;
        }
        anyhow::Ok(())
    })
}

/// The reading groups of the stream and the partitions of each location, for the drain to
/// check.
struct Readers {
    /// (group, location) of every reader.
    groups: Vec<(String, String)>,
    partitions: BTreeMap<String, i32>,
}

impl Readers {
    fn of(scenario: &Scenario) -> Readers {
        Readers {
            groups: scenario
                .stream
                .apps
                .iter()
                .filter_map(|a| Some((a.group.clone()?, a.reads.as_ref()?.name())))
                .collect(),
            partitions: scenario
                .topics
                .iter()
                .map(|(l, s)| (l.clone(), s.partitions))
                .collect(),
        }
    }
}

/// Watches the committed offsets of every reader and the log starts of what they read.
fn start_observer(
    scenario: &Scenario,
    clusters: &Clusters,
    partitions: &BTreeMap<String, i32>,
) -> anyhow::Result<observer::Observer> {
    let mut watches: BTreeMap<String, observer::Watch> = BTreeMap::new();
    for app in &scenario.stream.apps {
        if let (Some(group), Some(reads)) = (&app.group, &app.reads) {
            let watch = watches
                .entry(reads.cluster.clone())
                .or_insert(observer::Watch {
                    cluster: clusters.get(&reads.cluster)?,
                    readers: Vec::new(),
                });
            watch.readers.push((
                group.clone(),
                reads.name(),
                reads.topic.clone(),
                partitions[&reads.name()],
            ));
        }
    }
    observer::Observer::spawn(watches.into_values().collect())
}

type AppThread = (String, JoinHandle<anyhow::Result<()>>);

/// The app threads of a run and what they share.
struct Apps {
    producers: Vec<AppThread>,
    consumers: Vec<AppThread>,
    tracers: BTreeMap<String, Tracer>,
    /// Tells the readers to stop once idle.
    stop: Arc<AtomicBool>,
    /// Acknowledged writes of the producers.
    produced: Arc<AtomicU64>,
    /// Holds the producers while a leader is killed.
    hold: Arc<AtomicBool>,
}

/// Starts one thread per app of the stream, each with its tracer and ledger.
fn start_apps(
    scenario: &Scenario,
    clusters: &Clusters,
    ledger_dir: &Path,
    prefix: &str,
    control: Option<&Path>,
) -> anyhow::Result<Apps> {
    let stream = &scenario.stream;
    let tracing = &scenario.config.tracing;
    let tracing_bootstrap = clusters
        .get(&tracing.cluster)?
        .get("bootstrap.servers")
        .unwrap_or_default()
        .to_owned();
    let tracing_client: Vec<(String, String)> = scenario
        .config
        .cluster(&tracing.cluster)
        .map(|c| c.client.clone())
        .unwrap_or_default();
    let mut apps = Apps {
        producers: Vec::new(),
        consumers: Vec::new(),
        tracers: BTreeMap::new(),
        stop: Arc::new(AtomicBool::new(false)),
        produced: Arc::new(AtomicU64::new(0)),
        hold: Arc::new(AtomicBool::new(false)),
    };
    for app in &stream.apps {
        let tracer = Tracer::new(TracerConfig {
            bootstrap: tracing_bootstrap.clone(),
            client: tracing_client.clone(),
            topic: tracing.topic.clone(),
            stream: stream.name.clone(),
            app: app.app.clone(),
            sample_rate: stream.sample_rate,
            queue_capacity: TracerConfig::DEFAULT_QUEUE_CAPACITY,
        })
        .with_context(|| format!("the tracer of app `{}`", app.app))?;
        apps.tracers.insert(app.app.clone(), tracer.clone());
        let run = apps::AppRun {
            app: app.clone(),
            behaviour: scenario.apps[&app.app].clone(),
            clusters: clusters.0.clone(),
            tracer,
            ledger: ledger::Ledger::create(ledger_dir, &app.app)
                .with_context(|| format!("the ledger of app `{}`", app.app))?,
            prefix: prefix.to_owned(),
            stop: Arc::clone(&apps.stop),
            produced: Arc::clone(&apps.produced),
            hold: Arc::clone(&apps.hold),
            control: control.map(|dir| apps::Control::new(dir, &app.app)),
        };
        let thread = std::thread::Builder::new().name(format!("app-{}", app.app));
        if app.reads.is_some() {
            let reader = thread.spawn(move || apps::run_reader(run))?;
            apps.consumers.push((app.app.clone(), reader));
        } else {
            let producer = thread.spawn(move || apps::run_producer(run))?;
            apps.producers.push((app.app.clone(), producer));
        }
    }
    Ok(apps)
}

/// How the apps ended.
struct Ended {
    /// What went wrong, by app (or `kill_leader`, or the drain).
    failures: Vec<String>,
    /// What the observer saw until the readers stopped.
    observations: observer::Observations,
    produced: u64,
    tracers: BTreeMap<String, TracerStats>,
}

/// Lets the producers finish (and a leader be killed), waits for the readers to catch up,
/// stops them and the observer, and flushes every tracer.
fn play_and_drain(
    scenario: &Scenario,
    clusters: &Clusters,
    observer: observer::Observer,
    readers: &Readers,
    apps: Apps,
) -> Ended {
    let killer = scenario.kill_leader.clone().map(|k| {
        let (produced, hold, cluster) = (
            Arc::clone(&apps.produced),
            Arc::clone(&apps.hold),
            clusters.get(k.location.split('/').next().unwrap_or_default()),
        );
        std::thread::spawn(move || kill::kill_leader_when(&k, &cluster?, &produced, &hold))
    });
    let mut failures = Vec::new();
    for (app, thread) in apps.producers {
        if let Err(err) = join(thread) {
            failures.push(format!("app `{app}`: {err:#}"));
        }
    }
    if let Some(killer) = killer
        && let Err(err) = join(killer)
    {
        failures.push(format!("kill_leader: {err:#}"));
    }
    if failures.is_empty()
        && let Err(behind) = drain(scenario, &observer, readers, &apps.consumers)
    {
        failures.push(behind);
    }
    apps.stop.store(true, Ordering::Relaxed);
    for (app, thread) in apps.consumers {
        if let Err(err) = join(thread) {
            failures.push(format!("app `{app}`: {err:#}"));
        }
    }
    let observations = observer.finish();
    let mut tracers = BTreeMap::new();
    for (app, tracer) in &apps.tracers {
        tracer.flush(Duration::from_secs(10));
        tracers.insert(app.clone(), tracer.stats());
    }
    Ended {
        failures,
        observations,
        produced: apps.produced.load(Ordering::Relaxed),
        tracers,
    }
}

/// Waits until every group has caught up, twice in a row, or a reader stopped; past the
/// scenario's `drain_timeout`, says who is behind.
fn drain(
    scenario: &Scenario,
    observer: &observer::Observer,
    readers: &Readers,
    consumers: &[AppThread],
) -> Result<(), String> {
    let deadline = Instant::now() + scenario.drain_timeout;
    let mut streak = 0;
    let mut last_round = 0;
    while streak < 2 {
        if Instant::now() > deadline {
            let seen = observer.snapshot();
            return Err(format!(
                "the readers did not catch up within drain_timeout ({:?}) after {} observer rounds; behind (group, location, partition, committed, log end): {:?}",
                scenario.drain_timeout,
                seen.rounds,
                seen.behind(&readers.groups, &readers.partitions)
            ));
        }
        std::thread::sleep(observer::POLL_INTERVAL);
        let seen = observer.snapshot();
        if seen.rounds > last_round {
            last_round = seen.rounds;
            streak = if seen.caught_up(&readers.groups, &readers.partitions) {
                streak + 1
            } else {
                0
            };
        }
        if consumers.iter().any(|(_, t)| t.is_finished()) {
            break;
        }
    }
    Ok(())
}

/// Per location, per id: the copies the topic holds.
type Contents = BTreeMap<String, BTreeMap<String, BTreeSet<reconcile::Position>>>;

/// Every copy of this run's messages in every topic, and every app's ledger.
fn read_back(
    scenario: &Scenario,
    clusters: &Clusters,
    prefix: &str,
    ledger_dir: &Path,
) -> anyhow::Result<(Contents, BTreeMap<String, Vec<ledger::Entry>>)> {
    let mut contents = BTreeMap::new();
    for location in scenario.topics.keys() {
        let (cluster, topic) = clusters.of_location(location)?;
        contents.insert(location.clone(), topics::read_all(&cluster, topic, prefix)?);
    }
    let mut ledgers = BTreeMap::new();
    for app in &scenario.stream.apps {
        ledgers.insert(
            app.app.clone(),
            ledger::read(&ledger_dir.join(format!("{}.jsonl", app.app)))?,
        );
    }
    Ok((contents, ledgers))
}

fn write_truth_file(path: &Path, truth: &[TruthRecord]) -> anyhow::Result<()> {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    write_truth(&mut file, truth)?;
    std::io::Write::flush(&mut file)?;
    Ok(())
}

/// Distinct ids the producers wrote.
fn messages_produced(
    stream: &cairn_core::config::StreamConfig,
    ledgers: &BTreeMap<String, Vec<ledger::Entry>>,
) -> usize {
    let produced_ids: BTreeSet<&str> = ledgers
        .iter()
        .filter(|(app, _)| {
            stream
                .apps
                .iter()
                .any(|a| &a.app == *app && a.reads.is_none())
        })
        .flat_map(|(_, entries)| entries.iter().map(|e| e.id.as_str()))
        .collect();
    produced_ids.len()
}

/// Client settings per cluster, with the bootstrap overrides applied.
fn clusters(
    scenario: &Scenario,
    options: &SimulateOptions,
) -> anyhow::Result<BTreeMap<String, ClientConfig>> {
    for name in options.bootstraps.keys() {
        anyhow::ensure!(
            scenario.config.cluster(name).is_some(),
            "bootstrap override for `{name}`: not a cluster of the cairn_config"
        );
    }
    Ok(scenario
        .config
        .clusters
        .iter()
        .map(|c| {
            let mut config = client_config(c);
            if let Some(bootstrap) = options.bootstraps.get(&c.name) {
                config.set("bootstrap.servers", bootstrap);
            }
            (c.name.clone(), config)
        })
        .collect())
}

fn join(thread: JoinHandle<anyhow::Result<()>>) -> anyhow::Result<()> {
    thread
        .join()
        .map_err(|_| anyhow::anyhow!("thread panicked"))?
}
