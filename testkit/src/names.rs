//! Random names, so that every test has topics, groups and message ids of its own on a broker
//! other tests (and earlier runs) use too.

use rand::distr::{Alphanumeric, SampleString};

/// Ten random letters and digits.
pub fn rand_suffix() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), 10)
}

/// `cairn-test-<test>-<suffix>`.
pub fn rand_topic(test: &str) -> String {
    format!("cairn-test-{test}-{}", rand_suffix())
}

/// `cairn-test-<test>-group-<suffix>`.
pub fn rand_group(test: &str) -> String {
    format!("cairn-test-{test}-group-{}", rand_suffix())
}
