//! The Prometheus text exposition format, version 0.0.4.
//!
//! An [`Exposition`] collects samples by family and writes each family once: its `# HELP`, its
//! `# TYPE`, then all of its samples together, whatever order they were added in. It knows the
//! format, not cairn: what to export lives in `export.rs`.

use std::collections::HashMap;
use std::fmt::Write;

/// The `Content-Type` of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The type of a metric family, as written on its `# TYPE` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
}

impl MetricType {
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
        }
    }
}

/// One label: a name from a fixed set and a value from the config or a fixed list (never a
/// message id or an error text, so that series stay bounded).
pub type Label<'a> = (&'static str, &'a str);

/// A histogram ready to write: cumulative counts per upper bound (ascending, without `+Inf`,
/// which is always `count`), the sum of the observations and their count.
#[derive(Clone, Debug, PartialEq)]
pub struct HistogramValue {
    pub buckets: Vec<(f64, u64)>,
    pub sum: f64,
    pub count: u64,
}

struct Family {
    name: String,
    help: String,
    kind: MetricType,
    /// The sample lines written so far.
    body: String,
}

/// Metric families under construction, in the order they were first named.
#[derive(Default)]
pub struct Exposition {
    families: Vec<Family>,
    index: HashMap<String, usize>,
}

impl Exposition {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one counter sample; `name` ends in `_total`.
    pub fn counter(&mut self, name: &str, help: &str, labels: &[Label<'_>], value: u64) {
        debug_assert!(
            name.ends_with("_total"),
            "counter {name} must end in _total"
        );
        let body = self.family(name, MetricType::Counter, help);
        write_sample(body, name, labels, None, &value.to_string());
    }

    /// Adds one gauge sample; `value` may be infinite (written `+Inf`).
    pub fn gauge(&mut self, name: &str, help: &str, labels: &[Label<'_>], value: f64) {
        let body = self.family(name, MetricType::Gauge, help);
        write_sample(body, name, labels, None, &format_float(value));
    }

    /// Adds one histogram series: its `_bucket` lines (cumulative, ending with `le="+Inf"`),
    /// `_sum` and `_count`.
    pub fn histogram(
        &mut self,
        name: &str,
        help: &str,
        labels: &[Label<'_>],
        value: &HistogramValue,
    ) {
        let body = self.family(name, MetricType::Histogram, help);
        let bucket = format!("{name}_bucket");
        for &(le, cumulative) in &value.buckets {
            let le = format_float(le);
            write_sample(body, &bucket, labels, Some(&le), &cumulative.to_string());
        }
        write_sample(
            body,
            &bucket,
            labels,
            Some("+Inf"),
            &value.count.to_string(),
        );
        write_sample(
            body,
            &format!("{name}_sum"),
            labels,
            None,
            &format_float(value.sum),
        );
        write_sample(
            body,
            &format!("{name}_count"),
            labels,
            None,
            &value.count.to_string(),
        );
    }

    /// The whole exposition: every family's HELP and TYPE, then its samples.
    pub fn render(self) -> String {
        let mut out = String::new();
        for family in self.families {
            let _ = writeln!(out, "# HELP {} {}", family.name, escape_help(&family.help));
            let _ = writeln!(out, "# TYPE {} {}", family.name, family.kind.as_str());
            out.push_str(&family.body);
        }
        out
    }

    /// The sample buffer of family `name`, created on first use. A name is one family: adding
    /// it again with another type is a bug in the exporter, caught by tests.
    fn family(&mut self, name: &str, kind: MetricType, help: &str) -> &mut String {
        debug_assert!(is_metric_name(name), "invalid metric name {name}");
        let ix = match self.index.get(name) {
            Some(&ix) => ix,
            None => {
                self.families.push(Family {
                    name: name.to_owned(),
                    help: help.to_owned(),
                    kind,
                    body: String::new(),
                });
                self.index.insert(name.to_owned(), self.families.len() - 1);
                self.families.len() - 1
            }
        };
        let family = &mut self.families[ix];
        debug_assert_eq!(family.kind, kind, "{name} added as two types");
        &mut family.body
    }
}

fn write_sample(out: &mut String, name: &str, labels: &[Label<'_>], le: Option<&str>, value: &str) {
    out.push_str(name);
    let extra = le.map(|le| ("le", le));
    let mut all = labels.iter().copied().chain(extra).peekable();
    if all.peek().is_some() {
        out.push('{');
        for (i, (label, value)) in all.enumerate() {
            debug_assert!(is_label_name(label), "invalid label name {label}");
            if i > 0 {
                out.push(',');
            }
            out.push_str(label);
            out.push_str("=\"");
            escape_label_value_into(out, value);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
    out.push_str(value);
    out.push('\n');
}

/// A float as the format writes it: `+Inf`, `-Inf`, `NaN`, or the shortest decimal that reads
/// back as the same value (`0.005`, `1`, `3600`).
pub fn format_float(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value == f64::INFINITY {
        "+Inf".to_owned()
    } else if value == f64::NEG_INFINITY {
        "-Inf".to_owned()
    } else {
        value.to_string()
    }
}

/// Label values escape backslash, double quote and line feed.
fn escape_label_value_into(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// HELP text escapes backslash and line feed.
fn escape_help(help: &str) -> String {
    help.replace('\\', "\\\\").replace('\n', "\\n")
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`
pub fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__` (reserved).
pub fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    !name.starts_with("__")
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
