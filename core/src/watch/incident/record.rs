//! Incident records: the JSON published on the incidents topic, posted to webhooks and
//! listed by `/api/incidents` (`schemas/incident.schema.json`).
//!
//! Decoding ignores unknown fields, so a later cairn can add evidence without breaking
//! older readers; a record of another version is refused before its shape is judged.

use serde::{Deserialize, Serialize};

use crate::model::Millis;
use crate::watch::input::GroupState;
use crate::watch::report::PartitionReport;
use crate::watch::state::ConsumerState;

/// The version of the incident record this module reads and writes.
pub const VERSION: i64 = 1;

/// What an incident is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentKind {
    /// A partition of the group was stuck: unread records, no commit for a window.
    Stuck,
    /// Retention deleted records of a partition before the group read them.
    Expired,
}

impl IncidentKind {
    pub const ALL: [IncidentKind; 2] = [IncidentKind::Stuck, IncidentKind::Expired];

    pub fn as_str(self) -> &'static str {
        match self {
            IncidentKind::Stuck => "stuck",
            IncidentKind::Expired => "expired",
        }
    }

    /// The kind a partition state raises, if any.
    pub fn of(state: ConsumerState) -> Option<IncidentKind> {
        match state {
            ConsumerState::Stuck => Some(IncidentKind::Stuck),
            ConsumerState::Expired => Some(IncidentKind::Expired),
            _ => None,
        }
    }
}

/// Whether a record opens or closes its incident.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Open,
    Close,
}

/// One incident record. An open and its close share `cluster`, `group`, `kind` and `since`.
#[derive(Clone, Debug, PartialEq)]
pub struct Incident {
    pub phase: Phase,
    pub kind: IncidentKind,
    pub cluster: String,
    pub group: String,
    /// When the trouble began: the earliest stuck clock start or first expired round among
    /// the partitions that opened it (ms since the epoch).
    pub since: Millis,
    /// When this record was made: the round that opened or closed it (ms since the epoch).
    pub at: Millis,
    pub evidence: Evidence,
}

/// The offsets and times that justified the record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub group_state: GroupState,
    pub members: Option<u32>,
    /// Open: the partitions that were stuck or expired. Close: every partition the incident
    /// held, as this round saw them.
    pub partitions: Vec<PartitionEvidence>,
    /// Close: partitions the incident held that are gone (topic deleted, group deleted).
    #[serde(default)]
    pub gone: Vec<PartitionRef>,
}

/// One partition's offsets and times; null where the round could not read them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PartitionEvidence {
    pub topic: String,
    pub partition: i32,
    pub state: ConsumerState,
    #[serde(default)]
    pub committed: Option<i64>,
    #[serde(default)]
    pub log_start: Option<i64>,
    #[serde(default)]
    pub log_end: Option<i64>,
    #[serde(default)]
    pub lag_records: Option<i64>,
    #[serde(default)]
    pub lag_seconds: Option<f64>,
    #[serde(default)]
    pub stuck_since: Option<Millis>,
    #[serde(default)]
    pub last_commit_at: Option<Millis>,
    /// Offsets deleted unread (log start − committed); in a close record, the most the
    /// incident saw.
    #[serde(default)]
    pub expired_records: Option<i64>,
}

impl PartitionEvidence {
    pub fn from_report(p: &PartitionReport) -> Self {
        PartitionEvidence {
            topic: p.topic.to_string(),
            partition: p.partition,
            state: p.state,
            committed: p.committed.get(),
            log_start: p.log_start.get(),
            log_end: p.log_end.get(),
            lag_records: p.lag_records.get(),
            lag_seconds: p.lag_seconds.get(),
            stuck_since: p.stuck_since.get(),
            last_commit_at: p.last_commit_at.get(),
            expired_records: p.expired_records.get(),
        }
    }
}

/// A partition by name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionRef {
    pub topic: String,
    pub partition: i32,
}

/// Why [`decode`] rejected a record.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IncidentError {
    /// The bytes are not one JSON value.
    #[error("not JSON: {detail}")]
    NotJson { detail: String },
    /// JSON, but not the incident shape: a field is missing, of the wrong type or out of range.
    #[error("not an incident record: {detail}")]
    Invalid { detail: String },
    /// `v` is not a version this decoder understands.
    #[error("`v`: unsupported version {found}, expected 1")]
    UnsupportedVersion { found: i64 },
}

#[derive(Serialize)]
struct WireIncident<'a> {
    v: i64,
    incident: Phase,
    kind: IncidentKind,
    cluster: &'a str,
    group: &'a str,
    since: Millis,
    at: Millis,
    evidence: &'a Evidence,
}

#[derive(Deserialize)]
struct OwnedWireIncident {
    incident: Phase,
    kind: IncidentKind,
    cluster: String,
    group: String,
    since: Millis,
    at: Millis,
    evidence: Evidence,
}

#[derive(Deserialize)]
struct VersionProbe {
    v: i64,
}

/// Encodes an incident as one JSON object, fields in the contract's order.
pub fn encode(incident: &Incident) -> Vec<u8> {
    let wire = WireIncident {
        v: VERSION,
        incident: incident.phase,
        kind: incident.kind,
        cluster: &incident.cluster,
        group: &incident.group,
        since: incident.since,
        at: incident.at,
        evidence: &incident.evidence,
    };
    // Strings, integers, finite floats and unit enums under string keys: nothing can fail.
    serde_json::to_vec(&wire).expect("an incident of strings and numbers always serializes")
}

/// Decodes one incident record, checking the version first.
pub fn decode(bytes: &[u8]) -> Result<Incident, IncidentError> {
    let probe: VersionProbe = serde_json::from_slice(bytes).map_err(classify)?;
    if probe.v != VERSION {
        return Err(IncidentError::UnsupportedVersion { found: probe.v });
    }
    let wire: OwnedWireIncident = serde_json::from_slice(bytes).map_err(classify)?;
    let incident = Incident {
        phase: wire.incident,
        kind: wire.kind,
        cluster: wire.cluster,
        group: wire.group,
        since: wire.since,
        at: wire.at,
        evidence: wire.evidence,
    };
    check_ranges(&incident)?;
    Ok(incident)
}

fn classify(err: serde_json::Error) -> IncidentError {
    let detail = err.to_string();
    if err.is_syntax() || err.is_eof() {
        IncidentError::NotJson { detail }
    } else {
        IncidentError::Invalid { detail }
    }
}

/// What serde's types do not say: names are not empty, partitions and offsets not negative.
fn check_ranges(incident: &Incident) -> Result<(), IncidentError> {
    let invalid = |detail: String| Err(IncidentError::Invalid { detail });
    if incident.cluster.is_empty() || incident.group.is_empty() {
        return invalid("`cluster` and `group` must not be empty".into());
    }
    let refs = incident
        .evidence
        .partitions
        .iter()
        .map(|p| (&p.topic, p.partition))
        .chain(
            incident
                .evidence
                .gone
                .iter()
                .map(|p| (&p.topic, p.partition)),
        );
    for (topic, partition) in refs {
        if topic.is_empty() || partition < 0 {
            return invalid(format!(
                "evidence partition {topic:?}/{partition}: expected a topic name and a partition >= 0"
            ));
        }
    }
    for p in &incident.evidence.partitions {
        let offsets = [
            ("committed", p.committed),
            ("log_start", p.log_start),
            ("log_end", p.log_end),
            ("lag_records", p.lag_records),
            ("expired_records", p.expired_records),
        ];
        if let Some((field, Some(value))) = offsets.iter().find(|(_, v)| v.is_some_and(|v| v < 0)) {
            return invalid(format!(
                "evidence {}/{}: `{field}` = {value}, expected >= 0",
                p.topic, p.partition
            ));
        }
        if p.lag_seconds.is_some_and(|s| s < 0.0) {
            return invalid(format!(
                "evidence {}/{}: `lag_seconds` is negative",
                p.topic, p.partition
            ));
        }
    }
    Ok(())
}
