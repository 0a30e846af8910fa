//! Tensor operations, one file per family. Each op checks run-time lengths and names the
//! dimension on a mismatch; `try_` twins return [`crate::TensorError`] instead of panicking.

pub mod arith;
pub mod compare;
pub mod construct;
pub mod conv;
pub mod display;
pub mod join;
pub mod matmul;
pub mod random;
pub mod reduce;
pub mod reshape;
pub mod select;
pub mod softmax;
pub mod unary;

use crate::error::{Result, TensorError};

/// Unwraps an op result, panicking with the error's message (the `x` twin of `try_x`).
#[track_caller]
pub(crate) fn or_panic<T>(r: Result<T>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{e}"),
    }
}

/// Checks that the trailing `k` lengths of `long` equal those of `short`, naming the dim.
pub(crate) fn check_trailing(
    op: &'static str,
    names: &[&'static str],
    left: &[usize],
    right: &[usize],
) -> Result<()> {
    let k = left.len().min(right.len());
    let (lo, ro) = (left.len() - k, right.len() - k);
    for j in 0..k {
        if left[lo + j] != right[ro + j] {
            let name_idx = names.len() - k + j;
            return Err(TensorError::DimMismatch {
                op,
                dim: names[name_idx],
                left: left[lo + j],
                right: right[ro + j],
            });
        }
    }
    Ok(())
}
