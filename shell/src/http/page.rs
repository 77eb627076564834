//! `cairn detect`'s status page at `/`: readiness, the lineage in use, and per stream and hop
//! the counts `/api/streams` answers ([`status_page`](super::status_page) renders it).

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::response::Response;

use super::HttpState;
use super::api::{StreamView, streams_body};
use super::status_page::{self as page, StatusPage, Table, or_dash, percent};

/// The endpoints the page links.
const LINKS: &[&str] = &[
    "/api/streams",
    "/api/lost",
    "/api/oracle",
    "/metrics",
    "/healthz",
    "/readyz",
];

pub async fn status_page(State(state): State<HttpState>) -> Response {
    let metrics = state.observatory.metrics.load_full();
    let body = streams_body(&state, &metrics);
    let lineage = &body.lineage;
    let facts = vec![
        (
            "lineage",
            format!("{} ({})", or_dash(lineage.version.clone()), lineage.source),
        ),
        ("streams in the lineage", lineage.streams.join(", ")),
        ("judged up to", judged_up_to(&state)),
    ];
    page::html(&StatusPage {
        job: "cairn detect",
        ready: state.observatory.readiness().map_err(|n| n.to_string()),
        facts,
        tables: vec![streams_table(&body.streams), hops_table(&body.streams)],
        links: LINKS,
    })
}

/// How far behind now the owned tracing partitions are judged (`cairn_judging_lag_seconds`).
fn judged_up_to(state: &HttpState) -> String {
    let shell = &state.observatory.shell;
    if shell.partitions_assigned.load(Ordering::Relaxed) == 0 {
        return "no tracing partition owned".to_owned();
    }
    let lag_ms = shell.judging_lag_ms.load(Ordering::Relaxed);
    format!("{:.1} s ago", lag_ms as f64 / 1000.0)
}

fn streams_table(streams: &[StreamView<'_>]) -> Table {
    Table {
        title: "Streams".to_owned(),
        columns: &[
            "stream",
            "seen",
            "complete",
            "in memory",
            "spilled",
            "lost",
            "retracted",
            "loss rate",
            "duplicates",
            "stuck",
            "unknown",
            "end-to-end p99 ms",
        ],
        rows: streams
            .iter()
            .map(|s| {
                vec![
                    s.stream.to_owned(),
                    s.seen.to_string(),
                    s.complete.to_string(),
                    s.in_memory.to_string(),
                    s.spilled.to_string(),
                    s.lost.total.to_string(),
                    s.retracted.to_string(),
                    percent(s.loss_rate),
                    s.duplicate.total.to_string(),
                    s.stuck.to_string(),
                    s.unknown.to_string(),
                    or_dash(s.end_to_end.p99_ms),
                ]
            })
            .collect(),
        empty: "no trace judged yet",
    }
}

fn hops_table(streams: &[StreamView<'_>]) -> Table {
    Table {
        title: "Hops".to_owned(),
        columns: &[
            "stream",
            "app",
            "location",
            "group",
            "role",
            "traces",
            "lost",
            "retracted",
            "duplicates",
            "stuck",
            "p99 ms",
        ],
        rows: streams
            .iter()
            .flat_map(|s| {
                s.hops.iter().map(|h| {
                    vec![
                        s.stream.to_owned(),
                        h.hop.app.clone(),
                        h.hop.location.clone(),
                        or_dash(h.hop.group.clone()),
                        h.role.to_owned(),
                        h.traces_seen.to_string(),
                        h.lost.total.to_string(),
                        h.retracted.to_string(),
                        h.duplicate.total.to_string(),
                        h.stuck.to_string(),
                        or_dash(h.latency.p99_ms),
                    ]
                })
            })
            .collect(),
        empty: "no hop traced yet",
    }
}
