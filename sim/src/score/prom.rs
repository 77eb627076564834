//! Reads what `cairn score` needs from a `/metrics` page (Prometheus text format 0.0.4):
//! `cairn_duplicates_total{stream,app,group,location,kind}` summed by stream and kind, and
//! `cairn_stuck_total{stream,...}` summed by stream. Other families are skipped unread.

use std::collections::BTreeMap;

use cairn_core::metrics::names;

use super::matching::FoundCounts;

/// A `/metrics` page `cairn score` cannot use, naming the line.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PromError {
    #[error("metrics line {line}: {problem}: {text}")]
    Line {
        line: usize,
        problem: String,
        text: String,
    },
    #[error(
        "the metrics hold no {0} samples; is this the /metrics page of `cairn detect` (it exports every series from the start)?"
    )]
    Missing(&'static str),
}

/// Sums the duplicate and stuck counters of a `/metrics` page.
pub fn found_counts(text: &str) -> Result<FoundCounts, PromError> {
    let mut found = FoundCounts::default();
    let mut saw_duplicates = false;
    for (ix, line) in text.lines().enumerate() {
        let line = line.trim();
        let wanted = [names::DUPLICATES, names::STUCK]
            .into_iter()
            .find(|name| is_sample_of(line, name));
        let Some(name) = wanted else { continue };
        let bad = |problem: &str| PromError::Line {
            line: ix + 1,
            problem: problem.to_owned(),
            text: line.to_owned(),
        };
        let (labels, value) = sample(&line[name.len()..]).map_err(|p| bad(&p))?;
        if value < 0.0 || value.fract() != 0.0 || !value.is_finite() {
            return Err(bad("a counter must be a whole number >= 0"));
        }
        let stream = labels
            .get("stream")
            .ok_or_else(|| bad("no `stream` label"))?
            .clone();
        if name == names::DUPLICATES {
            saw_duplicates = true;
            let kind = labels
                .get("kind")
                .ok_or_else(|| bad("no `kind` label"))?
                .clone();
            *found.duplicates.entry((stream, kind)).or_default() += value as u64;
        } else {
            *found.stuck.entry(stream).or_default() += value as u64;
        }
    }
    if !saw_duplicates {
        return Err(PromError::Missing(names::DUPLICATES));
    }
    Ok(found)
}

/// Whether `line` is a sample (not a comment) of exactly the family `name`.
fn is_sample_of(line: &str, name: &str) -> bool {
    line.strip_prefix(name)
        .is_some_and(|rest| rest.starts_with('{') || rest.starts_with([' ', '\t']))
}

/// One sample line of the text format, `name{k="v",...} value [timestamp]`, as its name,
/// labels and value; the error says what is wrong with it. Shared with the tests' reader.
pub fn parse_sample(line: &str) -> Result<(&str, BTreeMap<String, String>, f64), String> {
    let name_end = line
        .find(|c: char| c == '{' || c.is_whitespace())
        .ok_or("no value")?;
    let (labels, value) = sample(&line[name_end..])?;
    Ok((&line[..name_end], labels, value))
}

/// `{k="v",...} value [timestamp]` → labels and value.
fn sample(rest: &str) -> Result<(BTreeMap<String, String>, f64), String> {
    let mut labels = BTreeMap::new();
    let mut rest = rest;
    if let Some(mut s) = rest.strip_prefix('{') {
        loop {
            s = s.trim_start_matches([' ', ',']);
            if let Some(after) = s.strip_prefix('}') {
                rest = after;
                break;
            }
            let eq = s.find('=').ok_or("a label without '='")?;
            let key = s[..eq].trim().to_owned();
            s = s[eq + 1..]
                .trim_start()
                .strip_prefix('"')
                .ok_or("a label value not quoted")?;
            let mut value = String::new();
            let mut chars = s.char_indices();
            let end = loop {
                match chars.next() {
                    Some((i, '"')) => break i,
                    Some((_, '\\')) => match chars.next() {
                        Some((_, 'n')) => value.push('\n'),
                        Some((_, c)) => value.push(c),
                        None => return Err("an unterminated escape".into()),
                    },
                    Some((_, c)) => value.push(c),
                    None => return Err("an unterminated label value".into()),
                }
            };
            labels.insert(key, value);
            s = &s[end + 1..];
        }
    }
    let value = rest
        .split_whitespace()
        .next()
        .ok_or("no value")?
        .parse::<f64>()
        .map_err(|e| format!("a value that is not a number ({e})"))?;
    Ok((labels, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"# HELP cairn_duplicates_total Extra copies of messages at a hop, by kind.
# TYPE cairn_duplicates_total counter
cairn_duplicates_total{stream="s",app="api",group="",location="c/a",kind="written_twice"} 2
cairn_duplicates_total{stream="s",app="q",group="g",location="c/a",kind="written_twice"} 1
cairn_duplicates_total{stream="s",app="q",group="g",location="c/a",kind="delivered_twice"} 3
cairn_duplicates_total{stream="t \"x\"",app="q",group="g",location="c/a",kind="delivered_twice"} 4
cairn_duplicates_total_other{stream="s",kind="written_twice"} 100
cairn_stuck_total{stream="s",app="q",group="g",location="c/a"} 5
cairn_stuck_total{stream="s",app="r",group="g",location="c/b"} 1
"#;

    #[test]
    fn sums_duplicates_by_stream_and_kind_and_stuck_by_stream() {
        let found = found_counts(PAGE).unwrap();
        let dup = |s: &str, k: &str| found.duplicates.get(&(s.into(), k.into())).copied();
        assert_eq!(dup("s", "written_twice"), Some(3));
        assert_eq!(dup("s", "delivered_twice"), Some(3));
        assert_eq!(dup("t \"x\"", "delivered_twice"), Some(4));
        assert_eq!(found.stuck.get("s"), Some(&6));
    }

    #[test]
    fn a_bad_sample_is_named_by_line() {
        let page = PAGE.replace("} 3\n", "} three\n");
        let err = found_counts(&page).unwrap_err().to_string();
        assert!(
            err.starts_with("metrics line 5: a value that is not a number"),
            "{err}"
        );
        let page = PAGE.replace(r#"stream="s",app="api""#, r#"app="api""#);
        let err = found_counts(&page).unwrap_err().to_string();
        assert!(
            err.starts_with("metrics line 3: no `stream` label"),
            "{err}"
        );
    }

    #[test]
    fn a_page_without_the_family_is_refused() {
        let err = found_counts("up 1\n").unwrap_err().to_string();
        assert!(err.contains("no cairn_duplicates_total samples"), "{err}");
    }
}
