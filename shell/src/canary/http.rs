//! The HTTP face of `cairn canary`, after `crate::http`'s conventions: it only reads the
//! [`CanaryView`].
//!
//! | endpoint | answer |
//! | --- | --- |
//! | `GET /` | a status page for people (HTML, reloads itself): per cluster the counts and availability, per broker its share |
//! | `GET /api/canary` | every cluster's report (counts, lost sequences, availability, latency, brokers, partitions), and every broker |
//! | `GET /api/brokers` | every broker of every cluster: availability, metadata consistency, what it leads |
//! | `GET /api/incidents` | recent `metadata_mismatch` incident records, newest first |
//! | `GET /metrics` | the `cairn_canary_*` families |
//! | `GET /healthz` | 200 `ok` while the process serves |
//! | `GET /readyz` | 200 once every cluster's topic is in place and its consumer holds the partitions, else 503 naming the others |

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use cairn_core::canary::consistency::MismatchIncident;
use cairn_core::canary::report::{BrokersAnswer, CanaryAnswer};
use cairn_core::metrics::exposition;
use serde::Serialize;

use super::metrics;
use super::view::CanaryView;
use crate::http::serving::json;

pub fn router(view: Arc<CanaryView>) -> Router {
    Router::new()
        .route("/", get(super::page::status_page))
        .route("/metrics", get(render_metrics))
        .route("/api/canary", get(canary))
        .route("/api/brokers", get(brokers))
        .route("/api/incidents", get(incidents))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(view)
}

async fn canary(State(view): State<Arc<CanaryView>>) -> Response {
    let clusters = view.reports();
    let brokers = clusters.iter().flat_map(|c| c.brokers.clone()).collect();
    json(&CanaryAnswer {
        run: view.run.clone(),
        instance: view.instance.clone(),
        clusters,
        brokers,
    })
}

async fn brokers(State(view): State<Arc<CanaryView>>) -> Response {
    let brokers = view.reports().into_iter().flat_map(|c| c.brokers).collect();
    json(&BrokersAnswer { brokers })
}

#[derive(Serialize)]
struct IncidentsAnswer {
    incidents: Vec<MismatchIncident>,
}

async fn incidents(State(view): State<Arc<CanaryView>>) -> Response {
    let mut incidents: Vec<MismatchIncident> = view
        .clusters
        .iter()
        .flat_map(|slot| slot.incidents.lock().iter().cloned().collect::<Vec<_>>())
        .collect();
    incidents.sort_by_key(|i| std::cmp::Reverse(i.at));
    json(&IncidentsAnswer { incidents })
}

async fn render_metrics(State(view): State<Arc<CanaryView>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, exposition::CONTENT_TYPE)],
        metrics::render(&view),
    )
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(view): State<Arc<CanaryView>>) -> Response {
    match view.readiness() {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(waiting) => (StatusCode::SERVICE_UNAVAILABLE, waiting).into_response(),
    }
}
