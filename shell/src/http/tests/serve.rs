//! `serve` on a real socket: it answers over HTTP and stops when told to.
//!
//! The requests are plain HTTP/1.1 written on a `TcpStream`: in test builds the `jsonschema`
//! dev-dependency turns on reqwest's `rustls-no-provider`, and building a reqwest client then
//! panics for want of a crypto provider.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use cairn_core::metrics::catalog;

use super::*;
use crate::http::serve;

/// One `GET` on a fresh connection: the status code, and the raw head and body.
async fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String, String)> {
    let mut stream = TcpStream::connect(addr).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let (head, body) = response.split_once("\r\n\r\n").expect("a head and a body");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    Ok((status, head.to_owned(), body.to_owned()))
}

#[tokio::test]
async fn serves_over_tcp_and_shuts_down_gracefully() {
    let f = fixture();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let addr = listener.local_addr().expect("bound");
    let (stop, stopped) = oneshot::channel::<()>();
    // tokio::spawn needs the future to be Send: the job will run it this way.
    let server = tokio::spawn(serve(
        listener,
        f.observatory.clone(),
        f.board.clone(),
        async move {
            let _ = stopped.await;
        },
    ));

    let (status, _, body) = http_get(addr, "/healthz")
        .await
        .expect("the server answers");
    assert_eq!((status, body.as_str()), (200, "ok"));
    let (status, head, body) = http_get(addr, "/metrics")
        .await
        .expect("the server answers");
    assert_eq!(status, 200);
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4; charset=utf-8"),
        "{head}"
    );
    let seen = format!("{}{{stream=\"s\"}} 8\n", catalog::MESSAGES_SEEN.name);
    assert!(body.contains(&seen), "{body}");
    let (status, _, _) = http_get(addr, "/readyz").await.expect("the server answers");
    assert_eq!(status, 503);

    stop.send(()).expect("the server is waiting");
    let result = tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("serve returns after the shutdown signal")
        .expect("the task did not panic");
    assert!(result.is_ok(), "{result:?}");
    assert!(
        http_get(addr, "/healthz").await.is_err(),
        "still serving after shutdown"
    );
}
