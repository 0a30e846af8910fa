//! Run-time support for the code `model!` generates: the kernels a generated forward pass and
//! fused training step call, over run-time sizes (one shared body per element type, not one per
//! model shape), plus the const checks the macro emits for sizes it cannot see.
//!
//! A generated model keeps one [`State`]: per graph node, its output, its pre-activation (only
//! for GELU), its dropout mask and its gradient. Buffers are resized in place, so after the first
//! training step no step allocates, except for the output tensor handed back to the caller.
//! Inference (`forward(&self)`) borrows a state from the model's [`Spare`] pool instead.

mod activation;
mod batch_norm;
mod checks;
mod conv;
mod dense;
mod embedding;
mod layer;
mod ops;
mod options;
mod param;
mod pool;
mod prelu;
mod rng;
mod spare;

pub use activation::Activation;
pub use batch_norm::BatchNorm;
pub use checks::{
    require_groups, require_same_count, require_size, require_static, require_tiling, require_window,
    size_of_dim, window_out,
};
pub use conv::Conv2D;
pub use dense::Dense;
pub use embedding::Embedding;
pub use layer::{prefix_names, rows_tensor, FusedLayer};
pub use ops::{
    accumulate, accumulate_product, add_forward, concat_backward, concat_forward, copy_into, dropout_forward,
    multiply_forward, softmax_axis_backward, softmax_axis_forward,
};
pub use options::{add_penalty_gradient, penalty, DenseOptions, WeightConstraint};
pub use param::Param;
pub use pool::{
    conv_max_pool_backward, conv_max_pool_train, global_avg_pool_backward, global_avg_pool_forward, Pool2D,
    PoolKind,
};
pub use prelu::PRelu;

pub use crate::error::NnError;
pub use crate::init::Initializer;
pub use crate::regularizers::Regularizer;
pub use rng::Rng;
pub use spare::{Spare, SPARE_STATE_MAX_VALUES};
pub use tensor_core::kernels::conv::{Conv2d, Padding, Pool2d};

use tensor_core::{Element, Shape, Tensor};

/// Per-node buffers of a generated model, reused from step to step.
#[derive(Debug, Clone)]
pub struct State<F> {
    /// Output of each node.
    pub outs: Vec<Vec<F>>,
    /// Pre-activation of each node (filled only where the backward pass needs it).
    pub pres: Vec<Vec<F>>,
    /// Dropout scale factors of each node (dropout nodes), or `1/σ` per feature (batch norm).
    pub masks: Vec<Vec<F>>,
    /// Gradient of the loss with respect to each node's output.
    pub grads: Vec<Vec<F>>,
    /// Integer ids of each input node that holds them (inputs read by an embedding).
    pub ids: Vec<Vec<i64>>,
    /// Length of the first dim of each input node in the last forward pass (the batch size
    /// activity penalties are divided by).
    pub batch: Vec<usize>,
    /// `(len, inner)` of each node computing a softmax over a dim that is not the last: the
    /// dim's length and the number of values after it.
    pub axes: Vec<(usize, usize)>,
}

impl<F> State<F> {
    /// Values the buffers can hold without reallocating, in all (outputs, pre-activations,
    /// masks, gradients and ids).
    pub fn capacity(&self) -> usize {
        let f: usize = [&self.outs, &self.pres, &self.masks, &self.grads]
            .iter()
            .flat_map(|v| v.iter())
            .map(Vec::capacity)
            .sum();
        f + self.ids.iter().map(Vec::capacity).sum::<usize>()
    }
}

impl<F: Copy + Default> State<F> {
    /// Empty buffers for `nodes` nodes (nothing allocated until first used).
    pub fn new(nodes: usize) -> Self {
        State {
            outs: vec![Vec::new(); nodes],
            pres: vec![Vec::new(); nodes],
            masks: vec![Vec::new(); nodes],
            grads: vec![Vec::new(); nodes],
            ids: vec![Vec::new(); nodes],
            batch: vec![1; nodes],
            axes: vec![(0, 0); nodes],
        }
    }

    /// Sizes the gradient buffer of node `i` like its output and fills it with zeros.
    ///
    /// # Panics
    /// If `i` is out of range.
    pub fn zero_grad(&mut self, i: usize) {
        let n = self.outs[i].len();
        let g = &mut self.grads[i];
        g.clear();
        g.resize(n, F::default());
    }
}

/// Adds the values of a gradient tensor (∂L/∂output) into `dst`.
///
/// # Panics
/// If the tensor does not hold as many values as the output of the last `forward_train`
/// (`backward` called before `forward_train`, or with another batch size).
pub fn accumulate_tensor<S: Shape, F: tensor_core::Float>(t: &Tensor<S, F>, dst: &mut [F]) {
    if t.numel() != dst.len() {
        panic!(
            "backward: the gradient has {} values but the last forward_train produced {}; call forward_train first, with the same batch",
            t.numel(),
            dst.len()
        );
    }
    match t.as_slice() {
        Some(s) => accumulate(s, dst),
        None => accumulate(&t.to_vec(), dst),
    }
}

/// Splits `v` at `i`: the items before `i` (read-only) and item `i` (mutable). Generated code
/// reads a node's inputs (always earlier nodes) while writing the node itself.
///
/// # Panics
/// If `i` is out of range.
pub fn split<T>(v: &mut [T], i: usize) -> (&[T], &mut T) {
    let (lo, hi) = v.split_at_mut(i);
    (lo, &mut hi[0])
}

/// Like [`split`], with the earlier items mutable (the backward pass adds into them).
///
/// # Panics
/// If `i` is out of range.
pub fn split_mut<T>(v: &mut [T], i: usize) -> (&mut [T], &mut T) {
    let (lo, hi) = v.split_at_mut(i);
    (lo, &mut hi[0])
}

/// Number of rows a tensor of these lengths presents to a dense layer: the product of every
/// length but the last.
pub fn rows(dims: &[usize]) -> usize {
    dims.iter().rev().skip(1).product()
}

/// Rows held by a buffer of `len` values with `cols` values per row (0 when `cols` is 0).
pub fn rows_in(len: usize, cols: usize) -> usize {
    len.checked_div(cols).unwrap_or(0)
}

/// Copies the values of `t` (row-major) into `out`, reusing its capacity.
pub fn load_input<S: Shape, F: Element>(t: &Tensor<S, F>, out: &mut Vec<F>) {
    out.clear();
    match t.as_slice() {
        Some(s) => out.extend_from_slice(s),
        None => out.extend_from_slice(t.contiguous().as_slice().unwrap_or(&[])),
    }
}

/// Length of the first dim of `t` (1 for a scalar): the batch size of activity penalties.
pub fn first_len<S: Shape, E: Element>(t: &Tensor<S, E>) -> usize {
    t.dims().first().copied().unwrap_or(1)
}

/// Copies integer ids (row-major) into `out`, reusing its capacity.
pub fn load_ids<S: Shape>(t: &Tensor<S, i64>, out: &mut Vec<i64>) {
    out.clear();
    match t.as_slice() {
        Some(s) => out.extend_from_slice(s),
        None => out.extend(t.to_vec()),
    }
}

/// Builds an output tensor: the leading lengths `lead` (taken from an input), then the static
/// lengths `tail`.
///
/// # Panics
/// If the lengths disagree with `S` or with `data` (impossible for shapes checked by `model!`).
pub fn output_tensor<S: Shape, F: Element>(data: &[F], lead: &[usize], tail: &[usize]) -> Tensor<S, F> {
    let mut dims: Vec<usize> = lead.to_vec();
    dims.extend_from_slice(tail);
    match Tensor::from_vec_dims(data.to_vec(), &dims) {
        Ok(t) => t,
        Err(e) => panic!("model!: output of the wrong size: {e}"),
    }
}

/// Checks that two inputs merged by a model agree on the lengths of their leading dims.
///
/// # Panics
/// With a message naming both inputs and the dim, when the lengths differ.
pub fn check_same_lead(names: [&str; 2], dims: [&[usize]; 2], dim_names: &[&str]) {
    let (a, b) = (dims[0], dims[1]);
    for (i, name) in dim_names.iter().enumerate() {
        let (la, lb) = (a.get(i).copied().unwrap_or(0), b.get(i).copied().unwrap_or(0));
        if la != lb {
            panic!(
                "dimension `{name}` has length {la} in input `{}` but {lb} in input `{}`",
                names[0], names[1]
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A training step's buffers keep their allocations: after the first step, the second one
    /// (same batch) writes into the same memory.
    #[test]
    fn buffers_are_reused_across_steps() {
        let mut rng = Rng::new(1);
        let mut dense = Dense::<f32>::new("d", 4, 3, true, &mut rng);
        let mut st = State::<f32>::new(3);
        let x = vec![0.5f32; 8 * 4];
        let mut step = |st: &mut State<f32>, rng: &mut Rng| {
            copy_into(&x, &mut st.outs[0]);
            let (prev, out) = split(&mut st.outs, 1);
            dense.forward(&prev[0], 8, Activation::Gelu, out, Some(&mut st.pres[1]));
            let (prev, out) = split(&mut st.outs, 2);
            dropout_forward(&prev[1], 0.5, Some(rng), &mut st.masks[2], out);
            st.zero_grad(2);
            st.zero_grad(1);
            st.grads[2].iter_mut().for_each(|g| *g = 1.0);
            let (lo, g) = split_mut(&mut st.grads, 2);
            accumulate_product(g, &st.masks[2], &mut lo[1]);
            let (_, g) = split_mut(&mut st.grads, 1);
            dense.zero_grad();
            dense.backward(
                &st.outs[0],
                &st.outs[1],
                &st.pres[1],
                g,
                8,
                Activation::Gelu,
                None,
            );
        };
        step(&mut st, &mut rng);
        let ptrs = |st: &State<f32>| -> Vec<*const f32> {
            [&st.outs, &st.pres, &st.masks, &st.grads]
                .iter()
                .flat_map(|v| v.iter().map(|b| b.as_ptr()))
                .collect()
        };
        let before = ptrs(&st);
        step(&mut st, &mut rng);
        assert_eq!(before, ptrs(&st));
        assert_eq!(st.outs[1].len(), 8 * 3);
    }
}
