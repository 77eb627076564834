//! The detector's disk tier: where messages go when a worker's detectors cost more than its
//! share of `[detector] max_memory` (what to move and when is decided in
//! `cairn_core::detector::spill`; this module only reads and writes).
//!
//! One redb file, `<store path>/spill.redb`, made fresh at every start: it is scratch, never a
//! store of record (every spilled state is also in the changelog, or, if it changed since the
//! last checkpoint, is carried into the next one from here). Per tracing partition p, two
//! tables:
//! - `spill-p`: `deadline` (i64, sign-flipped big-endian) then the state key (`stream \0 id`)
//!   → `changed_in u64 LE, gap_epoch u64 LE, state`;
//! - `spill-ids-p`: the state key → its deadline (i64 LE): which messages are on the tier, and
//!   where in `spill-p`.
//!
//! Why the states are filed by deadline: under a flood that never completes, every spilled
//! message comes back at each of its checks and (still waiting) leaves again with a later
//! deadline. Keyed by deadline, what leaves is written near the end of the table and what
//! comes back is cut from its start in one sweep: a batch touches a few pages at each end.
//! Keyed by id, each move wrote the whole state to a random place, and the tier ran at ~6,000
//! re-checks/s (`docs/spill.md`). The id table is what lets the detector keep only a filter
//! of the spilled ids in memory (`cairn_core::detector::spill`): a trace whose id the filter
//! may hold is looked up here, and the filter is rebuilt from this table's keys when
//! read-back messages leave too many stale entries in it. Its keys are random, so a batch
//! keeps its changes to it in memory and writes them in key order at commit, one per id (a
//! message read back and spilled again in the batch is one write): written at once, as each
//! move came, they halved the tier's rate.
//!
//! `changed_in` says whether the next checkpoint must carry the state from here: 0 if not,
//! else the partition's checkpoint generation + 1 at the time it was spilled. A checkpoint
//! reads the states it carries without rewriting them, and moves the generation on: a state
//! carried once is no longer "changed" (it is by a later generation) without a write.
//!
//! Why redb and not sled (the job's other store): sled 0.34 kept ~1.9 KB resident per spilled
//! message whatever its `cache_capacity`, so it cannot honour a memory budget; redb keeps its
//! page cache to [`PAGE_CACHE_BYTES`] (measured in `docs/spill.md`). Writes are not synced
//! (`Durability::Eventual`: no fsync): a crash may lose the file, which a restart throws away
//! anyway. Not `Durability::None`: redb frees the pages of removed entries only at a durable
//! commit, and with `None` (even with an `Eventual` commit every 64) the file grew to 30 times
//! the data under churn.
//!
//! `max_disk` bounds the bytes of keys and values held (counted here, across partitions); the
//! file's size follows it with redb's page overhead.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use cairn_core::detector::spill::{Placement, placement};
use cairn_core::detector::{Detector, SpillCount, StateError};
use cairn_core::model::Millis;
use redb::{Database, Durability, ReadableTable, ReadableTableMetadata, TableDefinition};

use super::worker::{split_state_key, state_key};

/// redb's page cache: what the tier itself may keep resident.
pub const PAGE_CACHE_BYTES: usize = 16 << 20;
const FILE_NAME: &str = "spill.redb";
/// Bytes of a key's deadline, before the state key.
const DEADLINE_BYTES: usize = 8;
/// Bytes of a value's header (changed_in, gap epoch).
const HEADER_BYTES: usize = 16;
/// How many id-table changes a batch holds in memory before it writes them (~130 bytes each,
/// so ~8 MiB): a caller that makes one long batch of many ticks must not grow memory with it.
/// Twice as many peaked 10 MiB higher and was no faster (`docs/spill.md`).
const MAX_HELD_ID_CHANGES: usize = 1 << 16;

/// A table of byte keys and values named `name`.
fn def(name: &str) -> TableDefinition<'_, &'static [u8], &'static [u8]> {
    TableDefinition::new(name)
}

#[derive(Debug, thiserror::Error)]
pub enum SpillError {
    #[error("the detector's disk tier at {path}: {operation} failed: {source}")]
    Store {
        path: String,
        operation: &'static str,
        source: Box<redb::Error>,
    },
    #[error("a spilled state of tracing partition {partition} is unreadable: {detail}")]
    Corrupt { partition: i32, detail: String },
    #[error(transparent)]
    State(#[from] StateError),
}

/// One message read back from the tier.
pub struct OnDisk {
    /// Its state key (`stream \0 id`).
    pub key: String,
    pub dirty: bool,
    pub gap_epoch: u64,
    pub state: Vec<u8>,
}

/// Where a spilled message is on the tier: its deadline then its state key. Kept by the worker
/// for the messages the next checkpoint must carry.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct TierKey(Vec<u8>);

impl TierKey {
    pub fn new(deadline: Millis, key: &str) -> TierKey {
        let mut out = Vec::with_capacity(DEADLINE_BYTES + key.len());
        out.extend_from_slice(&deadline_prefix(deadline));
        out.extend_from_slice(key.as_bytes());
        TierKey(out)
    }

    fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// The process's disk tier.
pub struct SpillTier {
    db: Database,
    path: PathBuf,
    max_disk: u64,
    /// Bytes of keys and values held, over all partitions.
    used: AtomicU64,
    /// Per partition, how many checkpoints carried its changed states from here.
    generations: Mutex<HashMap<i32, u64>>,
}

fn table_name(partition: i32) -> String {
    format!("spill-{partition}")
}

fn ids_table_name(partition: i32) -> String {
    format!("spill-ids-{partition}")
}

/// The deadline as the first bytes of a key: big-endian with the sign bit flipped, so keys
/// sort by time.
fn deadline_prefix(deadline: Millis) -> [u8; DEADLINE_BYTES] {
    ((deadline as u64) ^ (1 << 63)).to_be_bytes()
}

impl SpillTier {
    /// Opens a fresh tier in `dir` (whatever a previous run left there is removed).
    pub fn open(dir: &Path, max_disk: u64) -> Result<SpillTier, SpillError> {
        let path = dir.join(FILE_NAME);
        let fail = |operation, source: redb::Error| SpillError::Store {
            path: path.display().to_string(),
            operation,
            source: Box::new(source),
        };
        if let Err(err) = std::fs::create_dir_all(dir) {
            return Err(fail(
                "create its directory",
                redb::StorageError::Io(err).into(),
            ));
        }
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => {
                return Err(fail(
                    "remove the previous run's file",
                    redb::StorageError::Io(err).into(),
                ));
            }
        }
        let db = Database::builder()
            .set_cache_size(PAGE_CACHE_BYTES)
            .create(&path)
            .map_err(|e| fail("create", e.into()))?;
        Ok(SpillTier {
            db,
            path,
            max_disk,
            used: AtomicU64::new(0),
            generations: Mutex::new(HashMap::new()),
        })
    }

    /// Bytes of keys and values the tier holds now.
    pub fn used_bytes(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    pub fn max_disk(&self) -> u64 {
        self.max_disk
    }

    /// The size of the file on disk.
    pub fn file_bytes(&self) -> u64 {
        std::fs::metadata(&self.path).map_or(0, |m| m.len())
    }

    fn fail(&self, operation: &'static str) -> impl FnOnce(redb::Error) -> SpillError + '_ {
        move |source| SpillError::Store {
            path: self.path.display().to_string(),
            operation,
            source: Box::new(source),
        }
    }

    /// The `changed_in` a state of `partition` changed since its last checkpoint is stored
    /// with now.
    fn changed_mark(&self, partition: i32) -> u64 {
        let generations = self.generations.lock().unwrap_or_else(|e| e.into_inner());
        generations.get(&partition).copied().unwrap_or(0) + 1
    }

    /// A checkpoint carried the changed states of `partition`: those spilled before it are
    /// unchanged from now on.
    fn next_generation(&self, partition: i32) {
        let mut generations = self.generations.lock().unwrap_or_else(|e| e.into_inner());
        *generations.entry(partition).or_insert(0) += 1;
    }

    /// Starts a batch of reads and writes (one redb write transaction).
    pub fn write(&self) -> Result<TierWrite<'_>, SpillError> {
        let mut txn = self
            .db
            .begin_write()
            .map_err(|e| self.fail("begin")(e.into()))?;
        txn.set_durability(Durability::Eventual);
        Ok(TierWrite {
            tier: self,
            txn,
            ids: BTreeMap::new(),
        })
    }

    /// Every state of `partition` on the tier, in deadline order (for its local snapshot).
    pub fn for_each(
        &self,
        partition: i32,
        mut f: impl FnMut(&str, &[u8]) -> Result<(), SpillError>,
    ) -> Result<u64, SpillError> {
        let txn = self
            .db
            .begin_read()
            .map_err(|e| self.fail("begin a read")(e.into()))?;
        let table = match txn.open_table(def(&table_name(partition))) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(0),
            Err(e) => return Err(self.fail("open a table")(e.into())),
        };
        let mut count = 0;
        for entry in table.iter().map_err(|e| self.fail("read")(e.into()))? {
            let (key, value) = entry.map_err(|e| self.fail("read")(e.into()))?;
            let key = state_key_of(partition, key.value())?;
            let value = value.value();
            let state = value
                .get(HEADER_BYTES..)
                .ok_or_else(|| SpillError::Corrupt {
                    partition,
                    detail: format!("the value of `{}` is too short", key.replace('\0', "/")),
                })?;
            f(key, state)?;
            count += 1;
        }
        Ok(count)
    }

    /// Forgets everything of `partition` (it left this instance, or is restored afresh).
    pub fn drop_partition(&self, partition: i32) -> Result<(), SpillError> {
        let write = self.write()?;
        let name = table_name(partition);
        let mut freed = 0u64;
        {
            if let Ok(table) = write.txn.open_table(def(&name)) {
                for entry in table.iter().map_err(|e| self.fail("read")(e.into()))? {
                    let (key, value) = entry.map_err(|e| self.fail("read")(e.into()))?;
                    freed += entry_bytes(key.value().len(), value.value().len());
                }
            }
        }
        for name in [name, ids_table_name(partition)] {
            write
                .txn
                .delete_table(def(&name))
                .map_err(|e| self.fail("drop a partition")(e.into()))?;
        }
        write.commit()?;
        self.release(freed);
        self.generations
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&partition);
        Ok(())
    }

    fn release(&self, bytes: u64) {
        let _ = self
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |u| {
                Some(u.saturating_sub(bytes))
            });
    }
}

/// What one spilled message costs against `max_disk`: its key (deadline and state key) and
/// value, and its entry in the id table (the state key and the deadline: as long as the key).
fn entry_bytes(key_len: usize, value_len: usize) -> u64 {
    (2 * key_len + value_len) as u64
}

/// The state key of a tier key.
fn state_key_of(partition: i32, key: &[u8]) -> Result<&str, SpillError> {
    key.get(DEADLINE_BYTES..)
        .and_then(|rest| std::str::from_utf8(rest).ok())
        .ok_or_else(|| SpillError::Corrupt {
            partition,
            detail: "a key is not a deadline and a UTF-8 state key".into(),
        })
}

/// A batch of tier operations in one transaction; nothing is visible until [`TierWrite::commit`].
pub struct TierWrite<'a> {
    tier: &'a SpillTier,
    txn: redb::WriteTransaction,
    /// Per partition, the id table's changes not yet written: state key → its new deadline,
    /// or `None` if it left the tier. Written in key order when the batch commits, once it
    /// holds [`MAX_HELD_ID_CHANGES`], or before the table is read whole. Why: a message read back and spilled again in one batch
    /// (every re-check under a flood that never completes) then costs one write of its id,
    /// not a removal and an insert, and the writes go through the tree in order instead of
    /// at random places (the id table is keyed by a hash-like id, far larger than redb's
    /// page cache at millions of messages).
    ids: BTreeMap<i32, BTreeMap<Box<[u8]>, Option<Millis>>>,
}

impl TierWrite<'_> {
    fn open(
        &self,
        name: &str,
    ) -> Result<redb::Table<'_, &'static [u8], &'static [u8]>, SpillError> {
        open_table(self.tier, &self.txn, name)
    }

    /// The partition's states, by deadline.
    fn table(
        &self,
        partition: i32,
    ) -> Result<redb::Table<'_, &'static [u8], &'static [u8]>, SpillError> {
        self.open(&table_name(partition))
    }

    /// The partition's spilled ids, with their deadlines.
    fn ids(
        &self,
        partition: i32,
    ) -> Result<redb::Table<'_, &'static [u8], &'static [u8]>, SpillError> {
        self.open(&ids_table_name(partition))
    }

    /// Moves messages of `detector` (tracing partition `partition`) out of memory down to
    /// `target` bytes: to the tier while `max_disk` has room, else shed. Where the states that
    /// changed since the last checkpoint went is added to `dirty`.
    pub fn spill(
        &mut self,
        partition: i32,
        detector: &mut Detector,
        target: u64,
        now: Millis,
        dirty: &mut Vec<TierKey>,
    ) -> Result<SpillCount, SpillError> {
        self.write_ids_if_many()?;
        let tier = self.tier;
        let changed = tier.changed_mark(partition);
        let mut table = open_table(tier, &self.txn, &table_name(partition))?;
        let ids = self.ids.entry(partition).or_default();
        let mut failure = None;
        let mut value = Vec::new();
        let count = detector.spill_to(target, now, |e| {
            let state_key = state_key(e.stream, e.id);
            let key = TierKey::new(e.deadline, &state_key);
            let bytes = entry_bytes(key.0.len(), HEADER_BYTES + e.state.len());
            let placed = placement(tier.used_bytes(), bytes, tier.max_disk);
            if placed == Placement::Shed {
                return placed;
            }
            value.clear();
            value.extend_from_slice(&(if e.dirty { changed } else { 0 }).to_le_bytes());
            value.extend_from_slice(&e.gap_epoch.to_le_bytes());
            value.extend_from_slice(e.state);
            match table.insert(key.as_bytes(), value.as_slice()) {
                Ok(_) => {
                    ids.insert(state_key.into_bytes().into(), Some(e.deadline));
                    tier.used.fetch_add(bytes, Ordering::Relaxed);
                    if e.dirty {
                        dirty.push(key);
                    }
                    Placement::Spilled
                }
                Err(err) => {
                    failure = Some(tier.fail("write")(err.into()));
                    Placement::Kept
                }
            }
        })?;
        match failure {
            Some(err) => Err(err),
            None => Ok(count),
        }
    }

    /// Takes the message under the state `key` off the tier, if it is there (the detector's
    /// filter may say "maybe" for one that is not).
    pub fn take(&mut self, partition: i32, key: &str) -> Result<Option<OnDisk>, SpillError> {
        self.write_ids_if_many()?;
        let tier = self.tier;
        let changed = tier.changed_mark(partition);
        let Some(deadline) = self.deadline_of(partition, key)? else {
            return Ok(None);
        };
        self.ids
            .entry(partition)
            .or_default()
            .insert(key.as_bytes().into(), None);
        let mut table = self.table(partition)?;
        let at = TierKey::new(deadline, key);
        let removed = table
            .remove(at.as_bytes())
            .map_err(|e| tier.fail("read")(e.into()))?;
        let Some(value) = removed else {
            return Ok(None);
        };
        let value = value.value();
        tier.release(entry_bytes(at.0.len(), value.len()));
        decode(partition, key, value, changed).map(Some)
    }

    /// Takes the messages of `partition` due at or before `now` off the tier, earliest first,
    /// at most `limit` (after a pause many may be due at once: the rest wait for the next call,
    /// as timers in memory wait for a bounded tick). They are the first keys of the table:
    /// one sweep reads them.
    pub fn take_due(
        &mut self,
        partition: i32,
        now: Millis,
        limit: usize,
    ) -> Result<Vec<OnDisk>, SpillError> {
        self.write_ids_if_many()?;
        let tier = self.tier;
        let changed = tier.changed_mark(partition);
        let mut table = open_table(tier, &self.txn, &table_name(partition))?;
        // Every key below the next millisecond's prefix is due by `now`.
        let end = deadline_prefix(now.saturating_add(1));
        let mut out = Vec::new();
        let mut keys = Vec::new();
        let mut freed = 0;
        for entry in table
            .range::<&[u8]>(..&end[..])
            .map_err(|e| tier.fail("read")(e.into()))?
            .take(limit)
        {
            let (key, value) = entry.map_err(|e| tier.fail("read")(e.into()))?;
            let (key, value) = (key.value(), value.value());
            freed += entry_bytes(key.len(), value.len());
            out.push(decode(
                partition,
                state_key_of(partition, key)?,
                value,
                changed,
            )?);
            keys.push(key.to_vec());
        }
        // Removed one by one after the read: redb changes the pages this transaction already
        // wrote in place, where its `extract_from_if` copies the path of every key it removes
        // (measured: it made reading back the slowest part of the bench).
        let ids = self.ids.entry(partition).or_default();
        for key in keys {
            table
                .remove(key.as_slice())
                .map_err(|e| tier.fail("write")(e.into()))?;
            ids.insert(key[DEADLINE_BYTES..].into(), None);
        }
        tier.release(freed);
        Ok(out)
    }

    /// The states at `keys` still on the tier and still changed since the last checkpoint, for
    /// a checkpoint (in key order, each once). The partition's generation moves on: they are
    /// unchanged from now on, without being written again.
    pub fn drain_dirty(
        &mut self,
        partition: i32,
        mut keys: Vec<TierKey>,
    ) -> Result<Vec<(String, Vec<u8>)>, SpillError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        keys.sort_unstable();
        keys.dedup();
        let tier = self.tier;
        let changed = tier.changed_mark(partition).to_le_bytes();
        let table = self.table(partition)?;
        let mut out = Vec::new();
        for key in keys {
            let found = table
                .get(key.as_bytes())
                .map_err(|e| tier.fail("read")(e.into()))?;
            // None: read back since (the detector carries it, or spilled it again elsewhere).
            let Some(value) = found else { continue };
            let value = value.value();
            if value.get(..8) != Some(&changed[..]) {
                continue;
            }
            let state_key = state_key_of(partition, key.as_bytes())?.to_owned();
            out.push((state_key, value[HEADER_BYTES..].to_vec()));
        }
        drop(table);
        tier.next_generation(partition);
        Ok(out)
    }

    /// Builds `detector`'s filter of spilled ids again from the ids of `partition` on the tier
    /// (once read-back messages left it more stale entries than live ones).
    pub fn rebuild_index(
        &mut self,
        partition: i32,
        detector: &mut Detector,
    ) -> Result<(), SpillError> {
        self.write_ids(partition)?;
        let tier = self.tier;
        let ids = self.ids(partition)?;
        detector.rebuild_spilled_index(|add| {
            for entry in ids.iter().map_err(|e| tier.fail("read")(e.into()))? {
                let (key, deadline) = entry.map_err(|e| tier.fail("read")(e.into()))?;
                let key = std::str::from_utf8(key.value()).map_err(|_| SpillError::Corrupt {
                    partition,
                    detail: "a spilled id is not UTF-8".into(),
                })?;
                let deadline = deadline_of(partition, key, deadline.value())?;
                if let Some((stream, id)) = split_state_key(key) {
                    add(stream, id, deadline);
                }
            }
            Ok(())
        })
    }

    /// The deadline the state `key` is filed under, if it is on the tier: the batch's own
    /// changes first, then the id table.
    fn deadline_of(&self, partition: i32, key: &str) -> Result<Option<Millis>, SpillError> {
        if let Some(pending) = self
            .ids
            .get(&partition)
            .and_then(|ids| ids.get(key.as_bytes()))
        {
            return Ok(*pending);
        }
        let ids = self.ids(partition)?;
        let found = ids
            .get(key.as_bytes())
            .map_err(|e| self.tier.fail("read")(e.into()))?;
        found
            .map(|deadline| deadline_of(partition, key, deadline.value()))
            .transpose()
    }

    /// Writes the batch's changes to the id tables once it holds many (called before each
    /// operation, so a batch holds at most one operation's changes more).
    fn write_ids_if_many(&mut self) -> Result<(), SpillError> {
        let held: usize = self.ids.values().map(BTreeMap::len).sum();
        if held < MAX_HELD_ID_CHANGES {
            return Ok(());
        }
        self.write_all_ids()
    }

    /// Writes the batch's changes to every partition's id table.
    fn write_all_ids(&mut self) -> Result<(), SpillError> {
        let partitions: Vec<i32> = self.ids.keys().copied().collect();
        for partition in partitions {
            self.write_ids(partition)?;
        }
        Ok(())
    }

    /// Writes the batch's changes to the id table of `partition`, in key order.
    fn write_ids(&mut self, partition: i32) -> Result<(), SpillError> {
        let Some(changes) = self.ids.remove(&partition) else {
            return Ok(());
        };
        let tier = self.tier;
        let mut ids = self.ids(partition)?;
        for (key, deadline) in changes {
            let written = match deadline {
                Some(deadline) => ids.insert(&key[..], &deadline.to_le_bytes()[..]).map(drop),
                None => ids.remove(&key[..]).map(drop),
            };
            written.map_err(|e| tier.fail("write")(e.into()))?;
        }
        Ok(())
    }

    /// The deadline the state `key` is filed under (tests).
    #[cfg(test)]
    pub fn filed_at(&self, partition: i32, key: &str) -> Option<Millis> {
        self.deadline_of(partition, key).ok()?
    }

    /// How many ids of `partition` the id table holds (tests: as many as states).
    #[cfg(test)]
    pub fn ids_len(&mut self, partition: i32) -> u64 {
        self.write_ids(partition).expect("write the ids");
        self.ids(partition)
            .and_then(|t| t.len().map_err(|e| self.tier.fail("read")(e.into())))
            .expect("ids table")
    }

    /// How many messages of `partition` are on the tier.
    pub fn len(&self, partition: i32) -> Result<u64, SpillError> {
        self.table(partition)?
            .len()
            .map_err(|e| self.tier.fail("read")(e.into()))
    }

    pub fn commit(mut self) -> Result<(), SpillError> {
        self.write_all_ids()?;
        let tier = self.tier;
        self.txn.commit().map_err(|e| tier.fail("commit")(e.into()))
    }
}

/// The table `name` in a write transaction.
fn open_table<'t>(
    tier: &SpillTier,
    txn: &'t redb::WriteTransaction,
    name: &str,
) -> Result<redb::Table<'t, &'static [u8], &'static [u8]>, SpillError> {
    txn.open_table(def(name))
        .map_err(|e| tier.fail("open a table")(e.into()))
}

/// The deadline the id table gives for `key`.
fn deadline_of(partition: i32, key: &str, bytes: &[u8]) -> Result<Millis, SpillError> {
    let bytes: [u8; 8] = bytes.try_into().map_err(|_| SpillError::Corrupt {
        partition,
        detail: format!(
            "the deadline of `{}` is not 8 bytes",
            key.replace('\0', "/")
        ),
    })?;
    Ok(Millis::from_le_bytes(bytes))
}

/// A value read back: changed since the last checkpoint if it was marked so in the current
/// generation (`changed`).
fn decode(partition: i32, key: &str, value: &[u8], changed: u64) -> Result<OnDisk, SpillError> {
    let corrupt = || SpillError::Corrupt {
        partition,
        detail: format!("the value of `{}` is too short", key.replace('\0', "/")),
    };
    let word = |at: usize| -> Result<u64, SpillError> {
        let bytes: [u8; 8] = value
            .get(at..at + 8)
            .ok_or_else(corrupt)?
            .try_into()
            .map_err(|_| corrupt())?;
        Ok(u64::from_le_bytes(bytes))
    };
    Ok(OnDisk {
        key: key.to_owned(),
        dirty: word(0)? == changed,
        gap_epoch: word(8)?,
        state: value.get(HEADER_BYTES..).ok_or_else(corrupt)?.to_vec(),
    })
}

#[cfg(test)]
mod tests;
