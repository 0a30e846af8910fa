//! A few rows times a row-major matrix: `Y += X·W` for `rows` rows of `X` (`rows × k`) and a
//! row-major `W` (`k × n`), with no packing.
//!
//! The blocked [`gemm`](super::gemm()) packs `W` into panels on every call (`k·n` reads and
//! writes) and pads the rows of `X` to the register tile's height: for one input row that is
//! several times the arithmetic. Here each output row keeps up to eight vectors of `Y` in
//! registers and streams `W` once, row by row, broadcasting `x[i]` into fused multiply-adds
//! ([`gemv_rows`]). Layers use it for inference on one to a few samples.
//!
//! The vector body is written once over the `Simd` tokens (safe code); the only `unsafe` is the
//! call into the `#[target_feature]` entry point, justified by the token. The portable loop is
//! the oracle the tests compare against.

use std::any::TypeId;

use num_traits::Float;

use super::dispatch::{active_isa, Isa};
#[cfg(target_arch = "x86_64")]
use super::simd::{
    avx2::{Avx2F32, Avx2F64},
    Simd,
};

/// Vectors of `Y` each output row keeps in registers per pass over `W`.
const BLOCK: usize = 8;

/// Checks the slice lengths of a `rows × k` by `k × n` product into `rows × n`.
fn check(rows: usize, k: usize, n: usize, x: &[impl Copy], w: &[impl Copy], y: &[impl Copy]) {
    assert!(x.len() >= rows * k, "gemv: X holds fewer than rows·k values");
    assert!(w.len() >= k * n, "gemv: W holds fewer than k·n values");
    assert!(y.len() >= rows * n, "gemv: Y holds fewer than rows·n values");
}

/// `y[r][j] += Σᵢ x[r][i]·w[i][j]` for `rows` rows: `x` is `rows × k`, `w` is `k × n` and `y` is
/// `rows × n`, all row-major and dense. The sum starts from `y` (a bias stored there first is
/// part of it); columns in blocks of eight vectors add the products in order, the last columns
/// (and outputs narrower than a vector) in four interleaved chains, so that the fused
/// multiply-adds do not wait on each other. f32 and f64 use AVX2 with FMA when the
/// kernels' instruction set is AVX2 or AVX-512 (`DIMFLOW_ISA=scalar` forces the portable loop).
///
/// ```
/// use tensor_core::kernels::gemv::gemv_rows;
/// // [1 2] · [1 0 2; 0 1 3] + [10 20 30] = [11 22 38]
/// let mut y = [10.0f32, 20.0, 30.0];
/// gemv_rows(1, 2, 3, &[1.0, 2.0], &[1.0, 0.0, 2.0, 0.0, 1.0, 3.0], &mut y);
/// assert_eq!(y, [11.0, 22.0, 38.0]);
/// ```
///
/// # Panics
/// If a slice holds fewer values than its shape needs.
pub fn gemv_rows<F: Float + Send + Sync + 'static>(
    rows: usize,
    k: usize,
    n: usize,
    x: &[F],
    w: &[F],
    y: &mut [F],
) {
    check(rows, k, n, x, w, y);
    gemv_rows_on(active_isa(), rows, k, n, x, w, y);
}

/// [`gemv_rows`] on the named instruction set (`Isa::Avx512` runs the AVX2 path; a CPU without
/// AVX2 and FMA, or an element type other than f32/f64, runs the portable loop).
///
/// # Panics
/// If a slice holds fewer values than its shape needs.
pub fn gemv_rows_on<F: Float + Send + Sync + 'static>(
    isa: Isa,
    rows: usize,
    k: usize,
    n: usize,
    x: &[F],
    w: &[F],
    y: &mut [F],
) {
    check(rows, k, n, x, w, y);
    #[cfg(target_arch = "x86_64")]
    if isa != Isa::Scalar {
        if TypeId::of::<F>() == TypeId::of::<f32>() {
            if let Some(t) = Avx2F32::try_new() {
                let (x, w, y) = (same::<F, f32>(x), same::<F, f32>(w), same_mut::<F, f32>(y));
                // SAFETY: the token `t` exists, so AVX2 and FMA (the features the entry point
                // is compiled with) were detected on this CPU.
                return unsafe { avx2_entry(t, rows, k, n, x, w, y) };
            }
        } else if TypeId::of::<F>() == TypeId::of::<f64>() {
            if let Some(t) = Avx2F64::try_new() {
                let (x, w, y) = (same::<F, f64>(x), same::<F, f64>(w), same_mut::<F, f64>(y));
                // SAFETY: as above, for the f64 token.
                return unsafe { avx2_entry(t, rows, k, n, x, w, y) };
            }
        }
    }
    let _ = isa;
    portable(rows, k, n, x, w, y);
}

/// `s` as a slice of `T`, for `F` and `T` the same type.
fn same<F: 'static, T: 'static>(s: &[F]) -> &[T] {
    assert_eq!(TypeId::of::<F>(), TypeId::of::<T>());
    // SAFETY: `F` and `T` have the same `TypeId`, so they are the same type: the pointer, the
    // length and the lifetime describe the same valid slice.
    unsafe { std::slice::from_raw_parts(s.as_ptr().cast::<T>(), s.len()) }
}

/// `s` as a mutable slice of `T`, for `F` and `T` the same type.
fn same_mut<F: 'static, T: 'static>(s: &mut [F]) -> &mut [T] {
    assert_eq!(TypeId::of::<F>(), TypeId::of::<T>());
    // SAFETY: as in `same`; the borrow of `s` is moved into the result, so it stays unique.
    unsafe { std::slice::from_raw_parts_mut(s.as_mut_ptr().cast::<T>(), s.len()) }
}

/// The portable loop: the products added in order, without fused rounding.
fn portable<F: Float>(rows: usize, k: usize, n: usize, x: &[F], w: &[F], y: &mut [F]) {
    for r in 0..rows {
        let xr = &x[r * k..(r + 1) * k];
        let yr = &mut y[r * n..(r + 1) * n];
        for (i, &xi) in xr.iter().enumerate() {
            for (o, &wv) in yr.iter_mut().zip(&w[i * n..(i + 1) * n]) {
                *o = *o + xi * wv;
            }
        }
    }
}

/// The vector body, written over a [`Simd`] token.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn body<S: Simd>(s: S, rows: usize, k: usize, n: usize, x: &[S::E], w: &[S::E], y: &mut [S::E]) {
    let l = S::LANES;
    for r in 0..rows {
        let xr = &x[r * k..(r + 1) * k];
        let yr = &mut y[r * n..(r + 1) * n];
        let mut j = 0;
        // Blocks of BLOCK vectors, then the narrow columns left: the accumulators stay in
        // registers while W is streamed row by row.
        while j + BLOCK * l <= n {
            let mut acc = [s.splat(<S::E as num_traits::Zero>::zero()); BLOCK];
            for (t, a) in acc.iter_mut().enumerate() {
                *a = s.load(&yr[j + t * l..]);
            }
            for (i, &xi) in xr.iter().enumerate() {
                let xv = s.splat(xi);
                let row = &w[i * n + j..i * n + j + BLOCK * l];
                for (t, a) in acc.iter_mut().enumerate() {
                    *a = s.fmadd(xv, s.load(&row[t * l..]), *a);
                }
            }
            for (t, a) in acc.iter().enumerate() {
                s.store(&mut yr[j + t * l..], *a);
            }
            j += BLOCK * l;
        }
        if n >= l {
            narrow(s, k, n, j, xr, w, yr);
        } else {
            scalar_columns(n, xr, w, yr);
        }
    }
}

/// Independent sums per output column (or vector of columns) in the narrow paths, so that the
/// fused multiply-adds are not one dependent chain as long as `k`.
const SPLIT: usize = 4;

/// The columns `j..n` of one output row (fewer than `BLOCK` vectors, `n ≥ LANES`): vectors from
/// `j` on and, when `n - j` is not a whole number of vectors, one more ending at `n` that
/// overlaps the one before it (only its new lanes are stored). Each vector sums the products
/// in `SPLIT` interleaved chains (`y` and every `SPLIT`-th term, and so on) added at the end.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn narrow<S: Simd>(s: S, k: usize, n: usize, j: usize, xr: &[S::E], w: &[S::E], yr: &mut [S::E]) {
    let l = S::LANES;
    // (first column of the vector, first column it stores)
    let mut starts = [(0usize, 0usize); BLOCK + 1];
    let mut m = 0;
    let mut c = j;
    while c + l <= n {
        starts[m] = (c, c);
        (m, c) = (m + 1, c + l);
    }
    if c < n {
        starts[m] = (n - l, c);
        m += 1;
    }
    // Two vectors at a time: 2·SPLIT accumulators fit AVX2's sixteen registers.
    let mut pairs = starts[..m].chunks_exact(2);
    for p in pairs.by_ref() {
        narrow_group(s, k, n, [p[0], p[1]], xr, w, yr);
    }
    if let [one] = pairs.remainder() {
        narrow_group(s, k, n, [*one], xr, w, yr);
    }
}

/// `V` vectors of [`narrow`]'s columns, given as (first column, first column stored).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn narrow_group<S: Simd, const V: usize>(
    s: S,
    k: usize,
    n: usize,
    starts: [(usize, usize); V],
    xr: &[S::E],
    w: &[S::E],
    yr: &mut [S::E],
) {
    let l = S::LANES;
    let mut acc = [[s.splat(<S::E as num_traits::Zero>::zero()); V]; SPLIT];
    for (v, &(st, _)) in starts.iter().enumerate() {
        acc[0][v] = s.load(&yr[st..]);
    }
    // Rows of W in groups of SPLIT (one per chain), then the last `k mod SPLIT` into chain 0.
    let head = k / SPLIT * SPLIT;
    for (x4, w4) in xr[..head]
        .chunks_exact(SPLIT)
        .zip(w[..head * n].chunks_exact(SPLIT * n))
    {
        for (u, a) in acc.iter_mut().enumerate() {
            let (xv, row) = (s.splat(x4[u]), &w4[u * n..]);
            for (v, &(st, _)) in starts.iter().enumerate() {
                a[v] = s.fmadd(xv, s.load(&row[st..]), a[v]);
            }
        }
    }
    for (&xi, row) in xr[head..k].iter().zip(w[head * n..k * n].chunks_exact(n)) {
        let xv = s.splat(xi);
        for (v, &(st, _)) in starts.iter().enumerate() {
            acc[0][v] = s.fmadd(xv, s.load(&row[st..]), acc[0][v]);
        }
    }
    for (v, &(st, from)) in starts.iter().enumerate() {
        let sum = s.add(s.add(acc[0][v], acc[1][v]), s.add(acc[2][v], acc[3][v]));
        if st == from {
            s.store(&mut yr[st..], sum);
        } else {
            let lanes = s.to_array(sum);
            yr[from..n].copy_from_slice(&lanes[from - st..l]);
        }
    }
}

/// One output row narrower than a vector: per column, `SPLIT` interleaved scalar chains.
fn scalar_columns<F: Float>(n: usize, xr: &[F], w: &[F], yr: &mut [F]) {
    for (jj, o) in yr.iter_mut().enumerate().take(n) {
        let mut acc = [F::zero(); SPLIT];
        acc[0] = *o;
        for (i, &xi) in xr.iter().enumerate() {
            acc[i % SPLIT] = xi.mul_add(w[i * n + jj], acc[i % SPLIT]);
        }
        *o = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    }
}

/// [`body`] compiled with AVX2 and FMA enabled. Only called with an AVX2 token.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn avx2_entry<S: Simd>(s: S, rows: usize, k: usize, n: usize, x: &[S::E], w: &[S::E], y: &mut [S::E]) {
    body(s, rows, k, n, x, w, y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Values in [-1, 1) on a 2⁻¹⁵ grid, so products and short sums are exact in f32.
    fn data(len: usize, seed: u64) -> Vec<f64> {
        test_support::uniform_grid(seed, len, 16)
    }

    #[test]
    fn by_hand() {
        // x = [[1, 2], [0, -1]], W = [[1, 0, 2], [0, 1, 3]], y starts at [[10, 20, 30], [0, 0, 0]]:
        // row 0: [1, 2, 1·2 + 2·3] + y = [11, 22, 38]; row 1: [0, -1, -3].
        for isa in [Isa::Scalar, active_isa()] {
            let mut y = [10.0f32, 20.0, 30.0, 0.0, 0.0, 0.0];
            gemv_rows_on(
                isa,
                2,
                2,
                3,
                &[1.0, 2.0, 0.0, -1.0],
                &[1.0, 0.0, 2.0, 0.0, 1.0, 3.0],
                &mut y,
            );
            assert_eq!(y, [11.0, 22.0, 38.0, 0.0, -1.0, -3.0]);
        }
    }

    proptest! {
        /// The active path agrees with the portable loop (and with an f64 sum) for shapes that
        /// exercise full blocks, single vectors and scalar tails.
        #[test]
        fn matches_portable(rows in 1usize..5, k in 0usize..70, n in 1usize..150, seed in 0u64..1000) {
            let (x, w, y0) = (data(rows * k, seed), data(k * n, seed + 1), data(rows * n, seed + 2));
            let xf: Vec<f32> = x.iter().map(|&v| v as f32).collect();
            let wf: Vec<f32> = w.iter().map(|&v| v as f32).collect();
            let mut exact = y0.clone();
            portable(rows, k, n, &x, &w, &mut exact);
            let mut fast = y0.iter().map(|&v| v as f32).collect::<Vec<f32>>();
            gemv_rows(rows, k, n, &xf, &wf, &mut fast);
            let mut slow = y0.iter().map(|&v| v as f32).collect::<Vec<f32>>();
            gemv_rows_on(Isa::Scalar, rows, k, n, &xf, &wf, &mut slow);
            for ((&f, &s), &e) in fast.iter().zip(&slow).zip(&exact) {
                // |Σ| ≤ k + 1, rounding per term ≤ 2⁻²⁴ relative: 1e-5·(k + 1) covers both.
                let tol = 1e-5 * (k as f64 + 1.0);
                prop_assert!((f64::from(f) - e).abs() <= tol, "{f} vs {e}");
                prop_assert!((f64::from(s) - e).abs() <= tol, "{s} vs {e}");
            }
            let mut fast64 = y0.clone();
            gemv_rows(rows, k, n, &x, &w, &mut fast64);
            for (&f, &e) in fast64.iter().zip(&exact) {
                prop_assert!((f - e).abs() <= 1e-12 * (k as f64 + 1.0), "{f} vs {e}");
            }
        }
    }
}
