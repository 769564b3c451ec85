//! The wildcard matcher on adversarial patterns: a host pattern and a stack selector whose stars
//! a backtracking matcher would try in every split of a long text. Throughput is in bytes, so a
//! flat figure across sizes shows the cost is linear in the text's length.
//! `cargo bench -p domain --features bench --bench wildcard` prints the figures.

use chainlink::HostPattern;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use domain::ids::StackName;
use domain::stack::StackSelector;
use std::hint::black_box;

const SIZES: [usize; 4] = [1024, 8 * 1024, 64 * 1024, 512 * 1024];

fn wildcard(c: &mut Criterion) {
    let mut group = c.benchmark_group("host_pattern/*.*.*.x");
    let pattern: HostPattern = "*.*.*.x".parse().unwrap_or_else(|e| panic!("{e}"));
    for size in SIZES {
        let host = "a.".repeat(size / 2);
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::from_parameter(size), &host, |b, host| {
            b.iter(|| pattern.matches(black_box(host)))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("stack_selector/a*a*a*a*a*b");
    let selector = StackSelector::Pattern("a*a*a*a*a*b".into());
    for size in SIZES {
        let name = StackName::new("a".repeat(size));
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::from_parameter(size), &name, |b, name| {
            b.iter(|| selector.matches(black_box(name)))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = wildcard
}
criterion_main!(benches);
