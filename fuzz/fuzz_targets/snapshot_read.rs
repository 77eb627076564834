//! The local snapshot reader of `cairn detect`: any file is read to its trailer or refused,
//! never a panic and never an allocation sized by an unchecked length.
#![no_main]

use cairn_shell::store::SnapshotReader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut reader = SnapshotReader::from_bytes(0, data.to_vec());
    // Each entry takes at least 8 bytes, so this bound is never what stops a valid file.
    for _ in 0..=data.len() / 8 + 1 {
        match reader.next_entry() {
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => return,
        }
    }
    panic!("the reader returned more entries than the input can hold");
});
