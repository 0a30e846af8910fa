//! CPU kernels: the only module tree of Dimflow allowed to hold `unsafe` code.
//!
//! The public surface is safe functions over slices; the SIMD paths (chosen once at run time)
//! live behind [`dispatch`], and the portable [`scalar`] path is always compiled and is the
//! oracle the SIMD paths are tested against.
//!
//! Map: [`conv`] (convolution and pooling: geometry, im2col, portable, direct and implicit
//! kernels, pooling), `tasks` (a batch split over the pool), [`dispatch`] (instruction-set
//! detection, `DIMFLOW_ISA`, entry points), `simd` (the
//! `Simd` token trait and its AVX2 / AVX-512F impls: all intrinsics live there), `elementwise`
//! and `math` (element-wise, reductions, exp/tanh/sigmoid/erf written once over `Simd`),
//! [`gemm`](mod@gemm) (API and the blocked driver), [`gemv`] (a few rows times a row-major
//! matrix, unpacked), `pack` and `microkernel` (packing and register
//! tiles), [`prepacked`] (weights packed once), [`threads`] (the pool), [`hot`] (spinning
//! helpers for one image's rows).
//!
//! ```
//! use tensor_core::kernels::{gemm_fused, Epilogue, GemmArgs, KernelFloat, UnaryOp};
//!
//! // relu([1 2; 3 4] · [1 -1; 1 1] + [0.5, -3]) = relu([3.5 -2; 7.5 -2]) = [3.5 0; 7.5 0]
//! let (a, b, bias) = ([1.0f32, 2.0, 3.0, 4.0], [1.0f32, -1.0, 1.0, 1.0], [0.5f32, -3.0]);
//! let mut c = [0.0f32; 4];
//! gemm_fused(
//!     GemmArgs { m: 2, n: 2, k: 2, alpha: 1.0, a: &a, a_rs: 2, a_cs: 1, b: &b, b_rs: 2, b_cs: 1,
//!                beta: 0.0, c: &mut c, c_rs: 2 },
//!     Epilogue { bias: Some(&bias), activation: Some(UnaryOp::Relu) },
//! );
//! assert_eq!(c, [3.5, 0.0, 7.5, 0.0]);
//!
//! let mut e = [0.0f32; 2];
//! f32::unary(UnaryOp::Exp, &[0.0, 1.0], &mut e);
//! assert!((e[1] - std::f32::consts::E).abs() < 1e-6);
//! ```

pub mod conv;
pub mod dispatch;
mod elementwise;
pub mod gemm;
pub mod gemv;
pub mod hot;
mod math;
mod microkernel;
mod pack;
pub mod parallel;
pub mod prepacked;
pub mod scalar;
mod simd;
mod tasks;
pub mod threads;

pub use dispatch::{active_isa, Isa};
pub use gemm::{gemm, gemm_fused, gemm_fused_on, gemm_on, Epilogue, GemmArgs};
pub use prepacked::{gemm_prepacked, PackedB, PackedGemmArgs};
pub use threads::{num_threads, set_num_threads};

/// Binary element-wise operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    /// `a + b`
    Add,
    /// `a - b`
    Sub,
    /// `a * b`
    Mul,
    /// `a / b`
    Div,
    /// `max(a, b)`
    Max,
    /// `min(a, b)`
    Min,
    /// `a.powf(b)`
    Pow,
}

/// Unary element-wise operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    /// `-a`
    Neg,
    /// `|a|`
    Abs,
    /// `e^a`
    Exp,
    /// natural logarithm
    Ln,
    /// square root
    Sqrt,
    /// hyperbolic tangent
    Tanh,
    /// logistic sigmoid `1 / (1 + e^-a)`
    Sigmoid,
    /// `max(a, 0)`
    Relu,
    /// the error function
    Erf,
    /// sign: -1, 0 or 1
    Sign,
    /// `1 / a`
    Recip,
    /// `a * a`
    Square,
}

/// Reductions over a contiguous slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReduceOp {
    /// sum of the elements (0 for an empty slice)
    Sum,
    /// maximum (-inf for an empty slice)
    Max,
    /// minimum (+inf for an empty slice)
    Min,
}

/// The float element types the kernels are written for (f32 and f64).
pub trait KernelFloat: Copy + Send + Sync + 'static + num_traits::Float {
    /// `out[i] = a[i] op b[i]`.
    ///
    /// # Panics
    /// If the three slices differ in length.
    fn binary(op: BinaryOp, a: &[Self], b: &[Self], out: &mut [Self]);
    /// `out[i] = a[i] op s`.
    ///
    /// # Panics
    /// If the slices differ in length.
    fn binary_scalar(op: BinaryOp, a: &[Self], s: Self, out: &mut [Self]);
    /// `out[i] = s op a[i]`.
    ///
    /// # Panics
    /// If the slices differ in length.
    fn scalar_binary(op: BinaryOp, s: Self, a: &[Self], out: &mut [Self]);
    /// `out[i] = op(a[i])`.
    ///
    /// # Panics
    /// If the slices differ in length.
    fn unary(op: UnaryOp, a: &[Self], out: &mut [Self]);
    /// Reduction of a contiguous slice.
    fn reduce(op: ReduceOp, a: &[Self]) -> Self;
}

impl KernelFloat for f32 {
    fn binary(op: BinaryOp, a: &[f32], b: &[f32], out: &mut [f32]) {
        dispatch::binary(op, a, b, out)
    }
    fn binary_scalar(op: BinaryOp, a: &[f32], s: f32, out: &mut [f32]) {
        dispatch::binary_scalar(op, a, s, out)
    }
    fn scalar_binary(op: BinaryOp, s: f32, a: &[f32], out: &mut [f32]) {
        dispatch::scalar_binary(op, s, a, out)
    }
    fn unary(op: UnaryOp, a: &[f32], out: &mut [f32]) {
        dispatch::unary(op, a, out)
    }
    fn reduce(op: ReduceOp, a: &[f32]) -> f32 {
        dispatch::reduce(op, a)
    }
}

impl KernelFloat for f64 {
    fn binary(op: BinaryOp, a: &[f64], b: &[f64], out: &mut [f64]) {
        dispatch::binary(op, a, b, out)
    }
    fn binary_scalar(op: BinaryOp, a: &[f64], s: f64, out: &mut [f64]) {
        dispatch::binary_scalar(op, a, s, out)
    }
    fn scalar_binary(op: BinaryOp, s: f64, a: &[f64], out: &mut [f64]) {
        dispatch::scalar_binary(op, s, a, out)
    }
    fn unary(op: UnaryOp, a: &[f64], out: &mut [f64]) {
        dispatch::unary(op, a, out)
    }
    fn reduce(op: ReduceOp, a: &[f64]) -> f64 {
        dispatch::reduce(op, a)
    }
}
