//! Each app's own record of what it did, written as it goes (one JSONL file per app under
//! `<out>/ledger/`): readers log what they consumed and traced, writers log every produce
//! acknowledgement. The ground truth is rebuilt from these files and the topics, not from the
//! fault injector's intentions. A sink's ledger is its output: the records it "stored".

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

/// What the app did with the message at location/partition/offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Read it and traced `received` (whatever it then did with it).
    Received,
    /// Read it and filtered it on purpose (traced `filtered`).
    Filtered,
    /// Wrote it; the broker acknowledged it here.
    Acked,
}

/// One line of a ledger.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub id: String,
    pub action: Action,
    pub location: String,
    pub partition: i32,
    pub offset: i64,
}

/// An app's ledger file, shared by its threads.
#[derive(Clone)]
pub struct Ledger {
    path: PathBuf,
    out: Arc<Mutex<BufWriter<File>>>,
}

impl Ledger {
    /// Creates (truncates) `<dir>/<app>.jsonl`.
    pub fn create(dir: &Path, app: &str) -> std::io::Result<Ledger> {
        let path = dir.join(format!("{app}.jsonl"));
        let file = File::create(&path)?;
        Ok(Ledger {
            path,
            out: Arc::new(Mutex::new(BufWriter::new(file))),
        })
    }

    pub fn record(&self, entry: &Entry) -> std::io::Result<()> {
        let mut out = self.out.lock();
        serde_json::to_writer(&mut *out, entry)?;
        out.write_all(b"\n")
    }

    pub fn flush(&self) -> std::io::Result<()> {
        self.out.lock().flush()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Reads a ledger file back; a bad line is an error naming the file and line.
pub fn read(path: &Path) -> anyhow::Result<Vec<Entry>> {
    let file = File::open(path)
        .map_err(|err| anyhow::anyhow!("opening ledger {}: {err}", path.display()))?;
    let mut entries = Vec::new();
    for (ix, line) in BufReader::new(file).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let entry = serde_json::from_str(&line)
            .map_err(|err| anyhow::anyhow!("ledger {} line {}: {err}", path.display(), ix + 1))?;
        entries.push(entry);
    }
    Ok(entries)
}
