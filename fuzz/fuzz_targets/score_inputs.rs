//! The readers of `cairn score`: the truth file, the verdict lines (and one verdict record),
//! and a metrics scrape line. Any input is read or refused with an error, never a panic.
#![no_main]

use std::path::Path;

use cairn_core::verdict;
use cairn_sim::score::inputs::read_verdict_lines;
use cairn_sim::score::prom::parse_sample;
use cairn_sim::truth::read_truth;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = read_truth(data);
    let _ = read_verdict_lines(data, Path::new("fuzz.jsonl"));
    if let Ok(v) = verdict::decode(data) {
        let bytes = verdict::encode(&v);
        assert_eq!(verdict::decode(&bytes).ok(), Some(v));
    }
    if let Ok(text) = std::str::from_utf8(data) {
        for line in text.lines() {
            let _ = parse_sample(line);
        }
    }
});
