//! SIMD max pooling over the channels of NHWC images, with the argmax that the backward pass
//! routes the gradient by: per output pixel, the window's cells are compared a vector of
//! channels at a time (`x > max` selects the value and the cell's number, so the first largest
//! cell wins, as in [`super::max_pool2d_forward`]'s portable loops), and the cell numbers
//! become image indices when stored. Channels past the last full vector run the scalar loop.

use num_traits::{Float, ToPrimitive, Zero};
use smallvec::SmallVec;

use super::punning::{cast, cast_mut, same_type};
use super::Pool2dGeometry;
use crate::kernels::dispatch::{Isa, SimdElem};
use crate::kernels::simd::{Elem, Simd};

/// Max pooling of one image with the argmax (`o` and `arg` overwritten): the first cell is taken
/// as it is (even NaN) and a later one when larger, as the portable loops with an argmax do.
#[inline(always)]
fn image_arg<S: Simd>(s: S, g: &Pool2dGeometry, img: &[S::E], o: &mut [S::E], arg: &mut [u32]) {
    let (c, l) = (g.channels, S::LANES);
    // The window's cells (image indices of their channel 0), on the stack for up to 4×4.
    let mut cells: SmallVec<[usize; 16]> = SmallVec::new();
    let full = c / l * l;
    for oy in 0..g.out_h {
        for ox in 0..g.out_w {
            let at = (oy * g.out_w + ox) * c;
            let (ys, xs) = g.span(oy, ox);
            cells.clear();
            for iy in ys {
                cells.extend(xs.clone().map(|ix| (iy * g.in_w + ix) * c));
            }
            let Some(&first) = cells.first() else {
                o[at..at + c].iter_mut().for_each(|v| *v = S::E::neg_infinity());
                arg[at..at + c].iter_mut().for_each(|v| *v = u32::MAX);
                continue;
            };
            for ch in (0..full).step_by(l) {
                let mut m = s.load(&img[first + ch..]);
                let mut which = s.splat(S::E::zero());
                for (k, &b) in cells.iter().enumerate().skip(1) {
                    let x = s.load(&img[b + ch..]);
                    let take = s.gt(x, m);
                    m = s.select(take, x, m);
                    which = s.select(take, s.splat(S::E::c(k as f64)), which);
                }
                s.store(&mut o[at + ch..], m);
                let w = s.to_array(which);
                for (i, (d, k)) in arg[at + ch..at + ch + l].iter_mut().zip(&w).enumerate() {
                    *d = (cells[k.to_usize().unwrap_or(0)] + ch + i) as u32;
                }
            }
            for ch in full..c {
                let (mut m, mut best) = (img[first + ch], first);
                for &b in &cells[1..] {
                    let v = img[b + ch];
                    if v > m {
                        (m, best) = (v, b);
                    }
                }
                o[at + ch] = m;
                arg[at + ch] = (best + ch) as u32;
            }
        }
    }
}

/// Max pooling of one image without the argmax (inference): the window's rows and columns are
/// walked directly, up to four vectors of channels at a time; the running maximum starts at
/// -inf and takes `max_raw(x, m)` (`x > m ? x : m`, so a NaN never gets in, as `Float::max` in
/// the portable loops); an empty window gives -inf.
#[inline(always)]
fn image_max<S: Simd>(s: S, g: &Pool2dGeometry, img: &[S::E], o: &mut [S::E]) {
    const NV: usize = 4;
    let (c, l) = (g.channels, S::LANES);
    // Every window whole (no padding reached) and the channels whole vectors: one loop.
    let whole = g.pad == (0, 0)
        && g.out_h > 0
        && g.out_w > 0
        && (g.out_h - 1) * g.stride.0 + g.pool.0 <= g.in_h
        && (g.out_w - 1) * g.stride.1 + g.pool.1 <= g.in_w;
    if whole && c % l == 0 {
        match c / l {
            1 => return whole_windows::<S, 1>(s, g, img, o),
            2 => return whole_windows::<S, 2>(s, g, img, o),
            3 => return whole_windows::<S, 3>(s, g, img, o),
            4 => return whole_windows::<S, 4>(s, g, img, o),
            _ => {}
        }
    }
    let full = c / l * l;
    let ninf = S::E::neg_infinity();
    for oy in 0..g.out_h {
        for ox in 0..g.out_w {
            let at = (oy * g.out_w + ox) * c;
            let (ys, xs) = g.span(oy, ox);
            // Clipped by the padding, a window may hold no cell (and start past the image).
            let ys = if xs.is_empty() { 0..0 } else { ys };
            let o = &mut o[at..at + c];
            for ch0 in (0..full).step_by(NV * l) {
                let (first, cells) = ((ys.start * g.in_w + xs.start) * c + ch0, xs.len());
                let (rows, o) = (ys.len(), &mut o[ch0..]);
                match ((full - ch0) / l).min(NV) {
                    4 => window_max::<S, 4>(s, img, first, rows, cells, g.in_w * c, c, o),
                    3 => window_max::<S, 3>(s, img, first, rows, cells, g.in_w * c, c, o),
                    2 => window_max::<S, 2>(s, img, first, rows, cells, g.in_w * c, c, o),
                    _ => window_max::<S, 1>(s, img, first, rows, cells, g.in_w * c, c, o),
                }
            }
            for (ch, v) in o.iter_mut().enumerate().skip(full) {
                let mut m = ninf;
                for iy in ys.clone() {
                    for ix in xs.clone() {
                        m = m.max(img[(iy * g.in_w + ix) * c + ch]);
                    }
                }
                *v = m;
            }
        }
    }
}

/// [`image_max`] when every window lies inside the image and the channels are `NV` vectors.
#[inline(always)]
fn whole_windows<S: Simd, const NV: usize>(s: S, g: &Pool2dGeometry, img: &[S::E], o: &mut [S::E]) {
    let c = g.channels;
    let row_len = g.in_w * c;
    for (oy, orow) in o.chunks_exact_mut(g.out_w * c).take(g.out_h).enumerate() {
        let first_row = oy * g.stride.0 * row_len;
        for (ox, px) in orow.chunks_exact_mut(c).enumerate() {
            let first = first_row + ox * g.stride.1 * c;
            window_max::<S, NV>(s, img, first, g.pool.0, g.pool.1, row_len, c, px);
        }
    }
}

/// The maximum of `NV` vectors of channels over a window of `rows` × `cells` cells whose first
/// cell starts at `img[first]` (rows `row_len` apart, cells `c` apart), stored into `o`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn window_max<S: Simd, const NV: usize>(
    s: S,
    img: &[S::E],
    first: usize,
    rows: usize,
    cells: usize,
    row_len: usize,
    c: usize,
    o: &mut [S::E],
) {
    let l = S::LANES;
    let mut m = [s.splat(S::E::neg_infinity()); NV];
    for r in 0..rows {
        for cell in 0..cells {
            let at = &img[first + r * row_len + cell * c..];
            for (v, mv) in m.iter_mut().enumerate() {
                *mv = s.max_raw(s.load(&at[v * l..]), *mv);
            }
        }
    }
    for (v, mv) in m.iter().enumerate() {
        s.store(&mut o[v * l..], *mv);
    }
}

/// `#[target_feature]` entry points of [`image_arg`] and [`image_max`], each only called with a
/// token of its set.
macro_rules! entry {
    ($modname:ident, $features:literal) => {
        #[cfg(target_arch = "x86_64")]
        mod $modname {
            use super::*;

            #[target_feature(enable = $features)]
            pub(super) fn image<S: Simd>(
                s: S,
                g: &Pool2dGeometry,
                img: &[S::E],
                o: &mut [S::E],
                arg: Option<&mut [u32]>,
            ) {
                match arg {
                    Some(a) => super::image_arg(s, g, img, o, a),
                    None => super::image_max(s, g, img, o),
                }
            }
        }
    };
}

entry!(avx2, "avx2,fma");
entry!(avx512, "avx512f,avx2,fma");

/// Max pooling of one image by the SIMD kernel of `isa` (`o` and `arg` as
/// [`super::max_pool2d_forward`] fills them); `false` (nothing written) for the scalar
/// path or other element types.
pub(crate) fn max_pool_image<F: Float + 'static>(
    isa: Isa,
    g: &Pool2dGeometry,
    img: &[F],
    o: &mut [F],
    arg: Option<&mut [u32]>,
) -> bool {
    if same_type::<F, f32>() {
        // SAFETY: `F` is `f32` (same `TypeId`).
        let (img, o) = unsafe { (cast(img), cast_mut(o)) };
        return typed::<f32>(isa, g, img, o, arg);
    }
    if same_type::<F, f64>() {
        // SAFETY: `F` is `f64` (same `TypeId`).
        let (img, o) = unsafe { (cast(img), cast_mut(o)) };
        return typed::<f64>(isa, g, img, o, arg);
    }
    false
}

fn typed<E: SimdElem + Elem>(
    isa: Isa,
    g: &Pool2dGeometry,
    img: &[E],
    o: &mut [E],
    arg: Option<&mut [u32]>,
) -> bool {
    #[cfg(target_arch = "x86_64")]
    match isa {
        Isa::Avx512 => {
            if let Some(t) = E::Avx512::try_new() {
                // SAFETY: the token exists, so AVX-512F, AVX2 and FMA were detected.
                unsafe { avx512::image(t, g, img, o, arg) };
                return true;
            }
        }
        Isa::Avx2 => {
            if let Some(t) = E::Avx2::try_new() {
                // SAFETY: the token exists, so AVX2 and FMA were detected.
                unsafe { avx2::image(t, g, img, o, arg) };
                return true;
            }
        }
        Isa::Scalar => {}
    }
    let _ = (isa, g, img, o, arg);
    false
}

#[cfg(test)]
mod tests {
    use super::super::direct::tests::{fill, padding, size};
    use super::super::pool::max_pool_image_portable;
    use super::super::{Padding, Pool2d};
    use super::*;
    use proptest::prelude::*;

    /// Both kernels against the portable loops, bit for bit, with and without the argmax.
    fn check<E: Float + std::fmt::Debug + 'static>(g: &Pool2dGeometry, x: &[E]) {
        let (n_in, n_out) = (g.in_h * g.in_w * g.channels, g.out_h * g.out_w * g.channels);
        for img in x.chunks_exact(n_in) {
            for with_arg in [false, true] {
                let (mut want, mut want_a) = (vec![E::zero(); n_out], vec![u32::MAX; n_out]);
                max_pool_image_portable(g, img, &mut want, with_arg.then_some(&mut want_a[..]));
                for isa in [Isa::Avx2, Isa::Avx512] {
                    let (mut got, mut got_a) = (vec![E::zero(); n_out], vec![u32::MAX; n_out]);
                    if !max_pool_image(isa, g, img, &mut got, with_arg.then_some(&mut got_a[..])) {
                        continue;
                    }
                    let same = got
                        .iter()
                        .zip(&want)
                        .all(|(a, b)| a == b || (a.is_nan() && b.is_nan()));
                    assert!(same, "{isa:?} {g:?} argmax {with_arg}: {got:?} != {want:?}");
                    assert_eq!(got_a, want_a, "{isa:?} {g:?}: argmax");
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn simd_max_pool_matches_the_portable_loops(
            h in size(), w in size(), c in 1usize..40, ph in 1usize..4, pw in 1usize..4,
            sh in 1usize..4, sw in 1usize..4, pad in padding(), nan in 0usize..3, seed in any::<u64>(),
        ) {
            let pool = Pool2d { pool: (ph, pw), stride: Some((sh, sw)), padding: pad };
            let Ok(g) = Pool2dGeometry::try_new("t", 2, [h, w, c], &pool) else { return Ok(()); };
            // Ties (values rounded to tenths) and, for `nan > 0`, a few NaNs.
            let mut x: Vec<f64> = fill(g.input_len(), seed).iter().map(|v| (v * 10.0).round() / 10.0).collect();
            for i in 0..nan {
                let at = (seed as usize).wrapping_mul(i + 7) % x.len().max(1);
                if let Some(v) = x.get_mut(at) {
                    *v = f64::NAN;
                }
            }
            check::<f64>(&g, &x);
            check::<f32>(&g, &x.iter().map(|&v| v as f32).collect::<Vec<_>>());
        }
    }

    #[test]
    fn explicit_padding_leaves_empty_windows_at_minus_infinity() {
        // A 3×3 pool over 1×1 images padded by 2 above: the first output row sees no cell.
        let pool = Pool2d {
            pool: (1, 1),
            stride: Some((1, 1)),
            padding: Padding::Explicit {
                top: 1,
                bottom: 0,
                left: 0,
                right: 0,
            },
        };
        let g = Pool2dGeometry::try_new("t", 1, [1, 1, 17], &pool).unwrap();
        assert_eq!(g.out_h, 2);
        check::<f32>(&g, &[1.5; 17]);
    }
}
