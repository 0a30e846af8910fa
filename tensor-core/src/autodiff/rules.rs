//! Pieces shared by the backward rules that live beside each op's forward in `crate::ops`.

use crate::element::{Element, Float};
use crate::kernels::BinaryOp;
use crate::shape::Shape;
use crate::storage::{buffer_filled, buffer_from_iter, buffer_from_slice};
use crate::tensor::Tensor;

/// The contiguous elements of a gradient or saved value (every gradient on the tape is contiguous).
pub(crate) fn data<S: Shape, E: Element>(t: &Tensor<S, E>) -> std::borrow::Cow<'_, [E]> {
    match t.as_slice() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(t.to_vec()),
    }
}

/// Sums a broadcast gradient back to the (trailing) lengths `dims` of an operand: the
/// gradient of a value repeated over leading dims is the sum over those dims.
pub(crate) fn reduce_to<S: Shape, E: Float>(g: &[E], dims: &[usize]) -> Tensor<S, E> {
    let m: usize = dims.iter().product();
    if m == g.len() {
        return Tensor::from_buffer(buffer_from_slice(g), dims);
    }
    let mut acc = buffer_from_slice(&g[..m]);
    let mut tmp = vec![E::zero(); m];
    for chunk in g.chunks(m).skip(1) {
        E::binary(BinaryOp::Add, &acc, chunk, &mut tmp);
        acc.copy_from_slice(&tmp);
    }
    Tensor::from_buffer(acc, dims)
}

/// A tensor of lengths `dims` whose element `i` is `f(i)`.
pub(crate) fn from_index_fn<S: Shape, E: Element>(dims: &[usize], f: impl FnMut(usize) -> E) -> Tensor<S, E> {
    let n: usize = dims.iter().product();
    Tensor::from_buffer(buffer_from_iter((0..n).map(f)), dims)
}

/// A zero tensor of lengths `dims` (E's default is zero for the float types that carry gradients).
pub(crate) fn zeros_buf<E: Element>(dims: &[usize]) -> crate::storage::Buffer<E> {
    buffer_filled(dims.iter().product(), E::default())
}

/// Calls `f(xi, ri)` for every full index `xi` of lengths `dims` in row-major order, `ri`
/// being the index of the same position with dim `axis` removed (the index into a
/// reduction's result).
pub(crate) fn for_each_along(dims: &[usize], axis: usize, mut f: impl FnMut(usize, usize)) {
    let (outer, len, inner) = crate::ops::reduce::split_axis(dims, axis);
    for o in 0..outer {
        for l in 0..len {
            for i in 0..inner {
                f((o * len + l) * inner + i, o * inner + i);
            }
        }
    }
}

/// A tensor of lengths `dims` whose element at full index `xi` is `f(xi, ri)` (see
/// [`for_each_along`]).
pub(crate) fn expand_axis<S: Shape, E: Element>(
    dims: &[usize],
    axis: usize,
    mut f: impl FnMut(usize, usize) -> E,
) -> Tensor<S, E> {
    let mut out = Vec::with_capacity(dims.iter().product());
    for_each_along(dims, axis, |xi, ri| out.push(f(xi, ri)));
    Tensor::from_buffer(buffer_from_slice(&out), dims)
}

/// [`reduce_to`] for any element type (only float tensors are ever recorded, so `add` exists).
pub(crate) fn reduce_to_any<S: Shape, E: Element>(g: &[E], dims: &[usize]) -> Tensor<S, E> {
    let m: usize = dims.iter().product();
    let add = super::tape::float_add::<E>();
    let mut acc = g[..m].to_vec();
    if let Some(add) = add {
        for chunk in g.chunks(m).skip(1) {
            for (a, b) in acc.iter_mut().zip(chunk) {
                *a = add(*a, *b);
            }
        }
    }
    Tensor::from_buffer(buffer_from_slice(&acc), dims)
}

/// Adds `src` into `dst[at]` (scatter-add of index_select / gather backward).
pub(crate) fn add_at<E: Element>(dst: &mut [E], at: usize, src: E) {
    if let Some(add) = super::tape::float_add::<E>() {
        dst[at] = add(dst[at], src);
    }
}

/// The gradients of a two-input op's operands (`None` where not needed).
pub(crate) type GradPair<A, B, E> = (Option<Tensor<A, E>>, Option<Tensor<B, E>>);
