//! `cairn demo`: the zero-setup tour, all in this process. It starts librdkafka's mock Kafka
//! cluster, plays a traced pipeline with injected faults on it, runs `cairn detect` against
//! it, and prints the score (`cairn score`'s table) and a few lost verdicts in words.
//!
//! - [`config`]: the `cairn.toml` the demo runs detect and the simulator with (short timing);
//! - [`scenario`]: the `cairn simulate` scenario it plays: which faults, at which app;
//! - [`explain`]: a verdict in words.
//!
//! The pipeline is `cairn simulate`'s ([`crate::simulate`]): real producers and consumer
//! groups on the mock, traced with [`cairn_tracer`], and a ground truth rebuilt from what
//! reached the topics and what each app recorded, not from the injected faults.
//!
//! One thing the mock cluster lacks: it answers no CreateTopics request, which `cairn detect`
//! sends when its changelog topic is missing. The demo creates the changelog itself with the
//! mock's own call, under the name detect derives (and the mock does not compact it, which a
//! short run does not notice). Everything else detect uses (transactions with
//! `send_offsets_to_transaction`, consumer groups, committed offsets, watermarks) the mock has.

pub mod config;
pub mod explain;
pub mod scenario;

use std::collections::HashSet;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use cairn_core::config::Config;
use cairn_core::metrics::catalog;
use cairn_core::model::{HopRef, Reason, Verdict, VerdictKind};
use rdkafka::mocking::MockCluster;
use tokio::runtime::Runtime;

use self::config::{
    DATA_PARTITIONS, OUTPUT_PARTITIONS, OUTPUT_TOPIC, PRODUCER, STAGES, STREAM, TOPICS,
    TRACING_GROUP, TRACING_PARTITIONS, TRACING_TOPIC,
};
use crate::score::matching::{self, FoundCounts};
use crate::score::report::{Report, millis};
use crate::score::thresholds::Thresholds;
use crate::score::topic::TopicRead;
use crate::simulate::{Scenario, SimulateOptions};
use crate::truth::{Outcome, TruthRecord};
use cairn_shell::clock::now_millis;

/// How long detect may take to join its group and poll offsets once.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the true losses may take to come out once the pipeline is done.
const VERDICT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long to keep watching after the last true loss came: first_check + confirmation_delay
/// + a checkpoint, so that a false alarm would have come by then too.
const GRACE: Duration = Duration::from_secs(3);

/// What the simulated pipeline did.
struct Simulated {
    truth: Vec<TruthRecord>,
    messages: u64,
    traces: u64,
}

/// Plays the demo's scenario with `cairn simulate` against the mock at `bootstrap`, tracing to
/// the tracing topic, and returns its ground truth. `dir` holds the config, the scenario and
/// the simulator's output.
fn simulate(dir: &Path, config_text: &str) -> anyhow::Result<Simulated> {
    std::fs::write(dir.join(scenario::CONFIG_FILE), config_text)
        .context("writing the demo's cairn.toml")?;
    let scenario =
        Scenario::from_toml_str(scenario::SCENARIO, dir).context("the demo's scenario")?;
    let report = crate::simulate::run(
        &scenario,
        &SimulateOptions {
            out: dir.join("simulate"),
            // Created on the mock beforehand: it answers no CreateTopics.
            skip_topic_creation: true,
            control: None,
            ..Default::default()
        },
    )
    .context("cairn simulate")?;
    Ok(Simulated {
        truth: report.truth,
        messages: report.produced,
        traces: report.tracers.values().map(|stats| stats.emitted).sum(),
    })
}

/// Runs the demo; fails if cairn's score on it is not perfect.
pub fn run() -> anyhow::Result<()> {
    let started = Instant::now();
    println!(
        "cairn demo: a mock Kafka cluster, a traced pipeline with injected faults, cairn detect \
         and the score, all in this process.\n"
    );
    let mock = MockCluster::new(1).context("starting librdkafka's mock cluster")?;
    let bootstrap = mock.bootstrap_servers();
    for topic in TOPICS {
        mock.create_topic(topic, DATA_PARTITIONS, 1)?;
    }
    mock.create_topic(TRACING_TOPIC, TRACING_PARTITIONS, 1)?;
    mock.create_topic(OUTPUT_TOPIC, OUTPUT_PARTITIONS, 1)?;
    // The mock answers no CreateTopics: the changelog detect would create is made here.
    let changelog = cairn_shell::detect::changelog::changelog_topic(TRACING_GROUP, TRACING_TOPIC);
    mock.create_topic(&changelog, TRACING_PARTITIONS, 1)?;
    println!(
        "1. Kafka: librdkafka's mock cluster at {bootstrap}; data topics {} ({DATA_PARTITIONS} \
         partitions each), tracing topic {TRACING_TOPIC}, lost-messages topic {OUTPUT_TOPIC}.",
        TOPICS.join(", ")
    );

    let dir = std::env::temp_dir().join(format!(
        "cairn-demo-{}-{}",
        std::process::id(),
        now_millis()
    ));
    std::fs::create_dir_all(&dir).context("creating the demo's directory")?;
    let store = dir.join("store");
    let http = free_local_port()?;
    let config_text = config::toml(&bootstrap, http, &store);
    let config = Config::from_toml_str(&config_text).context("the demo's cairn.toml")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let detect = std::thread::Builder::new()
        .name("cairn-demo-detect".into())
        .spawn(move || {
            cairn_shell::detect::run_until(config, async {
                let _ = stopped.await;
            })
        })
        .context("starting cairn detect")?;

    let outcome = tour(&runtime, &bootstrap, http, &detect, &dir, &config_text);
    let _ = stop.send(());
    let detected = detect
        .join()
        .map_err(|_| anyhow::anyhow!("cairn detect panicked"))?;
    let _ = std::fs::remove_dir_all(&dir);
    // A failure of detect itself is the root cause of whatever the tour saw.
    detected.context("cairn detect failed")?;
    let (report, verdicts) = outcome?;
    drop(mock);

    print_examples(&verdicts);
    println!(
        "\nDone in {}. Next: run `cairn detect --config cairn.toml` on your own cluster \
         (schemas/cairn.example.toml documents every key), and `cairn score` to grade it \
         against a simulated run.",
        millis(started.elapsed().as_millis() as i64)
    );
    let missed: Vec<String> = report.missed().iter().map(|c| c.describe()).collect();
    if !missed.is_empty() {
        anyhow::bail!(
            "cairn's score on the demo is not perfect: {}",
            missed.join("; ")
        );
    }
    Ok(())
}

/// Steps 2 to 4: the pipeline, the verdicts, the score. Returns the report and the verdicts.
fn tour(
    runtime: &Runtime,
    bootstrap: &str,
    http: SocketAddr,
    detect: &std::thread::JoinHandle<anyhow::Result<()>>,
    dir: &Path,
    config_text: &str,
) -> anyhow::Result<(Report, Vec<Verdict>)> {
    let ready_in = runtime.block_on(wait_ready(http, detect))?;
    let simulated = play_pipeline(dir, config_text)?;
    let (read, came_in) =
        await_verdicts(bootstrap, detect, &simulated.truth).context("reading the verdicts")?;
    let metrics_url = format!("http://{http}/metrics");
    let found: FoundCounts = runtime.block_on(crate::score::inputs::read_metrics(
        &metrics_url,
        Duration::from_secs(5),
    ))?;
    println!(
        "3. cairn detect: owned the tracing partitions {} after start; {} verdict records on {OUTPUT_TOPIC} {} after the \
         pipeline finished (then {} more to let any false alarm show).",
        millis(ready_in.as_millis() as i64),
        read.verdicts.len(),
        millis(came_in.as_millis() as i64),
        millis(GRACE.as_millis() as i64),
    );
    let report =
        score(bootstrap, &simulated, &read, &found, metrics_url).context("scoring the verdicts")?;
    println!(
        "4. The score: cairn's verdicts against the ground truth (what `cairn score` prints).\n"
    );
    print!("{}", report.to_text());
    Ok((report, read.verdicts))
}

/// Step 2: plays the pipeline and says what it did.
fn play_pipeline(dir: &Path, config_text: &str) -> anyhow::Result<Simulated> {
    let pipeline_started = Instant::now();
    let simulated = simulate(dir, config_text)?;
    println!(
        "2. Pipeline `{STREAM}` (cairn simulate): {PRODUCER} -> {t0} -> {a0} -> {t1} -> {a1} -> {t2} -> {a2}. \
         {messages} acknowledged writes, {traces} traces, in {elapsed}. Faults injected:",
        t0 = TOPICS[0],
        t1 = TOPICS[1],
        t2 = TOPICS[2],
        a0 = STAGES[0].0,
        a1 = STAGES[1].0,
        a2 = STAGES[2].0,
        messages = simulated.messages,
        traces = simulated.traces,
        elapsed = millis(pipeline_started.elapsed().as_millis() as i64),
    );
    for fault in scenario::FAULTS {
        println!("     {fault}");
    }
    Ok(simulated)
}

/// Reads the lost-messages topic until every true loss is there (or [`VERDICT_TIMEOUT`]),
/// then once more after [`GRACE`]. Returns what it read and how long the losses took.
fn await_verdicts(
    bootstrap: &str,
    detect: &std::thread::JoinHandle<anyhow::Result<()>>,
    truth: &[TruthRecord],
) -> anyhow::Result<(TopicRead, Duration)> {
    let expected: HashSet<(String, HopRef)> = truth
        .iter()
        .filter(|t| t.outcome == Outcome::Lost)
        .map(|t| (t.id.clone(), t.hop.clone()))
        .collect();
    let waiting = Instant::now();
    let read = loop {
        let read = crate::score::topic::read_to_end(bootstrap, OUTPUT_TOPIC, READY_TIMEOUT)?;
        let got: HashSet<(String, HopRef)> = read
            .verdicts
            .iter()
            .filter(|v| v.verdict == VerdictKind::Lost)
            .map(|v| (v.id.clone(), v.hop.clone()))
            .collect();
        if expected.is_subset(&got) || waiting.elapsed() > VERDICT_TIMEOUT {
            break read;
        }
        if detect.is_finished() {
            anyhow::bail!("cairn detect stopped before reporting every loss");
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    let came_in = waiting.elapsed();
    std::thread::sleep(GRACE);
    let last = crate::score::topic::read_to_end(bootstrap, OUTPUT_TOPIC, READY_TIMEOUT)?;
    let read = if last.verdicts.len() >= read.verdicts.len() {
        last
    } else {
        read
    };
    Ok((read, came_in))
}

/// Step 4: cairn's verdicts and metrics against the ground truth, held to a perfect score.
fn score(
    bootstrap: &str,
    simulated: &Simulated,
    read: &TopicRead,
    found: &FoundCounts,
    metrics_url: String,
) -> anyhow::Result<Report> {
    let scores = matching::score(&simulated.truth, &read.verdicts, Some(found))?;
    let thresholds = Thresholds {
        min_precision: Some(1.0),
        min_recall: Some(1.0),
        max_false_alarms: Some(0),
        max_delay_p99: None,
    }
    .check(&scores.overall);
    Ok(Report {
        truth: "the pipeline's ground truth".to_owned(),
        truth_lines: simulated.truth.len() as u64,
        verdicts: format!("kafka://{bootstrap}/{OUTPUT_TOPIC}"),
        malformed_verdicts: read.malformed.clone(),
        metrics: Some(metrics_url),
        scores,
        thresholds,
    })
}

/// Up to one lost verdict per reason, as published and in words.
fn print_examples(verdicts: &[Verdict]) {
    println!("\n5. Example lost verdicts, as published on {OUTPUT_TOPIC} (keyed by message id):");
    let mut lost: Vec<&Verdict> = verdicts
        .iter()
        .filter(|v| v.verdict == VerdictKind::Lost)
        .collect();
    lost.sort_by(|a, b| a.id.cmp(&b.id));
    for reason in Reason::ALL {
        if let Some(v) = lost.iter().find(|v| v.reason == reason) {
            let json = String::from_utf8_lossy(&cairn_core::verdict::encode(v)).into_owned();
            println!("   {json}\n     = {}", explain::verdict(v));
        }
    }
}

/// Waits until detect owns every tracing partition (after `/readyz`, the group still has to
/// hand them out), so that the delay the score measures is detection, not start-up. Fails at
/// once if detect stopped.
async fn wait_ready(
    http: SocketAddr,
    detect: &std::thread::JoinHandle<anyhow::Result<()>>,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()?;
    let url = format!("http://{http}/metrics");
    loop {
        if detect.is_finished() {
            anyhow::bail!("cairn detect stopped before it was ready");
        }
        if let Ok(response) = client.get(&url).send().await
            && let Ok(text) = response.text().await
            && partitions_assigned(&text) == Some(TRACING_PARTITIONS)
        {
            return Ok(started.elapsed());
        }
        if started.elapsed() > READY_TIMEOUT {
            anyhow::bail!("cairn detect was not ready within {READY_TIMEOUT:?} ({url})");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The [`catalog::PARTITIONS_ASSIGNED`] gauge of a `/metrics` page.
fn partitions_assigned(metrics: &str) -> Option<i32> {
    let name = catalog::PARTITIONS_ASSIGNED.name;
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse::<f64>().ok())
        .map(|value| value as i32)
}

/// A port on 127.0.0.1 that was free a moment ago, for detect's HTTP face.
fn free_local_port() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free local port")?;
    Ok(listener.local_addr()?)
}
