//! Incidents: one `open` and one `close` record per episode of trouble of a (cluster, group).
//!
//! Layout: `book` decides when an incident opens and closes and keeps the open ones (the
//! state the shell stores); `record` is the record and its JSON wire form
//! (`schemas/incident.schema.json`).

mod book;
mod record;

pub use book::{BOOK_FORMAT, BookError, HeldPartition, IncidentBook, MAX_BOOK_BYTES, OpenIncident};
pub use record::{
    Evidence, Incident, IncidentError, IncidentKind, PartitionEvidence, PartitionRef, Phase,
    VERSION, decode, encode,
};
