//! Which client settings hold a secret, and how they are shown: the one place that decides,
//! used wherever a cluster's settings are printed (`Debug` of [`ClusterConfig`], the start-up
//! line that names a cluster's effective settings, client errors that echo a value).
//!
//! Secrets are matched by the setting's name, not listed one by one, so that librdkafka keys
//! added later (and the Java clients' names operators paste in) are covered: any name with
//! `password`, `secret`, `passphrase`, `private.key`, `key.pem`, `jaas`, `credential`, or one of
//! the whole-value secrets below.

use std::fmt;

use super::ClusterConfig;

/// What is shown instead of a secret value.
pub const REDACTED: &str = "[redacted]";

/// Parts of a setting's name that mark its value as a secret.
const SECRET_NAME_PARTS: [&str; 7] = [
    "password",
    "secret",
    "passphrase",
    "private.key",
    "key.pem",
    "jaas",
    "credential",
];

/// Whole names whose value is or carries a secret although the name does not say so:
/// librdkafka's PEM key blob and its OAUTHBEARER config string (which may hold a token).
const SECRET_NAMES: [&str; 3] = [
    "ssl_key",
    "sasl.oauthbearer.config",
    "sasl.oauthbearer.token",
];

/// True when the value of client setting `key` must never be printed.
pub fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    SECRET_NAMES.contains(&key.as_str()) || SECRET_NAME_PARTS.iter().any(|part| key.contains(part))
}

/// The value of `key` as it may be printed: itself, or [`REDACTED`].
pub fn shown_value<'a>(key: &str, value: &'a str) -> &'a str {
    if is_secret_key(key) { REDACTED } else { value }
}

/// Settings as `key=value` pairs separated by spaces, secrets redacted: how a cluster's client
/// settings appear in a log line.
pub struct ShownSettings<'a>(pub &'a [(String, String)]);

impl fmt::Display for ShownSettings<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (key, value)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{key}={}", shown_value(key, value))?;
        }
        Ok(())
    }
}

impl fmt::Debug for ShownSettings<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, v)| (k, shown_value(k, v))))
            .finish()
    }
}

/// Replaces every secret value of `settings` that appears in `text` (a client's error message
/// that echoes what it was given) with [`REDACTED`].
pub fn scrub(text: &str, settings: &[(String, String)]) -> String {
    let mut out = text.to_owned();
    for (key, value) in settings {
        if is_secret_key(key) && !value.is_empty() {
            out = out.replace(value.as_str(), REDACTED);
        }
    }
    out
}

/// A TOML error's text with the value of any secret setting it quotes redacted: toml shows the
/// offending line (`5 | "sasl.password" = "abc`) and may repeat the value in its message (an
/// unquoted number given as a password).
pub fn redact_toml_error(message: &str) -> String {
    let mut values = Vec::new();
    let lines: Vec<String> = message
        .lines()
        .map(|line| {
            let Some((gutter, source)) = line.split_once(" | ") else {
                return line.to_owned();
            };
            let Some((key, value)) = source.split_once('=') else {
                return line.to_owned();
            };
            let name = key.trim().trim_matches(|c| c == '"' || c == '\'');
            if !is_secret_key(name) {
                return line.to_owned();
            }
            let value = value.trim().trim_matches(|c| c == '"' || c == '\'');
            if !value.is_empty() {
                values.push(value.to_owned());
            }
            format!("{gutter} | {key}= {REDACTED}")
        })
        .collect();
    let mut out = lines.join("\n");
    for value in values {
        out = out.replace(&value, REDACTED);
    }
    out
}

impl fmt::Debug for ClusterConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterConfig")
            .field("name", &self.name)
            .field("bootstrap", &self.bootstrap)
            .field("client", &ShownSettings(&self.client))
            .finish()
    }
}

#[cfg(test)]
mod tests;
