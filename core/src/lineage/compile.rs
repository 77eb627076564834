//! Compiling validated stream configs into plans: interning names, numbering
//! locations and apps per stream, adding hops, and refusing what would make a trace ambiguous.

use hashbrown::HashMap;

use super::{
    AppId, AppIx, GroupId, Hop, HopIx, HopRef, HopRole, Lineage, LineageError, LocIx, LocationId,
    MAX_PER_STREAM, PlanApp, PlanLocation, StreamId, StreamPlan, TimingMs,
};
use crate::config::{AppConfig, StreamConfig};

impl Lineage {
    /// Compiles validated stream configs. Fails on what would make a trace ambiguous.
    pub fn compile(streams: &[StreamConfig]) -> Result<Lineage, LineageError> {
        let mut lineage = Lineage::default();
        for config in streams {
            let id = StreamId(
                u16::try_from(lineage.streams.len()).map_err(|_| LineageError::TooManyStreams)?,
            );
            if lineage.stream_by_name.contains_key(config.name.as_str()) {
                return Err(LineageError::DuplicateStream(config.name.clone()));
            }
            let plan = lineage.compile_stream(id, config)?;
            lineage
                .stream_by_name
                .insert(config.name.as_str().into(), id);
            lineage.streams.push(plan);
        }
        Ok(lineage)
    }

    fn compile_stream(
        &mut self,
        id: StreamId,
        config: &StreamConfig,
    ) -> Result<StreamPlan, LineageError> {
        let too_large = |what| LineageError::TooLarge {
            stream: config.name.clone(),
            what,
        };
        if config.apps.len() > MAX_PER_STREAM {
            return Err(too_large("apps"));
        }
        let mut plan = StreamPlan {
            id,
            name: config.name.clone(),
            timing: TimingMs::from(&config.timing),
            sample_rate: config.sample_rate,
            locations: Vec::new(),
            apps: Vec::new(),
            hops: Vec::new(),
            readers: Vec::new(),
            location_by_name: HashMap::new(),
            app_by_name: HashMap::new(),
        };
        for (ix, app) in config.apps.iter().enumerate() {
            let app_ix = AppIx(u8::try_from(ix).map_err(|_| too_large("apps"))?);
            if plan
                .app_by_name
                .insert(app.app.as_str().into(), app_ix)
                .is_some()
            {
                return Err(LineageError::DuplicateApp {
                    stream: config.name.clone(),
                    app: app.app.clone(),
                });
            }
            let reads = match &app.reads {
                Some(loc) => Some(
                    self.location_in(&mut plan, &loc.name())
                        .ok_or_else(|| too_large("locations"))?,
                ),
                None => None,
            };
            let writes = match &app.writes {
                Some(loc) => Some(
                    self.location_in(&mut plan, &loc.name())
                        .ok_or_else(|| too_large("locations"))?,
                ),
                None => None,
            };
            let group = self.group_of(
                config,
                app,
                reads.map(|l| plan.locations[l.index()].name.as_str()),
            )?;
            let slot = match reads {
                Some(_) => {
                    let slot =
                        u8::try_from(plan.readers.len()).map_err(|_| too_large("readers"))?;
                    plan.readers.push(app_ix);
                    Some(slot)
                }
                None => None,
            };
            plan.apps.push(PlanApp {
                id: AppId(self.apps.intern(&app.app)),
                name: app.app.clone(),
                group,
                reads,
                writes,
                slot,
                read_hop: None,
                write_hop: None,
            });
        }
        self.check_shared_groups(&plan)?;
        add_hops(&mut plan);
        Ok(plan)
    }

    /// The location's index in `plan`, adding it on first use; `None` past the limit.
    fn location_in(&mut self, plan: &mut StreamPlan, name: &str) -> Option<LocIx> {
        if let Some(&ix) = plan.location_by_name.get(name) {
            return Some(ix);
        }
        let ix = LocIx(
            u8::try_from(plan.locations.len())
                .ok()
                .filter(|&i| usize::from(i) < MAX_PER_STREAM)?,
        );
        plan.locations.push(PlanLocation {
            id: LocationId(self.locations.intern(name)),
            name: name.to_owned(),
            readers: Vec::new(),
            writers: Vec::new(),
            gap_hop: None,
        });
        plan.location_by_name.insert(name.into(), ix);
        Some(ix)
    }

    fn group_of(
        &mut self,
        config: &StreamConfig,
        app: &AppConfig,
        reads: Option<&str>,
    ) -> Result<Option<(GroupId, String)>, LineageError> {
        match (&app.group, reads) {
            (Some(group), _) => Ok(Some((GroupId(self.groups.intern(group)), group.clone()))),
            (None, Some(location)) => Err(LineageError::ReaderWithoutGroup {
                stream: config.name.clone(),
                app: app.app.clone(),
                location: location.to_owned(),
            }),
            (None, None) => Ok(None),
        }
    }

    /// Two apps reading one location as one group would split its partitions between
    /// them: neither could be held to every message.
    fn check_shared_groups(&self, plan: &StreamPlan) -> Result<(), LineageError> {
        for (i, a) in plan.apps.iter().enumerate() {
            for b in &plan.apps[i + 1..] {
                if a.reads.is_some()
                    && a.reads == b.reads
                    && a.group.is_some()
                    && a.group == b.group
                {
                    let location = a
                        .reads
                        .map(|l| plan.locations[l.index()].name.clone())
                        .unwrap_or_default();
                    return Err(LineageError::SharedGroup {
                        stream: plan.name.clone(),
                        location,
                        group: a.group_name().unwrap_or_default().to_owned(),
                        first: a.name.clone(),
                        second: b.name.clone(),
                    });
                }
            }
        }
        Ok(())
    }
}

/// Adds one hop per read edge and one per write edge, and the reader/writer lists.
fn add_hops(plan: &mut StreamPlan) {
    for ix in 0..plan.apps.len() {
        let app_ix = AppIx(ix as u8);
        let (reads, writes, hop_app, group) = {
            let app = &plan.apps[ix];
            (
                app.reads,
                app.writes,
                app.name.clone(),
                app.group_name().map(str::to_owned),
            )
        };
        if let Some(loc) = reads {
            let hop = push_hop(plan, HopRole::Read, app_ix, loc, &hop_app, group.clone());
            plan.apps[ix].read_hop = Some(hop);
            plan.locations[loc.index()].readers.push(app_ix);
        }
        if let Some(loc) = writes {
            let hop = push_hop(plan, HopRole::Write, app_ix, loc, &hop_app, group);
            plan.apps[ix].write_hop = Some(hop);
            let location = &mut plan.locations[loc.index()];
            location.writers.push(app_ix);
            location.gap_hop.get_or_insert(hop);
        }
    }
}

fn push_hop(
    plan: &mut StreamPlan,
    role: HopRole,
    app: AppIx,
    location: LocIx,
    name: &str,
    group: Option<String>,
) -> HopIx {
    // At most two hops per app and at most 255 apps: fits u16.
    let ix = HopIx(plan.hops.len() as u16);
    plan.hops.push(Hop {
        role,
        app,
        location,
        hop_ref: HopRef {
            app: name.to_owned(),
            group,
            location: plan.locations[location.index()].name.clone(),
        },
    });
    ix
}
