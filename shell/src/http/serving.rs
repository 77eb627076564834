//! What the HTTP faces of `cairn detect`, `cairn watch` and `cairn canary` share: the JSON
//! answer and the serving loop with its graceful stop. Each face keeps its own router.

use std::future::Future;

use anyhow::Context;
use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tokio::net::TcpListener;

/// `value` as a 200 JSON answer; a value that does not serialize is a 500 (and a log line),
/// never a half-written body. Another status: `(status, json(&value))`.
pub fn json(value: &impl Serialize) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(err) => {
            tracing::error!(error = %err, "api response did not serialize");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then stops accepting, lets the
/// requests in flight finish, and returns. Errors are those of accepting connections.
pub async fn serve_router(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "http listening");
    }
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await?;
    tracing::info!("http stopped");
    Ok(())
}

/// Binds `[http] listen` and serves `router` on it until `shutdown` completes: the foreground
/// of `cairn watch` and `cairn canary`, whose work runs on threads of their own.
pub async fn bind_and_serve(
    listen: &str,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding [http] listen {listen}"))?;
    serve_router(listener, router, shutdown)
        .await
        .context("serving http")
}
