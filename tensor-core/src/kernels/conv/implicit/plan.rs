//! What one implicit-GEMM call shares across its images: where the windows lie in an image
//! (in place or in a zero-padded copy), the blocks of vectors, the packed weights.

use std::ops::Range;

use num_traits::Float;

use super::super::Conv2dGeometry;

/// Where the windows of one geometry lie in an image stored `width` pixels wide (the image
/// itself, or its zero-padded copy).
#[derive(Debug, Clone)]
pub(super) struct Runs {
    /// Inputs per run: `kw·c` (a whole window row) without horizontal dilation, else `c`.
    pub(super) len: usize,
    /// Offset of each run from the window's first input; run `j` holds patch indices
    /// `j·len .. (j + 1)·len` in the filters' `(ky, kx, c)` order.
    pub(super) offs: Vec<usize>,
    /// Offset between the windows of horizontally neighbouring outputs (`stride_w · c`).
    pub(super) step_x: usize,
    /// Offset between the windows of vertically neighbouring outputs (`stride_h · width · c`).
    pub(super) step_y: usize,
}

impl Runs {
    pub(super) fn new(g: &Conv2dGeometry, width: usize) -> Self {
        let c = g.in_c;
        let (len, offs) = if g.dilation.1 == 1 {
            let offs = (0..g.k_h).map(|ky| ky * g.dilation.0 * width * c).collect();
            (g.k_w * c, offs)
        } else {
            let offs = (0..g.k_h)
                .flat_map(|ky| (0..g.k_w).map(move |kx| (ky * g.dilation.0 * width + kx * g.dilation.1) * c))
                .collect();
            (c, offs)
        };
        Runs {
            len,
            offs,
            step_x: g.stride.1 * c,
            step_y: g.stride.0 * width * c,
        }
    }

    /// Index of the first input of the window of output `(oy, ox)`.
    #[inline(always)]
    pub(super) fn origin(&self, oy: usize, ox: usize) -> usize {
        oy * self.step_y + ox * self.step_x
    }
}

/// How the images are read: in place when every window lies inside the image, else through a
/// zero-padded copy of `height × width` pixels (padding above and on the left included).
#[derive(Debug, Clone, Copy)]
pub(super) struct Frame {
    pub(super) in_place: bool,
    pub(super) height: usize,
    pub(super) width: usize,
}

impl Frame {
    pub(super) fn new(g: &Conv2dGeometry) -> Self {
        let span = |k: usize, d: usize| (k - 1) * d + 1;
        let height = (g.out_h.max(1) - 1) * g.stride.0 + span(g.k_h, g.dilation.0);
        let width = (g.out_w.max(1) - 1) * g.stride.1 + span(g.k_w, g.dilation.1);
        let in_place = g.pad == (0, 0) && height <= g.in_h && width <= g.in_w;
        Frame {
            in_place,
            height,
            width,
        }
    }

    /// Width in pixels of the stored image the windows are read from.
    pub(super) fn stored_width(&self, g: &Conv2dGeometry) -> usize {
        if self.in_place {
            g.in_w
        } else {
            self.width
        }
    }

    /// Values of the padded copy.
    pub(super) fn len(&self, g: &Conv2dGeometry) -> usize {
        self.height * self.width * g.in_c
    }

    /// The columns of padded row `py`'s copy that come from the image: `(first padded column,
    /// image row, image columns)`, or `None` for a row of padding only.
    pub(super) fn row_source(&self, g: &Conv2dGeometry, py: usize) -> Option<(usize, usize, Range<usize>)> {
        let iy = py.checked_sub(g.pad.0).filter(|&iy| iy < g.in_h)?;
        let first = g.pad.1.min(self.width);
        let cols = (self.width - first).min(g.in_w);
        (cols > 0).then_some((first, iy, 0..cols))
    }

    /// `img` as the kernels read it: itself when in place, else its zero-padded copy in `buf`.
    pub(super) fn view<'a, E: Float>(
        &self,
        g: &Conv2dGeometry,
        img: &'a [E],
        buf: &'a mut Vec<E>,
    ) -> &'a [E] {
        if self.in_place {
            img
        } else {
            self.pad(g, img, buf);
            buf
        }
    }

    /// `buf` = the image `img` with its zero padding.
    pub(super) fn pad<E: Float>(&self, g: &Conv2dGeometry, img: &[E], buf: &mut Vec<E>) {
        let c = g.in_c;
        buf.clear();
        buf.resize(self.len(g), E::zero());
        for py in 0..self.height {
            if let Some((first, iy, cols)) = self.row_source(g, py) {
                let src = &img[(iy * g.in_w + cols.start) * c..(iy * g.in_w + cols.end) * c];
                buf[(py * self.width + first) * c..][..src.len()].copy_from_slice(src);
            }
        }
    }

    /// `dx += ` the image part of the padded gradient `dpad`.
    pub(super) fn unpad_add<E: Float>(&self, g: &Conv2dGeometry, dpad: &[E], dx: &mut [E]) {
        let c = g.in_c;
        for py in 0..self.height {
            if let Some((first, iy, cols)) = self.row_source(g, py) {
                let dst = &mut dx[(iy * g.in_w + cols.start) * c..(iy * g.in_w + cols.end) * c];
                let src = &dpad[(py * self.width + first) * c..][..dst.len()];
                dst.iter_mut().zip(src).for_each(|(d, &s)| *d = *d + s);
            }
        }
    }
}

/// Splits `n` values into blocks of 4 (with 32 registers), 2 and 1 vectors of `lanes`:
/// `(first value, vectors)`; the values past the last full vector are left to scalar loops.
pub(super) fn vector_blocks(n: usize, lanes: usize, wide: bool) -> Vec<(usize, usize)> {
    let mut blocks = Vec::new();
    let (mut v0, nvec) = (0, n / lanes);
    for nv in [4, 2, 1] {
        if nv == 4 && !wide {
            continue;
        }
        while v0 + nv <= nvec {
            blocks.push((v0 * lanes, nv));
            v0 += nv;
        }
    }
    blocks
}

/// Everything one call shares across its images.
pub(super) struct Plan<'a, E> {
    pub(super) g: &'a Conv2dGeometry,
    pub(super) frame: Frame,
    pub(super) runs: Runs,
    /// Blocks of filters (forward, filter gradient) as `(first filter, vectors)`.
    pub(super) filter_blocks: Vec<(usize, usize)>,
    /// Blocks of one run's inputs (input gradient).
    pub(super) run_blocks: Vec<(usize, usize)>,
    /// Vector lanes of the instruction set used.
    pub(super) lanes: usize,
    /// The filters, `[patch][out_c]`.
    pub(super) w: &'a [E],
}

impl<'a, E: Float> Plan<'a, E> {
    pub(super) fn new(g: &'a Conv2dGeometry, w: &'a [E], lanes: usize, wide: bool) -> Self {
        let frame = Frame::new(g);
        let runs = Runs::new(g, frame.stored_width(g));
        Plan {
            g,
            frame,
            filter_blocks: vector_blocks(g.out_c, lanes, wide),
            run_blocks: vector_blocks(runs.len, lanes, wide),
            runs,
            lanes,
            w: &w[..g.filter_len()],
        }
    }

    /// First filter past the last full vector.
    pub(super) fn filter_tail(&self) -> usize {
        self.g.out_c / self.lanes * self.lanes
    }

    /// First input of a run past the last full vector.
    pub(super) fn run_tail(&self) -> usize {
        self.runs.len / self.lanes * self.lanes
    }

    /// The filters of each filter block as `[patch][vectors·lanes]`, one block after another:
    /// the filters as they are (borrowed) when one block spans every output channel.
    pub(super) fn pack_filters(&self) -> std::borrow::Cow<'_, [E]> {
        let (patch, oc) = (self.g.patch_len(), self.g.out_c);
        if let [(0, nv)] = self.filter_blocks[..] {
            if nv * self.lanes == oc {
                return std::borrow::Cow::Borrowed(&self.w[..patch * oc]);
            }
        }
        let mut out = Vec::with_capacity(patch * self.filter_tail());
        for &(f0, nv) in &self.filter_blocks {
            for row in self.w.chunks_exact(oc).take(patch) {
                out.extend_from_slice(&row[f0..f0 + nv * self.lanes]);
            }
        }
        std::borrow::Cow::Owned(out)
    }

    /// For each run and each run block: `[filter][vectors·lanes]` (the filters transposed), one
    /// block after another, run by run.
    pub(super) fn pack_transposed(&self) -> Vec<E> {
        let (len, oc) = (self.runs.len, self.g.out_c);
        let mut out = Vec::with_capacity(self.runs.offs.len() * self.run_tail() * oc);
        for j in 0..self.runs.offs.len() {
            for &(n0, nv) in &self.run_blocks {
                for f in 0..oc {
                    for i in 0..nv * self.lanes {
                        out.push(self.w[(j * len + n0 + i) * oc + f]);
                    }
                }
            }
        }
        out
    }
}
