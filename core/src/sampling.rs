//! Consistent sampling: every hop, in any language, decides from the message id alone whether
//! a message is traced, so a sampled message is traced everywhere and an unsampled one nowhere.
//!
//! The rule (also in `schemas/trace.schema.json` and the README, for emitters in other
//! languages):
//! 1. `h` = 64-bit FNV-1a of the id's UTF-8 bytes (offset basis `0xcbf29ce484222325`, prime
//!    `0x100000001b3`; per byte: xor, then multiply, wrapping) — [`id_hash`];
//! 2. `p` = MurmurHash3's 64-bit finalizer of `h` (`fmix64`: `h ^= h >> 33;
//!    h *= 0xff51afd7ed558ccd; h ^= h >> 33; h *= 0xc4ceb9fe1a85ec53; h ^= h >> 33`, wrapping)
//!    — [`sample_point`];
//! 3. the message is sampled when `rate >= 1` or `p < rate * 2^64` (compared as doubles).
//!
//! Why step 2: FNV-1a's top bits depend almost only on an id's first bytes, so ids that differ
//! at the end ("order-1", "order-2", ...) get nearly the same top bits: on raw FNV-1a, a rate
//! of 0.1 sampled none of "r1-api-000000".."r1-api-000999" and a rate of 0.5 none of
//! "id-0".."id-99". The finalizer spreads every input bit over the whole word.

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

/// MurmurHash3's 64-bit finalizer (`fmix64`): every input bit flips each output bit with
/// probability about one half.
pub fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// Where message `id` falls in [0, 2^64): sampled at rate r when below r * 2^64.
pub fn sample_point(id: &str) -> u64 {
    fmix64(id_hash(id))
}

/// Whether message `id` is traced at sample rate `rate` (a share in (0, 1]).
pub fn is_sampled(id: &str, rate: f64) -> bool {
    rate >= 1.0 || (sample_point(id) as f64) < rate * TWO_POW_64
}

/// 2^64 as a double; a u64 converts to the nearest double, as in other languages.
pub const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        assert_eq!(id_hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(id_hash("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(id_hash("foobar"), 0x8594_4171_f739_67e8);
        assert_eq!(sample_point(""), 0xefd0_1f60_ba99_2926);
        assert_eq!(sample_point("a"), 0x82a2_a958_a9be_ce5b);
        assert_eq!(sample_point("order-1"), 0x491b_422e_3af0_d9a5);
    }

    #[test]
    fn a_rate_samples_about_that_share_even_of_sequential_ids() {
        for (format, rate) in [("msg-", 0.01), ("id-", 0.1), ("r1-api-", 0.5), ("", 0.9)] {
            let sampled = (0..100_000)
                .filter(|n| is_sampled(&format!("{format}{n:06}"), rate))
                .count();
            let share = sampled as f64 / 100_000.0;
            // Four standard errors of a binomial share: fails only when the hash is biased.
            let tolerance = 4.0 * (rate * (1.0 - rate) / 100_000.0).sqrt();
            assert!(
                (share - rate).abs() < tolerance,
                "{format}: rate {rate}: sampled {share}"
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
