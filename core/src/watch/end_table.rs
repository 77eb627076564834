//! A partition's log end over time: a bounded table of (log end, time) points, from which the
//! time a given offset was appended can be interpolated when no record timestamp is at hand.
//!
//! The table keeps recent points dense and old ones sparse: when it is full, the interior
//! point whose removal loses the least resolution *relative to its age* goes. So the
//! interpolation error stays a small share of the lag it measures, whether that lag is five
//! seconds or five hours. A run of rounds with an unchanged log end keeps only its first and
//! last point: the rest say nothing new.

use crate::model::Millis;

/// How many points a partition keeps.
pub const END_POINTS: usize = 64;

/// The log end seen at one time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EndPoint {
    pub end: i64,
    pub at: Millis,
}

/// Points in time order with non-decreasing log ends.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EndTable {
    points: Vec<EndPoint>,
}

/// The log end went below a point already kept: the topic was recreated or the log
/// truncated, and the table no longer describes this log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EndWentBack;

impl EndTable {
    /// A table holding one point.
    pub fn starting_at(end: i64, at: Millis) -> Self {
        EndTable {
            points: vec![EndPoint { end, at }],
        }
    }

    /// Adds the log end seen at `at`. A time that goes backwards is ignored (the table only
    /// moves forward); an end that goes backwards is refused.
    pub fn push(&mut self, end: i64, at: Millis) -> Result<(), EndWentBack> {
        if let Some(last) = self.points.last() {
            if end < last.end {
                return Err(EndWentBack);
            }
            if at <= last.at {
                return Ok(());
            }
        }
        let len = self.points.len();
        if len >= 2 && self.points[len - 1].end == end && self.points[len - 2].end == end {
            self.points[len - 1].at = at;
            return Ok(());
        }
        self.points.push(EndPoint { end, at });
        if self.points.len() > END_POINTS {
            self.thin(at);
        }
        Ok(())
    }

    /// When the record at `offset` was appended, interpolated between the last point that
    /// did not yet have it and the first that did. `None` when the table does not bracket it:
    /// it was appended before the oldest point, or not yet by the newest.
    pub fn appended_at(&self, offset: i64) -> Option<Millis> {
        let after = self.points.iter().position(|p| p.end > offset)?;
        let before = self.points.get(after.checked_sub(1)?)?;
        let after = self.points[after];
        // The records [before.end, after.end) arrived during (before.at, after.at]; assume
        // evenly, so the k-th of them arrived k/span of the way through.
        let span = i128::from(after.end - before.end);
        let k = i128::from(offset - before.end + 1);
        let elapsed = i128::from(after.at - before.at);
        let at = i128::from(before.at) + elapsed * k / span;
        Millis::try_from(at).ok()
    }

    pub fn points(&self) -> &[EndPoint] {
        &self.points
    }

    /// Drops the interior point whose neighbours are closest together for their age.
    fn thin(&mut self, now: Millis) {
        let points = &self.points;
        let cost = |i: usize| {
            let gap = (points[i + 1].at - points[i - 1].at) as f64;
            let age = (now - points[i - 1].at).max(1) as f64;
            gap / age
        };
        let victim = (1..points.len() - 1)
            .min_by(|&a, &b| cost(a).total_cmp(&cost(b)))
            .expect("a full table has interior points");
        self.points.remove(victim);
    }
}
