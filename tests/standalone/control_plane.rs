//! `cairn detect`'s control plane client against a real HTTP server on 127.0.0.1 (testkit's
//! `LineageServer`): good, changed, invalid, slow and failing documents. No Kafka: the refresh
//! loop and the lineage cell are exercised as the job runs them, the oracle's watches through
//! the callback the job gives them.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cairn_core::config::Config;
use cairn_shell::lineage::LineageCell;
use cairn_shell::lineage::control_plane::{ControlPlane, Outcome};
use cairn_shell::oracle::watches_from_config;
use cairn_testkit::config::{CairnToml, ClusterToml, StreamToml};
use cairn_testkit::control_plane::{LineageServer, Serve};

const CLUSTER: &str = "local";
const TIMEOUT: Duration = Duration::from_millis(500);

fn file(url: &str) -> Config {
    CairnToml::new(ClusterToml::new(CLUSTER, "127.0.0.1:9092"))
        .control_plane(url, Some(Duration::from_millis(200)))
        .control_plane_timeout(TIMEOUT)
        .to_config()
}

/// api → local/t1 → enricher (g1) → local/t2, and `extra` more apps.
fn lineage(extra: impl FnOnce(StreamToml) -> StreamToml) -> CairnToml {
    CairnToml::new(ClusterToml::new(CLUSTER, "127.0.0.1:9092")).stream(extra(
        StreamToml::new("orders")
            .producer("api", "local/t1")
            .processor("enricher", "g1", "local/t1", "local/t2"),
    ))
}

fn v1() -> String {
    lineage(|s| s).streams_document(Some("v1"))
}

fn v2() -> String {
    lineage(|s| s.sink("sink", "g2", "local/t2")).streams_document(Some("v2"))
}

/// A control plane client whose applied lineages' watched groups are recorded, as the job
/// hands them to the oracle.
struct Client {
    plane: ControlPlane,
    cell: Arc<LineageCell>,
    watched: Arc<Mutex<Vec<BTreeSet<String>>>>,
}

fn client(server: &LineageServer) -> Client {
    let cell = Arc::new(LineageCell::awaiting(server.url()));
    let watched = Arc::new(Mutex::new(Vec::new()));
    let record = watched.clone();
    let plane = ControlPlane::new(
        file(server.url()),
        cell.clone(),
        Box::new(move |applied| {
            let groups = watches_from_config(&applied.config)
                .iter()
                .flat_map(|w| w.topics.values().flatten().cloned())
                .collect();
            record.lock().expect("not poisoned").push(groups);
        }),
    )
    .expect("a client");
    Client {
        plane,
        cell,
        watched,
    }
}

fn outcomes(cell: &LineageCell) -> Vec<(&'static str, u64)> {
    cell.counters.by_outcome().to_vec()
}

fn version(cell: &LineageCell) -> Option<String> {
    cell.current().map(|c| c.version.clone())
}

fn last_error(cell: &LineageCell) -> String {
    cell.status.lock().last_error.clone().unwrap_or_default()
}

#[tokio::test]
async fn a_good_document_is_applied_once_and_a_change_is_applied_again() {
    let server = LineageServer::start(Serve::document(v1())).await;
    let c = client(&server);
    assert!(c.cell.waiting().is_some(), "nothing before the first fetch");

    assert_eq!(c.plane.refresh().await, Outcome::Applied(1));
    let applied = c.cell.current().expect("applied");
    assert_eq!(applied.version, "v1");
    assert_eq!(applied.generation, 1);
    assert_eq!(
        applied.hash.as_deref(),
        Some(cairn_core::config::content_hash(&v1()).as_str())
    );
    assert_eq!(applied.lineage.streams().len(), 1);
    assert_eq!(c.cell.waiting(), None);

    assert_eq!(c.plane.refresh().await, Outcome::Unchanged);
    assert_eq!(c.cell.current().map(|c| c.generation), Some(1));

    server.serve(Serve::document(v2()));
    assert_eq!(c.plane.refresh().await, Outcome::Applied(2));
    assert_eq!(version(&c.cell).as_deref(), Some("v2"));
    // The oracle is told about the groups of each lineage applied: the new hop's group too.
    let watched = c.watched.lock().expect("not poisoned").clone();
    assert_eq!(
        watched,
        [
            BTreeSet::from(["g1".to_owned()]),
            BTreeSet::from(["g1".to_owned(), "g2".to_owned()])
        ]
    );
    assert_eq!(
        outcomes(&c.cell),
        [
            ("applied", 2),
            ("unchanged", 1),
            ("failed", 0),
            ("invalid", 0)
        ]
    );
    assert_eq!(server.requests(), 3);
}

#[tokio::test]
async fn without_a_version_field_the_etag_then_the_hash_names_the_lineage() {
    let unnamed = lineage(|s| s).streams_document(None);
    let server = LineageServer::start(Serve::Document {
        body: unnamed.clone(),
        etag: Some("\"abc123\"".to_owned()),
    })
    .await;
    let c = client(&server);
    assert_eq!(c.plane.refresh().await, Outcome::Applied(1));
    let applied = c.cell.current().expect("applied");
    assert_eq!(applied.version, "\"abc123\"");
    assert_eq!(applied.etag.as_deref(), Some("\"abc123\""));

    let other = lineage(|s| s.sink("sink", "g2", "local/t2")).streams_document(None);
    server.serve(Serve::document(other.clone()));
    assert_eq!(c.plane.refresh().await, Outcome::Applied(2));
    let hash = cairn_core::config::content_hash(&other);
    assert_eq!(version(&c.cell), Some(hash[..7 + 12].to_owned()));
    assert_eq!(c.cell.current().and_then(|c| c.hash.clone()), Some(hash));
}

#[tokio::test]
async fn an_invalid_document_keeps_the_last_good_lineage_and_says_where() {
    let server = LineageServer::start(Serve::document(v1())).await;
    let c = client(&server);
    assert_eq!(c.plane.refresh().await, Outcome::Applied(1));

    // A misspelt key: toml's message names it and its line.
    let misspelt = v2().replace("reads = \"local/t2\"", "reeds = \"local/t2\"");
    assert_ne!(misspelt, v2());
    server.serve(Serve::document(misspelt));
    assert_eq!(c.plane.refresh().await, Outcome::Invalid);
    let error = last_error(&c.cell);
    assert!(error.contains("reeds") && error.contains("line"), "{error}");

    // Valid TOML that the file's validation refuses: the message names the stream and app.
    let undeclared = v2().replace("local/t2\"\n", "elsewhere/t2\"\n");
    server.serve(Serve::document(undeclared));
    assert_eq!(c.plane.refresh().await, Outcome::Invalid);
    let error = last_error(&c.cell);
    assert!(
        error.contains("elsewhere") && error.contains("not declared"),
        "{error}"
    );

    // A document the lineage compiler refuses (two apps reading one location as one group).
    let shared_group = lineage(|s| s.sink("sink", "g1", "local/t1")).streams_document(None);
    server.serve(Serve::document(shared_group));
    assert_eq!(c.plane.refresh().await, Outcome::Invalid);
    assert!(
        last_error(&c.cell).contains("g1"),
        "{}",
        last_error(&c.cell)
    );

    // An empty answer is refused, not taken as "watch nothing".
    server.serve(Serve::document(""));
    assert_eq!(c.plane.refresh().await, Outcome::Invalid);

    assert_eq!(
        version(&c.cell).as_deref(),
        Some("v1"),
        "the last good one stays"
    );
    assert_eq!(c.cell.current().map(|c| c.generation), Some(1));
    assert_eq!(
        c.watched.lock().expect("not poisoned").len(),
        1,
        "the oracle was not told anything new"
    );
    assert_eq!(
        outcomes(&c.cell),
        [
            ("applied", 1),
            ("unchanged", 0),
            ("failed", 0),
            ("invalid", 4)
        ]
    );
    // Served right again: applied, and the error stays on record with its time.
    server.serve(Serve::document(v2()));
    assert_eq!(c.plane.refresh().await, Outcome::Applied(2));
    let status = c.cell.status.lock().clone();
    assert!(status.last_error.is_some());
    assert!(status.last_success_at >= status.last_error_at);
}

#[tokio::test]
async fn failing_slow_and_unreachable_control_planes_keep_the_last_good_lineage() {
    let server = LineageServer::start(Serve::document(v1())).await;
    let c = client(&server);
    assert_eq!(c.plane.refresh().await, Outcome::Applied(1));

    server.serve(Serve::Status(503));
    assert_eq!(c.plane.refresh().await, Outcome::Failed);
    assert!(
        last_error(&c.cell).contains("503"),
        "{}",
        last_error(&c.cell)
    );

    server.serve(Serve::Slow {
        body: v2(),
        delay: TIMEOUT * 6,
    });
    let started = Instant::now();
    assert_eq!(c.plane.refresh().await, Outcome::Failed);
    assert!(
        started.elapsed() < TIMEOUT * 5,
        "the timeout cut the fetch short: {:?}",
        started.elapsed()
    );
    assert!(
        last_error(&c.cell).contains("no answer within"),
        "{}",
        last_error(&c.cell)
    );

    let url = server.url().to_owned();
    drop(server);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(c.plane.refresh().await, Outcome::Failed);
    assert!(
        last_error(&c.cell).contains("request failed"),
        "{}",
        last_error(&c.cell)
    );

    assert_eq!(version(&c.cell).as_deref(), Some("v1"));
    assert_eq!(
        outcomes(&c.cell),
        [
            ("applied", 1),
            ("unchanged", 0),
            ("failed", 3),
            ("invalid", 0)
        ]
    );
    assert_eq!(c.cell.control_plane(), Some(url.as_str()));
}

#[tokio::test]
async fn before_a_first_lineage_the_job_waits_and_says_why_then_takes_the_first_good_one() {
    let server = LineageServer::start(Serve::Status(500)).await;
    let c = client(&server);
    let cell = c.cell.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let run = tokio::spawn(c.plane.run(stop.clone()));
    let deadline = Instant::now() + Duration::from_secs(10);
    while cell.counters.failed.load(Ordering::Relaxed) < 2 {
        assert!(Instant::now() < deadline, "the first fetch is retried");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let waiting = cell.waiting().expect("no lineage yet");
    assert!(
        waiting.contains(server.url()) && waiting.contains("HTTP 500"),
        "{waiting}"
    );
    server.serve(Serve::document(v1()));
    while cell.current().is_none() {
        assert!(
            Instant::now() < deadline,
            "the first good document is taken"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(cell.waiting(), None);
    // Then every `refresh` (200 ms): a change is picked up without anyone asking.
    server.serve(Serve::document(v2()));
    while version(&cell).as_deref() != Some("v2") {
        assert!(Instant::now() < deadline, "the change is picked up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .expect("the loop stops")
        .expect("the loop does not panic");
}
