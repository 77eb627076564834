//! Several `cairn detect` instances in one group: two share a tracing
//! topic of six partitions, a third joins, then one leaves with SIGTERM. The group's verdicts
//! equal the truth, each once, and equal those of a single instance that watched the same
//! traces alone (its own group, its own output topic) the whole time.
//!
//! Batches straddle the membership changes, so some messages' state is built by one owner
//! and concluded by another.

use std::collections::BTreeSet;
use std::time::Duration;

use cairn_testkit::detect::pipeline::ids;
use cairn_testkit::detect::verdicts::{assert_exactly, keys};
use cairn_testkit::detect::{
    DetectEnv, DetectProcess, EXIT_TIMEOUT, Fate, GRACE, Instance, Pipeline, READY_TIMEOUT, Stage,
    VERDICT_TIMEOUT, VerdictKey, VerdictWatch, wait_assignment,
};
use cairn_testkit::names::rand_group;

const PARTITIONS: i32 = 6;
/// A join or a leave, with the classic protocol's rebalance rounds.
const SETTLE: Duration = Duration::from_secs(30);

fn fates() -> Vec<(Fate, usize)> {
    vec![
        (Fate::Delivered, 12),
        (Fate::Skipped(Stage::Enricher), 1),
        (Fate::DroppedInApp(Stage::Enricher), 1),
        (Fate::Skipped(Stage::Indexer), 1),
        (Fate::DroppedInApp(Stage::Indexer), 1),
        (Fate::Skipped(Stage::Sink), 2),
        (Fate::WrittenTwice, 1),
        (Fate::DeliveredTwice(Stage::Indexer), 1),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_joins_and_one_leaves_and_the_verdicts_are_a_single_instances() {
    let env = DetectEnv::on_real_broker(crate::cairn(), "detect-rebalance", PARTITIONS).await;
    let single_output = env.create_output_topic("detect-rebalance-single").await;
    let single_group = rand_group("detect-rebalance-single");
    let single = env.instance_in("single", &single_group, &single_output);
    let [a, b, c] = ["a", "b", "c"].map(|name| env.instance(name));
    let verdicts = env.watch_verdicts();
    let single_verdicts = env.watch_verdicts_on(&single_output);

    let mut pa = env.spawn(&a);
    let mut pb = env.spawn(&b);
    let mut ps = env.spawn(&single);
    for p in [&mut pa, &mut pb, &mut ps] {
        p.wait_ready(READY_TIMEOUT).await;
    }
    wait_assignment(&[&pa, &pb], PARTITIONS, SETTLE).await;
    wait_assignment(&[&ps], PARTITIONS, SETTLE).await;
    let mut pipeline = env.pipeline();

    // Batch 1 with two members.
    let b1 = pipeline.batch(&fates());
    pipeline.play(&b1).await;
    let mut pc = play_a_batch_across_the_join(&env, &mut pipeline, &c, [&pa, &pb]).await;
    play_a_batch_across_the_leave(&mut pipeline, &mut pa, [&pb, &pc]).await;
    // Batch 4 with the two remaining members.
    let b4 = pipeline.batch(&fates());
    pipeline.play(&b4).await;

    let truth = pipeline.truth();
    assert_eq!(truth.len(), 4 * 6);
    for p in [&pb, &pc, &ps] {
        p.assert_alive("after the last batch");
    }
    expect_the_group_to_match_the_single_instance(&verdicts, &single_verdicts, &truth).await;
    for p in [&mut pb, &mut pc, &mut ps] {
        let status = p.terminate(EXIT_TIMEOUT).await;
        assert!(
            status.success(),
            "'{}' exited with {status} on SIGTERM\n{}",
            p.name,
            p.logs()
        );
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_exactly("the group, after SIGTERM", &truth, &verdicts.seen());
    assert_exactly(
        "the single instance, after SIGTERM",
        &truth,
        &single_verdicts.seen(),
    );
}

/// Batch 2 straddles the join of member `c`: t1 and the enricher before, the rest after.
/// Returns the new member.
async fn play_a_batch_across_the_join(
    env: &DetectEnv,
    pipeline: &mut Pipeline,
    c: &Instance,
    [pa, pb]: [&DetectProcess; 2],
) -> DetectProcess {
    let b2 = pipeline.batch(&fates());
    let ids2 = ids(&b2);
    pipeline.produce(&b2).await;
    pipeline.process(Stage::Enricher, &ids2).await;
    let mut pc = env.spawn(c);
    pc.wait_ready(READY_TIMEOUT).await;
    wait_assignment(&[pa, pb, &pc], PARTITIONS, SETTLE).await;
    pipeline.process(Stage::Indexer, &ids2).await;
    pipeline.process(Stage::Sink, &ids2).await;
    pc
}

/// Batch 3 straddles the leave of member `a` (SIGTERM, exit 0): everything but the sink
/// before it leaves.
async fn play_a_batch_across_the_leave(
    pipeline: &mut Pipeline,
    pa: &mut DetectProcess,
    [pb, pc]: [&DetectProcess; 2],
) {
    let b3 = pipeline.batch(&fates());
    let ids3 = ids(&b3);
    pipeline.produce(&b3).await;
    pipeline.process(Stage::Enricher, &ids3).await;
    pipeline.process(Stage::Indexer, &ids3).await;
    let status = pa.terminate(EXIT_TIMEOUT).await;
    assert!(
        status.success(),
        "member a exited with {status} on SIGTERM\n{}",
        pa.logs()
    );
    wait_assignment(&[pb, pc], PARTITIONS, SETTLE).await;
    pipeline.process(Stage::Sink, &ids3).await;
}

/// Both outputs hold exactly the truth, each verdict once, and the same verdicts. The single
/// instance first: it is the reference the group is held to.
async fn expect_the_group_to_match_the_single_instance(
    verdicts: &VerdictWatch,
    single_verdicts: &VerdictWatch,
    truth: &BTreeSet<VerdictKey>,
) {
    let single_seen = single_verdicts
        .expect_exactly("the single instance", truth, VERDICT_TIMEOUT, GRACE)
        .await;
    let group_seen = verdicts
        .expect_exactly(
            "the group of instances",
            truth,
            VERDICT_TIMEOUT,
            Duration::ZERO,
        )
        .await;
    assert_eq!(
        keys(&group_seen),
        keys(&single_seen),
        "the group's verdicts differ from a single instance's"
    );
}
