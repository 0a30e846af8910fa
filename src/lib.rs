//! Dimflow: deep learning and numerical computing in Rust with named dimensions checked at
//! compile time.
//!
//! ```
//! use dimflow::prelude::*;
//! dims! { Batch; Features = 3; }
//! let x = Tensor::<(Batch, Features)>::from_vec(vec![1., 2., 3., 4., 5., 6.], &[2]).unwrap();
//! assert_eq!(x.dims(), &[2, 3]);
//! ```

#![forbid(unsafe_code)]

pub use tensor_core;
pub use tensor_macros::{dims, model};
pub use tensor_nn;

/// Everything a Dimflow user needs in scope: `use dimflow::prelude::*;`.
pub mod prelude {
    pub use tensor_core::prelude::*;
    pub use tensor_macros::{dims, model};
}

/// Items named by macro-generated code. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use tensor_core::dim::assert_same_dim;
    pub use tensor_core::Dim;
    pub use tensor_core::{Float, Tensor};
    pub use tensor_nn::fused;
    pub use tensor_nn::{Model, ParamMut, ParamRef};
}
