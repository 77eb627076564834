//! One scrape of `/metrics`, enough to sum counters by label. Each sample line is read by
//! `cairn score`'s own parser (`cairn_sim::score::prom::parse_sample`), so the tests and the
//! scorer cannot disagree about the text format.
//!
//! The contract fixes the metric names ([`crate::metric`]) and the bounded extra labels
//! (`reason`, `kind`), but not how a hop is labelled; [`mentions`] therefore matches an app
//! name against any label value as a whole word.

use std::collections::BTreeMap;

/// One sample line: `name{labels} value`.
#[derive(Clone, Debug, PartialEq)]
pub struct PromSample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// One scrape of `/metrics`.
#[derive(Clone, Debug, Default)]
pub struct Scrape {
    pub samples: Vec<PromSample>,
}

impl Scrape {
    /// Parses the text format; comments and blank lines are skipped.
    pub fn parse(text: &str) -> Result<Scrape, String> {
        let mut samples = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (name, labels, value) = cairn_sim::score::prom::parse_sample(line)
                .map_err(|e| format!("line {}: {e}: {line}", n + 1))?;
            samples.push(PromSample {
                name: name.to_owned(),
                labels,
                value,
            });
        }
        Ok(Scrape { samples })
    }

    /// Whether any sample is called `name`.
    pub fn has(&self, name: &str) -> bool {
        self.samples.iter().any(|s| s.name == name)
    }

    /// Whether a sample called `name` has every pair of `labels`.
    pub fn has_series(&self, name: &str, labels: &[(&str, &str)]) -> bool {
        self.samples.iter().any(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).is_some_and(|x| x == v))
        })
    }

    /// The sum of the samples called `name` whose labels include every pair of `labels`.
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.sum_where(name, |l| {
            labels
                .iter()
                .all(|(k, v)| l.get(*k).is_some_and(|x| x == v))
        })
    }

    /// The sum of the samples called `name` whose labels pass `keep`.
    pub fn sum_where(&self, name: &str, keep: impl Fn(&BTreeMap<String, String>) -> bool) -> f64 {
        self.samples
            .iter()
            .filter(|s| s.name == name && keep(&s.labels))
            .map(|s| s.value)
            .sum()
    }

    /// The samples of the named metrics, one a line, for a failure message.
    pub fn show(&self, names: &[&str]) -> String {
        self.samples
            .iter()
            .filter(|s| names.iter().any(|n| s.name.starts_with(n)))
            .map(|s| format!("  {}{:?} {}", s.name, s.labels, s.value))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Whether some label value names `word` as a whole word (words are runs of letters,
/// digits, `_`, `.` and `-`, so "sink" matches `hop="sink"` and `hop="sink@local/t3"`).
pub fn mentions(labels: &BTreeMap<String, String>, word: &str) -> bool {
    labels.values().any(|v| {
        v.split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
            .any(|w| w == word)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_reader_parses_the_text_format() {
        let text = "# HELP cairn_lost_total Lost.\n# TYPE cairn_lost_total counter\n\
            cairn_lost_total{stream=\"orders\",app=\"sink\",reason=\"committed_past\"} 2\n\
            cairn_lost_total{stream=\"orders\",hop=\"a \\\"q\\\"\",reason=\"expired\"} 1 1700000000000\n\
            cairn_up 1\n";
        let scrape = Scrape::parse(text).expect("parses");
        assert_eq!(scrape.samples.len(), 3);
        assert_eq!(scrape.sum("cairn_lost_total", &[]), 3.0);
        assert_eq!(
            scrape.sum("cairn_lost_total", &[("reason", "committed_past")]),
            2.0
        );
        assert_eq!(scrape.samples[1].labels["hop"], "a \"q\"");
        assert_eq!(
            scrape.sum_where("cairn_lost_total", |l| mentions(l, "sink")),
            2.0
        );
        assert_eq!(scrape.sum("cairn_up", &[]), 1.0);
        assert!(Scrape::parse("cairn_x{a=\"1\" 2").is_err());
    }
}
