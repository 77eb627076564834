//! Whether a partition's lag in time keeps growing while its group keeps committing: one
//! sample per window, compared over the last three windows. Each window must show both more
//! lag and a commit; a lag that grew while the group was stuck is not falling behind.
//!
//! Samples are due at fixed times from the first one (`anchor + k * window`), taken at the
//! first round with a known lag at or after each; so they stay a window apart and do not
//! drift by a poll per window. A sample missed by more than a window restarts the series:
//! uneven spacing would compare unlike things.

use std::collections::VecDeque;

use crate::model::Millis;

/// Four samples span three windows.
const SAMPLES: usize = 4;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trend {
    anchor: Option<Millis>,
    /// Samples taken since the anchor, the anchor's own included.
    taken: i64,
    /// Oldest first.
    samples: VecDeque<Sample>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Sample {
    at: Millis,
    lag: Millis,
    /// When the watch last saw the committed offset change, as of this sample.
    commit_seen_at: Millis,
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
        let sample = Sample {
            at: now,
            lag,
            commit_seen_at,
        };
        let window = window.max(1);
        match self.anchor {
            Some(anchor) => {
                let due = anchor.saturating_add(self.taken.saturating_mul(window));
                if now < due {
                    return;
                }
                if now >= due.saturating_add(window) {
                    self.restart(sample);
                    return;
                }
                self.taken += 1;
                if self.samples.len() == SAMPLES {
                    self.samples.pop_front();
                }
                self.samples.push_back(sample);
            }
            None => self.restart(sample),
        }
    }

    /// Whether, in each of the last three windows, the lag grew by more than `tolerance`
    /// and the committed offset changed.
    pub fn growing(&self, tolerance: Millis) -> bool {
        self.samples.len() == SAMPLES
            && self
                .samples
                .iter()
                .zip(self.samples.iter().skip(1))
                .all(|(before, after)| {
                    after.lag - before.lag > tolerance && after.commit_seen_at > before.at
                })
    }

    fn restart(&mut self, sample: Sample) {
        self.anchor = Some(sample.at);
        self.taken = 1;
        self.samples.clear();
        self.samples.push_back(sample);
    }
}
