//! The one error type of the data module: every variant names the file, line, column and value
//! involved where there is one.

use std::path::{Path, PathBuf};

use thiserror::Error;

/// Result alias of the data module.
pub type Result<T, E = DataError> = std::result::Result<T, E>;

/// Everything that can go wrong while reading, decoding or preprocessing data.
///
/// The enum is `Clone` so that cached pipelines can replay errors and parallel stages can hand
/// them across threads; I/O errors are kept as their kind and message.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum DataError {
    /// An input file does not exist.
    #[error("file not found: {}", path.display())]
    FileNotFound {
        /// The missing file.
        path: PathBuf,
    },
    /// Reading or writing a file failed.
    #[error("I/O error on {}: {message}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The kind of the underlying error.
        kind: std::io::ErrorKind,
        /// The underlying error's message.
        message: String,
    },
    /// A glob pattern is malformed.
    #[error("bad file pattern `{pattern}`: {message}")]
    Pattern {
        /// The pattern.
        pattern: String,
        /// Why it is malformed.
        message: String,
    },
    /// A glob pattern matched no file.
    #[error("no file matches `{pattern}`")]
    NoMatch {
        /// The pattern.
        pattern: String,
    },
    /// A CSV field could not be parsed as its column's type.
    #[error("{}:{line}: column `{column}` (#{index}): cannot parse {value:?} as {expected}", file.display())]
    Parse {
        /// The file.
        file: PathBuf,
        /// 1-based line number of the record.
        line: u64,
        /// The column's name.
        column: String,
        /// 1-based column number.
        index: usize,
        /// The offending field, as read.
        value: String,
        /// The column's type.
        expected: &'static str,
    },
    /// A CSV field is empty and its column has no default.
    #[error("{}:{line}: column `{column}` (#{index}): missing value and no default", file.display())]
    MissingValue {
        /// The file.
        file: PathBuf,
        /// 1-based line number of the record.
        line: u64,
        /// The column's name.
        column: String,
        /// 1-based column number.
        index: usize,
    },
    /// A CSV record has the wrong number of fields.
    #[error("{}:{line}: expected {expected} fields, found {found}", file.display())]
    FieldCount {
        /// The file.
        file: PathBuf,
        /// 1-based line number of the record.
        line: u64,
        /// Number of columns in the schema.
        expected: usize,
        /// Number of fields in the record.
        found: usize,
    },
    /// A quoted CSV field is never closed: read as it is, it would swallow the rest of the file.
    #[error(
        "{}:{line}:{position}: column #{index}: quoted field is never closed (it runs to the end of the file)",
        file.display()
    )]
    UnterminatedQuote {
        /// The file.
        file: PathBuf,
        /// 1-based physical line of the opening quote.
        line: u64,
        /// 1-based position of the opening quote in its line, in characters.
        position: u64,
        /// 1-based column (field) number of the quoted field.
        index: usize,
    },
    /// The CSV reader rejected the bytes (for example invalid UTF-8 in a field).
    #[error("{}:{line}: malformed CSV: {message}", file.display())]
    Malformed {
        /// The file.
        file: PathBuf,
        /// 1-based line number where the problem was seen.
        line: u64,
        /// The reader's message.
        message: String,
    },
    /// A schema or header problem (duplicate or unknown column, empty header, ...).
    #[error("schema: {0}")]
    Schema(String),
    /// A column asked for by name does not exist.
    #[error("unknown column `{0}`")]
    UnknownColumn(String),
    /// A column holds another type than the one asked for.
    #[error("column `{column}` holds {found}, not {expected}")]
    ColumnType {
        /// The column's name.
        column: String,
        /// The type asked for.
        expected: &'static str,
        /// The column's type.
        found: &'static str,
    },
    /// A pipeline argument is invalid (zero batch size, zero cycle length, ...).
    #[error("{op}: {message}")]
    Argument {
        /// The stage.
        op: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A preprocessing layer was used before `adapt` or before it was given its state.
    #[error("{layer}: not adapted (call `adapt` or give it a vocabulary/statistics first)")]
    NotAdapted {
        /// The layer.
        layer: &'static str,
    },
    /// An index is outside the range a layer accepts.
    #[error("{layer}: index {index} is out of range 0..{len}")]
    IndexOutOfRange {
        /// The layer.
        layer: &'static str,
        /// The offending index.
        index: i64,
        /// The number of valid indices.
        len: usize,
    },
    /// Inputs of inconsistent lengths or widths.
    #[error("{op}: expected {expected} values, got {got}")]
    Length {
        /// The operation.
        op: &'static str,
        /// The expected number.
        expected: usize,
        /// The number supplied.
        got: usize,
    },
    /// Serialising or deserialising state (a layer, a cache file) failed.
    #[error("serialisation: {0}")]
    Serde(String),
    /// A background stage (prefetch, parallel map) stopped unexpectedly.
    #[error("{stage}: worker thread stopped: {message}")]
    Worker {
        /// The stage.
        stage: &'static str,
        /// What happened.
        message: String,
    },
    /// A tensor could not be built from a batch.
    #[error(transparent)]
    Tensor(#[from] tensor_core::TensorError),
    /// An error raised by a user function in `try_map`, `try_filter` or `flat_map`.
    #[error("{0}")]
    User(String),
}

impl DataError {
    /// Wraps an I/O error on `path`, turning "not found" into [`DataError::FileNotFound`].
    pub fn io(path: &Path, err: &std::io::Error) -> Self {
        if err.kind() == std::io::ErrorKind::NotFound {
            DataError::FileNotFound {
                path: path.to_path_buf(),
            }
        } else {
            DataError::Io {
                path: path.to_path_buf(),
                kind: err.kind(),
                message: err.to_string(),
            }
        }
    }
}
