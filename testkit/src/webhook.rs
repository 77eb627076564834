//! A webhook receiver for tests: an HTTP server on a free loopback port that answers 200 to
//! every POST and keeps each body, so a test can assert what `cairn watch` or `cairn canary`
//! sent to its webhooks.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::post;
use parking_lot::Mutex;
use serde_json::Value;
use tokio::net::TcpListener;

/// A running receiver; stops with the test's runtime.
pub struct WebhookReceiver {
    pub url: String,
    bodies: Arc<Mutex<Vec<Value>>>,
}

impl WebhookReceiver {
    /// Starts the receiver on the current tokio runtime.
    pub async fn start() -> WebhookReceiver {
        let bodies: Arc<Mutex<Vec<Value>>> = Arc::default();
        let keep = bodies.clone();
        let app = Router::new().route(
            "/hook",
            post(move |body: axum::body::Bytes| {
                let keep = keep.clone();
                async move {
                    let value = serde_json::from_slice(&body)
                        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into()));
                    keep.lock().push(value);
                    axum::http::StatusCode::OK
                }
            }),
        );
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the webhook receiver");
        let addr = listener.local_addr().expect("an address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        WebhookReceiver {
            url: format!("http://{addr}/hook"),
            bodies,
        }
    }

    /// Every JSON body received so far, in arrival order.
    pub fn received(&self) -> Vec<Value> {
        self.bodies.lock().clone()
    }

    /// Waits until a body satisfies `matches`; fails after `timeout` showing what came.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        what: &str,
        matches: impl Fn(&Value) -> bool,
    ) -> Value {
        let started = Instant::now();
        loop {
            if let Some(found) = self.received().into_iter().find(|v| matches(v)) {
                return found;
            }
            assert!(
                started.elapsed() < timeout,
                "webhook: no {what} within {timeout:?}; received {:?}",
                self.received()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
