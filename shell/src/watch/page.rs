//! `cairn watch`'s status page at `/`: this instance's role, every watched group with its
//! state and lag (as `/api/consumers` answers), and the latest incidents.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use cairn_core::watch::GroupSummary;

use super::view::WatchView;
use crate::http::status_page::{self as page, StatusPage, Table, name_of, or_dash, utc};

/// Incidents the page lists, newest first.
const PAGE_INCIDENTS: usize = 20;

const LINKS: &[&str] = &[
    "/api/consumers",
    "/api/incidents",
    "/api/actions",
    "/api/scale",
    "/api/watch",
    "/metrics",
    "/healthz",
    "/readyz",
];

pub async fn status_page(State(view): State<Arc<WatchView>>) -> Response {
    let role = view.leader.status();
    let mut groups: Vec<GroupSummary> = Vec::new();
    for cluster in &view.clusters {
        if let Some(report) = cluster.latest.lock().as_ref() {
            groups.extend(report.groups.iter().map(|g| g.summary.clone()));
        }
    }
    let facts = vec![
        (
            "role",
            format!(
                "{} since {} ({})",
                name_of(&role.role),
                utc(role.since),
                role.reason
            ),
        ),
        ("groups watched", groups.len().to_string()),
    ];
    page::html(&StatusPage {
        job: "cairn watch",
        ready: view
            .readiness()
            .map_err(|waiting| format!("no round completed yet on: {}", waiting.join(", "))),
        facts,
        tables: vec![groups_table(&groups), incidents_table(&view)],
        links: LINKS,
    })
}

fn groups_table(groups: &[GroupSummary]) -> Table {
    Table {
        title: "Consumer groups".to_owned(),
        columns: &[
            "cluster",
            "group",
            "state",
            "lag records",
            "lag seconds",
            "stuck since",
            "last commit age s",
            "members",
        ],
        rows: groups
            .iter()
            .map(|g| {
                vec![
                    g.cluster.clone(),
                    g.group.clone(),
                    name_of(&g.state),
                    or_dash(g.lag_records),
                    or_dash(g.lag_seconds.map(|s| format!("{s:.1}"))),
                    or_dash(g.stuck_since.map(utc)),
                    or_dash(g.last_commit_age_seconds.map(|s| format!("{s:.0}"))),
                    or_dash(g.members),
                ]
            })
            .collect(),
        empty: "no round completed yet",
    }
}

fn incidents_table(view: &WatchView) -> Table {
    Table {
        title: "Latest incidents".to_owned(),
        columns: &["at", "incident", "kind", "cluster", "group", "since"],
        rows: view
            .recent_incidents(PAGE_INCIDENTS)
            .iter()
            .map(|i| {
                vec![
                    utc(i.at),
                    name_of(&i.phase),
                    name_of(&i.kind),
                    i.cluster.clone(),
                    i.group.clone(),
                    utc(i.since),
                ]
            })
            .collect(),
        empty: "no incident since this instance started",
    }
}
