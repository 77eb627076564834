//! Incidents: one `open` and one `close` record per episode of trouble of a (cluster, group).
//!
//! Layout: `book` decides when an incident opens and closes and keeps the open ones (the
//! state the shell stores); `record` is the record and its JSON wire form
//! (`schemas/incident.schema.json`); `reconcile` squares the book with the incidents topic
//! when an instance becomes the active one.

mod book;
mod reconcile;
mod record;

pub use book::{BOOK_FORMAT, BookError, HeldPartition, IncidentBook, MAX_BOOK_BYTES, OpenIncident};
pub use reconcile::{PublishedIncidents, Reconciliation};
pub use record::{
    Evidence, Incident, IncidentError, IncidentKind, PartitionEvidence, PartitionRef, Phase,
    VERSION, decode, encode,
};
