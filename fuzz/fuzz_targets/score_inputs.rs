//! The readers of `cairn score`: the truth file, the verdict lines (and one verdict record),
//! and a metrics scrape line. Any input is read or refused with an error, never a panic.
//!
//! The check itself is `cairn_testkit::hostile::score_inputs`, which the test command also runs on
//! stable over the kept corpus and seeded mutations of it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| cairn_testkit::hostile::score_inputs(data));
