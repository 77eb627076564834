//! The autoscaling advisor inside the watch: after each judged round of a cluster, every
//! `[[scale.groups]]` entry of that cluster gets its sample from the group's report and the
//! planner's advice is kept for `/api/scale` and `/metrics`. A group with an action hook
//! (`command`) has it run, on the active instance only, each time its recommendation changes
//! to a number (docs/scale.md).

use cairn_core::config::{ScaleHook, WatchConfig};
use cairn_core::respond::Outcome;
use cairn_core::scale::{Advice, ScaleSample};
use cairn_core::watch::{GroupObservation, RoundReport};

use super::respond::execute::run_command;
use super::view::{ClusterView, WatchCounters, WatchView};

/// Whether `[scale]` names `group` of `cluster`.
pub fn scales(config: &WatchConfig, cluster: &str, group: &str) -> bool {
    config
        .scale
        .groups
        .iter()
        .any(|g| g.cluster == cluster && g.group == group)
}

/// The observations of the groups of `cluster` that `[scale]` names, out of `round`.
#[cfg(test)]
pub fn observed_groups(
    config: &WatchConfig,
    cluster: &str,
    round: &cairn_core::watch::Round,
) -> Vec<GroupObservation> {
    round
        .groups
        .iter()
        .filter(|g| g.cluster == cluster && scales(config, cluster, &g.group))
        .cloned()
        .collect()
}

/// Advises on every group of `cluster_view`'s cluster that `[scale]` names, from what the
/// watch read of them (`observed`, see [`observed_groups`]) and the report it made.
pub fn advise(
    config: &WatchConfig,
    view: &WatchView,
    cluster_view: &ClusterView,
    observed: &[GroupObservation],
    report: &RoundReport,
) {
    let counters = &view.counters;
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
            let observed = observed
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
            let hook = config
                .scale
                .group(cluster, &new.group)
                .and_then(|g| g.hook.as_ref());
            if let Some(hook) = hook
                && hook_due(before, new.recommendation, view.leader.is_active())
            {
                spawn_hook(view, hook, new, before);
            }
        }
    }
    *latest = advice;
}

/// Whether a change of recommendation from `before` to `now` runs the hook: only to a number
/// (a recommendation that became unknown asks nothing of anyone), and only on the active
/// instance, so several instances scale a group once.
pub fn hook_due(before: Option<u32>, now: Option<u32>, active: bool) -> bool {
    active && now.is_some() && before != now
}

/// Runs `hook` for `advice` on the watch's runtime: the advice as JSON on stdin and in
/// `CAIRN_ADVICE`, with `CAIRN_CLUSTER`, `CAIRN_GROUP`, `CAIRN_RECOMMENDED` and
/// `CAIRN_PREVIOUS` (empty when there was none). The evaluation never waits for it; how it
/// ended is logged and counted.
pub fn spawn_hook(view: &WatchView, hook: &ScaleHook, advice: &Advice, before: Option<u32>) {
    let Some(io) = view.io.get() else {
        tracing::warn!(
            cluster = advice.cluster,
            group = advice.group,
            "scale action hook not run: the watch's runtime is not started"
        );
        return;
    };
    let json = serde_json::to_vec(advice).unwrap_or_default();
    let env = vec![
        (
            "CAIRN_ADVICE".to_owned(),
            String::from_utf8_lossy(&json).into_owned(),
        ),
        ("CAIRN_CLUSTER".to_owned(), advice.cluster.clone()),
        ("CAIRN_GROUP".to_owned(), advice.group.clone()),
        (
            "CAIRN_RECOMMENDED".to_owned(),
            advice
                .recommendation
                .map(|n| n.to_string())
                .unwrap_or_default(),
        ),
        (
            "CAIRN_PREVIOUS".to_owned(),
            before.map(|n| n.to_string()).unwrap_or_default(),
        ),
    ];
    let (command, timeout) = (hook.command.clone(), hook.timeout);
    let (cluster, group) = (advice.cluster.clone(), advice.group.clone());
    let counters = view.counters.clone();
    io.spawn(async move {
        let finished = run_command(&command, &env, json, timeout).await;
        let outcome = match finished.outcome {
            Outcome::Ok | Outcome::Recorded => "ok",
            Outcome::Failed => "failed",
            Outcome::TimedOut => "timed_out",
        };
        *counters
            .scale_hooks
            .lock()
            .entry((cluster.clone(), group.clone(), outcome))
            .or_default() += 1;
        match outcome {
            "ok" => tracing::info!(cluster, group, exit_code = ?finished.exit_code, duration = ?finished.duration, "scale action hook ran"),
            _ => tracing::warn!(cluster, group, outcome, exit_code = ?finished.exit_code, error = ?finished.error, output = finished.output, "scale action hook failed"),
        }
    });
}
