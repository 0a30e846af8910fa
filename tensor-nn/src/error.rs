//! The one error type of tensor-nn.

use thiserror::Error;

/// Everything that can go wrong in tensor-nn: each variant names what was being done and the
/// sizes or names involved.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum NnError {
    /// Two buffers that must agree in length do not.
    #[error("{op}: {what} has {got} elements, expected {expected}")]
    Length {
        /// The operation.
        op: &'static str,
        /// Which buffer.
        what: &'static str,
        /// Expected number of elements.
        expected: usize,
        /// Number of elements supplied.
        got: usize,
    },
    /// An argument outside its valid range.
    #[error("{op}: invalid argument: {reason}")]
    InvalidArgument {
        /// The operation.
        op: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A file that is truncated, corrupted or not in the expected format.
    #[error("{path}: {reason}")]
    BadFile {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A weights file that does not match the model (missing, extra or reshaped parameters).
    #[error("{path}: {reason}")]
    Mismatch {
        /// The file.
        path: String,
        /// What does not match.
        reason: String,
    },
    /// An I/O error, with the path involved.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An error from tensor-core.
    #[error(transparent)]
    Tensor(#[from] tensor_core::TensorError),
    /// An error from the input pipeline (a malformed row with its file, line and column, a
    /// missing file, a failing stage), met by `fit`, `evaluate` or `predict` on a `Dataset`.
    #[error("input pipeline: {0}")]
    Data(#[from] crate::data::DataError),
    /// A NaN or infinity in a gradient, a parameter or the loss: the optimizer refused the
    /// update, or `fit` stopped (see [`NonFinite`](crate::non_finite::NonFinite)).
    #[error("{0}")]
    NonFinite(Box<crate::non_finite::NonFinite>),
    /// A collective operation of distributed training that did not complete in time on this
    /// worker: another worker stopped, hung or cannot be reached.
    #[error(
        "collective timeout: {op} did not complete on worker {rank} of {size} within {timeout:?}; {detail}"
    )]
    CollectiveTimeout {
        /// The collective operation.
        op: &'static str,
        /// This worker's rank.
        rank: usize,
        /// The number of workers.
        size: usize,
        /// How long this worker waited.
        timeout: std::time::Duration,
        /// Which workers did not arrive, and what the others answered.
        detail: String,
    },
}

/// Result with [`NnError`].
pub type Result<T, E = NnError> = std::result::Result<T, E>;

impl NnError {
    pub(crate) fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> Self {
        NnError::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }

    pub(crate) fn bad_file(path: impl AsRef<std::path::Path>, reason: impl Into<String>) -> Self {
        NnError::BadFile {
            path: path.as_ref().display().to_string(),
            reason: reason.into(),
        }
    }

    pub(crate) fn invalid(op: &'static str, reason: impl Into<String>) -> Self {
        NnError::InvalidArgument {
            op,
            reason: reason.into(),
        }
    }
}

pub(crate) fn check_len(op: &'static str, what: &'static str, expected: usize, got: usize) -> Result<()> {
    if expected == got {
        Ok(())
    } else {
        Err(NnError::Length {
            op,
            what,
            expected,
            got,
        })
    }
}
