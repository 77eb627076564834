//! Done-when 1: a steady canary on the healthy cluster loses nothing, duplicates nothing,
//! keeps availability at 1.0 on every broker and prints its p99 latency.

use std::time::{Duration, Instant};

use cairn_testkit::canary::report;
use cairn_testkit::cluster::ThreeNodes;
use cairn_testkit::names::rand_suffix;
use cairn_testkit::workdir::Workdir;

use super::{READY_TIMEOUT, assert_exact, canary_config, drained};

/// How long the steady state is watched: three minutes, "a few minutes" of steady traffic.
const STEADY: Duration = Duration::from_secs(180);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_steady_state_is_exact_and_fully_available() {
    let cluster = ThreeNodes::real();
    let dir = Workdir::new("canary-steady", crate::cairn());
    let topic = format!("canary-steady-{}", rand_suffix());
    let instance = dir.canary_instance("canary", &canary_config(&cluster, &topic));
    let mut canary = dir.spawn_canary(&instance);
    canary.wait_ready(READY_TIMEOUT).await;
    // One availability window of warm-up (the producer's id, the first fetches).
    tokio::time::sleep(Duration::from_secs(6)).await;
    let started = Instant::now();
    let mut samples = 0;
    while started.elapsed() < STEADY {
        let r = report(&canary).await;
        samples += 1;
        assert_eq!(r.lost, 0, "{:?}", r.lost_sequences);
        assert_eq!(r.duplicated, 0);
        assert_eq!(r.produce_availability, 1.0, "{r:#?}");
        assert_eq!(r.consume_availability, 1.0, "{r:#?}");
        assert_eq!(r.brokers.len(), 3, "{r:#?}");
        for b in &r.brokers {
            assert_eq!(b.produce_availability, 1.0, "broker {}: {r:#?}", b.id);
            assert_eq!(b.consume_availability, 1.0, "broker {}: {r:#?}", b.id);
            assert!(b.metadata_consistent);
            assert_eq!(b.leads.len(), 1, "every broker leads one partition: {r:#?}");
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let r = drained(&canary).await;
    assert_exact(&r);
    assert!(
        r.produced >= 3 * 50 * 60,
        "paced at 50/s per partition: {r:#?}"
    );
    assert_eq!(r.send_failures, 0, "{r:#?}");
    assert_eq!(r.reordered, 0, "{r:#?}");
    let metrics = canary.metrics().await;
    assert_eq!(
        metrics.sum(cairn_testkit::metric::CANARY_LOST.name, &[]),
        0.0
    );
    assert!(metrics.sum(cairn_testkit::metric::CANARY_CONSUMED.name, &[]) > 0.0);
    println!(
        "canary steady state: {:?}, {} samples, produced {} acknowledged {} consumed {} lost {} \
         duplicated {}; latency p50 {} ms, p99 {} ms, max {} ms",
        STEADY,
        samples,
        r.produced,
        r.acknowledged,
        r.consumed,
        r.lost,
        r.duplicated,
        r.latency_ms.p50,
        r.latency_ms.p99,
        r.latency_ms.max
    );
    canary.terminate(Duration::from_secs(20)).await;
}
