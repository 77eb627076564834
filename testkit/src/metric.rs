//! The metric families the tests look for: cairn's one catalog, under a short name. Tests name a
//! metric as `metric::LOST.name`, never as a string literal.

pub use cairn_core::metrics::catalog::*;
