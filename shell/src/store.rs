//! The local store of one instance: sled keeps the instance id and, per tracing partition, the
//! checkpoint that a local snapshot of the partition's state stands for; the snapshot itself is a
//! file beside it.
//!
//! The replicated store of record is the changelog topic, written in the same transaction as the
//! tracing offsets (see `detect::checkpoint`). The local copy only makes a handover or a restart
//! on the same machine fast: it is written when a partition leaves this instance (revoke or
//! shutdown) and trusted on the next assign only when its token is the group's committed one.
//!
//! Why a file and not one sled key per message: sled 0.34 keeps about as many bytes resident as
//! it holds, whatever its cache capacity (measured: 550 MiB written in 256 KiB values left RSS at
//! 560 MiB; one key per message cost about 630 B each), and the job's memory budget is the
//! detector's. A snapshot file is written and read as a stream and costs no memory.
//!
//! Snapshot file: frames of `key_len u32 LE, key, state_len u32 LE, state`, then a trailer of
//! `u32::MAX, count u64 LE, crc32 u32 LE` over every frame before it. A file without a valid
//! trailer is never trusted. Write order: forget the checkpoint, write and sync the file under a
//! temporary name, rename it, record the checkpoint. A crash anywhere leaves either no trusted
//! snapshot or a complete one.
//!
//! The checksum can only be checked at the end, so a length read before it is not trusted to
//! size a buffer: a key or state longer than a frame may hold ([`MAX_KEY_BYTES`],
//! [`MAX_STATE_BYTES`]) or than the bytes left in the file makes the snapshot unusable before
//! anything is allocated for it.

use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use cairn_core::detector::MAX_STATE_BYTES;
use serde::{Deserialize, Serialize};

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
    #[error("snapshot of tracing partition {partition}: {operation} failed: {source}")]
    SnapshotIo {
        partition: i32,
        operation: &'static str,
        source: std::io::Error,
    },
    #[error("snapshot of tracing partition {partition} is not usable: {detail}")]
    CorruptSnapshot { partition: i32, detail: String },
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

/// The most sled may cache in memory: it holds only ids and checkpoints.
const STORE_CACHE_BYTES: u64 = 8 * 1024 * 1024;
/// Marks the trailer where a key length would be.
const TRAILER: u32 = u32::MAX;
/// Longest key a snapshot frames: a stream name, a NUL and a message id (at most 256 bytes).
pub const MAX_KEY_BYTES: usize = 64 * 1024;
const SNAPSHOT_DIR: &str = "partition-snapshots";

pub struct Store {
    db: sled::Db,
    meta: sled::Tree,
    checkpoints: sled::Tree,
    snapshots: PathBuf,
}

fn encode_checkpoint(checkpoint: &Checkpoint) -> Vec<u8> {
    // An integer and a string always encode; the Vec writer cannot fail.
    bincode::serde::encode_to_vec(checkpoint, bincode::config::standard())
        .expect("a checkpoint always encodes")
}

fn io(operation: &'static str) -> impl FnOnce(sled::Error) -> StoreError {
    move |source| StoreError::Io { operation, source }
}

fn snapshot_io(
    partition: i32,
    operation: &'static str,
) -> impl FnOnce(std::io::Error) -> StoreError {
    move |source| StoreError::SnapshotIo {
        partition,
        operation,
        source,
    }
}

impl Store {
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let opened = |source| StoreError::Open {
            path: path.display().to_string(),
            source,
        };
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(STORE_CACHE_BYTES)
            .open()
            .map_err(opened)?;
        // Stores written by earlier versions kept one key per message here; none of it is
        // trusted any more (their checkpoints are dropped with it), so free the space.
        if db.tree_names().iter().any(|name| name == b"messages") {
            db.drop_tree("messages")
                .map_err(io("drop the old messages tree"))?;
            db.drop_tree("checkpoints")
                .map_err(io("drop the old checkpoints"))?;
        }
        let checkpoints = db
            .open_tree("checkpoints")
            .map_err(io("open checkpoints"))?;
        let meta = db.open_tree("meta").map_err(io("open meta"))?;
        let snapshots = path.join(SNAPSHOT_DIR);
        fs::create_dir_all(&snapshots).map_err(|source| StoreError::Open {
            path: snapshots.display().to_string(),
            source: sled::Error::Io(source),
        })?;
        Ok(Store {
            db,
            meta,
            checkpoints,
            snapshots,
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

    fn snapshot_path(&self, partition: i32) -> PathBuf {
        self.snapshots.join(format!("{partition}.snapshot"))
    }

    /// Replaces the local snapshot of one tracing partition: `fill` puts every message state,
    /// and the snapshot is trusted from then on as the state at `checkpoint`. Returns how many
    /// states it holds.
    pub fn write_snapshot(
        &self,
        partition: i32,
        checkpoint: &Checkpoint,
        fill: impl FnOnce(&mut SnapshotWriter) -> Result<(), StoreError>,
    ) -> Result<u64, StoreError> {
        self.forget_checkpoint(partition)?;
        let path = self.snapshot_path(partition);
        let temporary = path.with_extension("partial");
        let file = File::create(&temporary).map_err(snapshot_io(partition, "create"))?;
        let mut writer = SnapshotWriter {
            partition,
            out: BufWriter::with_capacity(1 << 20, file),
            hasher: crc32fast::Hasher::new(),
            count: 0,
        };
        fill(&mut writer)?;
        let count = writer.finish()?;
        fs::rename(&temporary, &path).map_err(snapshot_io(partition, "rename"))?;
        File::open(&self.snapshots)
            .and_then(|dir| dir.sync_all())
            .map_err(snapshot_io(partition, "sync the directory"))?;
        self.checkpoints
            .insert(partition.to_be_bytes(), encode_checkpoint(checkpoint))
            .map_err(io("write checkpoint"))?;
        self.db.flush().map_err(io("flush"))?;
        Ok(count)
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

    /// Streams the local snapshot of one tracing partition. Only the trailer proves it whole,
    /// so a caller must read to the end (`Ok(None)`) before trusting what it took.
    pub fn read_snapshot(&self, partition: i32) -> Result<SnapshotReader, StoreError> {
        let file =
            File::open(self.snapshot_path(partition)).map_err(snapshot_io(partition, "open"))?;
        let remaining = file
            .metadata()
            .map_err(snapshot_io(partition, "read the length"))?
            .len();
        Ok(SnapshotReader::over(
            partition,
            Box::new(BufReader::with_capacity(1 << 20, file)),
            remaining,
        ))
    }

    /// Forgets a tracing partition's local snapshot and its checkpoint.
    pub fn drop_partition(&self, partition: i32) -> Result<(), StoreError> {
        self.forget_checkpoint(partition)?;
        match fs::remove_file(self.snapshot_path(partition)) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                Err(snapshot_io(partition, "remove")(err))
            }
            _ => Ok(()),
        }
    }

    fn forget_checkpoint(&self, partition: i32) -> Result<(), StoreError> {
        if self
            .checkpoints
            .remove(partition.to_be_bytes())
            .map_err(io("drop checkpoint"))?
            .is_some()
        {
            self.db.flush().map_err(io("flush"))?;
        }
        Ok(())
    }
}

/// Writes the frames of one snapshot; see the module doc for the format.
pub struct SnapshotWriter {
    partition: i32,
    out: BufWriter<File>,
    hasher: crc32fast::Hasher,
    count: u64,
}

impl SnapshotWriter {
    pub fn put(&mut self, key: &str, state: &[u8]) -> Result<(), StoreError> {
        // What a reader would refuse is never written: a snapshot on disk is always readable.
        let framed = |what: &str, len: usize, max: usize| {
            if len > max {
                return Err(StoreError::CorruptSnapshot {
                    partition: self.partition,
                    detail: format!(
                        "a {what} of {len} bytes is longer than the {max} a snapshot frames"
                    ),
                });
            }
            Ok(u32::try_from(len).expect("the frame limits are below 4 GiB"))
        };
        let key_len = framed("key", key.len(), MAX_KEY_BYTES)?;
        let state_len = framed("state", state.len(), MAX_STATE_BYTES)?;
        for part in [
            &key_len.to_le_bytes()[..],
            key.as_bytes(),
            &state_len.to_le_bytes(),
            state,
        ] {
            self.hasher.update(part);
            self.out
                .write_all(part)
                .map_err(snapshot_io(self.partition, "write"))?;
        }
        self.count += 1;
        Ok(())
    }

    fn finish(mut self) -> Result<u64, StoreError> {
        let crc = self.hasher.clone().finalize();
        let mut trailer = Vec::with_capacity(16);
        trailer.extend_from_slice(&TRAILER.to_le_bytes());
        trailer.extend_from_slice(&self.count.to_le_bytes());
        trailer.extend_from_slice(&crc.to_le_bytes());
        let partition = self.partition;
        self.out
            .write_all(&trailer)
            .map_err(snapshot_io(partition, "write"))?;
        let file = self
            .out
            .into_inner()
            .map_err(|err| snapshot_io(partition, "write")(err.into_error()))?;
        file.sync_all().map_err(snapshot_io(partition, "sync"))?;
        Ok(self.count)
    }
}

/// Reads the frames of one snapshot back, checking the trailer at the end.
pub struct SnapshotReader {
    source: FrameSource,
    key: Vec<u8>,
    state: Vec<u8>,
    count: u64,
}

impl SnapshotReader {
    /// Reads a snapshot held in memory, as [`Store::read_snapshot`] reads one from its file:
    /// for tests and fuzzing of the format.
    pub fn from_bytes(partition: i32, bytes: Vec<u8>) -> SnapshotReader {
        let remaining = bytes.len() as u64;
        SnapshotReader::over(partition, Box::new(std::io::Cursor::new(bytes)), remaining)
    }

    fn over(partition: i32, input: Box<dyn Read + Send>, remaining: u64) -> SnapshotReader {
        SnapshotReader {
            source: FrameSource {
                partition,
                input,
                remaining,
                hasher: crc32fast::Hasher::new(),
            },
            key: Vec::new(),
            state: Vec::new(),
            count: 0,
        }
    }

    /// The next (key, state), or `None` once the trailer checked out.
    pub fn next_entry(&mut self) -> Result<Option<(&str, &[u8])>, StoreError> {
        let key_len = self.source.read_u32()?;
        if key_len == TRAILER {
            self.check_trailer()?;
            return Ok(None);
        }
        self.source
            .read_frame("key", key_len, MAX_KEY_BYTES, &mut self.key)?;
        let state_len = self.source.read_u32()?;
        self.source
            .read_frame("state", state_len, MAX_STATE_BYTES, &mut self.state)?;
        self.count += 1;
        let key = std::str::from_utf8(&self.key)
            .map_err(|_| self.source.corrupt("a key is not UTF-8".into()))?;
        Ok(Some((key, &self.state)))
    }

    fn check_trailer(&mut self) -> Result<(), StoreError> {
        let mut trailer = [0u8; 12];
        self.source.read_exact(&mut trailer)?;
        let count = u64::from_le_bytes(trailer[..8].try_into().expect("8 bytes"));
        let crc = u32::from_le_bytes(trailer[8..].try_into().expect("4 bytes"));
        let computed = self.source.hasher.clone().finalize();
        if count != self.count || crc != computed {
            return Err(self.source.corrupt(format!(
                "trailer says {count} states with crc {crc:08x}, read {} with crc {computed:08x}",
                self.count
            )));
        }
        Ok(())
    }
}

/// The file under a [`SnapshotReader`]: hashes the frames and knows how much of it is left.
struct FrameSource {
    partition: i32,
    input: Box<dyn Read + Send>,
    /// Bytes of the file not read yet; no length read from the file may ask for more.
    remaining: u64,
    hasher: crc32fast::Hasher,
}

impl FrameSource {
    fn read_u32(&mut self) -> Result<u32, StoreError> {
        let mut bytes = [0u8; 4];
        self.read_exact(&mut bytes)?;
        Ok(u32::from_le_bytes(bytes))
    }

    /// Reads a frame of `len` bytes into `buffer`, with its length, into the checksum. The
    /// length is checked before the buffer grows: the checksum that would prove it comes last.
    fn read_frame(
        &mut self,
        what: &str,
        len: u32,
        max: usize,
        buffer: &mut Vec<u8>,
    ) -> Result<(), StoreError> {
        self.hasher.update(&len.to_le_bytes());
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if len > max {
            return Err(self.corrupt(format!(
                "a {what} claims {len} bytes, more than the {max} a snapshot frames"
            )));
        }
        if u64::try_from(len).unwrap_or(u64::MAX) > self.remaining {
            return Err(self.corrupt(format!(
                "a {what} claims {len} bytes, more than the {} left in the file",
                self.remaining
            )));
        }
        buffer.clear();
        buffer.resize(len, 0);
        self.read_exact(buffer)?;
        self.hasher.update(buffer);
        Ok(())
    }

    fn read_exact(&mut self, buffer: &mut [u8]) -> Result<(), StoreError> {
        self.input.read_exact(buffer).map_err(|err| {
            if err.kind() == std::io::ErrorKind::UnexpectedEof {
                self.corrupt("it ends before its trailer".into())
            } else {
                snapshot_io(self.partition, "read")(err)
            }
        })?;
        self.remaining = self.remaining.saturating_sub(buffer.len() as u64);
        Ok(())
    }

    fn corrupt(&self, detail: String) -> StoreError {
        StoreError::CorruptSnapshot {
            partition: self.partition,
            detail,
        }
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

    fn checkpoint(next_offset: i64, token: &str) -> Checkpoint {
        Checkpoint {
            next_offset,
            token: token.into(),
        }
    }

    fn read_all(store: &Store, partition: i32) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let mut reader = store.read_snapshot(partition)?;
        let mut out = Vec::new();
        while let Some((key, state)) = reader.next_entry()? {
            out.push((key.to_owned(), state.to_vec()));
        }
        Ok(out)
    }

    fn put_all<'a>(
        states: &'a [(&'a str, &'a [u8])],
    ) -> impl FnOnce(&mut SnapshotWriter) -> Result<(), StoreError> + 'a {
        move |writer| {
            for (key, state) in states {
                writer.put(key, state)?;
            }
            Ok(())
        }
    }

    #[test]
    fn a_snapshot_and_its_checkpoint_survive_a_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let store = Store::open(dir.path()).expect("open");
            assert_eq!(store.read_checkpoint(0).expect("read"), None);
            let states: [(&str, &[u8]); 2] = [("s\0a", b"1"), ("s\0b", b"")];
            let count = store
                .write_snapshot(0, &checkpoint(10, "a:1"), put_all(&states))
                .expect("snapshot");
            assert_eq!(count, 2);
            store
                .write_snapshot(1, &checkpoint(3, "a:2"), put_all(&[("s\0a", b"other")]))
                .expect("snapshot");
            // A newer snapshot replaces the older one whole.
            store
                .write_snapshot(0, &checkpoint(20, "a:3"), put_all(&[("s\0c", b"3")]))
                .expect("snapshot");
        }
        let store = reopen(dir.path());
        assert_eq!(
            store.read_checkpoint(0).expect("read"),
            Some(checkpoint(20, "a:3"))
        );
        assert_eq!(
            read_all(&store, 0).expect("read"),
            vec![("s\0c".to_owned(), b"3".to_vec())]
        );
        assert_eq!(
            read_all(&store, 1).expect("read"),
            vec![("s\0a".to_owned(), b"other".to_vec())],
            "partitions do not mix"
        );

        store.drop_partition(0).expect("drop");
        assert_eq!(store.read_checkpoint(0).expect("read"), None);
        assert!(store.read_snapshot(0).is_err());
        assert_eq!(
            store.read_checkpoint(1).expect("read"),
            Some(checkpoint(3, "a:2"))
        );
    }

    #[test]
    fn a_snapshot_in_memory_reads_as_its_file_does() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        let states: [(&str, &[u8]); 2] = [("s\0a", b"1"), ("s\0b", b"")];
        store
            .write_snapshot(4, &checkpoint(1, "t"), put_all(&states))
            .expect("snapshot");
        let bytes = std::fs::read(store.snapshot_path(4)).expect("the file");
        let mut reader = SnapshotReader::from_bytes(4, bytes.clone());
        let mut from_memory = Vec::new();
        while let Some((key, state)) = reader.next_entry().expect("readable") {
            from_memory.push((key.to_owned(), state.to_vec()));
        }
        assert_eq!(from_memory, read_all(&store, 4).expect("read"));
        let mut cut = SnapshotReader::from_bytes(4, bytes[..bytes.len() - 1].to_vec());
        let mut outcome = cut.next_entry().map(|e| e.is_some());
        while let Ok(true) = outcome {
            outcome = cut.next_entry().map(|e| e.is_some());
        }
        assert!(outcome.is_err(), "a cut snapshot is refused in memory too");
    }

    #[test]
    fn a_cut_or_altered_snapshot_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        let states: [(&str, &[u8]); 2] = [("s\0a", b"state-a"), ("s\0b", b"state-b")];
        store
            .write_snapshot(4, &checkpoint(7, "t"), put_all(&states))
            .expect("snapshot");
        let path = store.snapshot_path(4);
        let whole = fs::read(&path).expect("read");

        fs::write(&path, &whole[..whole.len() - 5]).expect("cut");
        let err = read_all(&store, 4).expect_err("a cut file is refused");
        assert!(err.to_string().contains("ends before its trailer"), "{err}");

        let mut altered = whole.clone();
        altered[6] ^= 0x20;
        fs::write(&path, &altered).expect("alter");
        let err = read_all(&store, 4).expect_err("an altered file is refused");
        assert!(err.to_string().contains("crc"), "{err}");
    }

    /// Puts `bytes` where the snapshot of `partition` lives and reads its first entry, returning
    /// the error and how many bytes the reader's buffers took.
    fn first_entry_of(store: &Store, partition: i32, bytes: &[u8]) -> (StoreError, usize) {
        fs::write(store.snapshot_path(partition), bytes).expect("write");
        let mut reader = store.read_snapshot(partition).expect("open");
        let err = reader.next_entry().expect_err("refused");
        (err, reader.key.capacity() + reader.state.capacity())
    }

    #[test]
    fn a_length_no_frame_may_have_is_refused_before_anything_is_allocated() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        // The most a 32-bit length claims without being the trailer mark: 4 GiB less 2 bytes.
        let claim = TRAILER - 1;
        let huge_key = claim.to_le_bytes().to_vec();
        let huge_state = [&1u32.to_le_bytes()[..], b"k", &claim.to_le_bytes()].concat();
        for (what, bytes) in [("key", huge_key), ("state", huge_state)] {
            let (err, allocated) = first_entry_of(&store, 3, &bytes);
            assert!(matches!(
                err,
                StoreError::CorruptSnapshot { partition: 3, .. }
            ));
            assert!(
                err.to_string()
                    .contains(&format!("a {what} claims {claim} bytes, more than the")),
                "{err}"
            );
            assert!(allocated <= bytes.len(), "{allocated} bytes allocated");
        }
    }

    #[test]
    fn a_length_beyond_the_end_of_the_file_is_refused_before_anything_is_allocated() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        let claim = MAX_STATE_BYTES as u32;
        let bytes = [
            &1u32.to_le_bytes()[..],
            b"k",
            &claim.to_le_bytes(),
            b"ten bytes.",
        ]
        .concat();
        let (err, allocated) = first_entry_of(&store, 3, &bytes);
        assert!(matches!(
            err,
            StoreError::CorruptSnapshot { partition: 3, .. }
        ));
        assert!(
            err.to_string().contains(&format!(
                "a state claims {claim} bytes, more than the 10 left in the file"
            )),
            "{err}"
        );
        assert!(allocated <= bytes.len(), "{allocated} bytes allocated");
    }

    #[test]
    fn a_state_as_long_as_a_frame_may_be_is_kept_and_a_longer_one_not_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        let longest = vec![7u8; MAX_STATE_BYTES];
        store
            .write_snapshot(0, &checkpoint(1, "t"), put_all(&[("s\0a", &longest)]))
            .expect("snapshot");
        assert_eq!(
            read_all(&store, 0).expect("read"),
            vec![("s\0a".to_owned(), longest)]
        );

        let longer = vec![7u8; MAX_STATE_BYTES + 1];
        let err = store
            .write_snapshot(0, &checkpoint(2, "t"), put_all(&[("s\0a", &longer)]))
            .expect_err("longer than a frame");
        assert!(err.to_string().contains("longer than the"), "{err}");
        assert_eq!(store.read_checkpoint(0).expect("read"), None);
    }

    #[test]
    fn a_failed_write_leaves_no_trusted_checkpoint() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        store
            .write_snapshot(0, &checkpoint(5, "old"), put_all(&[("s\0a", b"1")]))
            .expect("snapshot");
        let failed = store.write_snapshot(0, &checkpoint(9, "new"), |_| {
            Err(StoreError::CorruptSnapshot {
                partition: 0,
                detail: "the state could not be encoded".into(),
            })
        });
        assert!(failed.is_err());
        assert_eq!(store.read_checkpoint(0).expect("read"), None);
    }
}
