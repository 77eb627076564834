//! What the watch reports about itself: each event logs one structured line and bumps its
//! counter together (as `crate::events` does for detect).

use std::fmt::Display;
use std::sync::atomic::Ordering;

use super::view::WatchCounters;

/// A read of a round failed; what it should have read is unknown this round.
pub struct ReadFailed<'a> {
    pub cluster: &'a str,
    /// `groups`, `metadata`, `committed`, `watermarks` or `first_unread`.
    pub operation: &'static str,
    pub error: &'a dyn Display,
}

impl ReadFailed<'_> {
    pub fn emit(&self, counters: &WatchCounters) {
        WatchCounters::add(&counters.read_errors, self.cluster, self.operation, 1);
        tracing::warn!(cluster = self.cluster, operation = self.operation, error = %self.error, "watch read failed");
    }
}

/// A webhook did not take an incident record after every retry.
pub struct WebhookFailed<'a> {
    pub url: &'a str,
    pub attempts: u32,
    pub error: &'a dyn Display,
}

impl WebhookFailed<'_> {
    pub fn emit(&self, counters: &WatchCounters) {
        counters.webhook_failures.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(url = self.url, attempts = self.attempts, error = %self.error, "incident webhook failed");
    }
}

/// The incident topic did not take an incident record.
pub struct PublishFailed<'a> {
    pub cluster: &'a str,
    pub group: &'a str,
    pub error: &'a dyn Display,
}

impl PublishFailed<'_> {
    pub fn emit(&self) {
        tracing::error!(cluster = self.cluster, group = self.group, error = %self.error, "incident record not published");
    }
}

/// An incident record left unpublished on purpose (this instance stopped acting).
pub struct NotPublished<'a> {
    pub incident: &'a cairn_core::watch::Incident,
    pub reason: &'static str,
}

impl NotPublished<'_> {
    pub fn emit(&self) {
        tracing::info!(
            cluster = self.incident.cluster,
            group = self.incident.group,
            phase = ?self.incident.phase,
            reason = self.reason,
            "incident record not published"
        );
    }
}
