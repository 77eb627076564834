//! Consistent sampling: every hop, in any language, decides from the message id alone whether
//! a message is traced, so a sampled message is traced everywhere and an unsampled one nowhere.
//!
//! The rule (also in `schemas/trace.schema.json` and the README, for emitters in other
//! languages): hash the id's UTF-8 bytes with 64-bit FNV-1a (offset basis
//! `0xcbf29ce484222325`, prime `0x100000001b3`, xor then multiply, wrapping); the message is
//! sampled when `rate >= 1` or `hash < rate * 2^64` (compared as a double).

/// 64-bit FNV-1a offset basis.
const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
/// 64-bit FNV prime.
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a, 64 bits, over the UTF-8 bytes of `id`.
pub fn id_hash(id: &str) -> u64 {
    id.bytes().fold(FNV_OFFSET_BASIS, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(FNV_PRIME)
    })
}

/// Whether message `id` is traced at sample rate `rate` (a share in (0, 1]).
pub fn is_sampled(id: &str, rate: f64) -> bool {
    // 2^64 as a double; the hash converts to the nearest double, as in other languages.
    const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;
    rate >= 1.0 || (id_hash(id) as f64) < rate * TWO_POW_64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_fnv1a_vectors() {
        assert_eq!(id_hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(id_hash("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(id_hash("foobar"), 0x8594_4171_f739_67e8);
    }

    /// Random-looking ids, like the UUIDs most pipelines use. (FNV-1a mixes the last bytes of
    /// an id poorly into the top bits, so short sequential ids like "msg-1", "msg-2" sample
    /// measurably fewer than `rate` at low rates.)
    fn uuid_like(n: u64) -> String {
        // splitmix64: a fixed, well-mixed sequence, so the test is deterministic.
        let mut z = n.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        format!("{:016x}", z ^ (z >> 31))
    }

    #[test]
    fn a_rate_samples_about_that_share() {
        for rate in [0.01, 0.1, 0.5, 0.9] {
            let sampled = (0..100_000)
                .filter(|&n| is_sampled(&uuid_like(n), rate))
                .count();
            let share = sampled as f64 / 100_000.0;
            // Four standard errors of a binomial share: fails only when the hash is biased.
            let tolerance = 4.0 * (rate * (1.0 - rate) / 100_000.0).sqrt();
            assert!(
                (share - rate).abs() < tolerance,
                "rate {rate}: sampled {share}"
            );
        }
    }

    #[test]
    fn the_edges_are_all_or_nothing() {
        let ids: Vec<String> = (0..1000).map(|n| format!("id-{n}")).collect();
        assert!(ids.iter().all(|id| is_sampled(id, 1.0)));
        assert!(ids.iter().all(|id| !is_sampled(id, 0.0)));
    }

    #[test]
    fn a_lower_rate_samples_a_subset() {
        for n in 0..10_000 {
            let id = format!("m{n}");
            if is_sampled(&id, 0.1) {
                assert!(is_sampled(&id, 0.3), "{id}");
            }
        }
    }
}
