//! `/metrics` of the watch: the `cairn_watch_*` families of the catalog, from the latest
//! report of each cluster and the watch's counters.

use std::sync::atomic::Ordering;

use cairn_core::metrics::catalog::{
    WATCH_ACTIVE, WATCH_GROUP_STATE, WATCH_INCIDENTS_CLOSED, WATCH_INCIDENTS_OPENED,
    WATCH_LAG_RECORDS, WATCH_LAG_SECONDS, WATCH_LAST_COMMIT_AGE, WATCH_ODD_TIMESTAMPS,
    WATCH_READ_ERRORS, WATCH_ROLE_SINCE, WATCH_ROUNDS, WATCH_WEBHOOK_FAILURES,
};
use cairn_core::metrics::exposition::Exposition;
use cairn_core::watch::ConsumerState;

use super::view::WatchView;

/// The Prometheus text of everything the watch exports.
pub fn render(view: &WatchView) -> String {
    let mut out = Exposition::new();
    for cluster in &view.clusters {
        let name = cluster.name.as_str();
        out.counter(
            &WATCH_ROUNDS,
            &[("cluster", name)],
            cluster.rounds.load(Ordering::Relaxed),
        );
        let latest = cluster.latest.lock();
        for group in latest.iter().flat_map(|r| &r.groups) {
            let s = &group.summary;
            let labels = [("cluster", name), ("group", s.group.as_str())];
            if let Some(lag) = s.lag_records {
                out.gauge(&WATCH_LAG_RECORDS, &labels, lag as f64);
            }
            if let Some(lag) = s.lag_seconds {
                out.gauge(&WATCH_LAG_SECONDS, &labels, lag);
            }
            if let Some(age) = s.last_commit_age_seconds {
                out.gauge(&WATCH_LAST_COMMIT_AGE, &labels, age);
            }
            for state in ConsumerState::ALL {
                let flag = if state == s.state { 1.0 } else { 0.0 };
                let labels = [
                    ("cluster", name),
                    ("group", s.group.as_str()),
                    ("state", state.as_str()),
                ];
                out.gauge(&WATCH_GROUP_STATE, &labels, flag);
            }
        }
    }
    let counters = &view.counters;
    for (def, map) in [
        (&WATCH_READ_ERRORS, &counters.read_errors),
        (&WATCH_INCIDENTS_OPENED, &counters.opened),
        (&WATCH_INCIDENTS_CLOSED, &counters.closed),
        (&WATCH_ODD_TIMESTAMPS, &counters.odd_timestamps),
    ] {
        let second = def.labels[1];
        for ((cluster, label), value) in map.lock().iter() {
            out.counter(def, &[("cluster", cluster), (second, label)], *value);
        }
    }
    out.counter(
        &WATCH_WEBHOOK_FAILURES,
        &[],
        counters.webhook_failures.load(Ordering::Relaxed),
    );
    let role = view.leader.status();
    let active = if view.leader.is_active() { 1.0 } else { 0.0 };
    out.gauge(&WATCH_ACTIVE, &[], active);
    out.gauge(&WATCH_ROLE_SINCE, &[], role.since as f64 / 1_000.0);
    out.render()
}
