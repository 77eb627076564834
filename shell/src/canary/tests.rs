//! The canary's HTTP face and `/metrics` without Kafka: a core fed by hand, then what the
//! endpoints answer.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use cairn_core::canary::consistency::{Disagreement, MismatchIncident};
use cairn_core::canary::report::{BrokersAnswer, CanaryAnswer};
use cairn_core::canary::{CanarySettings, Heartbeat};
use cairn_core::metrics::catalog;
use cairn_core::watch::incident::Phase;
use tower::ServiceExt;

use super::http::router;
use super::view::{CanaryView, ClusterSlot};

fn view() -> Arc<CanaryView> {
    let slot = ClusterSlot::new(CanarySettings {
        cluster: "local".into(),
        topic: "canary".into(),
        run: "r".into(),
        instance: "i".into(),
        consume_timeout: 5_000,
        availability_window: 10_000,
        lost_sequences_kept: 10,
        mode: cairn_core::config::CanaryMode::Both,
        send_timeout: 1_000,
    });
    Arc::new(CanaryView {
        run: "r".into(),
        instance: "i".into(),
        clusters: vec![Arc::new(slot)],
    })
}

/// Two partitions on brokers 1 and 2; partition 1 loses its sequence 0.
fn feed(view: &CanaryView) {
    let slot = &view.clusters[0];
    let mut core = slot.core.lock();
    core.metadata(&[(1, "h:1".into()), (2, "h:2".into())], &[(0, 1), (1, 2)]);
    for partition in [0, 1] {
        let (seq, _) = core.send(partition).unwrap();
        core.acknowledged(partition, seq, 0, 1_000);
    }
    let beat = Heartbeat {
        v: 1,
        run: "r".into(),
        instance: "i".into(),
        partition: 0,
        seq: 0,
        produced_at: 1_000,
        attempt: 0,
    };
    core.read(&beat, 0, 1_003);
    core.skip_at(1, 0, "invalid");
    core.tick(2_000);
    let report = core.report(2_000);
    drop(core);
    *slot.latest.lock() = Some(report);
    slot.ready.store(true, Ordering::Release);
    slot.incident(MismatchIncident {
        v: 1,
        incident: Phase::Open,
        kind: "metadata_mismatch".into(),
        cluster: "local".into(),
        broker: 2,
        since: 0,
        at: 2_000,
        evidence: Disagreement::default(),
    });
}

async fn get(view: &Arc<CanaryView>, path: &str) -> (StatusCode, String) {
    let response = router(view.clone())
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn readyz_names_a_cluster_still_waiting() {
    let view = view();
    let (status, body) = get(&view, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("local"), "{body}");
    feed(&view);
    assert_eq!(get(&view, "/readyz").await.0, StatusCode::OK);
}

#[tokio::test]
async fn the_api_answers_the_contract() {
    let view = view();
    feed(&view);
    let (status, body) = get(&view, "/api/canary").await;
    assert_eq!(status, StatusCode::OK);
    let answer: CanaryAnswer = serde_json::from_str(&body).unwrap();
    let c = &answer.clusters[0];
    assert_eq!(
        (c.produced, c.acknowledged, c.consumed, c.lost),
        (2, 2, 1, 1)
    );
    assert_eq!(c.lost_sequences.len(), 1);
    assert_eq!(c.lost_sequences[0].partition, 1);
    assert_eq!(answer.brokers.len(), 2);
    // The contract's field names, as JSON.
    let raw: serde_json::Value = serde_json::from_str(&body).unwrap();
    for key in [
        "cluster",
        "produced",
        "acknowledged",
        "consumed",
        "lost",
        "duplicated",
        "lost_sequences",
        "brokers",
    ] {
        assert!(raw["clusters"][0].get(key).is_some(), "clusters[0].{key}");
    }
    for key in [
        "id",
        "produce_availability",
        "consume_availability",
        "metadata_consistent",
    ] {
        assert!(raw["brokers"][0].get(key).is_some(), "brokers[0].{key}");
    }
    let (_, body) = get(&view, "/api/brokers").await;
    let brokers: BrokersAnswer = serde_json::from_str(&body).unwrap();
    assert_eq!(brokers.brokers.len(), 2);
    let (_, body) = get(&view, "/api/incidents").await;
    assert!(body.contains("metadata_mismatch"), "{body}");
}

#[tokio::test]
async fn the_status_page_shows_each_cluster_and_broker() {
    let view = view();
    let (status, page) = get(&view, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("not ready: waiting for the canary topic and consumer on: local"),
        "{page}"
    );
    assert!(page.contains("no report yet"), "{page}");
    feed(&view);
    let (status, page) = get(&view, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("<p class=\"ready\">ready</p>"), "{page}");
    // produced 2, acknowledged 2, consumed 1, lost 1, duplicated 0.
    assert!(
        page.contains("<td>local</td><td>canary</td><td>both</td><td>2</td><td>2</td><td>1</td><td>1</td><td>0</td>"),
        "the cluster's row: {page}"
    );
    assert!(
        page.contains("<td>local</td><td>2</td><td>h:2</td>"),
        "broker 2's row: {page}"
    );
    assert!(page.contains("<a href=\"/api/canary\">"), "{page}");
}

#[tokio::test]
async fn metrics_name_every_family_through_the_catalog() {
    let view = view();
    feed(&view);
    let (status, text) = get(&view, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    for def in [
        &catalog::CANARY_PRODUCED,
        &catalog::CANARY_LOST,
        &catalog::CANARY_LATENCY,
        &catalog::CANARY_PRODUCE_AVAILABILITY,
        &catalog::CANARY_METADATA_CONSISTENT,
        &catalog::CANARY_SKIPPED,
        &catalog::CANARY_INCIDENTS_OPENED,
    ] {
        assert!(text.contains(def.name), "{} missing:\n{text}", def.name);
    }
    assert!(
        text.contains(r#"cairn_canary_lost_total{cluster="local",broker="2"} 1"#),
        "{text}"
    );
}

/// A receiver on a free port answering `status`; every body it got is sent on.
async fn receiver(status: StatusCode) -> (String, tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>) {
    let (got, bodies) = tokio::sync::mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::body::Bytes| {
            let got = got.clone();
            async move {
                let _ = got.send(body.to_vec());
                status
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), bodies)
}

#[tokio::test]
async fn a_mismatch_goes_to_every_webhook_as_the_incident_record_and_a_refusal_is_counted() {
    use std::time::Duration;

    use cairn_core::config::CanaryConfig;

    let (good_url, mut good) = receiver(StatusCode::OK).await;
    let (bad_url, mut bad) = receiver(StatusCode::INTERNAL_SERVER_ERROR).await;
    let config = CanaryConfig::from_toml_str(&format!(
        "[clusters.local]\nbootstrap = \"127.0.0.1:9\"\n[canary]\n\
         [[canary.webhooks]]\nurl = \"{good_url}\"\ntimeout = \"1s\"\n\
         [[canary.webhooks]]\nurl = \"{bad_url}\"\ntimeout = \"1s\"\n"
    ))
    .unwrap();
    let view = view();
    let publisher = super::publish::publisher(&config, &view.clusters)
        .unwrap()
        .expect("webhooks make a publisher");
    tokio::spawn(publisher.run());
    feed(&view);

    let body = tokio::time::timeout(Duration::from_secs(5), good.recv())
        .await
        .expect("the record arrives")
        .unwrap();
    let record: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(record["kind"], "metadata_mismatch");
    assert_eq!(record["incident"], "open");
    assert_eq!(record["broker"], 2);
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../../schemas/incident.schema.json")).unwrap();
    assert!(
        jsonschema::is_valid(&schema, &record),
        "the record follows schemas/incident.schema.json: {record}"
    );
    // Three attempts, then one failure counted.
    for _ in 0..3 {
        tokio::time::timeout(Duration::from_secs(5), bad.recv())
            .await
            .expect("an attempt")
            .unwrap();
    }
    let slot = &view.clusters[0];
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while slot.errors.lock().get("webhook").is_none() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(slot.errors.lock().get("webhook"), Some(&1));
}

#[test]
fn a_refused_operation_names_the_acl_it_needs() {
    use super::acl::needed;

    let denied =
        "Message production error: TopicAuthorizationFailed (Broker: Topic authorization failed)";
    assert_eq!(
        needed("produce", "cairn-canary", denied).as_deref(),
        Some("WRITE on TOPIC cairn-canary")
    );
    assert_eq!(
        needed("consume", "hb", "Broker: Topic authorization failed").as_deref(),
        Some("READ on TOPIC hb")
    );
    assert_eq!(
        needed("create", "hb", "CreateTopics: not authorized").as_deref(),
        Some("CREATE on TOPIC hb (or on CLUSTER)")
    );
    assert_eq!(needed("produce", "hb", "Broker: Request timed out"), None);
    // Counted every time, whatever is logged.
    let view = view();
    let slot = &view.clusters[0];
    slot.error("produce", &denied);
    slot.error("produce", &denied);
    assert_eq!(slot.errors.lock().get("produce"), Some(&2));
}
