//! The JSON endpoints and the probes, through the router.

use serde_json::{Value, json};

use super::*;
use crate::readiness::SessionPhase;

fn stream<'a>(body: &'a Value, name: &str) -> &'a Value {
    body["streams"]
        .as_array()
        .expect("streams is an array")
        .iter()
        .find(|s| s["stream"] == name)
        .unwrap_or_else(|| panic!("no stream {name} in {body}"))
}

fn hop<'a>(stream: &'a Value, app: &str, location: &str) -> &'a Value {
    stream["hops"]
        .as_array()
        .expect("hops is an array")
        .iter()
        .find(|h| h["hop"]["app"] == app && h["hop"]["location"] == location)
        .unwrap_or_else(|| panic!("no hop {app}@{location}"))
}

fn counts(by: &[(&str, u64)]) -> Value {
    by.iter().map(|&(k, v)| (k.to_owned(), json!(v))).collect()
}

#[tokio::test]
async fn streams_show_counts_rates_and_latencies_per_stream_and_hop() {
    let f = fixture();
    let body = get_json(f.router(), "/api/streams", StatusCode::OK).await;
    assert_streams_in_lineage_order(&body);
    let s = stream(&body, "s");
    assert_stream_counts_rates_and_end_to_end(s);
    assert_hop_counts_and_latencies(s);
    assert_idle_stream_is_all_zeros(stream(&body, "idle"));
}

/// `/api/streams` lists the streams in the lineage's order.
fn assert_streams_in_lineage_order(body: &Value) {
    let names: Vec<&str> = body["streams"]
        .as_array()
        .expect("an array")
        .iter()
        .map(|s| s["stream"].as_str().expect("a name"))
        .collect();
    assert_eq!(names, ["s", "idle"], "lineage order");
}

/// The fixture's stream `s` as a whole: what it saw, lost, doubled, and its end-to-end latency.
fn assert_stream_counts_rates_and_end_to_end(s: &Value) {
    assert_eq!(s["seen"], 8);
    assert_eq!(s["complete"], 5);
    assert_eq!(s["in_memory"], 0);
    assert_eq!(
        s["lost"],
        json!({"total": 3, "by_reason": counts(&[("committed_past", 2), ("expired", 0), ("lost_in_app", 1)])})
    );
    assert_eq!(
        s["duplicate"],
        json!({"total": 1, "by_kind": counts(&[("delivered_twice", 1), ("written_twice", 0)])})
    );
    assert_eq!(s["retracted"], 1);
    assert_eq!(s["stuck"], 1);
    assert_eq!(s["trace_gaps"], 1);
    assert_eq!(
        (&s["unknown"], &s["tracer_dropped"]),
        (&json!(0), &json!(0))
    );
    assert_eq!(s["loss_rate"], 0.25, "(3 lost − 1 retracted) / 8 seen");
    assert_eq!(s["duplicate_rate"], 0.125);
    // 15, 35, 35, 7 000 and 9 000 ms; HDR reports the top of the value's bucket (9 000 → 9 023).
    assert_eq!(
        s["end_to_end"],
        json!({"count": 5, "p50_ms": 35, "p99_ms": 9_023, "clock_skew": 0})
    );
}

/// Each hop of `s`: its role, counters and latency.
fn assert_hop_counts_and_latencies(s: &Value) {
    assert_eq!(
        hop(s, "audit", "c/l0"),
        &json!({
            "hop": {"app": "audit", "group": "g-audit", "location": "c/l0"},
            "role": "read",
            "traces_seen": 6,
            "lost": {"total": 2, "by_reason": counts(&[("committed_past", 2), ("expired", 0), ("lost_in_app", 0)])},
            "duplicate": {"total": 0, "by_kind": counts(&[("delivered_twice", 0), ("written_twice", 0)])},
            "retracted": 1,
            "stuck": 1,
            "trace_gaps": 0,
            "unknown": 0,
            // 12, 12, 12, 300 and 9 000 ms.
            "latency": {"count": 5, "p50_ms": 12, "p99_ms": 9_023, "clock_skew": 0},
        })
    );
    let router = hop(s, "router", "c/l0");
    assert_eq!(
        router["latency"],
        json!({"count": 7, "p50_ms": 10, "p99_ms": 2_007, "clock_skew": 0})
    );
    let router_writes = hop(s, "router", "c/l1");
    assert_eq!(router_writes["role"], "write");
    assert_eq!(router_writes["hop"]["group"], "g-router");
    assert_eq!(router_writes["lost"]["by_reason"]["lost_in_app"], 1);
    assert_eq!(
        router_writes["latency"],
        json!({"count": 0, "p50_ms": null, "p99_ms": null, "clock_skew": 0})
    );
    let producer = hop(s, "producer", "c/l0");
    assert_eq!(producer["hop"]["group"], Value::Null);
    assert_eq!(producer["trace_gaps"], 1);
    assert_eq!(
        hop(s, "sink", "c/l1")["duplicate"]["by_kind"]["delivered_twice"],
        1
    );
}

/// A stream that saw nothing shows every hop of its lineage, every counter at zero and no
/// latency.
fn assert_idle_stream_is_all_zeros(idle: &Value) {
    let zero_lost = json!({"total": 0, "by_reason": counts(&[("committed_past", 0), ("expired", 0), ("lost_in_app", 0)])});
    let zero_dup =
        json!({"total": 0, "by_kind": counts(&[("delivered_twice", 0), ("written_twice", 0)])});
    let no_latency = json!({"count": 0, "p50_ms": null, "p99_ms": null, "clock_skew": 0});
    let idle_hop = |app: &str, group: Value, role: &str| {
        json!({
            "hop": {"app": app, "group": group, "location": "d/l2"},
            "role": role,
            "traces_seen": 0,
            "lost": zero_lost,
            "duplicate": zero_dup,
            "retracted": 0,
            "stuck": 0,
            "trace_gaps": 0,
            "unknown": 0,
            "latency": no_latency,
        })
    };
    assert_eq!(
        idle,
        &json!({
            "stream": "idle",
            "seen": 0,
            "complete": 0,
            "in_memory": 0,
            "spilled": 0,
            "shed": 0,
            "shed_traces": 0,
            "lost": zero_lost,
            "duplicate": zero_dup,
            "retracted": 0,
            "stuck": 0,
            "trace_gaps": 0,
            "unknown": 0,
            "tracer_dropped": 0,
            "in_lineage": false,
            "unwatched": counts(&[("hop_removed", 0), ("stream_removed", 0)]),
            "loss_rate": 0.0,
            "duplicate_rate": 0.0,
            "end_to_end": no_latency,
            "hops": [idle_hop("p2", Value::Null, "write"), idle_hop("r2", json!("g2"), "read")],
        })
    );
}

#[tokio::test]
async fn streams_of_an_empty_observatory_is_an_empty_list() {
    let router = router(
        Arc::new(Observatory::default()),
        Arc::new(OffsetsBoard::new([])),
    );
    let body = get_json(router, "/api/streams", StatusCode::OK).await;
    assert_eq!(
        body,
        json!({
            "lineage": {
                "version": null, "generation": null, "source": "file", "url": null,
                "hash": null, "etag": null, "applied_at": null, "streams": [], "fetch": null,
            },
            "streams": [],
        })
    );
}

#[tokio::test]
async fn streams_say_which_lineage_is_in_use_and_how_its_control_plane_answers() {
    use crate::lineage::{Applied, LineageCell, LineageSource};
    use cairn_core::config::Config;
    use cairn_core::lineage::Lineage;

    let cell = Arc::new(LineageCell::awaiting("http://127.0.0.1:1/streams.toml"));
    let observatory = Arc::new(Observatory::with_lineage(cell.clone()));
    let body = get_json(
        router(observatory.clone(), Arc::new(OffsetsBoard::new([]))),
        "/api/streams",
        StatusCode::OK,
    )
    .await;
    assert_eq!(body["lineage"]["version"], Value::Null);
    assert_eq!(body["lineage"]["source"], "control_plane");
    assert_eq!(body["lineage"]["fetch"]["outcomes"]["failed"], 0);

    let config = Config::from_toml_str(
        "[clusters.c]\nbootstrap = \"x:1\"\n[tracing]\ncluster = \"c\"\ntopic = \"t\"\n\
         group = \"g\"\n[output]\ncluster = \"c\"\ntopic = \"o\"\n[[streams]]\nname = \"s\"\n\
         [[streams.apps]]\napp = \"api\"\nwrites = \"c/t1\"\n",
    )
    .expect("valid");
    cell.apply(Applied {
        lineage: Arc::new(Lineage::compile(&config.streams).expect("compiles")),
        config,
        version: "v3".into(),
        hash: Some("sha256:00".into()),
        etag: Some("\"e\"".into()),
        source: LineageSource::ControlPlane {
            url: "http://127.0.0.1:1/streams.toml".into(),
        },
        applied_at: 1_000,
        generation: 0,
    });
    {
        let mut status = cell.status.lock();
        status.last_attempt_at = Some(3_000);
        status.last_success_at = Some(1_000);
        status.last_error = Some("answered HTTP 503, expected 2xx".into());
        status.last_error_at = Some(3_000);
    }
    cell.counters
        .failed
        .fetch_add(2, std::sync::atomic::Ordering::Relaxed);
    let body = get_json(
        router(observatory, Arc::new(OffsetsBoard::new([]))),
        "/api/streams",
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        body["lineage"],
        json!({
            "version": "v3", "generation": 1, "source": "control_plane",
            "url": "http://127.0.0.1:1/streams.toml", "hash": "sha256:00", "etag": "\"e\"",
            "applied_at": 1_000, "streams": ["s"],
            "fetch": {
                "last_attempt_at": 3_000, "last_success_at": 1_000,
                "last_error": "answered HTTP 503, expected 2xx", "last_error_at": 3_000,
                "outcomes": {"applied": 0, "failed": 2, "invalid": 0, "unchanged": 0},
            },
        })
    );
}

/// The body `/api/lost` must answer with: `verdicts`, each exactly as the wire contract.
fn lost_body<'a>(verdicts: impl IntoIterator<Item = &'a Verdict>) -> String {
    let encoded: Vec<String> = verdicts
        .into_iter()
        .map(|v| String::from_utf8(cairn_core::verdict::encode(v)).expect("utf-8"))
        .collect();
    format!("{{\"verdicts\":[{}]}}", encoded.join(","))
}

#[tokio::test]
async fn lost_lists_recent_verdicts_newest_first_as_the_wire_contract() {
    let f = fixture();
    assert_eq!(f.verdicts.len(), 4);
    let (status, content_type, body) = get(f.router(), "/api/lost").await;
    assert_eq!(
        (status, content_type.as_str()),
        (StatusCode::OK, "application/json")
    );
    assert_eq!(body, lost_body(f.verdicts.iter().rev()));
    let parsed: Value = serde_json::from_str(&body).expect("JSON");
    let order: Vec<(&str, &str)> = parsed["verdicts"]
        .as_array()
        .expect("an array")
        .iter()
        .map(|v| (v["verdict"].as_str().unwrap(), v["id"].as_str().unwrap()))
        .collect();
    assert_eq!(
        order,
        [
            ("retracted", "id-retracted"),
            ("lost", "id-lost-router"),
            ("lost", "id-retracted"),
            ("lost", "id-lost-audit"),
        ]
    );
    // Each one decodes back to the verdict the detector made.
    for (json, verdict) in parsed["verdicts"]
        .as_array()
        .expect("an array")
        .iter()
        .zip(f.verdicts.iter().rev())
    {
        let bytes = serde_json::to_vec(json).expect("JSON");
        assert_eq!(
            &cairn_core::verdict::decode(&bytes).expect("a verdict"),
            verdict
        );
    }

    let (_, _, two) = get(f.router(), "/api/lost?limit=2").await;
    assert_eq!(two, lost_body(f.verdicts.iter().rev().take(2)));
    let (_, _, max) = get(f.router(), "/api/lost?limit=1000&stream=").await;
    assert_eq!(max, body, "an empty stream is no filter");
    let (_, _, one) = get(f.router(), "/api/lost?stream=s&limit=1").await;
    assert_eq!(one, lost_body(f.verdicts.last()));
    let (status, _, idle) = get(f.router(), "/api/lost?stream=idle").await;
    assert_eq!(
        (status, idle.as_str()),
        (StatusCode::OK, r#"{"verdicts":[]}"#)
    );
}

#[tokio::test]
async fn lost_refuses_a_bad_limit_naming_the_parameter() {
    let f = fixture();
    for bad in ["0", "1001", "ten", "-1", "2.5", ""] {
        let uri = format!("/api/lost?limit={bad}");
        let body = get_json(f.router(), &uri, StatusCode::BAD_REQUEST).await;
        assert_eq!(
            body,
            json!({"error": format!("`limit`: expected a whole number from 1 to 1000, got {bad:?}")}),
            "{uri}"
        );
    }
}

#[tokio::test]
async fn lost_shows_at_most_the_default_without_a_limit() {
    let observatory = Arc::new(Observatory::default());
    let template = fixture().verdicts[0].clone();
    for i in 0..150 {
        let mut verdict = template.clone();
        verdict.id = format!("m{i}");
        observatory.record_verdict(&verdict);
    }
    let router = router(observatory, Arc::new(OffsetsBoard::new([])));
    let body = get_json(router, "/api/lost", StatusCode::OK).await;
    let ids: Vec<&str> = body["verdicts"]
        .as_array()
        .expect("an array")
        .iter()
        .map(|v| v["id"].as_str().expect("an id"))
        .collect();
    assert_eq!(ids.len(), 100);
    assert_eq!((ids[0], ids[99]), ("m149", "m50"));
}

#[tokio::test]
async fn oracle_shows_health_watermarks_committed_offsets_and_lag() {
    let f = fixture();
    let body = get_json(f.router(), "/api/oracle", StatusCode::OK).await;
    let clusters = body["clusters"].as_array().expect("an array");
    assert_eq!(clusters.len(), 2);
    let c = &clusters[0];
    assert_eq!(c["cluster"], "c");
    assert_eq!(c["rounds"], 12);
    assert_eq!(
        c["errors"],
        counts(&[("committed", 0), ("metadata", 0), ("watermarks", 2)])
    );
    assert_eq!(c["last_complete_round"], NOW - 1_500);
    let staleness = c["staleness_seconds"].as_f64().expect("a number");
    assert!(
        staleness >= 1.5,
        "{staleness}: wall clock minus a fixed past time"
    );
    assert_eq!(
        c["topics"],
        json!([{
            "location": "c/l0",
            "partitions": [
                {"partition": 0, "log_start": 0, "log_end": 40},
                {"partition": 1, "log_start": 2, "log_end": 9},
            ],
            "groups": [
                {"group": "g-audit", "lag": 9, "partitions": [
                    {"partition": 0, "committed": 31, "lag": 9},
                    {"partition": 1, "committed": null, "lag": null},
                ]},
                {"group": "g-router", "lag": 3, "partitions": [
                    {"partition": 0, "committed": 40, "lag": 0},
                    {"partition": 1, "committed": 6, "lag": 3},
                ]},
            ],
        }])
    );
    assert_eq!(
        clusters[1],
        json!({
            "cluster": "d",
            "rounds": 3,
            "errors": counts(&[("committed", 0), ("metadata", 3), ("watermarks", 0)]),
            "last_complete_round": null,
            "staleness_seconds": null,
            "topics": [],
        })
    );
}

#[tokio::test]
async fn healthz_is_ok_and_readyz_says_what_it_waits_for() {
    let f = fixture();
    assert_eq!(
        get(f.router(), "/healthz").await,
        (
            StatusCode::OK,
            "text/plain; charset=utf-8".to_owned(),
            "ok".to_owned()
        )
    );
    let (status, _, body) = get(f.router(), "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        body,
        "not ready: waiting for a complete offsets oracle round on d; joining the consumer \
         group and restoring state"
    );
    f.observatory.session.set(SessionPhase::Running);
    let (status, _, body) = get(f.router(), "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        body,
        "not ready: waiting for a complete offsets oracle round on d"
    );
    f.observatory.oracle.lock()["d"]
        .last_complete_round
        .store(NOW, Ordering::Relaxed);
    let (status, _, body) = get(f.router(), "/readyz").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ready"));
    // A session that restarts is not ready; health does not depend on readiness.
    f.observatory.session.set(SessionPhase::Restarting);
    let (status, _, body) = get(f.router(), "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        body,
        "not ready: the session failed and restarts from the last checkpoint"
    );
    assert_eq!(get(f.router(), "/healthz").await.0, StatusCode::OK);
}

#[tokio::test]
async fn an_unknown_path_is_not_found() {
    let f = fixture();
    assert_eq!(
        get(f.router(), "/api/nothing").await.0,
        StatusCode::NOT_FOUND
    );
}
