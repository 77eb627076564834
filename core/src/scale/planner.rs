//! The advisor's memory per group (the traffic series, the lagging intervals, the last
//! change) and the plan of each round.

use std::collections::{BTreeMap, VecDeque};

use super::advice::{Advice, FitReport, Reason};
use super::fit::choose;
use super::forecast::forecast;
use super::sample::ScaleSample;
use super::settings::ScaleSettings;
use crate::model::Millis;

/// Lagging intervals kept per group to measure one instance's rate. They outlive the fit's
/// history window on purpose: a group that caught up still needs its measured rate.
const RATE_INTERVALS: usize = 120;

/// The advisor: samples in, advice out, one group at a time.
#[derive(Debug, Default)]
pub struct Planner {
    groups: BTreeMap<(String, String), GroupTrack>,
    /// Forecasts that went negative or NaN and were clamped to 0.
    clamped: u64,
}

#[derive(Debug, Default)]
struct GroupTrack {
    /// Usable samples (known log end) within the history window, oldest first.
    samples: VecDeque<ScaleSample>,
    /// (records consumed, member-seconds) of intervals in which the group had a backlog.
    lagging: VecDeque<(f64, f64)>,
    /// The last recommendation given and when it last changed.
    last: Option<(u32, Millis)>,
}

/// The rate, records/s, that consumes `lag` plus `incoming` in the time left after a relaunch.
pub fn required(settings: &ScaleSettings, incoming: f64, lag: f64) -> f64 {
    (incoming + lag) / settings.working_seconds()
}

/// Instances for `required_rate` at `per_instance` records/s each, clamped to
/// `[min_instances, min(max_instances, partitions)]`; also says whether a bound applied.
pub fn instances(
    settings: &ScaleSettings,
    required_rate: f64,
    per_instance: f64,
    partitions: u32,
) -> (u32, Option<&'static str>) {
    let upper = settings.max_instances.min(partitions.max(1));
    let lower = settings.min_instances.min(upper);
    let wanted = (required_rate / per_instance).ceil();
    if wanted.is_nan() || wanted > f64::from(upper) {
        let bound = if upper < settings.max_instances {
            "the partition count"
        } else {
            "max_instances"
        };
        (upper, Some(bound))
    } else if wanted < f64::from(lower) {
        (lower, Some("min_instances"))
    } else {
        (wanted as u32, None)
    }
}

impl Planner {
    pub fn new() -> Self {
        Self::default()
    }

    /// Forecasts clamped to 0 so far, over all groups.
    pub fn clamped_forecasts(&self) -> u64 {
        self.clamped
    }

    /// Forgets groups no longer advised on.
    pub fn retain(&mut self, keep: impl Fn(&str, &str) -> bool) {
        self.groups.retain(|(c, g), _| keep(c, g));
    }

    /// Takes one round's sample of a group and advises.
    pub fn observe(
        &mut self,
        cluster: &str,
        group: &str,
        settings: &ScaleSettings,
        sample: ScaleSample,
    ) -> Advice {
        let track = self
            .groups
            .entry((cluster.to_owned(), group.to_owned()))
            .or_default();
        track.add(settings, sample);
        let mut advice = Advice {
            cluster: cluster.to_owned(),
            group: group.to_owned(),
            at: sample.at,
            recommendation: None,
            computed: None,
            reason: Reason::Planned,
            detail: String::new(),
            fit: None,
            forecast: None,
            lag_records: sample.lag_records,
            members: sample.members,
            per_instance_rate: track.per_instance_rate(),
            required_rate: None,
            partitions: sample.partitions,
            samples: track.samples.len().saturating_sub(1),
        };
        match track.plan(settings, sample, &mut advice) {
            Ok(n) => track.hold_or_change(settings, sample.at, n, &mut advice),
            Err((reason, detail)) => {
                advice.reason = reason;
                advice.detail = detail;
            }
        }
        if advice.forecast.is_some_and(|f| f.clamped) {
            self.clamped += 1;
        }
        advice
    }
}

impl GroupTrack {
    /// Adds a sample: extends the traffic series and the lagging intervals, drops what fell
    /// out of the history window, starts over when a log end went back (topic recreated).
    fn add(&mut self, settings: &ScaleSettings, sample: ScaleSample) {
        let Some(end) = sample.log_end else {
            return; // an unknown log end is a gap; staleness catches a long one
        };
        if let Some(prev) = self.samples.back().copied() {
            if sample.at - prev.at < settings.min_spacing_ms().max(1) {
                return;
            }
            if prev.log_end.is_some_and(|p| end < p) {
                self.samples.clear();
                self.lagging.clear();
            } else {
                self.note_lagging(prev, sample);
            }
        }
        self.samples.push_back(sample);
        let oldest = sample.at - ScaleSettings::ms(settings.history);
        while self.samples.front().is_some_and(|s| s.at < oldest) {
            self.samples.pop_front();
        }
    }

    /// Keeps the interval when the group worked at full speed through it: the same members
    /// at both ends, and a backlog at the start larger than what it consumed.
    fn note_lagging(&mut self, prev: ScaleSample, next: ScaleSample) {
        let (Some(c0), Some(c1), Some(lag0), Some(m0), Some(m1)) = (
            prev.committed,
            next.committed,
            prev.lag_records,
            prev.members,
            next.members,
        ) else {
            return;
        };
        let consumed = c1 - c0;
        if m0 != m1 || m0 == 0 || consumed < 0 || lag0 <= consumed {
            return;
        }
        let seconds = (next.at - prev.at) as f64 / 1000.0;
        self.lagging
            .push_back((consumed as f64, seconds * f64::from(m0)));
        while self.lagging.len() > RATE_INTERVALS {
            self.lagging.pop_front();
        }
    }

    /// Records one member consumed per second over the lagging intervals kept.
    fn per_instance_rate(&self) -> Option<f64> {
        let (records, member_seconds) = self
            .lagging
            .iter()
            .fold((0.0, 0.0), |(r, s), (dr, ds)| (r + dr, s + ds));
        (self.lagging.len() >= 2 && member_seconds > 0.0).then(|| records / member_seconds)
    }

    /// The plan of this round: instances, or why there are none.
    fn plan(
        &self,
        settings: &ScaleSettings,
        sample: ScaleSample,
        advice: &mut Advice,
    ) -> Result<u32, (Reason, String)> {
        let Some(newest) = self.samples.back() else {
            return Err((Reason::Stale, "no log end read yet".into()));
        };
        let age = sample.at - newest.at;
        if age > settings.stale_after_ms() {
            return Err((
                Reason::Stale,
                format!("the newest log end is {:.1} s old", age as f64 / 1000.0),
            ));
        }
        let points: Vec<(f64, f64)> = self
            .samples
            .iter()
            .zip(self.samples.iter().skip(1))
            .filter_map(|(a, b)| {
                let dt = (b.at - a.at) as f64 / 1000.0;
                let records = (b.log_end? - a.log_end?) as f64;
                let mid = (a.at + b.at) as f64 / 2000.0 - sample.at as f64 / 1000.0;
                Some((mid, records / dt))
            })
            .collect();
        if points.len() < settings.min_samples {
            return Err((
                Reason::TooFewSamples,
                format!(
                    "{} rate points in the history window, {} needed",
                    points.len(),
                    settings.min_samples
                ),
            ));
        }
        let horizon = settings.target.as_secs_f64();
        let Some(chosen) = choose(&points, settings.error_limit, horizon) else {
            return Err((
                Reason::TooFewSamples,
                "the rate points do not spread enough in time to fit".into(),
            ));
        };
        advice.fit = Some(FitReport::new(&chosen.fit, chosen.rejected_quadratic_error));
        let predicted = forecast(&chosen.fit, horizon);
        advice.forecast = Some(predicted);
        let Some(lag) = sample.lag_records else {
            return Err((Reason::LagUnknown, "the group's lag is unknown".into()));
        };
        let Some(per_instance) = self.per_instance_rate() else {
            return Err((
                Reason::RateUnknown,
                "one instance's rate is unknown: the group has not lagged with steady members \
                 for two polls yet"
                    .into(),
            ));
        };
        if per_instance <= 0.0 {
            return Err((
                Reason::NotConsuming,
                "the group consumed nothing while it lagged; more instances would not help".into(),
            ));
        }
        let required_rate = required(settings, predicted.incoming_records, lag.max(0) as f64);
        advice.required_rate = Some(required_rate);
        let (n, bound) = instances(settings, required_rate, per_instance, sample.partitions);
        advice.detail = format!(
            "{:.0} records forecast over {:.0} s ({} fit) + lag {lag} = {required_rate:.1} records/s \
             over {:.0} s; {per_instance:.1} records/s per instance -> {n}{}",
            predicted.incoming_records,
            predicted.horizon_seconds,
            chosen.fit.kind.as_str(),
            settings.working_seconds(),
            bound.map_or(String::new(), |b| format!(" (capped by {b})")),
        );
        Ok(n)
    }

    /// Gives `n`, unless it differs from the last recommendation and that one changed less
    /// than a cooldown ago: then the last one stands.
    fn hold_or_change(
        &mut self,
        settings: &ScaleSettings,
        now: Millis,
        n: u32,
        advice: &mut Advice,
    ) {
        advice.computed = Some(n);
        match self.last {
            Some((last, since))
                if last != n && now - since < ScaleSettings::ms(settings.cooldown) =>
            {
                advice.recommendation = Some(last);
                advice.reason = Reason::Cooldown;
                advice.detail = format!(
                    "{}; held at {last} until the cooldown ends in {:.0} s",
                    advice.detail,
                    (ScaleSettings::ms(settings.cooldown) - (now - since)) as f64 / 1000.0
                );
            }
            Some((last, _)) if last == n => advice.recommendation = Some(n),
            _ => {
                self.last = Some((n, now));
                advice.recommendation = Some(n);
            }
        }
    }
}
