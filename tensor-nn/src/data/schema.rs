//! Typed CSV columns: [`Value`], [`ColumnType`], [`Column`] and [`Schema`].

use serde::{Deserialize, Serialize};

use super::error::{DataError, Result};

/// The type of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ColumnType {
    /// 32-bit floats.
    Float,
    /// 64-bit signed integers.
    Int,
    /// UTF-8 strings.
    Str,
}

impl ColumnType {
    /// The type's name in messages: `float`, `int` or `string`.
    pub fn name(self) -> &'static str {
        match self {
            ColumnType::Float => "float",
            ColumnType::Int => "int",
            ColumnType::Str => "string",
        }
    }
}

/// One decoded field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Value {
    /// A float field.
    Float(f32),
    /// An integer field.
    Int(i64),
    /// A string field.
    Str(String),
}

impl Value {
    /// The value's type.
    pub fn kind(&self) -> ColumnType {
        match self {
            Value::Float(_) => ColumnType::Float,
            Value::Int(_) => ColumnType::Int,
            Value::Str(_) => ColumnType::Str,
        }
    }

    /// The value as a float: floats as they are, integers converted; `None` for strings.
    pub fn as_f32(&self) -> Option<f32> {
        match self {
            Value::Float(v) => Some(*v),
            Value::Int(v) => Some(*v as f32),
            Value::Str(_) => None,
        }
    }

    /// The value as an integer; `None` for floats and strings.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(v) => Some(*v),
            _ => None,
        }
    }

    /// The value as a string slice; `None` for numbers.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value written as text (integers in decimal, floats with Rust's shortest form), the
    /// key used by hashing and crossing layers.
    pub fn to_key(&self) -> String {
        match self {
            Value::Float(v) => v.to_string(),
            Value::Int(v) => v.to_string(),
            Value::Str(s) => s.clone(),
        }
    }
}

/// One decoded CSV row: a value per column of the schema, in order.
pub type Record = Vec<Value>;

/// A column: its name, type, and the value used when a field is empty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Column {
    /// The column's name.
    pub name: String,
    /// The column's type.
    pub kind: ColumnType,
    /// The value of an empty field; `None` makes an empty field an error.
    pub default: Option<Value>,
}

/// The typed columns of a CSV file, in file order.
///
/// ```
/// use tensor_nn::data::{ColumnType, Schema, Value};
/// let schema = Schema::new()
///     .column("carat", ColumnType::Float)
///     .column_with_default("cut", ColumnType::Str, Value::Str("Fair".into()));
/// assert_eq!(schema.index_of("cut").unwrap(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Schema {
    columns: Vec<Column>,
}

impl Schema {
    /// An empty schema.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a column with no default (an empty field is an error).
    pub fn column(mut self, name: &str, kind: ColumnType) -> Self {
        self.columns.push(Column {
            name: name.to_string(),
            kind,
            default: None,
        });
        self
    }

    /// Adds a column whose empty fields take `default`.
    pub fn column_with_default(mut self, name: &str, kind: ColumnType, default: Value) -> Self {
        self.columns.push(Column {
            name: name.to_string(),
            kind,
            default: Some(default),
        });
        self
    }

    /// The columns, in order.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// The number of columns.
    pub fn len(&self) -> usize {
        self.columns.len()
    }

    /// Whether there are no columns.
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    /// The position of the column called `name`.
    ///
    /// # Errors
    /// [`DataError::UnknownColumn`] when there is none.
    pub fn index_of(&self, name: &str) -> Result<usize> {
        self.columns
            .iter()
            .position(|c| c.name == name)
            .ok_or_else(|| DataError::UnknownColumn(name.to_string()))
    }

    /// Sets the default of an existing column.
    ///
    /// # Errors
    /// [`DataError::UnknownColumn`], or [`DataError::ColumnType`] when the default's type is
    /// not the column's (an integer default is accepted for a float column).
    pub fn set_default(&mut self, name: &str, default: Value) -> Result<()> {
        let i = self.index_of(name)?;
        let col = &mut self.columns[i];
        let default = match (col.kind, default) {
            (ColumnType::Float, Value::Int(v)) => Value::Float(v as f32),
            (kind, v) if v.kind() == kind => v,
            (kind, v) => {
                return Err(DataError::ColumnType {
                    column: name.to_string(),
                    expected: kind.name(),
                    found: v.kind().name(),
                })
            }
        };
        col.default = Some(default);
        Ok(())
    }

    /// Checks that names are unique and not empty.
    ///
    /// # Errors
    /// [`DataError::Schema`] naming the problem.
    pub fn validate(&self) -> Result<()> {
        if self.columns.is_empty() {
            return Err(DataError::Schema("a schema needs at least one column".into()));
        }
        for (i, c) in self.columns.iter().enumerate() {
            if self.columns[..i].iter().any(|d| d.name == c.name) {
                return Err(DataError::Schema(format!("duplicate column `{}`", c.name)));
            }
            if let Some(d) = &c.default {
                if d.kind() != c.kind {
                    return Err(DataError::ColumnType {
                        column: c.name.clone(),
                        expected: c.kind.name(),
                        found: d.kind().name(),
                    });
                }
            }
        }
        Ok(())
    }
}
