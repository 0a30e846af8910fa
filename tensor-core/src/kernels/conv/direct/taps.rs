//! Which window inputs each output pixel reads: the taps inside the image, gathered or in
//! place, and the blocks of taps the filter gradient holds in registers.

use std::ops::Range;

use num_traits::Float;

use super::super::{Conv2dGeometry, DIRECT_MAX_PATCH};

/// `0, 1, …`: the tap offsets of a gathered window.
pub(super) const GATHERED: [usize; DIRECT_MAX_PATCH] = {
    let mut a = [0; DIRECT_MAX_PATCH];
    let mut i = 0;
    while i < DIRECT_MAX_PATCH {
        a[i] = i;
        i += 1;
    }
    a
};

/// Taps per register block of the filter-gradient kernel with 16 vector registers (AVX2:
/// 5 taps × 2 vectors of filters = 10 accumulators).
pub(super) const GRAD_TAPS: usize = 5;

/// Taps per register block with 32 vector registers (AVX-512: a 3×3 window's 9 taps × 2
/// vectors = 18 accumulators, so one pass over the image covers every tap of 32 filters).
pub(super) const GRAD_TAPS_WIDE: usize = 9;

/// The window of one geometry: each tap's offset from the window's first input, and the output
/// rows and columns whose windows lie wholly inside the image.
#[derive(Debug, Clone)]
pub(super) struct Taps {
    pub(super) n: usize,
    pub(super) off: [usize; DIRECT_MAX_PATCH],
    pub(super) rows: Range<usize>,
    pub(super) cols: Range<usize>,
}

/// Outputs `o` of one axis with `o·stride − pad ≥ 0` and `o·stride − pad + (k − 1)·dil < len`.
pub(super) fn inside(
    out: usize,
    len: usize,
    k: usize,
    stride: usize,
    dil: usize,
    pad: usize,
) -> Range<usize> {
    let lo = pad.div_ceil(stride).min(out);
    let span = (k - 1) * dil;
    let hi = if len + pad > span {
        ((len - 1 + pad - span) / stride + 1).min(out)
    } else {
        0
    };
    lo..hi.max(lo)
}

impl Taps {
    pub(super) fn new(g: &Conv2dGeometry) -> Self {
        let mut off = [0; DIRECT_MAX_PATCH];
        let c = g.in_c;
        for ky in 0..g.k_h {
            for kx in 0..g.k_w {
                for ci in 0..c {
                    off[(ky * g.k_w + kx) * c + ci] =
                        (ky * g.dilation.0 * g.in_w + kx * g.dilation.1) * c + ci;
                }
            }
        }
        Taps {
            n: g.patch_len(),
            off,
            rows: inside(g.out_h, g.in_h, g.k_h, g.stride.0, g.dilation.0, g.pad.0),
            cols: inside(g.out_w, g.in_w, g.k_w, g.stride.1, g.dilation.1, g.pad.1),
        }
    }

    /// Index of the first input of the window at an inside output `(oy, ox)`.
    #[inline(always)]
    pub(super) fn base(&self, g: &Conv2dGeometry, oy: usize, ox: usize) -> usize {
        ((oy * g.stride.0 - g.pad.0) * g.in_w + ox * g.stride.1 - g.pad.1) * g.in_c
    }

    /// The window at `(oy, ox)` as a slice and its tap offsets: in place inside the image, else
    /// gathered into `buf` (zeros for padding).
    #[inline(always)]
    pub(super) fn window<'a, E: Float>(
        &'a self,
        g: &Conv2dGeometry,
        img: &'a [E],
        oy: usize,
        ox: usize,
        buf: &'a mut [E; DIRECT_MAX_PATCH],
    ) -> (&'a [E], &'a [usize]) {
        if self.rows.contains(&oy) && self.cols.contains(&ox) {
            return (&img[self.base(g, oy, ox)..], &self.off[..self.n]);
        }
        let c = g.in_c;
        for ky in 0..g.k_h {
            for kx in 0..g.k_w {
                let t = (ky * g.k_w + kx) * c;
                match g.tap(oy, ox, ky, kx) {
                    // Element by element, not `copy_from_slice`: a `memcpy` call in the pixel
                    // loop would make the callers keep their accumulators on the stack.
                    Some((iy, ix)) => {
                        let src = &img[(iy * g.in_w + ix) * c..][..c];
                        for (d, &v) in buf[t..t + c].iter_mut().zip(src) {
                            *d = v;
                        }
                    }
                    None => {
                        for d in &mut buf[t..t + c] {
                            *d = E::zero();
                        }
                    }
                }
            }
        }
        (&buf[..], &GATHERED[..self.n])
    }
}
