//! The status page at `/` that every job serves: what a person opening the job's address in a
//! browser should see first. It is plain server-made HTML (no script, no asset), built from the
//! same values as the job's JSON answers, and it reloads itself every few seconds. Programs
//! read `/api/...` and `/metrics`; the page links them and promises no layout.
//!
//! Every text that comes from outside (group, topic, stream and app names, error messages) is
//! escaped: names are whatever the clusters and configs hold.

use std::fmt::Write as _;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use cairn_core::model::Millis;
use html_escape::{encode_double_quoted_attribute, encode_text};
use serde::Serialize;

/// Seconds between the page's reloads.
const RELOAD_SECONDS: u32 = 5;

/// One job's page: a title, a readiness line, a few facts, tables and links.
pub struct StatusPage {
    /// `cairn detect`, `cairn watch`, `cairn canary`.
    pub job: &'static str,
    /// `Ok(())` when `/readyz` answers 200, else its reason.
    pub ready: Result<(), String>,
    /// Name and value pairs shown under the title.
    pub facts: Vec<(&'static str, String)>,
    pub tables: Vec<Table>,
    /// The job's endpoints, linked at the bottom.
    pub links: &'static [&'static str],
}

/// A titled table; `empty` is shown instead when it has no rows.
pub struct Table {
    pub title: String,
    pub columns: &'static [&'static str],
    pub rows: Vec<Vec<String>>,
    pub empty: &'static str,
}

impl StatusPage {
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let job = encode_text(self.job);
        // Writing to a String cannot fail.
        let _ = write!(
            out,
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta http-equiv=\"refresh\" content=\"{RELOAD_SECONDS}\">\
             <title>{job}</title><style>{STYLE}</style></head><body>\n<h1>{job}</h1>\n"
        );
        match &self.ready {
            Ok(()) => out.push_str("<p class=\"ready\">ready</p>\n"),
            Err(reason) => {
                let _ = writeln!(
                    out,
                    "<p class=\"waiting\">not ready: {}</p>",
                    encode_text(reason)
                );
            }
        }
        if !self.facts.is_empty() {
            out.push_str("<dl>\n");
            for (name, value) in &self.facts {
                let _ = writeln!(
                    out,
                    "<dt>{}</dt><dd>{}</dd>",
                    encode_text(name),
                    encode_text(value)
                );
            }
            out.push_str("</dl>\n");
        }
        for table in &self.tables {
            table.render(&mut out);
        }
        out.push_str("<p class=\"links\">");
        for (n, link) in self.links.iter().enumerate() {
            if n > 0 {
                out.push_str(" · ");
            }
            let _ = write!(
                out,
                "<a href=\"{}\">{}</a>",
                encode_double_quoted_attribute(link),
                encode_text(link)
            );
        }
        out.push_str("</p>\n</body></html>\n");
        out
    }
}

impl Table {
    fn render(&self, out: &mut String) {
        let _ = writeln!(out, "<h2>{}</h2>", encode_text(&self.title));
        if self.rows.is_empty() {
            let _ = writeln!(out, "<p>{}</p>", encode_text(self.empty));
            return;
        }
        out.push_str("<table><thead><tr>");
        for column in self.columns {
            let _ = write!(out, "<th>{}</th>", encode_text(column));
        }
        out.push_str("</tr></thead><tbody>\n");
        for row in &self.rows {
            out.push_str("<tr>");
            for cell in row {
                let _ = write!(out, "<td>{}</td>", encode_text(cell));
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</tbody></table>\n");
    }
}

/// The page as an HTML answer.
pub fn html(page: &StatusPage) -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        page.render(),
    )
        .into_response()
}

/// A value's name as its JSON answers spell it (`stuck`, `active`, …).
pub fn name_of(value: &impl Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        Ok(other) => other.to_string(),
        Err(_) => "?".to_owned(),
    }
}

/// An optional figure, `–` when unknown.
pub fn or_dash<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "–".to_owned(), |v| v.to_string())
}

/// A time in milliseconds since the epoch as UTC (RFC 3339, seconds).
pub fn utc(at: Millis) -> String {
    chrono::DateTime::from_timestamp_millis(at).map_or_else(
        || at.to_string(),
        |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    )
}

/// A ratio as a percentage with two decimals.
pub fn percent(ratio: f64) -> String {
    format!("{:.2}%", ratio * 100.0)
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}\
table{border-collapse:collapse;margin-bottom:1em}\
th,td{border:1px solid #ccc;padding:.2em .6em;text-align:left}\
th{background:#f3f3f3}.ready{color:#176317}.waiting{color:#a4460b}\
dl{display:grid;grid-template-columns:max-content auto;gap:.1em 1em}dd{margin:0}";

#[cfg(test)]
mod tests {
    use super::*;

    fn page(name: &str) -> StatusPage {
        StatusPage {
            job: "cairn watch",
            ready: Err(format!("waiting for <{name}>")),
            facts: vec![("role", "active".to_owned())],
            tables: vec![
                Table {
                    title: "Consumer groups".to_owned(),
                    columns: &["group", "state"],
                    rows: vec![vec![name.to_owned(), "stuck".to_owned()]],
                    empty: "no group yet",
                },
                Table {
                    title: "Incidents".to_owned(),
                    columns: &["kind"],
                    rows: vec![],
                    empty: "no incident yet",
                },
            ],
            links: &["/api/consumers", "/metrics"],
        }
    }

    #[test]
    fn names_from_outside_are_escaped() {
        let html = page("<script>alert(\"x\")</script>&").render();
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(html.contains("&amp;"), "{html}");
    }

    #[test]
    fn a_page_has_its_rows_its_empty_tables_and_its_links() {
        let html = page("orders-sink").render();
        assert!(
            html.contains("<td>orders-sink</td><td>stuck</td>"),
            "{html}"
        );
        assert!(html.contains("<p>no incident yet</p>"), "{html}");
        assert!(html.contains("<a href=\"/metrics\">/metrics</a>"), "{html}");
        assert!(
            html.contains("not ready: waiting for &lt;orders-sink&gt;"),
            "{html}"
        );
        assert!(html.contains("<dt>role</dt><dd>active</dd>"), "{html}");
    }

    #[test]
    fn figures_are_spelled_for_people() {
        assert_eq!(or_dash(None::<i64>), "–");
        assert_eq!(or_dash(Some(3)), "3");
        assert_eq!(percent(0.0123), "1.23%");
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
    }
}
