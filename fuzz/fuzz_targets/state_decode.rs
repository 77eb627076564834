//! The stored state of one message (changelog records and local snapshots carry it): decoding
//! never panics; a state that decodes is restored into a detector, which then runs its timers
//! and stores it again without panicking, and what it stores restores again.
#![no_main]

use std::sync::{Arc, LazyLock};

use cairn_core::config::Config;
use cairn_core::detector::{Detector, StoredMessage};
use cairn_core::lineage::Lineage;
use cairn_core::offsets::StaticOffsets;
use libfuzzer_sys::fuzz_target;

static LINEAGE: LazyLock<Arc<Lineage>> = LazyLock::new(|| {
    let config = Config::from_toml_str(include_str!("../../schemas/cairn.example.toml"))
        .expect("the example config loads");
    Arc::new(Lineage::compile(&config.streams).expect("the example lineage compiles"))
});

fuzz_target!(|data: &[u8]| {
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
});
