//! Parameter-free steps of generated models: dropout, the merges (add, multiply, concat) and
//! gradient accumulation. Every backward function **adds** into its input gradients, so a tensor
//! used by several consumers receives the sum of their contributions.

use tensor_core::Float;

use super::rng::Rng;

/// Copies `x` into `out` (resized; no allocation once it has held this many values).
pub fn copy_into<F: Float>(x: &[F], out: &mut Vec<F>) {
    out.clear();
    out.extend_from_slice(x);
}

/// `dst += src`, element by element.
///
/// # Panics
/// If the slices differ in length.
pub fn accumulate<F: Float>(src: &[F], dst: &mut [F]) {
    assert_eq!(src.len(), dst.len(), "accumulate: length mismatch");
    dst.iter_mut().zip(src).for_each(|(d, &s)| *d = *d + s);
}

/// `dst += a * b`, element by element (the backward of a product).
///
/// # Panics
/// If the slices differ in length.
pub fn accumulate_product<F: Float>(a: &[F], b: &[F], dst: &mut [F]) {
    assert!(
        a.len() == dst.len() && b.len() == dst.len(),
        "accumulate_product: length mismatch"
    );
    dst.iter_mut()
        .zip(a.iter().zip(b))
        .for_each(|(d, (&a, &b))| *d = *d + a * b);
}

/// Inverted dropout. In training (`rng` given), each value is kept with probability
/// `1 - rate` and scaled by `1 / (1 - rate)`; the scale factors (0 or `1/(1-rate)`) are kept in
/// `mask` for the backward pass. Without `rng` (inference) it is the identity.
pub fn dropout_forward<F: Float>(
    x: &[F],
    rate: f64,
    rng: Option<&mut Rng>,
    mask: &mut Vec<F>,
    out: &mut Vec<F>,
) {
    copy_into(x, out);
    let Some(rng) = rng else { return };
    let keep = F::from_f64(1.0 / (1.0 - rate));
    // A value is kept when its draw `unit = k / 2²⁴` (`k` the top 24 bits of a word) is at
    // least `rate`, i.e. when `k ≥ ⌈rate · 2²⁴⌉` (exact: the same masks as `unit() >= rate`).
    let least = (rate * 16_777_216.0).ceil().clamp(0.0, 16_777_216.0) as u32;
    let mut words = [0u32; 256];
    mask.clear();
    for xs in x.chunks(words.len()) {
        let w = &mut words[..xs.len()];
        rng.fill_words(w);
        mask.extend(w.iter().map(|&u| if u >> 8 >= least { keep } else { F::zero() }));
    }
    out.iter_mut().zip(mask.iter()).for_each(|(o, &m)| *o = *o * m);
}

/// `out = a + b` (same shapes).
///
/// # Panics
/// If the slices differ in length.
pub fn add_forward<F: Float>(a: &[F], b: &[F], out: &mut Vec<F>) {
    assert_eq!(a.len(), b.len(), "add: length mismatch");
    out.clear();
    out.extend(a.iter().zip(b).map(|(&a, &b)| a + b));
}

/// `out = a * b` (same shapes).
///
/// # Panics
/// If the slices differ in length.
pub fn multiply_forward<F: Float>(a: &[F], b: &[F], out: &mut Vec<F>) {
    assert_eq!(a.len(), b.len(), "multiply: length mismatch");
    out.clear();
    out.extend(a.iter().zip(b).map(|(&a, &b)| a * b));
}

/// Concatenation along the last dimension: each part is `(values, columns)` over `rows` rows.
pub fn concat_forward<F: Float>(rows: usize, parts: &[(&[F], usize)], out: &mut Vec<F>) {
    out.clear();
    for r in 0..rows {
        for &(p, cols) in parts {
            out.extend_from_slice(&p[r * cols..(r + 1) * cols]);
        }
    }
}

/// Backward of [`concat_forward`] for one part: adds columns `offset..offset + cols` of `grad`
/// (rows of `total` columns) into `dst`.
pub fn concat_backward<F: Float>(
    grad: &[F],
    rows: usize,
    total: usize,
    offset: usize,
    cols: usize,
    dst: &mut [F],
) {
    for r in 0..rows {
        let src = &grad[r * total + offset..r * total + offset + cols];
        accumulate(src, &mut dst[r * cols..(r + 1) * cols]);
    }
}

#[cfg(test)]
mod softmax_axis_tests {
    use super::*;

    #[test]
    fn normalises_each_fibre_and_matches_the_row_softmax_when_transposed() {
        // x is [1, 3, 2]: fibres (k over 3) at i = 0: [0, 1, 2], at i = 1: [5, 5, 5].
        let x = [0.0f64, 5.0, 1.0, 5.0, 2.0, 5.0];
        let mut y = Vec::new();
        softmax_axis_forward(&x, &mut y, 3, 2);
        let e: Vec<f64> = [0.0f64, 1.0, 2.0].iter().map(|v| v.exp()).collect();
        let s: f64 = e.iter().sum();
        for k in 0..3 {
            assert!((y[k * 2] - e[k] / s).abs() < 1e-15);
            assert!((y[k * 2 + 1] - 1.0 / 3.0).abs() < 1e-15);
        }
        // Gradient against central differences of L = Σ w ⊙ softmax(x).
        let w = [0.3, -1.0, 2.0, 0.5, -0.7, 1.1];
        let mut gx = vec![0.0; 6];
        softmax_axis_backward(&y, &w, &mut gx, 3, 2);
        for j in 0..6 {
            let f = |d: f64| {
                let mut xp = x;
                xp[j] += d;
                let mut yp = Vec::new();
                softmax_axis_forward(&xp, &mut yp, 3, 2);
                yp.iter().zip(&w).map(|(a, b)| a * b).sum::<f64>()
            };
            let fd = (f(1e-6) - f(-1e-6)) / 2e-6;
            assert!((fd - gx[j]).abs() < 1e-8, "{j}: {fd} vs {}", gx[j]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropout_is_inverted_and_seeded() {
        let x = vec![1.0f64; 10_000];
        let (mut m1, mut o1, mut m2, mut o2) = (vec![], vec![], vec![], vec![]);
        dropout_forward(&x, 0.25, Some(&mut Rng::new(5)), &mut m1, &mut o1);
        dropout_forward(&x, 0.25, Some(&mut Rng::new(5)), &mut m2, &mut o2);
        assert_eq!(o1, o2);
        // Kept values are 1 / 0.75; the mean stays near 1 (binomial sd of the kept fraction ≈ 0.0043).
        assert!(o1.iter().all(|&v| v == 0.0 || (v - 4.0 / 3.0).abs() < 1e-12));
        let mean = o1.iter().sum::<f64>() / o1.len() as f64;
        assert!((mean - 1.0).abs() < 0.03, "{mean}");
        let mut inference = vec![];
        dropout_forward(&x, 0.25, None, &mut m1, &mut inference);
        assert_eq!(inference, x);
    }

    #[test]
    fn dropout_masks_are_those_of_unit_draws() {
        // The mask of each rate equals `unit() >= rate` drawn one value at a time.
        let x = vec![1.0f32; 1001];
        for rate in [0.0, 0.25, 0.5, 0.3, 0.999, 1.0 / 3.0] {
            let (mut mask, mut out) = (vec![], vec![]);
            dropout_forward(&x, rate, Some(&mut Rng::new(9)), &mut mask, &mut out);
            let mut r = Rng::new(9);
            let keep = (1.0 / (1.0 - rate)) as f32;
            let want: Vec<f32> = x
                .iter()
                .map(|_| if f64::from(r.unit()) >= rate { keep } else { 0.0 })
                .collect();
            assert_eq!(mask, want, "rate {rate}");
        }
    }

    #[test]
    fn concat_round_trip() {
        // rows 2: a = [[1, 2], [3, 4]], b = [[5], [6]] → [[1, 2, 5], [3, 4, 6]].
        let (a, b) = ([1.0f32, 2., 3., 4.], [5.0f32, 6.]);
        let mut out = vec![];
        concat_forward(2, &[(&a, 2), (&b, 1)], &mut out);
        assert_eq!(out, vec![1., 2., 5., 3., 4., 6.]);
        let mut gb = vec![0.0f32; 2];
        concat_backward(&out, 2, 3, 2, 1, &mut gb);
        assert_eq!(gb, vec![5., 6.]);
    }
}

/// Softmax over a dim that is not the last: `x` is `[outer, len, inner]` row-major and each
/// of the `outer · inner` fibres of `len` values (stride `inner`) is normalised. `out` is
/// resized.
pub fn softmax_axis_forward<F: Float>(x: &[F], out: &mut Vec<F>, len: usize, inner: usize) {
    copy_into(x, out);
    let block = len * inner;
    if block == 0 {
        return;
    }
    for chunk in out.chunks_exact_mut(block) {
        for i in 0..inner {
            let m = (0..len).fold(F::neg_infinity(), |m, k| m.max(chunk[k * inner + i]));
            let mut sum = F::zero();
            for k in 0..len {
                let v = (chunk[k * inner + i] - m).exp();
                chunk[k * inner + i] = v;
                sum = sum + v;
            }
            let inv = sum.recip();
            for k in 0..len {
                chunk[k * inner + i] = chunk[k * inner + i] * inv;
            }
        }
    }
}

/// Backward of [`softmax_axis_forward`] given its output `y` and `∂L/∂y` in `grad`: adds
/// `y ⊙ (g − Σ_fibre g ⊙ y)` to `grad_in`.
///
/// # Panics
/// If the slices differ in length.
pub fn softmax_axis_backward<F: Float>(y: &[F], grad: &[F], grad_in: &mut [F], len: usize, inner: usize) {
    assert!(
        y.len() == grad.len() && y.len() == grad_in.len(),
        "softmax_axis_backward: length mismatch"
    );
    let block = len * inner;
    if block == 0 {
        return;
    }
    for ((y, g), d) in y
        .chunks_exact(block)
        .zip(grad.chunks_exact(block))
        .zip(grad_in.chunks_exact_mut(block))
    {
        for i in 0..inner {
            let dot = (0..len).fold(F::zero(), |s, k| s + g[k * inner + i] * y[k * inner + i]);
            for k in 0..len {
                let j = k * inner + i;
                d[j] = d[j] + y[j] * (g[j] - dot);
            }
        }
    }
}
