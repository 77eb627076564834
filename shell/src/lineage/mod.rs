//! The lineage `cairn detect` judges by, and where it came from: the file, or a control plane
//! that serves it over HTTP(S) and may change it while the job runs (`docs/control-plane.md`).
//!
//! - this file: [`LineageCell`], the lineage in use (replaced whole, read without locks by
//!   workers, the restorer and HTTP) with its version, source and the fetch status;
//! - [`fetch`]: one HTTP GET of the document, bounded in time and size;
//! - [`control_plane`]: the refresh loop: fetch, validate like the file, compile, apply; a
//!   failed, slow or invalid answer keeps the last good lineage (counted and logged).
//!
//! A worker compares the lineage its detectors were built on with the cell's by pointer on
//! every turn of its loop, and moves their messages onto a new one with
//! [`Detector::replan`](cairn_core::detector::Detector::replan).

pub mod control_plane;
pub mod fetch;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwapOption;
use cairn_core::config::Config;
use cairn_core::lineage::Lineage;
use cairn_core::model::Millis;
use parking_lot::Mutex;

/// Where the lineage in use came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LineageSource {
    /// The `[[streams]]` of the configuration file, for the life of the process.
    File,
    /// `[control_plane] url`.
    ControlPlane { url: String },
}

impl LineageSource {
    /// `file` or `control_plane`, as `/api/streams` says it.
    pub fn kind(&self) -> &'static str {
        match self {
            LineageSource::File => "file",
            LineageSource::ControlPlane { .. } => "control_plane",
        }
    }
}

/// One lineage as applied.
#[derive(Debug)]
pub struct Applied {
    pub lineage: Arc<Lineage>,
    /// The configuration with these streams (the file's clusters, timing and the rest).
    pub config: Config,
    /// The document's own `version`, else its ETag, else its content hash; `file` for a file.
    pub version: String,
    /// `sha256:<hex>` of the served document; `None` for a file.
    pub hash: Option<String>,
    /// The ETag the control plane sent with it, if any.
    pub etag: Option<String>,
    pub source: LineageSource,
    /// When it was applied (epoch milliseconds).
    pub applied_at: Millis,
    /// 1 for the first lineage of the process, then one more per change.
    pub generation: u64,
}

/// How the last fetches from the control plane went.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FetchStatus {
    /// The last fetch, whatever its outcome (epoch ms).
    pub last_attempt_at: Option<Millis>,
    /// The last fetch that got the lineage in use (applied or unchanged).
    pub last_success_at: Option<Millis>,
    /// The error of the last fetch that failed or served an invalid document, kept until a
    /// later fetch succeeds.
    pub last_error: Option<String>,
    pub last_error_at: Option<Millis>,
}

/// Fetches by outcome; see `cairn_control_plane_fetches_total`.
#[derive(Debug, Default)]
pub struct FetchCounters {
    pub applied: AtomicU64,
    pub unchanged: AtomicU64,
    pub failed: AtomicU64,
    pub invalid: AtomicU64,
}

impl FetchCounters {
    /// (outcome label, count), in export order.
    pub fn by_outcome(&self) -> [(&'static str, u64); 4] {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        [
            ("applied", get(&self.applied)),
            ("unchanged", get(&self.unchanged)),
            ("failed", get(&self.failed)),
            ("invalid", get(&self.invalid)),
        ]
    }
}

/// The lineage in use and how it got there; shared by the job and its HTTP face.
#[derive(Debug, Default)]
pub struct LineageCell {
    current: ArcSwapOption<Applied>,
    /// The control plane's URL when the lineage comes from one.
    control_plane: Option<String>,
    pub status: Mutex<FetchStatus>,
    pub counters: FetchCounters,
}

impl LineageCell {
    /// A cell holding the file's lineage for the life of the process.
    pub fn from_file(config: &Config, lineage: Lineage, now: Millis) -> LineageCell {
        let cell = LineageCell::default();
        cell.current.store(Some(Arc::new(Applied {
            lineage: Arc::new(lineage),
            config: config.clone(),
            version: "file".to_owned(),
            hash: None,
            etag: None,
            source: LineageSource::File,
            applied_at: now,
            generation: 1,
        })));
        cell
    }

    /// An empty cell that a control plane at `url` fills.
    pub fn awaiting(url: &str) -> LineageCell {
        LineageCell {
            control_plane: Some(url.to_owned()),
            ..LineageCell::default()
        }
    }

    /// The lineage in use; `None` until a control plane served a first valid one.
    pub fn current(&self) -> Option<Arc<Applied>> {
        self.current.load_full()
    }

    /// The control plane's URL, when the lineage comes from one.
    pub fn control_plane(&self) -> Option<&str> {
        self.control_plane.as_deref()
    }

    /// Puts `applied` in use (its generation is set here); returns it.
    pub fn apply(&self, mut applied: Applied) -> Arc<Applied> {
        applied.generation = self.current().map_or(1, |c| c.generation + 1);
        let applied = Arc::new(applied);
        self.current.store(Some(applied.clone()));
        applied
    }

    /// Why the job cannot judge yet for want of a lineage, if it cannot.
    pub fn waiting(&self) -> Option<String> {
        // Only a control plane is waited for: a file's lineage is there from the start.
        let url = self.control_plane.as_deref()?;
        if self.current.load().is_some() {
            return None;
        }
        let status = self.status.lock();
        Some(match &status.last_error {
            Some(error) => format!(
                "waiting for the first lineage from the control plane {url} (last attempt: {error})"
            ),
            None => format!("waiting for the first lineage from the control plane {url}"),
        })
    }
}
