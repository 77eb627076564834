//! Why a trace record was rejected, typed so that the shell can count by cause and log the field.

use crate::model::Kind;

/// Why [`decode`](super::decode) rejected a record. Display names the field and what was expected,
/// so that the log line alone tells an emitter's owner what to fix.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TraceError {
    /// The bytes are not one JSON value (syntax error, bad UTF-8, trailing data, nesting too deep).
    #[error("not JSON: {detail}")]
    NotJson { detail: String },
    /// Valid JSON, but not an object.
    #[error("expected a JSON object, found {found}")]
    NotAnObject { found: &'static str },
    /// A required field is absent.
    #[error("`{field}`: missing")]
    Missing { field: &'static str },
    /// A field appears twice; JSON parsers disagree on which one wins, so neither is trusted.
    #[error("`{field}`: appears more than once")]
    Duplicate { field: &'static str },
    /// A field holds a JSON value of the wrong type.
    #[error("`{field}`: expected {expected}, found {found}")]
    WrongType {
        field: &'static str,
        expected: &'static str,
        found: &'static str,
    },
    /// An integer field is larger than its type allows.
    #[error("`{field}`: out of range, expected an integer from 0 to {max}")]
    OutOfRange { field: &'static str, max: i64 },
    /// An offset, partition or timestamp is below zero.
    #[error("`{field}`: negative, expected an integer >= 0")]
    Negative { field: &'static str },
    /// A string field is empty.
    #[error("`{field}`: empty, expected a non-empty string")]
    Empty { field: &'static str },
    /// The id is longer than the contract allows.
    #[error("`id`: {len} bytes long, expected at most {max} bytes", max = super::MAX_ID_BYTES)]
    IdTooLong { len: usize },
    /// `location` is not `<cluster>/<topic>`.
    #[error("`location`: {found:?} is not of the form <cluster>/<topic>")]
    BadLocation { found: String },
    /// `kind` is a string but not one of the known kinds.
    #[error("`kind`: unknown kind {found:?}, expected \"sent\", \"received\" or \"filtered\"")]
    UnknownKind { found: String },
    /// A `received` or `filtered` trace without the consumer group that read the message.
    #[error("`group`: required for a `{}` trace (the consumer group that read the message)", kind.as_str())]
    GroupRequired { kind: Kind },
    /// A gap record (`"kind":"gap"`) that is not well formed.
    #[error("gap record: {detail}")]
    BadGap { detail: String },
    /// A gap record where only a trace is accepted (see `trace::decode_record`).
    #[error("`kind`: \"gap\" is a gap record, not a trace")]
    GapNotTrace,
    /// `v` is not a version this decoder understands.
    #[error("`v`: unsupported version {found}, expected 1")]
    UnsupportedVersion { found: i64 },
}

impl TraceError {
    /// The field the error is about, if it is about one field.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            TraceError::NotJson { .. }
            | TraceError::NotAnObject { .. }
            | TraceError::BadGap { .. } => None,
            TraceError::GapNotTrace => Some("kind"),
            TraceError::Missing { field }
            | TraceError::Duplicate { field }
            | TraceError::WrongType { field, .. }
            | TraceError::OutOfRange { field, .. }
            | TraceError::Negative { field }
            | TraceError::Empty { field } => Some(field),
            TraceError::IdTooLong { .. } => Some("id"),
            TraceError::BadLocation { .. } => Some("location"),
            TraceError::UnknownKind { .. } => Some("kind"),
            TraceError::GroupRequired { .. } => Some("group"),
            TraceError::UnsupportedVersion { .. } => Some("v"),
        }
    }

    /// A short, bounded name for the cause, fit for a metric label (never holds input data).
    pub fn kind_label(&self) -> &'static str {
        match self {
            TraceError::NotJson { .. } => "not_json",
            TraceError::NotAnObject { .. } => "not_an_object",
            TraceError::Missing { .. } => "missing_field",
            TraceError::Duplicate { .. } => "duplicate_field",
            TraceError::WrongType { .. } => "wrong_type",
            TraceError::OutOfRange { .. } => "out_of_range",
            TraceError::Negative { .. } => "negative",
            TraceError::Empty { .. } => "empty_field",
            TraceError::IdTooLong { .. } => "id_too_long",
            TraceError::BadLocation { .. } => "bad_location",
            TraceError::UnknownKind { .. } => "unknown_kind",
            TraceError::GroupRequired { .. } => "group_required",
            TraceError::UnsupportedVersion { .. } => "unsupported_version",
            TraceError::BadGap { .. } => "bad_gap",
            TraceError::GapNotTrace => "gap_not_trace",
        }
    }

    /// Every label [`kind_label`](Self::kind_label) can return, to pre-register metric series.
    pub const LABELS: [&'static str; 15] = [
        "not_json",
        "not_an_object",
        "missing_field",
        "duplicate_field",
        "wrong_type",
        "out_of_range",
        "negative",
        "empty_field",
        "id_too_long",
        "bad_location",
        "unknown_kind",
        "group_required",
        "unsupported_version",
        "bad_gap",
        "gap_not_trace",
    ];
}
