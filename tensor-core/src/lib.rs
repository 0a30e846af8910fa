//! tensor-core: tensors whose shapes are tuples of named dimensions, checked at compile time,
//! with SIMD CPU kernels.
//!
//! ```
//! use tensor_core::prelude::*;
//! tensor_macros::dims! { crate = ::tensor_core; Batch; Features = 3; }
//!
//! let x = Tensor::<(Batch, Features)>::from_vec(vec![1., 2., 3., 4., 5., 6.], &[2]).unwrap();
//! assert_eq!(x.dims(), &[2, 3]);
//! ```
#![doc(test(attr(deny(warnings))))]
// `unsafe` lives only in the kernels (SIMD intrinsics, aligned buffers), each block with a
// `// SAFETY:` comment; everything else is safe code.
#![deny(unsafe_code)]

pub mod autodiff;
pub mod dim;
pub mod element;
pub mod error;
#[allow(unsafe_code)]
pub mod kernels;
pub mod layout;
pub mod ops;
pub mod shape;
pub mod storage;
pub mod tensor;

pub use dim::{Dim, SameDim};
pub use element::{Element, Float, Index, Num};
pub use error::{Result, TensorError};
pub use layout::Layout;
pub use ops::random::Rng;
pub use shape::Shape;
pub use tensor::Tensor;

/// Everything a user of typed tensors needs in scope.
pub mod prelude {
    pub use crate::autodiff::{check_gradients, CustomOp, GradientTape, Gradients, Variable};
    pub use crate::dim::{Dim, SameDim};
    pub use crate::element::{Element, Float};
    pub use crate::error::TensorError;
    pub use crate::ops::random::Rng;
    pub use crate::shape::Shape;
    pub use crate::tensor::Tensor;
}
