//! The detector under a flood of messages that never complete: peak RSS against
//! `[detector] max_memory`, traces per second with and without spilling to the disk tier, and
//! a restart in the middle that must change no verdict.
//!
//! Each variant runs in a process of its own (the bench runs itself again), so each peak RSS
//! (`VmHWM`) is its own. The detector and the disk tier are driven as a worker drives them (a
//! redb transaction per batch of traces, due spilled messages read back before each tick),
//! without Kafka: the figures are the memory tier's, not the consumer's.
//!
//! - `memory`: no budget: every message in memory (the baseline rate and memory).
//! - `spill`: a budget far below what the messages need: most go to disk.
//! - `late`: as `spill`, and 1% of the messages complete 30 s (detector time) later, after
//!   they were spilled: a trace brings each back. 0.1% are written to a partition whose
//!   reader keeps up (it commits past each 20 s after it was sent) but never traces them: each
//!   is judged lost once.
//! - `restart`: as `late`, and at half the arrivals (or `--restart-at` percent of them) the
//!   detector and the tier are written to a local snapshot, dropped, and restored from it as a
//!   restarted worker does (a fresh tier, spilling as the snapshot loads). Its verdicts (what, of which message and hop, and when)
//!   and counts must equal `late`'s: the bench prints `verdicts exact: yes` or `no`, and
//!   exits non-zero on `no`.
//! - `stores` (with `--stores`): the raw store comparison of `docs/spill.md`: N keys of a
//!   spilled message's size written, then read back, in sled and in redb, each with a 16 MiB
//!   cache, in processes of their own.
//!
//! A second table says where each variant's seconds went (arrivals, traces of spilled
//! messages, due messages read back, timers, spilling, commits, the restart), and how many
//! messages were read back when due: each is a move (read back, checked, and, still waiting,
//! spilled again), the tier's unit of work under a flood; per second of the tier's time
//! (reading back, spilling, commits), an estimate of how many moves a second it can make.
//!
//! Messages arrive at 100k/s of detector time (one `sent` each, a 2-hop stream whose reader
//! is behind), so N = 2M spans 20 s: all are pending, first checks come due and back off.
//!
//! Run: `cargo bench -p cairn-shell --bench spill -- [--messages N] [--budget 64MiB]
//! [--variants memory,spill,late,restart] [--restart-at 50] [--dir target/spill-bench]
//! [--stores]`. `--restart-at` says where in the arrivals `restart` restarts (percent). The data
//! directory is deleted at the end.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use cairn_core::config::{Config, parse_bytes};
use cairn_core::detector::Detector;
use cairn_core::detector::spill::spill_goal;
use cairn_core::lineage::Lineage;
use cairn_core::model::{Kind, Millis, Trace, Verdict};
use cairn_core::offsets::StaticOffsets;
use cairn_shell::detect::spill::{SpillTier, TierWrite};
use cairn_shell::detect::worker::{split_state_key, state_key};
use cairn_shell::store::{Checkpoint, Store};

/// Detector time between two messages: 100k messages per second.
const ARRIVAL_US: i64 = 10;
const BATCH: usize = 10_000;
const TICK_MS: Millis = 100;
const LATE_AFTER_MS: Millis = 30_000;
const T0: Millis = 1_800_000_000_000;

struct Args {
    messages: u64,
    budget: u64,
    dir: PathBuf,
    stores: bool,
    /// Where in the arrivals the `restart` variant restarts, in percent.
    restart_at: u64,
    variant: Option<String>,
    variants: Vec<String>,
}

fn args() -> Args {
    let mut out = Args {
        messages: 2_000_000,
        budget: 64 << 20,
        dir: PathBuf::from("target/spill-bench"),
        stores: false,
        restart_at: 50,
        variant: None,
        variants: ["memory", "spill", "late", "restart"]
            .map(String::from)
            .to_vec(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--messages" => {
                out.messages = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--messages N")
            }
            "--budget" => {
                out.budget = it
                    .next()
                    .and_then(|v| parse_bytes(&v).ok())
                    .expect("--budget SIZE")
            }
            "--dir" => out.dir = it.next().map(PathBuf::from).expect("--dir PATH"),
            "--stores" => out.stores = true,
            "--restart-at" => {
                out.restart_at = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|p| (1..=99).contains(p))
                    .expect("--restart-at PERCENT (1 to 99)")
            }
            "--variant" => out.variant = it.next(),
            "--variants" => {
                out.variants = it
                    .next()
                    .expect("--variants memory,spill,late,restart")
                    .split(',')
                    .map(String::from)
                    .collect()
            }
            _ => {} // cargo bench passes --bench
        }
    }
    out
}

fn status_mib(field: &str) -> f64 {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn lineage() -> Arc<Lineage> {
    let config = Config::from_toml_str(
        r#"
[clusters.c]
bootstrap = "127.0.0.1:9"
[tracing]
cluster = "c"
topic = "t"
group = "g"
[output]
cluster = "c"
topic = "o"
[timing]
first_check = "10s"
backoff = "5s"
backoff_max = "60s"
max_wait = "1h"
[[streams]]
name = "playback"
[[streams.apps]]
app = "playback-api"
writes = "c/playback"
[[streams.apps]]
app = "indexer"
group = "indexer"
reads = "c/playback"
"#,
    )
    .expect("bench config");
    Arc::new(Lineage::compile(&config.streams).expect("lineage"))
}

fn trace(id: &str, kind: Kind, offset: i64, ts: Millis) -> Trace<'_> {
    let reader = kind == Kind::Received;
    Trace {
        id: Cow::Borrowed(id),
        stream: Cow::Borrowed("playback"),
        kind,
        location: Cow::Borrowed("c/playback"),
        partition: (offset % 12) as i32,
        offset,
        app: Cow::Borrowed(if reader { "indexer" } else { "playback-api" }),
        group: reader.then_some(Cow::Borrowed("indexer")),
        ts,
    }
}

/// One variant's figures, printed by its process as one line of `key=value`.
struct Run {
    traces: u64,
    seconds: f64,
    peak_memory_bytes: u64,
    spilled: u64,
    /// Messages read back from the tier when due: each a move (read back, checked, and, still
    /// waiting, spilled again).
    read_back_due: u64,
    shed: u64,
    complete: u64,
    lost: u64,
    disk_used: u64,
    file_bytes: u64,
    baseline_mib: f64,
    /// How many verdicts, and a digest of them all (sorted), to compare runs.
    verdicts: u64,
    digest: u64,
    /// Wall time per part of the loop (a profile of where the seconds go).
    time: Times,
}

/// Seconds spent in each part of the loop.
#[derive(Default)]
struct Times {
    arrive: f64,
    by_trace: f64,
    due: f64,
    tick: f64,
    spill: f64,
    commit: f64,
    restart: f64,
}

/// Adds the time `f` takes to `slot`.
fn timed<T>(slot: &mut f64, f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let out = f();
    *slot += started.elapsed().as_secs_f64();
    out
}

/// The id of message `n`: a random-looking hash, then its number.
fn message_id(out: &mut String, n: u64) {
    use std::fmt::Write as _;
    out.clear();
    let _ = write!(
        out,
        "{:016x}-{:08x}",
        n.wrapping_mul(0x9E37_79B9_7F4A_7C15),
        n
    );
}

/// The partition the lost messages are written to; its reader keeps up (commits past each
/// of them `LOST_COMMIT_AFTER_MS` after it was sent) but never traces them: each is lost.
const LOST_PARTITION: i32 = 12;
const LOST_EVERY: u64 = 1_000;
/// Which message of each thousand is lost: not one of the 1% that complete late (n % 100 = 0).
const LOST_SLOT: u64 = 550;
const LOST_COMMIT_AFTER_MS: Millis = 20_000;

/// Where message `n` is written: (partition, offset).
fn placed(n: u64, lossy: bool) -> (i32, i64) {
    if lossy && n % LOST_EVERY == LOST_SLOT {
        (LOST_PARTITION, (n / LOST_EVERY) as i64)
    } else {
        ((n % 12) as i32, n as i64)
    }
}

/// An order-independent digest of the verdicts: what they say, of which message and hop, and
/// when they were made.
fn digest(verdicts: &mut [String]) -> u64 {
    verdicts.sort_unstable();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for v in verdicts.iter() {
        for b in v.bytes().chain([b'\n']) {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// Writes the detector's and the tier's states as a worker's local snapshot does, drops both,
/// and restores a fresh detector and tier from it as a restarted worker does (spilling as it
/// loads, every 4,096 states).
fn restart(det: Detector, tier: SpillTier, dir: &Path, budget: u64) -> (Detector, SpillTier) {
    let store = Store::open(&dir.join("store")).expect("store");
    let checkpoint = Checkpoint {
        next_offset: 0,
        token: "bench".into(),
    };
    store
        .write_snapshot(0, &checkpoint, |writer| {
            let mut bytes = Vec::new();
            let mut failure = None;
            let mut in_memory = 0u64;
            det.for_each_state(|id, stored| {
                in_memory += 1;
                bytes.clear();
                stored.encode(&mut bytes).expect("encode");
                if let Err(err) = writer.put(&state_key(&stored.stream, id), &bytes) {
                    failure = Some(err);
                }
            });
            if let Some(err) = failure {
                return Err(err);
            }
            let on_tier = tier
                .for_each(0, |key, state| {
                    writer.put(key, state).expect("snapshot");
                    Ok(())
                })
                .expect("tier");
            eprintln!("restart: {in_memory} states from memory and {on_tier} from the disk tier");
            Ok(())
        })
        .expect("snapshot");
    drop(det);
    drop(tier);
    let tier = SpillTier::open(&dir.join("tier"), u64::MAX).expect("tier");
    let mut det = Detector::new(lineage());
    let mut reader = store.read_snapshot(0).expect("read");
    let mut n = 0usize;
    while let Some((key, bytes)) = reader.next_entry().expect("entry") {
        let (_, id) = split_state_key(key).expect("key");
        det.restore(id, bytes).expect("restore");
        n += 1;
        let over = spill_goal(det.memory_bytes(), budget).filter(|_| n.is_multiple_of(4096));
        if let Some(target) = over {
            let mut write = tier.write().expect("write");
            write
                .spill(0, &mut det, target, T0, &mut Vec::new())
                .expect("spill");
            write.commit().expect("commit");
        }
    }
    drop(reader);
    drop(store);
    let _ = std::fs::remove_dir_all(dir.join("store"));
    (det, tier)
}

fn run_variant(name: &str, a: &Args) -> Run {
    let budget = if name == "memory" { u64::MAX } else { a.budget };
    let late = name == "late" || name == "restart";
    let restarts = name == "restart";
    let dir = a.dir.join(name);
    let mut tier = SpillTier::open(&dir.join("tier"), u64::MAX).expect("tier");
    let mut det = Detector::new(lineage());
    let mut offsets = StaticOffsets::default();
    for p in 0..12 {
        // The reader is behind: every message waits (never lost, never complete).
        offsets.set_committed("indexer", "c/playback", p, 0, T0);
    }
    if late {
        offsets.set_committed("indexer", "c/playback", LOST_PARTITION, 0, T0);
    }
    let baseline_mib = status_mib("VmRSS:");
    let mut time = Times::default();
    let mut verdicts: Vec<Verdict> = Vec::new();
    let mut judged: Vec<String> = Vec::new();
    let mut dirty = Vec::new();
    let mut late_queue: std::collections::VecDeque<(Millis, u64)> = Default::default();
    let mut peak = 0u64;
    let mut traces = 0u64;
    let mut next_tick = T0 + TICK_MS;
    let started = Instant::now();
    let mut i = 0u64;
    let mut id = String::new();
    let mut settle_until = None;
    let mut restarted = !restarts;
    let mut read_back_due = 0u64;
    // Counters of the detector before the restart (the restored one counts from zero).
    let mut before = [0u64; 3];
    let counters = |det: &Detector| {
        let m = det.metrics();
        [
            m.total("cairn_messages_shed_total", None),
            m.total("cairn_messages_complete_total", None),
            m.total("cairn_lost_total", None),
        ]
    };
    loop {
        if i >= a.messages && late_queue.is_empty() {
            // Run the clock on until the last completions are counted (a check after them).
            let until = *settle_until.get_or_insert(next_tick + 120_000);
            if next_tick > until {
                break;
            }
        }
        if !restarted && i >= a.messages * a.restart_at / 100 {
            // `--restart-at` percent of the arrivals are in (half by default): the worker
            // restarts from its snapshot.
            restarted = true;
            before = counters(&det);
            (det, tier) = timed(&mut time.restart, || restart(det, tier, &dir, budget));
        }
        let now = T0 + (i as i64 * ARRIVAL_US) / 1000;
        let mut write: Option<TierWrite<'_>> = None;
        timed(&mut time.arrive, || {
            for _ in 0..BATCH {
                if i >= a.messages {
                    break;
                }
                let at = T0 + (i as i64 * ARRIVAL_US) / 1000;
                message_id(&mut id, i);
                let (partition, offset) = placed(i, late);
                let mut t = trace(&id, Kind::Sent, offset, at);
                t.partition = partition;
                det.on_trace(&t, at, &mut verdicts);
                traces += 1;
                if late && i.is_multiple_of(100) {
                    late_queue.push_back((at + LATE_AFTER_MS, i));
                }
                i += 1;
            }
        });
        let now = if i >= a.messages {
            // Arrivals are over: the clock runs to the next late trace, or on by a second.
            late_queue
                .front()
                .map_or(next_tick + 1_000, |&(at, _)| at.max(next_tick))
        } else {
            now
        };
        let started_by_trace = Instant::now();
        while let Some(&(at, n)) = late_queue.front() {
            if at > now {
                break;
            }
            late_queue.pop_front();
            message_id(&mut id, n);
            let (partition, offset) = placed(n, late);
            let mut t = trace(&id, Kind::Received, offset, at);
            t.partition = partition;
            if let Some(on_tier) = det.spilled_at(&t) {
                let key = state_key(on_tier.stream, &id);
                let batch = write.get_or_insert_with(|| tier.write().expect("write"));
                if let Some(back) = batch.take(0, &key).expect("take") {
                    det.unspill(&id, &back.state, back.dirty, back.gap_epoch)
                        .expect("unspill");
                }
            }
            det.on_trace(&t, at, &mut verdicts);
            traces += 1;
        }
        time.by_trace += started_by_trace.elapsed().as_secs_f64();
        while next_tick <= now {
            if det.spilled_due_by(next_tick) {
                let batch = write.get_or_insert_with(|| tier.write().expect("write"));
                timed(&mut time.due, || {
                    for back in batch.take_due(0, next_tick, 100_000).expect("due") {
                        read_back_due += 1;
                        let (_, id) = split_state_key(&back.key).expect("key");
                        det.unspill(id, &back.state, back.dirty, back.gap_epoch)
                            .expect("unspill");
                    }
                });
            }
            if late {
                // The reader of the lost partition commits past what was sent 20 s ago.
                let sent_by = (next_tick - LOST_COMMIT_AFTER_MS - T0) * 1000 / ARRIVAL_US;
                let past = (sent_by.max(0) as u64).min(a.messages);
                let committed = past.saturating_sub(LOST_SLOT).div_ceil(LOST_EVERY);
                offsets.set_committed(
                    "indexer",
                    "c/playback",
                    LOST_PARTITION,
                    committed as i64,
                    next_tick,
                );
            }
            for o in offsets.committed.values_mut() {
                o.read_at = next_tick;
            }
            timed(&mut time.tick, || {
                det.on_tick(next_tick, &offsets, &mut verdicts)
            });
            // As a worker does: the budget is kept after each tick and each batch of traces,
            // after rebuilding the filter of spilled ids if read-backs left it stale (counted
            // with spilling).
            if det.spilled_index_stale() {
                let batch = write.get_or_insert_with(|| tier.write().expect("write"));
                timed(&mut time.spill, || {
                    batch.rebuild_index(0, &mut det).expect("rebuild")
                });
            }
            peak = peak.max(det.memory_bytes());
            if let Some(target) = spill_goal(det.memory_bytes(), budget) {
                let batch = write.get_or_insert_with(|| tier.write().expect("write"));
                timed(&mut time.spill, || {
                    batch
                        .spill(0, &mut det, target, next_tick, &mut dirty)
                        .expect("spill")
                });
            }
            next_tick += TICK_MS;
        }
        peak = peak.max(det.memory_bytes());
        if let Some(target) = spill_goal(det.memory_bytes(), budget) {
            let batch = write.get_or_insert_with(|| tier.write().expect("write"));
            timed(&mut time.spill, || {
                batch
                    .spill(0, &mut det, target, now, &mut dirty)
                    .expect("spill")
            });
        }
        if let Some(batch) = write {
            timed(&mut time.commit, || batch.commit().expect("commit"));
        }
        // A checkpoint would take these every second; the bench drops them.
        let _ = det.drain_changes(|_| {});
        dirty.clear();
        judged.extend(verdicts.drain(..).map(|v| {
            format!(
                "{} {} {} {:?} {:?} {}",
                v.id, v.hop.app, v.stream, v.verdict, v.reason, v.detected_at
            )
        }));
    }
    let seconds = started.elapsed().as_secs_f64();
    let after = counters(&det);
    let run = Run {
        traces,
        seconds,
        peak_memory_bytes: peak,
        spilled: det.messages_spilled(),
        read_back_due,
        shed: before[0] + after[0],
        complete: before[1] + after[1],
        lost: before[2] + after[2],
        disk_used: tier.used_bytes(),
        file_bytes: tier.file_bytes(),
        baseline_mib,
        verdicts: judged.len() as u64,
        digest: digest(&mut judged),
        time,
    };
    drop(tier);
    let _ = std::fs::remove_dir_all(&dir);
    run
}

/// Writes `n` keys of a spilled message's size into one store, reads a seventh of them back.
fn run_store(name: &str, n: u64, dir: &Path) -> (f64, f64, f64) {
    let value = vec![7u8; 90];
    let key = |i: u64| {
        format!(
            "playback\0{:016x}-{:08x}",
            i.wrapping_mul(0x9E37_79B9_7F4A_7C15),
            i
        )
    };
    let _ = std::fs::remove_dir_all(dir);
    let started = Instant::now();
    let (write_s, read_s) = match name {
        "sled" => {
            let db = sled::Config::new()
                .path(dir)
                .cache_capacity(16 << 20)
                .open()
                .expect("sled");
            for chunk in 0..n.div_ceil(10_000) {
                let mut batch = sled::Batch::default();
                for i in chunk * 10_000..((chunk + 1) * 10_000).min(n) {
                    batch.insert(key(i).as_bytes(), value.as_slice());
                }
                db.apply_batch(batch).expect("write");
            }
            db.flush().expect("flush");
            let w = started.elapsed().as_secs_f64();
            let r0 = Instant::now();
            for i in (0..n).step_by(7) {
                let _ = db.get(key(i)).expect("read");
            }
            (w, r0.elapsed().as_secs_f64())
        }
        _ => {
            std::fs::create_dir_all(dir).expect("dir");
            let db = redb::Database::builder()
                .set_cache_size(16 << 20)
                .create(dir.join("db"))
                .expect("redb");
            let table: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new("spill");
            for chunk in 0..n.div_ceil(10_000) {
                let mut txn = db.begin_write().expect("txn");
                txn.set_durability(redb::Durability::None);
                {
                    let mut t = txn.open_table(table).expect("table");
                    for i in chunk * 10_000..((chunk + 1) * 10_000).min(n) {
                        t.insert(key(i).as_bytes(), value.as_slice())
                            .expect("write");
                    }
                }
                txn.commit().expect("commit");
            }
            let w = started.elapsed().as_secs_f64();
            let r0 = Instant::now();
            let txn = db.begin_read().expect("read");
            let t = txn.open_table(table).expect("table");
            for i in (0..n).step_by(7) {
                let _ = t.get(key(i).as_bytes()).expect("read");
            }
            (w, r0.elapsed().as_secs_f64())
        }
    };
    let _ = std::fs::remove_dir_all(dir);
    (write_s, read_s, status_mib("VmHWM:"))
}

/// Runs a variant in a process of its own and returns its line of figures; what it says on
/// stderr (the restart's counts) goes to ours.
fn child(args: &[String]) -> String {
    let out = Command::new(std::env::current_exe().expect("exe"))
        .args(args)
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("run a variant");
    assert!(out.status.success(), "a variant failed: {args:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn text_field<'l>(line: &'l str, key: &str) -> &'l str {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
        .unwrap_or("")
}

fn field(line: &str, key: &str) -> f64 {
    text_field(line, key).parse().unwrap_or(f64::NAN)
}

fn main() {
    let a = args();
    if let Some(variant) = &a.variant {
        if let Some(store) = variant.strip_prefix("store-") {
            let (w, r, peak) = run_store(store, a.messages, &a.dir.join(store));
            println!("write_s={w} read_s={r} peak_mib={peak}");
            return;
        }
        let run = run_variant(variant, &a);
        let t = &run.time;
        println!(
            "traces={} seconds={} peak_memory_bytes={} spilled={} read_back_due={} shed={} complete={} lost={} disk_used={} file_bytes={} baseline_mib={} peak_mib={} verdicts={} digest={:016x} arrive_s={} by_trace_s={} due_s={} tick_s={} spill_s={} commit_s={} restart_s={}",
            run.traces,
            run.seconds,
            run.peak_memory_bytes,
            run.spilled,
            run.read_back_due,
            run.shed,
            run.complete,
            run.lost,
            run.disk_used,
            run.file_bytes,
            run.baseline_mib,
            status_mib("VmHWM:"),
            run.verdicts,
            run.digest,
            t.arrive,
            t.by_trace,
            t.due,
            t.tick,
            t.spill,
            t.commit,
            t.restart,
        );
        return;
    }
    let common = |variant: &str| {
        vec![
            "--variant".to_owned(),
            variant.to_owned(),
            "--messages".to_owned(),
            a.messages.to_string(),
            "--budget".to_owned(),
            a.budget.to_string(),
            "--dir".to_owned(),
            a.dir.display().to_string(),
            "--restart-at".to_owned(),
            a.restart_at.to_string(),
        ]
    };
    println!(
        "cairn detector under a flood of {} messages that never complete; budget {} MiB (`cargo bench -p cairn-shell --bench spill -- --messages {} --budget {} --variants {} --restart-at {}`)",
        a.messages,
        a.budget >> 20,
        a.messages,
        a.budget,
        a.variants.join(","),
        a.restart_at
    );
    println!();
    println!(
        "| variant | traces/s | budget MiB | peak state MiB | peak RSS MiB | RSS at start MiB | RSS − start MiB | spilled | disk MiB (file) | complete | lost | verdicts |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut lines = Vec::new();
    for variant in &a.variants {
        let line = child(&common(variant));
        let mib = |b: f64| b / (1u64 << 20) as f64;
        let budget = if variant == "memory" {
            "none".to_owned()
        } else {
            format!("{:.0}", mib(a.budget as f64))
        };
        println!(
            "| {variant} | {:.0} | {budget} | {:.1} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} ({:.0}) | {:.0} | {:.0} | {:.0} |",
            field(&line, "traces") / field(&line, "seconds"),
            mib(field(&line, "peak_memory_bytes")),
            field(&line, "peak_mib"),
            field(&line, "baseline_mib"),
            field(&line, "peak_mib") - field(&line, "baseline_mib"),
            field(&line, "spilled"),
            mib(field(&line, "disk_used")),
            mib(field(&line, "file_bytes")),
            field(&line, "complete"),
            field(&line, "lost"),
            field(&line, "verdicts"),
        );
        lines.push((variant.clone(), line));
    }
    println!();
    println!(
        "| variant | seconds | arrivals | traces of spilled | due read back | timers | spill | commit | restart | read back when due | of them per second of tier time |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (variant, line) in &lines {
        println!(
            "| {variant} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.0} | {:.0} |",
            field(line, "seconds"),
            field(line, "arrive_s"),
            field(line, "by_trace_s"),
            field(line, "due_s"),
            field(line, "tick_s"),
            field(line, "spill_s"),
            field(line, "commit_s"),
            field(line, "restart_s"),
            field(line, "read_back_due"),
            field(line, "read_back_due")
                / (field(line, "due_s") + field(line, "spill_s") + field(line, "commit_s")),
        );
    }
    let of = |name: &str| lines.iter().find(|(v, _)| v == name).map(|(_, l)| l);
    let mut exact = true;
    if let (Some(late), Some(restart)) = (of("late"), of("restart")) {
        println!();
        let same = |key: &str| text_field(late, key) == text_field(restart, key);
        exact = ["verdicts", "digest", "complete", "lost", "shed"]
            .iter()
            .all(|k| same(k));
        println!(
            "restart at {}% of the arrivals vs none: {} verdicts, digest {} vs {}, complete {} vs {}, lost {} vs {}",
            a.restart_at,
            text_field(restart, "verdicts"),
            text_field(restart, "digest"),
            text_field(late, "digest"),
            text_field(restart, "complete"),
            text_field(late, "complete"),
            text_field(restart, "lost"),
            text_field(late, "lost"),
        );
        println!("verdicts exact: {}", if exact { "yes" } else { "no" });
    }
    if a.stores {
        println!();
        println!("| store (16 MiB cache) | keys | write/s | read/s | peak RSS MiB | RSS per key |");
        println!("|---|---:|---:|---:|---:|---:|");
        for store in ["sled", "redb"] {
            let line = child(&common(&format!("store-{store}")));
            let n = a.messages as f64;
            println!(
                "| {store} | {} | {:.0} | {:.0} | {:.0} | {:.0} B |",
                a.messages,
                n / field(&line, "write_s"),
                (n / 7.0) / field(&line, "read_s"),
                field(&line, "peak_mib"),
                field(&line, "peak_mib") * (1u64 << 20) as f64 / n,
            );
        }
    }
    let _ = std::fs::remove_dir_all(&a.dir);
    if !exact {
        std::process::exit(1);
    }
}
