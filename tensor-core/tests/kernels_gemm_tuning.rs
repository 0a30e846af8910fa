//! The GEMM tuning knobs (`set_blocking_override`, `set_parallel_mode`) change only speed: every
//! blocking and every way of sharing work between threads gives the scalar reference's result.
//!
//! Tiny cache blocks (`MC = 6`, `KC = 5`, `NC = 16`) make small products cross every block
//! boundary (several `NC` column blocks, `KC` slices with a short last one, `MC` row blocks and
//! partial micro-tiles), so they exercise the loop nest, the prepacked layout and the thread
//! split cheaply.

use tensor_core::kernels::{
    self, gemm, gemm_fused, gemm_prepacked, scalar, Epilogue, GemmArgs, PackedB, PackedGemmArgs, UnaryOp,
};

/// Deterministic values in [-1, 1), exact in f32.
fn fill(len: usize, seed: u64) -> Vec<f32> {
    test_support::uniform_f32(seed, len)
}

/// `C = A·B` by the scalar reference; `A` is `m×k` row-major or (when `at`) the transpose of a
/// row-major `k×m`.
fn reference(m: usize, n: usize, k: usize, a: &[f32], at: bool, b: &[f32]) -> Vec<f32> {
    let (a_rs, a_cs) = if at { (1, m) } else { (k, 1) };
    let mut c = vec![0.0f32; m * n];
    scalar::gemm(m, n, k, 1.0, a, a_rs, a_cs, b, n, 1, 0.0, &mut c, n);
    c
}

fn assert_close(got: &[f32], want: &[f32], k: usize, what: &str) {
    // Each product sums k terms of magnitude < 1 in a different order: error ≤ k·eps·k roughly.
    let tol = 4.0 * f32::EPSILON * (k as f32) * (k as f32).sqrt().max(1.0);
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol,
            "{what}: at {i} got {g}, want {w} (tol {tol})"
        );
    }
}

#[test]
fn every_blocking_and_parallel_mode_matches_the_reference() {
    let shapes = [
        (37, 45, 23),
        (130, 70, 260),
        (6, 33, 1),
        (97, 16, 64),
        (200, 150, 130),
    ];
    for &(m, n, k) in &shapes {
        for at in [false, true] {
            let a = fill(m * k, (m * 31 + n) as u64);
            let b = fill(k * n, (k * 17 + 5) as u64);
            let want = reference(m, n, k, &a, at, &b);
            let (a_rs, a_cs) = if at { (1, m) } else { (k, 1) };
            for (mc, kc, nc) in [(0, 0, 0), (6, 5, 16), (12, 64, 48), (144, 384, 4096)] {
                for mode in 0..=4 {
                    for threads in [1, 2, 3] {
                        kernels::gemm::set_blocking_override(mc, kc, nc);
                        kernels::gemm::set_parallel_mode(mode);
                        kernels::set_num_threads(threads);
                        let mut c = vec![f32::NAN; m * n];
                        gemm(GemmArgs {
                            m,
                            n,
                            k,
                            alpha: 1.0,
                            a: &a,
                            a_rs,
                            a_cs,
                            b: &b,
                            b_rs: n,
                            b_cs: 1,
                            beta: 0.0,
                            c: &mut c,
                            c_rs: n,
                        });
                        let what =
                            format!("m={m} n={n} k={k} at={at} blk=({mc},{kc},{nc}) mode={mode} t={threads}");
                        assert_close(&c, &want, k, &what);
                    }
                }
            }
        }
    }
    kernels::gemm::set_blocking_override(0, 0, 0);
    kernels::gemm::set_parallel_mode(0);
}

/// A `PackedB` keeps the blocking it was packed with, even when the override changes before it
/// is used, and the fused epilogue (bias, then ReLU) runs once per element whatever the split.
#[test]
fn prepacked_keeps_its_blocking_and_fused_epilogue_runs_once() {
    let (m, n, k) = (75, 40, 90);
    let a = fill(m * k, 3);
    let b = fill(k * n, 4);
    let bias = fill(n, 5);
    let prod = reference(m, n, k, &a, false, &b);
    // relu(prod + bias) element by element
    let want: Vec<f32> = prod
        .iter()
        .enumerate()
        .map(|(i, &v)| (v + bias[i % n]).max(0.0))
        .collect();
    let epilogue = Epilogue {
        bias: Some(&bias[..]),
        activation: Some(UnaryOp::Relu),
    };
    kernels::gemm::set_blocking_override(6, 7, 16);
    let packed = PackedB::new(k, n, &b, n, 1);
    for (mc, kc, nc) in [(0, 0, 0), (12, 32, 32)] {
        kernels::gemm::set_blocking_override(mc, kc, nc);
        for threads in [1, 2] {
            kernels::set_num_threads(threads);
            let mut c = vec![f32::NAN; m * n];
            gemm_prepacked(
                PackedGemmArgs {
                    m,
                    alpha: 1.0,
                    a: &a,
                    a_rs: k,
                    a_cs: 1,
                    b: &packed,
                    beta: 0.0,
                    c: &mut c,
                    c_rs: n,
                },
                epilogue,
            );
            assert_close(
                &c,
                &want,
                k,
                &format!("prepacked blk=({mc},{kc},{nc}) t={threads}"),
            );
            let mut c = vec![f32::NAN; m * n];
            gemm_fused(
                GemmArgs {
                    m,
                    n,
                    k,
                    alpha: 1.0,
                    a: &a,
                    a_rs: k,
                    a_cs: 1,
                    b: &b,
                    b_rs: n,
                    b_cs: 1,
                    beta: 0.0,
                    c: &mut c,
                    c_rs: n,
                },
                epilogue,
            );
            assert_close(&c, &want, k, &format!("fused blk=({mc},{kc},{nc}) t={threads}"));
        }
    }
    kernels::gemm::set_blocking_override(0, 0, 0);
}
