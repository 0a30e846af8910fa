//! GEMM throughput: sgemm and dgemm, square row-major `C = A·B`, on 1 and 2 threads.
//! Throughput is in FLOP/s (`2·n³` flops per call, reported as "elements").
//!
//! `cargo bench -p tensor-core --bench gemm`
// criterion_group! generates an undocumented `pub fn`.
#![allow(missing_docs)]

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tensor_core::kernels::{self, GemmArgs};

fn square<F: num_traits::Float + Send + Sync + 'static>(c: &mut Criterion, name: &str) {
    for threads in [1usize, 2] {
        let mut group = c.benchmark_group(format!("{name}_t{threads}"));
        group
            .sample_size(10)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(2));
        for n in [64usize, 128, 256, 512, 1024] {
            let a: Vec<F> = (0..n * n)
                .map(|i| F::from((i % 17) as f64 / 17.0 - 0.5).unwrap())
                .collect();
            let b: Vec<F> = (0..n * n)
                .map(|i| F::from((i % 13) as f64 / 13.0 - 0.5).unwrap())
                .collect();
            let mut out = vec![F::zero(); n * n];
            group.throughput(Throughput::Elements(2 * (n as u64).pow(3)));
            group.bench_with_input(BenchmarkId::from_parameter(n), &n, |bch, &n| {
                kernels::set_num_threads(threads);
                bch.iter(|| {
                    kernels::gemm(GemmArgs {
                        m: n,
                        n,
                        k: n,
                        alpha: F::one(),
                        a: &a,
                        a_rs: n,
                        a_cs: 1,
                        b: &b,
                        b_rs: n,
                        b_cs: 1,
                        beta: F::zero(),
                        c: &mut out,
                        c_rs: n,
                    })
                })
            });
        }
        group.finish();
    }
}

fn sgemm(c: &mut Criterion) {
    square::<f32>(c, "sgemm");
}

fn dgemm(c: &mut Criterion) {
    square::<f64>(c, "dgemm");
}

criterion_group!(benches, sgemm, dgemm);
criterion_main!(benches);
