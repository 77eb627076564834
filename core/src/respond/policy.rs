//! The responder's decisions: a small state machine per (cluster, group), fed with the
//! watch's incident records and with ticks, both carrying the time.
//!
//! Per group it remembers the incident it last saw open, the last incident it acted on (so
//! one incident is acted on once, even if its open record is seen again after a restart),
//! when it last relaunched the group (the `suppress_for` clock) and the relaunch waiting to
//! be verified. That memory is [`Responder::to_bytes`]; the shell stores it **before** it
//! runs what was decided, so a crash between the two can lose an action (then the verify
//! deadline escalates) but never repeat one.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::record::{ActionKind, ActionRecord};
use crate::model::Millis;
use crate::watch::incident::OpenIncident;
use crate::watch::{Incident, IncidentKind, Phase};

/// The version of the stored state this build writes and reads.
pub const STATE_FORMAT: u8 = 1;

/// Largest stored state accepted: a corrupt length never becomes a huge allocation.
const MAX_STATE_BYTES: usize = 16 << 20;

fn bincode_config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_STATE_BYTES>()
}

/// How the responder treats one group (from `[[respond.groups]]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GroupPolicy {
    /// Whether relaunching the group is safe; a stateful group only gets notices.
    pub stateless: bool,
    /// After a relaunch, how long a new incident of the group is escalated instead of
    /// relaunched again.
    pub suppress_for: Duration,
    /// After a relaunch, how long the incident may stay open before it is escalated.
    pub verify_within: Duration,
}

/// Which incident a decision is about: an open and its close share all three.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentRef {
    pub kind: IncidentKind,
    /// When the trouble began.
    pub since: Millis,
    /// The round that opened the incident: with (cluster, group), its identity.
    pub opened_at: Millis,
}

/// Why an action was decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// A stateless group's incident opened, with no relaunch within `suppress_for`.
    IncidentOpened,
    /// A stateful group's incident opened: never relaunched, a person is told.
    Stateful,
    /// The group's incident opened again within `suppress_for` of its last relaunch.
    StuckAgain,
    /// The incident was still open `verify_within` after the relaunch.
    StillStuck,
    /// The relaunch failed (non-zero exit, error status, timeout, could not start).
    ActionFailed,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::IncidentOpened => "incident_opened",
            Reason::Stateful => "stateful",
            Reason::StuckAgain => "stuck_again",
            Reason::StillStuck => "still_stuck",
            Reason::ActionFailed => "action_failed",
        }
    }
}

/// One thing the shell must do now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub cluster: String,
    pub group: String,
    pub action: ActionKind,
    pub reason: Reason,
    pub incident: IncidentRef,
    /// When it was decided.
    pub at: Millis,
}

/// (cluster, group).
type GroupKey = (String, String);

/// What the responder remembers of one group.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct GroupMemory {
    /// The group's incident while it is open.
    open: Option<IncidentRef>,
    /// `opened_at` of the last incident acted on.
    handled: Option<Millis>,
    /// When the group was last relaunched.
    last_relaunch: Option<Millis>,
    /// A relaunch waiting to be verified: (`opened_at` of its incident, deadline).
    verify: Option<(Millis, Millis)>,
    /// `opened_at` of the last incident escalated (one escalation per incident).
    escalated: Option<Millis>,
}

/// Why a stored state could not be read back.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum StateError {
    #[error("stored responder state is empty; expected a format byte and the state")]
    Empty,
    #[error(
        "stored responder state has format {found}, this build reads {STATE_FORMAT}; run the matching version or drop the stored state"
    )]
    Format { found: u8 },
    #[error("stored responder state does not decode ({0}); the record is corrupt")]
    Decode(String),
}

/// The responder: the policy of each configured group and what it remembers of each.
#[derive(Clone, Debug, PartialEq)]
pub struct Responder {
    policies: BTreeMap<(String, String), GroupPolicy>,
    memory: BTreeMap<(String, String), GroupMemory>,
}

impl Responder {
    /// A responder for these groups, remembering nothing yet.
    pub fn new(policies: impl IntoIterator<Item = ((String, String), GroupPolicy)>) -> Responder {
        Responder {
            policies: policies.into_iter().collect(),
            memory: BTreeMap::new(),
        }
    }

    /// Whether the responder acts on this group at all.
    pub fn covers(&self, cluster: &str, group: &str) -> bool {
        self.policies
            .contains_key(&(cluster.to_owned(), group.to_owned()))
    }

    /// An incident record of the watch, seen at `now`.
    pub fn on_incident(&mut self, incident: &Incident, now: Millis) -> Vec<Decision> {
        let reference = IncidentRef {
            kind: incident.kind,
            since: incident.since,
            opened_at: match incident.phase {
                Phase::Open => incident.at,
                // A close carries its own time; the open it ends is the one remembered.
                Phase::Close => 0,
            },
        };
        match incident.phase {
            Phase::Open => self.opened(&incident.cluster, &incident.group, reference, now),
            Phase::Close => {
                self.closed(&incident.cluster, &incident.group);
                Vec::new()
            }
        }
    }

    /// Time passed: relaunches whose incident is still open at their deadline are escalated.
    pub fn on_tick(&mut self, now: Millis) -> Vec<Decision> {
        let mut decisions = Vec::new();
        for ((cluster, group), memory) in &mut self.memory {
            let Some((opened_at, deadline)) = memory.verify else {
                continue;
            };
            if now < deadline {
                continue;
            }
            memory.verify = None;
            if let Some(open) = memory.open.filter(|o| o.opened_at == opened_at) {
                decisions.extend(escalate(
                    cluster,
                    group,
                    memory,
                    open,
                    Reason::StillStuck,
                    now,
                ));
            }
        }
        decisions
    }

    /// The relaunch of `decision` failed: it is escalated (once), never retried.
    pub fn on_failed(&mut self, decision: &Decision, now: Millis) -> Vec<Decision> {
        if decision.action != ActionKind::Relaunch {
            // A notice or an escalation that failed is counted by the shell; nobody is left
            // to escalate to.
            return Vec::new();
        }
        let key = (decision.cluster.clone(), decision.group.clone());
        let Some(memory) = self.memory.get_mut(&key) else {
            return Vec::new();
        };
        // A report about an incident the group has since left behind changes nothing now.
        if memory.handled != Some(decision.incident.opened_at) {
            return Vec::new();
        }
        if memory
            .verify
            .is_some_and(|(opened_at, _)| opened_at == decision.incident.opened_at)
        {
            memory.verify = None;
        }
        escalate(
            &key.0,
            &key.1,
            memory,
            decision.incident,
            Reason::ActionFailed,
            now,
        )
        .into_iter()
        .collect()
    }

    /// Brings the memory in line with the watch's open incidents at start (from its stored
    /// book): an open incident not acted on yet (the watch stopped between storing the book
    /// and storing this state) is acted on now; one that closed while the responder was not
    /// looking is forgotten.
    pub fn resume(&mut self, open: &[OpenIncident], now: Millis) -> Vec<Decision> {
        let mut decisions = Vec::new();
        let keys: Vec<(String, String)> = self.memory.keys().cloned().collect();
        for (cluster, group) in keys {
            let still_open = open
                .iter()
                .any(|o| o.cluster == cluster && o.group == group);
            if !still_open {
                self.closed(&cluster, &group);
            }
        }
        for incident in open {
            let reference = IncidentRef {
                kind: incident.kind,
                since: incident.since,
                opened_at: incident.opened_at,
            };
            decisions.extend(self.opened(&incident.cluster, &incident.group, reference, now));
        }
        decisions
    }

    /// What an instance did, read back from the actions topic (in the topic's order): brings
    /// the memory in line so that an instance that becomes active repeats none of it. Only
    /// ever moves the memory forward, so records already known change nothing.
    pub fn learn(&mut self, record: &ActionRecord) {
        let key = (record.cluster.clone(), record.group.clone());
        let Some(policy) = self.policies.get(&key).copied() else {
            return;
        };
        let memory = self.memory.entry(key).or_default();
        let opened_at = record.incident.opened_at;
        if memory.handled.is_some_and(|h| h > opened_at) {
            // About an incident older than the one already handled: nothing to learn.
            return;
        }
        memory.handled = Some(opened_at);
        match record.action {
            ActionKind::Notify => {}
            ActionKind::Relaunch => {
                memory.last_relaunch =
                    Some(memory.last_relaunch.map_or(record.at, |l| l.max(record.at)));
                if memory.escalated != Some(opened_at) {
                    memory.verify = Some((
                        opened_at,
                        record.at.saturating_add(millis(policy.verify_within)),
                    ));
                }
            }
            ActionKind::Escalate => {
                memory.escalated = Some(opened_at);
                if memory.verify.is_some_and(|(o, _)| o == opened_at) {
                    memory.verify = None;
                }
            }
        }
    }

    fn opened(
        &mut self,
        cluster: &str,
        group: &str,
        incident: IncidentRef,
        now: Millis,
    ) -> Vec<Decision> {
        let key = (cluster.to_owned(), group.to_owned());
        let Some(policy) = self.policies.get(&key).copied() else {
            return Vec::new();
        };
        let memory = self.memory.entry(key).or_default();
        memory.open = Some(incident);
        if memory.handled == Some(incident.opened_at) {
            return Vec::new();
        }
        memory.handled = Some(incident.opened_at);
        let decide = |action, reason| Decision {
            cluster: cluster.to_owned(),
            group: group.to_owned(),
            action,
            reason,
            incident,
            at: now,
        };
        if !policy.stateless {
            return vec![decide(ActionKind::Notify, Reason::Stateful)];
        }
        let suppressed = memory
            .last_relaunch
            .is_some_and(|last| now.saturating_sub(last) < millis(policy.suppress_for));
        if suppressed {
            return escalate(cluster, group, memory, incident, Reason::StuckAgain, now)
                .into_iter()
                .collect();
        }
        memory.last_relaunch = Some(now);
        memory.verify = Some((
            incident.opened_at,
            now.saturating_add(millis(policy.verify_within)),
        ));
        vec![decide(ActionKind::Relaunch, Reason::IncidentOpened)]
    }

    fn closed(&mut self, cluster: &str, group: &str) {
        if let Some(memory) = self.memory.get_mut(&(cluster.to_owned(), group.to_owned())) {
            memory.open = None;
            // The relaunch worked: the incident is over before its deadline.
            memory.verify = None;
        }
    }

    /// The stored form of what the responder remembers: a format byte, then bincode.
    pub fn to_bytes(&self) -> Vec<u8> {
        let entries: Vec<(&(String, String), &GroupMemory)> = self.memory.iter().collect();
        let mut bytes = vec![STATE_FORMAT];
        bytes.extend(
            bincode::serde::encode_to_vec(&entries, bincode_config())
                .expect("the responder state always encodes"),
        );
        bytes
    }

    /// Restores what [`Responder::to_bytes`] stored. Groups no longer configured are
    /// forgotten.
    pub fn restore(&mut self, bytes: &[u8]) -> Result<(), StateError> {
        let (&format, rest) = bytes.split_first().ok_or(StateError::Empty)?;
        if format != STATE_FORMAT {
            return Err(StateError::Format { found: format });
        }
        let (entries, _): (Vec<(GroupKey, GroupMemory)>, usize) =
            bincode::serde::decode_from_slice(rest, bincode_config())
                .map_err(|e| StateError::Decode(e.to_string()))?;
        self.memory = entries
            .into_iter()
            .filter(|(key, _)| self.policies.contains_key(key))
            .collect();
        Ok(())
    }
}

/// An escalation of `incident`, unless it was escalated already.
fn escalate(
    cluster: &str,
    group: &str,
    memory: &mut GroupMemory,
    incident: IncidentRef,
    reason: Reason,
    now: Millis,
) -> Option<Decision> {
    if memory.escalated == Some(incident.opened_at) {
        return None;
    }
    memory.escalated = Some(incident.opened_at);
    Some(Decision {
        cluster: cluster.to_owned(),
        group: group.to_owned(),
        action: ActionKind::Escalate,
        reason,
        incident,
        at: now,
    })
}

fn millis(duration: Duration) -> Millis {
    Millis::try_from(duration.as_millis()).unwrap_or(Millis::MAX)
}
