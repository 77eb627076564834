//! The HTTP face of `cairn detect`: what the running job shows the outside. It only reads the
//! [`Observatory`] the job writes and the oracle's [`OffsetsBoard`]; it never blocks the job.
//!
//! | endpoint | answer |
//! | --- | --- |
//! | `GET /` | a status page for people (HTML, reloads itself): readiness, lineage, streams and hops |
//! | `GET /metrics` | Prometheus text format 0.0.4 ([`export`] says what, [`exposition`] how) |
//! | `GET /api/streams` | per stream and hop: counts, loss and duplicate rates, latency p50/p99 |
//! | `GET /api/lost?stream=&limit=` | recent verdicts, newest first, as the verdict wire contract |
//! | `GET /api/oracle` | per cluster: poll health, watermarks, committed offsets and lag |
//! | `GET /healthz` | 200 `ok` while the process serves |
//! | `GET /readyz` | 200 once the job is ready, else 503 with a short reason |
//!
//! Layout: [`export`] maps what the job counted to the metric families of
//! [`catalog`](cairn_core::metrics::catalog), [`api`] the JSON handlers, [`health`] the probes;
//! this file the router and [`serve`]. The text format itself is [`exposition`], in the core.
//!
//! [`exposition`]: cairn_core::metrics::exposition

pub mod api;
pub mod export;
pub mod health;
mod page;
pub mod serving;
pub mod status_page;

#[cfg(test)]
mod tests;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use cairn_core::metrics::exposition;
use tokio::net::TcpListener;

use crate::observe::Observatory;
use crate::oracle::OffsetsBoard;

/// What every handler reads.
#[derive(Clone)]
pub struct HttpState {
    pub observatory: Arc<Observatory>,
    pub board: Arc<OffsetsBoard>,
}

/// Every endpoint, for [`serve`] or for a caller that mounts it into its own server.
pub fn router(observatory: Arc<Observatory>, board: Arc<OffsetsBoard>) -> Router {
    Router::new()
        .route("/", get(page::status_page))
        .route("/metrics", get(metrics))
        .route("/api/streams", get(api::streams))
        .route("/api/lost", get(api::lost))
        .route("/api/oracle", get(api::oracle))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .with_state(HttpState { observatory, board })
}

/// Serves [`router`] on `listener` until `shutdown` completes, then stops accepting, lets the
/// requests in flight finish, and returns. Errors are those of accepting connections.
pub async fn serve(
    listener: TcpListener,
    observatory: Arc<Observatory>,
    board: Arc<OffsetsBoard>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serving::serve_router(listener, router(observatory, board), shutdown).await
}

async fn metrics(State(state): State<HttpState>) -> impl IntoResponse {
    let body = export::render(&state.observatory, crate::clock::now_millis());
    ([(header::CONTENT_TYPE, exposition::CONTENT_TYPE)], body)
}
