//! The HTTP face of `cairn watch`, after `crate::http`'s conventions: it only reads the
//! [`WatchView`] the pollers write.
//!
//! | endpoint | answer |
//! | --- | --- |
//! | `GET /` | a status page for people (HTML, reloads itself): role, groups with state and lag, latest incidents |
//! | `GET /api/consumers` | every watched group's `GroupSummary`, cluster by cluster |
//! | `GET /api/consumers/{cluster}/{group}` | the group's `GroupReport`; 404 naming it when unknown |
//! | `GET /api/consumers/{cluster}/{group}/history` | the recent points of each of its partitions |
//! | `GET /api/incidents?limit=` | recent incident records this instance published, newest first |
//! | `GET /api/actions?limit=` | the first responder's recent action records, newest first |
//! | `GET /api/scale` | the autoscaling advisor's latest advice on every `[[scale.groups]]` group |
//! | `GET /api/scale/{cluster}/{group}` | one group's advice; 404 naming it when not advised on |
//! | `GET /api/watch` | this instance's role: `active` or `standby`, since when, why, its election |
//! | `GET /metrics` | the `cairn_watch_*` families |
//! | `GET /healthz` | 200 `ok` while the process serves |
//! | `GET /readyz` | 200 once every cluster completed a round, else 503 naming the others |

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use cairn_core::metrics::exposition;
use cairn_core::watch::incident::encode;
use serde::Deserialize;

use super::metrics;
use super::respond::log::RECENT_ACTIONS;
use super::view::{RECENT_INCIDENTS, WatchView};
use crate::http::serving::json;

/// Incident records `/api/incidents` returns when no `limit` is given.
pub const DEFAULT_INCIDENTS_LIMIT: usize = 100;

/// Every endpoint of the watch.
pub fn router(view: Arc<WatchView>) -> Router {
    Router::new()
        .route("/", get(super::page::status_page))
        .route("/metrics", get(render_metrics))
        .route("/api/consumers", get(consumers))
        .route("/api/consumers/{cluster}/{group}", get(consumer))
        .route("/api/consumers/{cluster}/{group}/history", get(history))
        .route("/api/incidents", get(incidents))
        .route("/api/actions", get(actions))
        .route("/api/scale", get(scale_all))
        .route("/api/scale/{cluster}/{group}", get(scale_one))
        .route("/api/watch", get(role))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(view)
}

fn not_found(message: String) -> Response {
    (
        StatusCode::NOT_FOUND,
        json(&serde_json::json!({ "error": message })),
    )
        .into_response()
}

async fn render_metrics(State(view): State<Arc<WatchView>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, exposition::CONTENT_TYPE)],
        metrics::render(&view),
    )
}

async fn consumers(State(view): State<Arc<WatchView>>) -> Response {
    let mut summaries = Vec::new();
    for cluster in &view.clusters {
        if let Some(report) = cluster.latest.lock().as_ref() {
            summaries.extend(report.groups.iter().map(|g| g.summary.clone()));
        }
    }
    json(&summaries)
}

async fn consumer(
    State(view): State<Arc<WatchView>>,
    Path((cluster, group)): Path<(String, String)>,
) -> Response {
    let report = view
        .cluster(&cluster)
        .and_then(|c| c.latest.lock().as_ref()?.group(&cluster, &group).cloned());
    match report {
        Some(report) => json(&report),
        None => not_found(format!("no watched group `{group}` on cluster `{cluster}`")),
    }
}

async fn history(
    State(view): State<Arc<WatchView>>,
    Path((cluster, group)): Path<(String, String)>,
) -> Response {
    match view.history(&cluster, &group) {
        Some(history) => json(&history),
        None => not_found(format!("no watched group `{group}` on cluster `{cluster}`")),
    }
}

async fn scale_all(State(view): State<Arc<WatchView>>) -> Response {
    let advice: Vec<_> = view
        .clusters
        .iter()
        .flat_map(|c| c.scale.lock().clone())
        .collect();
    json(&advice)
}

async fn scale_one(
    State(view): State<Arc<WatchView>>,
    Path((cluster, group)): Path<(String, String)>,
) -> Response {
    let advice = view
        .cluster(&cluster)
        .and_then(|c| c.scale.lock().iter().find(|a| a.group == group).cloned());
    match advice {
        Some(advice) => json(&advice),
        None => not_found(format!(
            "no advice on group `{group}` of cluster `{cluster}`: not in [[scale.groups]], or no round yet"
        )),
    }
}

#[derive(Deserialize)]
struct IncidentsParams {
    limit: Option<usize>,
}

async fn incidents(
    State(view): State<Arc<WatchView>>,
    Query(params): Query<IncidentsParams>,
) -> Response {
    let limit = params
        .limit
        .unwrap_or(DEFAULT_INCIDENTS_LIMIT)
        .min(RECENT_INCIDENTS);
    let records: Vec<serde_json::Value> = view
        .recent_incidents(limit)
        .iter()
        .filter_map(|incident| serde_json::from_slice(&encode(incident)).ok())
        .collect();
    json(&records)
}

/// Action records `/api/actions` returns when no `limit` is given.
pub const DEFAULT_ACTIONS_LIMIT: usize = 100;

async fn actions(
    State(view): State<Arc<WatchView>>,
    Query(params): Query<IncidentsParams>,
) -> Response {
    let limit = params
        .limit
        .unwrap_or(DEFAULT_ACTIONS_LIMIT)
        .min(RECENT_ACTIONS);
    json(&view.actions.recent(limit))
}

async fn role(State(view): State<Arc<WatchView>>) -> Response {
    json(&view.leader.status())
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(view): State<Arc<WatchView>>) -> (StatusCode, String) {
    match view.readiness() {
        Ok(()) => (StatusCode::OK, "ready".to_owned()),
        Err(waiting) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("no round completed yet on: {}", waiting.join(", ")),
        ),
    }
}
