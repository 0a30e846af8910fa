//! Non-finite values (NaN, ±∞) in gradients, parameters and losses: the fast scan the
//! optimizer runs on every step, and the report that training stops with.

use std::fmt;

/// Where and what: the first NaN or infinity met in a training step.
///
/// [`Optimizer::apply`](crate::optim::Optimizer::apply) fills `iteration`, `tensor` and
/// `detail`; `fit` adds the epoch and the step within it.
#[derive(Debug, Clone, PartialEq)]
pub struct NonFinite {
    /// The epoch (0-based), when met by `fit`.
    pub epoch: Option<usize>,
    /// The step within the epoch (0-based), when met by `fit`.
    pub step: Option<usize>,
    /// The optimizer's step count when the value was met (updates applied before it).
    pub iteration: u64,
    /// The parameter involved (`dense1.kernel`); `None` when only the loss is non-finite.
    pub tensor: Option<String>,
    /// What was found, e.g. "the gradient of `dense1.kernel` is NaN at element 17".
    pub detail: String,
    /// Whether the step's update was applied (a non-finite gradient stops it before any
    /// parameter changes; a parameter that overflows is found after).
    pub update_applied: bool,
}

impl fmt::Display for NonFinite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("non-finite value")?;
        match (self.epoch, self.step) {
            (Some(e), Some(s)) => write!(f, " at epoch {e}, step {s}")?,
            (Some(e), None) => write!(f, " at epoch {e}")?,
            _ => {}
        }
        write!(f, " (optimizer step {}): {}", self.iteration + 1, self.detail)?;
        if self.update_applied {
            f.write_str("; the update was applied")
        } else {
            f.write_str("; the update was not applied")
        }
    }
}

/// The exponent bits of an f32: all ones for NaN and the infinities.
const EXPONENT: u32 = 0x7f80_0000;

/// Values scanned between early exits: long enough for the compiler to vectorise the scan,
/// short enough that a bad value is found without reading the rest.
const BLOCK: usize = 512;

/// Index of the first NaN or infinity in `values`, or `None` when every value is finite.
///
/// Scans blocks with an integer OR (branch-free, vectorised), and looks for the index only in
/// the block that holds one.
///
/// ```
/// use tensor_nn::non_finite::first_non_finite;
/// assert_eq!(first_non_finite(&[1.0, -2.0, 3.5]), None);
/// assert_eq!(first_non_finite(&[1.0, f32::NAN, f32::INFINITY]), Some(1));
/// ```
pub fn first_non_finite(values: &[f32]) -> Option<usize> {
    values.chunks(BLOCK).enumerate().find_map(|(b, block)| {
        let any = block
            .iter()
            .fold(0u32, |acc, v| acc | u32::from(v.to_bits() & EXPONENT == EXPONENT));
        if any == 0 {
            None
        } else {
            block.iter().position(|v| !v.is_finite()).map(|i| b * BLOCK + i)
        }
    })
}

/// The first NaN or infinity among named tensors: the tensor's name, the element's index and
/// its value.
///
/// ```
/// use tensor_nn::non_finite::first_non_finite_in;
/// let (w, b) = ([1.0, 2.0], [0.5, f32::INFINITY]);
/// let found = first_non_finite_in([("w", &w[..]), ("b", &b[..])]);
/// assert_eq!(found, Some(("b", 1, f32::INFINITY)));
/// ```
pub fn first_non_finite_in<'a, N>(
    tensors: impl IntoIterator<Item = (N, &'a [f32])>,
) -> Option<(N, usize, f32)> {
    tensors
        .into_iter()
        .find_map(|(name, values)| first_non_finite(values).map(|i| (name, i, values[i])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_first_bad_value_in_any_block() {
        for n in [0, 1, 7, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK + 5] {
            let clean: Vec<f32> = (0..n).map(|i| i as f32 * 1e30 - 7.0).collect();
            assert_eq!(first_non_finite(&clean), None, "n = {n}");
            for at in [0, n / 2, n.saturating_sub(1)] {
                for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                    if n == 0 {
                        continue;
                    }
                    let mut v = clean.clone();
                    v[at] = bad;
                    if at + 1 < n {
                        v[n - 1] = f32::NAN;
                    }
                    assert_eq!(first_non_finite(&v), Some(at), "n = {n}, at = {at}");
                }
            }
        }
        assert_eq!(
            first_non_finite(&[f32::MAX, f32::MIN, f32::MIN_POSITIVE, 1e-45]),
            None
        );
    }

    #[test]
    fn report_says_where_and_whether_the_weights_changed() {
        let r = NonFinite {
            epoch: Some(2),
            step: Some(5),
            iteration: 40,
            tensor: Some("dense1.kernel".into()),
            detail: "the gradient of `dense1.kernel` is NaN at element 3".into(),
            update_applied: false,
        };
        assert_eq!(
            r.to_string(),
            "non-finite value at epoch 2, step 5 (optimizer step 41): the gradient of \
             `dense1.kernel` is NaN at element 3; the update was not applied"
        );
    }
}
