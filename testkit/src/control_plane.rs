//! A control plane for tests: an axum server on 127.0.0.1 (port 0) serving whatever the test
//! says it serves now — a lineage document (with or without an ETag), an HTTP error, an answer
//! that takes longer than cairn waits — and counting the requests it got.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use parking_lot::Mutex;

/// What the server answers, until told otherwise.
#[derive(Clone, Debug)]
pub enum Serve {
    /// 200 with this body, and an `ETag` header when given.
    Document { body: String, etag: Option<String> },
    /// This status, with a short body.
    Status(u16),
    /// The document, after `delay`.
    Slow { body: String, delay: Duration },
}

impl Serve {
    /// 200 with `body` and no ETag.
    pub fn document(body: impl Into<String>) -> Serve {
        Serve::Document {
            body: body.into(),
            etag: None,
        }
    }
}

#[derive(Clone)]
struct Shared {
    serving: Arc<Mutex<Serve>>,
    requests: Arc<AtomicU64>,
}

/// The running server; it stops when dropped.
pub struct LineageServer {
    url: String,
    shared: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl LineageServer {
    /// Serves `serve` at `http://127.0.0.1:<port>/streams.toml` on the current runtime.
    pub async fn start(serve: Serve) -> LineageServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the test control plane");
        let port = listener.local_addr().expect("a local address").port();
        let shared = Shared {
            serving: Arc::new(Mutex::new(serve)),
            requests: Arc::new(AtomicU64::new(0)),
        };
        let app = Router::new()
            .route("/streams.toml", get(answer))
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        LineageServer {
            url: format!("http://127.0.0.1:{port}/streams.toml"),
            shared,
            task,
        }
    }

    /// The document's URL, for `[control_plane] url`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Answers `serve` from the next request on.
    pub fn serve(&self, serve: Serve) {
        *self.shared.serving.lock() = serve;
    }

    /// Requests answered or being answered so far.
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::Relaxed)
    }
}

impl Drop for LineageServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(State(shared): State<Shared>) -> Response {
    shared.requests.fetch_add(1, Ordering::Relaxed);
    let serving = shared.serving.lock().clone();
    match serving {
        Serve::Document { body, etag } => {
            let mut headers = HeaderMap::new();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/toml"),
            );
            if let Some(etag) = etag {
                headers.insert(
                    header::ETAG,
                    HeaderValue::from_str(&etag).expect("a header-safe ETag"),
                );
            }
            (headers, body).into_response()
        }
        Serve::Status(code) => {
            let status = StatusCode::from_u16(code).expect("a valid status code");
            (status, "the test control plane fails on purpose").into_response()
        }
        Serve::Slow { body, delay } => {
            tokio::time::sleep(delay).await;
            body.into_response()
        }
    }
}
