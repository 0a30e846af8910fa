//! The one error type of tensor-core.

use thiserror::Error;

/// Everything that can go wrong in tensor-core: each variant names the operation and the
/// dimensions and sizes involved.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TensorError {
    /// Data of the wrong length for the shape it is meant to fill.
    #[error("{op}: shape {shape} needs {expected} elements, got {got}")]
    DataLength {
        /// The operation.
        op: &'static str,
        /// The shape, written with names and sizes.
        shape: String,
        /// Expected number of elements.
        expected: usize,
        /// Number of elements supplied.
        got: usize,
    },
    /// Two tensors disagree on the run-time length of the same dimension.
    #[error("{op}: dimension `{dim}` has length {left} on the left but {right} on the right")]
    DimMismatch {
        /// The operation.
        op: &'static str,
        /// The dimension's name.
        dim: &'static str,
        /// Length on the left-hand side.
        left: usize,
        /// Length on the right-hand side.
        right: usize,
    },
    /// The wrong number of run-time sizes was supplied for a shape.
    #[error("{op}: shape {shape} has {expected} run-time dimension(s), got {got} size(s)")]
    RuntimeSizes {
        /// The operation.
        op: &'static str,
        /// The shape's dimension names.
        shape: String,
        /// Number of run-time dims in the shape.
        expected: usize,
        /// Number of sizes supplied.
        got: usize,
    },
    /// A dimension was given length zero, or a static dimension was given another length.
    #[error("{op}: dimension `{dim}` cannot have length {len}{reason}")]
    BadLength {
        /// The operation.
        op: &'static str,
        /// The dimension's name.
        dim: &'static str,
        /// The offending length.
        len: usize,
        /// Why (e.g. ", its static size is 784").
        reason: String,
    },
    /// An index outside `0..len`.
    #[error("{op}: index {index} is out of range for dimension `{dim}` of length {len}")]
    IndexOutOfRange {
        /// The operation.
        op: &'static str,
        /// The dimension's name.
        dim: &'static str,
        /// The offending index.
        index: i64,
        /// The dimension's length.
        len: usize,
    },
    /// Reshape between shapes of different element counts.
    #[error("{op}: cannot reshape {from} ({from_numel} elements) into {to}")]
    Reshape {
        /// The operation.
        op: &'static str,
        /// Source shape.
        from: String,
        /// Number of elements of the source.
        from_numel: usize,
        /// Target shape.
        to: String,
    },
    /// A slice range that does not fit the dimension.
    #[error("{op}: range {start}..{end} does not fit dimension `{dim}` of length {len}")]
    Range {
        /// The operation.
        op: &'static str,
        /// The dimension's name.
        dim: &'static str,
        /// Start of the range.
        start: usize,
        /// End of the range.
        end: usize,
        /// The dimension's length.
        len: usize,
    },
    /// An operation that needs at least one input got none.
    #[error("{op}: needs at least one tensor")]
    Empty {
        /// The operation.
        op: &'static str,
    },
    /// A gradient was asked for a value the tape did not record.
    #[error("gradient: {what} was not recorded on this gradient tape")]
    NotRecorded {
        /// What was not recorded.
        what: &'static str,
    },
    /// A gradient was asked for an intermediate value that was recorded but not watched.
    #[error("gradient: this value was computed on the tape but not watched; watch it with `tape.watch(&x)` and compute from the watched copy")]
    NotWatched,
    /// `gradient` of a target with more than one element, without an upstream gradient.
    #[error("gradient: the target {shape} is not a scalar; use `gradient_with(&target, &upstream)` with an upstream gradient of the same shape")]
    NonScalarTarget {
        /// The target's shape with names and lengths.
        shape: String,
    },
    /// A non-persistent tape was asked for gradients a second time.
    #[error("gradient: this tape already computed gradients and freed its record; use `GradientTape::persistent()` to ask more than once")]
    TapeUsed,
    /// `check_gradients` found an element whose gradient disagrees with finite differences.
    #[error("check_gradients: input {input}, element {index}: the tape gives {analytic}, finite differences give {numeric}")]
    GradientCheck {
        /// Which input (0-based).
        input: usize,
        /// Which element of it, row-major.
        index: usize,
        /// The tape's gradient (formatted, so that the enum stays `Eq`).
        analytic: String,
        /// The central finite difference (formatted).
        numeric: String,
    },
    /// A shape with more elements than one buffer can hold: the product of its lengths
    /// overflows `usize`, or the elements would take more than `isize::MAX` bytes.
    #[error("{op}: shape {shape} has more elements than one buffer can hold (at most {max} of {bytes} byte(s) each)")]
    TooLarge {
        /// The operation.
        op: &'static str,
        /// The shape, written with names and sizes.
        shape: String,
        /// The most elements of this type one buffer can hold.
        max: usize,
        /// Bytes per element.
        bytes: usize,
    },
}

/// Result alias of tensor-core.
pub type Result<T, E = TensorError> = core::result::Result<T, E>;
