//! Reads what `cairn score` needs from a `/metrics` page (Prometheus text format 0.0.4):
//! [`catalog::DUPLICATES`] summed by stream and kind, and [`catalog::STUCK`] summed by stream.
//! Other families are skipped unread.

use std::collections::BTreeMap;

use cairn_core::metrics::catalog;

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
        let wanted = [catalog::DUPLICATES.name, catalog::STUCK.name]
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
        if name == catalog::DUPLICATES.name {
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
        return Err(PromError::Missing(catalog::DUPLICATES.name));
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

    /// A page with duplicates and stuck counts, a family whose name extends the duplicates'
    /// (not to be summed), and a stream name that needs escaping.
    fn metrics_page() -> String {
        let (dup, stuck) = (catalog::DUPLICATES.name, catalog::STUCK.name);
        let help = catalog::DUPLICATES.help;
        format!(
            r#"# HELP {dup} {help}
# TYPE {dup} counter
{dup}{{stream="s",app="api",group="",location="c/a",kind="written_twice"}} 2
{dup}{{stream="s",app="q",group="g",location="c/a",kind="written_twice"}} 1
{dup}{{stream="s",app="q",group="g",location="c/a",kind="delivered_twice"}} 3
{dup}{{stream="t \"x\"",app="q",group="g",location="c/a",kind="delivered_twice"}} 4
{dup}_other{{stream="s",kind="written_twice"}} 100
{stuck}{{stream="s",app="q",group="g",location="c/a"}} 5
{stuck}{{stream="s",app="r",group="g",location="c/b"}} 1
"#
        )
    }

    #[test]
    fn sums_duplicates_by_stream_and_kind_and_stuck_by_stream() {
        let found = found_counts(&metrics_page()).unwrap();
        let dup = |s: &str, k: &str| found.duplicates.get(&(s.into(), k.into())).copied();
        assert_eq!(dup("s", "written_twice"), Some(3));
        assert_eq!(dup("s", "delivered_twice"), Some(3));
        assert_eq!(dup("t \"x\"", "delivered_twice"), Some(4));
        assert_eq!(found.stuck.get("s"), Some(&6));
    }

    #[test]
    fn a_bad_sample_is_named_by_line() {
        let page = metrics_page().replace("} 3\n", "} three\n");
        let err = found_counts(&page).unwrap_err().to_string();
        assert!(
            err.starts_with("metrics line 5: a value that is not a number"),
            "{err}"
        );
        let page = metrics_page().replace(r#"stream="s",app="api""#, r#"app="api""#);
        let err = found_counts(&page).unwrap_err().to_string();
        assert!(
            err.starts_with("metrics line 3: no `stream` label"),
            "{err}"
        );
    }

    #[test]
    fn a_page_without_the_family_is_refused() {
        let err = found_counts("up 1\n").unwrap_err().to_string();
        let expected = format!("no {} samples", catalog::DUPLICATES.name);
        assert!(err.contains(&expected), "{err}");
    }
}
