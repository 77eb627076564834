//! How long one round of `cairn watch` takes, and how much memory it holds, at issue 10's size:
//! 200 consumer groups × 2,000 partitions on a real broker.
//!
//! "200 groups × 2,000 partitions" is read as: topics that total 2,000 partitions (20 topics of
//! 100 by default), and 200 groups that each have a committed offset on every one of them, so
//! the watch judges 400,000 (group, partition) pairs a round. Every partition holds a few
//! records; every group is caught up except one in ten, which sits a few records behind, so the
//! first-unread fetch has work too.
//!
//! In one run it
//! 1. creates the topics, writes `--records` records to every partition, and commits each
//!    group's offsets on every partition (one OffsetCommit per group, from a client that never
//!    joins the group);
//! 2. runs the release `cairn watch` on a config that watches exactly those groups, waits for
//!    `/readyz` (its first round), checks that it sees every group with every partition;
//! 3. reads `cairn_watch_round_duration_seconds` from `/metrics` after each of `--rounds`
//!    rounds (it polls `/metrics` every 100 ms and takes the gauge whenever
//!    `cairn_watch_rounds_total` moved on by one), and the peak RSS (`VmHWM`) of the watch and
//!    of its committed offsets reader (a child process), added up; the watch logs
//!    its round's steps at debug level (`watch round phases`), and the median of each step
//!    over the measured rounds is printed too, as the profile of a round;
//! 4. SIGTERMs it, deletes the topics and groups (unless `--keep-topics`), and prints a table
//!    and the command that made it.
//!
//! Run it (not part of the test command):
//! ```sh
//! deploy/kafka/kafka.sh start
//! CAIRN_BENCH_BROKERS=$(deploy/kafka/kafka.sh bootstrap) cargo bench --bench watch_round
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use cairn_testkit::config::ClusterToml;
use cairn_testkit::metric;
use cairn_testkit::names::rand_suffix;
use cairn_testkit::process::DetectProcess;
use cairn_testkit::watch::{WatchInstance, WatchToml};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

const BROKERS_ENV: &str = "CAIRN_BENCH_BROKERS";
const BIN_ENV: &str = "CAIRN_BIN";
const CLUSTER: &str = "local";
const TIMEOUT: Duration = Duration::from_secs(60);
/// The first round reads everything cold (and fetches every first unread record).
const READY_TIMEOUT: Duration = Duration::from_secs(600);
/// Records a lagging group has not read, on each partition.
const BEHIND: i64 = 5;
/// Goals of issue 10.
const GOAL_ROUND: Duration = Duration::from_secs(2);
const GOAL_RSS_MIB: f64 = 200.0;

struct Args {
    groups: usize,
    partitions: usize,
    topics: usize,
    records: i64,
    rounds: usize,
    poll: Duration,
    keep_topics: bool,
    given: Vec<String>,
}

fn usage() -> String {
    format!(
        "usage: {BROKERS_ENV}=host:port [{BIN_ENV}=path/to/cairn] cargo bench --bench watch_round -- \
         [--groups G] [--partitions P] [--topics T] [--records R] [--rounds N] [--poll-ms MS] [--keep-topics]\n\
         \x20 --groups G       consumer groups, each committed on every partition (default 200)\n\
         \x20 --partitions P   partitions in all (default 2000), spread over T topics (default 20)\n\
         \x20 --records R      records written to every partition (default 10)\n\
         \x20 --rounds N       rounds measured after the first (default 30)\n\
         \x20 --poll-ms MS     [watch] poll_interval (default 2000)\n\
         \x20 --keep-topics    leave the topics and groups on the broker"
    )
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        groups: 200,
        partitions: 2_000,
        topics: 20,
        records: 10,
        rounds: 30,
        poll: Duration::from_secs(2),
        keep_topics: false,
        given: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut number = |name: &str| -> Result<u64, String> {
            let v = it
                .next()
                .ok_or_else(|| format!("{name} needs a value\n{}", usage()))?;
            let n = v
                .replace('_', "")
                .parse()
                .map_err(|_| format!("{name} {v}: not a count\n{}", usage()))?;
            args.given.extend([name.to_owned(), v]);
            Ok(n)
        };
        match arg.as_str() {
            // cargo bench passes --bench to every bench binary.
            "--bench" => continue,
            "--groups" => args.groups = number("--groups")? as usize,
            "--partitions" => args.partitions = number("--partitions")? as usize,
            "--topics" => args.topics = number("--topics")? as usize,
            "--records" => args.records = number("--records")? as i64,
            "--rounds" => args.rounds = number("--rounds")? as usize,
            "--poll-ms" => args.poll = Duration::from_millis(number("--poll-ms")?),
            "--keep-topics" => {
                args.keep_topics = true;
                args.given.push(arg);
            }
            "-h" | "--help" => return Err(usage()),
            other => return Err(format!("unknown argument {other}\n{}", usage())),
        }
    }
    if args.groups == 0
        || args.topics == 0
        || args.partitions < args.topics
        || args.records <= BEHIND
        || args.rounds == 0
        || args.poll.is_zero()
    {
        return Err(format!(
            "every count must be positive, --partitions at least --topics, --records more than {BEHIND}\n{}",
            usage()
        ));
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::FAILURE;
        }
    };
    let Some(brokers) = std::env::var(BROKERS_ENV)
        .ok()
        .filter(|b| !b.trim().is_empty())
    else {
        eprintln!(
            "watch_round needs a real Kafka broker in {BROKERS_ENV}. Start the project's own:\n\
             \x20 deploy/kafka/kafka.sh start\n\
             \x20 {BROKERS_ENV}=$(deploy/kafka/kafka.sh bootstrap) cargo bench --bench watch_round\n\n{}",
            usage()
        );
        return ExitCode::FAILURE;
    };
    if std::env::var_os("RUST_LOG").is_none() {
        // SAFETY: no other thread runs yet. The watch inherits it: its round timings.
        unsafe { std::env::set_var("RUST_LOG", "info,cairn_shell::watch::poller=debug") };
    }
    let load_before = load_average();
    let bin = std::env::var_os(BIN_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_cairn")));
    if !bin.is_file() {
        eprintln!("no cairn binary at {} ({BIN_ENV})", bin.display());
        return ExitCode::FAILURE;
    }
    match run(&args, &brokers, &bin, &load_before) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("watch_round: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The bench's topics and groups: `cairn-wbench-<suffix>-t<i>` and `-g<i>`.
struct Names {
    prefix: String,
    topics: Vec<(String, usize)>,
    groups: Vec<String>,
}

impl Names {
    fn new(args: &Args) -> Names {
        let prefix = format!("cairn-wbench-{}", rand_suffix());
        let per_topic = args.partitions / args.topics;
        let topics = (0..args.topics)
            .map(|i| {
                // The remainder goes to the first topics, so the total is exact.
                let extra = usize::from(i < args.partitions % args.topics);
                (format!("{prefix}-t{i}"), per_topic + extra)
            })
            .collect();
        let groups = (0..args.groups).map(|i| format!("{prefix}-g{i}")).collect();
        Names {
            prefix,
            topics,
            groups,
        }
    }

    /// Every tenth group lags.
    fn lagging(i: usize) -> bool {
        i.is_multiple_of(10)
    }
}

/// What one watch run measured.
struct WatchRun {
    first_round: Duration,
    rounds: Vec<Duration>,
    peak_rss_kib: u64,
    /// The offsets reader's peak (the watch's child process).
    reader_peak_kib: u64,
    groups_seen: usize,
    partitions_of_one: usize,
    logs: PathBuf,
    /// The median of each step of a round, read from the log before it is deleted.
    phases: Vec<(String, f64)>,
}

/// The machine's load averages (1, 5, 15 minutes), as `/proc/loadavg` gives them.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

fn run(args: &Args, brokers: &str, bin: &Path, load_before: &str) -> Result<bool, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let names = Names::new(args);
    let mut base = ClientConfig::new();
    base.set("bootstrap.servers", brokers);
    let admin: AdminClient<DefaultClientContext> =
        base.create().map_err(|e| format!("admin client: {e}"))?;
    let options = AdminOptions::new().operation_timeout(Some(TIMEOUT));
    let topics: Vec<NewTopic> = names
        .topics
        .iter()
        .map(|(t, n)| NewTopic::new(t, *n as i32, TopicReplication::Fixed(1)))
        .collect();
    let started = Instant::now();
    for result in runtime
        .block_on(admin.create_topics(&topics, &options))
        .map_err(|e| format!("create topics: {e}"))?
    {
        result.map_err(|(topic, e)| format!("create topic {topic}: {e}"))?;
    }
    eprintln!(
        "created {} topics, {} partitions in {:.1}s",
        names.topics.len(),
        args.partitions,
        started.elapsed().as_secs_f64()
    );

    let outcome = prepare(args, &names, &base).and_then(|()| {
        let dir = tempfile::Builder::new()
            .prefix("cairn-wbench-")
            .tempdir()
            .map_err(|e| format!("temporary directory: {e}"))?;
        let measured = watch(args, &names, brokers, bin, dir.path(), &runtime);
        // CAIRN_KEEP_WORKDIRS keeps the watch's config and log, as it does for tests.
        if measured.is_err() || std::env::var_os("CAIRN_KEEP_WORKDIRS").is_some() {
            eprintln!("kept {}", dir.keep().display());
        }
        measured
    });

    if args.keep_topics {
        eprintln!("kept topics and groups starting {}", names.prefix);
    } else {
        let topics: Vec<&str> = names.topics.iter().map(|(t, _)| t.as_str()).collect();
        if let Err(e) = runtime.block_on(admin.delete_topics(&topics, &options)) {
            eprintln!("could not delete the bench's topics: {e}");
        }
        let groups: Vec<&str> = names.groups.iter().map(String::as_str).collect();
        if let Err(e) = runtime.block_on(admin.delete_groups(&groups, &options)) {
            eprintln!("could not delete the bench's groups: {e}");
        }
    }
    let run = outcome?;
    let ok = run.groups_seen == args.groups && run.partitions_of_one == args.partitions;
    print_table(args, &run, load_before, &load_average());
    println!();
    println!("command: {}", command(args, brokers, bin));
    if !ok {
        eprintln!(
            "the watch saw {} groups (expected {}) and {} partitions of the first (expected {}); logs: {}",
            run.groups_seen,
            args.groups,
            run.partitions_of_one,
            args.partitions,
            run.logs.display()
        );
    }
    Ok(ok)
}

/// Writes the records and commits every group's offsets.
fn prepare(args: &Args, names: &Names, base: &ClientConfig) -> Result<(), String> {
    let started = Instant::now();
    let producer: ThreadedProducer<rdkafka::producer::DefaultProducerContext> = base
        .clone()
        .set("linger.ms", "20")
        .set("queue.buffering.max.messages", "1000000")
        .create()
        .map_err(|e| format!("producer: {e}"))?;
    for (topic, partitions) in &names.topics {
        for partition in 0..*partitions as i32 {
            for n in 0..args.records {
                let payload = format!("record-{n}");
                let mut record = BaseRecord::<(), _>::to(topic)
                    .partition(partition)
                    .payload(&payload);
                loop {
                    match producer.send(record) {
                        Ok(()) => break,
                        Err((_, back)) => {
                            std::thread::sleep(Duration::from_millis(10));
                            record = back;
                        }
                    }
                }
            }
        }
    }
    // A loaded machine takes its time over 2,000 partitions' first batches.
    producer
        .flush(TIMEOUT * 10)
        .map_err(|e| format!("flush the records: {e}"))?;
    eprintln!(
        "wrote {} records in {:.1}s",
        args.records * args.partitions as i64,
        started.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    for (i, group) in names.groups.iter().enumerate() {
        let offset = if Names::lagging(i) {
            args.records - BEHIND
        } else {
            args.records
        };
        let mut offsets = TopicPartitionList::with_capacity(args.partitions);
        for (topic, partitions) in &names.topics {
            for partition in 0..*partitions as i32 {
                offsets
                    .add_partition_offset(topic, partition, Offset::Offset(offset))
                    .map_err(|e| format!("offset list: {e}"))?;
            }
        }
        let consumer: BaseConsumer = base
            .clone()
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .create()
            .map_err(|e| format!("committing consumer: {e}"))?;
        consumer
            .commit(&offsets, CommitMode::Sync)
            .map_err(|e| format!("commit {group}: {e}"))?;
    }
    eprintln!(
        "committed {} groups × {} partitions in {:.1}s",
        args.groups,
        args.partitions,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn watch(
    args: &Args,
    names: &Names,
    brokers: &str,
    bin: &Path,
    dir: &Path,
    runtime: &tokio::runtime::Runtime,
) -> Result<WatchRun, String> {
    let config = WatchToml::new(ClusterToml::new(CLUSTER, brokers))
        .include(&[&format!("{}-g[0-9]+", names.prefix)])
        .poll_interval(args.poll)
        .window(Duration::from_secs(180).max(args.poll * 2))
        .request_timeout(Duration::from_secs(30));
    let instance = WatchInstance::write(dir, "watch", config);
    let process = instance.spawn(bin, 1);
    let measured = runtime.block_on(measure(args, names, &process));
    let peak_rss_kib = process.memory().map_or(0, |m| m.peak_kib);
    let reader_peak_kib = process.children_memory().iter().map(|m| m.peak_kib).sum();
    let _ = runtime.block_on(process.try_terminate(TIMEOUT));
    let (first_round, rounds, groups_seen, partitions_of_one) =
        measured.map_err(|e| format!("{e}\nlogs: {}", process.stderr_path.display()))?;
    let phases = round_phases(&process.stderr_path, rounds.len());
    Ok(WatchRun {
        first_round,
        rounds,
        peak_rss_kib,
        reader_peak_kib,
        groups_seen,
        partitions_of_one,
        logs: process.stderr_path.clone(),
        phases,
    })
}

/// The first round, the next `args.rounds` rounds, the groups `/api/consumers` lists and the
/// partitions of the first group.
async fn measure(
    args: &Args,
    names: &Names,
    process: &DetectProcess,
) -> Result<(Duration, Vec<Duration>, usize, usize), String> {
    process
        .try_wait_ready(READY_TIMEOUT)
        .await
        .map_err(|e| e.to_string())?;
    let cluster = [("cluster", CLUSTER)];
    let scrape = process.try_metrics().await.map_err(|e| e.to_string())?;
    let first_round =
        Duration::from_secs_f64(scrape.sum(metric::WATCH_ROUND_DURATION.name, &cluster));
    let consumers: serde_json::Value = serde_json::from_str(
        &process
            .try_get_ok("/api/consumers")
            .await
            .map_err(|e| e.to_string())?,
    )
    .map_err(|e| format!("/api/consumers: {e}"))?;
    let groups_seen = consumers.as_array().map_or(0, Vec::len);
    let one: serde_json::Value = serde_json::from_str(
        &process
            .try_get_ok(&format!("/api/consumers/{CLUSTER}/{}", names.groups[0]))
            .await
            .map_err(|e| e.to_string())?,
    )
    .map_err(|e| format!("group report: {e}"))?;
    let partitions_of_one = one["partitions"].as_array().map_or(0, Vec::len);

    let mut rounds = Vec::with_capacity(args.rounds);
    let mut seen = scrape.sum(metric::WATCH_ROUNDS.name, &cluster);
    let deadline = Instant::now() + (args.poll + READY_TIMEOUT / 10) * args.rounds as u32;
    while rounds.len() < args.rounds {
        if Instant::now() > deadline {
            return Err(format!("only {} rounds measured in time", rounds.len()));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let scrape = process.try_metrics().await.map_err(|e| e.to_string())?;
        let now = scrape.sum(metric::WATCH_ROUNDS.name, &cluster);
        if now > seen {
            if now > seen + 1.0 {
                eprintln!("missed {} round(s) between two scrapes", now - seen - 1.0);
            }
            seen = now;
            let took = scrape.sum(metric::WATCH_ROUND_DURATION.name, &cluster);
            rounds.push(Duration::from_secs_f64(took));
        }
    }
    Ok((first_round, rounds, groups_seen, partitions_of_one))
}

/// The nearest-rank `q` quantile of `sorted`.
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn print_table(args: &Args, run: &WatchRun, load_before: &str, load_after: &str) {
    let mut sorted = run.rounds.clone();
    sorted.sort();
    let p50 = quantile(&sorted, 0.50);
    let p99 = quantile(&sorted, 0.99);
    let max = sorted.last().copied().unwrap_or_default();
    let watch_mib = run.peak_rss_kib as f64 / 1024.0;
    let reader_mib = run.reader_peak_kib as f64 / 1024.0;
    // The two peaks need not fall at the same moment: their sum bounds the pair's peak.
    let peak_mib = watch_mib + reader_mib;
    let verdict = |ok: bool| if ok { "met" } else { "missed" };
    println!();
    println!("cairn watch, one round on a real broker");
    println!("| measure | value |");
    println!("| --- | --- |");
    println!(
        "| groups × partitions | {} × {} ({} topics; every group committed on every partition: {} pairs a round; one group in ten {BEHIND} records behind) |",
        args.groups,
        args.partitions,
        args.topics,
        args.groups * args.partitions
    );
    println!(
        "| watch saw | {} groups, {} partitions in the first group's report |",
        run.groups_seen, run.partitions_of_one
    );
    println!(
        "| first round (cold: every first unread record fetched) | {:.3} s |",
        run.first_round.as_secs_f64()
    );
    println!(
        "| round p50 / p99 / max over {} rounds (poll_interval {} ms) | {:.3} s / {:.3} s / {:.3} s |",
        run.rounds.len(),
        args.poll.as_millis(),
        p50.as_secs_f64(),
        p99.as_secs_f64(),
        max.as_secs_f64()
    );
    println!(
        "| round p99, goal <= {} s | {} |",
        GOAL_ROUND.as_secs(),
        verdict(p99 <= GOAL_ROUND)
    );
    println!(
        "| peak RSS (VmHWM): cairn watch + its offsets reader | {watch_mib:.0} + {reader_mib:.0} = {peak_mib:.0} MiB (goal <= {GOAL_RSS_MIB:.0} MiB: {}) |",
        verdict(peak_mib <= GOAL_RSS_MIB)
    );
    println!("| machine load (1, 5, 15 min) before / after | {load_before} / {load_after} |");
    let phases = &run.phases;
    if !phases.is_empty() {
        println!();
        println!(
            "median time of each step of a round, over the last {} rounds logged",
            run.rounds.len()
        );
        println!("| step | median |");
        println!("| --- | --- |");
        for (name, median) in phases {
            println!("| {name} | {median:.1} ms |");
        }
    }
}

/// The median of each step the watch logged for its last `rounds` rounds (`watch round
/// phases` lines: `phases=groups=1.0ms metadata=2.0ms ...`), in the order logged.
fn round_phases(log: &Path, rounds: usize) -> Vec<(String, f64)> {
    let Ok(text) = std::fs::read_to_string(log) else {
        return Vec::new();
    };
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("watch round phases"))
        .collect();
    let mut steps: Vec<(String, Vec<f64>)> = Vec::new();
    for line in &lines[lines.len().saturating_sub(rounds)..] {
        let Some(start) = line.find("phases=") else {
            continue;
        };
        let rest = line[start + "phases=".len()..].trim_start_matches('"');
        for field in rest.split_whitespace() {
            let Some((name, value)) = field.split_once('=') else {
                break; // the next field of the line
            };
            let Some(ms) = value
                .trim_end_matches('"')
                .strip_suffix("ms")
                .and_then(|v| v.parse::<f64>().ok())
            else {
                break;
            };
            match steps.iter_mut().find(|(n, _)| n == name) {
                Some((_, values)) => values.push(ms),
                None => steps.push((name.to_owned(), vec![ms])),
            }
            if value.ends_with('"') {
                break;
            }
        }
    }
    steps
        .into_iter()
        .map(|(name, mut values)| {
            values.sort_by(f64::total_cmp);
            (name, values[values.len() / 2])
        })
        .collect()
}

fn command(args: &Args, brokers: &str, bin: &Path) -> String {
    // The binary is named only when it is not the one cargo builds for the bench.
    let bin_env = std::env::var_os(BIN_ENV)
        .map_or(String::new(), |_| format!("{BIN_ENV}={} ", bin.display()));
    let mut command =
        format!("{BROKERS_ENV}={brokers} {bin_env}cargo bench --bench watch_round --");
    for arg in &args.given {
        command.push(' ');
        command.push_str(arg);
    }
    command
}
