//! The local snapshot reader of `cairn detect`: any file is read to its trailer or refused,
//! never a panic and never an allocation sized by an unchecked length.
//!
//! The check itself is `cairn_testkit::hostile::snapshot_read`, which the test command also runs on
//! stable over the kept corpus and seeded mutations of it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| cairn_testkit::hostile::snapshot_read(data));
