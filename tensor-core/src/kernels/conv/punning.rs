//! Views of a generic slice as its concrete element type, for kernels written per type and
//! called from code generic over `F`.

use std::any::TypeId;

/// Whether `F` and `E` are the same type.
pub(super) fn same_type<F: 'static, E: 'static>() -> bool {
    TypeId::of::<F>() == TypeId::of::<E>()
}

/// Reinterprets a slice of `F` as a slice of `E`.
///
/// # Safety
/// `F` and `E` must be the same type.
pub(super) unsafe fn cast<F, E>(x: &[F]) -> &[E] {
    // SAFETY: the caller guarantees `F` is `E`: same size, alignment and validity.
    unsafe { std::slice::from_raw_parts(x.as_ptr().cast::<E>(), x.len()) }
}

/// Reinterprets a mutable slice of `F` as one of `E`.
///
/// # Safety
/// `F` and `E` must be the same type.
pub(super) unsafe fn cast_mut<F, E>(x: &mut [F]) -> &mut [E] {
    // SAFETY: the caller guarantees `F` is `E`; the borrow of `x` is moved into the result.
    unsafe { std::slice::from_raw_parts_mut(x.as_mut_ptr().cast::<E>(), x.len()) }
}
