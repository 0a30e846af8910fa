//! Comparisons to boolean masks, and `where_` selection.

use super::{check_trailing, or_panic};
use crate::element::Element;
use crate::error::Result;
use crate::shape::Shape;
use crate::storage::buffer_from_iter;
use crate::tensor::Tensor;

macro_rules! compare_methods {
    ($($name:ident, $try_name:ident, $op:tt, $doc:literal;)*) => {
        impl<S: Shape, E: Element> Tensor<S, E> {
            $(
                #[doc = concat!("Mask of `self ", $doc, " rhs`, element-wise.")]
                ///
                /// # Errors
                /// [`crate::TensorError::DimMismatch`] when run-time lengths differ.
                pub fn $try_name(&self, rhs: &Tensor<S, E>) -> Result<Tensor<S, bool>> {
                    self.try_zip_map(rhs, |a, b| a $op b)
                }
                #[doc = concat!("Mask of `self ", $doc, " rhs`, element-wise.")]
                ///
                /// # Panics
                /// When run-time lengths differ.
                #[track_caller]
                pub fn $name(&self, rhs: &Tensor<S, E>) -> Tensor<S, bool> {
                    or_panic(self.$try_name(rhs))
                }
            )*
        }
    };
}

compare_methods! {
    gt, try_gt, >, ">";
    ge, try_ge, >=, ">=";
    lt, try_lt, <, "<";
    le, try_le, <=, "<=";
    eq_elem, try_eq_elem, ==, "==";
    ne_elem, try_ne_elem, !=, "!=";
}

impl<S: Shape, E: Element> Tensor<S, E> {
    /// Mask of `self > s`.
    pub fn gt_scalar(&self, s: E) -> Tensor<S, bool> {
        self.map(|x| x > s)
    }
    /// Mask of `self < s`.
    pub fn lt_scalar(&self, s: E) -> Tensor<S, bool> {
        self.map(|x| x < s)
    }
}

impl<S: Shape> Tensor<S, bool> {
    /// Picks `on_true` where the mask is true and `on_false` elsewhere (NumPy's `where`).
    ///
    /// # Errors
    /// [`crate::TensorError::DimMismatch`] when run-time lengths differ.
    pub fn try_select<E: Element>(
        &self,
        on_true: &Tensor<S, E>,
        on_false: &Tensor<S, E>,
    ) -> Result<Tensor<S, E>> {
        check_trailing("select", S::NAMES, self.dims(), on_true.dims())?;
        check_trailing("select", S::NAMES, self.dims(), on_false.dims())?;
        let (m, t, f) = (self.to_vec(), on_true.to_vec(), on_false.to_vec());
        let buf = buffer_from_iter(
            m.iter()
                .zip(t.iter().zip(&f))
                .map(|(&c, (&x, &y))| if c { x } else { y }),
        );
        Ok(Tensor::from_buffer(buf, self.dims()))
    }

    /// Picks `on_true` where the mask is true and `on_false` elsewhere (NumPy's `where`).
    ///
    /// # Panics
    /// When run-time lengths differ.
    #[track_caller]
    pub fn select<E: Element>(&self, on_true: &Tensor<S, E>, on_false: &Tensor<S, E>) -> Tensor<S, E> {
        or_panic(self.try_select(on_true, on_false))
    }

    /// Number of true elements.
    pub fn count_true(&self) -> usize {
        self.to_vec().into_iter().filter(|&b| b).count()
    }
}
