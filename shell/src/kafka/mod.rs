//! The Kafka shell: everything that talks to a broker.
//!
//! - [`client`]: librdkafka settings from a cluster's section of cairn.toml.
//! - [`offsets`]: committed offsets of any consumer group and partition watermarks, read by a
//!   client that never joins the group (the primitive behind the decision rule).
//! - [`probe`]: the first contact with a cluster at start; a refused login or certificate stops
//!   the start with one line naming the cluster and the cause.

pub mod client;
pub mod offsets;
pub mod probe;
