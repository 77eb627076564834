//! Bytes of memory per pending message, beyond the id's own bytes.
//!
//! A counting global allocator measures the bytes the detector holds (requested sizes,
//! so allocator overhead is not in it; the RSS column shows what the process paid, with
//! it). A 3-hop stream (six expected traces), 1,000,000 messages fed their first k
//! traces at one instant, nothing ticked: all are pending.
//!
//! Run: `cargo bench -p cairn-core --bench detector_memory`

use std::alloc::{GlobalAlloc, Layout, System};
use std::borrow::Cow;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use cairn_core::detector::Detector;
use support::three_hops;

mod support;
use cairn_core::model::{Kind, Millis, Trace, Verdict};

/// The system allocator, counting the bytes currently allocated.
struct Counting;

static ALLOCATED: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwards the caller's contract to the system allocator unchanged.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) };
        ALLOCATED.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwards the caller's contract to the system allocator unchanged.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            ALLOCATED.fetch_sub(layout.size(), Ordering::Relaxed);
            ALLOCATED.fetch_add(new_size, Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const MESSAGES: usize = 1_000_000;
const NOW: Millis = 1_763_800_000_000;

fn allocated() -> usize {
    ALLOCATED.load(Ordering::Relaxed)
}

/// Resident set size in bytes, from /proc (0 where that is not available).
fn rss() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<usize>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// The k-th trace (0..6) of message `n`, borrowing its id.
fn trace(id: &str, n: usize, k: usize) -> Trace<'_> {
    let (kind, app, location, group) = [
        (Kind::Sent, "producer", "a/l0", None),
        (Kind::Received, "x1", "a/l0", Some("g1")),
        (Kind::Sent, "x1", "a/l1", None),
        (Kind::Received, "x2", "a/l1", Some("g2")),
        (Kind::Sent, "x2", "a/l2", None),
        (Kind::Received, "sink", "a/l2", Some("g3")),
    ][k];
    Trace {
        id: Cow::Borrowed(id),
        stream: Cow::Borrowed("playback"),
        kind,
        location: Cow::Borrowed(location),
        partition: (n % 12) as i32,
        offset: n as i64,
        app: Cow::Borrowed(app),
        group: group.map(Cow::Borrowed),
        ts: NOW + k as Millis,
    }
}

struct Row {
    traces: usize,
    id_bytes: f64,
    before_drain: f64,
    after_drain: f64,
    rss: f64,
    secs: f64,
}

fn measure(traces: usize, id_len: usize) -> Row {
    let lineage = three_hops();
    let mut sink: Vec<Verdict> = Vec::new();
    let mut id = String::with_capacity(id_len);
    let (base, base_rss) = (allocated(), rss());
    let started = Instant::now();
    let mut detector = Detector::new(lineage);
    let mut id_bytes = 0usize;
    for n in 0..MESSAGES {
        id.clear();
        // Distinct ids of exactly `id_len` bytes (UUID-shaped at 36).
        let digits = format!("{n:012x}");
        while id.len() + digits.len() < id_len {
            id.push('-');
        }
        id.push_str(&digits[digits.len().saturating_sub(id_len)..]);
        id_bytes += id.len();
        for k in 0..traces {
            detector.on_trace(&trace(&id, n, k), NOW, &mut sink);
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let held = allocated() - base;
    let rss_held = rss().saturating_sub(base_rss);
    let drained = detector.drain_changes(|_| {}).unwrap_or(0);
    assert_eq!(drained, MESSAGES);
    assert_eq!(detector.messages_in_memory(), MESSAGES);
    let held_after = allocated() - base;
    let per = |bytes: usize| bytes as f64 / MESSAGES as f64;
    let mean_id = per(id_bytes);
    let row = Row {
        traces,
        id_bytes: mean_id,
        before_drain: per(held) - mean_id,
        after_drain: per(held_after) - mean_id,
        rss: per(rss_held) - mean_id,
        secs,
    };
    drop(detector);
    row
}

/// Each case runs in a child process of its own, so that RSS growth is not hidden by
/// pages an earlier case freed.
const CASE_VAR: &str = "CAIRN_MEMORY_CASE";
const CASES: [(usize, usize); 4] = [(1, 36), (3, 36), (5, 36), (3, 16)];

fn main() {
    if let Some(case) = std::env::var_os(CASE_VAR) {
        let case = case.to_string_lossy();
        let (traces, id_len) = case
            .split_once(',')
            .and_then(|(t, l)| Some((t.parse().ok()?, l.parse().ok()?)))
            .unwrap_or((3, 36));
        let r = measure(traces, id_len);
        println!(
            "| {} of 6 | {:.0} | {:.1} | {:.1} | {:.1} | {:.2} s |",
            r.traces, r.id_bytes, r.before_drain, r.after_drain, r.rss, r.secs
        );
        return;
    }
    println!(
        "detector memory: 3-hop stream, {MESSAGES} pending messages, bytes per message beyond the id's own bytes"
    );
    println!();
    println!(
        "| traces held per message | mean id bytes | held, before drain | held, after drain | RSS growth | feed time |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            eprintln!("cannot find this bench binary to run its cases: {e}");
            std::process::exit(1);
        }
    };
    for (traces, id_len) in CASES {
        let out = std::process::Command::new(&exe)
            .env(CASE_VAR, format!("{traces},{id_len}"))
            .output();
        match out {
            Ok(out) if out.status.success() => print!("{}", String::from_utf8_lossy(&out.stdout)),
            Ok(out) => {
                eprintln!(
                    "case {traces},{id_len} failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                std::process::exit(1);
            }
            Err(e) => {
                eprintln!("case {traces},{id_len} did not start: {e}");
                std::process::exit(1);
            }
        }
    }
    println!();
    println!("held: bytes the detector allocated (requested sizes) / messages − mean id length;");
    println!(
        "after drain: once the shell has taken the changed states (it does at every checkpoint)."
    );
    println!("RSS growth: the process's resident growth / messages − mean id length, malloc's");
    println!("per-allocation overhead on the id boxes included.");
    println!("command: cargo bench -p cairn-core --bench detector_memory");
}
