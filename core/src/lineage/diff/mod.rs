//! What changed from one lineage to the next, by name: the facts a running detector needs to
//! move its messages onto a new lineage (see `detector::replan`) and the shell logs.
//!
//! An app is the same app in both lineages only when its name, group, `reads` and `writes` are
//! all the same: an app that now reads another location (or as another group) makes other
//! traces, so for the messages already in flight it is one app removed and one app added.

use super::{Lineage, PlanApp, StreamPlan};

/// The differences between two lineages, streams and apps by name, in the new lineage's
/// order (removed ones in the old lineage's order).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LineageDiff {
    /// Streams only the new lineage has: their messages start with their next traces.
    pub added_streams: Vec<String>,
    /// Streams only the old lineage had: the messages held for them are dropped from watch.
    pub removed_streams: Vec<String>,
    /// Streams in both whose apps, timing or sample rate differ.
    pub changed_streams: Vec<StreamChange>,
    /// (group, location) pairs the offsets oracle must start polling.
    pub groups_added: Vec<(String, String)>,
    /// (group, location) pairs no stream reads any more.
    pub groups_removed: Vec<(String, String)>,
}

/// How one stream changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamChange {
    pub stream: String,
    /// Apps the new plan has and the old one had not (or had reading or writing elsewhere):
    /// nothing is expected of them for the messages planned before the change.
    pub apps_added: Vec<String>,
    /// Apps the old plan had and the new one has not (or has changed): what messages in
    /// flight still expected of them is dropped from watch, counted, never judged.
    pub apps_removed: Vec<String>,
    /// Timing knobs or the sample rate changed: they apply from the next check of each message.
    pub settings_changed: bool,
}

impl LineageDiff {
    /// What changed from `old` to `new`.
    pub fn between(old: &Lineage, new: &Lineage) -> LineageDiff {
        let mut diff = LineageDiff::default();
        for plan in new.streams() {
            match old.stream_id(&plan.name).and_then(|id| old.stream(id)) {
                None => diff.added_streams.push(plan.name.clone()),
                Some(before) => {
                    let change = StreamChange::between(before, plan);
                    if !change.is_empty() {
                        diff.changed_streams.push(change);
                    }
                }
            }
        }
        diff.removed_streams = old
            .streams()
            .iter()
            .filter(|plan| new.stream_id(&plan.name).is_none())
            .map(|plan| plan.name.clone())
            .collect();
        let owned = |pairs: Vec<(&str, &str)>| -> Vec<(String, String)> {
            pairs
                .into_iter()
                .map(|(g, l)| (g.to_owned(), l.to_owned()))
                .collect()
        };
        let (before, after) = (owned(old.watched_groups()), owned(new.watched_groups()));
        diff.groups_added = after
            .iter()
            .filter(|p| !before.contains(p))
            .cloned()
            .collect();
        diff.groups_removed = before
            .iter()
            .filter(|p| !after.contains(p))
            .cloned()
            .collect();
        diff
    }

    /// Nothing changed that a detector or the oracle would notice.
    pub fn is_empty(&self) -> bool {
        self.added_streams.is_empty()
            && self.removed_streams.is_empty()
            && self.changed_streams.is_empty()
    }

    /// The change of stream `name`, if it changed.
    pub fn stream(&self, name: &str) -> Option<&StreamChange> {
        self.changed_streams.iter().find(|c| c.stream == name)
    }

    /// One line for a log: `+stream a; -stream b; c: +app x, -app y, settings`.
    pub fn summary(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        parts.extend(self.added_streams.iter().map(|s| format!("+stream {s}")));
        parts.extend(self.removed_streams.iter().map(|s| format!("-stream {s}")));
        for change in &self.changed_streams {
            let mut what: Vec<String> = Vec::new();
            what.extend(change.apps_added.iter().map(|a| format!("+app {a}")));
            what.extend(change.apps_removed.iter().map(|a| format!("-app {a}")));
            if change.settings_changed {
                what.push("settings".to_owned());
            }
            parts.push(format!("{}: {}", change.stream, what.join(", ")));
        }
        if parts.is_empty() {
            "no change".to_owned()
        } else {
            parts.join("; ")
        }
    }
}

impl StreamChange {
    /// How `new` differs from `old` (the same stream in two lineages).
    pub fn between(old: &StreamPlan, new: &StreamPlan) -> StreamChange {
        let same = |app: &PlanApp, plan: &StreamPlan, other: &StreamPlan| {
            other
                .app_ix(&app.name)
                .is_some_and(|ix| signature(plan, app) == signature(other, other.app(ix)))
        };
        StreamChange {
            stream: new.name.clone(),
            apps_added: new
                .apps()
                .iter()
                .filter(|app| !same(app, new, old))
                .map(|app| app.name.clone())
                .collect(),
            apps_removed: old
                .apps()
                .iter()
                .filter(|app| !same(app, old, new))
                .map(|app| app.name.clone())
                .collect(),
            settings_changed: old.timing != new.timing || old.sample_rate != new.sample_rate,
        }
    }

    fn is_empty(&self) -> bool {
        self.apps_added.is_empty() && self.apps_removed.is_empty() && !self.settings_changed
    }

    /// Whether `app` of the new plan is the same app as before (nothing is new about it).
    pub fn keeps(&self, app: &str) -> bool {
        !self.apps_added.iter().any(|a| a == app)
    }

    /// Whether `app` of the old plan is still there, unchanged.
    pub fn still_has(&self, app: &str) -> bool {
        !self.apps_removed.iter().any(|a| a == app)
    }
}

/// What makes an app the same app: its group and the locations it reads and writes.
fn signature<'a>(
    plan: &'a StreamPlan,
    app: &'a PlanApp,
) -> (Option<&'a str>, Option<&'a str>, Option<&'a str>) {
    let name = |ix: Option<super::LocIx>| ix.map(|ix| plan.location(ix).name.as_str());
    (app.group_name(), name(app.reads), name(app.writes))
}

impl StreamPlan {
    /// Whether a message's slots under `self` mean the same under `other`: the same
    /// locations and apps (names, groups, reads, writes) in the same order. Timing may differ.
    pub fn same_shape(&self, other: &StreamPlan) -> bool {
        fn locations(p: &StreamPlan) -> Vec<&str> {
            p.locations().iter().map(|l| l.name.as_str()).collect()
        }
        type Sig<'a> = (&'a str, (Option<&'a str>, Option<&'a str>, Option<&'a str>));
        fn apps(p: &StreamPlan) -> Vec<Sig<'_>> {
            p.apps()
                .iter()
                .map(|a| (a.name.as_str(), signature(p, a)))
                .collect()
        }
        locations(self) == locations(other) && apps(self) == apps(other)
    }
}

#[cfg(test)]
mod tests;
