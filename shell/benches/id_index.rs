//! The disk tier's id index on its own: which store takes the random changes of a large index
//! cheaply, and at what resident memory (`docs/spill.md`, "What limits a deep flood").
//!
//! Each move of a spilled message changes its entry in the index of spilled ids (state key →
//! deadline): a random key in a large keyspace. This bench loads N keys, then makes `--rounds`
//! batches of 65,536 changes of random existing keys (the tier's bound on the changes a batch
//! holds), then 10,000 lookups of random keys, in each store in a process of its own (so each
//! peak RSS, `VmHWM`, is its own):
//!
//! - `redb`: the tier's layout today: the state key (~35 bytes) → deadline, one write
//!   transaction per batch, its changes written in key order, a 16 MiB page cache, no fsync.
//! - `redb-short`: the same with a 16-byte hash of the state key as the key.
//! - `fjall`: an LSM tree (fjall 3) with a 16 MiB block cache, 4 MiB memtables, two
//!   background workers, no fsync, no per-table Bloom filters (the tier's own filter screens
//!   lookups first).
//!
//! Run: `cargo bench -p cairn-shell --bench id_index -- [--keys 8000000] [--rounds 40]
//! [--stores redb,redb-short,fjall] [--dir target/id-index-bench]`. The data directory is
//! deleted at the end.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Changes per batch: the tier's `MAX_HELD_ID_CHANGES`.
const BATCH: usize = 1 << 16;
const LOOKUPS: usize = 10_000;

struct Args {
    keys: u64,
    rounds: usize,
    dir: PathBuf,
    stores: Vec<String>,
    store: Option<String>,
}

fn args() -> Args {
    let mut out = Args {
        keys: 8_000_000,
        rounds: 40,
        dir: PathBuf::from("target/id-index-bench"),
        stores: ["redb", "redb-short", "fjall"].map(String::from).to_vec(),
        store: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--keys" => out.keys = it.next().and_then(|v| v.parse().ok()).expect("--keys N"),
            "--rounds" => out.rounds = it.next().and_then(|v| v.parse().ok()).expect("--rounds N"),
            "--dir" => out.dir = it.next().map(PathBuf::from).expect("--dir PATH"),
            "--store" => out.store = it.next(),
            "--stores" => {
                out.stores = it
                    .next()
                    .expect("--stores redb,redb-short,fjall")
                    .split(',')
                    .map(String::from)
                    .collect()
            }
            _ => {} // cargo bench passes --bench
        }
    }
    out
}

/// The `i`th state key: a stream name, NUL, and a hash-like id, as the tier files them.
fn state_key(i: u64) -> Vec<u8> {
    let h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (i >> 7);
    format!("orders\0{h:016x}-{i:010}").into_bytes()
}

/// A 16-byte hash of the `i`th state key.
fn short_key(i: u64) -> Vec<u8> {
    let key = state_key(i);
    let mut out = Vec::with_capacity(16);
    for seed in [0u64, 1] {
        let mut h = std::hash::DefaultHasher::new();
        seed.hash(&mut h);
        key.hash(&mut h);
        out.extend_from_slice(&h.finish().to_be_bytes());
    }
    out
}

/// xorshift: the random keys to change and look up, the same in every store.
struct Rng(u64);

impl Rng {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
}

fn peak_rss_mib() -> f64 {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn disk_bytes(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => disk_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// What a store must do: write a batch of (key, deadline), look a key up.
trait IdIndex {
    fn write(&mut self, batch: &mut Vec<(Vec<u8>, u64)>);
    fn found(&self, key: &[u8]) -> bool;
}

struct Redb {
    db: redb::Database,
}

const IDS: redb::TableDefinition<'static, &'static [u8], &'static [u8]> =
    redb::TableDefinition::new("ids");

impl IdIndex for Redb {
    fn write(&mut self, batch: &mut Vec<(Vec<u8>, u64)>) {
        batch.sort_unstable();
        let mut txn = self.db.begin_write().expect("begin");
        txn.set_durability(redb::Durability::Eventual);
        {
            let mut table = txn.open_table(IDS).expect("table");
            for (key, deadline) in batch.iter() {
                table
                    .insert(key.as_slice(), &deadline.to_le_bytes()[..])
                    .expect("insert");
            }
        }
        txn.commit().expect("commit");
    }

    fn found(&self, key: &[u8]) -> bool {
        let txn = self.db.begin_read().expect("read");
        let table = txn.open_table(IDS).expect("table");
        table.get(key).expect("get").is_some()
    }
}

struct Fjall {
    db: fjall::Database,
    ids: fjall::Keyspace,
}

impl IdIndex for Fjall {
    fn write(&mut self, batch: &mut Vec<(Vec<u8>, u64)>) {
        let mut write = self.db.batch();
        for (key, deadline) in batch.iter() {
            write.insert(&self.ids, key.as_slice(), &deadline.to_le_bytes()[..]);
        }
        write.commit().expect("commit");
    }

    fn found(&self, key: &[u8]) -> bool {
        self.ids.get(key).expect("get").is_some()
    }
}

fn open(store: &str, dir: &Path) -> Box<dyn IdIndex> {
    match store {
        "redb" | "redb-short" => Box::new(Redb {
            db: redb::Database::builder()
                .set_cache_size(16 << 20)
                .create(dir.join("ids.redb"))
                .expect("redb"),
        }),
        "fjall" => {
            use fjall::config::{FilterPolicy, PinningPolicy};
            let db = fjall::Database::builder(dir)
                .cache_size(16 << 20)
                .manual_journal_persist(true)
                .worker_threads(2)
                .open()
                .expect("fjall");
            let ids = db
                .keyspace("ids", || {
                    fjall::KeyspaceCreateOptions::default()
                        .max_memtable_size(4 << 20)
                        .filter_policy(FilterPolicy::disabled())
                        .filter_block_pinning_policy(PinningPolicy::all(false))
                        .index_block_pinning_policy(PinningPolicy::all(false))
                })
                .expect("keyspace");
            Box::new(Fjall { db, ids })
        }
        other => panic!("unknown store `{other}`: redb, redb-short or fjall"),
    }
}

/// Runs one store and prints its figures as one line of `key=value`.
fn run_store(store: &str, a: &Args) {
    let dir = a.dir.join(store);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let key = if store == "redb-short" {
        short_key
    } else {
        state_key
    };
    let mut index = open(store, &dir);
    let mut rng = Rng(0x0123_4567_89AB_CDEF);
    let started = Instant::now();
    let mut batch = Vec::with_capacity(BATCH);
    let mut next = 0;
    while next < a.keys {
        batch.clear();
        let end = (next + BATCH as u64).min(a.keys);
        batch.extend((next..end).map(|i| (key(i), i)));
        index.write(&mut batch);
        next = end;
    }
    let load_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    for round in 0..a.rounds {
        batch.clear();
        batch.extend((0..BATCH).map(|_| (key(rng.next(a.keys)), round as u64)));
        index.write(&mut batch);
    }
    let change_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let found = (0..LOOKUPS)
        .filter(|_| index.found(&key(rng.next(a.keys))))
        .count();
    let lookup_s = started.elapsed().as_secs_f64();
    assert_eq!(found, LOOKUPS, "every key looked up was written");
    println!(
        "load_per_s={:.0} change_per_s={:.0} lookup_per_s={:.0} peak_rss_mib={:.0} disk_mib={:.0}",
        a.keys as f64 / load_s,
        (a.rounds * BATCH) as f64 / change_s,
        LOOKUPS as f64 / lookup_s,
        peak_rss_mib(),
        disk_bytes(&dir) as f64 / (1 << 20) as f64,
    );
    drop(index);
    let _ = std::fs::remove_dir_all(&dir);
}

fn field<'a>(line: &'a str, key: &str) -> &'a str {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or("?")
}

fn main() {
    let a = args();
    if let Some(store) = &a.store {
        run_store(store, &a);
        return;
    }
    println!(
        "the disk tier's id index: {} keys, then {} batches of {} random changes (`cargo bench -p cairn-shell --bench id_index -- --keys {} --rounds {} --stores {}`)",
        a.keys,
        a.rounds,
        BATCH,
        a.keys,
        a.rounds,
        a.stores.join(",")
    );
    println!();
    println!("| store | load keys/s | changes/s | lookups/s | peak RSS MiB | disk MiB |");
    println!("|---|---:|---:|---:|---:|---:|");
    let exe = std::env::current_exe().expect("own path");
    for store in &a.stores {
        let out = Command::new(&exe)
            .args(["--store", store, "--keys", &a.keys.to_string()])
            .args(["--rounds", &a.rounds.to_string()])
            .arg("--dir")
            .arg(&a.dir)
            .output()
            .expect("run a store");
        let line = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            panic!(
                "{store} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        println!(
            "| {store} | {} | {} | {} | {} | {} |",
            field(&line, "load_per_s"),
            field(&line, "change_per_s"),
            field(&line, "lookup_per_s"),
            field(&line, "peak_rss_mib"),
            field(&line, "disk_mib"),
        );
    }
    let _ = std::fs::remove_dir_all(&a.dir);
}
