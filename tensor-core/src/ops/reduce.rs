//! Reductions along a named dimension (which leaves the type) and full reductions.

use crate::autodiff::rules;
use crate::autodiff::tape::record_unary;
use crate::element::Float;
use crate::kernels::{BinaryOp, ReduceOp};
use crate::layout::Dims;
use crate::shape::{RemoveDim, Shape};
use crate::storage::{buffer_filled, buffer_from_iter, buffer_from_slice};
use crate::tensor::Tensor;

/// `(outer, len, inner)` of a contiguous tensor around `axis`.
pub(crate) fn split_axis(dims: &[usize], axis: usize) -> (usize, usize, usize) {
    let outer = dims[..axis].iter().product();
    let inner = dims[axis + 1..].iter().product();
    (outer, dims[axis], inner)
}

pub(crate) fn dims_without(dims: &[usize], axis: usize) -> Dims {
    dims.iter()
        .enumerate()
        .filter(|&(i, _)| i != axis)
        .map(|(_, &d)| d)
        .collect()
}

/// Sum (or max/min) over `axis` of a contiguous slice, vectorised across `inner`.
pub(crate) fn reduce_axis<E: Float>(op: ReduceOp, data: &[E], dims: &[usize], axis: usize) -> Vec<E> {
    let (outer, len, inner) = split_axis(dims, axis);
    if inner == 1 {
        return data.chunks(len).map(|row| E::reduce(op, row)).collect();
    }
    let bop = match op {
        ReduceOp::Sum => BinaryOp::Add,
        ReduceOp::Max => BinaryOp::Max,
        ReduceOp::Min => BinaryOp::Min,
    };
    let mut out = vec![E::zero(); outer * inner];
    let mut tmp = vec![E::zero(); inner];
    for o in 0..outer {
        let block = &data[o * len * inner..(o + 1) * len * inner];
        let acc = &mut out[o * inner..(o + 1) * inner];
        acc.copy_from_slice(&block[..inner]);
        for l in 1..len {
            E::binary(bop, acc, &block[l * inner..(l + 1) * inner], &mut tmp);
            acc.copy_from_slice(&tmp);
        }
    }
    out
}

impl<S: Shape, E: Float> Tensor<S, E> {
    fn reduce_dim<D, Idx>(&self, op: ReduceOp) -> Tensor<<S as RemoveDim<D, Idx>>::Output, E>
    where
        S: RemoveDim<D, Idx>,
    {
        let axis = <S as RemoveDim<D, Idx>>::INDEX;
        let a = self.contiguous();
        let out = reduce_axis(op, a.as_slice().unwrap_or(&[]), a.dims(), axis);
        let out = Tensor::from_buffer(buffer_from_slice(&out), &dims_without(a.dims(), axis));
        if !self.on_tape() {
            return out;
        }
        let (x, y) = (a.stop_gradient(), out.clone());
        record_unary(self, out, move |g| {
            let (sg, sx, sy) = (rules::data(g), rules::data(&x), rules::data(&y));
            match op {
                // every summed element gets the gradient of the sum
                ReduceOp::Sum => rules::expand_axis(x.dims(), axis, |_, r| sg[r]),
                // max/min: the gradient is shared equally among the elements equal to the extreme
                ReduceOp::Max | ReduceOp::Min => {
                    let mut ties = vec![E::zero(); sy.len()];
                    rules::for_each_along(x.dims(), axis, |xi, r| {
                        if sx[xi] == sy[r] {
                            ties[r] = ties[r] + E::one();
                        }
                    });
                    rules::expand_axis(x.dims(), axis, |xi, r| {
                        if sx[xi] == sy[r] {
                            sg[r] / ties[r]
                        } else {
                            E::zero()
                        }
                    })
                }
            }
        })
    }

    /// Sum over dimension `D`: `t.sum::<Hidden, _>()` turns `(Batch, Hidden)` into `(Batch,)`.
    pub fn sum<D, Idx>(&self) -> Tensor<<S as RemoveDim<D, Idx>>::Output, E>
    where
        S: RemoveDim<D, Idx>,
    {
        self.reduce_dim::<D, Idx>(ReduceOp::Sum)
    }

    /// Sum over the dimension given as a value: `t.sum_over(Hidden)`.
    pub fn sum_over<D, Idx>(&self, _dim: D) -> Tensor<<S as RemoveDim<D, Idx>>::Output, E>
    where
        S: RemoveDim<D, Idx>,
    {
        self.sum::<D, Idx>()
    }

    /// Mean over dimension `D`.
    pub fn mean<D, Idx>(&self) -> Tensor<<S as RemoveDim<D, Idx>>::Output, E>
    where
        S: RemoveDim<D, Idx>,
    {
        let len = self.dims()[<S as RemoveDim<D, Idx>>::INDEX];
        self.sum::<D, Idx>().div_scalar(E::from_f64(len as f64))
    }

    /// Maximum over dimension `D` (NaN propagates).
    pub fn max<D, Idx>(&self) -> Tensor<<S as RemoveDim<D, Idx>>::Output, E>
    where
        S: RemoveDim<D, Idx>,
    {
        self.reduce_dim::<D, Idx>(ReduceOp::Max)
    }

    /// Minimum over dimension `D` (NaN propagates).
    pub fn min<D, Idx>(&self) -> Tensor<<S as RemoveDim<D, Idx>>::Output, E>
    where
        S: RemoveDim<D, Idx>,
    {
        self.reduce_dim::<D, Idx>(ReduceOp::Min)
    }

    /// Population variance (NumPy's default, `ddof = 0`) over dimension `D`.
    pub fn variance<D, Idx>(&self) -> Tensor<<S as RemoveDim<D, Idx>>::Output, E>
    where
        S: RemoveDim<D, Idx>,
    {
        let axis = <S as RemoveDim<D, Idx>>::INDEX;
        let a = self.contiguous();
        let data = a.as_slice().unwrap_or(&[]);
        let (outer, len, inner) = split_axis(a.dims(), axis);
        let mean = reduce_axis(ReduceOp::Sum, data, a.dims(), axis);
        let n = E::from_f64(len as f64);
        let out = (0..outer * inner).map(|oi| {
            let (o, i) = (oi / inner, oi % inner);
            let m = mean[oi] / n;
            let mut acc = E::zero();
            for l in 0..len {
                let d = data[(o * len + l) * inner + i] - m;
                acc = acc + d * d;
            }
            acc / n
        });
        let out = Tensor::from_buffer(buffer_from_iter(out), &dims_without(a.dims(), axis));
        if !self.on_tape() {
            return out;
        }
        // d var / d x_l = 2 (x_l - mean) / n
        let x = a.stop_gradient();
        record_unary(self, out, move |g| {
            let (sg, sx) = (rules::data(g), rules::data(&x));
            let sums = reduce_axis(ReduceOp::Sum, &sx, x.dims(), axis);
            let two = E::one() + E::one();
            rules::expand_axis(x.dims(), axis, |xi, r| sg[r] * two * (sx[xi] - sums[r] / n) / n)
        })
    }

    /// Numerically stable `ln(sum(exp(x)))` over dimension `D`.
    pub fn logsumexp<D, Idx>(&self) -> Tensor<<S as RemoveDim<D, Idx>>::Output, E>
    where
        S: RemoveDim<D, Idx>,
    {
        let axis = <S as RemoveDim<D, Idx>>::INDEX;
        let a = self.contiguous();
        let data = a.as_slice().unwrap_or(&[]);
        let (outer, len, inner) = split_axis(a.dims(), axis);
        let maxes = reduce_axis(ReduceOp::Max, data, a.dims(), axis);
        let out = (0..outer * inner).map(|oi| {
            let (o, i) = (oi / inner, oi % inner);
            let m = maxes[oi];
            if m.is_infinite() {
                return m;
            }
            let mut acc = E::zero();
            for l in 0..len {
                acc = acc + (data[(o * len + l) * inner + i] - m).exp();
            }
            m + acc.ln()
        });
        let out = Tensor::from_buffer(buffer_from_iter(out), &dims_without(a.dims(), axis));
        if !self.on_tape() {
            return out;
        }
        // d lse / d x_l = exp(x_l - lse) (the softmax)
        let (x, y) = (a.stop_gradient(), out.clone());
        record_unary(self, out, move |g| {
            let (sg, sx, sy) = (rules::data(g), rules::data(&x), rules::data(&y));
            rules::expand_axis(x.dims(), axis, |xi, r| sg[r] * (sx[xi] - sy[r]).exp())
        })
    }

    /// Index of the maximum over dimension `D` (the first one on ties).
    pub fn argmax<D, Idx>(&self) -> Tensor<<S as RemoveDim<D, Idx>>::Output, i64>
    where
        S: RemoveDim<D, Idx>,
    {
        self.arg_extreme::<D, Idx>(|x, best| x > best)
    }

    /// Index of the minimum over dimension `D` (the first one on ties).
    pub fn argmin<D, Idx>(&self) -> Tensor<<S as RemoveDim<D, Idx>>::Output, i64>
    where
        S: RemoveDim<D, Idx>,
    {
        self.arg_extreme::<D, Idx>(|x, best| x < best)
    }

    fn arg_extreme<D, Idx>(
        &self,
        better: impl Fn(E, E) -> bool,
    ) -> Tensor<<S as RemoveDim<D, Idx>>::Output, i64>
    where
        S: RemoveDim<D, Idx>,
    {
        let axis = <S as RemoveDim<D, Idx>>::INDEX;
        let a = self.contiguous();
        let data = a.as_slice().unwrap_or(&[]);
        let (outer, len, inner) = split_axis(a.dims(), axis);
        let out = (0..outer * inner).map(|oi| {
            let (o, i) = (oi / inner, oi % inner);
            let mut best = data[o * len * inner + i];
            let mut arg = 0i64;
            for l in 1..len {
                let x = data[(o * len + l) * inner + i];
                if better(x, best) {
                    best = x;
                    arg = l as i64;
                }
            }
            arg
        });
        Tensor::from_buffer(buffer_from_iter(out), &dims_without(a.dims(), axis))
    }

    /// Sum of all elements.
    pub fn sum_all(&self) -> E {
        let a = self.contiguous();
        E::reduce(ReduceOp::Sum, a.as_slice().unwrap_or(&[]))
    }

    /// Mean of all elements.
    pub fn mean_all(&self) -> E {
        self.sum_all() / E::from_f64(self.numel() as f64)
    }

    /// Maximum of all elements.
    pub fn max_all(&self) -> E {
        let a = self.contiguous();
        E::reduce(ReduceOp::Max, a.as_slice().unwrap_or(&[]))
    }

    /// Minimum of all elements.
    pub fn min_all(&self) -> E {
        let a = self.contiguous();
        E::reduce(ReduceOp::Min, a.as_slice().unwrap_or(&[]))
    }

    /// Sum of all elements as a rank-0 tensor (differentiable, unlike [`Tensor::sum_all`]).
    pub fn sum_to_scalar(&self) -> Tensor<(), E> {
        let out = Tensor::from_buffer(buffer_filled(1, self.sum_all()), &[]);
        if !self.on_tape() {
            return out;
        }
        let dims = crate::layout::Dims::from_slice(self.dims());
        record_unary(self, out, move |g: &Tensor<(), E>| {
            Tensor::full_dims(g.item(), &dims)
        })
    }

    /// Mean of all elements as a rank-0 tensor (differentiable, unlike [`Tensor::mean_all`]).
    pub fn mean_to_scalar(&self) -> Tensor<(), E> {
        self.sum_to_scalar().div_scalar(E::from_f64(self.numel() as f64))
    }
}
