//! Which messages a fault or a filter picks: a pure function of (app, what, id), so a rerun
//! picks the same messages and a test can name them in advance.

use cairn_core::sampling::id_hash;

/// Whether `app`'s `what` (a fault or "filter") picks message `id`, for a `share` in [0, 1].
pub fn picks(app: &str, what: &str, id: &str, share: f64) -> bool {
    if share <= 0.0 {
        return false;
    }
    if share >= 1.0 {
        return true;
    }
    // FNV-1a alone mixes the last bytes of sequential ids poorly into the top bits; a
    // splitmix64 finalizer spreads them so a share of n ids picks close to share * n.
    let mut z = id_hash(&format!("{app}\u{0}{what}\u{0}{id}"));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z as f64) < share * 18_446_744_073_709_551_616.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_about_the_share_and_independently_per_fault() {
        let ids: Vec<String> = (0..10_000).map(|n| format!("run-api-{n:06}")).collect();
        let drop = ids
            .iter()
            .filter(|id| picks("enricher", "drop", id, 0.1))
            .count();
        assert!((900..1100).contains(&drop), "{drop}");
        let both = ids
            .iter()
            .filter(|id| picks("enricher", "drop", id, 0.1) && picks("enricher", "skip", id, 0.1))
            .count();
        assert!((50..150).contains(&both), "{both}");
        assert!(
            ids.iter()
                .all(|id| !picks("a", "x", id, 0.0) && picks("a", "x", id, 1.0))
        );
    }
}
