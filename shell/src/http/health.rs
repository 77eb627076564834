//! `/healthz`: the process serves. `/readyz`: the job can be trusted to judge (it has joined
//! its consumer group and the offsets oracle has completed a round).

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::StatusCode;

use super::HttpState;

pub async fn healthz() -> &'static str {
    "ok"
}

pub async fn readyz(State(state): State<HttpState>) -> (StatusCode, String) {
    if state.observatory.is_ready() {
        return (StatusCode::OK, "ready".to_owned());
    }
    (StatusCode::SERVICE_UNAVAILABLE, not_ready_reason(&state))
}

/// A short reason: the clusters whose oracle has not completed a round yet, if any; else the job.
fn not_ready_reason(state: &HttpState) -> String {
    let mut waiting: Vec<String> = state
        .observatory
        .oracle
        .lock()
        .iter()
        .filter(|(_, stats)| stats.last_complete_round.load(Ordering::Relaxed) <= 0)
        .map(|(cluster, _)| cluster.clone())
        .collect();
    waiting.sort();
    if waiting.is_empty() {
        "not ready: joining the consumer group and restoring state".to_owned()
    } else {
        format!(
            "not ready: waiting for a complete offsets oracle round on {}",
            waiting.join(", ")
        )
    }
}
