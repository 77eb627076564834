//! The autoscaling advisor inside the watch: after each judged round of a cluster, every
//! `[[scale.groups]]` entry of that cluster gets its sample from the group's report and the
//! planner's advice is kept for `/api/scale` and `/metrics`. It only advises; the action
//! hook is not built yet (docs/scale.md).

use cairn_core::config::WatchConfig;
use cairn_core::scale::{Advice, ScaleSample};
use cairn_core::watch::{Round, RoundReport};

use super::view::{ClusterView, WatchCounters};

/// Advises on every group of `cluster_view`'s cluster that `[scale]` names, from the round
/// the watch read and the report it made of it.
pub fn advise(
    config: &WatchConfig,
    cluster_view: &ClusterView,
    round: &Round,
    report: &RoundReport,
    counters: &WatchCounters,
) {
    let cluster = cluster_view.name.as_str();
    let entries: Vec<_> = config
        .scale
        .groups
        .iter()
        .filter(|g| g.cluster == cluster)
        .collect();
    if entries.is_empty() {
        return;
    }
    let mut planner = cluster_view.planner.lock();
    let advice: Vec<Advice> = entries
        .iter()
        .map(|entry| {
            let observed = round
                .groups
                .iter()
                .find(|g| g.cluster == cluster && g.group == entry.group);
            (entry, observed, report.group(cluster, &entry.group))
        })
        .map(|(entry, observed, judged)| match (observed, judged) {
            (Some(observed), Some(group)) => {
                let sample = ScaleSample::from_round(report.now, observed, group);
                planner.observe(cluster, &entry.group, &entry.settings, sample)
            }
            _ => Advice::not_seen(cluster, &entry.group, report.now),
        })
        .collect();
    drop(planner);
    let mut latest = cluster_view.scale.lock();
    for new in &advice {
        if new.forecast.is_some_and(|f| f.clamped) {
            WatchCounters::add_group(&counters.clamped_forecasts, cluster, &new.group, 1);
        }
        let before = latest
            .iter()
            .find(|a| a.group == new.group)
            .and_then(|a| a.recommendation);
        if before != new.recommendation {
            tracing::info!(
                cluster,
                group = new.group,
                from = ?before,
                to = ?new.recommendation,
                reason = new.reason.as_str(),
                detail = new.detail,
                "scale recommendation changed"
            );
        }
    }
    *latest = advice;
}
