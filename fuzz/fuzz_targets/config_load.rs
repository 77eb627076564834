//! `cairn.toml` loading: any text is a config or an error, never a panic; a config that loads
//! compiles to a lineage or says why not.
//!
//! The check itself is `cairn_testkit::hostile::config_load`, which the test command also runs on
//! stable over the kept corpus and seeded mutations of it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| cairn_testkit::hostile::config_load(data));
