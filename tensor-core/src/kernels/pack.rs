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

/// Packs rows `i0..i0+mc`, columns `p0..p0+kc` of `a` into `out` (length `ceil(mc/MR)*MR*kc`).
pub(crate) fn pack_a<E: Copy + Zero, const MR: usize>(
    a: View<'_, E>,
    i0: usize,
    mc: usize,
    p0: usize,
    kc: usize,
    out: &mut [E],
) {
    for (panel_idx, panel) in out.chunks_exact_mut(MR * kc).enumerate() {
        let r0 = i0 + panel_idx * MR;
        let rows = MR.min(i0 + mc - r0);
        if rows == MR && a.cs == 1 {
            // Row-major full panel: MR contiguous row slices, read in step, written contiguously.
            let srcs: [&[E]; MR] = std::array::from_fn(|ii| {
                let start = (r0 + ii) * a.rs + p0;
                &a.data[start..start + kc]
            });
            for (p, dst) in panel.chunks_exact_mut(MR).enumerate() {
                for (d, src) in dst.iter_mut().zip(&srcs) {
                    *d = src[p];
                }
            }
            continue;
        }
        if rows == MR && a.rs == 1 {
            // Column-major full panel: each column's MR values are contiguous.
            for (p, dst) in panel.chunks_exact_mut(MR).enumerate() {
                let start = r0 + (p0 + p) * a.cs;
                dst.copy_from_slice(&a.data[start..start + MR]);
            }
            continue;
        }
        if rows < MR {
            panel.fill(E::zero());
        }
        for ii in 0..rows {
            let row_start = (r0 + ii) * a.rs + p0 * a.cs;
            if a.cs == 1 {
                let row = &a.data[row_start..row_start + kc];
                for (dst, &x) in panel[ii..].iter_mut().step_by(MR).zip(row) {
                    *dst = x;
                }
            } else {
                for p in 0..kc {
                    panel[p * MR + ii] = a.data[row_start + p * a.cs];
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
    if b.cs == 1 && cols == nr {
        // Full row-major panel: fixed-size row copies (a runtime-length `copy_from_slice` of
        // 8–64 elements is a `memmove` call per row, measured at ~8 % of a 256³ sgemm).
        match nr {
            8 => return pack_b_rows::<E, 8>(b, p0, j0, panel),
            16 => return pack_b_rows::<E, 16>(b, p0, j0, panel),
            32 => return pack_b_rows::<E, 32>(b, p0, j0, panel),
            64 => return pack_b_rows::<E, 64>(b, p0, j0, panel),
            _ => {}
        }
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

/// [`pack_b_panel`] for a row-major `b` and a full panel of `NR` columns.
#[inline(always)]
fn pack_b_rows<E: Copy, const NR: usize>(b: View<'_, E>, p0: usize, j0: usize, panel: &mut [E]) {
    for (p, dst) in panel.chunks_exact_mut(NR).enumerate() {
        let start = (p0 + p) * b.rs + j0;
        let src: &[E; NR] = b.data[start..start + NR].try_into().expect("NR elements");
        let dst: &mut [E; NR] = dst.try_into().expect("NR elements");
        *dst = *src;
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

/// Per-thread cache of packing buffers, so repeated GEMMs (a training loop) neither allocate nor
/// zero their panels each call. Buffers are typed `Vec<E>` behind `dyn Any`, found again by
/// downcasting.
mod buffers {
    use std::any::Any;
    use std::cell::RefCell;

    /// At most this many buffers are kept per thread.
    const KEEP: usize = 8;

    thread_local! {
        static POOL: RefCell<Vec<Box<dyn Any>>> = const { RefCell::new(Vec::new()) };
    }

    /// A buffer of exactly `len` elements with unspecified (initialised) contents. The pool's
    /// boxes stay in the pool: taking moves the vector out (leaving an empty one behind) and
    /// giving moves it back, so a warm pool allocates nothing.
    pub(crate) fn take<E: Copy + 'static>(len: usize, fill: E) -> Vec<E> {
        let found = POOL.with(|p| {
            let mut p = p.borrow_mut();
            p.iter_mut()
                .filter_map(|b| b.downcast_mut::<Vec<E>>())
                .find(|v| v.capacity() > 0)
                .map(std::mem::take)
        });
        let mut v = found.unwrap_or_default();
        v.resize(len, fill);
        v
    }

    /// Returns a buffer to this thread's cache.
    pub(crate) fn give<E: 'static>(v: Vec<E>) {
        POOL.with(|p| {
            let mut p = p.borrow_mut();
            let full = p.len() >= KEEP;
            let empty = p
                .iter_mut()
                .filter_map(|b| b.downcast_mut::<Vec<E>>())
                .find(|slot| slot.capacity() == 0);
            match empty {
                Some(slot) => *slot = v,
                None if !full => p.push(Box::new(v)),
                None => {}
            }
        });
    }
}
pub(crate) use buffers::{give as give_buffer, take as take_buffer};
