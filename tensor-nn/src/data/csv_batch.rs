//! Columnar CSV reading: records decoded straight into the columns of a [`RecordBatch`],
//! without a vector per row (the fast path, like `decode_csv` on a batch of lines).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::csv::{check_header, CsvFormat};
use super::csv_lines::{next_record, reader, Tracked};
use super::dataset::{Dataset, ItemIter};
use super::error::{DataError, Result};
use super::files::open;
use super::record_batch::{ColumnData, RecordBatch};
use super::schema::Value;
use super::stages::CAPACITY_HINT;

impl CsvFormat {
    /// Batches of up to `batch_size` records of one file, decoded into columns (the last batch
    /// of the file may be shorter). A bad row is an error element at its place in the stream;
    /// the batch around it keeps filling.
    pub fn read_batches(&self, path: &Path, batch_size: usize) -> Dataset<RecordBatch> {
        let format = self.clone();
        let path: Arc<Path> = Arc::from(path);
        Dataset::from_maker(move || {
            if batch_size == 0 {
                return Err(DataError::Argument {
                    op: "read_batches",
                    message: "batch size must be positive".into(),
                });
            }
            let file = open(&path)?;
            Ok(Box::new(BatchIter::new(
                format.clone(),
                Arc::clone(&path),
                file,
                batch_size,
            )) as ItemIter<RecordBatch>)
        })
    }

    /// [`CsvFormat::read_batches`] over several files in order (batches do not span files).
    pub fn read_all_batches<P: AsRef<Path>>(&self, paths: &[P], batch_size: usize) -> Dataset<RecordBatch> {
        let paths: Vec<PathBuf> = paths.iter().map(|p| p.as_ref().to_path_buf()).collect();
        let format = self.clone();
        Dataset::from_vec(paths).flat_map(move |p| format.read_batches(&p, batch_size))
    }
}

struct BatchIter<R: Read> {
    format: CsvFormat,
    path: Arc<Path>,
    rdr: csv::Reader<Tracked<R>>,
    rec: csv::ByteRecord,
    row: Vec<Value>,
    columns: Vec<ColumnData>,
    rows: usize,
    batch_size: usize,
    header_pending: bool,
    done: bool,
}

impl<R: Read> BatchIter<R> {
    fn new(format: CsvFormat, path: Arc<Path>, r: R, batch_size: usize) -> Self {
        let rdr = reader(format.delimiter(), r);
        let header_pending = format.has_header();
        let columns = RecordBatch::empty_columns(format.schema(), batch_size.min(CAPACITY_HINT));
        Self {
            format,
            path,
            rdr,
            rec: csv::ByteRecord::new(),
            row: Vec::new(),
            columns,
            rows: 0,
            batch_size,
            header_pending,
            done: false,
        }
    }

    fn take_batch(&mut self) -> RecordBatch {
        let fresh = RecordBatch::empty_columns(self.format.schema(), self.batch_size.min(CAPACITY_HINT));
        let columns = std::mem::replace(&mut self.columns, fresh);
        let rows = std::mem::take(&mut self.rows);
        RecordBatch::from_columns(Arc::clone(self.format.schema()), columns, rows)
    }
}

impl<R: Read> Iterator for BatchIter<R> {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Result<RecordBatch>> {
        while !self.done && self.rows < self.batch_size {
            let line = match next_record(&mut self.rdr, &mut self.rec, &self.path) {
                Ok(Some(line)) => line,
                Ok(None) => {
                    self.done = true;
                    break;
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            };
            if self.header_pending {
                self.header_pending = false;
                if let Err(e) = check_header(&self.format, &self.path, &self.rec) {
                    self.done = true;
                    return Some(Err(e));
                }
                continue;
            }
            if let Err(e) = self
                .format
                .decode_into(&self.path, line, &self.rec, &mut self.row)
            {
                return Some(Err(e));
            }
            push_row(&mut self.columns, &mut self.row);
            self.rows += 1;
        }
        if self.rows == 0 {
            return None;
        }
        Some(Ok(self.take_batch()))
    }
}

/// The records of up to one batch, split into fields but not typed yet.
struct RawChunk {
    data: Vec<u8>,
    field_ends: Vec<usize>,
    fields_per_record: Vec<usize>,
    lines: Vec<u64>,
}

impl CsvFormat {
    /// [`CsvFormat::read_batches`] with the typing spread over `num_threads` threads
    /// ([`AUTOTUNE`](super::AUTOTUNE): one per core): one background thread splits the file
    /// into records, batches of them are decoded in parallel, and batches come out in file
    /// order. A batch holding a bad row comes out one row short, after that row's error.
    pub fn read_batches_parallel(
        &self,
        path: &Path,
        batch_size: usize,
        num_threads: usize,
    ) -> Dataset<RecordBatch> {
        let format = self.clone();
        let path: Arc<Path> = Arc::from(path);
        let p = Arc::clone(&path);
        let raw = Dataset::from_maker(move || {
            if batch_size == 0 {
                return Err(DataError::Argument {
                    op: "read_batches_parallel",
                    message: "batch size must be positive".into(),
                });
            }
            let file = open(&p)?;
            Ok(Box::new(RawIter {
                format: format.clone(),
                path: Arc::clone(&p),
                rdr: reader(format.delimiter(), file),
                rec: csv::ByteRecord::new(),
                batch_size,
                header_pending: format.has_header(),
                done: false,
                rest: None,
            }) as ItemIter<RawChunk>)
        });
        let format = self.clone();
        let decoded = raw
            .prefetch(4)
            .map_parallel(move |chunk| format.decode_chunk(&path, &chunk), num_threads);
        decoded.derive_flatten()
    }

    /// Types a raw chunk: the good rows as one batch, preceded by the errors of the bad ones.
    fn decode_chunk(&self, path: &Path, chunk: &RawChunk) -> Vec<Result<RecordBatch>> {
        let mut out = Vec::new();
        let mut columns = RecordBatch::empty_columns(self.schema(), chunk.lines.len());
        let mut row = Vec::new();
        let mut rows = 0;
        let mut field = 0;
        let mut start = 0;
        for (r, &count) in chunk.fields_per_record.iter().enumerate() {
            let ends = &chunk.field_ends[field..field + count];
            let mut s = start;
            let fields = ends.iter().map(|&e| {
                let f = &chunk.data[s..e];
                s = e;
                f
            });
            let decoded = self.decode_fields(path, chunk.lines[r], fields, count, &mut row);
            field += count;
            start = ends.last().copied().unwrap_or(start);
            if let Err(e) = decoded {
                out.push(Err(e));
                continue;
            }
            push_row(&mut columns, &mut row);
            rows += 1;
        }
        if rows > 0 {
            out.push(Ok(RecordBatch::from_columns(
                Arc::clone(self.schema()),
                columns,
                rows,
            )));
        }
        out
    }
}

fn push_row(columns: &mut [ColumnData], row: &mut Vec<Value>) {
    for (col, v) in columns.iter_mut().zip(row.drain(..)) {
        match (col, v) {
            (ColumnData::Float(d), Value::Float(x)) => d.push(x),
            (ColumnData::Int(d), Value::Int(x)) => d.push(x),
            (ColumnData::Str(d), Value::Str(x)) => d.push(x),
            // Decoding only produces the schema's types.
            _ => {}
        }
    }
}

impl Dataset<Vec<Result<RecordBatch>>> {
    /// Flattens lists of results into the stream.
    fn derive_flatten(&self) -> Dataset<RecordBatch> {
        let up = Arc::clone(&self.make);
        self.derive(move || {
            Ok(Box::new(up()?.flat_map(|r| match r {
                Ok(v) => v,
                Err(e) => vec![Err(e)],
            })) as ItemIter<RecordBatch>)
        })
    }
}

struct RawIter<R: Read> {
    format: CsvFormat,
    path: Arc<Path>,
    rdr: csv::Reader<Tracked<R>>,
    rec: csv::ByteRecord,
    batch_size: usize,
    header_pending: bool,
    done: bool,
    /// The records read before an error that ended the file, handed out after the error (as
    /// the other readers do with a batch holding a bad row).
    rest: Option<RawChunk>,
}

impl<R: Read> Iterator for RawIter<R> {
    type Item = Result<RawChunk>;

    fn next(&mut self) -> Option<Result<RawChunk>> {
        if let Some(chunk) = self.rest.take() {
            return Some(Ok(chunk));
        }
        let mut chunk = RawChunk {
            data: Vec::new(),
            field_ends: Vec::new(),
            fields_per_record: Vec::with_capacity(self.batch_size.min(CAPACITY_HINT)),
            lines: Vec::with_capacity(self.batch_size.min(CAPACITY_HINT)),
        };
        while !self.done && chunk.lines.len() < self.batch_size {
            let line = match next_record(&mut self.rdr, &mut self.rec, &self.path) {
                Ok(Some(line)) => line,
                Ok(None) => {
                    self.done = true;
                    break;
                }
                Err(e) => {
                    self.done = true;
                    self.rest = Some(chunk).filter(|c| !c.lines.is_empty());
                    return Some(Err(e));
                }
            };
            if self.header_pending {
                self.header_pending = false;
                if let Err(e) = check_header(&self.format, &self.path, &self.rec) {
                    self.done = true;
                    return Some(Err(e));
                }
                continue;
            }
            for f in &self.rec {
                chunk.data.extend_from_slice(f);
                chunk.field_ends.push(chunk.data.len());
            }
            chunk.fields_per_record.push(self.rec.len());
            chunk.lines.push(line);
        }
        if chunk.lines.is_empty() {
            return None;
        }
        Some(Ok(chunk))
    }
}
