//! Storage: a reference-counted, 64-byte-aligned buffer shared by tensor views.

use std::sync::Arc;

use aligned_vec::{AVec, ConstAlign};

/// The aligned element buffer (64 bytes: one cache line, one AVX-512 register).
pub type Buffer<E> = AVec<E, ConstAlign<64>>;

/// Shared storage of a tensor and its views.
pub type Storage<E> = Arc<Buffer<E>>;

/// Builds a buffer from an iterator.
pub fn buffer_from_iter<E>(it: impl IntoIterator<Item = E>) -> Buffer<E> {
    AVec::from_iter(64, it)
}

/// Builds a buffer holding a copy of `s`.
pub fn buffer_from_slice<E: Copy>(s: &[E]) -> Buffer<E> {
    AVec::from_slice(64, s)
}

/// A buffer of `n` copies of `v`.
pub fn buffer_filled<E: Copy>(n: usize, v: E) -> Buffer<E> {
    AVec::from_iter(64, core::iter::repeat_n(v, n))
}
