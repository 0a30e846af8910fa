//! What Dimflow's tests share across crates: deterministic pseudo-random inputs that do not
//! depend on the code under test, and element-wise comparisons with a tolerance.
//!
//! ```
//! let a = test_support::uniform(7, 4);
//! assert_eq!(a, test_support::uniform(7, 4));
//! assert!(a.iter().all(|v| (-1.0..1.0).contains(v)));
//! test_support::assert_close(&a, &a, 0.0, "same values");
//! ```

/// `n` values in [-1, 1) from a 64-bit linear congruential generator (Knuth's MMIX constants),
/// seeded by `seed`: the same on every platform and independent of the crates under test.
pub fn uniform(seed: u64, n: usize) -> Vec<f64> {
    uniform_grid(seed, n, 53)
}

/// As [`uniform`], on the grid of multiples of `2^(1 − bits)` (`bits` in 1..=53): with few bits
/// the values, their products and short sums are exact in `f32`.
///
/// # Panics
/// When `bits` is outside 1..=53.
pub fn uniform_grid(seed: u64, n: usize, bits: u32) -> Vec<f64> {
    assert!((1..=53).contains(&bits), "uniform_grid: {bits} bits");
    let step = |s: u64| {
        s.wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407)
    };
    let scale = (1u64 << (bits - 1)) as f64;
    let mut s = step(seed);
    (0..n)
        .map(|_| {
            s = step(s);
            (s >> (64 - bits)) as f64 / scale - 1.0
        })
        .collect()
}

/// `n` values in [-1, 1) on a 24-bit grid, exact in `f32` (see [`uniform_grid`]).
pub fn uniform_f32(seed: u64, n: usize) -> Vec<f32> {
    uniform_grid(seed, n, 24).into_iter().map(|v| v as f32).collect()
}

/// Asserts `|got − want| ≤ tol · max(1, |want|)` element-wise (absolute near zero, relative
/// above one), naming `what`, the index and both values on failure.
///
/// # Panics
/// When the lengths differ or an element is out of tolerance.
pub fn assert_close<T: Into<f64> + Copy>(got: &[T], want: &[T], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let (g, w): (f64, f64) = (g.into(), w.into());
        assert!(
            (g - w).abs() <= tol * w.abs().max(1.0),
            "{what}[{i}]: got {g}, want {w} (tolerance {tol})"
        );
    }
}
