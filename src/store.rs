//! The embedded store of record (sled): per-message detector state by tracing partition, and
//! the checkpoint that ties it to the tracing topic's offsets.
//!
//! Keys of the `messages` tree are the tracing partition (4 bytes, big-endian) followed by the
//! message id, so one partition's state is one contiguous range: cheap to restore on assign and
//! to drop on revoke. A checkpoint and the state changes it covers are written in one batch,
//! so after a crash the store is either before or after a checkpoint, never between.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sled::Transactional;

/// Errors from the store, with the operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("opening the state store at {path}: {source}")]
    Open { path: String, source: sled::Error },
    #[error("store {operation} failed: {source}")]
    Io {
        operation: &'static str,
        source: sled::Error,
    },
    #[error("checkpoint of tracing partition {partition} is corrupt: {detail}")]
    CorruptCheckpoint { partition: i32, detail: String },
}

/// How far the state of one tracing partition is durable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The next tracing-topic offset to consume: everything before it is in the state.
    pub next_offset: i64,
    /// The token committed with the tracing offset (offset-commit metadata). Local state is
    /// trusted on assign only when the group's committed metadata carries this same token;
    /// otherwise another instance may have moved the partition on, and the changelog is read.
    pub token: String,
}

/// The most sled may cache in memory.
const STORE_CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// One change to a message's stored state: new bytes, or removal.
pub type StateChange<'a> = (&'a str, Option<&'a [u8]>);

pub struct Store {
    db: sled::Db,
    meta: sled::Tree,
    messages: sled::Tree,
    checkpoints: sled::Tree,
}

fn message_key(partition: i32, id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(4 + id.len());
    key.extend_from_slice(&partition.to_be_bytes());
    key.extend_from_slice(id.as_bytes());
    key
}

fn encode_checkpoint(checkpoint: &Checkpoint) -> Vec<u8> {
    // An integer and a string always encode; the Vec writer cannot fail.
    bincode::serde::encode_to_vec(checkpoint, bincode::config::standard())
        .expect("a checkpoint always encodes")
}

fn io(operation: &'static str) -> impl FnOnce(sled::Error) -> StoreError {
    move |source| StoreError::Io { operation, source }
}

impl Store {
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        // sled caches up to 1 GiB by default; the detector keeps its own state in memory, so
        // the store's cache only needs to cover checkpoint writes and restores.
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(STORE_CACHE_BYTES)
            .open()
            .map_err(|source| StoreError::Open {
                path: path.display().to_string(),
                source,
            })?;
        let messages = db.open_tree("messages").map_err(io("open messages"))?;
        let checkpoints = db
            .open_tree("checkpoints")
            .map_err(io("open checkpoints"))?;
        let meta = db.open_tree("meta").map_err(io("open meta"))?;
        Ok(Store {
            db,
            meta,
            messages,
            checkpoints,
        })
    }

    /// A random name for this instance, made on first use and kept with the state, so it is
    /// the same after a restart (it names the transactional producer).
    pub fn instance_id(&self) -> Result<String, StoreError> {
        const KEY: &str = "instance_id";
        if let Some(id) = self.meta.get(KEY).map_err(io("read instance id"))? {
            return Ok(String::from_utf8_lossy(&id).into_owned());
        }
        let id: String = {
            use rand::RngExt as _;
            let mut rng = rand::rng();
            (0..12)
                .map(|_| char::from(b'a' + rng.random_range(0..26u8)))
                .collect()
        };
        self.meta
            .insert(KEY, id.as_bytes())
            .map_err(io("write instance id"))?;
        self.db.flush().map_err(io("flush"))?;
        Ok(id)
    }

    /// Writes the state changes of one tracing partition together with its new checkpoint, in
    /// one atomic batch. sled flushes in the background; callers that need the write on disk
    /// before going on call [`Store::flush`].
    pub fn write_checkpoint<'a>(
        &self,
        partition: i32,
        changes: impl IntoIterator<Item = StateChange<'a>>,
        checkpoint: Checkpoint,
    ) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for (id, state) in changes {
            let key = message_key(partition, id);
            match state {
                Some(bytes) => batch.insert(key, bytes),
                None => batch.remove(key),
            }
        }
        // The checkpoint lives in another tree; a transaction over both keeps them atomic.
        let encoded = encode_checkpoint(&checkpoint);
        (&self.messages, &self.checkpoints)
            .transaction(|(messages, checkpoints)| {
                messages.apply_batch(&batch)?;
                checkpoints.insert(&partition.to_be_bytes(), encoded.as_slice())?;
                Ok(())
            })
            .map_err(|err: sled::transaction::TransactionError<()>| match err {
                sled::transaction::TransactionError::Storage(source) => StoreError::Io {
                    operation: "checkpoint",
                    source,
                },
                sled::transaction::TransactionError::Abort(()) => StoreError::Io {
                    operation: "checkpoint",
                    source: sled::Error::Unsupported("transaction aborted".into()),
                },
            })?;
        Ok(())
    }

    /// Waits until every write so far is on disk.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map_err(io("flush"))?;
        Ok(())
    }

    pub fn read_checkpoint(&self, partition: i32) -> Result<Option<Checkpoint>, StoreError> {
        let Some(bytes) = self
            .checkpoints
            .get(partition.to_be_bytes())
            .map_err(io("read checkpoint"))?
        else {
            return Ok(None);
        };
        bincode::serde::decode_from_slice(&bytes, bincode::config::standard())
            .map(|(checkpoint, _)| Some(checkpoint))
            .map_err(|err| StoreError::CorruptCheckpoint {
                partition,
                detail: err.to_string(),
            })
    }

    /// Every stored message state of one tracing partition, as (id, state bytes).
    pub fn messages(
        &self,
        partition: i32,
    ) -> impl Iterator<Item = Result<(String, Vec<u8>), StoreError>> + '_ {
        self.messages
            .scan_prefix(partition.to_be_bytes())
            .map(|entry| {
                let (key, value) = entry.map_err(io("scan messages"))?;
                let id = String::from_utf8_lossy(&key[4..]).into_owned();
                Ok((id, value.to_vec()))
            })
    }

    /// Forgets a tracing partition (its state and checkpoint), e.g. when its local state no
    /// longer matches the committed position and will be rebuilt by replay.
    pub fn drop_partition(&self, partition: i32) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for entry in self.messages.scan_prefix(partition.to_be_bytes()).keys() {
            batch.remove(entry.map_err(io("scan messages"))?);
        }
        self.messages
            .apply_batch(batch)
            .map_err(io("drop partition"))?;
        self.checkpoints
            .remove(partition.to_be_bytes())
            .map_err(io("drop checkpoint"))?;
        self.db.flush().map_err(io("flush"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// sled's background flusher lets go of the directory lock a moment after the last handle
    /// is dropped; a reopen in the same process waits for that, as a restarted process would.
    fn reopen(path: &Path) -> Store {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match Store::open(path) {
                Ok(store) => return store,
                Err(_) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(err) => panic!("reopen: {err}"),
            }
        }
    }

    #[test]
    fn checkpoint_writes_state_and_position_together_and_survives_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let store = Store::open(dir.path()).expect("open");
            assert_eq!(store.read_checkpoint(0).expect("read"), None);
            let first = Checkpoint {
                next_offset: 10,
                token: "a:1".into(),
            };
            store
                .write_checkpoint(0, [("a", Some(&b"1"[..])), ("b", Some(&b"2"[..]))], first)
                .expect("checkpoint");
            store
                .write_checkpoint(
                    1,
                    [("a", Some(&b"other"[..]))],
                    Checkpoint {
                        next_offset: 3,
                        token: "a:2".into(),
                    },
                )
                .expect("checkpoint");
            let second = Checkpoint {
                next_offset: 20,
                token: "a:3".into(),
            };
            store
                .write_checkpoint(0, [("a", None), ("c", Some(&b"3"[..]))], second)
                .expect("checkpoint");
            store.flush().expect("flush");
        }
        let store = reopen(dir.path());
        assert_eq!(
            store.read_checkpoint(0).expect("read"),
            Some(Checkpoint {
                next_offset: 20,
                token: "a:3".into()
            })
        );
        let held: Vec<(String, Vec<u8>)> =
            store.messages(0).collect::<Result<_, _>>().expect("scan");
        assert_eq!(
            held,
            vec![
                ("b".to_owned(), b"2".to_vec()),
                ("c".to_owned(), b"3".to_vec())
            ]
        );
        let other: Vec<(String, Vec<u8>)> =
            store.messages(1).collect::<Result<_, _>>().expect("scan");
        assert_eq!(
            other,
            vec![("a".to_owned(), b"other".to_vec())],
            "partitions do not mix"
        );

        store.drop_partition(0).expect("drop");
        assert_eq!(store.read_checkpoint(0).expect("read"), None);
        assert_eq!(store.messages(0).count(), 0);
        assert_eq!(store.messages(1).count(), 1, "other partitions are kept");
    }
}
