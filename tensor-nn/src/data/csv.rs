//! CSV decoding: typed columns from a [`Schema`] or inferred from the header and first rows,
//! quoted fields (RFC 4180, via the `csv` crate), per-column defaults for missing values, and
//! errors that name the file, line, column and value.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::csv_lines::{next_record, reader, Tracked};
use super::dataset::{Dataset, ItemIter};
use super::error::{DataError, Result};
use super::files::open;
use super::float::parse_f32;
use super::schema::{ColumnType, Record, Schema, Value};

/// How to read CSV files.
///
/// ```
/// use tensor_nn::data::{CsvOptions, Value};
/// let opts = CsvOptions::default().delimiter(b';').default_value("age", Value::Float(-1.0));
/// assert!(opts.has_header());
/// ```
#[derive(Debug, Clone)]
pub struct CsvOptions {
    header: bool,
    delimiter: u8,
    schema: Option<Schema>,
    infer_rows: usize,
    defaults: Vec<(String, Value)>,
}

impl Default for CsvOptions {
    fn default() -> Self {
        Self {
            header: true,
            delimiter: b',',
            schema: None,
            infer_rows: 1000,
            defaults: Vec::new(),
        }
    }
}

impl CsvOptions {
    /// Whether the first line of every file is a header (default `true`).
    pub fn header(mut self, header: bool) -> Self {
        self.header = header;
        self
    }

    /// Whether the first line of every file is a header.
    pub fn has_header(&self) -> bool {
        self.header
    }

    /// The field separator (default `,`).
    pub fn delimiter(mut self, delimiter: u8) -> Self {
        self.delimiter = delimiter;
        self
    }

    /// Use this schema instead of inferring one.
    pub fn schema(mut self, schema: Schema) -> Self {
        self.schema = Some(schema);
        self
    }

    /// How many rows type inference looks at (default 1000).
    pub fn infer_rows(mut self, n: usize) -> Self {
        self.infer_rows = n;
        self
    }

    /// The value of an empty field in column `name` (applied after inference).
    pub fn default_value(mut self, name: &str, value: Value) -> Self {
        self.defaults.push((name.to_string(), value));
        self
    }
}

/// A resolved way of decoding CSV files: the schema plus the options. Cheap to clone.
#[derive(Debug, Clone)]
pub struct CsvFormat {
    schema: Arc<Schema>,
    header: bool,
    delimiter: u8,
}

impl CsvFormat {
    /// The format given by `opts`, inferring the schema from `sample` (usually the first file)
    /// when the options carry none. Inference reads the header for names (or names the columns
    /// `column_1`, ...) and types each column as `int` if every non-empty field of the first
    /// rows parses as an integer, else `float` if they parse as floats, else `string`. String
    /// columns default to the empty string; numeric ones have no default unless given with
    /// [`CsvOptions::default_value`]. A column empty in every row looked at (such as the one a
    /// trailing comma adds) is `float` with default NaN, as pandas reads it; an empty header
    /// name becomes `Unnamed: i` (`i` counted from 0, as in pandas). Rows with the wrong number
    /// of fields, and a row whose quoted field is never closed, are ignored by inference
    /// (reading reports them).
    ///
    /// # Errors
    /// A missing or unreadable `sample`, an empty file, a header that is not UTF-8 or whose
    /// quoted name is never closed ([`DataError::UnterminatedQuote`]), bad defaults.
    pub fn new(sample: &Path, opts: &CsvOptions) -> Result<Self> {
        let mut schema = match &opts.schema {
            Some(s) => s.clone(),
            None => infer_schema(sample, opts)?,
        };
        for (name, value) in &opts.defaults {
            schema.set_default(name, value.clone())?;
        }
        schema.validate()?;
        Ok(Self {
            schema: Arc::new(schema),
            header: opts.header,
            delimiter: opts.delimiter,
        })
    }

    /// The format for an explicit schema.
    ///
    /// # Errors
    /// [`DataError::Schema`] for an empty schema or duplicate names.
    pub fn with_schema(schema: Schema, header: bool, delimiter: u8) -> Result<Self> {
        schema.validate()?;
        Ok(Self {
            schema: Arc::new(schema),
            header,
            delimiter,
        })
    }

    /// The schema the records follow.
    pub fn schema(&self) -> &Arc<Schema> {
        &self.schema
    }

    /// Whether each file starts with a header.
    pub fn has_header(&self) -> bool {
        self.header
    }

    /// The field separator.
    pub fn delimiter(&self) -> u8 {
        self.delimiter
    }

    /// The records of one file. A missing file is an error naming it when the epoch starts;
    /// a bad row is an error naming file, physical line (counting blank lines and every line
    /// end, `\n`, `\r\n` or `\r`), column and value (a value longer than 64 bytes shortened
    /// to its start and length), and reading goes on with the next row (see
    /// [`ErrorPolicy`](super::ErrorPolicy)). A float beyond the range of `f32` is an error, not
    /// an infinity (only `inf`, `infinity` and `nan` spelled out are read as such); a quoted
    /// field that is never closed is a [`DataError::UnterminatedQuote`] naming where it opened.
    pub fn read(&self, path: &Path) -> Dataset<Record> {
        let format = self.clone();
        let path: Arc<Path> = Arc::from(path);
        Dataset::from_maker(move || {
            let file = open(&path)?;
            Ok(Box::new(RecordIter::new(format.clone(), Arc::clone(&path), file)) as ItemIter<Record>)
        })
    }

    /// The records of several files, one after the other.
    pub fn read_all<P: AsRef<Path>>(&self, paths: &[P]) -> Dataset<Record> {
        let paths: Vec<PathBuf> = paths.iter().map(|p| p.as_ref().to_path_buf()).collect();
        let format = self.clone();
        Dataset::from_vec(paths).flat_map(move |p| format.read(&p))
    }

    /// Decodes one record's fields; `line` is 1-based.
    fn decode(&self, file: &Path, line: u64, rec: &csv::ByteRecord) -> Result<Record> {
        let mut out = Vec::with_capacity(rec.len());
        self.decode_into(file, line, rec, &mut out)?;
        Ok(out)
    }

    /// Decodes one record's fields into `out` (cleared first); `line` is 1-based.
    pub(crate) fn decode_into(
        &self,
        file: &Path,
        line: u64,
        rec: &csv::ByteRecord,
        out: &mut Vec<Value>,
    ) -> Result<()> {
        self.decode_fields(file, line, rec.iter(), rec.len(), out)
    }

    /// Decodes `count` fields into `out` (cleared first); `line` is 1-based.
    pub(crate) fn decode_fields<'a>(
        &self,
        file: &Path,
        line: u64,
        fields: impl Iterator<Item = &'a [u8]>,
        count: usize,
        out: &mut Vec<Value>,
    ) -> Result<()> {
        out.clear();
        let cols = self.schema.columns();
        if count != cols.len() {
            return Err(DataError::FieldCount {
                file: file.to_path_buf(),
                line,
                expected: cols.len(),
                found: count,
            });
        }
        for (i, (field, col)) in fields.zip(cols).enumerate() {
            let bad = |expected: &'static str| DataError::Parse {
                file: file.to_path_buf(),
                line,
                column: col.name.clone(),
                index: i + 1,
                value: shorten(field),
                expected,
            };
            if field.is_empty() {
                match &col.default {
                    Some(v) => {
                        out.push(v.clone());
                        continue;
                    }
                    None => {
                        return Err(DataError::MissingValue {
                            file: file.to_path_buf(),
                            line,
                            column: col.name.clone(),
                            index: i + 1,
                        })
                    }
                }
            }
            let text = std::str::from_utf8(field).map_err(|_| bad("UTF-8 text"))?;
            let value = match col.kind {
                ColumnType::Float => Value::Float(parse_float(text).map_err(bad)?),
                ColumnType::Int => Value::Int(text.trim().parse().map_err(|_| bad("int"))?),
                ColumnType::Str => Value::Str(text.to_string()),
            };
            out.push(value);
        }
        Ok(())
    }
}

/// Reads CSV files into records of the given options: a shorthand for
/// `CsvFormat::new(first file, opts)?.read_all(paths)`, returning the schema too.
///
/// # Errors
/// As [`CsvFormat::new`] on the first file; [`DataError::Argument`] for an empty path list.
///
/// ```no_run
/// use tensor_nn::data::{csv, CsvOptions};
/// let (ds, schema) = csv(&["data/titanic/titanic.csv"], CsvOptions::default()).unwrap();
/// println!("{} columns", schema.len());
/// for row in ds.iter().unwrap() {
///     let row = row.unwrap();
///     assert_eq!(row.len(), schema.len());
/// }
/// ```
pub fn csv<P: AsRef<Path>>(paths: &[P], opts: CsvOptions) -> Result<(Dataset<Record>, Arc<Schema>)> {
    let first = paths.first().ok_or_else(|| DataError::Argument {
        op: "csv",
        message: "no file given".into(),
    })?;
    let format = CsvFormat::new(first.as_ref(), &opts)?;
    let schema = Arc::clone(format.schema());
    Ok((format.read_all(paths), schema))
}

/// What a float field that does not fit in `f32` is expected to be, in [`DataError::Parse`].
const FLOAT_IN_RANGE: &str = "float within the f32 range (magnitude at most 3.4028235e38)";

/// A float field: a value too large for `f32` is an error, not an infinity, unless the field
/// spells an infinity out (`inf`, `infinity`, any case, with a sign or not).
fn parse_float(text: &str) -> std::result::Result<f32, &'static str> {
    let v = parse_f32(text).ok_or("float")?;
    if v.is_infinite() {
        let t = text.trim();
        let t = t.strip_prefix(['+', '-']).unwrap_or(t);
        if !(t.eq_ignore_ascii_case("inf") || t.eq_ignore_ascii_case("infinity")) {
            return Err(FLOAT_IN_RANGE);
        }
    }
    Ok(v)
}

/// A field as quoted in an error: as it is up to 64 bytes, else its start and its length.
fn shorten(field: &[u8]) -> String {
    const KEEP: usize = 32;
    if field.len() <= 2 * KEEP {
        return String::from_utf8_lossy(field).into_owned();
    }
    let start = String::from_utf8_lossy(&field[..KEEP]);
    format!(
        "{}... ({} bytes)",
        start.trim_end_matches('\u{fffd}'),
        field.len()
    )
}

/// The name of column `i` (0-based) from its header field: trimmed, `Unnamed: i` when empty.
fn header_name(i: usize, field: &str) -> String {
    let name = field.trim();
    if name.is_empty() {
        format!("Unnamed: {i}")
    } else {
        name.to_string()
    }
}

fn infer_schema(path: &Path, opts: &CsvOptions) -> Result<Schema> {
    let mut rdr = reader(opts.delimiter, open(path)?);
    let mut rec = csv::ByteRecord::new();
    let mut names: Option<Vec<String>> = None;
    // Per column: can every field seen so far be an int / a float? Was any field not empty?
    let mut int_ok: Vec<bool> = Vec::new();
    let mut float_ok: Vec<bool> = Vec::new();
    let mut seen: Vec<bool> = Vec::new();
    let mut rows = 0usize;
    while rows < opts.infer_rows {
        let line = match next_record(&mut rdr, &mut rec, path) {
            Ok(Some(line)) => line,
            Ok(None) => break,
            // An open quote in a data row is the file's last record: reading reports it.
            Err(DataError::UnterminatedQuote { .. }) if names.is_some() => break,
            Err(e) => return Err(e),
        };
        if names.is_none() {
            let v: Vec<String> = if opts.header {
                let mut v = Vec::with_capacity(rec.len());
                for (i, field) in rec.iter().enumerate() {
                    let name = std::str::from_utf8(field).map_err(|_| DataError::Malformed {
                        file: path.to_path_buf(),
                        line,
                        message: format!("header name #{} is not UTF-8", i + 1),
                    })?;
                    v.push(header_name(i, name));
                }
                v
            } else {
                (1..=rec.len()).map(|i| format!("column_{i}")).collect()
            };
            int_ok = vec![true; v.len()];
            float_ok = vec![true; v.len()];
            seen = vec![false; v.len()];
            names = Some(v);
            if opts.header {
                continue;
            }
        }
        if rec.len() != int_ok.len() {
            // A malformed row says nothing about the types; reading reports it later.
            continue;
        }
        for (i, field) in rec.iter().enumerate() {
            if field.is_empty() {
                continue;
            }
            seen[i] = true;
            let text = std::str::from_utf8(field).unwrap_or("\u{fffd}");
            if int_ok[i] && text.trim().parse::<i64>().is_err() {
                int_ok[i] = false;
            }
            // A float out of range still makes a float column: reading reports the value.
            if float_ok[i] && parse_f32(text).is_none() {
                float_ok[i] = false;
            }
        }
        rows += 1;
    }
    let names = names.ok_or_else(|| DataError::Schema(format!("{}: empty file", path.display())))?;
    let mut schema = Schema::new();
    for (i, name) in names.iter().enumerate() {
        schema = if rows == 0 || (seen[i] && !float_ok[i]) {
            schema.column_with_default(name, ColumnType::Str, Value::Str(String::new()))
        } else if !seen[i] {
            schema.column_with_default(name, ColumnType::Float, Value::Float(f32::NAN))
        } else if int_ok[i] {
            schema.column(name, ColumnType::Int)
        } else {
            schema.column(name, ColumnType::Float)
        };
    }
    Ok(schema)
}

/// Streams the records of one open file.
struct RecordIter<R: Read> {
    format: CsvFormat,
    path: Arc<Path>,
    rdr: csv::Reader<Tracked<R>>,
    rec: csv::ByteRecord,
    header_pending: bool,
    done: bool,
}

impl<R: Read> RecordIter<R> {
    fn new(format: CsvFormat, path: Arc<Path>, r: R) -> Self {
        let rdr = reader(format.delimiter, r);
        let header_pending = format.header;
        Self {
            format,
            path,
            rdr,
            rec: csv::ByteRecord::new(),
            header_pending,
            done: false,
        }
    }

    fn check_header(&self) -> Result<()> {
        check_header(&self.format, &self.path, &self.rec)
    }
}

/// Checks a file's header row against the schema.
pub(crate) fn check_header(format: &CsvFormat, path: &Path, rec: &csv::ByteRecord) -> Result<()> {
    {
        let cols = format.schema.columns();
        let same = rec.len() == cols.len()
            && rec
                .iter()
                .enumerate()
                .zip(cols)
                .all(|((i, f), c)| std::str::from_utf8(f).is_ok_and(|s| header_name(i, s) == c.name));
        if same {
            return Ok(());
        }
        let found: Vec<String> = rec
            .iter()
            .map(|f| String::from_utf8_lossy(f).into_owned())
            .collect();
        let expected: Vec<&str> = cols.iter().map(|c| c.name.as_str()).collect();
        Err(DataError::Schema(format!(
            "{}: header {found:?} does not match the schema's columns {expected:?}",
            path.display()
        )))
    }
}

impl<R: Read> Iterator for RecordIter<R> {
    type Item = Result<Record>;

    fn next(&mut self) -> Option<Result<Record>> {
        if self.done {
            return None;
        }
        let line = match next_record(&mut self.rdr, &mut self.rec, &self.path) {
            Ok(Some(line)) => line,
            Ok(None) => {
                self.done = true;
                return None;
            }
            Err(e) => {
                self.done = true;
                return Some(Err(e));
            }
        };
        if self.header_pending {
            self.header_pending = false;
            if let Err(e) = self.check_header() {
                self.done = true;
                return Some(Err(e));
            }
            return self.next();
        }
        Some(self.format.decode(&self.path, line, &self.rec))
    }
}
