//! `cairn canary`'s status page at `/`: per cluster the exact counts and availability of
//! `/api/canary`, and per broker its share of them.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use cairn_core::canary::report::ClusterReport;

use super::view::CanaryView;
use crate::http::status_page::{self as page, StatusPage, Table, percent, utc};

const LINKS: &[&str] = &[
    "/api/canary",
    "/api/brokers",
    "/api/incidents",
    "/metrics",
    "/healthz",
    "/readyz",
];

pub async fn status_page(State(view): State<Arc<CanaryView>>) -> Response {
    let reports = view.reports();
    page::html(&StatusPage {
        job: "cairn canary",
        ready: view.readiness(),
        facts: vec![
            ("run", view.run.clone()),
            ("instance", view.instance.clone()),
        ],
        tables: vec![clusters_table(&reports), brokers_table(&reports)],
        links: LINKS,
    })
}

fn clusters_table(reports: &[ClusterReport]) -> Table {
    Table {
        title: "Clusters".to_owned(),
        columns: &[
            "cluster",
            "topic",
            "mode",
            "produced",
            "acknowledged",
            "consumed",
            "lost",
            "duplicated",
            "produce availability",
            "consume availability",
            "p99 ms",
            "at",
        ],
        rows: reports
            .iter()
            .map(|r| {
                vec![
                    r.cluster.clone(),
                    r.topic.clone(),
                    r.mode.clone(),
                    r.produced.to_string(),
                    r.acknowledged.to_string(),
                    r.consumed.to_string(),
                    r.lost.to_string(),
                    r.duplicated.to_string(),
                    percent(r.produce_availability),
                    percent(r.consume_availability),
                    r.latency_ms.p99.to_string(),
                    utc(r.at),
                ]
            })
            .collect(),
        empty: "no report yet",
    }
}

fn brokers_table(reports: &[ClusterReport]) -> Table {
    Table {
        title: "Brokers".to_owned(),
        columns: &[
            "cluster",
            "broker",
            "address",
            "live",
            "leads",
            "send failures",
            "lost",
            "duplicated",
            "produce availability",
            "metadata consistent",
        ],
        rows: reports
            .iter()
            .flat_map(|r| &r.brokers)
            .map(|b| {
                let leads: Vec<String> = b.leads.iter().map(i32::to_string).collect();
                vec![
                    b.cluster.clone(),
                    b.id.to_string(),
                    b.address.clone(),
                    b.live.to_string(),
                    leads.join(" "),
                    b.send_failures.to_string(),
                    b.lost.to_string(),
                    b.duplicated.to_string(),
                    percent(b.produce_availability),
                    b.metadata_consistent.to_string(),
                ]
            })
            .collect(),
        empty: "no broker seen yet",
    }
}
