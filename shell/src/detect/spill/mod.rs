//! The detector's disk tier: where messages go when a worker's detectors cost more than its
//! share of `[detector] max_memory` (what to move and when is decided in
//! `cairn_core::detector::spill`; this module only reads and writes).
//!
//! One redb file, `<store path>/spill.redb`, made fresh at every start: it is scratch, never a
//! store of record (every spilled state is also in the changelog, or, if it changed since the
//! last checkpoint, is carried into the next one from here). Per tracing partition p, two
//! tables:
//! - `spill-p`: state key (`stream \0 id`) → `dirty u8, gap_epoch u64 LE, state`;
//! - `spill-due-p`: `deadline` (i64, sign-flipped big-endian, so keys sort by time) and the
//!   state key → nothing: the timers of spilled messages, read back in order when due.
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

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use cairn_core::detector::spill::{Placement, placement};
use cairn_core::detector::{Detector, SpillCount, StateError};
use cairn_core::model::Millis;
use redb::{Database, Durability, ReadableTable, ReadableTableMetadata, TableDefinition};

use super::worker::state_key;

/// redb's page cache: what the tier itself may keep resident.
pub const PAGE_CACHE_BYTES: usize = 16 << 20;
const FILE_NAME: &str = "spill.redb";
/// Bytes of a due-index entry besides its state key.
const DUE_KEY_BYTES: u64 = 8;
/// Bytes of a value's header (dirty flag, gap epoch).
const HEADER_BYTES: usize = 9;

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
    pub key: String,
    pub dirty: bool,
    pub gap_epoch: u64,
    pub state: Vec<u8>,
}

/// The process's disk tier.
pub struct SpillTier {
    db: Database,
    path: PathBuf,
    max_disk: u64,
    /// Bytes of keys and values held, over all partitions.
    used: AtomicU64,
}

fn tables(partition: i32) -> (String, String) {
    (
        format!("spill-{partition}"),
        format!("spill-due-{partition}"),
    )
}

fn due_key(deadline: Millis, key: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + key.len());
    out.extend_from_slice(&((deadline as u64) ^ (1 << 63)).to_be_bytes());
    out.extend_from_slice(key.as_bytes());
    out
}

fn due_deadline(bytes: &[u8]) -> Option<Millis> {
    let head: [u8; 8] = bytes.get(..8)?.try_into().ok()?;
    Some((u64::from_be_bytes(head) ^ (1 << 63)) as Millis)
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

    /// Starts a batch of reads and writes (one redb write transaction).
    pub fn write(&self) -> Result<TierWrite<'_>, SpillError> {
        let mut txn = self
            .db
            .begin_write()
            .map_err(|e| self.fail("begin")(e.into()))?;
        txn.set_durability(Durability::Eventual);
        Ok(TierWrite { tier: self, txn })
    }

    /// Every state of `partition` on the tier, in key order (for its local snapshot).
    pub fn for_each(
        &self,
        partition: i32,
        mut f: impl FnMut(&str, &[u8]) -> Result<(), SpillError>,
    ) -> Result<u64, SpillError> {
        let txn = self
            .db
            .begin_read()
            .map_err(|e| self.fail("begin a read")(e.into()))?;
        let (by_id, _) = tables(partition);
        let table = match txn.open_table(def(&by_id)) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(0),
            Err(e) => return Err(self.fail("open a table")(e.into())),
        };
        let mut count = 0;
        for entry in table.iter().map_err(|e| self.fail("read")(e.into()))? {
            let (key, value) = entry.map_err(|e| self.fail("read")(e.into()))?;
            let key = std::str::from_utf8(key.value()).map_err(|_| SpillError::Corrupt {
                partition,
                detail: "a key is not UTF-8".into(),
            })?;
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
        let (by_id, by_due) = tables(partition);
        let mut freed = 0u64;
        {
            if let Ok(table) = write.txn.open_table(def(&by_id)) {
                for entry in table.iter().map_err(|e| self.fail("read")(e.into()))? {
                    let (key, value) = entry.map_err(|e| self.fail("read")(e.into()))?;
                    freed += entry_bytes(key.value().len(), value.value().len());
                }
            }
        }
        for name in [&by_id, &by_due] {
            write
                .txn
                .delete_table(def(name))
                .map_err(|e| self.fail("drop a partition")(e.into()))?;
        }
        write.commit()?;
        self.release(freed);
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

/// What one spilled message costs against `max_disk`: its key twice (state and due index),
/// its value.
fn entry_bytes(key_len: usize, value_len: usize) -> u64 {
    (2 * key_len + value_len) as u64 + DUE_KEY_BYTES
}

/// A batch of tier operations in one transaction; nothing is visible until [`TierWrite::commit`].
pub struct TierWrite<'a> {
    tier: &'a SpillTier,
    txn: redb::WriteTransaction,
}

impl TierWrite<'_> {
    /// Moves messages of `detector` (tracing partition `partition`) out of memory down to
    /// `target` bytes: to the tier while `max_disk` has room, else shed. Keys of states that
    /// changed since the last checkpoint are added to `dirty`.
    pub fn spill(
        &mut self,
        partition: i32,
        detector: &mut Detector,
        target: u64,
        now: Millis,
        dirty: &mut Vec<String>,
    ) -> Result<SpillCount, SpillError> {
        let (by_id, by_due) = tables(partition);
        let tier = self.tier;
        let mut ids = self
            .txn
            .open_table(def(&by_id))
            .map_err(|e| tier.fail("open a table")(e.into()))?;
        let mut due = self
            .txn
            .open_table(def(&by_due))
            .map_err(|e| tier.fail("open a table")(e.into()))?;
        let mut failure = None;
        let mut value = Vec::new();
        let count = detector.spill_to(target, now, |e| {
            let key = state_key(e.stream, e.id);
            let bytes = entry_bytes(key.len(), HEADER_BYTES + e.state.len());
            let placed = placement(tier.used_bytes(), bytes, tier.max_disk);
            if placed == Placement::Shed {
                return placed;
            }
            value.clear();
            value.push(u8::from(e.dirty));
            value.extend_from_slice(&e.gap_epoch.to_le_bytes());
            value.extend_from_slice(e.state);
            let written = ids
                .insert(key.as_bytes(), value.as_slice())
                .and_then(|_| due.insert(due_key(e.deadline, &key).as_slice(), &[][..]));
            match written {
                Ok(_) => {
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

    /// Takes the message under `key` off the tier, if it is there.
    pub fn take(&mut self, partition: i32, key: &str) -> Result<Option<OnDisk>, SpillError> {
        let (by_id, by_due) = tables(partition);
        let tier = self.tier;
        let mut ids = match self.txn.open_table(def(&by_id)) {
            Ok(table) => table,
            Err(e) => return Err(tier.fail("open a table")(e.into())),
        };
        let removed = ids
            .remove(key.as_bytes())
            .map_err(|e| tier.fail("read")(e.into()))?;
        let Some(value) = removed else {
            return Ok(None);
        };
        let value = value.value().to_vec();
        let on_disk = decode(partition, key, &value)?;
        let stored = cairn_core::detector::StoredMessage::decode(&on_disk.state)?;
        let mut due = self
            .txn
            .open_table(def(&by_due))
            .map_err(|e| tier.fail("open a table")(e.into()))?;
        due.remove(due_key(stored.deadline, key).as_slice())
            .map_err(|e| tier.fail("write")(e.into()))?;
        tier.release(entry_bytes(key.len(), value.len()));
        Ok(Some(on_disk))
    }

    /// Takes the messages of `partition` due at or before `now` off the tier, earliest first,
    /// at most `limit` (after a pause many may be due at once: the rest wait for the next call,
    /// as timers in memory wait for a bounded tick).
    pub fn take_due(
        &mut self,
        partition: i32,
        now: Millis,
        limit: usize,
    ) -> Result<Vec<OnDisk>, SpillError> {
        let (by_id, by_due) = tables(partition);
        let tier = self.tier;
        let mut keys = Vec::new();
        {
            let mut due = self
                .txn
                .open_table(def(&by_due))
                .map_err(|e| tier.fail("open a table")(e.into()))?;
            while keys.len() < limit {
                let first = due
                    .first()
                    .map_err(|e| tier.fail("read")(e.into()))?
                    .map(|(key, _)| key.value().to_vec());
                let Some(bytes) = first else { break };
                match due_deadline(&bytes) {
                    Some(deadline) if deadline <= now => {}
                    _ => break,
                }
                due.remove(bytes.as_slice())
                    .map_err(|e| tier.fail("write")(e.into()))?;
                keys.push(bytes);
            }
        }
        let mut ids = self
            .txn
            .open_table(def(&by_id))
            .map_err(|e| tier.fail("open a table")(e.into()))?;
        let mut out = Vec::with_capacity(keys.len());
        for bytes in keys {
            let key = String::from_utf8(bytes[8..].to_vec()).map_err(|_| SpillError::Corrupt {
                partition,
                detail: "a due key is not UTF-8".into(),
            })?;
            let removed = ids
                .remove(key.as_bytes())
                .map_err(|e| tier.fail("read")(e.into()))?;
            if let Some(value) = removed {
                let value = value.value().to_vec();
                tier.release(entry_bytes(key.len(), value.len()));
                out.push(decode(partition, &key, &value)?);
            }
        }
        Ok(out)
    }

    /// The states of `keys` still on the tier and still marked changed, for a checkpoint; they
    /// are marked unchanged.
    pub fn drain_dirty(
        &mut self,
        partition: i32,
        keys: Vec<String>,
    ) -> Result<Vec<(String, Vec<u8>)>, SpillError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let (by_id, _) = tables(partition);
        let tier = self.tier;
        let mut ids = self
            .txn
            .open_table(def(&by_id))
            .map_err(|e| tier.fail("open a table")(e.into()))?;
        let mut out = Vec::new();
        for key in keys {
            let value = match ids
                .get(key.as_bytes())
                .map_err(|e| tier.fail("read")(e.into()))?
            {
                Some(value) => value.value().to_vec(),
                None => continue, // read back since: the detector carries it
            };
            if value.first() != Some(&1) {
                continue;
            }
            let mut clean = value.clone();
            clean[0] = 0;
            ids.insert(key.as_bytes(), clean.as_slice())
                .map_err(|e| tier.fail("write")(e.into()))?;
            out.push((key, value[HEADER_BYTES..].to_vec()));
        }
        Ok(out)
    }

    /// How many messages of `partition` are on the tier.
    pub fn len(&self, partition: i32) -> Result<u64, SpillError> {
        let (by_id, _) = tables(partition);
        match self.txn.open_table(def(&by_id)) {
            Ok(table) => table.len().map_err(|e| self.tier.fail("read")(e.into())),
            Err(e) => Err(self.tier.fail("open a table")(e.into())),
        }
    }

    pub fn commit(self) -> Result<(), SpillError> {
        let tier = self.tier;
        self.txn.commit().map_err(|e| tier.fail("commit")(e.into()))
    }
}

fn decode(partition: i32, key: &str, value: &[u8]) -> Result<OnDisk, SpillError> {
    let corrupt = || SpillError::Corrupt {
        partition,
        detail: format!("the value of `{}` is too short", key.replace('\0', "/")),
    };
    let epoch: [u8; 8] = value
        .get(1..HEADER_BYTES)
        .ok_or_else(corrupt)?
        .try_into()
        .map_err(|_| corrupt())?;
    Ok(OnDisk {
        key: key.to_owned(),
        dirty: value.first() == Some(&1),
        gap_epoch: u64::from_le_bytes(epoch),
        state: value.get(HEADER_BYTES..).ok_or_else(corrupt)?.to_vec(),
    })
}

#[cfg(test)]
mod tests;
