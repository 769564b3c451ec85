//! The planner on large accounts: stacks of a node and a db group, ten rules each, a tenth of
//! them drifted. `cargo bench -p domain --features bench --bench planner` prints the figures.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use domain::security_groups::{check_flows, plan_security_groups};
use std::hint::black_box;
use test_support::{many_stacks, sample_stack_file};

fn planner(c: &mut Criterion) {
    let file = sample_stack_file();
    let mut group = c.benchmark_group("plan_security_groups");
    for groups in [1_000usize, 10_000, 50_000] {
        let stacks = many_stacks(groups / 2);
        group.throughput(Throughput::Elements(groups as u64));
        group.bench_with_input(BenchmarkId::from_parameter(groups), &stacks, |b, stacks| {
            b.iter(|| {
                stacks
                    .iter()
                    .map(|stack| plan_security_groups(&file, black_box(stack)).actions.len())
                    .sum::<usize>()
            })
        });
    }
    group.finish();

    let stacks = many_stacks(5_000);
    c.bench_function("check_flows/10000", |b| {
        b.iter(|| {
            stacks
                .iter()
                .map(|stack| check_flows(&file, black_box(stack)).len())
                .sum::<usize>()
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = planner
}
criterion_main!(benches);
