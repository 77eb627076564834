//! The done-when scenarios of `cairn watch`, played on the model second by second with a
//! poll every five seconds: the core's half of what the shell will be tested on.

use super::super::incident::Phase;
use super::super::input::GroupState;
use super::super::state::{ConsumerState, LagMethod};
use super::*;

/// A producer and a consumer on partition 0, stepped one second at a time.
struct Pipeline {
    h: Harness,
    /// Records produced per second.
    produce: usize,
    /// Records the consumer reads per second while it runs.
    consume: i64,
    /// Seconds between its commits.
    commit_every: i64,
    running: bool,
    /// How far it has read (committed at its next commit).
    position: i64,
    seconds: i64,
    /// Every commit that changed the committed offset, by time.
    commits: Vec<Millis>,
    /// Records older than this are deleted each second, when set.
    retention: Option<Millis>,
}

impl Pipeline {
    fn new(produce: usize, consume: i64, commit_every: i64) -> Pipeline {
        let mut h = Harness::new();
        h.round();
        Pipeline {
            h,
            produce,
            consume,
            commit_every,
            running: true,
            position: 0,
            seconds: 0,
            commits: Vec::new(),
            retention: None,
        }
    }

    /// One second: produce, consume, maybe commit, maybe apply retention, maybe poll.
    fn second(&mut self) -> Option<PartitionReport> {
        self.h.now += 1_000;
        self.seconds += 1;
        self.h.produce(0, self.produce);
        if let Some(retention) = self.retention {
            let cutoff = self.h.now - retention;
            let part = self.h.part(0);
            let kept_from = part.log.iter().position(|e| e.ts >= cutoff);
            part.log_start = kept_from.map_or(part.log_end(), |i| i as i64);
        }
        if self.running {
            let end = self.h.parts[0].log_end();
            self.position = (self.position + self.consume).min(end);
            if self.seconds % self.commit_every == 0
                && self.h.parts[0].committed != Some(self.position)
            {
                self.h.commit(0, self.position);
                self.commits.push(self.h.now);
            }
        }
        (self.h.now % POLL == 0).then(|| self.h.round().groups[0].partitions[0].clone())
    }

    /// Runs `ms`, returning every poll's report of partition 0 with its time.
    fn run(&mut self, ms: Millis) -> Vec<(Millis, PartitionReport)> {
        (0..ms / 1_000)
            .filter_map(|_| self.second().map(|p| (self.h.now, p)))
            .collect()
    }
}

fn states(polls: &[(Millis, PartitionReport)]) -> Vec<ConsumerState> {
    polls.iter().map(|(_, p)| p.state).collect()
}

#[test]
fn scenario_1_a_consumer_that_stops_for_six_windows() {
    let mut pipe = Pipeline::new(10, 10, 1);
    let before = pipe.run(2 * WINDOW);
    assert!(!states(&before).contains(&ConsumerState::Stuck));
    pipe.running = false;
    let last_commit = *pipe.commits.last().expect("it committed");
    let stopped = pipe.run(6 * WINDOW);
    let (declared, p) = stopped
        .iter()
        .find(|(_, p)| p.state == ConsumerState::Stuck)
        .expect("stuck declared");
    assert!(
        *declared - last_commit <= WINDOW + 2 * POLL,
        "declared {} ms after the last commit",
        declared - last_commit
    );
    assert!(p.stuck_since.get().is_some_and(|s| s >= last_commit));
    assert!(
        stopped
            .iter()
            .filter(|(t, _)| t > declared)
            .all(|(_, p)| p.state == ConsumerState::Stuck)
    );

    pipe.running = true;
    pipe.consume = 1_000;
    let resumed = pipe.run(WINDOW);
    let first_new_commit = pipe
        .commits
        .iter()
        .find(|t| **t > *declared)
        .copied()
        .unwrap();
    let (cleared, _) = resumed
        .iter()
        .find(|(_, p)| p.state != ConsumerState::Stuck)
        .expect("cleared");
    assert!(*cleared - first_new_commit <= 2 * POLL);
    let phases: Vec<Phase> = pipe.h.incidents.iter().map(|i| i.phase).collect();
    assert_eq!(
        phases,
        [Phase::Open, Phase::Close],
        "exactly one open and one close"
    );
}

#[test]
fn scenario_2_idle_for_ten_windows_then_one_record_read_late_is_never_stuck() {
    let mut pipe = Pipeline::new(0, 10, 1);
    let mut polls = pipe.run(10 * WINDOW);
    pipe.h.produce(0, 1);
    pipe.running = false;
    polls.extend(pipe.run(WINDOW * 8 / 10));
    pipe.running = true;
    polls.extend(pipe.run(3 * WINDOW));
    assert!(!states(&polls).contains(&ConsumerState::Stuck));
    assert_eq!(pipe.h.state(), ConsumerState::Ok);
    assert!(pipe.h.incidents.is_empty());
}

#[test]
fn scenario_3_half_speed_consumer_falls_behind_is_never_stuck_and_its_lag_is_exact() {
    for fetch in [true, false] {
        let mut pipe = Pipeline::new(10, 5, 2);
        pipe.h.fetch = fetch;
        let polls = pipe.run(4 * WINDOW);
        assert!(
            !states(&polls).contains(&ConsumerState::Stuck),
            "fetch {fetch}"
        );
        let (behind_at, _) = polls
            .iter()
            .find(|(_, p)| p.state == ConsumerState::FallingBehind)
            .expect("falling behind");
        assert!(
            *behind_at - T0 <= 3 * WINDOW + POLL,
            "fetch {fetch}: after {} ms",
            behind_at - T0
        );
        // The true age of the oldest unread record: the record at the committed offset was
        // produced in second `offset / 10 + 1` (10 a second, from T0 + 1 s).
        for (now, p) in polls.iter().skip(2) {
            let committed = p.committed.get().unwrap();
            let produced = T0 + (committed / 10 + 1) * 1_000;
            let truth = (now - produced) as f64 / 1_000.0;
            let lag = p.lag_seconds.get().expect("known");
            assert!(
                (lag - truth).abs() <= 2.0,
                "fetch {fetch}: {lag} vs {truth}"
            );
            let method = if fetch {
                LagMethod::FirstUnreadRecord
            } else {
                LagMethod::Interpolated
            };
            assert_eq!(p.lag_method, method);
        }
    }
}

#[test]
fn scenario_6_retention_overtakes_a_stopped_consumer_with_the_exact_count() {
    let mut pipe = Pipeline::new(10, 10, 1);
    pipe.run(WINDOW / 2);
    pipe.running = false;
    pipe.retention = Some(4_000);
    let committed = pipe.h.parts[0].committed.unwrap();
    let polls = pipe.run(WINDOW / 2);
    let expired: Vec<_> = polls
        .iter()
        .filter(|(_, p)| p.state == ConsumerState::Expired)
        .collect();
    assert!(!expired.is_empty());
    for (_, p) in &expired {
        assert_eq!(
            p.expired_records.get(),
            Some(p.log_start.get().unwrap() - committed)
        );
    }
    let open = &pipe.h.incidents[0];
    assert_eq!(open.phase, Phase::Open);
    assert_eq!(open.kind, super::super::incident::IncidentKind::Expired);
}

#[test]
fn scenario_7_a_broker_down_for_thirty_seconds_is_no_stuck_for_a_committing_group() {
    let mut pipe = Pipeline::new(10, 10, 2);
    let mut polls = pipe.run(WINDOW);
    pipe.h.status = None;
    pipe.h.part(0).fail.log_end = true;
    polls.extend(pipe.run(30_000));
    pipe.h.status = Some(stable());
    pipe.h.part(0).fail.log_end = false;
    polls.extend(pipe.run(2 * WINDOW));
    assert!(!states(&polls).contains(&ConsumerState::Stuck));
    assert_eq!(pipe.h.state(), ConsumerState::Ok);
}

#[test]
fn faults_deleted_topics_added_partitions_and_a_recreated_topic() {
    let mut h = Harness::new();
    h.parts.push(Part::new("doomed", 0));
    h.produce(0, 10);
    h.produce(1, 10);
    h.round();
    assert_eq!(h.evaluator.tracked_partitions(), 2);
    // Deleted: gone from the next round, its history with it.
    h.parts.remove(1);
    h.parts.push(Part::new("t", 1));
    h.part(1).committed = None;
    h.poll_after(POLL);
    assert_eq!(h.evaluator.tracked_partitions(), 2);
    let history = h.evaluator.history("c", "g").unwrap();
    let names: Vec<(&str, i32)> = history
        .partitions
        .iter()
        .map(|p| (p.topic.as_str(), p.partition))
        .collect();
    assert_eq!(names, [("t", 0), ("t", 1)]);
    assert_eq!(
        h.p(1).state,
        ConsumerState::NoCommit,
        "added, not committed yet"
    );
    assert_eq!(history.partitions[1].points.len(), 1);

    // Recreated: the log starts over below the group's commit.
    for _ in 0..5 {
        h.produce(0, 10);
        h.catch_up(0);
        h.poll_after(POLL);
    }
    h.parts[0].log.truncate(3);
    let went_back = h.poll_after(POLL).logs_went_back.clone();
    assert_eq!(
        went_back,
        [("t".to_owned(), 0)],
        "said once, for the shell to count"
    );
    assert_eq!(h.state(), ConsumerState::CommittedBeyondEnd);
    let points = &h.evaluator.history("c", "g").unwrap().partitions[0].points;
    assert_eq!(points.len(), 1, "the old series is dropped");
    h.commit(0, 3);
    h.produce(0, 5);
    assert!(h.poll_after(POLL).logs_went_back.is_empty());
    assert_eq!(h.state(), ConsumerState::Ok);
    assert_eq!(h.p(0).lag_records, Some(5));

    // A group left out of a round is forgotten.
    h.evaluator.evaluate(&Round {
        now: h.now + POLL,
        groups: Vec::new(),
    });
    assert_eq!(h.evaluator.tracked_partitions(), 0);
    assert!(h.evaluator.history("c", "g").is_none());
}

#[test]
fn history_is_a_bounded_ring_of_recent_rounds() {
    let mut h = Harness::new();
    h.settings.history_points = 4;
    for _ in 0..10 {
        h.produce(0, 3);
        h.poll_after(POLL);
    }
    let history = h.evaluator.history("c", "g").unwrap();
    let points = &history.partitions[0].points;
    let times: Vec<Millis> = points.iter().map(|p| p.at).collect();
    assert_eq!(times, (7..=10).map(|k| T0 + k * POLL).collect::<Vec<_>>());
    assert_eq!(points[3].log_end, Some(30));
    assert_eq!(points[3].lag_records, Some(30));
    assert_eq!(points[3].committed, Some(0));
    let json = serde_json::to_value(&history).unwrap();
    assert_eq!(json["partitions"][0]["points"][3]["state"], "ok");
}

#[test]
fn an_empty_group_waiting_for_its_batch_run_is_not_an_incident_until_stuck() {
    let mut pipe = Pipeline::new(1, 10, 1);
    pipe.running = false;
    pipe.h.status = Some(status(GroupState::Empty, 0));
    let polls = pipe.run(WINDOW - POLL);
    assert!(states(&polls).contains(&ConsumerState::EmptyGroupWithBacklog));
    assert!(pipe.h.incidents.is_empty());
}
