//! What the responder did, kept three ways: in memory for `/api/actions` and `/metrics`
//! ([`ActionLog`], part of the watch's view), and in the watch's sled store ([`RespondStore`]):
//! the core's state (written before an action runs, so a restart never repeats one) and the
//! last [`RECENT_ACTIONS`] records (so `/api/actions` survives a restart).

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};

use cairn_core::respond::ActionRecord;
use cairn_core::respond::record::{decode, encode};
use parking_lot::Mutex;

/// Records `/api/actions` (and the store) keep, newest first.
pub const RECENT_ACTIONS: usize = 1_000;

/// The sled key of the core's state.
const STATE_KEY: &[u8] = b"respond-state";
/// The sled tree of the recent records, keyed by a rising big-endian number.
const ACTIONS_TREE: &str = "respond-actions";

/// (cluster, group, action, outcome).
pub type ActionKey = (String, String, &'static str, &'static str);

/// Recent action records and the responder's counters.
#[derive(Default)]
pub struct ActionLog {
    recent: Mutex<VecDeque<ActionRecord>>,
    /// (cluster, group, action, outcome) → actions.
    pub actions: Mutex<BTreeMap<ActionKey, u64>>,
    /// (cluster, group, cause) → failed or hung actions.
    pub failures: Mutex<BTreeMap<(String, String, &'static str), u64>>,
    /// Records the actions topic or the store did not take.
    pub audit_failures: AtomicU64,
}

impl ActionLog {
    /// Keeps `record` at the front of the recent list and counts it.
    pub fn push(&self, record: ActionRecord, cause: Option<&'static str>) {
        let (cluster, group) = (record.cluster.clone(), record.group.clone());
        *self
            .actions
            .lock()
            .entry((
                cluster.clone(),
                group.clone(),
                record.action.as_str(),
                record.outcome.as_str(),
            ))
            .or_default() += 1;
        if let Some(cause) = cause {
            *self
                .failures
                .lock()
                .entry((cluster, group, cause))
                .or_default() += 1;
        }
        let mut recent = self.recent.lock();
        recent.push_front(record);
        recent.truncate(RECENT_ACTIONS);
    }

    /// Puts back records read from the store (newest first), without counting them again.
    pub fn restore(&self, records: Vec<ActionRecord>) {
        let mut recent = self.recent.lock();
        recent.extend(records);
        recent.truncate(RECENT_ACTIONS);
    }

    /// Recent records, newest first.
    pub fn recent(&self, limit: usize) -> Vec<ActionRecord> {
        self.recent.lock().iter().take(limit).cloned().collect()
    }

    pub fn audit_failed(&self) {
        self.audit_failures.fetch_add(1, Ordering::Relaxed);
    }
}

/// The responder's part of the watch's sled store.
pub struct RespondStore {
    db: sled::Db,
    actions: sled::Tree,
    /// The state bytes last written, to skip writes of an unchanged state.
    written: Vec<u8>,
}

impl RespondStore {
    pub fn open(db: sled::Db) -> Result<RespondStore, sled::Error> {
        let actions = db.open_tree(ACTIONS_TREE)?;
        Ok(RespondStore {
            db,
            actions,
            written: Vec::new(),
        })
    }

    /// The stored core state, if any.
    pub fn load_state(&mut self) -> Result<Option<Vec<u8>>, sled::Error> {
        let bytes = self.db.get(STATE_KEY)?.map(|b| b.to_vec());
        if let Some(bytes) = &bytes {
            self.written = bytes.clone();
        }
        Ok(bytes)
    }

    /// Stores the core's state if it changed, durably, before anything it decided is run.
    pub async fn save_state(&mut self, bytes: Vec<u8>) -> Result<(), sled::Error> {
        if bytes == self.written {
            return Ok(());
        }
        self.db.insert(STATE_KEY, bytes.as_slice())?;
        self.db.flush_async().await?;
        self.written = bytes;
        Ok(())
    }

    /// Appends a record durably (before it is shown), dropping the oldest beyond
    /// [`RECENT_ACTIONS`].
    pub async fn append(&self, record: &ActionRecord) -> Result<(), sled::Error> {
        let id = self.db.generate_id()?;
        self.actions.insert(id.to_be_bytes(), encode(record))?;
        while self.actions.len() > RECENT_ACTIONS {
            if self.actions.pop_min()?.is_none() {
                break;
            }
        }
        self.actions.flush_async().await?;
        Ok(())
    }

    /// The stored records, newest first; unreadable ones are skipped with a log line.
    pub fn recent(&self) -> Vec<ActionRecord> {
        let mut records = Vec::new();
        for entry in self.actions.iter().rev() {
            match entry {
                Ok((_, bytes)) => match decode(&bytes) {
                    Ok(record) => records.push(record),
                    Err(err) => tracing::warn!(error = %err, "stored action record skipped"),
                },
                Err(err) => {
                    tracing::warn!(error = %err, "reading stored action records");
                    break;
                }
            }
        }
        records
    }
}
