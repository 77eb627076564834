//! The role of an instance that must be elected: a standby judges every round and keeps its
//! book, publishes nothing, and says so on `/api/watch` and `/metrics`; once active, what it
//! publishes carries its term.

use std::time::Duration;

use cairn_core::config::{ElectionConfig, Location};
use cairn_core::metrics::catalog::{WATCH_ACTIVE, WATCH_ROLE_SINCE};

use super::*;

fn election() -> ElectionConfig {
    ElectionConfig {
        control_topic: Location {
            cluster: CLUSTER.into(),
            topic: "incidents.control".into(),
        },
        control_group: "cairn-watch.incidents".into(),
        session_timeout: Duration::from_secs(10),
    }
}

/// The value of a family without labels in a `/metrics` text.
fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} not in:\n{text}"))
}

#[tokio::test]
async fn a_standby_judges_and_keeps_its_book_but_publishes_nothing() {
    let leader = LeaderHandle::elected_by(&election());
    let mut fixture = Fixture::with_leader(leader.clone());
    fixture.stall(1_000_000, 100, 6);
    assert!(!leader.is_active());
    assert!(fixture.sent.try_recv().is_err(), "nothing published");
    assert_eq!(fixture.book.lock().book.open().len(), 1, "the book knows");
    let (_, report) = fixture.get("/api/consumers/c/g").await;
    assert!(report.contains("\"state\":\"stuck\""), "{report}");
    let (_, incidents) = fixture.get("/api/incidents").await;
    assert_eq!(incidents, "[]", "it lists only what it published");

    let (status, body) = fixture.get("/api/watch").await;
    assert_eq!(status, StatusCode::OK);
    let role: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(role["role"], "standby", "{body}");
    assert_eq!(role["reason"], "joining the control group", "{body}");
    assert_eq!(role["term"], 0, "{body}");
    assert_eq!(role["election"]["control_topic"], "c/incidents.control");
    assert_eq!(role["election"]["control_group"], "cairn-watch.incidents");
    assert_eq!(role["election"]["session_timeout_ms"], 10_000);
    let (_, metrics) = fixture.get("/metrics").await;
    assert_eq!(sample(&metrics, WATCH_ACTIVE.name), 0.0);
    let since = role["since"].as_f64().expect("since") / 1_000.0;
    assert!((sample(&metrics, WATCH_ROLE_SINCE.name) - since).abs() < 0.001);
}

#[tokio::test]
async fn an_active_instance_publishes_in_its_term_and_a_standby_again_stops() {
    let leader = LeaderHandle::elected_by(&election());
    let mut fixture = Fixture::with_leader(leader.clone());
    let term = leader.begin_term();
    assert!(!leader.activate(term + 1), "not a term that began");
    assert!(leader.activate(term));
    assert_eq!(leader.active_term(), Some(term));
    fixture.stall(1_000_000, 100, 6);
    let sent = fixture.sent.try_recv().expect("the open goes out");
    assert_eq!(sent.term, term);
    let (_, body) = fixture.get("/api/watch").await;
    assert!(body.contains("\"role\":\"active\""), "{body}");
    let (_, metrics) = fixture.get("/metrics").await;
    assert_eq!(sample(&metrics, WATCH_ACTIVE.name), 1.0);

    leader.step_down(term + 1, "another term");
    assert!(leader.is_active(), "only its own term steps it down");
    leader.stand_by("the control partition went to another instance");
    assert!(!leader.is_active());
    assert!(!leader.activate(term), "a term ends for good");
    // The group moves on: the close is concluded but not published.
    for n in 0..3 {
        let r = round(1_006_000 + n * 1_000, 200, 200);
        judge(CLUSTER, r, &fixture.view, &fixture.book, &fixture.publish);
    }
    assert!(
        fixture.book.lock().book.open().is_empty(),
        "closed in the book"
    );
    assert!(fixture.sent.try_recv().is_err(), "not published");
    let (_, body) = fixture.get("/api/watch").await;
    assert!(body.contains("went to another instance"), "{body}");
}
