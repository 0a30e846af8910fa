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

/// Builds a buffer holding a copy of `s` (one `memcpy`: `AVec::from_slice` and `from_iter`
/// write element by element, several times slower on large batches).
pub fn buffer_from_slice<E: Copy>(s: &[E]) -> Buffer<E> {
    let mut buf = AVec::with_capacity(64, s.len());
    buf.extend_from_slice(s);
    buf
}

/// A buffer of `n` copies of `v`, written a block at a time.
pub fn buffer_filled<E: Copy>(n: usize, v: E) -> Buffer<E> {
    const BLOCK: usize = 256;
    let block = [v; BLOCK];
    let mut buf = AVec::with_capacity(64, n);
    let mut left = n;
    while left > 0 {
        let take = left.min(BLOCK);
        buf.extend_from_slice(&block[..take]);
        left -= take;
    }
    buf
}
