//! Perf mode of `cairn canary`: one instance at a high heartbeat rate on a real Kafka, with the
//! same exact accounting as always. It
//! 1. writes a cairn.toml with `[canary] rate` per partition (default 10,000/s), `acks`
//!    (default `all`) and a fresh canary topic;
//! 2. runs the release `cairn canary` for `--seconds` (default 30), then stops its producer by
//!    SIGTERM only after reading `/api/canary` until every acknowledged heartbeat was read;
//! 3. prints a table: rates (produced, consumed per second), the accounting (produced,
//!    acknowledged, consumed, lost, duplicated, reordered, send failures) and the latency.
//!
//! The goal of issue 12 is at least 20,000 heartbeats per second from one instance on this
//! machine, with nothing lost or duplicated. Run it:
//! ```sh
//! deploy/kafka/kafka.sh start
//! CAIRN_BENCH_BROKERS=127.0.0.1:9092 cargo bench --bench canary_perf -- --seconds 30 --rate 25000
//! ```
//! (on the three-node cluster, `CAIRN_BENCH_BROKERS=$(deploy/kafka/kafka.sh bootstrap cluster)`:
//! the topic has a partition per broker, so `--rate` is per partition).

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use cairn_testkit::canary::{CanaryInstance, CanaryToml, report};
use cairn_testkit::config::ClusterToml;
use cairn_testkit::names::rand_suffix;

struct Args {
    seconds: u64,
    rate: u32,
    acks: String,
}

fn args() -> Result<Args, String> {
    let mut out = Args {
        seconds: 30,
        rate: 10_000,
        acks: "all".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--seconds" => out.seconds = value()?.parse().map_err(|e| format!("--seconds: {e}"))?,
            "--rate" => out.rate = value()?.parse().map_err(|e| format!("--rate: {e}"))?,
            "--acks" => out.acks = value()?,
            "--bench" => {}
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(out)
}

fn main() -> ExitCode {
    let args = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("canary_perf: {e}");
            return ExitCode::FAILURE;
        }
    };
    let Some(brokers) = std::env::var("CAIRN_BENCH_BROKERS")
        .ok()
        .filter(|b| !b.is_empty())
    else {
        eprintln!(
            "canary_perf: set CAIRN_BENCH_BROKERS to a real Kafka (deploy/kafka/kafka.sh start)"
        );
        return ExitCode::FAILURE;
    };
    let cairn = std::env::var("CAIRN_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_cairn").into());
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(run(&args, &brokers, Path::new(&cairn)))
}

async fn run(args: &Args, brokers: &str, cairn: &Path) -> ExitCode {
    let dir = tempfile::tempdir().expect("a directory");
    let topic = format!("canary-perf-{}", rand_suffix());
    let config = CanaryToml::new(ClusterToml::new("bench", brokers), &topic)
        .rate(args.rate)
        .acks(&args.acks)
        .availability_window(Duration::from_secs(10));
    let instance = CanaryInstance::write(dir.path(), "canary", &config);
    let mut canary = instance.spawn(cairn, 1);
    canary.wait_ready(Duration::from_secs(60)).await;
    let started = Instant::now();
    let first = report(&canary).await;
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    let last = report(&canary).await;
    let elapsed = started.elapsed().as_secs_f64();
    // Let the consumer catch up, then judge (the producer keeps going meanwhile).
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut r = report(&canary).await;
    while r.unread > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        r = report(&canary).await;
    }
    canary.terminate(Duration::from_secs(30)).await;
    let produced = (last.produced - first.produced) as f64 / elapsed;
    let consumed = (last.consumed - first.consumed) as f64 / elapsed;
    let exact = r.lost == 0 && r.duplicated == 0 && r.consumed >= r.acknowledged - r.unread;
    println!();
    println!("| cairn canary perf mode | value |");
    println!("| --- | --- |");
    println!(
        "| brokers | {brokers} ({} partitions) |",
        r.partitions.len()
    );
    println!(
        "| rate asked | {} /s per partition, acks={} |",
        args.rate, args.acks
    );
    println!("| measured over | {elapsed:.1} s |");
    println!("| produced | {produced:.0} heartbeats/s |");
    println!("| consumed | {consumed:.0} heartbeats/s |");
    println!(
        "| accounting (whole run) | produced {}, acknowledged {}, consumed {}, lost {}, duplicated {}, reordered {}, send failures {}, unread at the end {} |",
        r.produced,
        r.acknowledged,
        r.consumed,
        r.lost,
        r.duplicated,
        r.reordered,
        r.send_failures,
        r.unread
    );
    println!(
        "| latency (first sends) | p50 {} ms, p99 {} ms, max {} ms |",
        r.latency_ms.p50, r.latency_ms.p99, r.latency_ms.max
    );
    println!("| exact | {} |", if exact { "yes" } else { "NO" });
    println!();
    println!(
        "command: CAIRN_BENCH_BROKERS={brokers} cargo bench --bench canary_perf -- --seconds {} --rate {} --acks {}",
        args.seconds, args.rate, args.acks
    );
    if exact {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
