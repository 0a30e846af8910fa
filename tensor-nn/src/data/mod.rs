//! The input pipeline (in the style of `tf.data`) and the preprocessing layers (in the style of
//! Keras' preprocessing layers, covering every kind of the classic `tf.feature_column` API).
//!
//! A [`Dataset`] is a lazy recipe; [`Dataset::iter`] runs one epoch:
//!
//! ```no_run
//! use tensor_nn::data::{list_files, CsvFormat, CsvOptions, FileOrder, RecordBatch};
//! # fn main() -> Result<(), tensor_nn::data::DataError> {
//! let files = list_files("data/diamonds/*.csv", FileOrder::Sorted)?;
//! let first = files.collect_vec()?.remove(0);
//! let format = CsvFormat::new(&first, &CsvOptions::default())?;
//! let schema = format.schema().clone();
//! let batches = files
//!     .interleave(move |p| format.read(&p), 4, 16)
//!     .shuffle(10_000, 42, true)
//!     .batch(256, false)
//!     .try_map(move |rows| RecordBatch::from_records(schema.clone(), &rows))
//!     .prefetch(2);
//! for batch in batches.iter()? {
//!     let batch = batch?;
//!     println!("{} rows", batch.num_rows());
//! }
//! # Ok(()) }
//! ```

pub mod cache;
pub mod csv;
pub mod csv_batch;
mod csv_lines;
pub mod dataset;
pub mod error;
pub mod files;
mod float;
pub mod parallel;
pub mod preprocessing;
pub mod record_batch;
mod rng;
pub mod rows;
pub mod schema;
pub mod stages;

pub use self::csv::{csv, CsvFormat, CsvOptions};
pub use dataset::{from_tensor_slices, stack_rows, Dataset, DatasetIter, ErrorPolicy, TensorSlices};
pub use error::{DataError, Result};
pub use files::{list_files, text_lines, FileOrder};
pub use parallel::AUTOTUNE;
pub use record_batch::{ColumnData, RecordBatch};
pub use rows::Rows;
pub use schema::{Column, ColumnType, Record, Schema, Value};
pub use stages::Repeat;
