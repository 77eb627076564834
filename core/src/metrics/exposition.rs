//! The Prometheus text exposition format, version 0.0.4, written from [`catalog`] entries.
//!
//! An [`Exposition`] collects samples by family and writes each family once: its `# HELP`, its
//! `# TYPE`, then all of its samples together, whatever order they were added in. Name, type
//! and help come from the family's [`MetricDef`]; in debug builds every sample is checked
//! against it (its kind, and its label names in the defined order). It knows the format, not
//! what to export: that is the job of each exporter (the shell's `/metrics`, the tracer).
//!
//! [`catalog`]: super::catalog

use std::collections::HashMap;
use std::fmt::Write;

use super::catalog::{MetricDef, MetricKind};

/// The `Content-Type` of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// One label: a name its family defines and a value from the config or a fixed list (never a
/// message id or an error text, so that series stay bounded).
pub type Label<'a> = (&'static str, &'a str);

/// A histogram ready to write, in its exported unit: cumulative counts per upper bound
/// (ascending, without `+Inf`, which is always `count`), the sum of the observations and
/// their count.
#[derive(Clone, Debug, PartialEq)]
pub struct HistogramValue {
    pub buckets: Vec<(f64, u64)>,
    pub sum: f64,
    pub count: u64,
}

struct Family {
    def: MetricDef,
    /// The sample lines written so far.
    body: String,
}

/// Metric families under construction, in the order they were first added to.
#[derive(Default)]
pub struct Exposition {
    families: Vec<Family>,
    index: HashMap<&'static str, usize>,
}

impl Exposition {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one sample of counter family `def`.
    pub fn counter(&mut self, def: &MetricDef, labels: &[Label<'_>], value: u64) {
        let body = self.family(def, MetricKind::Counter, labels);
        write_sample(body, def.name, labels, None, &value.to_string());
    }

    /// Adds one sample of gauge family `def`; `value` may be infinite (written `+Inf`).
    pub fn gauge(&mut self, def: &MetricDef, labels: &[Label<'_>], value: f64) {
        let body = self.family(def, MetricKind::Gauge, labels);
        write_sample(body, def.name, labels, None, &format_float(value));
    }

    /// Adds one series of histogram family `def`: its `_bucket` lines (cumulative, ending
    /// with `le="+Inf"`), `_sum` and `_count`.
    pub fn histogram(&mut self, def: &MetricDef, labels: &[Label<'_>], value: &HistogramValue) {
        let name = def.name;
        let body = self.family(def, MetricKind::Histogram, labels);
        let bucket = format!("{name}_bucket");
        for &(le, cumulative) in &value.buckets {
            let le = format_float(le);
            write_sample(body, &bucket, labels, Some(&le), &cumulative.to_string());
        }
        let count = value.count.to_string();
        write_sample(body, &bucket, labels, Some("+Inf"), &count);
        let sum = format_float(value.sum);
        write_sample(body, &format!("{name}_sum"), labels, None, &sum);
        write_sample(body, &format!("{name}_count"), labels, None, &count);
    }

    /// The whole exposition: every family's HELP and TYPE, then its samples.
    pub fn render(self) -> String {
        let mut out = String::new();
        for Family { def, body } in self.families {
            // Writing to a String cannot fail.
            let _ = writeln!(out, "# HELP {} {}", def.name, escape_help(def.help));
            let _ = writeln!(out, "# TYPE {} {}", def.name, def.kind.as_str());
            out.push_str(&body);
        }
        out
    }

    /// The sample buffer of family `def`, created on first use. Adding a sample that does not
    /// fit its definition is a bug in the exporter, caught in debug builds.
    fn family(&mut self, def: &MetricDef, kind: MetricKind, labels: &[Label<'_>]) -> &mut String {
        let name = def.name;
        debug_assert!(is_metric_name(name), "invalid metric name {name}");
        debug_assert_eq!(def.kind, kind, "{name} is defined as a {:?}", def.kind);
        debug_assert!(
            labels.iter().map(|l| l.0).eq(def.labels.iter().copied()),
            "{name} written with labels {:?}, defined with {:?}",
            labels.iter().map(|l| l.0).collect::<Vec<_>>(),
            def.labels
        );
        let ix = *self.index.entry(name).or_insert_with(|| {
            self.families.push(Family {
                def: *def,
                body: String::new(),
            });
            self.families.len() - 1
        });
        let family = &mut self.families[ix];
        debug_assert_eq!(family.def, *def, "two definitions named {name}");
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::catalog::{Source, Unit};

    /// Families of these tests only: the writer works from whatever a definition says.
    const X: MetricDef = MetricDef {
        name: "x_total",
        kind: MetricKind::Counter,
        unit: Unit::Count,
        recorded_in: Unit::Count,
        help: "help with \\ and\nline",
        labels: &["a", "b"],
        buckets: &[],
        source: Source::Shell,
    };
    const Y: MetricDef = MetricDef {
        name: "y",
        kind: MetricKind::Gauge,
        help: "y",
        labels: &[],
        ..X
    };
    const H: MetricDef = MetricDef {
        name: "h_seconds",
        kind: MetricKind::Histogram,
        unit: Unit::Seconds,
        recorded_in: Unit::Seconds,
        help: "h",
        labels: &["stream"],
        buckets: &[1],
        ..X
    };

    #[test]
    fn families_are_written_once_with_escaped_help_and_label_values() {
        let mut out = Exposition::new();
        let nasty = "back\\slash \"quoted\"\nnew line";
        out.counter(&X, &[("a", nasty), ("b", "")], 3);
        out.gauge(&Y, &[], f64::INFINITY);
        out.counter(&X, &[("a", "2"), ("b", "")], 4);
        assert_eq!(
            out.render(),
            "# HELP x_total help with \\\\ and\\nline\n\
             # TYPE x_total counter\n\
             x_total{a=\"back\\\\slash \\\"quoted\\\"\\nnew line\",b=\"\"} 3\n\
             x_total{a=\"2\",b=\"\"} 4\n\
             # HELP y y\n\
             # TYPE y gauge\n\
             y +Inf\n"
        );
    }

    #[test]
    fn a_histogram_writes_its_buckets_sum_and_count() {
        let mut out = Exposition::new();
        let value = HistogramValue {
            buckets: vec![(0.005, 1), (0.5, 3), (3600.0, 3)],
            sum: 0.75,
            count: 4,
        };
        out.histogram(&H, &[("stream", "s")], &value);
        assert_eq!(
            out.render(),
            "# HELP h_seconds h\n\
             # TYPE h_seconds histogram\n\
             h_seconds_bucket{stream=\"s\",le=\"0.005\"} 1\n\
             h_seconds_bucket{stream=\"s\",le=\"0.5\"} 3\n\
             h_seconds_bucket{stream=\"s\",le=\"3600\"} 3\n\
             h_seconds_bucket{stream=\"s\",le=\"+Inf\"} 4\n\
             h_seconds_sum{stream=\"s\"} 0.75\n\
             h_seconds_count{stream=\"s\"} 4\n"
        );
    }

    #[test]
    fn floats_are_written_as_the_format_reads_them() {
        assert_eq!(format_float(0.005), "0.005");
        assert_eq!(format_float(3600.0), "3600");
        assert_eq!(format_float(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_float(f64::NAN), "NaN");
    }

    #[test]
    fn names_follow_the_format() {
        assert!(is_metric_name("cairn:x_1") && !is_metric_name("1x") && !is_metric_name(""));
        assert!(is_label_name("a_1") && !is_label_name("__a") && !is_label_name("a-b"));
    }

    #[cfg(debug_assertions)]
    #[test]
    #[should_panic(expected = "defined with")]
    fn labels_other_than_the_definitions_are_a_bug() {
        Exposition::new().counter(&X, &[("b", ""), ("a", "")], 1);
    }

    #[cfg(debug_assertions)]
    #[test]
    #[should_panic(expected = "is defined as a Gauge")]
    fn a_sample_of_another_kind_is_a_bug() {
        Exposition::new().counter(&Y, &[], 1);
    }
}
