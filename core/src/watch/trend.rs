//! Whether a partition's lag in time keeps growing while its group keeps committing: one
//! sample per window, compared over the last three windows. Each window must show both more
//! lag and a commit; a lag that grew while the group was stuck is not falling behind.
//!
//! Samples are due at fixed times from the first one (`anchor + k * window`), taken at the
//! first round with a known lag at or after each; so they stay a window apart and do not
//! drift by a poll per window. A sample missed by more than a window restarts the series:
//! uneven spacing would compare unlike things.

use super::packed::MaybeI64;
use crate::model::Millis;

/// Four samples span three windows.
const SAMPLES: usize = 4;

/// Kept for every (group, partition), so it is small and allocates nothing: the samples' lags
/// in a fixed array, and of each sample only what `growing` asks of it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trend {
    anchor: MaybeI64,
    /// Samples taken since the anchor, the anchor's own included.
    taken: i64,
    /// When the newest sample was taken.
    last_at: Millis,
    /// Lags of the samples kept, oldest first; `len` of them are set.
    lags: [Millis; SAMPLES],
    len: u8,
    /// Bit `i`: the committed offset changed after sample `i - 1` was taken and by sample `i`.
    committed_since: u8,
}

impl Trend {
    /// Takes a sample when one is due and the lag is known.
    pub fn observe(
        &mut self,
        now: Millis,
        lag: Option<Millis>,
        commit_seen_at: Millis,
        window: Millis,
    ) {
        let Some(lag) = lag else { return };
        let window = window.max(1);
        match self.anchor.get() {
            Some(anchor) => {
                let due = anchor.saturating_add(self.taken.saturating_mul(window));
                if now < due {
                    return;
                }
                if now >= due.saturating_add(window) {
                    self.restart(now, lag);
                    return;
                }
                self.taken += 1;
                let moved = commit_seen_at > self.last_at;
                let mut len = usize::from(self.len);
                if len == SAMPLES {
                    self.lags.copy_within(1.., 0);
                    self.committed_since >>= 1;
                    len -= 1;
                }
                self.lags[len] = lag;
                self.committed_since =
                    (self.committed_since & !(1 << len)) | (u8::from(moved) << len);
                self.len = (len + 1) as u8;
                self.last_at = now;
            }
            None => self.restart(now, lag),
        }
    }

    /// Whether, in each of the last three windows, the lag grew by more than `tolerance`
    /// and the committed offset changed.
    pub fn growing(&self, tolerance: Millis) -> bool {
        usize::from(self.len) == SAMPLES
            && (1..SAMPLES).all(|i| {
                self.lags[i] - self.lags[i - 1] > tolerance && self.committed_since & (1 << i) != 0
            })
    }

    fn restart(&mut self, now: Millis, lag: Millis) {
        self.anchor = MaybeI64::new(Some(now));
        self.taken = 1;
        self.last_at = now;
        self.lags = [0; SAMPLES];
        self.lags[0] = lag;
        self.len = 1;
        self.committed_since = 0;
    }
}
