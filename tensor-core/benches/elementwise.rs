//! Element-wise f32 kernels (add, exp) and the sum reduction at 1e3..1e7 elements, beside a plain
//! `memcpy` (`copy_from_slice`) of the same length as the memory-bandwidth yardstick.
//! Throughput is in bytes moved: add reads 2 and writes 1 array, exp and memcpy read 1 and write 1,
//! sum reads 1. add/exp/sum run on 1 and on 2 threads (slices of 65536+ elements are split
//! across the pool); memcpy on one.
//!
//! `cargo bench -p tensor-core --bench elementwise`
// criterion_group! generates an undocumented `pub fn`.
#![allow(missing_docs)]

use std::time::Duration;

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tensor_core::kernels::{self, BinaryOp, KernelFloat, ReduceOp, UnaryOp};

const SIZES: [usize; 5] = [1_000, 10_000, 100_000, 1_000_000, 10_000_000];

fn elementwise(c: &mut Criterion) {
    let cases = [
        ("memcpy", 2u64, 1usize),
        ("add", 3, 1),
        ("exp", 2, 1),
        ("sum", 1, 1),
        ("add", 3, 2),
        ("exp", 2, 2),
        ("sum", 1, 2),
    ];
    for (name, arrays, threads) in cases {
        kernels::set_num_threads(threads);
        let mut group = c.benchmark_group(format!("f32_{name}_t{threads}"));
        group
            .sample_size(10)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(2));
        for n in SIZES {
            let a: Vec<f32> = (0..n).map(|i| (i % 100) as f32 / 50.0 - 1.0).collect();
            let b: Vec<f32> = (0..n).map(|i| (i % 37) as f32 / 37.0).collect();
            let mut out = vec![0.0f32; n];
            group.throughput(Throughput::Bytes(arrays * 4 * n as u64));
            group.bench_with_input(BenchmarkId::from_parameter(n), &n, |bch, _| match name {
                "memcpy" => bch.iter(|| out.copy_from_slice(black_box(&a))),
                "add" => bch.iter(|| f32::binary(BinaryOp::Add, black_box(&a), &b, &mut out)),
                "exp" => bch.iter(|| f32::unary(UnaryOp::Exp, black_box(&a), &mut out)),
                _ => bch.iter(|| f32::reduce(ReduceOp::Sum, black_box(&a))),
            });
        }
        group.finish();
    }
}

criterion_group!(benches, elementwise);
criterion_main!(benches);
