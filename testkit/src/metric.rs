//! The metric names the tests look for, re-exported from where cairn defines them. Tests name
//! metrics only through this module, so moving the definitions changes this file alone.

/// Counted by the detector core (also the keys of `cairn_core::metrics::Metrics`).
pub use cairn_core::metrics::names::{
    DUPLICATES, LOST, MESSAGES_COMPLETE, MESSAGES_IN_MEMORY, MESSAGES_SEEN, RETRACTED, STUCK,
    TRACE_GAPS,
};
/// Counted by the shell around it.
pub use cairn_shell::http::export::shell_names::{
    CHECKPOINT_FAILURES, PARTITIONS_ASSIGNED, PARTITIONS_RESTORED, READY, SESSION_RESTARTS,
    SNAPSHOT_FAILURES, TRACES_CONSUMED,
};
