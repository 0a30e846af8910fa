//! Packing of GEMM operands into the panel layouts the micro-kernels stream through.
//!
//! A block of `A` (`mc × kc`) becomes `ceil(mc/MR)` panels, each `kc` columns of `MR` values
//! (rows past `mc` zero-filled); a block of `B` (`kc × nc`) becomes `ceil(nc/NR)` panels, each `kc`
//! rows of `NR` values (columns past `nc` zero-filled). Packing reads any strides, so transposed
//! views cost nothing extra in the kernels.

use num_traits::Zero;
use rayon::prelude::*;

/// A strided matrix view: element `(i, j)` is `data[i * rs + j * cs]`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct View<'a, E> {
    pub(crate) data: &'a [E],
    pub(crate) rs: usize,
    pub(crate) cs: usize,
}

/// Packs rows `i0..i0+mc`, columns `p0..p0+kc` of `a` into `out` (length `ceil(mc/mr)*mr*kc`).
pub(crate) fn pack_a<E: Copy + Zero>(
    mr: usize,
    a: View<'_, E>,
    i0: usize,
    mc: usize,
    p0: usize,
    kc: usize,
    out: &mut [E],
) {
    for (panel_idx, panel) in out.chunks_exact_mut(mr * kc).enumerate() {
        let r0 = i0 + panel_idx * mr;
        let rows = mr.min(i0 + mc - r0);
        if rows < mr {
            panel.fill(E::zero());
        }
        for ii in 0..rows {
            let row_start = (r0 + ii) * a.rs + p0 * a.cs;
            if a.cs == 1 {
                let row = &a.data[row_start..row_start + kc];
                for (dst, &x) in panel[ii..].iter_mut().step_by(mr).zip(row) {
                    *dst = x;
                }
            } else {
                for p in 0..kc {
                    panel[p * mr + ii] = a.data[row_start + p * a.cs];
                }
            }
        }
    }
}

/// Packs one `kc × cols` panel (columns `j0..j0+cols`, rows `p0..p0+kc`) into `panel`
/// (length `kc * nr`).
fn pack_b_panel<E: Copy + Zero>(
    nr: usize,
    b: View<'_, E>,
    p0: usize,
    kc: usize,
    j0: usize,
    cols: usize,
    panel: &mut [E],
) {
    if cols < nr {
        panel.fill(E::zero());
    }
    if b.cs == 1 {
        for (p, dst) in panel.chunks_exact_mut(nr).enumerate() {
            let start = (p0 + p) * b.rs + j0;
            dst[..cols].copy_from_slice(&b.data[start..start + cols]);
        }
    } else if b.rs == 1 {
        for jj in 0..cols {
            let start = (j0 + jj) * b.cs + p0;
            let col = &b.data[start..start + kc];
            for (dst, &x) in panel[jj..].iter_mut().step_by(nr).zip(col) {
                *dst = x;
            }
        }
    } else {
        for (p, dst) in panel.chunks_exact_mut(nr).enumerate() {
            let start = (p0 + p) * b.rs + j0 * b.cs;
            for (jj, d) in dst[..cols].iter_mut().enumerate() {
                *d = b.data[start + jj * b.cs];
            }
        }
    }
}

/// Packs rows `p0..p0+kc`, columns `j0..j0+nc` of `b` into `out` (length `ceil(nc/nr)*nr*kc`),
/// one panel per task when `parallel`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn pack_b<E: Copy + Zero + Send + Sync>(
    nr: usize,
    b: View<'_, E>,
    p0: usize,
    kc: usize,
    j0: usize,
    nc: usize,
    out: &mut [E],
    parallel: bool,
) {
    let one = |(idx, panel): (usize, &mut [E])| {
        let c0 = idx * nr;
        pack_b_panel(nr, b, p0, kc, j0 + c0, nr.min(nc - c0), panel);
    };
    if parallel {
        out.par_chunks_exact_mut(nr * kc).enumerate().for_each(one);
    } else {
        out.chunks_exact_mut(nr * kc).enumerate().for_each(one);
    }
}
