//! Trace decode throughput: the per-record cost on the tracing topic's hot path.
//!
//! Run: `cargo bench -p cairn-core --bench decode -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use cairn_core::model::{Kind, Trace};
use cairn_core::trace;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// A realistic mix: ids of UUID size, every kind, a few records with escapes and unknown fields.
fn records(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let kind = [Kind::Sent, Kind::Received, Kind::Filtered][i % 3];
            let trace = Trace {
                id: format!("{:08x}-4c1e-4f0a-9d2b-{:012x}", i * 7919, i).into(),
                stream: "playback".into(),
                kind,
                location: if kind == Kind::Sent {
                    "fronting/playback"
                } else {
                    "fronting/playback-enriched"
                }
                .into(),
                partition: (i % 24) as i32,
                offset: 1_000_000 + i as i64,
                app: "router-es".into(),
                group: (kind != Kind::Sent).then(|| "router-es".into()),
                ts: 1_763_800_000_000 + i as i64,
            };
            let mut bytes = trace::encode(&trace);
            if i % 16 == 0 {
                // An emitter that adds its own fields; the decoder must skip them.
                bytes.pop();
                bytes.extend_from_slice(
                    br#","host":"api-7f9c","tags":{"region":"eu-west-1","canary":false}}"#,
                );
            }
            bytes
        })
        .collect()
}

fn decode(c: &mut Criterion) {
    let records = records(10_000);
    let mut group = c.benchmark_group("trace");
    group.throughput(Throughput::Elements(records.len() as u64));
    group.bench_function("decode", |b| {
        b.iter(|| {
            for record in &records {
                // Every record is valid; a failure here would make the figure meaningless.
                let trace = trace::decode(black_box(record)).expect("bench records are valid");
                black_box(trace);
            }
        })
    });
    let bytes: u64 = records.iter().map(|r| r.len() as u64).sum();
    group.throughput(Throughput::Bytes(bytes));
    group.bench_function("decode_bytes", |b| {
        b.iter(|| {
            for record in &records {
                black_box(trace::decode(black_box(record)).expect("bench records are valid"));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
