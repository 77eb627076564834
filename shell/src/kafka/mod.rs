//! The Kafka shell: everything that talks to a broker.
//!
//! - [`client`]: librdkafka settings from a cluster's section of cairn.toml.
//! - [`offsets`]: committed offsets of any consumer group and partition watermarks, read by a
//!   client that never joins the group (the primitive behind the decision rule).

pub mod client;
pub mod offsets;
