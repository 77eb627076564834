//! Availability over a sliding window: the share of good outcomes among the outcomes of the
//! last `window`, kept as per-second buckets so a busy canary holds a few dozen numbers.

use std::collections::VecDeque;

use crate::model::Millis;

#[derive(Clone, Debug)]
pub struct Availability {
    window: Millis,
    /// (second since the epoch, good, bad), oldest first.
    buckets: VecDeque<(i64, u64, u64)>,
}

impl Availability {
    pub fn new(window: Millis) -> Availability {
        Availability {
            window: window.max(1_000),
            buckets: VecDeque::new(),
        }
    }

    pub fn record(&mut self, at: Millis, good: bool) {
        let second = at.div_euclid(1_000);
        match self.buckets.back_mut() {
            Some((s, g, b)) if *s >= second => {
                // Outcomes never go back in time: an older one joins the newest bucket.
                if good { *g += 1 } else { *b += 1 }
            }
            _ => self
                .buckets
                .push_back((second, u64::from(good), u64::from(!good))),
        }
    }

    /// Good outcomes over all outcomes in the window ending at `now`; `None` without any.
    pub fn ratio(&mut self, now: Millis) -> Option<f64> {
        let oldest = (now - self.window).div_euclid(1_000);
        while self.buckets.front().is_some_and(|(s, _, _)| *s <= oldest) {
            self.buckets.pop_front();
        }
        let (good, bad) = self
            .buckets
            .iter()
            .fold((0u64, 0u64), |(g, b), (_, good, bad)| (g + good, b + bad));
        let total = good + bad;
        (total > 0).then(|| good as f64 / total as f64)
    }
}
