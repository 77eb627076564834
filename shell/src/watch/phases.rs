//! How long each step of a round took: the timing spans behind `cairn_watch_round_duration_seconds`,
//! logged at debug level once a round (`watch round phases`), so that a slow round says where
//! its time went without a profiler (`benches/watch_round.rs` reads them from the log).

use std::fmt;
use std::time::{Duration, Instant};

/// The steps of one round, in the order they ran.
#[derive(Debug, Default)]
pub struct Phases {
    steps: Vec<(&'static str, Duration)>,
}

impl Phases {
    /// Runs `step`, timed as `name`.
    pub fn time<T>(&mut self, name: &'static str, step: impl FnOnce() -> T) -> T {
        let started = Instant::now();
        let out = step();
        self.steps.push((name, started.elapsed()));
        out
    }
}

/// `name=12.3ms` for each step, space separated.
impl fmt::Display for Phases {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (name, took)) in self.steps.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{name}={:.1}ms", took.as_secs_f64() * 1e3)?;
        }
        Ok(())
    }
}
