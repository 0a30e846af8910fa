//! Matrix products, matched by name on the inner (and batch) dimensions.

use super::or_panic;
use crate::autodiff::rules;
use crate::autodiff::tape::record_binary;
use crate::element::Float;
use crate::error::{Result, TensorError};
use crate::kernels::{gemm, GemmArgs};
use crate::shape::{MatMul, Shape};
use crate::storage::buffer_filled;
use crate::tensor::{checked_numel, Tensor};

/// `C = A B`: `dA = dC Bᵀ`, `dB = Aᵀ dC` (summed over the batch when `B` is shared by it).
/// Transposes are stride swaps, so strided operands (e.g. `w.t()`) are not copied.
fn matmul_backward<L: Shape, R: Shape, O: Shape, E: Float>(
    a: &Tensor<L, E>,
    b: &Tensor<R, E>,
    g: &Tensor<O, E>,
    needs: [bool; 2],
    batched_rhs: bool,
) -> rules::GradPair<L, R, E> {
    let (ad, bd) = (a.dims(), b.dims());
    let (ast, bst) = (a.layout.strides(), b.layout.strides());
    let batched_lhs = L::RANK == 3;
    let (m, k) = (ad[L::RANK - 2], ad[L::RANK - 1]);
    let n = bd[R::RANK - 1];
    let batch = if batched_lhs { ad[0] } else { 1 };
    let (a_rs, a_cs) = (ast[L::RANK - 2], ast[L::RANK - 1]);
    let (b_rs, b_cs) = (bst[R::RANK - 2], bst[R::RANK - 1]);
    let sg = rules::data(g);
    let ga = needs[0].then(|| {
        let mut out = buffer_filled(batch * m * k, E::zero());
        for bi in 0..batch {
            let b_off = b.layout.offset() + if batched_rhs { bi * bst[0] } else { 0 };
            gemm(GemmArgs {
                m,
                n: k,
                k: n,
                alpha: E::one(),
                a: &sg[bi * m * n..],
                a_rs: n,
                a_cs: 1,
                b: &b.storage[b_off..],
                b_rs: b_cs,
                b_cs: b_rs,
                beta: E::zero(),
                c: &mut out[bi * m * k..(bi + 1) * m * k],
                c_rs: k,
            });
        }
        Tensor::from_buffer(out, ad)
    });
    let gb = needs[1].then(|| {
        let nb = if batched_rhs { batch } else { 1 };
        let mut out = buffer_filled(nb * k * n, E::zero());
        for bi in 0..batch {
            let a_off = a.layout.offset() + if batched_lhs { bi * ast[0] } else { 0 };
            let c_at = if batched_rhs { bi * k * n } else { 0 };
            gemm(GemmArgs {
                m: k,
                n,
                k: m,
                alpha: E::one(),
                a: &a.storage[a_off..],
                a_rs: a_cs,
                a_cs: a_rs,
                b: &sg[bi * m * n..],
                b_rs: n,
                b_cs: 1,
                beta: if batched_rhs || bi == 0 {
                    E::zero()
                } else {
                    E::one()
                },
                c: &mut out[c_at..c_at + k * n],
                c_rs: n,
            });
        }
        Tensor::from_buffer(out, bd)
    });
    (ga, gb)
}

impl<L: Shape, E: Float> Tensor<L, E> {
    /// Matrix product: `(M, K) x (K, N) -> (M, N)`, `(B, M, K) x (K, N) -> (B, M, N)` or
    /// `(B, M, K) x (B, K, N) -> (B, M, N)`. Views with any strides (e.g. a permuted tensor)
    /// are multiplied without copying.
    ///
    /// # Errors
    /// [`TensorError::DimMismatch`] when the inner or batch dims have different run-time lengths;
    /// [`TensorError::TooLarge`] when the product has more elements than one buffer can hold
    /// (possible with broadcast views, which repeat their values without storing them).
    pub fn try_matmul<R: Shape>(&self, rhs: &Tensor<R, E>) -> Result<Tensor<<L as MatMul<R>>::Output, E>>
    where
        L: MatMul<R>,
    {
        let (ad, bd) = (self.dims(), rhs.dims());
        let (ast, bst) = (self.layout.strides(), rhs.layout.strides());
        let batched_lhs = L::RANK == 3;
        let batched_rhs = <L as MatMul<R>>::BATCHED_RHS;
        let (m, k) = (ad[L::RANK - 2], ad[L::RANK - 1]);
        let (k2, n) = (bd[R::RANK - 2], bd[R::RANK - 1]);
        if k != k2 {
            return Err(TensorError::DimMismatch {
                op: "matmul",
                dim: L::NAMES[L::RANK - 1],
                left: k,
                right: k2,
            });
        }
        let batch = if batched_lhs { ad[0] } else { 1 };
        if batched_rhs && bd[0] != batch {
            return Err(TensorError::DimMismatch {
                op: "matmul",
                dim: L::NAMES[0],
                left: batch,
                right: bd[0],
            });
        }
        let dims: Vec<usize> = if batched_lhs {
            vec![batch, m, n]
        } else {
            vec![m, n]
        };
        // views that repeat their values (stride 0) can multiply into more elements than fit
        let total = checked_numel::<E>("matmul", <<L as MatMul<R>>::Output as Shape>::NAMES, &dims)?;
        let mut out = buffer_filled(total, E::zero());
        let (a_rs, a_cs) = (ast[L::RANK - 2], ast[L::RANK - 1]);
        let (b_rs, b_cs) = (bst[R::RANK - 2], bst[R::RANK - 1]);
        let (a_data, b_data) = (&self.storage[..], &rhs.storage[..]);
        for bi in 0..batch {
            let a_off = self.layout.offset() + if batched_lhs { bi * ast[0] } else { 0 };
            let b_off = rhs.layout.offset() + if batched_rhs { bi * bst[0] } else { 0 };
            gemm(GemmArgs {
                m,
                n,
                k,
                alpha: E::one(),
                a: &a_data[a_off..],
                a_rs,
                a_cs,
                b: &b_data[b_off..],
                b_rs,
                b_cs,
                beta: E::zero(),
                c: &mut out[bi * m * n..(bi + 1) * m * n],
                c_rs: n,
            });
        }
        let out = Tensor::from_buffer(out, &dims);
        if !(self.on_tape() || rhs.on_tape()) {
            return Ok(out);
        }
        let (a, b) = (self.stop_gradient(), rhs.stop_gradient());
        Ok(record_binary(self, rhs, out, move |g, needs| {
            matmul_backward(&a, &b, g, needs, batched_rhs)
        }))
    }

    /// Matrix product; see [`Tensor::try_matmul`].
    ///
    /// # Panics
    /// When the inner or batch dims have different run-time lengths; the message names the dim.
    #[track_caller]
    pub fn matmul<R: Shape>(&self, rhs: &Tensor<R, E>) -> Tensor<<L as MatMul<R>>::Output, E>
    where
        L: MatMul<R>,
    {
        or_panic(self.try_matmul(rhs))
    }
}
