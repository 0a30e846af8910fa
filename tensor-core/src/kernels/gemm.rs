//! General matrix multiply: `C = alpha * A·B + beta * C` over strided views.
//!
//! f32 and f64 run a packed, cache-blocked GEMM (Goto/BLIS loop order: `NC` columns of `B`,
//! `KC` deep slices packed once per step, `MC` rows of `A` packed per thread) whose inner
//! register-blocked micro-kernel is chosen at run time (AVX2+FMA: 6×16 f32 / 6×8 f64;
//! AVX-512F: 12×32 f32 / 12×16 f64). Above [`PARALLEL_MIN_FLOPS`] the rows of `C` are split
//! across the kernels' thread pool. Other element types, `DIMFLOW_ISA=scalar`, and
//! overlapping output rows (`c_rs < n`) run [`scalar::gemm`].

use std::any::TypeId;

use num_traits::Float;
use rayon::prelude::*;

use super::microkernel::ChunkJob;
use super::pack::{pack_b, View};
use super::simd::Simd;
use super::{dispatch, scalar, threads};

/// Products smaller than this many flops (`2·m·n·k`) run on one thread.
pub const PARALLEL_MIN_FLOPS: usize = 2 * 96 * 96 * 96;

/// Arguments of one GEMM call. `A` is `m×k` with strides `(a_rs, a_cs)`, `B` is `k×n` with
/// strides `(b_rs, b_cs)`, and `C` is `m×n`, row-major with row stride `c_rs`.
#[derive(Debug)]
pub struct GemmArgs<'a, F> {
    /// Rows of `A` and `C`.
    pub m: usize,
    /// Columns of `B` and `C`.
    pub n: usize,
    /// Inner dimension.
    pub k: usize,
    /// Scale of the product.
    pub alpha: F,
    /// Left operand.
    pub a: &'a [F],
    /// Row stride of `A`.
    pub a_rs: usize,
    /// Column stride of `A`.
    pub a_cs: usize,
    /// Right operand.
    pub b: &'a [F],
    /// Row stride of `B`.
    pub b_rs: usize,
    /// Column stride of `B`.
    pub b_cs: usize,
    /// Scale of the previous `C` (0 overwrites, ignoring NaNs in `C`).
    pub beta: F,
    /// Output.
    pub c: &'a mut [F],
    /// Row stride of `C`.
    pub c_rs: usize,
}

fn max_index(rows: usize, cols: usize, rs: usize, cs: usize) -> Option<usize> {
    if rows == 0 || cols == 0 {
        return None;
    }
    Some((rows - 1) * rs + (cols - 1) * cs)
}

/// Runs one GEMM.
///
/// # Panics
/// If a view reaches past the end of its slice.
pub fn gemm<F: Float + Send + Sync + 'static>(args: GemmArgs<'_, F>) {
    gemm_on(dispatch::active_isa(), args);
}

/// Runs one GEMM on the named instruction set rather than the active one (for tests and
/// benches). Returns `false`, leaving `C` untouched, when this CPU lacks `isa`; element types
/// other than f32/f64 always take the scalar path.
///
/// # Panics
/// If a view reaches past the end of its slice.
pub fn gemm_on<F: Float + Send + Sync + 'static>(isa: dispatch::Isa, args: GemmArgs<'_, F>) -> bool {
    let GemmArgs {
        m,
        n,
        k,
        a,
        a_rs,
        a_cs,
        b,
        b_rs,
        b_cs,
        c,
        c_rs,
        ..
    } = &args;
    if let Some(i) = max_index(*m, *k, *a_rs, *a_cs) {
        assert!(i < a.len(), "gemm: A view out of bounds");
    }
    if let Some(i) = max_index(*k, *n, *b_rs, *b_cs) {
        assert!(i < b.len(), "gemm: B view out of bounds");
    }
    if let Some(i) = max_index(*m, *n, *c_rs, 1) {
        assert!(i < c.len(), "gemm: C view out of bounds");
    }
    if TypeId::of::<F>() == TypeId::of::<f32>() {
        let args = std::mem::ManuallyDrop::new(args);
        // SAFETY: `F` and `f32` have the same `TypeId`, so they are the same type and the copy
        // is the identity (same layout, same lifetime); the original is never used or dropped.
        let args = unsafe { std::mem::transmute_copy::<_, GemmArgs<'_, f32>>(&args) };
        return gemm_fast(isa, args);
    }
    if TypeId::of::<F>() == TypeId::of::<f64>() {
        let args = std::mem::ManuallyDrop::new(args);
        // SAFETY: as above, `F` is `f64`; the original is never used or dropped.
        let args = unsafe { std::mem::transmute_copy::<_, GemmArgs<'_, f64>>(&args) };
        return gemm_fast(isa, args);
    }
    scalar_gemm(args);
    true
}

fn scalar_gemm<F: Float>(args: GemmArgs<'_, F>) {
    let GemmArgs {
        m,
        n,
        k,
        alpha,
        a,
        a_rs,
        a_cs,
        b,
        b_rs,
        b_cs,
        beta,
        c,
        c_rs,
    } = args;
    scalar::gemm(m, n, k, alpha, a, a_rs, a_cs, b, b_rs, b_cs, beta, c, c_rs);
}

/// Cache and register blocking of one micro-kernel.
#[derive(Clone, Copy, Debug)]
struct Blocking {
    mr: usize,
    nr: usize,
    mc: usize,
    kc: usize,
    nc: usize,
}

/// The blocked path for f32/f64 on the active instruction set, or the scalar path.
fn gemm_fast<E: dispatch::SimdElem>(isa: dispatch::Isa, args: GemmArgs<'_, E>) -> bool {
    if args.m == 0 || args.n == 0 {
        return true;
    }
    if args.m > 1 && args.c_rs < args.n {
        scalar_gemm(args);
        return true;
    }
    #[cfg(target_arch = "x86_64")]
    {
        use super::microkernel::{avx2, avx512};
        use dispatch::Isa;
        let f32_like = std::mem::size_of::<E>() == 4;
        match isa {
            Isa::Avx512 => {
                if let Some(t) = E::Avx512::try_new() {
                    let blk = if f32_like {
                        Blocking {
                            mr: 12,
                            nr: 32,
                            mc: 144,
                            kc: 256,
                            nc: 3072,
                        }
                    } else {
                        Blocking {
                            mr: 12,
                            nr: 16,
                            mc: 96,
                            kc: 256,
                            nc: 2048,
                        }
                    };
                    blocked(args, blk, move |job, abuf, c| {
                        // SAFETY: the token `t` exists, so AVX-512F, AVX2 and FMA were detected.
                        unsafe { avx512::run_chunk::<E::Avx512, 12, 2>(t, job, abuf, c) }
                    });
                    return true;
                }
                return false;
            }
            Isa::Avx2 => {
                if let Some(t) = E::Avx2::try_new() {
                    let blk = if f32_like {
                        Blocking {
                            mr: 6,
                            nr: 16,
                            mc: 120,
                            kc: 256,
                            nc: 3072,
                        }
                    } else {
                        Blocking {
                            mr: 6,
                            nr: 8,
                            mc: 96,
                            kc: 256,
                            nc: 2048,
                        }
                    };
                    blocked(args, blk, move |job, abuf, c| {
                        // SAFETY: the token `t` exists, so AVX2 and FMA were detected.
                        unsafe { avx2::run_chunk::<E::Avx2, 6, 2>(t, job, abuf, c) }
                    });
                    return true;
                }
                return false;
            }
            Isa::Scalar => {}
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    if isa != dispatch::Isa::Scalar {
        return false;
    }
    scalar_gemm(args);
    true
}

/// Splits the first `m` rows (row stride `rs`, last row `n` long) of `c` into chunks of
/// `rows_per` rows.
fn split_rows<E>(c: &mut [E], m: usize, n: usize, rs: usize, rows_per: usize) -> Vec<&mut [E]> {
    let mut rest = &mut c[..(m - 1) * rs + n];
    let mut out = Vec::new();
    let mut row = 0;
    while row < m {
        let take = rows_per.min(m - row);
        if row + take == m {
            out.push(std::mem::take(&mut rest));
        } else {
            let (head, tail) = std::mem::take(&mut rest).split_at_mut(take * rs);
            out.push(head);
            rest = tail;
        }
        row += take;
    }
    out
}

/// The Goto loop nest around `run` (one thread's macro-kernel over a row chunk).
fn blocked<E, K>(args: GemmArgs<'_, E>, blk: Blocking, run: K)
where
    E: Float + Send + Sync,
    K: Fn(&ChunkJob<'_, E>, &mut [E], &mut [E]) + Sync + Send,
{
    let GemmArgs {
        m,
        n,
        k,
        alpha,
        a,
        a_rs,
        a_cs,
        b,
        b_rs,
        b_cs,
        beta,
        c,
        c_rs,
    } = args;
    let zero = E::zero();
    if k == 0 {
        for i in 0..m {
            for d in &mut c[i * c_rs..i * c_rs + n] {
                *d = if beta == zero { zero } else { beta * *d };
            }
        }
        return;
    }
    let flops = 2usize.saturating_mul(m).saturating_mul(n).saturating_mul(k);
    let threads = if flops >= PARALLEL_MIN_FLOPS {
        threads::num_threads()
    } else {
        1
    };
    let panels = m.div_ceil(blk.mr);
    let chunks = threads.min(panels).max(1);
    let rows_per = panels.div_ceil(chunks) * blk.mr;
    let kc_max = blk.kc.min(k);
    let nc_max = blk.nc.min(n);
    let a_view = View {
        data: a,
        rs: a_rs,
        cs: a_cs,
    };
    let b_view = View {
        data: b,
        rs: b_rs,
        cs: b_cs,
    };
    let mut work = move || {
        let mut c_chunks = split_rows(c, m, n, c_rs, rows_per);
        let abuf_len = blk.mc.min(rows_per).div_ceil(blk.mr) * blk.mr * kc_max;
        let mut abufs: Vec<Vec<E>> = (0..c_chunks.len()).map(|_| vec![zero; abuf_len]).collect();
        let mut bbuf = vec![zero; nc_max.div_ceil(blk.nr) * blk.nr * kc_max];
        let mut jc = 0;
        while jc < n {
            let nc = blk.nc.min(n - jc);
            let mut pc = 0;
            while pc < k {
                let kc = blk.kc.min(k - pc);
                let bpack = &mut bbuf[..nc.div_ceil(blk.nr) * blk.nr * kc];
                pack_b(blk.nr, b_view, pc, kc, jc, nc, bpack, chunks > 1);
                let bpack = &*bpack;
                let job = |ci: usize| ChunkJob {
                    a: a_view,
                    row0: ci * rows_per,
                    rows: rows_per.min(m - ci * rows_per),
                    p0: pc,
                    kc,
                    nc,
                    mc_block: blk.mc,
                    bpack,
                    alpha,
                    beta: if pc == 0 { beta } else { E::one() },
                    c_rs,
                    j0: jc,
                };
                if c_chunks.len() == 1 {
                    run(&job(0), &mut abufs[0], c_chunks[0]);
                } else {
                    c_chunks
                        .par_iter_mut()
                        .zip(abufs.par_iter_mut())
                        .enumerate()
                        .for_each(|(ci, (cc, ab))| run(&job(ci), ab, cc));
                }
                pc += kc;
            }
            jc += nc;
        }
    };
    if chunks > 1 {
        threads::install(work);
    } else {
        work();
    }
}
