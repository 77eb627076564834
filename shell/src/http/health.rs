//! `/healthz`: the process serves. `/readyz`: the job can be trusted to judge (its session runs
//! and the offsets oracle has completed a round on every cluster; see [`crate::readiness`]).

use axum::extract::State;
use axum::http::StatusCode;

use super::HttpState;

pub async fn healthz() -> &'static str {
    "ok"
}

/// 200 `ready`, or 503 with a short reason: what the session is doing and the clusters whose
/// oracle has not completed a round yet.
pub async fn readyz(State(state): State<HttpState>) -> (StatusCode, String) {
    match state.observatory.readiness() {
        Ok(()) => (StatusCode::OK, "ready".to_owned()),
        Err(not_ready) => (StatusCode::SERVICE_UNAVAILABLE, not_ready.to_string()),
    }
}
