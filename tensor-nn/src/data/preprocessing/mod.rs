//! Preprocessing layers.
