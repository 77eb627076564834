//! The checks of cairn's readers of hostile input, one per reader: any input is read or refused
//! with an error, never a panic, and what a reader accepts survives a round trip. The
//! coverage-guided fuzz targets (`fuzz/`, nightly) run exactly these functions; on stable, the
//! [`smoke`] runs them over the kept corpus and seeded mutations of it, inside the test command.

pub mod smoke;

#[cfg(test)]
mod tests;

use std::path::Path;
use std::sync::{Arc, LazyLock};

use cairn_core::config::Config;
use cairn_core::detector::{Detector, StoredMessage};
use cairn_core::lineage::Lineage;
use cairn_core::offsets::StaticOffsets;
use cairn_core::trace::{self, Record};
use cairn_core::verdict;
use cairn_shell::store::SnapshotReader;
use cairn_sim::score::inputs::read_verdict_lines;
use cairn_sim::score::prom::parse_sample;
use cairn_sim::truth::read_truth;

/// A check: returns when its input is read or refused as it should be, panics otherwise.
pub type Check = fn(&[u8]);

/// Every check, by the name of its fuzz target (and of its corpus folder under `fuzz/corpus`).
pub const CHECKS: &[(&str, Check)] = &[
    ("trace_decode", trace_decode),
    ("state_decode", state_decode),
    ("config_load", config_load),
    ("score_inputs", score_inputs),
    ("snapshot_read", snapshot_read),
];

/// A record of the tracing topic (trace or gap): decoding never panics, and whatever decodes
/// encodes back to bytes that decode to the same record.
pub fn trace_decode(data: &[u8]) {
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
}

static LINEAGE: LazyLock<Arc<Lineage>> = LazyLock::new(|| {
    let config = Config::from_toml_str(include_str!("../../../schemas/cairn.example.toml"))
        .expect("the example config loads");
    Arc::new(Lineage::compile(&config.streams).expect("the example lineage compiles"))
});

/// The stored state of one message (changelog records and local snapshots carry it): decoding
/// never panics; a state that decodes is restored into a detector, which then runs its timers
/// and stores it again without panicking, and what it stores restores again.
pub fn state_decode(data: &[u8]) {
    let Ok(stored) = StoredMessage::decode(data) else {
        return;
    };
    let mut detector = Detector::new(Arc::clone(&LINEAGE));
    if detector.restore_stored("m", &stored).is_err() {
        return;
    }
    let mut verdicts = Vec::new();
    let offsets = StaticOffsets::default();
    for now in [i64::MIN, 0, stored.deadline, i64::MAX] {
        detector.on_tick(now, &offsets, &mut verdicts);
    }
    let mut again = Vec::new();
    detector
        .drain_changes(|change| {
            if let Some(state) = change.state {
                again.push(state.to_vec());
            }
        })
        .expect("a restored state encodes");
    for bytes in again {
        Detector::new(Arc::clone(&LINEAGE))
            .restore("m", &bytes)
            .expect("what the detector stored restores");
    }
}

/// `cairn.toml` loading: any text is a config or an error, never a panic; a config that loads
/// compiles to a lineage or says why not.
pub fn config_load(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(config) = Config::from_toml_str(text) {
        let _ = Lineage::compile(&config.streams);
        let _ = config.with_streams_from_toml(text);
    }
}

/// The readers of `cairn score`: the truth file, the verdict lines (and one verdict record),
/// and a metrics scrape line. Any input is read or refused with an error, never a panic.
pub fn score_inputs(data: &[u8]) {
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
}

/// The local snapshot reader of `cairn detect`: any file is read to its trailer or refused,
/// never a panic and never an allocation sized by an unchecked length.
pub fn snapshot_read(data: &[u8]) {
    let mut reader = SnapshotReader::from_bytes(0, data.to_vec());
    // Each entry takes at least 8 bytes, so this bound is never what stops a valid file.
    for _ in 0..=data.len() / 8 + 1 {
        match reader.next_entry() {
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => return,
        }
    }
    panic!("the reader returned more entries than the input can hold");
}
