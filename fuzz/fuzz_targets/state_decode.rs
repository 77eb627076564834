//! The stored state of one message (changelog records and local snapshots carry it): decoding
//! never panics; a state that decodes is restored into a detector, which then runs its timers
//! and stores it again without panicking, and what it stores restores again.
//!
//! The check itself is `cairn_testkit::hostile::state_decode`, which the test command also runs on
//! stable over the kept corpus and seeded mutations of it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| cairn_testkit::hostile::state_decode(data));
