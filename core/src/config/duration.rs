//! Durations as people write them in cairn.toml: `"500ms"`, `"10s"`, `"5m"`, `"1h"`, `"1h30m"`.
//!
//! Hand-written because the grammar is small and the error should say what was expected.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};

/// What a duration string may look like, for error messages.
pub const EXPECTED: &str = "a duration: whole numbers with units ms, s, m, h or d, e.g. \"500ms\", \"10s\", \"5m\", \"1h30m\"";

/// A duration string that could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{found:?} is not {EXPECTED}")]
pub struct DurationError {
    pub found: String,
}

/// Parses `"<n><unit>"` terms, optionally separated by spaces, and adds them up.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let error = || DurationError {
        found: text.to_owned(),
    };
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(error());
    }
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let unit_len = rest[digits..]
            .bytes()
            .take_while(u8::is_ascii_alphabetic)
            .count();
        if digits == 0 || unit_len == 0 {
            return Err(error());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| error())?;
        let unit = &rest[digits..digits + unit_len];
        let term = match unit {
            "ms" => Some(Duration::from_millis(n)),
            "s" => Some(Duration::from_secs(n)),
            "m" => n.checked_mul(60).map(Duration::from_secs),
            "h" => n.checked_mul(3600).map(Duration::from_secs),
            "d" => n.checked_mul(86_400).map(Duration::from_secs),
            _ => None,
        };
        total = term.and_then(|t| total.checked_add(t)).ok_or_else(error)?;
        rest = rest[digits + unit_len..].trim_start();
    }
    Ok(total)
}

/// Writes a duration back in the same notation, in its largest exact unit (`90s` → `"90s"`, `2h` → `"2h"`).
pub fn format_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
    ] {
        if millis != 0 && millis.is_multiple_of(size) {
            return format!("{}{unit}", millis / size);
        }
    }
    format!("{millis}ms")
}

/// serde adapter: a field written as a duration string.
pub(super) fn deserialize<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Duration, D::Error> {
    struct DurationVisitor;

    impl Visitor<'_> for DurationVisitor {
        type Value = Duration;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str(EXPECTED)
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<Duration, E> {
            parse_duration(text).map_err(E::custom)
        }
    }

    deserializer.deserialize_str(DurationVisitor)
}

/// serde adapter for optional duration fields.
pub(super) fn deserialize_option<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Duration>, D::Error> {
    deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_unit_and_sums_terms() {
        let cases = [
            ("500ms", Duration::from_millis(500)),
            ("10s", Duration::from_secs(10)),
            ("5m", Duration::from_secs(300)),
            ("1h", Duration::from_secs(3600)),
            ("2d", Duration::from_secs(172_800)),
            ("1h30m", Duration::from_secs(5400)),
            (" 1m 500ms ", Duration::from_millis(60_500)),
            ("0s", Duration::ZERO),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_duration(text), Ok(expected), "{text}");
        }
    }

    #[test]
    fn rejects_what_is_not_a_duration() {
        for text in [
            "",
            "10",
            "s",
            "1.5s",
            "-1s",
            "10 s",
            "5x",
            "1hour",
            "1h-",
            "99999999999999999999s",
            "18446744073709551615d",
        ] {
            let err = parse_duration(text).expect_err(text);
            assert_eq!(err.found, text);
            assert!(err.to_string().contains("e.g. \"500ms\""), "{err}");
        }
    }

    #[test]
    fn formats_in_the_largest_exact_unit() {
        let cases = [
            (500, "500ms"),
            (1_500, "1500ms"),
            (10_000, "10s"),
            (90_000, "90s"),
            (300_000, "5m"),
            (7_200_000, "2h"),
            (0, "0ms"),
        ];
        for (millis, text) in cases {
            let duration = Duration::from_millis(millis);
            assert_eq!(format_duration(duration), text);
            assert_eq!(parse_duration(text), Ok(duration));
        }
    }
}
