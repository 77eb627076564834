//! The Kafka shell: everything that talks to a broker.
//!
//! - [`client`]: librdkafka settings from a cluster's section of cairn.toml.
//! - [`offsets`]: committed offsets of any consumer group and partition watermarks, read by a
//!   client that never joins the group (the primitive behind the decision rule).
//! - [`verdicts`]: the lost-messages topic producer (keyed by id, `acks=all`, idempotent).

pub mod client;
pub mod offsets;
pub mod verdicts;
