//! The autoscaling advisor on a real broker, scaled down (target 60 s, relaunch 5 s, 1 s
//! polls): after an outage left a backlog of 3000 records, traffic doubles on a ramp, from
//! 150 to 300 records/s, while two groups read it with two members of 100 records/s each. The test follows the advice for one group (it
//! starts or stops members to match each recommendation) and ignores it for the other. The
//! followed group clears its backlog within the target of the first change; the ignored one
//! is still behind, further than when the advice came.
//!
//! The recommendation timeline is printed as a table (visible with `--nocapture`) and is part
//! of every failure message.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use cairn_testkit::config::ClusterToml;
use cairn_testkit::detect::READY_TIMEOUT;
use cairn_testkit::kafka::{Sharing, TestKafka};
use cairn_testkit::load::{PacedProducer, ThrottledMember};
use cairn_testkit::names::{rand_group, rand_topic};
use cairn_testkit::watch::{ScaleGroupToml, WatchToml};
use cairn_testkit::workdir::Workdir;
use serde_json::Value;

const CLUSTER: &str = "local";
const PARTITIONS: i32 = 8;
const TARGET: Duration = Duration::from_secs(60);
const RELAUNCH: Duration = Duration::from_secs(5);
const MEMBER_RATE: f64 = 100.0;
const START_MEMBERS: usize = 2;
/// A group is caught up when no more than a second of the final traffic waits.
const CAUGHT_UP: i64 = 300;
/// Past the target, what the test allows for its own one-second look and the last commit.
const SLACK: Duration = Duration::from_secs(5);
/// Records written before the members start: the outage's backlog.
const BACKLOG: f64 = 3_000.0;
/// No recommendation to act on by then: the test fails with the timeline.
const ADVICE_DEADLINE: Duration = Duration::from_secs(120);

/// 150 records/s for 10 s, a ramp to 300 records/s over 20 s, then 300 records/s.
fn traffic(t: f64) -> f64 {
    150.0 + 150.0 * ((t - 10.0) / 20.0).clamp(0.0, 1.0)
}

/// One line of the timeline.
struct Row {
    at: f64,
    members: usize,
    follow: Value,
    ignore: Value,
}

fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "   t(s) traffic | followed: members rec computed reason           fit        rate@60s     lag per-inst | ignored: rec reason              lag\n",
    );
    for r in rows {
        let f = &r.follow;
        let i = &r.ignore;
        let _ = writeln!(
            out,
            "{:>7.1} {:>7.0} | {:>17} {:>3} {:>8} {:<16} {:<9} {:>9} {:>7} {:>8} | {:>12} {:<15} {:>8}",
            r.at,
            traffic(r.at),
            r.members,
            show(&f["recommendation"]),
            show(&f["computed"]),
            f["reason"].as_str().unwrap_or("-"),
            f["fit"]["kind"].as_str().unwrap_or("-"),
            number(&f["forecast"]["rate_at_horizon"]),
            show(&f["lag_records"]),
            number(&f["per_instance_rate"]),
            show(&i["recommendation"]),
            i["reason"].as_str().unwrap_or("-"),
            show(&i["lag_records"]),
        );
    }
    out
}

fn show(v: &Value) -> String {
    if v.is_null() {
        "-".into()
    } else {
        v.to_string()
    }
}

fn number(v: &Value) -> String {
    v.as_f64().map_or("-".into(), |x| format!("{x:.0}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn following_the_advice_clears_the_backlog_within_the_target_and_ignoring_it_does_not() {
    let kafka = TestKafka::real(Sharing::Shared).await;
    let workdir = Workdir::new("scale", crate::cairn());
    let topic = rand_topic("scale");
    let (follow, ignore) = (rand_group("scale-follow"), rand_group("scale-ignore"));
    kafka.create_topic(&topic, PARTITIONS).await;
    workdir.note(format!(
        "topic {topic}, followed {follow}, ignored {ignore}"
    ));
    let entry = |group: &str| ScaleGroupToml {
        max_instances: Some(PARTITIONS as u32),
        history: Some(Duration::from_secs(120)),
        cooldown: Some(Duration::from_secs(10)),
        min_samples: Some(20),
        ..ScaleGroupToml::new(CLUSTER, group, TARGET, RELAUNCH)
    };
    let config = WatchToml::new(ClusterToml::new(CLUSTER, &kafka.bootstrap))
        .include(&[&follow, &ignore])
        .poll_interval(Duration::from_secs(1))
        .request_timeout(Duration::from_secs(5))
        .scale_group(entry(&follow))
        .scale_group(entry(&ignore));
    let instance = workdir.watch_instance("watch", config);
    let mut watch = workdir.spawn_watch(&instance);
    watch.wait_ready(READY_TIMEOUT).await;

    let client = kafka.config();
    let outage = PacedProducer::start(&client, &topic, |t| if t < 1.0 { BACKLOG } else { 0.0 });
    tokio::time::sleep(Duration::from_secs(2)).await;
    drop(outage);
    let start_members = |group: &str| -> Vec<ThrottledMember> {
        (0..START_MEMBERS)
            .map(|_| ThrottledMember::start(&client, &topic, group, MEMBER_RATE))
            .collect()
    };
    let mut followed = start_members(&follow);
    let _ignored = start_members(&ignore);
    let start = Instant::now();
    let producer = PacedProducer::start(&client, &topic, traffic);

    let mut rows = Vec::new();
    let mut applied_at: Option<f64> = None;
    let mut cleared_at: Option<f64> = None;
    let mut followed_lag_at_advice: Option<i64> = None;
    let mut ignored_lag_at_advice: Option<i64> = None;
    let mut ignored_lag_at_target: Option<i64> = None;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        watch.assert_alive("advising");
        let at = start.elapsed().as_secs_f64();
        let get = |group: &str| {
            let path = format!("/api/scale/{CLUSTER}/{group}");
            let watch = &watch;
            async move {
                let body = watch.get_ok(&path).await;
                serde_json::from_str::<Value>(&body).expect("JSON advice")
            }
        };
        let (f, i) = (get(&follow).await, get(&ignore).await);
        // Follow the advice: as many members as recommended.
        if let Some(n) = f["recommendation"].as_u64().map(|n| n as usize) {
            if n != followed.len() && applied_at.is_none() {
                applied_at = Some(at);
                followed_lag_at_advice = f["lag_records"].as_i64();
                ignored_lag_at_advice = i["lag_records"].as_i64();
            }
            while followed.len() < n {
                followed.push(ThrottledMember::start(
                    &client,
                    &topic,
                    &follow,
                    MEMBER_RATE,
                ));
            }
            followed.truncate(n);
        }
        let lag = f["lag_records"].as_i64();
        rows.push(Row {
            at,
            members: followed.len(),
            follow: f,
            ignore: i.clone(),
        });
        if let Some(applied) = applied_at {
            if cleared_at.is_none() && lag.is_some_and(|l| l <= CAUGHT_UP) {
                cleared_at = Some(at);
            }
            if at >= applied + TARGET.as_secs_f64() {
                ignored_lag_at_target = i["lag_records"].as_i64();
                break;
            }
        } else if at > ADVICE_DEADLINE.as_secs_f64() {
            break;
        }
    }
    drop(producer);
    let timeline = table(&rows);
    println!("recommendation timeline (target {TARGET:?}, relaunch {RELAUNCH:?}):\n{timeline}");
    let applied = applied_at.unwrap_or_else(|| {
        panic!(
            "no recommendation changed the followed group within {ADVICE_DEADLINE:?}:\n{timeline}"
        )
    });
    let cleared = cleared_at.unwrap_or_else(|| {
        panic!("the followed group never caught up (lag ≤ {CAUGHT_UP}) after the advice at {applied:.1} s:\n{timeline}")
    });
    println!(
        "advice applied at {applied:.1} s (followed group's lag {followed_lag_at_advice:?}); it caught up \
         {:.1} s later (target {} s); ignored group's lag {ignored_lag_at_advice:?} at the advice, \
         {ignored_lag_at_target:?} a target later",
        cleared - applied,
        TARGET.as_secs()
    );
    let backlog = followed_lag_at_advice.expect("the followed group's lag at the advice");
    assert!(
        backlog > 3 * CAUGHT_UP,
        "the advice came while the backlog was only {backlog}: nothing to clear:\n{timeline}"
    );
    assert!(
        cleared - applied <= (TARGET + SLACK).as_secs_f64(),
        "caught up {:.1} s after the advice, target {TARGET:?}:\n{timeline}",
        cleared - applied
    );
    let (before, after) = (
        ignored_lag_at_advice.expect("the ignored group's lag at the advice"),
        ignored_lag_at_target.expect("the ignored group's lag a target later"),
    );
    assert!(
        after > CAUGHT_UP && after > before,
        "the ignored group did not stay behind ({before} then {after}):\n{timeline}"
    );
    watch.terminate(cairn_testkit::detect::EXIT_TIMEOUT).await;
}
