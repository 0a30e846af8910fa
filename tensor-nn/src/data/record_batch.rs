//! [`RecordBatch`]: a batch of CSV records stored by column, and its conversion to typed tensors.

use std::sync::Arc;

use tensor_core::{Shape, Tensor};

use super::error::{DataError, Result};
use super::schema::{ColumnType, Record, Schema, Value};

/// The values of one column of a batch.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnData {
    /// A float column.
    Float(Vec<f32>),
    /// An integer column.
    Int(Vec<i64>),
    /// A string column.
    Str(Vec<String>),
}

impl ColumnData {
    fn type_name(&self) -> &'static str {
        match self {
            ColumnData::Float(_) => ColumnType::Float.name(),
            ColumnData::Int(_) => ColumnType::Int.name(),
            ColumnData::Str(_) => ColumnType::Str.name(),
        }
    }

    /// The values as text keys (for lookups and hashing); see [`Value::to_key`].
    pub fn keys(&self) -> Vec<String> {
        match self {
            ColumnData::Float(v) => v.iter().map(f32::to_string).collect(),
            ColumnData::Int(v) => v.iter().map(i64::to_string).collect(),
            ColumnData::Str(v) => v.clone(),
        }
    }
}

/// A batch of records stored by column, made from the `Vec<Record>` of a batched CSV pipeline.
///
/// ```
/// use tensor_core::Tensor;
/// use tensor_nn::data::{ColumnType, RecordBatch, Schema, Value};
/// tensor_macros::dims! { crate = ::tensor_core; Batch; F = 2; }
/// let schema = Schema::new().column("a", ColumnType::Float).column("b", ColumnType::Int);
/// let rows = vec![vec![Value::Float(1.5), Value::Int(2)], vec![Value::Float(3.0), Value::Int(4)]];
/// let batch = RecordBatch::from_records(schema.into(), &rows).unwrap();
/// let x: Tensor<(Batch, F)> = batch.tensor(&["a", "b"]).unwrap();
/// assert_eq!(x.to_vec(), vec![1.5, 2.0, 3.0, 4.0]);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RecordBatch {
    schema: Arc<Schema>,
    columns: Vec<ColumnData>,
    rows: usize,
}

impl RecordBatch {
    /// Transposes records into columns.
    ///
    /// # Errors
    /// [`DataError::Length`] or [`DataError::ColumnType`] when a record does not follow the schema.
    pub fn from_records(schema: Arc<Schema>, records: &[Record]) -> Result<Self> {
        let n = records.len();
        let mut columns = Self::empty_columns(&schema, n);
        for rec in records {
            if rec.len() != columns.len() {
                return Err(DataError::Length {
                    op: "RecordBatch::from_records",
                    expected: columns.len(),
                    got: rec.len(),
                });
            }
            for ((col, v), c) in columns.iter_mut().zip(rec).zip(schema.columns()) {
                match (col, v) {
                    (ColumnData::Float(d), Value::Float(x)) => d.push(*x),
                    (ColumnData::Int(d), Value::Int(x)) => d.push(*x),
                    (ColumnData::Str(d), Value::Str(x)) => d.push(x.clone()),
                    (_, v) => {
                        return Err(DataError::ColumnType {
                            column: c.name.clone(),
                            expected: c.kind.name(),
                            found: v.kind().name(),
                        })
                    }
                }
            }
        }
        Ok(Self {
            schema,
            columns,
            rows: n,
        })
    }

    /// Empty columns of the schema's types, with room for `capacity` rows.
    pub(crate) fn empty_columns(schema: &Schema, capacity: usize) -> Vec<ColumnData> {
        schema
            .columns()
            .iter()
            .map(|c| match c.kind {
                ColumnType::Float => ColumnData::Float(Vec::with_capacity(capacity)),
                ColumnType::Int => ColumnData::Int(Vec::with_capacity(capacity)),
                ColumnType::Str => ColumnData::Str(Vec::with_capacity(capacity)),
            })
            .collect()
    }

    /// A batch from columns already filled with `rows` values of the schema's types.
    pub(crate) fn from_columns(schema: Arc<Schema>, columns: Vec<ColumnData>, rows: usize) -> Self {
        Self {
            schema,
            columns,
            rows,
        }
    }

    /// The number of rows.
    pub fn num_rows(&self) -> usize {
        self.rows
    }

    /// The schema.
    pub fn schema(&self) -> &Arc<Schema> {
        &self.schema
    }

    /// The column called `name`.
    ///
    /// # Errors
    /// [`DataError::UnknownColumn`].
    pub fn column(&self, name: &str) -> Result<&ColumnData> {
        Ok(&self.columns[self.schema.index_of(name)?])
    }

    /// A numeric column as floats (integers converted).
    ///
    /// # Errors
    /// [`DataError::UnknownColumn`], or [`DataError::ColumnType`] for a string column.
    pub fn floats(&self, name: &str) -> Result<Vec<f32>> {
        match self.column(name)? {
            ColumnData::Float(v) => Ok(v.clone()),
            ColumnData::Int(v) => Ok(v.iter().map(|&x| x as f32).collect()),
            c @ ColumnData::Str(_) => Err(DataError::ColumnType {
                column: name.to_string(),
                expected: "a number",
                found: c.type_name(),
            }),
        }
    }

    /// A string column.
    ///
    /// # Errors
    /// [`DataError::UnknownColumn`], or [`DataError::ColumnType`] for a numeric column.
    pub fn strings(&self, name: &str) -> Result<&[String]> {
        match self.column(name)? {
            ColumnData::Str(v) => Ok(v),
            c => Err(DataError::ColumnType {
                column: name.to_string(),
                expected: ColumnType::Str.name(),
                found: c.type_name(),
            }),
        }
    }

    /// Numeric columns stacked side by side into a typed `[rows, names.len()]` tensor, or a
    /// `[rows]` tensor for a rank-1 shape and one name (the usual label tensor).
    ///
    /// # Errors
    /// As [`RecordBatch::floats`]; [`DataError::Tensor`] when the lengths do not fit `S`.
    pub fn tensor<S: Shape>(&self, names: &[&str]) -> Result<Tensor<S>> {
        let cols: Vec<Vec<f32>> = names.iter().map(|n| self.floats(n)).collect::<Result<_>>()?;
        let k = cols.len();
        let mut data = Vec::with_capacity(self.rows * k);
        for r in 0..self.rows {
            data.extend(cols.iter().map(|c| c[r]));
        }
        let dims = if S::RANK == 1 && k == 1 {
            vec![self.rows]
        } else {
            vec![self.rows, k]
        };
        Ok(Tensor::<S>::from_vec_dims(data, &dims)?)
    }
}
