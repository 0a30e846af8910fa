//! GEMM register-blocked micro-kernels, written once over [`Simd`] with the tile shape as const
//! parameters (`MR` rows × `NV` vectors of columns), and the per-thread macro-kernel that runs
//! them over one packed block.

use num_traits::Zero;

use super::pack::{pack_a, View};
use super::simd::Simd;

/// Largest `MR × NR` tile of any instantiation (12 × 32 for AVX-512 f32).
const MAX_TILE: usize = 12 * 32;

/// `C[..mr, ..nr] = alpha · Apanel·Bpanel + beta · C` (`beta == 0` overwrites, ignoring NaN).
///
/// `a` holds `kc` columns of `MR` values, `b` holds `kc` rows of `NV·LANES` values.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn microkernel<S: Simd, const MR: usize, const NV: usize>(
    s: S,
    kc: usize,
    a: &[S::E],
    b: &[S::E],
    alpha: S::E,
    beta: S::E,
    c: &mut [S::E],
    c_rs: usize,
    mr: usize,
    nr: usize,
) {
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
#[derive(Debug)]
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
        let panels_a = mc.div_ceil(MR);
        let abuf = &mut abuf[..panels_a * MR * kc];
        pack_a(MR, job.a, job.row0 + ic, mc, job.p0, kc, abuf);
        for (jr, bp) in job.bpack.chunks_exact(kc * nr_full).enumerate() {
            let col = jr * nr_full;
            let nr = nr_full.min(job.nc - col);
            for (ir, ap) in abuf.chunks_exact(kc * MR).enumerate() {
                let row = ic + ir * MR;
                let mr = MR.min(job.rows - row);
                let ctile = &mut c[row * job.c_rs + job.j0 + col..];
                microkernel::<S, MR, NV>(s, kc, ap, bp, job.alpha, job.beta, ctile, job.c_rs, mr, nr);
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
