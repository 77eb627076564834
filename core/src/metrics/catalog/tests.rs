use std::collections::{BTreeMap, HashSet};

use super::*;
use crate::metrics::exposition::{is_label_name, is_metric_name};

/// The label names any family may carry: each one's values come from the config or from a
/// fixed list, so the number of series stays bounded. `state` is one of `ConsumerState`'s
/// names; `group` under `cairn watch` is one the config selects on a cluster.
const BOUNDED_LABELS: [&str; 10] = [
    "stream",
    "app",
    "group",
    "location",
    "cluster",
    "reason",
    "kind",
    "from",
    "operation",
    "state",
];

#[test]
fn names_are_unique_prefixed_and_follow_the_conventions() {
    let mut seen = HashSet::new();
    for def in ALL {
        let name = def.name;
        assert!(seen.insert(name), "{name} defined twice");
        assert!(is_metric_name(name), "{name}");
        assert!(name.starts_with(PREFIX), "{name}");
        assert_eq!(by_name(name), Some(def), "{name}");
        assert_eq!(
            name.ends_with("_total"),
            def.kind == MetricKind::Counter,
            "only counters end in _total: {name}"
        );
        assert!(!name.contains("_ms"), "{name}: exported in seconds");
        if def.unit == Unit::Seconds {
            assert!(name.ends_with("_seconds"), "{name} names its unit");
        }
        assert!(!def.help.is_empty() && !def.help.contains('\n'), "{name}");
    }
}

#[test]
fn labels_are_bounded_and_named_once_per_family() {
    for def in ALL {
        let distinct: HashSet<_> = def.labels.iter().collect();
        assert_eq!(distinct.len(), def.labels.len(), "{}", def.name);
        for label in def.labels {
            assert!(is_label_name(label), "{}: {label}", def.name);
            assert!(
                BOUNDED_LABELS.contains(label),
                "{}: {label} is not a bounded label",
                def.name
            );
        }
    }
}

#[test]
fn only_histograms_have_buckets_and_they_rise() {
    for def in ALL {
        if def.kind == MetricKind::Histogram {
            assert!(!def.buckets.is_empty(), "{}", def.name);
            assert!(def.buckets.windows(2).all(|w| w[0] < w[1]), "{}", def.name);
        } else {
            assert!(def.buckets.is_empty(), "{}", def.name);
        }
    }
}

#[test]
fn every_recorded_unit_converts_to_the_exported_one() {
    for def in ALL {
        assert!(def.recorded_in.converts_to(def.unit), "{}", def.name);
        if def.kind == MetricKind::Counter {
            assert_eq!((def.unit, def.recorded_in), (Unit::Count, Unit::Count));
        }
    }
}

#[test]
fn latency_is_recorded_in_milliseconds_and_exported_in_seconds() {
    for def in [HOP_LATENCY, END_TO_END_LATENCY] {
        assert_eq!(def.kind, MetricKind::Histogram);
        assert_eq!(
            (def.recorded_in, def.unit),
            (Unit::Milliseconds, Unit::Seconds)
        );
        assert_eq!(def.exported(2_064.0), 2.064);
        assert_eq!(def.exported(5.0), 0.005);
        assert_eq!(def.buckets, LATENCY_BUCKETS_MS);
    }
    assert_eq!(Unit::Seconds.convert(1.5, Unit::Milliseconds), 1_500.0);
    assert_eq!(READY.exported(1.0), 1.0);
    assert!(!Unit::Count.converts_to(Unit::Seconds));
}

#[test]
fn every_family_is_counted_by_one_part() {
    let detector = counted_by(Source::Detector).count();
    let shell = counted_by(Source::Shell).count();
    let tracer = counted_by(Source::Tracer).count();
    let watch = counted_by(Source::Watch).count();
    assert_eq!((detector, shell, tracer, watch), (15, 14, 5, 12));
    assert_eq!(detector + shell + tracer + watch, ALL.len());
    let watch_prefix = format!("{PREFIX}watch_");
    assert!(counted_by(Source::Watch).all(|d| d.name.starts_with(&watch_prefix)));
    let tracer_prefix = format!("{PREFIX}tracer_");
    assert!(counted_by(Source::Tracer).all(|d| d.name.starts_with(&tracer_prefix)));
}

const README: &str = include_str!("../../../../README.md");

/// Family → label names, from README.md's metric table: the table under "## Metrics and API"
/// whose first column is headed `metric family`, one family per row written as
/// `` `name{label,...}` ``.
fn readme_families() -> BTreeMap<String, Vec<String>> {
    let section = README
        .split("\n## ")
        .find(|s| s.starts_with("Metrics and API"))
        .expect("README.md has a \"## Metrics and API\" section");
    let mut rows = section
        .lines()
        .skip_while(|line| !(line.starts_with('|') && line.contains("metric family")))
        .take_while(|line| line.starts_with('|'))
        .skip(2); // the header and the separator
    let mut families = BTreeMap::new();
    for row in rows.by_ref() {
        let cell = row
            .split('|')
            .nth(1)
            .expect("a row has a first cell")
            .trim();
        let family = cell
            .strip_prefix('`')
            .and_then(|c| c.strip_suffix('`'))
            .unwrap_or_else(|| panic!("the first cell is one `family{{labels}}`: {row}"));
        let (name, labels) = match family.split_once('{') {
            Some((name, labels)) => {
                let labels = labels
                    .strip_suffix('}')
                    .unwrap_or_else(|| panic!("unclosed labels: {row}"));
                (name, labels.split(',').map(str::to_owned).collect())
            }
            None => (family, Vec::new()),
        };
        assert!(is_metric_name(name), "one family per row: {row}");
        assert!(
            families.insert(name.to_owned(), labels).is_none(),
            "{name} listed twice"
        );
    }
    assert!(!families.is_empty(), "README.md has no metric table");
    families
}

#[test]
fn the_readme_table_lists_every_family_with_its_labels() {
    let readme = readme_families();
    for def in ALL {
        let labels = readme
            .get(def.name)
            .unwrap_or_else(|| panic!("{} is missing from README.md's metric table", def.name));
        assert_eq!(labels, def.labels, "README.md's labels of {}", def.name);
    }
    for name in readme.keys() {
        assert!(
            by_name(name).is_some(),
            "README.md lists {name}, which the catalog does not define"
        );
    }
}
