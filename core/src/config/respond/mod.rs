//! `[respond]`: the first responder that `cairn watch` runs on its incidents. One
//! `[[respond.groups]]` entry per consumer group says whether it may be relaunched and how;
//! `actions_topic` and `[[respond.webhooks]]` say where the audit records and the calls for a
//! person go. `docs/respond.md` explains the policy; `schemas/cairn.example.toml` every key.

mod validate;

use std::time::Duration;

pub(super) use self::validate::section;
use super::{Location, Webhook};
use crate::respond::GroupPolicy;

/// The validated `[respond]` section; empty (no groups) when the file has none.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RespondSection {
    /// Where every action's audit record is published, if anywhere.
    pub actions_topic: Option<Location>,
    /// Where notices and escalations are POSTed (the audit record as JSON).
    pub webhooks: Vec<Webhook>,
    /// In file order, one per (cluster, group).
    pub groups: Vec<RespondGroup>,
}

/// One `[[respond.groups]]` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct RespondGroup {
    pub cluster: String,
    pub group: String,
    /// Whether relaunching is safe; a stateful group is only notified.
    pub stateless: bool,
    /// The relaunch; present for every stateless group (a stateful group's is never run).
    pub action: Option<RespondAction>,
    pub suppress_for: Duration,
    pub verify_within: Duration,
    /// How long the action may run before it is killed (a command) or abandoned (a call).
    pub timeout: Duration,
}

/// How a group is relaunched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RespondAction {
    /// A program and its arguments, run without a shell; the incident is on its stdin (JSON)
    /// and in `CAIRN_*` environment variables.
    Command(Vec<String>),
    /// An HTTP call; `body` is a template (see `docs/respond.md`), the incident JSON if none.
    Http {
        url: String,
        method: String,
        headers: Vec<(String, String)>,
        body: Option<String>,
    },
}

impl RespondSection {
    /// Without `suppress_for`: the talk the responder follows gives no figure; one hour.
    pub const DEFAULT_SUPPRESS_FOR: Duration = Duration::from_secs(3600);
    /// Without `timeout`.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
    /// Without `method`.
    pub const DEFAULT_METHOD: &'static str = "POST";

    /// The entry for `group` on `cluster`, if the responder acts on it.
    pub fn group(&self, cluster: &str, group: &str) -> Option<&RespondGroup> {
        self.groups
            .iter()
            .find(|g| g.cluster == cluster && g.group == group)
    }
}

impl RespondGroup {
    /// What the core's policy needs of the entry.
    pub fn policy(&self) -> GroupPolicy {
        GroupPolicy {
            stateless: self.stateless,
            suppress_for: self.suppress_for,
            verify_within: self.verify_within,
        }
    }
}

#[cfg(test)]
mod tests;
