//! Matrix products, matched by name on the inner (and batch) dimensions.

use super::or_panic;
use crate::element::Float;
use crate::error::{Result, TensorError};
use crate::kernels::{gemm, GemmArgs};
use crate::shape::{MatMul, Shape};
use crate::storage::buffer_filled;
use crate::tensor::Tensor;

impl<L: Shape, E: Float> Tensor<L, E> {
    /// Matrix product: `(M, K) x (K, N) -> (M, N)`, `(B, M, K) x (K, N) -> (B, M, N)` or
    /// `(B, M, K) x (B, K, N) -> (B, M, N)`. Views with any strides (e.g. a permuted tensor)
    /// are multiplied without copying.
    ///
    /// # Errors
    /// [`TensorError::DimMismatch`] when the inner or batch dims have different run-time lengths.
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
        let mut out = buffer_filled(batch * m * n, E::zero());
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
        let dims: Vec<usize> = if batched_lhs {
            vec![batch, m, n]
        } else {
            vec![m, n]
        };
        Ok(Tensor::from_buffer(out, &dims))
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
