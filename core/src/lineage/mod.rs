//! A stream's apps compiled into the traces each message must produce.
//!
//! [`Lineage::compile`] interns every name once (streams, apps, groups, locations become
//! small integers; location ids are global across streams) and builds, per stream, a
//! [`StreamPlan`]: which apps read and write which location, and the *hops* (one per
//! read edge and one per write edge) that verdicts and metrics are about.
//!
//! The plan is a rule, not a list: for every location L where a message has a `sent`,
//! each reader (app, group) of L must trace `received` at L, and each processor that
//! reads L and writes L2 must trace `sent` at L2, recursively. A `filtered` from a
//! processor drops the expectations of that processor's branch only.
//! [`StreamPlan::expected_from`] unrolls the rule for one entry point; the detector
//! applies it incrementally, as traces arrive (and takes a `received` or `filtered` at L
//! as placing the message there too when the `sent` trace is missing).
//!
//! Layout: `compile` turns configs into plans; `diff` says what changed from one lineage to
//! the next ([`LineageDiff`]); this module holds the plan types, the lookups from a trace's
//! strings to ids, and [`Lineage::resolve`].

mod compile;
mod diff;

use std::time::Duration;

use hashbrown::HashMap;
use thiserror::Error;

use crate::config::Timing;
use crate::model::{HopRef, Kind, Millis, Trace};

pub use self::diff::{LineageDiff, StreamChange};

/// Most locations and apps one stream may have: local indices are stored as `u8` in
/// every message's state.
pub const MAX_PER_STREAM: usize = 255;

/// A stream, by its position in the lineage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId(pub u16);

/// A location (`<cluster>/<topic>`), interned across all streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LocationId(pub u32);

/// A consumer group, interned across all streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupId(pub u32);

/// An app name, interned across all streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AppId(pub u32);

/// A location's index inside one stream's plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LocIx(pub u8);

/// An app's index inside one stream's plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AppIx(pub u8);

/// A hop's index inside one stream's plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HopIx(pub u16);

impl LocIx {
    /// The index as a `usize`, for slicing.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

impl AppIx {
    /// The index as a `usize`, for slicing.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

impl HopIx {
    /// The index as a `usize`, for slicing.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// Why a configuration cannot be compiled into a lineage.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum LineageError {
    #[error("stream `{0}` appears twice; stream names must be unique")]
    DuplicateStream(String),
    #[error("stream `{stream}`: app `{app}` appears twice; give each app one entry")]
    DuplicateApp { stream: String, app: String },
    #[error(
        "stream `{stream}`: apps `{first}` and `{second}` both read `{location}` as group `{group}`"
    )]
    SharedGroup {
        stream: String,
        location: String,
        group: String,
        first: String,
        second: String,
    },
    #[error("stream `{stream}`: app `{app}` reads `{location}` without a consumer group")]
    ReaderWithoutGroup {
        stream: String,
        app: String,
        location: String,
    },
    #[error("stream `{stream}` has more than {MAX_PER_STREAM} {what}; split it")]
    TooLarge { stream: String, what: &'static str },
    #[error("more than {} streams; split the configuration", u16::MAX)]
    TooManyStreams,
}

/// Why a trace could not be placed in the lineage. Each is a bounded metric label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rejection {
    /// No `[[streams]]` entry has the trace's stream name.
    UnknownStream,
    /// The stream has no app of that name.
    UnknownApp,
    /// The stream does not use that location.
    UnknownLocation,
    /// The app exists but does not read (received, filtered) or write (sent) that location.
    UnexpectedHop,
    /// A `received` without a group.
    MissingGroup,
    /// A `received` whose group is not the one the app reads with.
    UnknownGroup,
}

impl Rejection {
    /// Every reason, in export order.
    pub const ALL: [Rejection; 6] = [
        Rejection::UnknownStream,
        Rejection::UnknownApp,
        Rejection::UnknownLocation,
        Rejection::UnexpectedHop,
        Rejection::MissingGroup,
        Rejection::UnknownGroup,
    ];

    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Rejection::UnknownStream => "unknown_stream",
            Rejection::UnknownApp => "unknown_app",
            Rejection::UnknownLocation => "unknown_location",
            Rejection::UnexpectedHop => "unexpected_hop",
            Rejection::MissingGroup => "missing_group",
            Rejection::UnknownGroup => "unknown_group",
        }
    }
}

/// A trace placed in its stream's plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resolved {
    pub stream: StreamId,
    pub app: AppIx,
    pub location: LocIx,
    pub kind: Kind,
}

/// The timing knobs of a stream in milliseconds, as the detector uses them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimingMs {
    pub first_check: Millis,
    pub backoff: Millis,
    pub backoff_max: Millis,
    pub max_wait: Millis,
    pub confirmation_delay: Millis,
    pub dedup_window: Millis,
    pub max_offsets_age: Millis,
}

impl From<&Timing> for TimingMs {
    fn from(t: &Timing) -> Self {
        // Re-checks must move time forward, so every delay is at least 1 ms.
        let ms = |d: Duration| {
            Millis::try_from(d.as_millis())
                .unwrap_or(Millis::MAX)
                .max(1)
        };
        TimingMs {
            first_check: ms(t.first_check),
            backoff: ms(t.backoff),
            backoff_max: ms(t.backoff_max).max(ms(t.backoff)),
            max_wait: ms(t.max_wait),
            confirmation_delay: ms(t.confirmation_delay),
            dedup_window: ms(t.dedup_window),
            max_offsets_age: ms(t.max_offsets_age),
        }
    }
}

/// Whether a hop is an app reading a location or writing one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HopRole {
    /// The app, as its group, must trace `received` here.
    Read,
    /// The app must trace `sent` here.
    Write,
}

/// One edge of the lineage: what verdicts and per-hop metrics are about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hop {
    pub role: HopRole,
    pub app: AppIx,
    pub location: LocIx,
    /// The hop by name, as verdicts carry it. A write hop carries the app's group too
    /// (the group it read the message with), so that a processor's two hops differ by location.
    pub hop_ref: HopRef,
}

/// One location of a stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanLocation {
    pub id: LocationId,
    pub name: String,
    /// Apps that read this location, in config order.
    pub readers: Vec<AppIx>,
    /// Apps that write this location, in config order.
    pub writers: Vec<AppIx>,
    /// The write hop a missing `sent` here is charged to as a trace gap (the first writer).
    pub gap_hop: Option<HopIx>,
}

/// One app of a stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanApp {
    pub id: AppId,
    pub name: String,
    pub group: Option<(GroupId, String)>,
    pub reads: Option<LocIx>,
    pub writes: Option<LocIx>,
    /// The app's slot in a message's per-reader state (readers only).
    pub slot: Option<u8>,
    pub read_hop: Option<HopIx>,
    pub write_hop: Option<HopIx>,
}

impl PlanApp {
    /// Reads one location and writes another.
    pub fn is_processor(&self) -> bool {
        self.reads.is_some() && self.writes.is_some()
    }

    /// The consumer group the app reads with.
    pub fn group_name(&self) -> Option<&str> {
        self.group.as_ref().map(|(_, name)| name.as_str())
    }
}

/// One trace the plan expects for a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Expected {
    Received { app: AppIx, location: LocIx },
    Sent { app: AppIx, location: LocIx },
}

/// One stream, compiled.
#[derive(Clone, Debug)]
pub struct StreamPlan {
    pub id: StreamId,
    pub name: String,
    pub timing: TimingMs,
    pub sample_rate: f64,
    locations: Vec<PlanLocation>,
    apps: Vec<PlanApp>,
    hops: Vec<Hop>,
    /// Slot → app, for the apps that read.
    readers: Vec<AppIx>,
    location_by_name: HashMap<Box<str>, LocIx>,
    app_by_name: HashMap<Box<str>, AppIx>,
}

impl StreamPlan {
    /// Every location of the stream, by `LocIx`.
    pub fn locations(&self) -> &[PlanLocation] {
        &self.locations
    }

    /// One location; `ix` must come from this plan.
    pub fn location(&self, ix: LocIx) -> &PlanLocation {
        &self.locations[ix.index()]
    }

    /// Every app of the stream, by `AppIx`.
    pub fn apps(&self) -> &[PlanApp] {
        &self.apps
    }

    /// One app; `ix` must come from this plan.
    pub fn app(&self, ix: AppIx) -> &PlanApp {
        &self.apps[ix.index()]
    }

    /// Every hop of the stream, by `HopIx`.
    pub fn hops(&self) -> &[Hop] {
        &self.hops
    }

    /// One hop; `ix` must come from this plan.
    pub fn hop(&self, ix: HopIx) -> &Hop {
        &self.hops[ix.index()]
    }

    /// The apps that read, by state slot.
    pub fn readers(&self) -> &[AppIx] {
        &self.readers
    }

    /// The location named `<cluster>/<topic>`, if the stream uses it.
    pub fn location_ix(&self, name: &str) -> Option<LocIx> {
        self.location_by_name.get(name).copied()
    }

    /// The app of that name, if the stream has it.
    pub fn app_ix(&self, name: &str) -> Option<AppIx> {
        self.app_by_name.get(name).copied()
    }

    /// Every trace a message that enters at `entry` (a `sent` there) must produce, when
    /// the processors in `filtered` drop it on purpose. Sorted, without repeats.
    pub fn expected_from(&self, entry: LocIx, filtered: &[AppIx]) -> Vec<Expected> {
        let mut expected = Vec::new();
        let mut reached = vec![false; self.locations.len()];
        let mut queue = vec![entry];
        reached[entry.index()] = true;
        while let Some(loc) = queue.pop() {
            for &reader in &self.locations[loc.index()].readers {
                expected.push(Expected::Received {
                    app: reader,
                    location: loc,
                });
                let app = &self.apps[reader.index()];
                if let Some(next) = app.writes.filter(|_| !filtered.contains(&reader)) {
                    expected.push(Expected::Sent {
                        app: reader,
                        location: next,
                    });
                    if !reached[next.index()] {
                        reached[next.index()] = true;
                        queue.push(next);
                    }
                }
            }
        }
        expected.sort_unstable();
        expected.dedup();
        expected
    }
}

/// Names interned to dense ids.
#[derive(Clone, Debug, Default)]
struct Names {
    names: Vec<Box<str>>,
    by_name: HashMap<Box<str>, u32>,
}

impl Names {
    fn intern(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.by_name.get(name) {
            return id;
        }
        // Bounded by config size, which is far below u32::MAX.
        let id = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        self.names.push(name.into());
        self.by_name.insert(name.into(), id);
        id
    }

    fn get(&self, name: &str) -> Option<u32> {
        self.by_name.get(name).copied()
    }

    fn name(&self, id: u32) -> Option<&str> {
        self.names.get(id as usize).map(|n| &**n)
    }
}

/// Every stream of the configuration, compiled, with lookups from a trace's strings to ids.
#[derive(Clone, Debug, Default)]
pub struct Lineage {
    streams: Vec<StreamPlan>,
    stream_by_name: HashMap<Box<str>, StreamId>,
    locations: Names,
    groups: Names,
    apps: Names,
}

impl Lineage {
    /// Every stream, by `StreamId`.
    pub fn streams(&self) -> &[StreamPlan] {
        &self.streams
    }

    /// One stream by id.
    pub fn stream(&self, id: StreamId) -> Option<&StreamPlan> {
        self.streams.get(usize::from(id.0))
    }

    /// The stream of that name.
    pub fn stream_id(&self, name: &str) -> Option<StreamId> {
        self.stream_by_name.get(name).copied()
    }

    /// The global id of a location (the same in every stream).
    pub fn location_id(&self, name: &str) -> Option<LocationId> {
        self.locations.get(name).map(LocationId)
    }

    /// The `<cluster>/<topic>` of a location id.
    pub fn location_name(&self, id: LocationId) -> Option<&str> {
        self.locations.name(id.0)
    }

    /// The global id of a consumer group.
    pub fn group_id(&self, name: &str) -> Option<GroupId> {
        self.groups.get(name).map(GroupId)
    }

    /// The name of a group id.
    pub fn group_name(&self, id: GroupId) -> Option<&str> {
        self.groups.name(id.0)
    }

    /// The global id of an app name.
    pub fn app_id(&self, name: &str) -> Option<AppId> {
        self.apps.get(name).map(AppId)
    }

    /// The name of an app id.
    pub fn app_name(&self, id: AppId) -> Option<&str> {
        self.apps.name(id.0)
    }

    /// Every (group, location) pair the offsets oracle must poll, without repeats.
    pub fn watched_groups(&self) -> Vec<(&str, &str)> {
        let mut pairs: Vec<(&str, &str)> = self
            .streams
            .iter()
            .flat_map(|plan| {
                plan.apps.iter().filter_map(|app| {
                    let location = &plan.locations[app.reads?.index()].name;
                    Some((app.group_name()?, location.as_str()))
                })
            })
            .collect();
        pairs.sort_unstable();
        pairs.dedup();
        pairs
    }

    /// Places a trace in its stream's plan, or says (as a bounded label) why it cannot.
    pub fn resolve(&self, trace: &Trace<'_>) -> Result<Resolved, Rejection> {
        let stream = self
            .stream_id(&trace.stream)
            .ok_or(Rejection::UnknownStream)?;
        let plan = &self.streams[usize::from(stream.0)];
        let app_ix = plan.app_ix(&trace.app).ok_or(Rejection::UnknownApp)?;
        let location = plan
            .location_ix(&trace.location)
            .ok_or(Rejection::UnknownLocation)?;
        let app = &plan.apps[app_ix.index()];
        match trace.kind {
            Kind::Sent if app.writes != Some(location) => return Err(Rejection::UnexpectedHop),
            Kind::Received | Kind::Filtered if app.reads != Some(location) => {
                return Err(Rejection::UnexpectedHop);
            }
            Kind::Received => match &trace.group {
                None => return Err(Rejection::MissingGroup),
                Some(group) if Some(&**group) != app.group_name() => {
                    return Err(Rejection::UnknownGroup);
                }
                Some(_) => {}
            },
            _ => {}
        }
        Ok(Resolved {
            stream,
            app: app_ix,
            location,
            kind: trace.kind,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests;
