//! Byte sizes as people write them in cairn.toml: `"512MiB"`, `"2GiB"`, `"500MB"`, `"4096"`.
//!
//! Hand-written like [`super::duration`]: the grammar is one number and one unit, and the
//! error should say what was expected.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};

/// What a byte size may look like, for error messages.
pub const EXPECTED: &str = "a byte size: a whole number with an optional unit B, KiB, MiB, GiB, TiB, KB, MB, GB or TB, e.g. \"512MiB\", \"2GiB\"";

/// A byte size that could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{found:?} is not {EXPECTED}")]
pub struct ByteSizeError {
    pub found: String,
}

/// Parses `"<n>[ ]<unit>"`.
pub fn parse_bytes(text: &str) -> Result<u64, ByteSizeError> {
    let error = || ByteSizeError {
        found: text.to_owned(),
    };
    let trimmed = text.trim();
    let digits = trimmed.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(error());
    }
    let n: u64 = trimmed[..digits].parse().map_err(|_| error())?;
    let unit: u64 = match trimmed[digits..].trim_start() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        _ => return Err(error()),
    };
    n.checked_mul(unit).ok_or_else(error)
}

/// Writes a size back in its largest exact binary unit (`"512MiB"`), else in bytes.
pub fn format_bytes(bytes: u64) -> String {
    for (unit, shift) in [("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)] {
        if bytes != 0 && bytes.trailing_zeros() >= shift {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    format!("{bytes}B")
}

/// serde adapter for optional byte-size fields: a string as above, or a plain integer of bytes.
pub(super) fn deserialize_option<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<u64>, D::Error> {
    struct BytesVisitor;

    impl Visitor<'_> for BytesVisitor {
        type Value = u64;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str(EXPECTED)
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<u64, E> {
            parse_bytes(text).map_err(E::custom)
        }

        fn visit_i64<E: de::Error>(self, n: i64) -> Result<u64, E> {
            u64::try_from(n).map_err(|_| E::custom(format!("{n} is not {EXPECTED}")))
        }

        fn visit_u64<E: de::Error>(self, n: u64) -> Result<u64, E> {
            Ok(n)
        }
    }

    deserializer.deserialize_any(BytesVisitor).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_unit() {
        for (text, expected) in [
            ("4096", 4096),
            ("1B", 1),
            ("512MiB", 512 << 20),
            ("2 GiB", 2 << 30),
            ("3KiB", 3 << 10),
            ("1TiB", 1 << 40),
            ("500MB", 500_000_000),
            ("2GB", 2_000_000_000),
            ("0", 0),
        ] {
            assert_eq!(parse_bytes(text), Ok(expected), "{text}");
        }
        assert_eq!(format_bytes(512 << 20), "512MiB");
        assert_eq!(format_bytes(1000), "1000B");
    }

    #[test]
    fn rejects_what_is_not_a_size() {
        for text in [
            "",
            "MiB",
            "1.5GiB",
            "-1MiB",
            "12 parsecs",
            "1mib",
            "99999999999TiB",
        ] {
            let err = parse_bytes(text).expect_err(text);
            assert!(err.to_string().contains("e.g. \"512MiB\""), "{err}");
        }
    }
}
