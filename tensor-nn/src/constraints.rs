//! Weight constraints applied after each optimizer update, with Keras 3's formulas.
//!
//! ```
//! use tensor_nn::constraints::{Constraint, NonNeg};
//! let mut w = vec![1.0, -2.0, 0.5];
//! NonNeg.apply(&mut w, &[3]).unwrap();
//! assert_eq!(w, vec![1.0, 0.0, 0.5]);
//! ```

use crate::error::{check_len, NnError, Result};

/// Keras' `backend.epsilon()`.
const EPSILON: f32 = 1e-7;

/// A projection of a parameter back onto an allowed set.
pub trait Constraint: Send + Sync + std::fmt::Debug {
    /// Projects `value` (row-major, lengths `shape`) in place.
    ///
    /// # Errors
    /// When `value` does not have `shape`'s element count or an axis is out of range.
    fn apply(&self, value: &mut [f32], shape: &[usize]) -> Result<()>;
}

/// Calls `f` with the flat indices of each fibre along `axis`.
fn for_each_fibre(shape: &[usize], axis: usize, mut f: impl FnMut(&mut dyn Iterator<Item = usize>)) {
    let outer: usize = shape[..axis].iter().product();
    let len = shape[axis];
    let inner: usize = shape[axis + 1..].iter().product();
    for o in 0..outer {
        for i in 0..inner {
            let base = o * len * inner + i;
            f(&mut (0..len).map(move |k| base + k * inner));
        }
    }
}

fn check(op: &'static str, value: &[f32], shape: &[usize], axis: usize) -> Result<()> {
    check_len(op, "value", shape.iter().product(), value.len())?;
    if axis >= shape.len() {
        return Err(NnError::invalid(
            op,
            format!("axis {axis} out of range for rank {}", shape.len()),
        ));
    }
    Ok(())
}

fn scale_fibres(
    op: &'static str,
    value: &mut [f32],
    shape: &[usize],
    axis: usize,
    factor: impl Fn(f32) -> f32,
) -> Result<()> {
    check(op, value, shape, axis)?;
    for_each_fibre(shape, axis, |idx| {
        let idx: Vec<usize> = idx.collect();
        let norm = idx.iter().map(|&i| value[i] * value[i]).sum::<f32>().sqrt();
        let s = factor(norm);
        for &i in &idx {
            value[i] *= s;
        }
    });
    Ok(())
}

/// Rescales each fibre along `axis` to an L2 norm of at most `max_value`
/// (Keras' `MaxNorm`, defaults 2.0 and axis 0: each unit's incoming weights of a Dense kernel).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MaxNorm {
    /// Largest allowed norm.
    pub max_value: f32,
    /// Axis the norm is taken over.
    pub axis: usize,
}

impl Default for MaxNorm {
    fn default() -> Self {
        Self {
            max_value: 2.0,
            axis: 0,
        }
    }
}

impl Constraint for MaxNorm {
    fn apply(&self, value: &mut [f32], shape: &[usize]) -> Result<()> {
        let m = self.max_value;
        scale_fibres("MaxNorm", value, shape, self.axis, |n| {
            n.clamp(0.0, m.max(0.0)) / (EPSILON + n)
        })
    }
}

/// Sets negative weights to zero.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct NonNeg;

impl Constraint for NonNeg {
    fn apply(&self, value: &mut [f32], shape: &[usize]) -> Result<()> {
        check_len("NonNeg", "value", shape.iter().product(), value.len())?;
        for v in value.iter_mut() {
            if v.is_nan() || *v < 0.0 {
                *v = 0.0;
            }
        }
        Ok(())
    }
}

/// Rescales each fibre along `axis` to unit L2 norm (Keras' `UnitNorm`, axis 0).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct UnitNorm {
    /// Axis the norm is taken over.
    pub axis: usize,
}

impl Constraint for UnitNorm {
    fn apply(&self, value: &mut [f32], shape: &[usize]) -> Result<()> {
        scale_fibres("UnitNorm", value, shape, self.axis, |n| 1.0 / (EPSILON + n))
    }
}
