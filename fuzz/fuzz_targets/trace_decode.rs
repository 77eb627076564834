//! A record of the tracing topic (trace or gap): decoding never panics, and whatever decodes
//! encodes back to bytes that decode to the same record.
//!
//! The check itself is `cairn_testkit::hostile::trace_decode`, which the test command also runs on
//! stable over the kept corpus and seeded mutations of it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| cairn_testkit::hostile::trace_decode(data));
