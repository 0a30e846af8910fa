//! GEMM register-blocked micro-kernels, written once over [`Simd`] with the tile shape as const
//! parameters (`MR` rows × `NV` vectors of columns), and the per-thread macro-kernel that runs
//! them over one packed block.

use num_traits::Zero;

use super::elementwise::bias_act_inplace;
use super::gemm::Epilogue;
use super::pack::{pack_a, View};
use super::simd::Simd;

/// Largest `MR × NR` tile of any instantiation (12 × 32 for AVX-512 f32).
const MAX_TILE: usize = 12 * 32;

/// `A_panel · B_panel` for a packed `A` panel (`kc` columns of `MR` values) and a packed `B` panel
/// (`kc` rows of `NV·LANES` values), accumulated in registers.
#[inline(always)]
fn kloop_packed<S: Simd, const MR: usize, const NV: usize>(
    s: S,
    kc: usize,
    a: &[S::E],
    b: &[S::E],
) -> [[S::V; NV]; MR] {
    let l = S::LANES;
    let nr_full = NV * l;
    let zero = s.splat(S::E::zero());
    let mut acc = [[zero; NV]; MR];
    for (ap, bp) in a[..kc * MR]
        .chunks_exact(MR)
        .zip(b[..kc * nr_full].chunks_exact(nr_full))
    {
        let mut bv = [zero; NV];
        for (v, bvv) in bv.iter_mut().enumerate() {
            *bvv = s.load(&bp[v * l..]);
        }
        for (i, row) in acc.iter_mut().enumerate() {
            let av = s.splat(ap[i]);
            for (accv, &bvv) in row.iter_mut().zip(&bv) {
                *accv = s.fmadd(av, bvv, *accv);
            }
        }
    }
    acc
}

/// As [`kloop_packed`], reading `A` from `MR` row slices (each at least `kc` long) in place.
#[inline(always)]
fn kloop_rows<S: Simd, const MR: usize, const NV: usize>(
    s: S,
    kc: usize,
    rows: [&[S::E]; MR],
    b: &[S::E],
) -> [[S::V; NV]; MR] {
    let l = S::LANES;
    let nr_full = NV * l;
    let zero = s.splat(S::E::zero());
    let mut acc = [[zero; NV]; MR];
    let rows: [&[S::E]; MR] = std::array::from_fn(|i| &rows[i][..kc]);
    for (p, bp) in b[..kc * nr_full].chunks_exact(nr_full).enumerate() {
        let mut bv = [zero; NV];
        for (v, bvv) in bv.iter_mut().enumerate() {
            *bvv = s.load(&bp[v * l..]);
        }
        for (i, row) in acc.iter_mut().enumerate() {
            let av = s.splat(rows[i][p]);
            for (accv, &bvv) in row.iter_mut().zip(&bv) {
                *accv = s.fmadd(av, bvv, *accv);
            }
        }
    }
    acc
}

/// Hints the `mr × nr` tile of `C` into cache ahead of [`store_tile`].
#[inline(always)]
fn prefetch_tile<S: Simd>(s: S, c: &[S::E], c_rs: usize, mr: usize, nr: usize) {
    for i in 0..mr {
        let row = &c[i * c_rs..];
        s.prefetch(&row[0]);
        s.prefetch(&row[nr - 1]);
    }
}

/// `C[..mr, ..nr] = alpha · acc + beta · C` (`beta == 0` overwrites, ignoring NaN).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn store_tile<S: Simd, const MR: usize, const NV: usize>(
    s: S,
    acc: [[S::V; NV]; MR],
    alpha: S::E,
    beta: S::E,
    c: &mut [S::E],
    c_rs: usize,
    mr: usize,
    nr: usize,
) {
    let l = S::LANES;
    let nr_full = NV * l;
    let alpha_v = s.splat(alpha);
    let beta_zero = beta == S::E::zero();
    if mr == MR && nr == nr_full {
        let beta_v = s.splat(beta);
        for (i, row) in acc.iter().enumerate() {
            let crow = &mut c[i * c_rs..];
            for (v, &accv) in row.iter().enumerate() {
                let dst = &mut crow[v * l..];
                let mut r = s.mul(alpha_v, accv);
                if !beta_zero {
                    r = s.fmadd(beta_v, s.load(dst), r);
                }
                s.store(dst, r);
            }
        }
    } else {
        let mut tmp = [S::E::zero(); MAX_TILE];
        for (i, row) in acc.iter().enumerate().take(mr) {
            for (v, &accv) in row.iter().enumerate() {
                s.store(&mut tmp[i * nr_full + v * l..], s.mul(alpha_v, accv));
            }
        }
        for i in 0..mr {
            let crow = &mut c[i * c_rs..i * c_rs + nr];
            for (d, &t) in crow.iter_mut().zip(&tmp[i * nr_full..]) {
                *d = if beta_zero { t } else { t + beta * *d };
            }
        }
    }
}

/// One thread's share of one `(jc, pc)` step: rows `row0..row0+rows` of `A` (packed `mc` rows at
/// a time into `abuf`) against the packed `B` block `bpack` (`nc` columns), updating `c`, whose
/// row 0 is row `row0` of the output and column 0 is column `j0`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChunkJob<'a, E> {
    pub(crate) a: View<'a, E>,
    pub(crate) row0: usize,
    pub(crate) rows: usize,
    pub(crate) p0: usize,
    pub(crate) kc: usize,
    pub(crate) nc: usize,
    pub(crate) mc_block: usize,
    pub(crate) bpack: &'a [E],
    pub(crate) alpha: E,
    pub(crate) beta: E,
    pub(crate) c_rs: usize,
    pub(crate) j0: usize,
    /// Bias (already offset to column `j0`) and activation, applied when `last` is set.
    pub(crate) epilogue: Epilogue<'a, E>,
    /// Whether this is the last `KC` slice, after which `C` holds its final value.
    pub(crate) last: bool,
}

/// Runs a [`ChunkJob`] with an `MR × NV·LANES` micro-kernel.
#[inline(always)]
pub(crate) fn run_chunk<S: Simd, const MR: usize, const NV: usize>(
    s: S,
    job: &ChunkJob<'_, S::E>,
    abuf: &mut [S::E],
    c: &mut [S::E],
) {
    let nr_full = NV * S::LANES;
    let kc = job.kc;
    let mut ic = 0;
    while ic < job.rows {
        let mc = job.mc_block.min(job.rows - ic);
        let full = mc / MR;
        // Narrow outputs (few B panels) cannot amortise packing A: read a row-major A in place
        // and pack only a partial last panel.
        let direct = job.a.cs == 1 && job.nc <= 4 * nr_full;
        let packed_rows = if direct { mc - full * MR } else { mc };
        let packed_from = if direct { full * MR } else { 0 };
        let abuf = &mut abuf[..packed_rows.div_ceil(MR) * MR * kc];
        if packed_rows > 0 {
            pack_a::<_, MR>(job.a, job.row0 + ic + packed_from, packed_rows, job.p0, kc, abuf);
        }
        for (jr, bp) in job.bpack.chunks_exact(kc * nr_full).enumerate() {
            let col = jr * nr_full;
            let nr = nr_full.min(job.nc - col);
            for ir in 0..mc.div_ceil(MR) {
                let row = ic + ir * MR;
                let mr = MR.min(job.rows - row);
                let ctile = &mut c[row * job.c_rs + job.j0 + col..];
                prefetch_tile(s, ctile, job.c_rs, mr, nr);
                let acc = if direct && ir < full {
                    let rows = std::array::from_fn(|ii| {
                        let start = (job.row0 + row + ii) * job.a.rs + job.p0;
                        &job.a.data[start..start + kc]
                    });
                    kloop_rows::<S, MR, NV>(s, kc, rows, bp)
                } else {
                    let pi = ir - packed_from / MR;
                    kloop_packed::<S, MR, NV>(s, kc, &abuf[pi * MR * kc..(pi + 1) * MR * kc], bp)
                };
                store_tile::<S, MR, NV>(s, acc, job.alpha, job.beta, ctile, job.c_rs, mr, nr);
            }
        }
        if job.last && (job.epilogue.bias.is_some() || job.epilogue.activation.is_some()) {
            // The block's rows are still in cache: finish them now.
            for row in ic..ic + mc {
                let start = row * job.c_rs + job.j0;
                let bias = job.epilogue.bias.map(|b| &b[..job.nc]);
                bias_act_inplace(s, &mut c[start..start + job.nc], bias, job.epilogue.activation);
            }
        }
        ic += mc;
    }
}

/// `#[target_feature]` entry points of [`run_chunk`], one per instruction set.
macro_rules! entry_points {
    ($modname:ident, $features:literal) => {
        /// [`run_chunk`] compiled with the instruction set enabled.
        pub(crate) mod $modname {
            use super::*;

            /// Only called with a token of this instruction set.
            #[target_feature(enable = $features)]
            pub(crate) fn run_chunk<S: Simd, const MR: usize, const NV: usize>(
                s: S,
                job: &ChunkJob<'_, S::E>,
                abuf: &mut [S::E],
                c: &mut [S::E],
            ) {
                super::run_chunk::<S, MR, NV>(s, job, abuf, c)
            }
        }
    };
}

#[cfg(target_arch = "x86_64")]
entry_points!(avx2, "avx2,fma");
#[cfg(target_arch = "x86_64")]
entry_points!(avx512, "avx512f,avx2,fma");
