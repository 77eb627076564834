//! Which messages a fault or a filter picks: a pure function of (app, what, id), so a rerun
//! picks the same messages and a test can name them in advance.

use cairn_core::sampling::{TWO_POW_64, sample_point};

/// Whether `app`'s `what` (a fault or "filter") picks message `id`, for a `share` in [0, 1].
pub fn picks(app: &str, what: &str, id: &str, share: f64) -> bool {
    if share <= 0.0 {
        return false;
    }
    if share >= 1.0 {
        return true;
    }
    // The sampling hash of a composite key: independent of whether the id is sampled.
    (sample_point(&format!("{app}\u{0}{what}\u{0}{id}")) as f64) < share * TWO_POW_64
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
