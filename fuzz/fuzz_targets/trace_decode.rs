//! A record of the tracing topic (trace or gap): decoding never panics, and whatever decodes
//! encodes back to bytes that decode to the same record.
#![no_main]

use cairn_core::trace::{self, Record};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = trace::decode(data);
    match trace::decode_record(data) {
        Ok(Record::Trace(t)) => {
            let bytes = trace::encode(&t);
            assert_eq!(trace::decode_record(&bytes), Ok(Record::Trace(t)));
        }
        Ok(Record::Gap(g)) => {
            let bytes = trace::gap::encode(&g);
            assert_eq!(trace::decode_record(&bytes), Ok(Record::Gap(g)));
        }
        Err(err) => {
            // Every rejection names a bounded cause.
            assert!(trace::TraceError::LABELS.contains(&err.kind_label()));
        }
    }
});
