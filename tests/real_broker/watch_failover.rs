//! Two `cairn watch` instances on one config, on a real broker: one is active and publishes,
//! the other stands by. A group stops committing: exactly one `open` on the incidents topic.
//! The active instance is SIGKILLed mid-incident; the standby takes over within a bounded time
//! (the control group's session timeout and a few heartbeats), reconciles with the topic and
//! opens nothing again; the group resumes: exactly one `close`, naming the same episode.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use cairn_core::watch::Phase;
use cairn_testkit::detect::EXIT_TIMEOUT;
use cairn_testkit::metric;
use cairn_testkit::process::DetectProcess;
use cairn_testkit::watch::WatchInstance;
use serde_json::Value;

use super::watch::{CLUSTER, POLL, WINDOW, World, phases, wait_state};

/// The broker's smallest session timeout (`group.min.session.timeout.ms`).
const SESSION: Duration = Duration::from_secs(6);
/// Takeover after a SIGKILL: the session expires, the standby hears of the rebalance at its
/// next heartbeat (a third of the session), rejoins, fences the producer and reads the
/// incidents topic. Generous for a loaded machine; the measured figure is printed.
const TAKEOVER_BOUND: Duration = Duration::from_secs(30);
const TIMEOUT: Duration = Duration::from_secs(20);

/// The watch world of `watch.rs` with a second instance on the same config.
struct Pair {
    world: World,
    standby: WatchInstance,
}

impl Pair {
    async fn start() -> Pair {
        let world = World::start_configured("watch-failover", &[], |config| {
            config.control_session_timeout(SESSION)
        })
        .await;
        let standby = world.another_instance("watch-b");
        Pair { world, standby }
    }

    /// The first instance (0) or the second (1), started and ready.
    async fn spawn(&self, i: usize) -> DetectProcess {
        match i {
            0 => self.world.spawn_watch().await,
            _ => self.world.spawn_instance(&self.standby).await,
        }
    }
}

/// `/api/watch` of an instance.
async fn role(watch: &DetectProcess) -> Value {
    serde_json::from_str(&watch.get_ok("/api/watch").await).expect("JSON")
}

/// Waits until the instance's role is `want`; returns when it saw it.
async fn wait_role(watch: &DetectProcess, want: &str, within: Duration) -> Instant {
    let deadline = Instant::now() + within;
    loop {
        let role = role(watch).await;
        if role["role"] == want {
            return Instant::now();
        }
        assert!(
            Instant::now() < deadline,
            "'{}' not {want} within {within:?}: {role}",
            watch.name
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standby_takes_over_a_killed_active_instance_without_a_second_open() {
    let pair = Pair::start().await;
    let world = &pair.world;
    let mut a = pair.spawn(0).await;
    wait_role(&a, "active", TIMEOUT).await;
    let mut b = pair.spawn(1).await;
    // B joins the group; the partition stays with A.
    tokio::time::sleep(2 * SESSION / 3).await;
    let b_role = role(&b).await;
    assert_eq!(b_role["role"], "standby", "{b_role}");
    assert_eq!(role(&a).await["role"], "active");

    let producing = world.keep_producing();
    tokio::time::sleep(Duration::from_secs(1)).await;
    world.commit_at_end();
    let incidents = world.wait_incidents(1, 0, WINDOW + TIMEOUT).await;
    let open = incidents[0].clone();
    // Both judge the group; only A published.
    wait_state(&b, &world.group, TIMEOUT, |s| s == "stuck").await;
    let metrics = b.metrics().await;
    assert_eq!(metrics.sum(metric::WATCH_ACTIVE.name, &[]), 0.0);
    assert_eq!(
        metrics.sum(
            metric::WATCH_INCIDENTS_OPENED.name,
            &[("cluster", CLUSTER), ("kind", "stuck")]
        ),
        0.0,
        "the standby opened nothing"
    );

    let killed = Instant::now();
    a.kill9();
    let took_over = wait_role(&b, "active", TAKEOVER_BOUND).await - killed;
    eprintln!("the standby took over {took_over:?} after the SIGKILL (session {SESSION:?})");
    assert!(
        took_over >= SESSION / 2,
        "took over {took_over:?} after the kill: before the dead instance's session could expire"
    );
    let b_role = role(&b).await;
    assert_eq!(b_role["term"], 1, "{b_role}");
    assert_eq!(b.metrics().await.sum(metric::WATCH_ACTIVE.name, &[]), 1.0);
    // Several rounds of the still-stuck group: the new active instance opens nothing.
    tokio::time::sleep(4 * POLL).await;
    assert_eq!(phases(&world.incidents()), (1, 0), "never a second open");

    world.commit_at_end();
    let incidents = world.wait_incidents(1, 1, TIMEOUT).await;
    let close = &incidents[1];
    assert_eq!(close.phase, Phase::Close);
    assert_eq!(
        (close.kind, close.since),
        (open.kind, open.since),
        "the close names the episode the dead instance opened"
    );
    tokio::time::sleep(3 * POLL).await;
    assert_eq!(phases(&world.incidents()), (1, 1), "one close");

    producing.store(true, Ordering::Relaxed);
    b.terminate(EXIT_TIMEOUT).await;
}

/// Sends `signal` (`STOP`, `CONT`) to a process.
fn signal(watch: &DetectProcess, signal: &str) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(watch.pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{signal} {}", watch.pid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_active_instance_that_wakes_up_deposed_publishes_nothing() {
    let pair = Pair::start().await;
    let world = &pair.world;
    let mut a = pair.spawn(0).await;
    wait_role(&a, "active", TIMEOUT).await;
    let mut b = pair.spawn(1).await;
    let producing = world.keep_producing();
    tokio::time::sleep(Duration::from_secs(1)).await;
    world.commit_at_end();
    world.wait_incidents(1, 0, WINDOW + TIMEOUT).await;
    wait_state(&b, &world.group, TIMEOUT, |s| s == "stuck").await;

    // A freezes: it still believes it is active when it wakes up.
    signal(&a, "STOP");
    wait_role(&b, "active", TAKEOVER_BOUND).await;
    world.commit_at_end();
    world.wait_incidents(1, 1, TIMEOUT).await;
    signal(&a, "CONT");
    // A's own book closes the incident at its next round; its producer was fenced by B, so the
    // close goes nowhere, and A stands by.
    wait_role(&a, "standby", SESSION + TIMEOUT).await;
    tokio::time::sleep(3 * POLL).await;
    assert_eq!(
        phases(&world.incidents()),
        (1, 1),
        "the deposed instance added nothing"
    );
    let a_role = role(&a).await;
    eprintln!("the woken instance: {a_role}");
    assert_eq!(role(&b).await["role"], "active");

    producing.store(true, Ordering::Relaxed);
    a.terminate(EXIT_TIMEOUT).await;
    b.terminate(EXIT_TIMEOUT).await;
}
