//! The `/metrics` page read back line by line against the rules of the text format 0.0.4.

use std::collections::{BTreeMap, HashSet};

use cairn_core::metrics::catalog::{self, MetricDef, MetricKind, Source};
use cairn_core::metrics::exposition::{Exposition, is_label_name, is_metric_name};

use super::*;
use crate::http::export;

/// One sample line: its name, labels in written order, and value.
#[derive(Clone, Debug)]
pub(super) struct Line {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

/// One family: its HELP text, TYPE, and samples in written order.
#[derive(Debug)]
pub(super) struct Family {
    pub name: String,
    pub help: String,
    pub kind: String,
    pub samples: Vec<Line>,
}

/// Parses a whole exposition, failing on the first line that breaks the format: a sample
/// before its family's HELP and TYPE, a family named twice, a sample of another family in
/// the middle of one, a bad name, label or escape, a value that is not a float.
pub(super) fn parse(text: &str) -> Result<Vec<Family>, String> {
    if !text.ends_with('\n') {
        return Err("the page does not end with a line feed".into());
    }
    let mut families: Vec<Family> = Vec::new();
    let mut named = HashSet::new();
    let mut lines = text.lines().enumerate().peekable();
    while let Some((n, line)) = lines.next() {
        let at = |msg: String| format!("line {}: {msg}: {line:?}", n + 1);
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest
                .split_once(' ')
                .ok_or_else(|| at("HELP without text".into()))?;
            if !named.insert(name.to_owned()) {
                return Err(at(format!("second HELP for {name}")));
            }
            let Some((_, type_line)) = lines.next() else {
                return Err(at("HELP not followed by TYPE".into()));
            };
            let kind = type_line
                .strip_prefix(&format!("# TYPE {name} "))
                .ok_or_else(|| at(format!("HELP not followed by the TYPE of {name}")))?;
            families.push(Family {
                name: name.to_owned(),
                help: unescape(help, false).map_err(&at)?,
                kind: kind.to_owned(),
                samples: Vec::new(),
            });
        } else if line.starts_with('#') {
            return Err(at("a comment that is neither HELP nor its TYPE".into()));
        } else {
            let sample = parse_sample(line).map_err(&at)?;
            let family = families
                .last_mut()
                .ok_or_else(|| at("a sample before any HELP and TYPE".into()))?;
            if !belongs(&sample.name, &family.name, &family.kind) {
                return Err(at(format!("a sample outside its family {}", family.name)));
            }
            family.samples.push(sample);
        }
    }
    Ok(families)
}

fn belongs(sample: &str, family: &str, kind: &str) -> bool {
    if kind == "histogram" {
        ["_bucket", "_sum", "_count"]
            .iter()
            .any(|suffix| sample.strip_suffix(suffix) == Some(family))
    } else {
        sample == family
    }
}

fn parse_sample(line: &str) -> Result<Line, String> {
    let name_end = line
        .find(['{', ' '])
        .ok_or_else(|| "a sample without a value".to_owned())?;
    let name = &line[..name_end];
    if !is_metric_name(name) {
        return Err(format!("invalid metric name {name:?}"));
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(mut inner) = rest.strip_prefix('{') {
        loop {
            let (label, after) = inner
                .split_once("=\"")
                .ok_or_else(|| "a label without =\"".to_owned())?;
            if !is_label_name(label) {
                return Err(format!("invalid label name {label:?}"));
            }
            let (value, after) = split_quoted(after)?;
            labels.push((label.to_owned(), value));
            if let Some(after) = after.strip_prefix(',') {
                inner = after;
            } else if let Some(after) = after.strip_prefix('}') {
                rest = after;
                break;
            } else {
                return Err("labels not separated by , or closed by }".into());
            }
        }
    }
    let value = rest
        .strip_prefix(' ')
        .ok_or_else(|| "no space before the value".to_owned())?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v
            .parse::<f64>()
            .map_err(|_| format!("the value {v:?} is not a float (or is followed by more)"))?,
    };
    Ok(Line {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// Splits `text` after the closing quote of a label value, unescaping the value.
fn split_quoted(text: &str) -> Result<(String, &str), String> {
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match (escaped, c) {
            (true, _) => escaped = false,
            (false, '\\') => escaped = true,
            (false, '"') => return Ok((unescape(&text[..i], true)?, &text[i + 1..])),
            _ => {}
        }
    }
    Err("an unterminated label value".into())
}

/// Undoes the format's escapes: `\\` and `\n`, and `\"` in label values only.
fn unescape(text: &str, quotes: bool) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('"') if quotes => out.push('"'),
            other => return Err(format!("a bad escape \\{other:?} in {text:?}")),
        }
    }
    Ok(out)
}

/// Every rule of the format a scraper relies on, over a parsed page.
fn check_format(families: &[Family]) {
    let mut series = HashSet::new();
    for family in families {
        let name = &family.name;
        assert!(!family.help.is_empty(), "{name} has no help");
        assert!(!family.samples.is_empty(), "{name} has no samples");
        match family.kind.as_str() {
            "counter" => {
                assert!(
                    name.ends_with("_total"),
                    "counter {name} must end in _total"
                );
                for s in &family.samples {
                    assert!(
                        s.value >= 0.0 && s.value.fract() == 0.0,
                        "{name}: {}",
                        s.value
                    );
                }
            }
            "gauge" => assert!(!name.ends_with("_total"), "gauge {name} ends in _total"),
            "histogram" => check_histogram(family),
            other => panic!("{name}: unexpected type {other}"),
        }
        for s in &family.samples {
            let mut key: Vec<_> = s.labels.clone();
            key.sort();
            let distinct: HashSet<_> = key.iter().map(|(k, _)| k).collect();
            assert_eq!(distinct.len(), key.len(), "{name}: a label twice");
            assert!(
                series.insert((s.name.clone(), key)),
                "{name}: a series written twice: {s:?}"
            );
        }
    }
}

/// What one histogram series wrote: its buckets (`le`, count), `_sum` and `_count`.
#[derive(Default)]
struct Series {
    buckets: Vec<(f64, f64)>,
    sum: Option<f64>,
    count: Option<f64>,
}

/// Per series: buckets with strictly rising `le`, cumulative counts that never fall, a last
/// bucket `+Inf` equal to `_count`, and one `_sum` and `_count`.
fn check_histogram(family: &Family) {
    let name = &family.name;
    let mut by_series: BTreeMap<Vec<(String, String)>, Series> = BTreeMap::new();
    for s in &family.samples {
        let le = s
            .labels
            .iter()
            .find(|(k, _)| k == "le")
            .map(|(_, v)| v.clone());
        let key: Vec<_> = s
            .labels
            .iter()
            .filter(|(k, _)| k != "le")
            .cloned()
            .collect();
        let entry = by_series.entry(key).or_default();
        if s.name.ends_with("_bucket") {
            let le = le.unwrap_or_else(|| panic!("{name}: a bucket without le"));
            let bound = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().unwrap_or_else(|_| panic!("{name}: le {le:?}"))
            };
            entry.buckets.push((bound, s.value));
        } else {
            assert!(le.is_none(), "{name}: le on {}", s.name);
            let slot = if s.name.ends_with("_sum") {
                &mut entry.sum
            } else {
                &mut entry.count
            };
            assert!(slot.replace(s.value).is_none(), "{name}: {} twice", s.name);
        }
    }
    for (labels, series) in by_series {
        let buckets = series.buckets;
        let count = series
            .count
            .unwrap_or_else(|| panic!("{name}{labels:?}: no _count"));
        let sum = series
            .sum
            .unwrap_or_else(|| panic!("{name}{labels:?}: no _sum"));
        assert!(sum >= 0.0, "{name}{labels:?}");
        assert_eq!(
            buckets.last().map(|b| b.0),
            Some(f64::INFINITY),
            "{name}{labels:?}: the last bucket is not +Inf"
        );
        assert_eq!(
            buckets.last().map(|b| b.1),
            Some(count),
            "{name}{labels:?}: +Inf != _count"
        );
        for pair in buckets.windows(2) {
            assert!(pair[0].0 < pair[1].0, "{name}{labels:?}: le not rising");
            assert!(pair[0].1 <= pair[1].1, "{name}{labels:?}: not cumulative");
        }
    }
}

/// Every family of the page is a catalog family, written with the catalog's type, help text
/// and label names (and `le` on a histogram's buckets).
fn check_catalog(families: &[Family]) {
    for family in families {
        let name = &family.name;
        let def = catalog::by_name(name).unwrap_or_else(|| panic!("{name} is not in the catalog"));
        assert_eq!(family.kind, def.kind.as_str(), "{name}");
        assert_eq!(family.help, def.help, "{name}");
        for s in &family.samples {
            let mut expected = def.labels.to_vec();
            if s.name.ends_with("_bucket") && def.kind == MetricKind::Histogram {
                expected.push("le");
            }
            let got: Vec<&str> = s.labels.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(got, expected, "{}", s.name);
        }
    }
}

#[test]
fn the_metrics_page_follows_the_text_format_and_the_catalog() {
    let f = fixture();
    f.observatory
        .session
        .set(crate::readiness::SessionPhase::Running);
    let page = export::render(&f.observatory, NOW);
    let families = parse(&page).unwrap_or_else(|e| panic!("{e}\n{page}"));
    check_format(&families);
    check_catalog(&families);
    let names: Vec<&str> = families.iter().map(|f| f.name.as_str()).collect();
    // Every family of `cairn detect`; malformed traces only once one is counted.
    let expected: Vec<&str> = catalog::counted_by(Source::Detector)
        .chain(catalog::counted_by(Source::Shell))
        .filter(|def| **def != catalog::TRACES_MALFORMED)
        .map(|def| def.name)
        .collect();
    for name in &expected {
        assert!(names.contains(name), "{name} missing from {names:?}");
    }
    assert_eq!(names.len(), expected.len(), "{names:?}");
}

#[test]
fn malformed_traces_appear_once_counted() {
    let f = fixture();
    let mut metrics = (**f.observatory.metrics.load()).clone();
    metrics.count_malformed("not_json");
    metrics.count_malformed("not_json");
    metrics.count_malformed("bad_field");
    f.observatory.metrics.store(Arc::new(metrics));
    let page = export::render(&f.observatory, NOW);
    let families = parse(&page).unwrap_or_else(|e| panic!("{e}\n{page}"));
    check_format(&families);
    check_catalog(&families);
    let malformed = families
        .iter()
        .find(|f| f.name == catalog::TRACES_MALFORMED.name)
        .expect("the family is exported once something was counted");
    let values: Vec<(String, f64)> = malformed
        .samples
        .iter()
        .map(|s| (s.labels[0].1.clone(), s.value))
        .collect();
    assert_eq!(
        values,
        vec![("bad_field".to_owned(), 1.0), ("not_json".to_owned(), 2.0)]
    );
}

#[test]
fn no_label_carries_a_message_id() {
    let f = fixture();
    let page = export::render(&f.observatory, NOW);
    for family in parse(&page).expect("valid") {
        for sample in family.samples {
            for (label, value) in &sample.labels {
                assert_ne!(label, "id", "{}", sample.name);
                for id in IDS {
                    assert!(!value.contains(id), "{} has {label}={value}", sample.name);
                }
            }
        }
    }
    for id in IDS {
        assert!(!page.contains(id), "{id} appears in /metrics");
    }
}

#[test]
fn the_parser_reads_back_what_the_writer_escapes() {
    // A family of this test only: the writer escapes whatever a definition and a value hold.
    const X: MetricDef = MetricDef {
        name: "x_total",
        help: "help with \\ and\nline",
        labels: &["a", "b"],
        ..catalog::TRACES_CONSUMED
    };
    let nasty = "back\\slash \"quoted\"\nnew line";
    let mut out = Exposition::new();
    out.counter(&X, &[("a", nasty), ("b", "")], 3);
    let families = parse(&out.render()).expect("valid");
    assert_eq!(families[0].help, X.help);
    assert_eq!(families[0].samples[0].labels[0].1, nasty);
    assert_eq!(families[0].samples[0].value, 3.0);
}

#[test]
fn the_parser_rejects_what_the_format_forbids() {
    for (bad, why) in [
        ("x_total 1\n", "no HELP"),
        ("# HELP x_total x\nx_total 1\n", "no TYPE"),
        (
            "# HELP x_total x\n# TYPE x_total counter\ny_total 1\n",
            "another family's sample",
        ),
        (
            "# HELP x_total x\n# TYPE x_total counter\n# HELP x_total x\n# TYPE x_total counter\n",
            "a family twice",
        ),
        (
            "# HELP x_total x\n# TYPE x_total counter\nx_total{a=\"\\q\"} 1\n",
            "a bad escape",
        ),
        (
            "# HELP x_total x\n# TYPE x_total counter\nx_total{a=\"x} 1\n",
            "an unterminated value",
        ),
        (
            "# HELP x_total x\n# TYPE x_total counter\nx_total one\n",
            "a value that is not a number",
        ),
        (
            "# HELP x_total x\n# TYPE x_total counter\nx_total 1",
            "no final line feed",
        ),
    ] {
        assert!(parse(bad).is_err(), "{why}: {bad:?}");
    }
}

#[test]
fn the_format_rules_catch_a_broken_page() {
    let broken = |text: &str| {
        let families = parse(text).expect("the syntax itself is valid");
        std::panic::catch_unwind(|| check_format(&families)).is_err()
    };
    let histogram = |buckets: &str, count: u64| {
        format!(
            "# HELP h_seconds h\n# TYPE h_seconds histogram\n{buckets}\
             h_seconds_sum 1\nh_seconds_count {count}\n"
        )
    };
    let good = "h_seconds_bucket{le=\"1\"} 1\nh_seconds_bucket{le=\"+Inf\"} 2\n";
    assert!(!broken(&histogram(good, 2)), "the control case passes");
    assert!(broken(&histogram(good, 3)), "+Inf differs from _count");
    let falling = "h_seconds_bucket{le=\"1\"} 3\nh_seconds_bucket{le=\"+Inf\"} 2\n";
    assert!(broken(&histogram(falling, 2)), "not cumulative");
    let no_inf = "h_seconds_bucket{le=\"1\"} 2\n";
    assert!(broken(&histogram(no_inf, 2)), "no +Inf bucket");
    assert!(
        broken("# HELP x x\n# TYPE x counter\nx 1\n"),
        "a counter without _total"
    );
    assert!(
        broken(
            "# HELP x_total x\n# TYPE x_total counter\nx_total{a=\"1\"} 1\nx_total{a=\"1\"} 2\n"
        ),
        "a series twice"
    );
}

#[test]
fn the_catalog_rules_catch_a_family_written_otherwise() {
    let broken = |text: &str| {
        let families = parse(text).expect("the syntax itself is valid");
        std::panic::catch_unwind(|| check_catalog(&families)).is_err()
    };
    let page = |def: &catalog::MetricDef, kind: &str, labels: &str| {
        let (name, help) = (def.name, def.help);
        format!("# HELP {name} {help}\n# TYPE {name} {kind}\n{name}{labels} 1\n")
    };
    let consumed = &catalog::TRACES_CONSUMED;
    assert!(
        !broken(&page(consumed, "counter", "")),
        "the control case passes"
    );
    assert!(broken(&page(consumed, "gauge", "")), "another type");
    assert!(
        broken(&page(consumed, "counter", "{cluster=\"c\"}")),
        "another label"
    );
    let rounds = &catalog::ORACLE_ROUNDS;
    assert!(!broken(&page(rounds, "counter", "{cluster=\"c\"}")));
    assert!(broken(&page(rounds, "counter", "")), "a label missing");
    assert!(
        broken("# HELP other_total x\n# TYPE other_total counter\nother_total 1\n"),
        "not in the catalog"
    );
}
