//! End-to-end throughput and memory of `cairn detect` on a real broker.
//!
//! In one run it
//! 1. preloads N traces (default 5,000,000) of a three-hop stream with 1% of the messages lost
//!    (spread over every hop and both kinds of loss) into a fresh tracing topic, with a
//!    `ThreadedProducer` (big batches, lz4), and commits the pipeline groups' offsets past
//!    every message, so every loss is decidable;
//! 2. drains that topic with a bare `BaseConsumer` that decodes nothing: the raw rate that
//!    detect's rate is held to (librdkafka's defaults), then again with the fetch size cairn
//!    detect uses, so the table also shows the like-for-like cost of decoding, detecting and
//!    checkpointing;
//! 3. runs the release `cairn detect` on it and reads `cairn_traces_consumed_total` from its
//!    `/metrics` over time until it has consumed all of them: the detect rate; its peak RSS is
//!    `VmHWM` from `/proc/<pid>/status`;
//! 4. waits for every true loss in `cairn_lost_total` (unless `--no-verify`), SIGTERMs it,
//!    deletes the topics (unless `--keep-topics`), and prints a table and the command.
//!
//! The traces point at synthetic positions of the data topics t1..t3, which stay empty: the
//! detector reads only the tracing topic and the groups' committed offsets (which Kafka does
//! not check against the log end), so writing the data itself would only slow the preload.
//!
//! The `cairn detect` it runs is the binary cargo builds for the bench (the release profile),
//! or the one `CAIRN_BIN` names. The process handle, the cairn.toml, the traces and the reading
//! of `/metrics` come from `cairn-testkit`, as in the integration tests.
//!
//! Run it:
//! ```sh
//! deploy/kafka/kafka.sh start
//! CAIRN_BENCH_BROKERS=127.0.0.1:9092 cargo bench --bench detect_e2e -- --traces 5000000
//! ```

use std::path::{Path, PathBuf};
use std::process::{ExitCode, ExitStatus};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cairn_core::model::Kind;
use cairn_shell::clock::now_millis;
use cairn_testkit::config::{CairnToml, ClusterToml, StreamToml};
use cairn_testkit::instance::Instance;
use cairn_testkit::metric;
use cairn_testkit::names::rand_suffix;
use cairn_testkit::process::{DetectProcess, ProcessError};
use cairn_testkit::trace::TraceBuilder;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

const BROKERS_ENV: &str = "CAIRN_BENCH_BROKERS";
const TRACES_ENV: &str = "CAIRN_BENCH_TRACES";
const BIN_ENV: &str = "CAIRN_BIN";
/// `max.partition.fetch.bytes` of cairn detect's tracing consumer (`cairn_shell::detect::consume`).
const DETECT_FETCH_BYTES: &str = "8388608";
const STREAM: &str = "bench";
const CLUSTER: &str = "local";
const APPS: [&str; 4] = ["api", "enricher", "indexer", "sink"];
/// Partitions of each data topic (they stay empty; traces point at synthetic offsets).
const DATA_PARTITIONS: usize = 4;
/// One message in `LOSS_EVERY` is lost: 1%.
const LOSS_EVERY: u64 = 100;
const TIMEOUT: Duration = Duration::from_secs(30);

/// Where a lost message goes missing, in turn: (reading stage 0..3, lost inside the app).
const LOSSES: [(usize, bool); 5] = [(0, false), (0, true), (1, false), (1, true), (2, false)];

struct Args {
    traces: u64,
    partitions: i32,
    verify: bool,
    keep_topics: bool,
    /// As given, for the printed command.
    given: Vec<String>,
}

fn usage() -> String {
    format!(
        "usage: {BROKERS_ENV}=host:port [{BIN_ENV}=path/to/cairn] cargo bench --bench detect_e2e -- \
         [--traces N] [--partitions P] [--no-verify] [--keep-topics]\n\
         \x20 --traces N       traces to preload (default 5000000, or ${TRACES_ENV})\n\
         \x20 --partitions P   partitions of the tracing topic (default 6)\n\
         \x20 --no-verify      do not wait for every true loss to be reported\n\
         \x20 --keep-topics    leave the bench's topics on the broker\n\
         \x20 {BIN_ENV}        another cairn binary to measure (default: the one cargo builds \
         for the bench)"
    )
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        traces: match std::env::var(TRACES_ENV) {
            Ok(v) => v
                .parse()
                .map_err(|_| format!("{TRACES_ENV}={v}: not a count"))?,
            Err(_) => 5_000_000,
        },
        partitions: 6,
        verify: true,
        keep_topics: false,
        given: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .ok_or_else(|| format!("{name} needs a value\n{}", usage()))
        };
        match arg.as_str() {
            // cargo bench passes --bench to every bench binary.
            "--bench" => continue,
            "--traces" => {
                let v = value("--traces")?;
                args.traces = v
                    .replace('_', "")
                    .parse()
                    .map_err(|_| format!("--traces {v}"))?;
                args.given.extend(["--traces".into(), v]);
            }
            "--partitions" => {
                let v = value("--partitions")?;
                args.partitions = v.parse().map_err(|_| format!("--partitions {v}"))?;
                args.given.extend(["--partitions".into(), v]);
            }
            "--no-verify" => {
                args.verify = false;
                args.given.push(arg);
            }
            "--keep-topics" => {
                args.keep_topics = true;
                args.given.push(arg);
            }
            "-h" | "--help" => return Err(usage()),
            other => return Err(format!("unknown argument {other}\n{}", usage())),
        }
    }
    if args.traces == 0 || args.partitions < 1 {
        return Err(format!(
            "--traces and --partitions must be positive\n{}",
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
            "detect_e2e needs a real Kafka broker in {BROKERS_ENV}. Start the project's own:\n\
             \x20 deploy/kafka/kafka.sh start\n\
             \x20 {BROKERS_ENV}=$(deploy/kafka/kafka.sh bootstrap) cargo bench --bench detect_e2e\n\n{}",
            usage()
        );
        return ExitCode::FAILURE;
    };
    let bin = std::env::var_os(BIN_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_cairn")));
    if !bin.is_file() {
        eprintln!("no cairn binary at {} ({BIN_ENV})", bin.display());
        return ExitCode::FAILURE;
    }
    match run(&args, &brokers, &bin) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("detect_e2e: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The bench's topics and groups.
struct Names {
    tracing: String,
    output: String,
    data: [String; 3],
    groups: [String; 3],
    cairn_group: String,
}

impl Names {
    fn new() -> Names {
        let suffix = rand_suffix();
        Names {
            tracing: format!("cairn-bench-{suffix}-traces"),
            output: format!("cairn-bench-{suffix}-lost"),
            data: [1, 2, 3].map(|n| format!("cairn-bench-{suffix}-t{n}")),
            groups: [1, 2, 3].map(|n| format!("cairn-bench-{suffix}-g{n}")),
            cairn_group: format!("cairn-bench-{suffix}-cairn"),
        }
    }

    fn location(&self, index: usize) -> String {
        format!("{CLUSTER}/{}", self.data[index])
    }

    fn all_topics(&self) -> Vec<String> {
        let mut topics = vec![
            self.tracing.clone(),
            format!("{}-{}-changelog", self.cairn_group, self.tracing),
            self.output.clone(),
        ];
        topics.extend(self.data.iter().cloned());
        topics
    }
}

/// What the preload wrote.
struct Preloaded {
    traces: u64,
    messages: u64,
    lost: u64,
    elapsed: Duration,
}

/// What one detect run measured.
struct DetectRun {
    /// From the first trace consumed (to within one scrape) until every trace was.
    elapsed: Duration,
    /// From `/readyz` 200 (group join included) until every trace was consumed.
    from_ready: Duration,
    peak_rss_kib: u64,
    /// Lost verdicts counted by the detector when the bench stopped looking.
    lost: u64,
    exit: Option<ExitStatus>,
    logs: PathBuf,
}

fn run(args: &Args, brokers: &str, bin: &Path) -> Result<bool, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let names = Names::new();
    let mut base = ClientConfig::new();
    base.set("bootstrap.servers", brokers);
    let admin: AdminClient<DefaultClientContext> =
        base.create().map_err(|e| format!("admin client: {e}"))?;
    let mut topics = vec![
        NewTopic::new(&names.tracing, args.partitions, TopicReplication::Fixed(1)),
        NewTopic::new(&names.output, 3, TopicReplication::Fixed(1)),
    ];
    for topic in &names.data {
        topics.push(NewTopic::new(
            topic,
            DATA_PARTITIONS as i32,
            TopicReplication::Fixed(1),
        ));
    }
    let options = AdminOptions::new().operation_timeout(Some(TIMEOUT));
    for result in runtime
        .block_on(admin.create_topics(&topics, &options))
        .map_err(|e| format!("create topics: {e}"))?
    {
        result.map_err(|(topic, e)| format!("create topic {topic}: {e}"))?;
    }

    let outcome = measure(args, &names, &base, bin, &runtime);

    if args.keep_topics {
        eprintln!("kept topics: {}", names.all_topics().join(", "));
    } else {
        let all = names.all_topics();
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        match runtime.block_on(admin.delete_topics(&refs, &options)) {
            Ok(results) => {
                for result in results {
                    if let Err((topic, e)) = result {
                        eprintln!("could not delete topic {topic}: {e}");
                    }
                }
            }
            Err(e) => eprintln!("could not delete the bench's topics: {e}"),
        }
    }
    outcome
}

fn measure(
    args: &Args,
    names: &Names,
    base: &ClientConfig,
    bin: &Path,
    runtime: &tokio::runtime::Runtime,
) -> Result<bool, String> {
    let preloaded = preload_reporting(args, names, base)?;
    let raw = RawDrains::measure(names, base, preloaded.traces)?;
    let dir = tempfile::Builder::new()
        .prefix("cairn-bench-")
        .tempdir()
        .map_err(|e| format!("temporary directory: {e}"))?;
    let detect = detect(args, names, base, bin, dir.path(), &preloaded, runtime)?;
    print_table(args, &preloaded, &raw, &detect);
    println!();
    println!("command: {}", command(args, base, bin));
    println!("detector logs: {}", detect.logs.display());
    let verified = !args.verify || detect.lost == preloaded.lost;
    let exited_cleanly = detect.exit.is_some_and(|s| s.success());
    if verified && exited_cleanly {
        // Keep the logs only when something went wrong.
        drop(dir);
    } else {
        let kept = dir.keep();
        eprintln!("something went wrong; kept {}", kept.display());
    }
    Ok(verified && exited_cleanly)
}

/// [`preload`], saying what it wrote and how fast.
fn preload_reporting(args: &Args, names: &Names, base: &ClientConfig) -> Result<Preloaded, String> {
    eprintln!("preloading {} traces into {}", args.traces, names.tracing);
    let preloaded = preload(args.traces, names, base)?;
    eprintln!(
        "preloaded {} traces ({} messages, {} lost) in {:.1?} ({:.0} traces/s)",
        preloaded.traces,
        preloaded.messages,
        preloaded.lost,
        preloaded.elapsed,
        rate(preloaded.traces, preloaded.elapsed)
    );
    Ok(preloaded)
}

/// How long a bare consumer takes to read the whole tracing topic.
struct RawDrains {
    /// With librdkafka's defaults.
    defaults: Duration,
    /// With the fetch settings cairn detect uses.
    same_fetch: Duration,
}

impl RawDrains {
    fn measure(names: &Names, base: &ClientConfig, traces: u64) -> Result<RawDrains, String> {
        let defaults = drain(names, base, traces, "raw")?;
        eprintln!(
            "raw drain: {:.1?} ({:.0} traces/s)",
            defaults,
            rate(traces, defaults)
        );
        // The same bare consumer with the fetch settings cairn detect uses: what decoding,
        // detecting and checkpointing cost beyond reading, like for like.
        let mut same_fetch = base.clone();
        same_fetch.set("max.partition.fetch.bytes", DETECT_FETCH_BYTES);
        let same_fetch = drain(names, &same_fetch, traces, "raw-same-fetch")?;
        eprintln!(
            "raw drain with cairn's fetch settings: {:.1?} ({:.0} traces/s)",
            same_fetch,
            rate(traces, same_fetch)
        );
        Ok(RawDrains {
            defaults,
            same_fetch,
        })
    }
}

/// The table of what was measured.
fn print_table(args: &Args, preloaded: &Preloaded, raw: &RawDrains, detect: &DetectRun) {
    let raw_rate = rate(preloaded.traces, raw.defaults);
    let detect_rate = rate(preloaded.traces, detect.elapsed);
    let ratio = detect_rate / raw_rate;
    let raw_same_rate = rate(preloaded.traces, raw.same_fetch);
    let ratio_same = detect_rate / raw_same_rate;
    let peak_mib = detect.peak_rss_kib as f64 / 1024.0;
    let exit = detect
        .exit
        .map_or("did not exit in time".to_owned(), |s| s.to_string());
    println!();
    println!("cairn detect, end to end on a real broker");
    println!("| measure | value |");
    println!("| --- | --- |");
    println!(
        "| traces | {} ({} messages of 3 hops, {} lost = 1%; tracing topic of {} partitions) |",
        preloaded.traces, preloaded.messages, preloaded.lost, args.partitions
    );
    println!(
        "| raw drain, bare BaseConsumer, no decode | {:.0} traces/s ({:.2} s) |",
        raw_rate,
        raw.defaults.as_secs_f64()
    );
    println!(
        "| cairn detect, first to last trace consumed | {:.0} traces/s ({:.2} s; {:.2} s from /readyz) |",
        detect_rate,
        detect.elapsed.as_secs_f64(),
        detect.from_ready.as_secs_f64()
    );
    println!("| ratio detect / raw | {ratio:.2} (goal >= 0.8) |");
    println!(
        "| raw drain, bare BaseConsumer with cairn's max.partition.fetch.bytes = {DETECT_FETCH_BYTES} | {:.0} traces/s ({:.2} s) |",
        raw_same_rate,
        raw.same_fetch.as_secs_f64()
    );
    println!("| ratio detect / raw with the same fetch size (like for like) | {ratio_same:.2} |");
    println!("| peak RSS of cairn detect (VmHWM) | {peak_mib:.0} MiB (goal <= 1536 MiB) |");
    if args.verify {
        println!(
            "| lost verdicts counted (cairn_lost_total) | {} of {} |",
            detect.lost, preloaded.lost
        );
    }
    println!("| exit on SIGTERM | {exit} |");
}

/// The command that made this run, to print under the table.
fn command(args: &Args, base: &ClientConfig, bin: &Path) -> String {
    // The binary is named only when it is not the one cargo builds for the bench.
    let bin_env = std::env::var_os(BIN_ENV)
        .map_or(String::new(), |_| format!("{BIN_ENV}={} ", bin.display()));
    let mut command = format!(
        "{BROKERS_ENV}={} {bin_env}cargo bench --bench detect_e2e --",
        base.get("bootstrap.servers").unwrap_or_default(),
    );
    for arg in &args.given {
        command.push(' ');
        command.push_str(arg);
    }
    command
}

fn rate(count: u64, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64().max(1e-9)
}

/// Counts failed deliveries.
#[derive(Default)]
struct Counting {
    failed: AtomicU64,
}

impl ClientContext for Counting {}

impl ProducerContext for Counting {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if result.is_err() {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Writes at least `target` traces, whole messages only: 99% go through all three hops
/// (6 traces each), 1% are lost at a hop (see [`LOSSES`]). Then commits every pipeline
/// group past every message.
fn preload(target: u64, names: &Names, base: &ClientConfig) -> Result<Preloaded, String> {
    let producer: ThreadedProducer<Counting> = base
        .clone()
        // Idempotent (so acks=all): a retried batch keeps its place, as a tracer's would. Without
        // it a retry can land a trace millions of records after its message's other traces.
        .set("enable.idempotence", "true")
        .set("compression.type", "lz4")
        .set("linger.ms", "50")
        .set("batch.size", "1000000")
        .set("batch.num.messages", "100000")
        .set("queue.buffering.max.messages", "2000000")
        .set("queue.buffering.max.kbytes", "1048576")
        .create_with_context(Counting::default())
        .map_err(|e| format!("producer: {e}"))?;
    let started = Instant::now();
    let locations = [0, 1, 2].map(|i| names.location(i));
    let mut next_offset = [[0i64; DATA_PARTITIONS]; 3];
    let prefix = rand_suffix();
    let (mut traces, mut messages, mut lost) = (0u64, 0u64, 0u64);
    while traces < target {
        let n = messages;
        messages += 1;
        let id = format!("{prefix}-{n:09}");
        let loss = (n % LOSS_EVERY == LOSS_EVERY - 1)
            .then(|| LOSSES[((n / LOSS_EVERY) % LOSSES.len() as u64) as usize]);
        lost += u64::from(loss.is_some());
        let partition = (n % DATA_PARTITIONS as u64) as usize;
        let mut at = place(&mut next_offset[0], partition);
        let ts = now_millis();
        let mut send = |kind: Kind, app: usize, location: usize, at: (i32, i64)| {
            let group = (app > 0).then(|| names.groups[app - 1].as_str());
            let bytes = TraceBuilder::new(id.as_str())
                .stream(STREAM)
                .kind(kind)
                .location(locations[location].as_str())
                .at(at.0, at.1)
                .app(APPS[app])
                .maybe_group(group)
                .ts(ts)
                .encode();
            send_retrying(&producer, &names.tracing, &id, &bytes)?;
            traces += 1;
            Ok::<(), String>(())
        };
        send(Kind::Sent, 0, 0, at)?;
        for stage in 0..3 {
            let app = stage + 1;
            if loss == Some((stage, false)) {
                break;
            }
            send(Kind::Received, app, stage, at)?;
            if loss == Some((stage, true)) || stage == 2 {
                break;
            }
            at = place(&mut next_offset[stage + 1], partition);
            send(Kind::Sent, app, stage + 1, at)?;
        }
    }
    producer
        .flush(Duration::from_secs(300))
        .map_err(|e| format!("flush: {e}"))?;
    let failed = producer.context().failed.load(Ordering::Relaxed);
    if failed > 0 {
        return Err(format!("{failed} traces were not delivered"));
    }
    // Every group commits past every message at the location it reads.
    for (stage, group) in names.groups.iter().enumerate() {
        let consumer: BaseConsumer = base
            .clone()
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .create()
            .map_err(|e| format!("committer: {e}"))?;
        let mut list = TopicPartitionList::new();
        for (partition, &offset) in next_offset[stage].iter().enumerate() {
            list.add_partition_offset(&names.data[stage], partition as i32, Offset::Offset(offset))
                .map_err(|e| format!("offset: {e}"))?;
        }
        consumer
            .commit(&list, CommitMode::Sync)
            .map_err(|e| format!("commit {group}: {e}"))?;
    }
    Ok(Preloaded {
        traces,
        messages,
        lost,
        elapsed: started.elapsed(),
    })
}

/// The next offset on `partition` of a data topic.
fn place(next: &mut [i64; DATA_PARTITIONS], partition: usize) -> (i32, i64) {
    let offset = next[partition];
    next[partition] += 1;
    (partition as i32, offset)
}

fn send_retrying(
    producer: &ThreadedProducer<Counting>,
    topic: &str,
    key: &str,
    payload: &[u8],
) -> Result<(), String> {
    let mut record = BaseRecord::to(topic).key(key).payload(payload);
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                record = back;
                std::thread::sleep(Duration::from_millis(5));
            }
            Err((e, _)) => return Err(format!("produce: {e}")),
        }
    }
}

/// Reads the whole tracing topic with a bare consumer that decodes nothing.
fn drain(
    names: &Names,
    base: &ClientConfig,
    expected: u64,
    name: &str,
) -> Result<Duration, String> {
    let consumer: BaseConsumer = base
        .clone()
        .set("group.id", format!("{}-{name}", names.cairn_group))
        .set("enable.auto.commit", "false")
        .create()
        .map_err(|e| format!("raw consumer: {e}"))?;
    let started = Instant::now();
    let metadata = consumer
        .fetch_metadata(Some(&names.tracing), TIMEOUT)
        .map_err(|e| format!("metadata: {e}"))?;
    let mut list = TopicPartitionList::new();
    let mut ends = Vec::new();
    for partition in metadata.topics()[0].partitions() {
        let (_, high) = consumer
            .fetch_watermarks(&names.tracing, partition.id(), TIMEOUT)
            .map_err(|e| format!("watermarks: {e}"))?;
        ends.push(high);
        list.add_partition_offset(&names.tracing, partition.id(), Offset::Beginning)
            .map_err(|e| format!("offset: {e}"))?;
    }
    let total: i64 = ends.iter().sum();
    if total as u64 != expected {
        return Err(format!(
            "the tracing topic holds {total} records, expected {expected}"
        ));
    }
    consumer.assign(&list).map_err(|e| format!("assign: {e}"))?;
    let mut read = 0u64;
    let mut bytes = 0usize;
    let mut last_progress = Instant::now();
    while read < expected {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                read += 1;
                // Touch the payload so nothing can be skipped, but decode nothing.
                bytes += message.payload_len();
                last_progress = Instant::now();
            }
            Some(Err(e)) => return Err(format!("raw consume: {e}")),
            None if last_progress.elapsed() > TIMEOUT => {
                return Err(format!("raw drain stalled at {read} of {expected}"));
            }
            None => {}
        }
    }
    let elapsed = started.elapsed();
    eprintln!("raw drain read {read} records, {} MiB", bytes >> 20);
    Ok(elapsed)
}

/// Runs `cairn detect` on the preloaded topic; see the module doc.
fn detect(
    args: &Args,
    names: &Names,
    base: &ClientConfig,
    bin: &Path,
    dir: &Path,
    preloaded: &Preloaded,
    runtime: &tokio::runtime::Runtime,
) -> Result<DetectRun, String> {
    let instance = Instance::write(
        dir,
        "detect",
        config(names, base.get("bootstrap.servers").unwrap_or_default()),
    );
    let process = DetectProcess::spawn(bin, &instance, 1);
    runtime
        .block_on(process.try_wait_ready(TIMEOUT))
        .map_err(text)?;
    let ready = Instant::now();
    let (elapsed, from_ready) = time_consumption(&process, runtime, preloaded.traces, ready)?;
    eprintln!("cairn detect consumed every trace in {elapsed:.1?}");
    let lost = count_losses(args, &process, runtime, preloaded.lost)?;
    let peak_rss_kib = process.memory().map_or(0, |m| m.peak_kib);

    // A process that does not exit in time is killed when its handle is dropped.
    let exit = runtime
        .block_on(process.try_terminate(Duration::from_secs(60)))
        .ok();
    Ok(DetectRun {
        elapsed,
        from_ready,
        peak_rss_kib,
        lost,
        exit,
        logs: process.stderr_path.clone(),
    })
}

/// The process handle's errors carry the end of the logs; the bench reports them as text.
fn text(e: ProcessError) -> String {
    e.to_string()
}

/// The sum of every series of the counter `name` on `/metrics`.
fn scrape_count(
    process: &DetectProcess,
    runtime: &tokio::runtime::Runtime,
    name: &str,
) -> Result<u64, String> {
    let scrape = runtime.block_on(process.try_metrics()).map_err(text)?;
    Ok(scrape.sum(name, &[]) as u64)
}

/// Polls `cairn_traces_consumed_total` until every trace is consumed; returns the time from
/// the first trace consumed and the time from `ready`.
fn time_consumption(
    process: &DetectProcess,
    runtime: &tokio::runtime::Runtime,
    traces: u64,
    ready: Instant,
) -> Result<(Duration, Duration), String> {
    // The clock starts at the last scrape that saw nothing consumed yet (joining the group
    // is not processing), so the rate errs low by at most one polling interval.
    let mut started = ready;
    let mut last_report = Instant::now();
    let mut last_progress = (Instant::now(), 0u64);
    loop {
        process.check_alive("consuming the preload").map_err(text)?;
        let before = Instant::now();
        let consumed = scrape_count(process, runtime, metric::TRACES_CONSUMED.name)?;
        let now = Instant::now();
        if consumed == 0 {
            started = before;
        }
        if consumed >= traces {
            return Ok((now - started, now - ready));
        }
        if consumed > last_progress.1 {
            last_progress = (now, consumed);
        } else if now - last_progress.0 > Duration::from_secs(60) {
            return Err(format!(
                "cairn detect stalled at {consumed} of {traces} traces\n{}",
                process.logs()
            ));
        }
        if now - last_report > Duration::from_secs(2) {
            eprintln!(
                "  consumed {consumed} of {traces} ({:.0} traces/s so far), RSS {} MiB",
                rate(consumed, now - started),
                process.memory().map_or(0, |m| m.rss_kib) >> 10
            );
            last_report = now;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The lost verdicts the detector counted: now, or (to verify) once it counted every true
/// loss or gave up waiting.
fn count_losses(
    args: &Args,
    process: &DetectProcess,
    runtime: &tokio::runtime::Runtime,
    expected: u64,
) -> Result<u64, String> {
    let lost_now = || scrape_count(process, runtime, metric::LOST.name);
    let mut lost = lost_now()?;
    if args.verify {
        // first_check (10 s) + confirmation (5 s) after the last message was first seen.
        let deadline = Instant::now() + Duration::from_secs(180);
        while lost < expected && Instant::now() < deadline {
            process
                .check_alive("waiting for the losses")
                .map_err(text)?;
            std::thread::sleep(Duration::from_millis(500));
            lost = lost_now()?;
        }
        eprintln!("lost verdicts: {lost} of {expected}");
    }
    Ok(lost)
}

/// The bench's `cairn.toml`: the example's timing defaults (messages stay in memory for the
/// dedup window, so the peak RSS holds every message in flight), offsets polled every second.
fn config(names: &Names, bootstrap: &str) -> CairnToml {
    let [t1, t2, t3] = [0, 1, 2].map(|i| names.location(i));
    let [g1, g2, g3] = &names.groups;
    CairnToml::new(ClusterToml::new(CLUSTER, bootstrap))
        .tracing(CLUSTER, &names.tracing, &names.cairn_group)
        .output(CLUSTER, &names.output)
        .oracle_poll_interval(Duration::from_secs(1))
        .stream(
            StreamToml::new(STREAM)
                .producer(APPS[0], &t1)
                .processor(APPS[1], g1, &t1, &t2)
                .processor(APPS[2], g2, &t2, &t3)
                .sink(APPS[3], g3, &t3),
        )
}
