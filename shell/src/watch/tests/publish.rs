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
    let (sender, task) =
        spawn_publisher(&config(&[&good_url, &bad_url]), view.clone(), None).expect("a publisher");

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
