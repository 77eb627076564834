//! What cairn's integration tests (`tests/`) and the end-to-end bench (`benches/detect_e2e.rs`)
//! share, compiled once instead of once per test binary.
//!
//! Layout:
//! - [`kafka`]: the broker a test runs on: the real one named by `CAIRN_TEST_BROKERS`, or
//!   librdkafka's in-process mock cluster; topics, and `populate` with exact positions.
//! - [`canary`]: a `cairn canary` instance: its `cairn.toml` (`[canary]`), its process and its
//!   `/api/canary` answer, typed.
//! - [`control_plane`]: an HTTP control plane on 127.0.0.1 serving a lineage document that a
//!   test changes, breaks, slows down or fails while `cairn detect` reads it.
//! - [`cluster`]: the three-node cluster of the fault tests (`CAIRN_TEST_CLUSTER_BROKERS`, or a
//!   three-broker mock), with a node killed and brought back.
//! - [`load`]: traffic on a rate schedule and group members of a capped speed.
//! - [`names`]: random topic, group and id suffixes, so that tests never share state.
//! - [`config`]: a typed builder for the text of a `cairn.toml`.
//! - [`instance`]: one detector's directory and `cairn.toml`, with a free HTTP port.
//! - [`process`]: a handle on a running `cairn detect`: logs in files, `/readyz`, `/metrics`,
//!   SIGTERM, SIGKILL, memory.
//! - [`proxy`]: a loopback TCP proxy whose links a test cuts and heals.
//! - [`secured`]: the broker's SASL_SSL and SSL listeners (`CAIRN_TEST_SASL_BROKERS`, ...) as
//!   cluster sections, and the check that no secret shows in an output.
//! - [`prom`]: a scrape of `/metrics`, read with the parser `cairn score` uses.
//! - [`metric`]: the metric names tests look for, in one place.
//! - [`trace`]: a trace record with defaults and chained setters, and its wire bytes.
//! - [`watch`]: a `cairn watch` instance: its `cairn.toml` (`[clusters]`, `[http]`, `[watch]`),
//!   its store and HTTP port, and its process.
//! - [`webhook`]: a webhook receiver that keeps every JSON body POSTed to it.
//! - [`workdir`]: one test's directory, kept with its logs' last lines when the test fails.
//! - [`detect`]: the world of the `cairn detect` end-to-end tests: a three-hop stream played
//!   exactly ([`detect::pipeline`]), verdicts read back ([`detect::verdicts`]) and the core run
//!   in-process on the same traces ([`detect::reference`]).
//! - [`simulate`]: the world of the fault tests that run `cairn simulate` next to `cairn detect`
//!   and grade the result with `cairn score`.
//!
//! The path of the `cairn` binary is always given by the caller: integration tests and benches
//! of the root package have it as `env!("CARGO_BIN_EXE_cairn")`.

pub mod canary;
pub mod cluster;
pub mod config;
pub mod control_plane;
pub mod detect;
pub mod hostile;
pub mod instance;
pub mod kafka;
pub mod load;
pub mod metric;
pub mod names;
pub mod process;
pub mod prom;
pub mod proxy;
pub mod secured;
pub mod simulate;
pub mod trace;
pub mod watch;
pub mod webhook;
pub mod workdir;
