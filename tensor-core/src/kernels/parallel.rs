//! Splitting large element-wise calls and reductions across the kernels' thread pool.
//!
//! Work is cut into fixed chunks of [`CHUNK`] elements whatever the thread count, and reduction
//! partials are combined in chunk order, so results do not depend on the number of threads.

use rayon::prelude::*;

use super::{scalar, threads, BinaryOp, ReduceOp, UnaryOp};

/// Memory-bound calls (add, mul, relu, sums, ...) on at least this many elements use the thread
/// pool (when it has more than one thread): below it, the split costs more than it saves.
pub const PARALLEL_MIN_LEN: usize = 1 << 20;

/// Compute-bound calls (exp, tanh, sigmoid, erf, ln, pow) use the pool from this many elements.
pub const PARALLEL_MIN_LEN_TRANSCENDENTAL: usize = 1 << 15;

/// Elements per task; also the block size of reductions longer than this.
pub const CHUNK: usize = 1 << 14;

fn parallel(len: usize, min_len: usize) -> bool {
    len >= min_len && threads::num_threads() > 1
}

/// The parallel threshold for a binary op.
pub(crate) fn min_len_binary(op: BinaryOp) -> usize {
    if op == BinaryOp::Pow {
        PARALLEL_MIN_LEN_TRANSCENDENTAL
    } else {
        PARALLEL_MIN_LEN
    }
}

/// The parallel threshold for a unary op.
pub(crate) fn min_len_unary(op: UnaryOp) -> usize {
    match op {
        UnaryOp::Exp | UnaryOp::Ln | UnaryOp::Tanh | UnaryOp::Sigmoid | UnaryOp::Erf => {
            PARALLEL_MIN_LEN_TRANSCENDENTAL
        }
        _ => PARALLEL_MIN_LEN,
    }
}

/// `f(a, b, out)` over matching chunks, in parallel for slices of `min_len` or more.
///
/// # Panics
/// If the slices differ in length.
pub(crate) fn map2<E: Copy + Send + Sync>(
    min_len: usize,
    a: &[E],
    b: &[E],
    out: &mut [E],
    f: impl Fn(&[E], &[E], &mut [E]) + Sync + Send,
) {
    assert!(
        a.len() == out.len() && b.len() == out.len(),
        "binary kernel: length mismatch"
    );
    if !parallel(out.len(), min_len) {
        return f(a, b, out);
    }
    threads::install(|| {
        out.par_chunks_mut(CHUNK)
            .zip(a.par_chunks(CHUNK))
            .zip(b.par_chunks(CHUNK))
            .for_each(|((o, x), y)| f(x, y, o))
    })
}

/// `f(a, out)` over matching chunks, in parallel for slices of `min_len` or more.
///
/// # Panics
/// If the slices differ in length.
pub(crate) fn map1<E: Copy + Send + Sync>(
    min_len: usize,
    a: &[E],
    out: &mut [E],
    f: impl Fn(&[E], &mut [E]) + Sync + Send,
) {
    assert_eq!(a.len(), out.len(), "element-wise kernel: length mismatch");
    if !parallel(out.len(), min_len) {
        return f(a, out);
    }
    threads::install(|| {
        out.par_chunks_mut(CHUNK)
            .zip(a.par_chunks(CHUNK))
            .for_each(|(o, x)| f(x, o))
    })
}

/// `op` over `a`: `f` on each [`CHUNK`] (in parallel for long slices), then the partials combined
/// in order by the scalar reduction.
pub(crate) fn reduce<E: num_traits::Float + Send + Sync>(
    op: ReduceOp,
    a: &[E],
    f: impl Fn(&[E]) -> E + Sync + Send,
) -> E {
    if a.len() <= CHUNK {
        return f(a);
    }
    let partials: Vec<E> = if parallel(a.len(), PARALLEL_MIN_LEN) {
        threads::install(|| a.par_chunks(CHUNK).map(&f).collect())
    } else {
        a.chunks(CHUNK).map(&f).collect()
    };
    scalar::reduce(op, &partials)
}
