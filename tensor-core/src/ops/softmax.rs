//! Numerically stable softmax and log-softmax along a named dimension.

use crate::autodiff::rules;
use crate::autodiff::tape::record_unary;
use crate::element::Float;
use crate::shape::{HasDim, Shape};
use crate::storage::buffer_from_slice;
use crate::tensor::Tensor;

use super::reduce::split_axis;

fn softmax_impl<S: Shape, E: Float>(t: &Tensor<S, E>, axis: usize, log: bool) -> Tensor<S, E> {
    let a = t.contiguous();
    let data = a.as_slice().unwrap_or(&[]);
    let (outer, len, inner) = split_axis(a.dims(), axis);
    let mut out = vec![E::zero(); data.len()];
    for o in 0..outer {
        for i in 0..inner {
            let at = |l: usize| (o * len + l) * inner + i;
            let mut m = E::neg_infinity();
            for l in 0..len {
                m = m.max(data[at(l)]);
            }
            let mut s = E::zero();
            for l in 0..len {
                s = s + (data[at(l)] - m).exp();
            }
            let ls = s.ln();
            for l in 0..len {
                let z = data[at(l)] - m;
                out[at(l)] = if log { z - ls } else { z.exp() / s };
            }
        }
    }
    let out = Tensor::from_buffer(buffer_from_slice(&out), a.dims());
    if !t.on_tape() {
        return out;
    }
    let y = out.clone();
    record_unary(t, out, move |g| softmax_backward(&y, g, axis, log))
}

/// softmax: `dx = y * (g - sum_l g y)`; log-softmax: `dx = g - exp(y) * sum_l g`.
fn softmax_backward<S: Shape, E: Float>(
    y: &Tensor<S, E>,
    g: &Tensor<S, E>,
    axis: usize,
    log: bool,
) -> Tensor<S, E> {
    let (sy, sg) = (rules::data(y), rules::data(g));
    let (outer, len, inner) = split_axis(y.dims(), axis);
    let mut out = vec![E::zero(); sy.len()];
    for o in 0..outer {
        for i in 0..inner {
            let at = |l: usize| (o * len + l) * inner + i;
            let mut s = E::zero();
            for l in 0..len {
                s = s + if log { sg[at(l)] } else { sg[at(l)] * sy[at(l)] };
            }
            for l in 0..len {
                let k = at(l);
                out[k] = if log {
                    sg[k] - sy[k].exp() * s
                } else {
                    sy[k] * (sg[k] - s)
                };
            }
        }
    }
    Tensor::from_buffer(buffer_from_slice(&out), y.dims())
}

impl<S: Shape, E: Float> Tensor<S, E> {
    /// Softmax along dimension `D`: `logits.softmax::<Classes, _>()`. Stable for large inputs
    /// (the maximum is subtracted first).
    pub fn softmax<D, Idx>(&self) -> Self
    where
        S: HasDim<D, Idx>,
    {
        softmax_impl(self, <S as HasDim<D, Idx>>::INDEX, false)
    }

    /// Log-softmax along dimension `D`, computed as `x - max - ln(sum(exp(x - max)))`.
    pub fn log_softmax<D, Idx>(&self) -> Self
    where
        S: HasDim<D, Idx>,
    {
        softmax_impl(self, <S as HasDim<D, Idx>>::INDEX, true)
    }
}
