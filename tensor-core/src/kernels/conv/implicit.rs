//! Implicit-GEMM convolution: the products of the im2col path, with the windows read straight
//! from the image instead of an im2col matrix (one group, windows of more than
//! [`DIRECT_MAX_PATCH`](super::DIRECT_MAX_PATCH) inputs, f32 and f64 on AVX2 / AVX-512).
//!
//! In NHWC a window row (`kw` neighbouring pixels × all channels) is one run of `kw·c`
//! consecutive inputs (`c` with a horizontal dilation), so every product walks runs:
//!
//! - forward: a register tile of [`TILE`] neighbouring output pixels × up to four vectors of
//!   filters; one broadcast per pixel and window input, the weights packed per block of filters
//!   once per call; bias as the accumulators' start, ReLU in the registers;
//! - filter gradient `∂W[i][f] = Σ_pixels x(pixel, i) · ∂Y[pixel][f]`: a tile of [`TILE`]
//!   consecutive window inputs × up to four vectors of filters summed over every pixel of an
//!   image (the image's `∂Y` repacked per block of filters);
//! - input gradient: a tile of [`TILE`] output pixels × up to four vectors of one run, over the
//!   filters, **added** into the image (the col2im of the im2col path, done in the registers).
//!
//! Windows reaching into the padding read a zero-padded copy of the image (one per task).
//! Filters, or inputs of a run, past the last full vector run scalar loops. The tests at the
//! bottom check all three against naive loops over odd sizes, strides, dilations and paddings.

use std::ops::Range;

use num_traits::{Float, Zero};

use super::direct::{cast, cast_mut, relu, same_type};
use super::Conv2dGeometry;
use crate::kernels::dispatch::{Isa, SimdElem};
use crate::kernels::elementwise::bias_act_inplace;
use crate::kernels::gemm::Epilogue;
use crate::kernels::simd::Simd;
use crate::kernels::tasks::{per_task, sum_per_task};
use crate::kernels::{hot, UnaryOp};

/// Output pixels (forward, input gradient) or window inputs (filter gradient) per register
/// tile: 6 × 4 vectors = 24 accumulators with 32 vector registers, 6 × 2 with 16.
const TILE: usize = 6;

/// A single image of at least this many multiply-adds (about 10 µs on one core) shares its
/// output rows with the spinning helpers of [`hot`] when the kernels have more than one thread.
const HOT_MIN_MACS: usize = 1 << 19;

/// Where the windows of one geometry lie in an image stored `width` pixels wide (the image
/// itself, or its zero-padded copy).
#[derive(Debug, Clone)]
struct Runs {
    /// Inputs per run: `kw·c` (a whole window row) without horizontal dilation, else `c`.
    len: usize,
    /// Offset of each run from the window's first input; run `j` holds patch indices
    /// `j·len .. (j + 1)·len` in the filters' `(ky, kx, c)` order.
    offs: Vec<usize>,
    /// Offset between the windows of horizontally neighbouring outputs (`stride_w · c`).
    step_x: usize,
    /// Offset between the windows of vertically neighbouring outputs (`stride_h · width · c`).
    step_y: usize,
}

impl Runs {
    fn new(g: &Conv2dGeometry, width: usize) -> Self {
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
    fn origin(&self, oy: usize, ox: usize) -> usize {
        oy * self.step_y + ox * self.step_x
    }
}

/// How the images are read: in place when every window lies inside the image, else through a
/// zero-padded copy of `height × width` pixels (padding above and on the left included).
#[derive(Debug, Clone, Copy)]
struct Frame {
    in_place: bool,
    height: usize,
    width: usize,
}

impl Frame {
    fn new(g: &Conv2dGeometry) -> Self {
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
    fn stored_width(&self, g: &Conv2dGeometry) -> usize {
        if self.in_place {
            g.in_w
        } else {
            self.width
        }
    }

    /// Values of the padded copy.
    fn len(&self, g: &Conv2dGeometry) -> usize {
        self.height * self.width * g.in_c
    }

    /// The columns of padded row `py`'s copy that come from the image: `(first padded column,
    /// image row, image columns)`, or `None` for a row of padding only.
    fn row_source(&self, g: &Conv2dGeometry, py: usize) -> Option<(usize, usize, Range<usize>)> {
        let iy = py.checked_sub(g.pad.0).filter(|&iy| iy < g.in_h)?;
        let first = g.pad.1.min(self.width);
        let cols = (self.width - first).min(g.in_w);
        (cols > 0).then_some((first, iy, 0..cols))
    }

    /// `img` as the kernels read it: itself when in place, else its zero-padded copy in `buf`.
    fn view<'a, E: Float>(&self, g: &Conv2dGeometry, img: &'a [E], buf: &'a mut Vec<E>) -> &'a [E] {
        if self.in_place {
            img
        } else {
            self.pad(g, img, buf);
            buf
        }
    }

    /// `buf` = the image `img` with its zero padding.
    fn pad<E: Float>(&self, g: &Conv2dGeometry, img: &[E], buf: &mut Vec<E>) {
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
    fn unpad_add<E: Float>(&self, g: &Conv2dGeometry, dpad: &[E], dx: &mut [E]) {
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
fn vector_blocks(n: usize, lanes: usize, wide: bool) -> Vec<(usize, usize)> {
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
struct Plan<'a, E> {
    g: &'a Conv2dGeometry,
    frame: Frame,
    runs: Runs,
    /// Blocks of filters (forward, filter gradient) as `(first filter, vectors)`.
    filter_blocks: Vec<(usize, usize)>,
    /// Blocks of one run's inputs (input gradient).
    run_blocks: Vec<(usize, usize)>,
    /// Vector lanes of the instruction set used.
    lanes: usize,
    /// The filters, `[patch][out_c]`.
    w: &'a [E],
}

impl<'a, E: Float> Plan<'a, E> {
    fn new(g: &'a Conv2dGeometry, w: &'a [E], lanes: usize, wide: bool) -> Self {
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
    fn filter_tail(&self) -> usize {
        self.g.out_c / self.lanes * self.lanes
    }

    /// First input of a run past the last full vector.
    fn run_tail(&self) -> usize {
        self.runs.len / self.lanes * self.lanes
    }

    /// The filters of each filter block as `[patch][vectors·lanes]`, one block after another:
    /// the filters as they are (borrowed) when one block spans every output channel.
    fn pack_filters(&self) -> std::borrow::Cow<'_, [E]> {
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
    fn pack_transposed(&self) -> Vec<E> {
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

/// `acc[r][v] += a[r] · b[v·LANES ..]`: one step of a register tile.
#[inline(always)]
fn rank1<S: Simd, const R: usize, const NV: usize>(
    s: S,
    acc: &mut [[S::V; NV]; R],
    a: [S::E; R],
    b: &[S::E],
) {
    let l = S::LANES;
    let bv: [S::V; NV] = std::array::from_fn(|v| s.load(&b[v * l..]));
    for (row, &x) in acc.iter_mut().zip(&a) {
        let xb = s.splat(x);
        for (accv, &w) in row.iter_mut().zip(&bv) {
            *accv = s.fmadd(xb, w, *accv);
        }
    }
}

/// Runs `$call` with the const `$c` set to `$n` (1 ..= [`TILE`]), so that a tile's row count is a
/// compile-time constant.
macro_rules! with_tile {
    ($n:expr, |$c:ident| $call:expr) => {
        match $n {
            6 => {
                const $c: usize = 6;
                $call
            }
            5 => {
                const $c: usize = 5;
                $call
            }
            4 => {
                const $c: usize = 4;
                $call
            }
            3 => {
                const $c: usize = 3;
                $call
            }
            2 => {
                const $c: usize = 2;
                $call
            }
            _ => {
                const $c: usize = 1;
                $call
            }
        }
    };
}

/// Filters `f0 .. f0 + NV·LANES` (already offset into `wpack`, `bias` and `o`) of `P` neighbouring
/// output pixels whose windows start at `srcs[p]`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn fwd_tile<S: Simd, const P: usize, const NV: usize>(
    s: S,
    srcs: &[&[S::E]; P],
    runs: &Runs,
    wpack: &[S::E],
    bias: Option<&[S::E]>,
    relu_now: bool,
    o: &mut [S::E],
    oc: usize,
) {
    let l = S::LANES;
    let nr = NV * l;
    let init: [S::V; NV] = match bias {
        Some(b) => std::array::from_fn(|v| s.load(&b[v * l..])),
        None => [s.splat(S::E::zero()); NV],
    };
    let mut acc = [init; P];
    let len = runs.len;
    for (j, &off) in runs.offs.iter().enumerate() {
        let a: [&[S::E]; P] = std::array::from_fn(|p| &srcs[p][off..off + len]);
        let wj = &wpack[j * len * nr..(j + 1) * len * nr];
        for (k, wrow) in wj.chunks_exact(nr).enumerate() {
            rank1(s, &mut acc, std::array::from_fn(|p| a[p][k]), wrow);
        }
    }
    for (p, row) in acc.iter().enumerate() {
        for (v, &a) in row.iter().enumerate() {
            let a = if relu_now { relu(s, a) } else { a };
            s.store(&mut o[p * oc + v * l..], a);
        }
    }
}

/// Every filter of `P` neighbouring output pixels (`o`: their `P·out_c` outputs).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn fwd_pixels<S: Simd, const P: usize>(
    s: S,
    plan: &Plan<'_, S::E>,
    wpack: &[S::E],
    img: &[S::E],
    base: usize,
    bias: Option<&[S::E]>,
    relu_now: bool,
    o: &mut [S::E],
) {
    let (runs, oc, l) = (&plan.runs, plan.g.out_c, S::LANES);
    let srcs: [&[S::E]; P] = std::array::from_fn(|p| &img[base + p * runs.step_x..]);
    let patch = plan.g.patch_len();
    let mut at = 0;
    for &(f0, nv) in &plan.filter_blocks {
        let wb = &wpack[at..at + patch * nv * l];
        let b = bias.map(|b| &b[f0..]);
        let o = &mut o[f0..];
        match nv {
            4 => fwd_tile::<S, P, 4>(s, &srcs, runs, wb, b, relu_now, o, oc),
            2 => fwd_tile::<S, P, 2>(s, &srcs, runs, wb, b, relu_now, o, oc),
            _ => fwd_tile::<S, P, 1>(s, &srcs, runs, wb, b, relu_now, o, oc),
        }
        at += patch * nv * l;
    }
    for f in plan.filter_tail()..oc {
        for (p, src) in srcs.iter().enumerate() {
            let mut a = bias.map_or(S::E::zero(), |b| b[f]);
            for (j, &off) in runs.offs.iter().enumerate() {
                for (i, &x) in src[off..off + runs.len].iter().enumerate() {
                    a = a + x * plan.w[(j * runs.len + i) * oc + f];
                }
            }
            o[p * oc + f] = if relu_now && !(a > S::E::zero() || a.is_nan()) {
                S::E::zero()
            } else {
                a
            };
        }
    }
}

/// The forward pass of the images `x` (stored images, `out` their outputs).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn forward_images<S: Simd>(
    s: S,
    plan: &Plan<'_, S::E>,
    wpack: &[S::E],
    x: &[S::E],
    bias: Option<&[S::E]>,
    act: Option<UnaryOp>,
    out: &mut [S::E],
) {
    let g = plan.g;
    let (img_in, img_out) = (g.in_h * g.in_w * g.in_c, g.out_h * g.out_w * g.out_c);
    let mut padded = Vec::new();
    for (img, o) in x.chunks_exact(img_in).zip(out.chunks_exact_mut(img_out)) {
        let img = plan.frame.view(g, img, &mut padded);
        for (oy, row) in o.chunks_exact_mut(g.out_w * g.out_c).enumerate() {
            forward_span(s, plan, wpack, img, oy, 0..g.out_w, bias, act, row);
        }
    }
}

/// Output pixels `cols` of row `oy` of one image into `o` (`img` as the kernel reads it: padded
/// unless in place).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn forward_span<S: Simd>(
    s: S,
    plan: &Plan<'_, S::E>,
    wpack: &[S::E],
    img: &[S::E],
    oy: usize,
    cols: Range<usize>,
    bias: Option<&[S::E]>,
    act: Option<UnaryOp>,
    o: &mut [S::E],
) {
    let g = plan.g;
    let relu_now = act == Some(UnaryOp::Relu);
    let mut ox = cols.start;
    while ox < cols.end {
        let p = (cols.end - ox).min(TILE);
        let base = plan.runs.origin(oy, ox);
        let o = &mut o[(ox - cols.start) * g.out_c..];
        with_tile!(p, |P| fwd_pixels::<S, P>(
            s, plan, wpack, img, base, bias, relu_now, o
        ));
        ox += p;
    }
    if let Some(op) = act.filter(|_| !relu_now) {
        bias_act_inplace(s, &mut o[..cols.len() * g.out_c], None, Some(op));
    }
}

/// Adds `Σ_pixels x(pixel, off + r) · ∂Y[pixel][f0 + f]` to `dw[r·out_c + f]` for `R`
/// consecutive window inputs and `NV` vectors of filters (`dyp`: this block's `∂Y`, pixel by
/// pixel, `NV·LANES` each).
#[inline(always)]
fn grad_tile<S: Simd, const R: usize, const NV: usize>(
    s: S,
    g: &Conv2dGeometry,
    runs: &Runs,
    img: &[S::E],
    off: usize,
    dyp: &[S::E],
    dw: &mut [S::E],
) {
    let l = S::LANES;
    let nr = NV * l;
    let zero = s.splat(S::E::zero());
    let mut acc = [[zero; NV]; R];
    let mut pixels = dyp.chunks_exact(nr);
    for oy in 0..g.out_h {
        let mut at = runs.origin(oy, 0) + off;
        for (_, d) in (0..g.out_w).zip(pixels.by_ref()) {
            let xs = &img[at..at + R];
            rank1(s, &mut acc, std::array::from_fn(|r| xs[r]), d);
            at += runs.step_x;
        }
    }
    let oc = g.out_c;
    for (r, row) in acc.iter().enumerate() {
        for (v, &a) in row.iter().enumerate() {
            let dst = &mut dw[r * oc + v * l..];
            s.store(dst, s.add(s.load(dst), a));
        }
    }
}

/// [`grad_tile`] for `r` (1 ..= [`TILE`]) window inputs.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn grad_rows<S: Simd, const NV: usize>(
    s: S,
    g: &Conv2dGeometry,
    runs: &Runs,
    img: &[S::E],
    off: usize,
    r: usize,
    dyp: &[S::E],
    dw: &mut [S::E],
) {
    with_tile!(r, |R| grad_tile::<S, R, NV>(s, g, runs, img, off, dyp, dw));
}

/// Adds the filter gradient of the images `x` (with their `dy`) into `dw`.
#[inline(always)]
fn grad_images<S: Simd>(s: S, plan: &Plan<'_, S::E>, x: &[S::E], dy: &[S::E], dw: &mut [S::E]) {
    let (g, runs, l) = (plan.g, &plan.runs, S::LANES);
    let (img_in, img_out, oc) = (g.in_h * g.in_w * g.in_c, g.out_h * g.out_w * g.out_c, g.out_c);
    let pixels = g.out_h * g.out_w;
    let (mut padded, mut dyp) = (Vec::new(), Vec::new());
    for (img, d) in x.chunks_exact(img_in).zip(dy.chunks_exact(img_out)) {
        let img = plan.frame.view(g, img, &mut padded);
        // This image's ∂Y, block of filters by block, so each tile reads it contiguously.
        dyp.clear();
        for &(f0, nv) in &plan.filter_blocks {
            for row in d.chunks_exact(oc) {
                dyp.extend_from_slice(&row[f0..f0 + nv * l]);
            }
        }
        let mut at = 0;
        for &(f0, nv) in &plan.filter_blocks {
            let block = &dyp[at..at + pixels * nv * l];
            for (j, &off) in runs.offs.iter().enumerate() {
                let mut i0 = 0;
                while i0 < runs.len {
                    let r = TILE.min(runs.len - i0);
                    let dwt = &mut dw[(j * runs.len + i0) * oc + f0..];
                    match nv {
                        4 => grad_rows::<S, 4>(s, g, runs, img, off + i0, r, block, dwt),
                        2 => grad_rows::<S, 2>(s, g, runs, img, off + i0, r, block, dwt),
                        _ => grad_rows::<S, 1>(s, g, runs, img, off + i0, r, block, dwt),
                    }
                    i0 += r;
                }
            }
            at += pixels * nv * l;
        }
        for f in plan.filter_tail()..oc {
            for oy in 0..g.out_h {
                for ox in 0..g.out_w {
                    let dv = d[(oy * g.out_w + ox) * oc + f];
                    let o = runs.origin(oy, ox);
                    for (j, &off) in runs.offs.iter().enumerate() {
                        for (i, &xv) in img[o + off..o + off + runs.len].iter().enumerate() {
                            let k = (j * runs.len + i) * oc + f;
                            dw[k] = dw[k] + xv * dv;
                        }
                    }
                }
            }
        }
    }
}

/// Adds `Σ_f ∂Y[pixel p][f] · W[n][f]` to the inputs `n` of one run block (`NV` vectors, `bt`:
/// `[filter][NV·LANES]`) under the windows of `P` neighbouring output pixels (`dys[p]`: their
/// `∂Y` rows; `dxp[at + p·step_x ..]`: where their run block lies in the image gradient).
#[inline(always)]
fn dx_tile<S: Simd, const P: usize, const NV: usize>(
    s: S,
    dys: &[&[S::E]; P],
    bt: &[S::E],
    dxp: &mut [S::E],
    at: usize,
    step_x: usize,
) {
    let l = S::LANES;
    let nr = NV * l;
    let zero = s.splat(S::E::zero());
    let mut acc = [[zero; NV]; P];
    for (f, brow) in bt.chunks_exact(nr).enumerate() {
        rank1(s, &mut acc, std::array::from_fn(|p| dys[p][f]), brow);
    }
    // In pixel order: neighbouring windows overlap, so each pixel's sum reads the previous one's.
    for (p, row) in acc.iter().enumerate() {
        let dst = &mut dxp[at + p * step_x..];
        for (v, &a) in row.iter().enumerate() {
            let d = &mut dst[v * l..];
            s.store(d, s.add(s.load(d), a));
        }
    }
}

/// Every run of the windows of `P` neighbouring output pixels.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn dx_pixels<S: Simd, const P: usize>(
    s: S,
    plan: &Plan<'_, S::E>,
    bt: &[S::E],
    d: &[S::E],
    pixel: usize,
    base: usize,
    dxp: &mut [S::E],
) {
    let (runs, oc, l) = (&plan.runs, plan.g.out_c, S::LANES);
    let dys: [&[S::E]; P] = std::array::from_fn(|p| &d[(pixel + p) * oc..(pixel + p + 1) * oc]);
    let mut at_b = 0;
    for (j, &off) in runs.offs.iter().enumerate() {
        for &(n0, nv) in &plan.run_blocks {
            let b = &bt[at_b..at_b + oc * nv * l];
            let at = base + off + n0;
            match nv {
                4 => dx_tile::<S, P, 4>(s, &dys, b, dxp, at, runs.step_x),
                2 => dx_tile::<S, P, 2>(s, &dys, b, dxp, at, runs.step_x),
                _ => dx_tile::<S, P, 1>(s, &dys, b, dxp, at, runs.step_x),
            }
            at_b += oc * nv * l;
        }
        for n in plan.run_tail()..runs.len {
            let wrow = &plan.w[(j * runs.len + n) * oc..][..oc];
            for (p, dyr) in dys.iter().enumerate() {
                let sum = dyr.iter().zip(wrow).fold(S::E::zero(), |a, (&y, &w)| a + y * w);
                let k = base + p * runs.step_x + off + n;
                dxp[k] = dxp[k] + sum;
            }
        }
    }
}

/// Adds the input gradient of the images whose `∂Y` is `dy` into `dx`.
#[inline(always)]
fn dx_images<S: Simd>(s: S, plan: &Plan<'_, S::E>, bt: &[S::E], dy: &[S::E], dx: &mut [S::E]) {
    let g = plan.g;
    let (img_in, img_out) = (g.in_h * g.in_w * g.in_c, g.out_h * g.out_w * g.out_c);
    let mut padded = Vec::new();
    for (dxi, d) in dx.chunks_exact_mut(img_in).zip(dy.chunks_exact(img_out)) {
        if !plan.frame.in_place {
            padded.clear();
            padded.resize(plan.frame.len(g), S::E::zero());
        }
        let dxp: &mut [S::E] = if plan.frame.in_place {
            &mut *dxi
        } else {
            &mut padded
        };
        for oy in 0..g.out_h {
            let mut ox = 0;
            while ox < g.out_w {
                let p = (g.out_w - ox).min(TILE);
                let (pixel, base) = (oy * g.out_w + ox, plan.runs.origin(oy, ox));
                with_tile!(p, |P| dx_pixels::<S, P>(s, plan, bt, d, pixel, base, dxp));
                ox += p;
            }
        }
        if !plan.frame.in_place {
            plan.frame.unpad_add(g, &padded, dxi);
        }
    }
}

/// `#[target_feature]` entry points of the three passes per instruction set, each only called
/// with a token of that set.
macro_rules! entry_points {
    ($modname:ident, $features:literal) => {
        #[cfg(target_arch = "x86_64")]
        mod $modname {
            use super::*;

            #[target_feature(enable = $features)]
            pub(super) fn forward_images<S: Simd>(
                s: S,
                plan: &Plan<'_, S::E>,
                wpack: &[S::E],
                x: &[S::E],
                bias: Option<&[S::E]>,
                act: Option<UnaryOp>,
                out: &mut [S::E],
            ) {
                super::forward_images(s, plan, wpack, x, bias, act, out)
            }

            #[allow(clippy::too_many_arguments)]
            #[target_feature(enable = $features)]
            pub(super) fn forward_span<S: Simd>(
                s: S,
                plan: &Plan<'_, S::E>,
                wpack: &[S::E],
                img: &[S::E],
                oy: usize,
                cols: Range<usize>,
                bias: Option<&[S::E]>,
                act: Option<UnaryOp>,
                o: &mut [S::E],
            ) {
                super::forward_span(s, plan, wpack, img, oy, cols, bias, act, o)
            }

            #[target_feature(enable = $features)]
            pub(super) fn grad_images<S: Simd>(
                s: S,
                plan: &Plan<'_, S::E>,
                x: &[S::E],
                dy: &[S::E],
                dw: &mut [S::E],
            ) {
                super::grad_images(s, plan, x, dy, dw)
            }

            #[target_feature(enable = $features)]
            pub(super) fn dx_images<S: Simd>(
                s: S,
                plan: &Plan<'_, S::E>,
                bt: &[S::E],
                dy: &[S::E],
                dx: &mut [S::E],
            ) {
                super::dx_images(s, plan, bt, dy, dx)
            }
        }
    };
}

entry_points!(avx2, "avx2,fma");
entry_points!(avx512, "avx512f,avx2,fma");

/// Which token runs a geometry: the instruction set, its lanes for `E`, and whether it has 32
/// vector registers; `None` when this file has no kernel for it.
fn choose<E: SimdElem>(isa: Isa, g: &Conv2dGeometry) -> Option<(Isa, usize, bool)> {
    if g.groups != 1 || g.is_direct() || g.is_pointwise() || !enabled() {
        return None;
    }
    #[cfg(target_arch = "x86_64")]
    {
        let run = if g.dilation.1 == 1 { g.k_w * g.in_c } else { g.in_c };
        let fits = |lanes: usize| g.out_c >= lanes && run >= lanes;
        match isa {
            Isa::Avx512 if E::Avx512::try_new().is_some() && fits(E::Avx512::LANES) => {
                return Some((Isa::Avx512, E::Avx512::LANES, true));
            }
            Isa::Avx512 | Isa::Avx2 if E::Avx2::try_new().is_some() && fits(E::Avx2::LANES) => {
                return Some((Isa::Avx2, E::Avx2::LANES, false));
            }
            _ => {}
        }
    }
    let _ = isa;
    None
}

static DISABLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether the implicit path may run (see [`set_enabled`]).
fn enabled() -> bool {
    !DISABLED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Turns the implicit path off (`false`: every such convolution runs im2col + GEMM) or back
/// on, for side-by-side measurements.
pub(crate) fn set_enabled(on: bool) {
    DISABLED.store(!on, std::sync::atomic::Ordering::Relaxed);
}

/// Whether [`forward`] and [`backward`] run `g` with elements `F` on `isa`.
pub(crate) fn handles<F: 'static>(isa: Isa, g: &Conv2dGeometry) -> bool {
    if same_type::<F, f32>() {
        choose::<f32>(isa, g).is_some()
    } else if same_type::<F, f64>() {
        choose::<f64>(isa, g).is_some()
    } else {
        false
    }
}

/// `out = activation(conv(x, filters) + bias)` by the implicit kernels; `false` (nothing
/// written) when [`handles`] says no. Sizes are checked by the caller.
pub(crate) fn forward<F: Float + Send + Sync + 'static>(
    isa: Isa,
    g: &Conv2dGeometry,
    x: &[F],
    filters: &[F],
    epilogue: Epilogue<'_, F>,
    out: &mut [F],
) -> bool {
    let (bias, act) = (epilogue.bias, epilogue.activation);
    if same_type::<F, f32>() {
        // SAFETY: `F` is `f32` (same `TypeId`).
        let (x, w, b, o) = unsafe { (cast(x), cast(filters), bias.map(|b| cast(b)), cast_mut(out)) };
        return forward_typed::<f32>(isa, g, x, w, b, act, o);
    }
    if same_type::<F, f64>() {
        // SAFETY: `F` is `f64` (same `TypeId`).
        let (x, w, b, o) = unsafe { (cast(x), cast(filters), bias.map(|b| cast(b)), cast_mut(out)) };
        return forward_typed::<f64>(isa, g, x, w, b, act, o);
    }
    false
}

#[cfg(not(target_arch = "x86_64"))]
fn forward_typed<E: SimdElem>(
    _: Isa,
    _: &Conv2dGeometry,
    _: &[E],
    _: &[E],
    _: Option<&[E]>,
    _: Option<UnaryOp>,
    _: &mut [E],
) -> bool {
    false
}

#[cfg(target_arch = "x86_64")]
fn forward_typed<E: SimdElem>(
    isa: Isa,
    g: &Conv2dGeometry,
    x: &[E],
    w: &[E],
    bias: Option<&[E]>,
    act: Option<UnaryOp>,
    out: &mut [E],
) -> bool {
    let Some((isa, lanes, wide)) = choose::<E>(isa, g) else {
        return false;
    };
    let plan = Plan::new(g, w, lanes, wide);
    let wpack = plan.pack_filters();
    let (img_in, img_out) = (g.in_h * g.in_w * g.in_c, g.out_h * g.out_w * g.out_c);
    if g.batch == 1 && g.out_h > 1 && g.macs() >= HOT_MIN_MACS && hot::helpers_wanted() > 0 {
        forward_tiles_shared(isa, &plan, &wpack, &x[..img_in], bias, act, &mut out[..img_out]);
        return true;
    }
    per_task(g.batch, img_out, out, |r, o| {
        let xs = &x[r.start * img_in..r.end * img_in];
        match (isa, E::Avx512::try_new(), E::Avx2::try_new()) {
            // SAFETY: the token exists, so AVX-512F, AVX2 and FMA were detected on this CPU.
            (Isa::Avx512, Some(t), _) => unsafe {
                avx512::forward_images(t, &plan, &wpack, xs, bias, act, o)
            },
            // SAFETY: the token exists, so AVX2 and FMA were detected on this CPU.
            (_, _, Some(t)) => unsafe { avx2::forward_images(t, &plan, &wpack, xs, bias, act, o) },
            _ => unreachable!("choose() found a token"),
        }
    });
    true
}

/// One image (`x`, `out`), its register tiles shared with the spinning helpers of [`hot`].
#[cfg(target_arch = "x86_64")]
#[inline(never)]
fn forward_tiles_shared<E: SimdElem>(
    isa: Isa,
    plan: &Plan<'_, E>,
    wpack: &[E],
    x: &[E],
    bias: Option<&[E]>,
    act: Option<UnaryOp>,
    out: &mut [E],
) {
    let g = plan.g;
    let mut padded = Vec::new();
    let img = plan.frame.view(g, x, &mut padded);
    // Items: the register tiles of each row (rows of `TILE` pixels and a shorter last one).
    let mut tiles: Vec<(usize, Range<usize>, &mut [E])> =
        Vec::with_capacity(g.out_h * g.out_w.div_ceil(TILE));
    for (oy, mut row) in out.chunks_mut(g.out_w * g.out_c).enumerate() {
        for ox in (0..g.out_w).step_by(TILE) {
            let p = (g.out_w - ox).min(TILE);
            let (o, rest) = row.split_at_mut(p * g.out_c);
            tiles.push((oy, ox..ox + p, o));
            row = rest;
        }
    }
    hot::for_each_claimed(&mut tiles, |_, (oy, cols, o)| {
        let (oy, cols) = (*oy, cols.clone());
        match (isa, E::Avx512::try_new(), E::Avx2::try_new()) {
            // SAFETY: the token exists, so AVX-512F, AVX2 and FMA were detected on this CPU.
            (Isa::Avx512, Some(t), _) => unsafe {
                avx512::forward_span(t, plan, wpack, img, oy, cols, bias, act, o)
            },
            // SAFETY: the token exists, so AVX2 and FMA were detected on this CPU.
            (_, _, Some(t)) => unsafe { avx2::forward_span(t, plan, wpack, img, oy, cols, bias, act, o) },
            _ => unreachable!("choose() found a token"),
        }
    });
}

/// **Adds** the filter gradient (into `dw`) and the input gradient (into `dx`) by the implicit
/// kernels; `false` (nothing written) when [`handles`] says no. The bias gradient is the
/// caller's. Sizes are checked by the caller.
pub(crate) fn backward<F: Float + Send + Sync + 'static>(
    isa: Isa,
    g: &Conv2dGeometry,
    x: &[F],
    filters: &[F],
    dy: &[F],
    dw: Option<&mut [F]>,
    dx: Option<&mut [F]>,
) -> bool {
    if same_type::<F, f32>() {
        // SAFETY: `F` is `f32` (same `TypeId`).
        let (x, w, dy) = unsafe { (cast(x), cast(filters), cast(dy)) };
        // SAFETY: as above.
        let (dw, dx) = unsafe { (dw.map(|d| cast_mut(d)), dx.map(|d| cast_mut(d))) };
        return backward_typed::<f32>(isa, g, x, w, dy, dw, dx);
    }
    if same_type::<F, f64>() {
        // SAFETY: `F` is `f64` (same `TypeId`).
        let (x, w, dy) = unsafe { (cast(x), cast(filters), cast(dy)) };
        // SAFETY: as above.
        let (dw, dx) = unsafe { (dw.map(|d| cast_mut(d)), dx.map(|d| cast_mut(d))) };
        return backward_typed::<f64>(isa, g, x, w, dy, dw, dx);
    }
    false
}

#[cfg(not(target_arch = "x86_64"))]
fn backward_typed<E: SimdElem>(
    _: Isa,
    _: &Conv2dGeometry,
    _: &[E],
    _: &[E],
    _: &[E],
    _: Option<&mut [E]>,
    _: Option<&mut [E]>,
) -> bool {
    false
}

#[cfg(target_arch = "x86_64")]
fn backward_typed<E: SimdElem>(
    isa: Isa,
    g: &Conv2dGeometry,
    x: &[E],
    w: &[E],
    dy: &[E],
    dw: Option<&mut [E]>,
    dx: Option<&mut [E]>,
) -> bool {
    let Some((isa, lanes, wide)) = choose::<E>(isa, g) else {
        return false;
    };
    let plan = Plan::new(g, w, lanes, wide);
    let (img_in, img_out) = (g.in_h * g.in_w * g.in_c, g.out_h * g.out_w * g.out_c);
    {
        let (t512, t2) = (E::Avx512::try_new(), E::Avx2::try_new());
        if let Some(dw) = dw {
            let dw = &mut dw[..g.filter_len()];
            let grads = |r: Range<usize>, acc: &mut [E]| {
                let (xs, ds) = (
                    &x[r.start * img_in..r.end * img_in],
                    &dy[r.start * img_out..r.end * img_out],
                );
                match (isa, t512, t2) {
                    // SAFETY: the token exists, so AVX-512F, AVX2 and FMA were detected.
                    (Isa::Avx512, Some(t), _) => unsafe { avx512::grad_images(t, &plan, xs, ds, acc) },
                    // SAFETY: the token exists, so AVX2 and FMA were detected.
                    (_, _, Some(t)) => unsafe { avx2::grad_images(t, &plan, xs, ds, acc) },
                    _ => unreachable!("choose() found a token"),
                }
            };
            sum_per_task(g.batch, dw, grads);
        }
        if let Some(dx) = dx {
            let bt = plan.pack_transposed();
            per_task(g.batch, img_in, dx, |r, d| {
                let ds = &dy[r.start * img_out..r.end * img_out];
                match (isa, t512, t2) {
                    // SAFETY: the token exists, so AVX-512F, AVX2 and FMA were detected.
                    (Isa::Avx512, Some(t), _) => unsafe { avx512::dx_images(t, &plan, &bt, ds, d) },
                    // SAFETY: the token exists, so AVX2 and FMA were detected.
                    (_, _, Some(t)) => unsafe { avx2::dx_images(t, &plan, &bt, ds, d) },
                    _ => unreachable!("choose() found a token"),
                }
            });
        }
    }
    true
}

#[cfg(test)]
#[path = "implicit_tests.rs"]
mod tests;
