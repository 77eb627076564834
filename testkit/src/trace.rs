//! A trace record with defaults and chained setters, and its wire bytes.
//!
//! ```
//! use cairn_core::model::Kind;
//! use cairn_testkit::trace::TraceBuilder;
//!
//! let bytes = TraceBuilder::new("m-1")
//!     .kind(Kind::Received)
//!     .app("enricher")
//!     .group("g1")
//!     .at(2, 40)
//!     .encode();
//! let trace = cairn_core::trace::decode(&bytes).unwrap();
//! assert_eq!((trace.partition, trace.offset), (2, 40));
//! ```

use std::borrow::Cow;

use cairn_core::model::{Kind, Millis, Trace};
use cairn_shell::clock::now_millis;

/// Builds one [`Trace`]. Defaults: a `sent` of stream `orders` by app `api` at
/// `local/t1` partition 0 offset 0, no group, stamped now.
#[derive(Clone, Debug)]
pub struct TraceBuilder<'a> {
    trace: Trace<'a>,
}

impl<'a> TraceBuilder<'a> {
    pub fn new(id: impl Into<Cow<'a, str>>) -> TraceBuilder<'a> {
        TraceBuilder {
            trace: Trace {
                id: id.into(),
                stream: "orders".into(),
                kind: Kind::Sent,
                location: "local/t1".into(),
                partition: 0,
                offset: 0,
                app: "api".into(),
                group: None,
                ts: now_millis(),
            },
        }
    }

    pub fn stream(mut self, stream: impl Into<Cow<'a, str>>) -> Self {
        self.trace.stream = stream.into();
        self
    }

    pub fn kind(mut self, kind: Kind) -> Self {
        self.trace.kind = kind;
        self
    }

    /// `<cluster>/<topic>`.
    pub fn location(mut self, location: impl Into<Cow<'a, str>>) -> Self {
        self.trace.location = location.into();
        self
    }

    /// Where the message sits at the location.
    pub fn at(mut self, partition: i32, offset: i64) -> Self {
        self.trace.partition = partition;
        self.trace.offset = offset;
        self
    }

    pub fn app(mut self, app: impl Into<Cow<'a, str>>) -> Self {
        self.trace.app = app.into();
        self
    }

    /// The consumer group the app read with.
    pub fn group(mut self, group: impl Into<Cow<'a, str>>) -> Self {
        self.trace.group = Some(group.into());
        self
    }

    /// The group, or none (a producer's `sent`).
    pub fn maybe_group(mut self, group: Option<impl Into<Cow<'a, str>>>) -> Self {
        self.trace.group = group.map(Into::into);
        self
    }

    /// The emitter's clock, in milliseconds since the epoch.
    pub fn ts(mut self, ts: Millis) -> Self {
        self.trace.ts = ts;
        self
    }

    pub fn build(self) -> Trace<'a> {
        self.trace
    }

    /// The record's bytes on the tracing topic (`cairn_core::trace::encode`).
    pub fn encode(&self) -> Vec<u8> {
        cairn_core::trace::encode(&self.trace)
    }
}
