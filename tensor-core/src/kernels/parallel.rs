//! Splitting large element-wise calls and reductions across the kernels' thread pool.
//!
//! Work is cut into fixed chunks of [`CHUNK`] elements whatever the thread count, and reduction
//! partials are combined in chunk order, so results do not depend on the number of threads.

use rayon::prelude::*;

use super::{scalar, threads, ReduceOp};

/// Element-wise calls on at least this many elements use the thread pool (when it has more than
/// one thread).
pub const PARALLEL_MIN_LEN: usize = 1 << 16;

/// Elements per task; also the block size of reductions longer than this.
pub const CHUNK: usize = 1 << 14;

fn parallel(len: usize) -> bool {
    len >= PARALLEL_MIN_LEN && threads::num_threads() > 1
}

/// `f(a, b, out)` over matching chunks, in parallel for long slices.
///
/// # Panics
/// If the slices differ in length.
pub(crate) fn map2<E: Copy + Send + Sync>(
    a: &[E],
    b: &[E],
    out: &mut [E],
    f: impl Fn(&[E], &[E], &mut [E]) + Sync + Send,
) {
    assert!(
        a.len() == out.len() && b.len() == out.len(),
        "binary kernel: length mismatch"
    );
    if !parallel(out.len()) {
        return f(a, b, out);
    }
    threads::install(|| {
        out.par_chunks_mut(CHUNK)
            .zip(a.par_chunks(CHUNK))
            .zip(b.par_chunks(CHUNK))
            .for_each(|((o, x), y)| f(x, y, o))
    })
}

/// `f(a, out)` over matching chunks, in parallel for long slices.
///
/// # Panics
/// If the slices differ in length.
pub(crate) fn map1<E: Copy + Send + Sync>(a: &[E], out: &mut [E], f: impl Fn(&[E], &mut [E]) + Sync + Send) {
    assert_eq!(a.len(), out.len(), "element-wise kernel: length mismatch");
    if !parallel(out.len()) {
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
    let partials: Vec<E> = if parallel(a.len()) {
        threads::install(|| a.par_chunks(CHUNK).map(&f).collect())
    } else {
        a.chunks(CHUNK).map(&f).collect()
    };
    scalar::reduce(op, &partials)
}
