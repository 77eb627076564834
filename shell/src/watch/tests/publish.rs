//! Incident records POSTed to webhooks: every record reaches a receiver that answers, as its
//! JSON record with the configured headers; a receiver that never accepts is retried, then
//! counted once as a failure.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use cairn_core::config::WatchConfig;
use cairn_core::watch::incident::decode;
use cairn_core::watch::{Evaluator, Phase};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::Fixture;
use crate::watch::publish::spawn_publisher;
use crate::watch::view::WatchView;

/// A receiver on a free port answering `status`; every body and header map it got is sent on.
async fn receiver(status: StatusCode) -> (String, mpsc::UnboundedReceiver<(HeaderMap, Vec<u8>)>) {
    let (got, bodies) = mpsc::unbounded_channel();
    let app = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let got = got.clone();
            async move {
                let _ = got.send((headers, body.to_vec()));
                status
            }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("an address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), bodies)
}

fn config(urls: &[&str]) -> WatchConfig {
    let mut text = String::from(
        "[clusters.c]\nbootstrap = \"127.0.0.1:9\"\n[http]\nlisten = \"127.0.0.1:0\"\n[watch]\n",
    );
    for url in urls {
        text.push_str(&format!(
            "[[watch.webhooks]]\nurl = \"{url}\"\ntimeout = \"1s\"\n[watch.webhooks.headers]\nx-cairn = \"test\"\n"
        ));
    }
    WatchConfig::from_toml_str(&text).expect("a valid config")
}

#[tokio::test]
async fn every_webhook_gets_the_record_and_a_refusing_one_is_counted_once() {
    let (good_url, mut good) = receiver(StatusCode::OK).await;
    let (bad_url, mut bad) = receiver(StatusCode::INTERNAL_SERVER_ERROR).await;
    let view = Arc::new(WatchView::new(vec![("c".into(), Evaluator::new())]));
    let (sender, task) = spawn_publisher(&config(&[&good_url, &bad_url]), view.clone(), None, None)
        .expect("a publisher");

    let mut fixture = Fixture::new();
    fixture.stall(1_000_000, 100, 6);
    let outgoing = fixture.sent.try_recv().expect("an incident record");
    let incident = outgoing.incident.clone();
    sender.send(outgoing).await.expect("queued");

    let (headers, body) = tokio::time::timeout(Duration::from_secs(5), good.recv())
        .await
        .expect("the record arrives")
        .expect("a body");
    assert_eq!(headers["x-cairn"], "test");
    assert_eq!(headers["content-type"], "application/json");
    let got = decode(&body).expect("an incident record");
    assert_eq!(got, incident);
    assert_eq!(got.phase, Phase::Open);

    // Three attempts, 0.5 s then 1 s apart, then one failure counted.
    for attempt in 1..=3 {
        tokio::time::timeout(Duration::from_secs(5), bad.recv())
            .await
            .unwrap_or_else(|_| panic!("attempt {attempt} arrives"))
            .expect("a body");
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while view.counters.webhook_failures.load(Ordering::Relaxed) == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the failure is counted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(bad.try_recv().is_err(), "no fourth attempt");
    assert_eq!(view.counters.webhook_failures.load(Ordering::Relaxed), 1);
    assert!(good.try_recv().is_err(), "one POST per record");
    drop(sender);
    task.await
        .expect("the publisher ends when its senders are gone");
}

/// An `https://` webhook is reached over TLS: the first bytes its server gets are a TLS
/// handshake record (content type 22), not a refusal to try.
#[tokio::test]
async fn an_https_webhook_is_spoken_to_in_tls() {
    use tokio::io::AsyncReadExt;

    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!(
        "https://{}/hook",
        listener.local_addr().expect("an address")
    );
    let view = Arc::new(WatchView::new(vec![("c".into(), Evaluator::new())]));
    let (sender, _task) = spawn_publisher(&config(&[&url]), view, None, None).expect("a publisher");
    let mut fixture = Fixture::new();
    fixture.stall(1_000_000, 100, 6);
    let incident = fixture.sent.try_recv().expect("an incident record");
    sender.send(incident).await.expect("queued");

    let (mut socket, _) = tokio::time::timeout(Duration::from_secs(5), listener.accept())
        .await
        .expect("the webhook connects")
        .expect("a connection");
    let mut first = [0u8; 1];
    tokio::time::timeout(Duration::from_secs(5), socket.read_exact(&mut first))
        .await
        .expect("the client speaks first")
        .expect("a byte");
    assert_eq!(first[0], 22, "a TLS handshake record starts the exchange");
}

/// A receiver that accepts connections and never answers; returns its URL and the count of
/// connections it accepted.
async fn hanging_receiver() -> (String, Arc<std::sync::atomic::AtomicU32>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("an address");
    let accepted = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::Relaxed);
            held.push(socket);
        }
    });
    (format!("http://{addr}/hook"), accepted)
}

#[tokio::test]
async fn a_hanging_webhook_is_bounded_retried_counted_and_holds_nothing_else_up() {
    let (hanging_url, accepted) = hanging_receiver().await;
    let (good_url, mut good) = receiver(StatusCode::OK).await;
    let view = Arc::new(WatchView::new(vec![("c".into(), Evaluator::new())]));
    let (sender, task) = spawn_publisher(
        &config(&[&hanging_url, &good_url]),
        view.clone(),
        None,
        None,
    )
    .expect("a publisher");

    let mut fixture = Fixture::new();
    fixture.stall(1_000_000, 100, 6);
    let incident = fixture.sent.try_recv().expect("an incident record");
    let started = tokio::time::Instant::now();
    // Three records while the first webhook hangs: none waits for it.
    for _ in 0..3 {
        sender
            .try_send(incident.clone())
            .expect("queued at once, whatever the webhooks do");
    }
    for n in 0..3 {
        tokio::time::timeout(Duration::from_secs(3), good.recv())
            .await
            .unwrap_or_else(|_| panic!("record {n} reaches the answering webhook"))
            .expect("a body");
    }
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the answering webhook got all three before the first attempt on the hanging one ended"
    );
    // Per record: three attempts of at most 1 s each, 0.5 s and 1 s apart, then one failure.
    let deadline = started + Duration::from_secs(10);
    while view.counters.webhook_failures.load(Ordering::Relaxed) < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the hanging webhook's failures are counted in bounded time"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        started.elapsed() >= Duration::from_millis(3_500),
        "each record was tried three times first"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(view.counters.webhook_failures.load(Ordering::Relaxed), 3);
    assert_eq!(
        accepted.load(Ordering::Relaxed),
        9,
        "three attempts per record"
    );
    drop(sender);
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the publisher ends without waiting for webhooks")
        .expect("the publisher task");
}
