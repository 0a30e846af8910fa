//! General matrix multiply: `C = alpha * A·B + beta * C` over strided views.

use num_traits::Float;

use super::scalar;

/// Arguments of one GEMM call. `A` is `m×k` with strides `(a_rs, a_cs)`, `B` is `k×n` with
/// strides `(b_rs, b_cs)`, and `C` is `m×n`, row-major with row stride `c_rs`.
#[derive(Debug)]
pub struct GemmArgs<'a, F> {
    /// Rows of `A` and `C`.
    pub m: usize,
    /// Columns of `B` and `C`.
    pub n: usize,
    /// Inner dimension.
    pub k: usize,
    /// Scale of the product.
    pub alpha: F,
    /// Left operand.
    pub a: &'a [F],
    /// Row stride of `A`.
    pub a_rs: usize,
    /// Column stride of `A`.
    pub a_cs: usize,
    /// Right operand.
    pub b: &'a [F],
    /// Row stride of `B`.
    pub b_rs: usize,
    /// Column stride of `B`.
    pub b_cs: usize,
    /// Scale of the previous `C` (0 overwrites, ignoring NaNs in `C`).
    pub beta: F,
    /// Output.
    pub c: &'a mut [F],
    /// Row stride of `C`.
    pub c_rs: usize,
}

fn max_index(rows: usize, cols: usize, rs: usize, cs: usize) -> Option<usize> {
    if rows == 0 || cols == 0 {
        return None;
    }
    Some((rows - 1) * rs + (cols - 1) * cs)
}

/// Runs one GEMM.
///
/// # Panics
/// If a view reaches past the end of its slice.
pub fn gemm<F: Float + Send + Sync + 'static>(args: GemmArgs<'_, F>) {
    let GemmArgs {
        m,
        n,
        k,
        alpha,
        a,
        a_rs,
        a_cs,
        b,
        b_rs,
        b_cs,
        beta,
        c,
        c_rs,
    } = args;
    if let Some(i) = max_index(m, k, a_rs, a_cs) {
        assert!(i < a.len(), "gemm: A view out of bounds");
    }
    if let Some(i) = max_index(k, n, b_rs, b_cs) {
        assert!(i < b.len(), "gemm: B view out of bounds");
    }
    if let Some(i) = max_index(m, n, c_rs, 1) {
        assert!(i < c.len(), "gemm: C view out of bounds");
    }
    scalar::gemm(m, n, k, alpha, a, a_rs, a_cs, b, b_rs, b_cs, beta, c, c_rs);
}
