//! The audit record of one responder action (`schemas/action.schema.json`): published on
//! `[respond] actions_topic` keyed by `<cluster>/<group>`, listed by `/api/actions`, and
//! POSTed to `[[respond.webhooks]]` for notices and escalations.
//!
//! Decoding ignores unknown fields and refuses any `v` other than 1, as the incident record.

use serde::{Deserialize, Serialize};

use super::policy::{IncidentRef, Reason};
use crate::model::Millis;

/// The version of the action record this module reads and writes.
pub const VERSION: i64 = 1;

/// Most bytes of a command's output (or an HTTP answer's body) kept in a record.
pub const MAX_OUTPUT_BYTES: usize = 4096;

/// What the responder did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// Ran the group's action (a command or an HTTP call) to relaunch it.
    Relaunch,
    /// Told a person about a stateful group's incident; nothing was run.
    Notify,
    /// Called a person: the relaunch did not help, was suppressed, or failed.
    Escalate,
}

impl ActionKind {
    pub const ALL: [ActionKind; 3] = [
        ActionKind::Relaunch,
        ActionKind::Notify,
        ActionKind::Escalate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Relaunch => "relaunch",
            ActionKind::Notify => "notify",
            ActionKind::Escalate => "escalate",
        }
    }
}

/// How the action ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The command exited 0, the HTTP call answered 2xx, every webhook took the record.
    Ok,
    /// A non-zero exit, an error status, a command that could not start, a webhook that
    /// refused the record after every retry.
    Failed,
    /// The command or the call ran past its timeout and was killed / abandoned.
    TimedOut,
    /// Nothing was to be run or called (no webhooks configured): the record is the action.
    Recorded,
}

impl Outcome {
    pub const ALL: [Outcome; 4] = [
        Outcome::Ok,
        Outcome::Failed,
        Outcome::TimedOut,
        Outcome::Recorded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Failed => "failed",
            Outcome::TimedOut => "timed_out",
            Outcome::Recorded => "recorded",
        }
    }
}

/// Through what the action was carried out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    Command,
    Http,
    Webhook,
    None,
}

/// One action, as audited.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionRecord {
    pub v: i64,
    pub action: ActionKind,
    pub cluster: String,
    pub group: String,
    /// When the action was decided and started (ms since the epoch).
    pub at: Millis,
    pub reason: Reason,
    pub incident: IncidentRef,
    pub outcome: Outcome,
    pub via: Via,
    /// The command's exit code; null for HTTP, webhooks, or a command killed or not started.
    pub exit_code: Option<i32>,
    /// The HTTP call's status; null otherwise.
    pub http_status: Option<u16>,
    /// From start to end (or to the timeout), in milliseconds.
    pub duration_ms: u64,
    /// The first [`MAX_OUTPUT_BYTES`] of stdout then stderr (or the HTTP answer's body),
    /// lossily decoded as UTF-8.
    pub output: String,
    /// Whether more output was produced than kept.
    pub output_truncated: bool,
    /// Why it failed, in words; null when it did not.
    pub error: Option<String>,
}

/// Why [`decode`] rejected a record.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ActionRecordError {
    #[error("not JSON: {detail}")]
    NotJson { detail: String },
    #[error("action record version {found} is not supported; this build reads version {VERSION}")]
    UnsupportedVersion { found: i64 },
    #[error("not an action record: {detail}")]
    Invalid { detail: String },
}

#[derive(Deserialize)]
struct VersionProbe {
    v: i64,
}

/// Encodes a record as one JSON object.
pub fn encode(record: &ActionRecord) -> Vec<u8> {
    serde_json::to_vec(record).expect("an action record of strings and numbers always serializes")
}

/// Decodes one record, checking the version first.
pub fn decode(bytes: &[u8]) -> Result<ActionRecord, ActionRecordError> {
    let classify = |err: serde_json::Error| {
        let detail = err.to_string();
        if err.is_syntax() || err.is_eof() {
            ActionRecordError::NotJson { detail }
        } else {
            ActionRecordError::Invalid { detail }
        }
    };
    let probe: VersionProbe = serde_json::from_slice(bytes).map_err(classify)?;
    if probe.v != VERSION {
        return Err(ActionRecordError::UnsupportedVersion { found: probe.v });
    }
    let record: ActionRecord = serde_json::from_slice(bytes).map_err(classify)?;
    if record.cluster.is_empty() || record.group.is_empty() {
        return Err(ActionRecordError::Invalid {
            detail: "`cluster` and `group` must not be empty".into(),
        });
    }
    // Kept bytes decode to at most one character each (a replacement mark included).
    if record.output.chars().count() > MAX_OUTPUT_BYTES {
        return Err(ActionRecordError::Invalid {
            detail: format!("`output` is longer than {MAX_OUTPUT_BYTES} characters"),
        });
    }
    Ok(record)
}

/// `bytes` cut to at most [`MAX_OUTPUT_BYTES`] and decoded lossily; whether it was cut.
pub fn bounded_output(bytes: &[u8]) -> (String, bool) {
    let cut = bytes.len() > MAX_OUTPUT_BYTES;
    let kept = &bytes[..bytes.len().min(MAX_OUTPUT_BYTES)];
    // A cut may split a UTF-8 sequence; keep the valid prefix rather than a replacement mark.
    let text = match std::str::from_utf8(kept) {
        Ok(text) => text.to_owned(),
        Err(err) if cut && err.error_len().is_none() => {
            String::from_utf8_lossy(&kept[..err.valid_up_to()]).into_owned()
        }
        Err(_) => String::from_utf8_lossy(kept).into_owned(),
    };
    (text, cut)
}
