//! The tracer's added latency on the app's send path: one `Tracer::received` call, timed,
//! with the tracing cluster up and down. Prints p50/p99/max per call and the command that
//! made the table. Goal (issue 13): p99 < 50 µs with the tracing cluster down.
//!
//! ```sh
//! # up: a real broker (deploy/kafka/kafka.sh start); down: a port nothing listens on
//! CAIRN_BENCH_TRACING_BROKERS=127.0.0.1:9092 cargo bench -p cairn-tracer --bench send_path
//! ```
//!
//! Without `CAIRN_BENCH_TRACING_BROKERS` (or `CAIRN_TEST_BROKERS`) only the "down" rows run.
//! `CAIRN_BENCH_CALLS` sets the calls per row (default 200 000), `CAIRN_BENCH_RATE` the calls
//! per second the app makes (default 50 000; calls come in bursts of 100, then a pause).

use std::time::{Duration, Instant};

use cairn_tracer::{Tracer, TracerConfig};
use hdrhistogram::Histogram;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A port on 127.0.0.1 that nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port");
    listener.local_addr().expect("its address").port()
}

/// Times `calls` calls at `rate` per second; returns the per-call latencies in ns.
fn run(tracer: &Tracer, calls: u64, rate: u64, offset0: i64) -> Histogram<u64> {
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("bounds");
    let burst = 100u64;
    let burst_time = Duration::from_secs_f64(burst as f64 / rate.max(1) as f64);
    let ids: Vec<String> = (0..burst)
        .map(|i| format!("bench-message-{i:08}"))
        .collect();
    let mut next_burst = Instant::now();
    for n in 0..calls {
        let i = (n % burst) as usize;
        let offset = offset0 + n as i64;
        let start = Instant::now();
        tracer.received(&ids[i], "data/orders", "sink", (n % 12) as i32, offset);
        let ns = start.elapsed().as_nanos() as u64;
        histogram.saturating_record(ns.max(1));
        if i as u64 == burst - 1 {
            next_burst += burst_time;
            let now = Instant::now();
            if next_burst > now {
                std::thread::sleep(next_burst - now);
            } else {
                next_burst = now;
            }
        }
    }
    histogram
}

fn row(name: &str, h: &Histogram<u64>) {
    let us = |ns: u64| ns as f64 / 1_000.0;
    println!(
        "| {name:<35} | {:>8} | {:>9.2} | {:>9.2} | {:>10.2} |",
        h.len(),
        us(h.value_at_quantile(0.5)),
        us(h.value_at_quantile(0.99)),
        us(h.max())
    );
}

fn main() {
    let calls = env_or("CAIRN_BENCH_CALLS", 200_000);
    let rate = env_or("CAIRN_BENCH_RATE", 50_000);
    let up = std::env::var("CAIRN_BENCH_TRACING_BROKERS")
        .or_else(|_| std::env::var("CAIRN_TEST_BROKERS"))
        .ok()
        .filter(|s| !s.trim().is_empty());
    println!("tracer send path: {calls} calls per row at {rate}/s (bursts of 100)");
    println!(
        "| {:<35} | {:>8} | {:>9} | {:>9} | {:>10} |",
        "tracing cluster", "calls", "p50 µs", "p99 µs", "max µs"
    );
    println!(
        "| {} | {} | {} | {} | {} |",
        "-".repeat(35),
        "-".repeat(8),
        "-".repeat(9),
        "-".repeat(9),
        "-".repeat(10)
    );
    if let Some(bootstrap) = &up {
        let topic = format!("cairn-bench-send-path-{}", std::process::id());
        let tracer =
            Tracer::new(TracerConfig::new(bootstrap, &topic, "orders", "sink")).expect("a tracer");
        // Warm up: metadata, connection, topic auto-created on first use.
        run(&tracer, 1_000, rate, 0);
        tracer.flush(Duration::from_secs(10));
        let h = run(&tracer, calls, rate, 1_000);
        row("up", &h);
        tracer.flush(Duration::from_secs(30));
        let s = tracer.stats();
        eprintln!("up: {s:?}");
    }
    // Down: the queue (100 000 traces) fills first, then every call drops and records the drop.
    let mut config = TracerConfig::new(
        &format!("127.0.0.1:{}", closed_port()),
        "cairn-traces",
        "orders",
        "sink",
    );
    config.queue_capacity = TracerConfig::DEFAULT_QUEUE_CAPACITY;
    let tracer = Tracer::new(config).expect("a tracer");
    let filling = TracerConfig::DEFAULT_QUEUE_CAPACITY as u64;
    let h = run(&tracer, filling, rate, 0);
    row("down, queue filling (first 100 000)", &h);
    let h = run(&tracer, calls, rate, filling as i64);
    row("down, queue full (drop + remember)", &h);
    let s = tracer.stats();
    eprintln!("down: {s:?}");
    assert!(
        s.dropped_queue_full > 0,
        "the down rows must have dropped traces"
    );
    println!(
        "command: CAIRN_BENCH_TRACING_BROKERS={} CAIRN_BENCH_CALLS={calls} CAIRN_BENCH_RATE={rate} cargo bench -p cairn-tracer --bench send_path",
        up.as_deref().unwrap_or("")
    );
}
