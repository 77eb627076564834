//! Rate limits for log lines that hostile or broken input can repeat without end (a storm of
//! malformed traces): per kind, the first few lines of each interval are written, the rest
//! are only counted, and one line then says how many were skipped. Counting for metrics is
//! never limited; only the log is.
//!
//! [`LogLimiter`] is pure (time is an argument) so it is tested without a clock; the shell
//! keeps one per family of lines behind a mutex.

use std::collections::HashMap;

use cairn_core::model::Millis;

/// What to do with one more line of a kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admit {
    /// Write it; `skipped` lines of this kind were held back since the last written one.
    Log { skipped: u64 },
    /// Count it, do not write it.
    Skip,
}

#[derive(Clone, Copy, Debug)]
struct Window {
    started: Millis,
    logged: u32,
    skipped: u64,
}

/// Per-kind windows of `interval_ms`, each letting `per_interval` lines through.
#[derive(Debug)]
pub struct LogLimiter {
    interval_ms: Millis,
    per_interval: u32,
    kinds: HashMap<&'static str, Window>,
}

impl LogLimiter {
    pub fn new(interval_ms: Millis, per_interval: u32) -> LogLimiter {
        LogLimiter {
            interval_ms: interval_ms.max(1),
            per_interval,
            kinds: HashMap::new(),
        }
    }

    /// One more line of `kind` at `now`.
    pub fn admit(&mut self, kind: &'static str, now: Millis) -> Admit {
        let interval = self.interval_ms;
        let window = self.kinds.entry(kind).or_insert(Window {
            started: now,
            logged: 0,
            skipped: 0,
        });
        if now.saturating_sub(window.started) >= interval {
            // A new window: what the last one held back is reported with this line.
            window.started = now;
            window.logged = 0;
        }
        if window.logged < self.per_interval {
            window.logged += 1;
            let skipped = std::mem::take(&mut window.skipped);
            Admit::Log { skipped }
        } else {
            window.skipped += 1;
            Admit::Skip
        }
    }

    /// Kinds whose window has ended with lines held back: (kind, how many), now reported
    /// (so a storm that stops still gets its "N more skipped" line).
    pub fn due_summaries(&mut self, now: Millis) -> Vec<(&'static str, u64)> {
        let interval = self.interval_ms;
        let mut out = Vec::new();
        for (kind, window) in &mut self.kinds {
            if window.skipped > 0 && now.saturating_sub(window.started) >= interval {
                out.push((*kind, std::mem::take(&mut window.skipped)));
            }
        }
        out.sort_unstable();
        out
    }
}

#[cfg(test)]
mod tests;
