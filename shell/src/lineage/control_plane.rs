//! The refresh loop of `[control_plane]`: fetch the document, validate it exactly like the
//! `[[streams]]` of the file (the same code: `Config::with_served_streams`), compile it, and
//! apply it; anything else keeps the last good lineage.
//!
//! Each fetch ends in one outcome, counted in `cairn_control_plane_fetches_total{outcome}`:
//! `applied` (a new document, now in use), `unchanged` (the same bytes as the lineage in use),
//! `failed` (no answer, a connection error, a non-2xx status, a timeout, a body too large or
//! not UTF-8) or `invalid` (TOML or validation errors, which name the line or the field). The
//! last two are logged once each with their cause and kept for `/api/streams`.
//!
//! Until the first lineage arrives the job does not consume (it is not ready, and says why);
//! the fetch is tried again every `min(refresh, 5 s)` meanwhile, then every `refresh`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use cairn_core::config::{Config, ControlPlaneConfig, content_hash};
use cairn_core::lineage::{Lineage, LineageDiff};

use super::fetch::{self, FetchError};
use super::{Applied, LineageCell, LineageSource};
use crate::clock::now_millis;
use crate::events::{LineageApplied, LineageFetchFailed, LineageInvalid};

/// Retry interval before the first lineage, when `refresh` is longer.
const FIRST_RETRY_MAX: Duration = Duration::from_secs(5);

/// What one refresh did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A new lineage is in use: its generation.
    Applied(u64),
    Unchanged,
    Failed,
    Invalid,
}

/// Called with each lineage applied (the oracle's watches follow the lineage's groups).
pub type OnApplied = Box<dyn Fn(&Applied) + Send + Sync>;

/// Fetches the lineage from the control plane into a [`LineageCell`].
pub struct ControlPlane {
    /// The file's configuration: served streams are validated against its clusters and timing.
    base: Config,
    settings: ControlPlaneConfig,
    client: reqwest::Client,
    cell: Arc<LineageCell>,
    on_applied: OnApplied,
}

impl ControlPlane {
    /// `base` must have a `[control_plane]`; `cell` is where lineages go.
    pub fn new(
        base: Config,
        cell: Arc<LineageCell>,
        on_applied: OnApplied,
    ) -> Result<ControlPlane, FetchError> {
        let settings = base
            .control_plane
            .clone()
            .ok_or_else(|| FetchError::Request("no [control_plane] configured".to_owned()))?;
        Ok(ControlPlane {
            base,
            settings,
            client: fetch::client()?,
            cell,
            on_applied,
        })
    }

    /// Fetches once and applies what is new and valid.
    pub async fn refresh(&self) -> Outcome {
        let url = self.settings.url.as_str();
        let attempt_at = now_millis();
        self.cell.status.lock().last_attempt_at = Some(attempt_at);
        let current = self.cell.current();
        let keeps = current.as_ref().map(|c| c.version.as_str());
        let fetched = match fetch::fetch(&self.client, url, self.settings.timeout).await {
            Ok(fetched) => fetched,
            Err(error) => {
                LineageFetchFailed {
                    url,
                    error: &error,
                    keeps,
                }
                .emit(&self.cell.counters);
                self.note_error(error.to_string(), attempt_at);
                return Outcome::Failed;
            }
        };
        let hash = content_hash(&fetched.body);
        if current.as_ref().and_then(|c| c.hash.as_deref()) == Some(hash.as_str()) {
            self.cell.counters.unchanged.fetch_add(1, Ordering::Relaxed);
            self.note_success(attempt_at);
            return Outcome::Unchanged;
        }
        let compiled = self
            .base
            .with_served_streams(&fetched.body)
            .map_err(|e| e.to_string())
            .and_then(|served| {
                let lineage =
                    Lineage::compile(&served.config.streams).map_err(|e| e.to_string())?;
                Ok((served, lineage))
            });
        let (served, lineage) = match compiled {
            Ok(ok) => ok,
            Err(error) => {
                LineageInvalid {
                    url,
                    error: &error,
                    keeps,
                }
                .emit(&self.cell.counters);
                self.note_error(format!("invalid document: {error}"), attempt_at);
                return Outcome::Invalid;
            }
        };
        let diff = current
            .as_ref()
            .map(|c| LineageDiff::between(&c.lineage, &lineage));
        let version = served
            .version
            .clone()
            .or_else(|| fetched.etag.clone())
            .unwrap_or_else(|| short_hash(&hash));
        let applied = self.cell.apply(Applied {
            lineage: Arc::new(lineage),
            config: served.config,
            version,
            hash: Some(hash),
            etag: fetched.etag,
            source: LineageSource::ControlPlane {
                url: url.to_owned(),
            },
            applied_at: now_millis(),
            generation: 0,
        });
        (self.on_applied)(&applied);
        LineageApplied {
            applied: &applied,
            diff: diff.as_ref(),
        }
        .emit(&self.cell.counters);
        self.note_success(attempt_at);
        Outcome::Applied(applied.generation)
    }

    /// Refreshes until `stop`: quickly until a first lineage is in use, then every `refresh`.
    pub async fn run(self, stop: Arc<AtomicBool>) {
        while !stop.load(Ordering::Relaxed) {
            self.refresh().await;
            let wait = if self.cell.current().is_some() {
                self.settings.refresh
            } else {
                self.settings.refresh.min(FIRST_RETRY_MAX)
            };
            sleep_unless_stopped(wait, &stop).await;
        }
    }

    fn note_error(&self, error: String, at: cairn_core::model::Millis) {
        let mut status = self.cell.status.lock();
        status.last_error = Some(error);
        status.last_error_at = Some(at);
    }

    fn note_success(&self, at: cairn_core::model::Millis) {
        self.cell.status.lock().last_success_at = Some(at);
    }
}

/// `sha256:` and the first 12 hex digits: a version name short enough for a log line.
fn short_hash(hash: &str) -> String {
    hash.chars().take("sha256:".len() + 12).collect()
}

async fn sleep_unless_stopped(total: Duration, stop: &AtomicBool) {
    let step = Duration::from_millis(100);
    let mut slept = Duration::ZERO;
    while slept < total && !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(step.min(total - slept)).await;
        slept += step;
    }
}
