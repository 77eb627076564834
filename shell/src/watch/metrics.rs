//! `/metrics` of the watch: the `cairn_watch_*` families of the catalog, from the latest
//! report of each cluster and the watch's counters.

use std::sync::atomic::Ordering;

use cairn_core::metrics::catalog::{
    RESPOND_ACTION_FAILURES, RESPOND_ACTIONS, RESPOND_AUDIT_FAILURES, SCALE_CLAMPED_FORECASTS,
    SCALE_HOOK_RUNS, SCALE_RECOMMENDED_INSTANCES, WATCH_ACTIVE, WATCH_GROUP_STATE,
    WATCH_INCIDENTS_CLOSED, WATCH_INCIDENTS_OPENED, WATCH_LAG_RECORDS, WATCH_LAG_SECONDS,
    WATCH_LAST_COMMIT_AGE, WATCH_LONG_REBALANCES, WATCH_ODD_TIMESTAMPS,
    WATCH_PARTITION_LAG_RECORDS, WATCH_PARTITION_LAG_SECONDS, WATCH_READ_ERRORS,
    WATCH_READERS_LOST, WATCH_RETENTION_HEADROOM, WATCH_ROLE_SINCE, WATCH_ROUND_DURATION,
    WATCH_ROUNDS, WATCH_TOPIC_CHANGES, WATCH_WEBHOOK_FAILURES,
};
use cairn_core::metrics::exposition::Exposition;
use cairn_core::watch::{ConsumerState, GroupReport};

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
        let took = cluster.last_round_micros.load(Ordering::Relaxed);
        if took > 0 {
            out.gauge(
                &WATCH_ROUND_DURATION,
                &[("cluster", name)],
                took as f64 / 1e6,
            );
        }
        let latest = cluster.latest.lock();
        let headroom = cluster.headroom.lock();
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
            if let Some(headroom) = headroom.get(&s.group) {
                out.gauge(&WATCH_RETENTION_HEADROOM, &labels, *headroom);
            }
            if view.partition_metrics {
                partition_lags(&mut out, name, group);
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
    for cluster in &view.clusters {
        let name = cluster.name.as_str();
        for advice in cluster.scale.lock().iter() {
            if let Some(n) = advice.recommendation {
                let labels = [("cluster", name), ("group", advice.group.as_str())];
                out.gauge(&SCALE_RECOMMENDED_INSTANCES, &labels, f64::from(n));
            }
        }
    }
    for ((cluster, group), value) in view.counters.clamped_forecasts.lock().iter() {
        let labels = [("cluster", cluster.as_str()), ("group", group.as_str())];
        out.counter(&SCALE_CLAMPED_FORECASTS, &labels, *value);
    }
    for ((cluster, group, outcome), value) in view.counters.scale_hooks.lock().iter() {
        let labels = [
            ("cluster", cluster.as_str()),
            ("group", group.as_str()),
            ("outcome", *outcome),
        ];
        out.counter(&SCALE_HOOK_RUNS, &labels, *value);
    }
    let counters = &view.counters;
    for ((cluster, operation, reason), value) in counters.read_errors.lock().iter() {
        let labels = [
            ("cluster", cluster.as_str()),
            ("operation", *operation),
            ("reason", *reason),
        ];
        out.counter(&WATCH_READ_ERRORS, &labels, *value);
    }
    for (cluster, value) in counters.long_rebalances.lock().iter() {
        out.counter(&WATCH_LONG_REBALANCES, &[("cluster", cluster)], *value);
    }
    for (cluster, value) in counters.readers_lost.lock().iter() {
        out.counter(&WATCH_READERS_LOST, &[("cluster", cluster)], *value);
    }
    for (def, map) in [
        (&WATCH_TOPIC_CHANGES, &counters.topic_changes),
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
    render_respond(&mut out, view);
    let role = view.leader.status();
    let active = if view.leader.is_active() { 1.0 } else { 0.0 };
    out.gauge(&WATCH_ACTIVE, &[], active);
    out.gauge(&WATCH_ROLE_SINCE, &[], role.since as f64 / 1_000.0);
    out.render()
}

/// The opt-in per-partition lag gauges of one group.
fn partition_lags(out: &mut Exposition, cluster: &str, group: &GroupReport) {
    for p in &group.partitions {
        let partition = p.partition.to_string();
        let labels = [
            ("cluster", cluster),
            ("group", group.summary.group.as_str()),
            ("topic", &*p.topic),
            ("partition", partition.as_str()),
        ];
        if let Some(lag) = p.lag_records.get() {
            out.gauge(&WATCH_PARTITION_LAG_RECORDS, &labels, lag as f64);
        }
        if let Some(lag) = p.lag_seconds.get() {
            out.gauge(&WATCH_PARTITION_LAG_SECONDS, &labels, lag);
        }
    }
}

/// The first responder's families.
fn render_respond(out: &mut Exposition, view: &WatchView) {
    let log = &view.actions;
    for ((cluster, group, action, outcome), value) in log.actions.lock().iter() {
        let labels = [
            ("cluster", cluster.as_str()),
            ("group", group.as_str()),
            ("action", action),
            ("outcome", outcome),
        ];
        out.counter(&RESPOND_ACTIONS, &labels, *value);
    }
    for ((cluster, group, cause), value) in log.failures.lock().iter() {
        let labels = [
            ("cluster", cluster.as_str()),
            ("group", group.as_str()),
            ("cause", cause),
        ];
        out.counter(&RESPOND_ACTION_FAILURES, &labels, *value);
    }
    out.counter(
        &RESPOND_AUDIT_FAILURES,
        &[],
        log.audit_failures.load(Ordering::Relaxed),
    );
}
