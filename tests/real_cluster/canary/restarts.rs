//! Done-when 4: five restarts of the canary (three SIGTERM, two SIGKILL) on one topic: every
//! run has a fresh run id and reports no loss and no duplicate; earlier runs' records are
//! never mistaken for this run's.

use std::collections::BTreeSet;
use std::time::Duration;

use cairn_testkit::cluster::ThreeNodes;
use cairn_testkit::names::rand_suffix;
use cairn_testkit::workdir::Workdir;

use super::{READY_TIMEOUT, assert_exact, canary_config, drained};

const RUNS: usize = 6;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_restarts_report_no_false_loss_or_duplicate() {
    let cluster = ThreeNodes::real();
    let dir = Workdir::new("canary-restarts", crate::cairn());
    let topic = format!("canary-restarts-{}", rand_suffix());
    let instance = dir.canary_instance("canary", &canary_config(&cluster, &topic));
    let mut runs = BTreeSet::new();
    for run in 0..RUNS {
        let mut canary = dir.spawn_canary(&instance);
        canary.wait_ready(READY_TIMEOUT).await;
        tokio::time::sleep(Duration::from_secs(5)).await;
        let r = drained(&canary).await;
        assert_exact(&r);
        assert!(r.consumed > 0, "{r:#?}");
        assert!(runs.insert(r.run.clone()), "run id {} reused", r.run);
        let changes = r.topic_changes.values().sum::<u64>();
        assert_eq!(
            changes,
            u64::from(run == 0),
            "only the first run creates: {r:#?}"
        );
        eprintln!(
            "run {run} ({}): produced {} consumed {} skipped {:?}",
            r.run, r.produced, r.consumed, r.skipped
        );
        if run % 2 == 0 {
            canary.terminate(Duration::from_secs(20)).await;
        } else {
            canary.kill9();
        }
    }
    println!(
        "canary: {RUNS} runs ({} restarts), no false loss or duplicate",
        RUNS - 1
    );
}
