//! General matrix multiply: `C = alpha * A·B + beta * C` over strided views.
//!
//! f32 and f64 run a packed, cache-blocked GEMM (Goto/BLIS loop order: `NC` columns of `B`,
//! `KC` deep slices packed once per step, `MC` rows of `A` packed per thread) whose inner
//! register-blocked micro-kernel is chosen at run time (AVX2+FMA: 6×16 f32 / 6×8 f64;
//! AVX-512F: 12×32 or 6×64 f32 by output width / 12×16 f64). Above [`PARALLEL_MIN_FLOPS`] the
//! rows of `C` are split into one even chunk (in micro-panels) per thread; each thread runs the
//! whole loop nest over its chunk with its own packed `B` (one fork-join per call, the caller
//! working on the first chunk), except that packed `B` blocks of at least [`SHARED_B_MIN`]
//! elements are packed by all threads together (see [`set_parallel_mode`] for the alternatives
//! that were measured). Narrow outputs (at most
//! four `NR` panels) read a row-major `A` in place instead of packing it. [`gemm_fused`] applies a
//! bias + activation [`Epilogue`] per cache block; [`PackedB`](super::PackedB) packs `B` once for
//! reuse. Other element types, `DIMFLOW_ISA=scalar`, and overlapping output rows (`c_rs < n`)
//! run [`scalar::gemm`].

use std::any::TypeId;
use std::sync::atomic::{AtomicUsize, Ordering};

use num_traits::Float;
use rayon::prelude::*;

use super::microkernel::ChunkJob;
use super::pack::{give_buffer, pack_b, take_buffer, View};
use super::simd::Simd;
use super::{dispatch, scalar, threads, UnaryOp};

/// Outputs at most this many columns wide run the AVX2 micro-kernel (6×16 f32) even where
/// AVX-512 is active: its narrower tile wastes fewer lanes.
pub const NARROW_N: usize = 16;

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

/// What to apply to every output element once the product is complete:
/// `C[i][j] = activation(alpha·(A·B)[i][j] + beta·C[i][j] + bias[j])`.
///
/// The blocked path applies it per cache block, right after the block's last `KC` slice, while
/// those rows of `C` are still in cache.
#[derive(Debug, Clone, Copy)]
pub struct Epilogue<'a, F> {
    /// Per-column bias (length `n`), or none.
    pub bias: Option<&'a [F]>,
    /// Element-wise activation (any [`UnaryOp`]: `Relu`, `Tanh`, `Sigmoid`, ...), or none.
    pub activation: Option<UnaryOp>,
}

impl<F> Default for Epilogue<'_, F> {
    fn default() -> Self {
        Epilogue {
            bias: None,
            activation: None,
        }
    }
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
    gemm_fused_on(dispatch::active_isa(), args, Epilogue::default());
}

/// Runs one GEMM followed by a fused bias-add and activation (see [`Epilogue`]).
///
/// # Panics
/// If a view reaches past the end of its slice, or the bias is not `n` long.
pub fn gemm_fused<F: Float + Send + Sync + 'static>(args: GemmArgs<'_, F>, epilogue: Epilogue<'_, F>) {
    gemm_fused_on(dispatch::active_isa(), args, epilogue);
}

/// Runs one GEMM on the named instruction set rather than the active one (for tests and
/// benches). Returns `false`, leaving `C` untouched, when this CPU lacks `isa`; element types
/// other than f32/f64 always take the scalar path.
///
/// # Panics
/// If a view reaches past the end of its slice.
pub fn gemm_on<F: Float + Send + Sync + 'static>(isa: dispatch::Isa, args: GemmArgs<'_, F>) -> bool {
    gemm_fused_on(isa, args, Epilogue::default())
}

/// [`gemm_fused`] on the named instruction set (see [`gemm_on`]).
///
/// # Panics
/// If a view reaches past the end of its slice, or the bias is not `n` long.
pub fn gemm_fused_on<F: Float + Send + Sync + 'static>(
    isa: dispatch::Isa,
    args: GemmArgs<'_, F>,
    epilogue: Epilogue<'_, F>,
) -> bool {
    if let Some(b) = epilogue.bias {
        assert_eq!(b.len(), args.n, "gemm: bias length must equal n");
    }
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
        // SAFETY: as above (`Epilogue` is `Copy`, holding only a shared slice of `F`).
        let epilogue = unsafe { std::mem::transmute_copy::<_, Epilogue<'_, f32>>(&epilogue) };
        return gemm_fast(isa, args, None, epilogue);
    }
    if TypeId::of::<F>() == TypeId::of::<f64>() {
        let args = std::mem::ManuallyDrop::new(args);
        // SAFETY: as above, `F` is `f64`; the original is never used or dropped.
        let args = unsafe { std::mem::transmute_copy::<_, GemmArgs<'_, f64>>(&args) };
        // SAFETY: as above (`Epilogue` is `Copy`, holding only a shared slice of `F`).
        let epilogue = unsafe { std::mem::transmute_copy::<_, Epilogue<'_, f64>>(&epilogue) };
        return gemm_fast(isa, args, None, epilogue);
    }
    scalar_gemm(args, epilogue);
    true
}

/// The reference path: [`scalar::gemm`] then the epilogue element by element.
pub(crate) fn scalar_gemm<F: Float>(args: GemmArgs<'_, F>, epilogue: Epilogue<'_, F>) {
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
    apply_epilogue(c, m, n, c_rs, epilogue);
}

/// `C[i][j] = activation(C[i][j] + bias[j])` element by element on the scalar path.
fn apply_epilogue<F: Float>(c: &mut [F], m: usize, n: usize, c_rs: usize, epilogue: Epilogue<'_, F>) {
    if epilogue.bias.is_none() && epilogue.activation.is_none() {
        return;
    }
    for i in 0..m {
        for (j, d) in c[i * c_rs..i * c_rs + n].iter_mut().enumerate() {
            let mut v = *d;
            if let Some(b) = epilogue.bias {
                v = v + b[j];
            }
            if let Some(op) = epilogue.activation {
                v = scalar::apply_unary(op, v);
            }
            *d = v;
        }
    }
}

/// Cache and register blocking of one micro-kernel.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Blocking {
    pub(crate) mr: usize,
    pub(crate) nr: usize,
    pub(crate) mc: usize,
    pub(crate) kc: usize,
    pub(crate) nc: usize,
}

/// The blocked path for f32/f64 on `isa`, or the scalar path. With `packed`, `B` comes
/// prepacked with the given blocking (see [`PackedB`](super::PackedB)) and `args.b` is unused.
pub(crate) fn gemm_fast<E: dispatch::SimdElem>(
    isa: dispatch::Isa,
    args: GemmArgs<'_, E>,
    packed: Option<(&[E], Blocking)>,
    epilogue: Epilogue<'_, E>,
) -> bool {
    if args.m == 0 || args.n == 0 {
        return true;
    }
    if args.m > 1 && args.c_rs < args.n {
        scalar_gemm(args, epilogue);
        return true;
    }
    #[cfg(target_arch = "x86_64")]
    {
        use super::microkernel::{avx2, avx512};
        use dispatch::Isa;
        // Narrow outputs fill a 16-wide AVX2 tile better than a 32-wide AVX-512 one: measured on
        // a Zen 4 core (docs/kernels.md), 128×10×128 runs in 6.0 µs on AVX2 against 11.4 µs on
        // AVX-512. A prepacked `B` keeps the instruction set it was packed for.
        let narrow = packed.is_none() && args.n <= NARROW_N;
        let isa =
            if isa == Isa::Avx512 && narrow && E::Avx512::try_new().is_some() && E::Avx2::try_new().is_some()
            {
                Isa::Avx2
            } else {
                isa
            };
        let blk = match packed {
            Some((_, blk)) => Some(blk),
            None => blocking_for(isa, std::mem::size_of::<E>(), args.n).map(|b| fit_kc(b, args.k)),
        };
        let packed = packed.map(|(p, _)| p);
        match (isa, blk) {
            (Isa::Avx512, Some(blk)) => {
                if let Some(t) = E::Avx512::try_new() {
                    macro_rules! tile {
                        ($mr:literal, $nv:literal) => {
                            blocked(args, packed, epilogue, blk, move |job, abuf, c| {
                                // SAFETY: the token `t` exists, so AVX-512F, AVX2 and FMA were
                                // detected.
                                unsafe { avx512::run_chunk::<E::Avx512, $mr, $nv>(t, job, abuf, c) }
                            })
                        };
                    }
                    match (blk.mr, blk.nr / <E::Avx512 as Simd>::LANES) {
                        (6, 4) => tile!(6, 4),
                        _ => tile!(12, 2),
                    }
                    return true;
                }
                return false;
            }
            (Isa::Avx2, Some(blk)) => {
                if let Some(t) = E::Avx2::try_new() {
                    blocked(args, packed, epilogue, blk, move |job, abuf, c| {
                        // SAFETY: the token `t` exists, so AVX2 and FMA were detected.
                        unsafe { avx2::run_chunk::<E::Avx2, 6, 2>(t, job, abuf, c) }
                    });
                    return true;
                }
                return false;
            }
            _ => {}
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    if isa != dispatch::Isa::Scalar {
        return false;
    }
    scalar_gemm(args, epilogue);
    true
}

/// Cache-block sizes `(MC, KC, NC)` set by [`set_blocking_override`]; 0 keeps the default.
static BLOCKING_OVERRIDE: [AtomicUsize; 3] = [AtomicUsize::new(0), AtomicUsize::new(0), AtomicUsize::new(0)];

/// Overrides the cache-block sizes of the blocked path for tuning runs (`bench/gemm-compare`):
/// `MC` rows of `A` (rounded up to the micro-kernel's `MR`), `KC` deep slices and `NC` columns of
/// `B`; 0 keeps an instruction set's default. Results stay correct for any values (only speed
/// changes); a [`PackedB`](super::PackedB) keeps the blocking it was packed with.
#[doc(hidden)]
pub fn set_blocking_override(mc: usize, kc: usize, nc: usize) {
    for (cell, v) in BLOCKING_OVERRIDE.iter().zip([mc, kc, nc]) {
        cell.store(v, Ordering::Relaxed);
    }
}

/// AVX-512 f32 tile `(MR, NR)` set by [`set_tile_override`]; 0 keeps the default.
static TILE_OVERRIDE: [AtomicUsize; 2] = [AtomicUsize::new(0), AtomicUsize::new(0)];

/// Overrides the AVX-512 f32 micro-kernel tile for tuning runs (`bench/gemm-compare`): `MR` rows
/// × `NR` columns, 6×64 or 12×32; anything else (0, 0) keeps the default, which depends on the
/// output width (see [`blocking_for`]). Results are identical for both tiles (each output is one
/// FMA chain in `k` order either way).
#[doc(hidden)]
pub fn set_tile_override(mr: usize, nr: usize) {
    TILE_OVERRIDE[0].store(mr, Ordering::Relaxed);
    TILE_OVERRIDE[1].store(nr, Ordering::Relaxed);
}

/// Whether an output `n` columns wide runs the AVX-512 f32 6×64 tile rather than 12×32: when
/// 64-wide panels pad `n` to at most 5 % more columns than 32-wide ones (the 6×64 tile is 3–9 %
/// faster per flop on a Zen 4 core, but 128×128×32 runs at half speed on it).
fn wide_tile(n: usize) -> bool {
    n.div_ceil(64) * 64 * 20 <= n.div_ceil(32) * 32 * 21
}

/// The blocking of the blocked path for `isa`, elements of `elem_size` bytes (4: f32, 8: f64)
/// and outputs `n` columns wide, or `None` where the scalar path runs.
///
/// AVX-512 f32 runs a 6×64 tile with `KC` = 512 where [`wide_tile`] allows, else 12×32 with
/// `KC` = 256. Measured on a Zen 4 core (1 MiB L2, 2026-12-05, `bench/gemm-compare tune`,
/// thread-CPU best): 1024³ 106.8 against 100.1 GFLOP/s, 2048³ 107.2 against 101.0, 256³ 110.2
/// against 101.0.
pub(crate) fn blocking_for(isa: dispatch::Isa, elem_size: usize, n: usize) -> Option<Blocking> {
    use dispatch::Isa;
    let pick = |i: usize, default: usize| match BLOCKING_OVERRIDE[i].load(Ordering::Relaxed) {
        0 => default,
        v => v,
    };
    let (mr, nr, mc, kc, nc) = match (isa, elem_size) {
        (Isa::Avx512, 4) => {
            let tile = (
                TILE_OVERRIDE[0].load(Ordering::Relaxed),
                TILE_OVERRIDE[1].load(Ordering::Relaxed),
            );
            let wide = match tile {
                (6, 64) => true,
                (12, 32) => false,
                _ => wide_tile(n),
            };
            if wide {
                (6, 64, 144, 512, 3072)
            } else {
                (12, 32, 144, 256, 3072)
            }
        }
        (Isa::Avx512, 8) => (12, 16, 96, 256, 2048),
        (Isa::Avx2, 4) => (6, 16, 72, 256, 3072),
        (Isa::Avx2, 8) => (6, 8, 72, 256, 2048),
        _ => return None,
    };
    let (mc, kc, nc) = (pick(0, mc).next_multiple_of(mr), pick(1, kc), pick(2, nc));
    cfg!(target_arch = "x86_64").then_some(Blocking { mr, nr, mc, kc, nc })
}

/// `blk` with `KC` widened to `k` when `k` exceeds it by at most a quarter: one deep slice
/// instead of a full one and a thin remainder (k = 288 for a 3×3×32 convolution: 256 + 32),
/// which would store and reload every tile of `C` for little work. Measured on the MNIST CNN's
/// second convolution (15488×288×64): 8.7 ms instead of 9.4–10.6 ms (thread CPU time).
/// [`PackedB`](super::PackedB) packs with the same rule, so both give identical results.
pub(crate) fn fit_kc(blk: Blocking, k: usize) -> Blocking {
    if k > blk.kc && k <= blk.kc + blk.kc / 4 {
        Blocking { kc: k, ..blk }
    } else {
        blk
    }
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

/// Packed `B` blocks of at least this many elements (`NC·KC`, capped by `n` and `k`) are packed
/// by all threads together (parallel mode 2) rather than once per thread (mode 3): each thread
/// then packs a share of every block instead of all of it, which outweighs the two fork-joins per
/// block. Measured on Zen 4, 2 threads, 4 interleaved runs of `tune 256,512,1024,2048
/// "0,0,0,3;0,0,0,2" 11 2` (load 1.9, wall best GFLOP/s, mode 2 vs 3): 2048³ (2048×512 blocks)
/// 215.5/217.2/215.4/216.3 vs 209.6/212.3/209.4/213.6; 1024³ mixed (±3 %); 256³ 180–185 vs
/// 205–210.
pub const SHARED_B_MIN: usize = 2048 * 512;

/// How [`blocked`] shares work between threads; 0 picks automatically (see
/// [`set_parallel_mode`]).
static PARALLEL_MODE: AtomicUsize = AtomicUsize::new(0);

/// Forces how the blocked path splits one GEMM across threads, for tuning runs
/// (`bench/gemm-compare`): 1 = rows in chunks of at most one `MC` block, `B` packed together per
/// `(NC, KC)` step; 2 = one row chunk per thread, `B` packed together per step; 3 = one row chunk
/// per thread, each thread running the whole loop nest with its own packed `B` (one fork-join
/// per call, the caller working on the first chunk); 4 = as 3 but all chunks run as pool tasks
/// while the caller waits; 0 = automatic (2 for packed `B` blocks of at least [`SHARED_B_MIN`]
/// elements, else 3). Results are identical in every mode.
#[doc(hidden)]
pub fn set_parallel_mode(mode: usize) {
    PARALLEL_MODE.store(mode, Ordering::Relaxed);
}

/// The Goto loop nest around `run` (one thread's macro-kernel over a row chunk).
fn blocked<E, K>(
    args: GemmArgs<'_, E>,
    packed: Option<&[E]>,
    epilogue: Epilogue<'_, E>,
    blk: Blocking,
    run: K,
) where
    E: Float + Send + Sync + 'static,
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
        // A·B is empty: what is left is the epilogue.
        return apply_epilogue(c, m, n, c_rs, epilogue);
    }
    let flops = 2usize.saturating_mul(m).saturating_mul(n).saturating_mul(k);
    let threads = if flops >= PARALLEL_MIN_FLOPS {
        threads::num_threads()
    } else {
        1
    };
    let panels = m.div_ceil(blk.mr);
    let mode = match PARALLEL_MODE.load(Ordering::Relaxed) {
        0 if blk.nc.min(n) * blk.kc.min(k) >= SHARED_B_MIN => 2,
        0 => 3,
        v => v,
    };
    let even_split = panels.div_ceil(threads.min(panels).max(1)) * blk.mr;
    let rows_per = if threads > 1 && mode == 1 {
        even_split.min(blk.mc)
    } else {
        even_split
    };
    let chunks = m.div_ceil(rows_per);
    // With `B` prepacked there is nothing to share: every thread runs the whole nest.
    let private = chunks > 1 && (mode >= 3 || packed.is_some());
    let kc_max = blk.kc.min(k);
    let nc_max = blk.nc.min(n);
    let abuf_len = blk.mc.min(rows_per).div_ceil(blk.mr) * blk.mr * kc_max;
    let bbuf_len = if packed.is_some() {
        0
    } else {
        nc_max.div_ceil(blk.nr) * blk.nr * kc_max
    };
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
    // The job of row chunk `ci` for the `(jc, pc)` step, its packed block `bpack` still to fill in.
    let job = |ci: usize, jc: usize, nc: usize, pc: usize, kc: usize| ChunkJob {
        a: a_view,
        row0: ci * rows_per,
        rows: rows_per.min(m - ci * rows_per),
        p0: pc,
        kc,
        nc,
        mc_block: blk.mc,
        bpack: &[],
        alpha,
        beta: if pc == 0 { beta } else { E::one() },
        c_rs,
        j0: jc,
        epilogue: Epilogue {
            bias: epilogue.bias.map(|bias| &bias[jc..jc + nc]),
            activation: epilogue.activation,
        },
        last: pc + kc == k,
    };
    // Calls `step(jc, nc, pc, kc, packed_offset)` for every `(NC, KC)` block in loop order.
    let for_each_step = |step: &mut dyn FnMut(usize, usize, usize, usize, usize)| {
        let mut packed_off = 0;
        let mut jc = 0;
        while jc < n {
            let nc = blk.nc.min(n - jc);
            let mut pc = 0;
            while pc < k {
                let kc = blk.kc.min(k - pc);
                step(jc, nc, pc, kc, packed_off);
                packed_off += nc.div_ceil(blk.nr) * blk.nr * kc;
                pc += kc;
            }
            jc += nc;
        }
    };
    // One thread's whole loop nest over row chunk `ci`, packing `B` itself unless prepacked.
    let nest = |ci: usize, cc: &mut [E]| {
        let mut abuf = take_buffer(abuf_len, zero);
        let mut bbuf = take_buffer(bbuf_len, zero);
        for_each_step(&mut |jc, nc, pc, kc, off| {
            let bsize = nc.div_ceil(blk.nr) * blk.nr * kc;
            let bpack: &[E] = match packed {
                Some(p) => &p[off..off + bsize],
                None => {
                    pack_b(blk.nr, b_view, pc, kc, jc, nc, &mut bbuf[..bsize], false);
                    &bbuf[..bsize]
                }
            };
            run(
                &ChunkJob {
                    bpack,
                    ..job(ci, jc, nc, pc, kc)
                },
                &mut abuf,
                &mut *cc,
            );
        });
        give_buffer(abuf);
        give_buffer(bbuf);
    };
    let c = &mut c[..(m - 1) * c_rs + n];
    if chunks == 1 {
        return nest(0, c);
    }
    let mut c_chunks = split_rows(c, m, n, c_rs, rows_per);
    if private && mode == 4 {
        return threads::install(|| {
            c_chunks
                .par_iter_mut()
                .enumerate()
                .for_each(|(ci, cc)| nest(ci, cc))
        });
    }
    if private {
        return threads::run_split(c_chunks, nest);
    }
    // Shared `B`: every `(NC, KC)` block is packed by all threads together, then each thread
    // runs its row chunks against it.
    threads::install(|| {
        let mut abufs: Vec<Vec<E>> = (0..chunks).map(|_| take_buffer(abuf_len, zero)).collect();
        let mut bbuf = take_buffer(bbuf_len, zero);
        for_each_step(&mut |jc, nc, pc, kc, _| {
            let bsize = nc.div_ceil(blk.nr) * blk.nr * kc;
            pack_b(blk.nr, b_view, pc, kc, jc, nc, &mut bbuf[..bsize], true);
            let bpack = &bbuf[..bsize];
            c_chunks
                .par_iter_mut()
                .zip(abufs.par_iter_mut())
                .enumerate()
                .for_each(|(ci, (cc, ab))| {
                    run(
                        &ChunkJob {
                            bpack,
                            ..job(ci, jc, nc, pc, kc)
                        },
                        ab,
                        cc,
                    )
                });
        });
        abufs.into_iter().for_each(give_buffer);
        give_buffer(bbuf);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both AVX-512 f32 tiles give bit-identical results under the same cache blocking (each
    /// output is one FMA chain in `k` order either way), on every kind of edge: partial row and
    /// column panels, several `KC` slices, `beta` ≠ 0.
    #[test]
    fn avx512_tiles_agree_bit_for_bit() {
        if <f32 as dispatch::SimdElem>::Avx512::try_new().is_none() {
            return;
        }
        let shapes = [
            (37, 45, 70),
            (130, 100, 600),
            (6, 64, 1),
            (200, 130, 260),
            (13, 700, 33),
        ];
        for (m, n, k) in shapes {
            let a: Vec<f32> = (0..m * k)
                .map(|i| ((i * 7 + 3) % 13) as f32 / 13.0 - 0.37)
                .collect();
            let b: Vec<f32> = (0..k * n)
                .map(|i| ((i * 5 + 1) % 11) as f32 / 11.0 - 0.41)
                .collect();
            let run = |tile: (usize, usize), kc: usize| {
                set_tile_override(tile.0, tile.1);
                set_blocking_override(0, kc, 0);
                let mut c: Vec<f32> = (0..m * n).map(|i| (i % 5) as f32 * 0.25).collect();
                gemm_on(
                    dispatch::Isa::Avx512,
                    GemmArgs {
                        m,
                        n,
                        k,
                        alpha: 1.5,
                        a: &a,
                        a_rs: k,
                        a_cs: 1,
                        b: &b,
                        b_rs: n,
                        b_cs: 1,
                        beta: 0.5,
                        c: &mut c,
                        c_rs: n,
                    },
                );
                set_tile_override(0, 0);
                set_blocking_override(0, 0, 0);
                c
            };
            for kc in [256, 512, 100] {
                let narrow = run((12, 32), kc);
                let wide = run((6, 64), kc);
                assert!(
                    narrow.iter().zip(&wide).all(|(x, y)| x.to_bits() == y.to_bits()),
                    "{m}×{n}×{k}, KC {kc}: 12×32 and 6×64 tiles differ"
                );
            }
        }
    }
}
