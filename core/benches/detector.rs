//! Traces per second through `Detector::on_trace` on one core, with a million messages in flight.
//!
//! A 3-hop stream (producer → a/l0 → x1 → a/l1 → x2 → a/l2 → sink): six traces per message.
//! Each iteration starts from a detector holding 1,000,000 half-travelled messages (their
//! first three traces) and feeds 600,000 pre-decoded traces: the last three of 100,000
//! in-flight messages (completing them) interleaved with the first three of 100,000 new
//! ones, so the number in flight stays at a million.
//!
//! Run: `cargo bench -p cairn-core --bench detector`

use std::borrow::Cow;
use std::hint::black_box;
use std::time::Duration;

use cairn_core::detector::Detector;
use cairn_core::model::{Kind, Millis, Trace, Verdict};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use support::three_hops;

mod support;

const IN_FLIGHT: usize = 1_000_000;
const BATCH: usize = 100_000;
const NOW: Millis = 1_763_800_000_000;

/// A UUID-shaped id (36 bytes), as most pipelines use.
fn id(n: usize) -> String {
    format!("{:08x}-0000-4000-8000-{:012x}", n as u32, n)
}

/// The six traces of message `n`, in pipeline order.
fn journey(id: &str, n: usize) -> [Trace<'_>; 6] {
    let offset = n as i64;
    let partition = (n % 12) as i32;
    let t = |kind,
             app: &'static str,
             location: &'static str,
             group: Option<&'static str>,
             dt: Millis| Trace {
        id: Cow::Borrowed(id),
        stream: Cow::Borrowed("playback"),
        kind,
        location: Cow::Borrowed(location),
        partition,
        offset,
        app: Cow::Borrowed(app),
        group: group.map(Cow::Borrowed),
        ts: NOW + dt,
    };
    [
        t(Kind::Sent, "producer", "a/l0", None, 0),
        t(Kind::Received, "x1", "a/l0", Some("g1"), 3),
        t(Kind::Sent, "x1", "a/l1", None, 5),
        t(Kind::Received, "x2", "a/l1", Some("g2"), 9),
        t(Kind::Sent, "x2", "a/l2", None, 12),
        t(Kind::Received, "sink", "a/l2", Some("g3"), 20),
    ]
}

fn on_trace(c: &mut Criterion) {
    let lineage = three_hops();
    let ids: Vec<String> = (0..IN_FLIGHT).map(id).collect();
    // The measured traces sit in one vector in feed order, as a freshly decoded batch would:
    // the last three traces of 0..BATCH (completing them; the stride spreads them over the
    // table like independent messages) interleaved with the first three of new messages.
    let mut measured: Vec<Trace<'static>> = Vec::with_capacity(BATCH * 6);
    for i in 0..BATCH {
        let n = (i * 7_919) % BATCH;
        let old = journey(&ids[n], n).map(Trace::into_owned);
        let fresh_id = id(IN_FLIGHT + i);
        let new = journey(&fresh_id, IN_FLIGHT + i).map(Trace::into_owned);
        let [n0, n1, n2, ..] = new;
        let [.., o3, o4, o5] = old;
        measured.extend([n0, o3, n1, o4, n2, o5]);
    }
    let prefilled = || {
        let mut detector = Detector::new(lineage.clone());
        let mut sink: Vec<Verdict> = Vec::new();
        for (n, id) in ids.iter().enumerate() {
            for t in &journey(id, n)[..3] {
                detector.on_trace(t, NOW, &mut sink);
            }
        }
        // The shell drains changed state at every checkpoint; start from a drained detector.
        let drained = detector.drain_changes(|c| {
            black_box(c);
        });
        assert_eq!(drained, Ok(IN_FLIGHT), "every message drained once");
        detector
    };

    let mut group = c.benchmark_group("detector");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(measured.len() as u64));
    group.bench_function("on_trace/3_hops_1M_in_flight", |b| {
        b.iter_batched_ref(
            prefilled,
            |detector| {
                let mut sink: Vec<Verdict> = Vec::new();
                for t in &measured {
                    detector.on_trace(t, NOW + 1_000, &mut sink);
                }
                black_box(sink.len())
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

criterion_group!(benches, on_trace);
criterion_main!(benches);
