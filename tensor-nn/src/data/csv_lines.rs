//! The physical lines of a CSV file: its bytes scanned on their way to the `csv` crate's
//! parser, for the line each record starts on and a quoted field left open at the end.

use std::collections::VecDeque;
use std::io::Read;
use std::path::Path;

use super::error::{DataError, Result};

/// The CSV parser of a file: quoted fields, `\r`, `\n` or `\r\n` line ends, blank lines
/// skipped, records of any length (the readers check the count).
pub(crate) fn reader<R: Read>(delimiter: u8, r: R) -> csv::Reader<Tracked<R>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .buffer_capacity(1 << 16)
        .from_reader(Tracked::new(delimiter, r))
}

/// Reads the next record of `path` into `rec`: its physical line (where it starts), or `None`
/// at the end of the file.
///
/// # Errors
/// An I/O error, or [`DataError::UnterminatedQuote`] for the last record of a file that ends
/// inside a quoted field. Either ends the file.
pub(crate) fn next_record<R: Read>(
    rdr: &mut csv::Reader<Tracked<R>>,
    rec: &mut csv::ByteRecord,
    path: &Path,
) -> Result<Option<u64>> {
    let before = rdr.position().line();
    if !rdr
        .read_byte_record(rec)
        .map_err(|e| csv_error(path, before, &e))?
    {
        return Ok(None);
    }
    let scan = rdr.get_mut();
    let line = scan.starts.pop_front().unwrap_or(before);
    if scan.eof && scan.starts.is_empty() && scan.state == Scan::InQuoted {
        let (line, position, index) = scan.quote;
        return Err(DataError::UnterminatedQuote {
            file: path.to_path_buf(),
            line,
            position,
            index,
        });
    }
    Ok(Some(line))
}

/// Where the scan of a [`Tracked`] reader is within the CSV grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scan {
    /// Between records, skipping line ends.
    StartRecord,
    /// At the start of a field.
    StartField,
    /// In an unquoted field.
    InField,
    /// In a quoted field.
    InQuoted,
    /// Just after a quote in a quoted field: the end of the quote, or the first of `""`.
    QuoteInQuoted,
}

/// The bytes of a CSV file on their way to the `csv` crate's parser, scanned with the same
/// rules as that parser (`"` opens a quoted field only at the start of a field, `""` is a quote
/// inside one, `\r` and `\n` end records, blank lines are skipped, a UTF-8 BOM at the start is
/// dropped) for what it does not report: the physical line each record starts on (its own
/// count lags behind blank lines and the `\n` of `\r\n`) and a quoted field left open at the
/// end of the file.
pub(crate) struct Tracked<R> {
    inner: R,
    delimiter: u8,
    state: Scan,
    /// Current physical line, 1-based.
    line: u64,
    /// Characters seen so far on the current line.
    column: u64,
    /// Whether the last byte was a `\r` (so that a `\n` after it ends no further line).
    after_cr: bool,
    /// 1-based number of the current field in its record.
    field: usize,
    /// Line, position and field number of the last opening quote.
    quote: (u64, u64, usize),
    /// Start lines of the records scanned but not yet handed out by [`next_record`].
    starts: VecDeque<u64>,
    /// Whether any byte was read (a BOM is only looked for in the first read).
    started: bool,
    /// Whether the inner reader reported the end of the file.
    eof: bool,
}

impl<R> Tracked<R> {
    fn new(delimiter: u8, inner: R) -> Self {
        Self {
            inner,
            delimiter,
            state: Scan::StartRecord,
            line: 1,
            column: 0,
            after_cr: false,
            field: 1,
            quote: (1, 1, 1),
            starts: VecDeque::new(),
            started: false,
            eof: false,
        }
    }

    /// The state after a byte that is not an opening quote, outside a quoted field: the next
    /// field after a delimiter, the next record after a line end, else in the field.
    fn unquoted(&mut self, delim: bool, term: bool) -> Scan {
        if delim {
            self.field += 1;
            Scan::StartField
        } else if term {
            Scan::StartRecord
        } else {
            Scan::InField
        }
    }

    /// Follows one byte: the parser's state, then the physical line and column.
    fn step(&mut self, b: u8) {
        // UTF-8 continuation bytes do not start a character.
        let column = self.column + u64::from(b & 0xC0 != 0x80);
        let term = b == b'\r' || b == b'\n';
        let quote = b == b'"';
        let delim = b == self.delimiter;
        self.state = match self.state {
            Scan::StartRecord if term => Scan::StartRecord,
            Scan::StartRecord | Scan::StartField => {
                if self.state == Scan::StartRecord {
                    self.starts.push_back(self.line);
                    self.field = 1;
                }
                if quote {
                    self.quote = (self.line, column, self.field);
                    Scan::InQuoted
                } else {
                    self.unquoted(delim, term)
                }
            }
            Scan::InQuoted if quote => Scan::QuoteInQuoted,
            Scan::InQuoted => Scan::InQuoted,
            Scan::QuoteInQuoted if quote => Scan::InQuoted,
            Scan::InField | Scan::QuoteInQuoted => self.unquoted(delim, term),
        };
        // `\n`, `\r\n` and a lone `\r` each end one line.
        if b == b'\r' || (b == b'\n' && !self.after_cr) {
            self.line += 1;
            self.column = 0;
        } else if b != b'\n' {
            self.column = column;
        }
        self.after_cr = b == b'\r';
    }
}

impl<R: Read> Read for Tracked<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.eof = true;
        }
        let mut bytes = &buf[..n];
        if !self.started && n > 0 {
            // The parser drops a BOM seen whole in its first input, which is this read.
            self.started = true;
            bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
        }
        for &b in bytes {
            self.step(b);
        }
        Ok(n)
    }
}

/// An error of the `csv` crate for a record of `path` starting on `line`, as a [`DataError`]
/// (the parser's own position where it has one).
pub(crate) fn csv_error(path: &Path, line: u64, e: &csv::Error) -> DataError {
    match e.kind() {
        csv::ErrorKind::Io(io) => DataError::io(path, io),
        _ => DataError::Malformed {
            file: path.to_path_buf(),
            line: e.position().map_or(line, csv::Position::line),
            message: e.to_string(),
        },
    }
}
