//! The IDX format of MNIST (optionally gzipped): magic `0 0 type rank`, big-endian `u32`
//! lengths, then big-endian data.
//!
//! ```
//! use tensor_nn::io::idx::{parse_idx, IdxData};
//! // a 2×2 array of u8: magic 0x00000802 (u8, rank 2), dims 2 and 2, then 4 bytes
//! let bytes = [0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3, 4];
//! let a = parse_idx(&bytes, "inline").unwrap();
//! assert_eq!(a.dims, vec![2, 2]);
//! assert_eq!(a.data, IdxData::U8(vec![1, 2, 3, 4]));
//! assert!(parse_idx(&bytes[..15], "inline").is_err());
//! ```

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use crate::error::{NnError, Result};

/// The elements of an IDX array.
#[derive(Debug, Clone, PartialEq)]
pub enum IdxData {
    /// Type code 0x08.
    U8(Vec<u8>),
    /// Type code 0x09.
    I8(Vec<i8>),
    /// Type code 0x0B.
    I16(Vec<i16>),
    /// Type code 0x0C.
    I32(Vec<i32>),
    /// Type code 0x0D.
    F32(Vec<f32>),
    /// Type code 0x0E.
    F64(Vec<f64>),
}

/// An n-dimensional array read from an IDX file.
#[derive(Debug, Clone, PartialEq)]
pub struct IdxArray {
    /// Lengths, outermost first.
    pub dims: Vec<usize>,
    /// The elements, row-major.
    pub data: IdxData,
}

impl IdxArray {
    /// The elements converted to `f32`.
    pub fn to_f32(&self) -> Vec<f32> {
        match &self.data {
            IdxData::U8(v) => v.iter().map(|&x| f32::from(x)).collect(),
            IdxData::I8(v) => v.iter().map(|&x| f32::from(x)).collect(),
            IdxData::I16(v) => v.iter().map(|&x| f32::from(x)).collect(),
            IdxData::I32(v) => v.iter().map(|&x| x as f32).collect(),
            IdxData::F32(v) => v.clone(),
            IdxData::F64(v) => v.iter().map(|&x| x as f32).collect(),
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.dims.iter().product()
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What an IDX header declares.
struct Header {
    /// The element type code.
    code: u8,
    /// The dims, outermost first.
    dims: Vec<usize>,
    /// The length of the header in bytes.
    len: usize,
    /// The length of the data the dims and the type call for, in bytes.
    count: usize,
}

/// Parses the header at the start of `bytes` (which may hold more than the header).
fn parse_header(bytes: &[u8], name: &str) -> Result<Header> {
    let bad = |reason: String| NnError::bad_file(name, reason);
    if bytes.len() < 4 {
        return Err(bad(format!("truncated IDX header ({} bytes)", bytes.len())));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(bad(format!(
            "not an IDX file: magic starts {:#04x} {:#04x}, expected 0x00 0x00",
            bytes[0], bytes[1]
        )));
    }
    let (code, rank) = (bytes[2], usize::from(bytes[3]));
    let width = match code {
        0x08 | 0x09 => 1,
        0x0B => 2,
        0x0C | 0x0D => 4,
        0x0E => 8,
        other => return Err(bad(format!("unknown IDX element type {other:#04x}"))),
    };
    let len = header_len(rank);
    if bytes.len() < len {
        return Err(bad(format!(
            "truncated IDX header: rank {rank} needs {len} bytes, file has {}",
            bytes.len()
        )));
    }
    let dims: Vec<usize> = (0..rank)
        .map(|i| {
            let b = &bytes[4 + 4 * i..8 + 4 * i];
            u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize
        })
        .collect();
    let count = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .and_then(|n| n.checked_mul(width))
        .ok_or_else(|| bad(format!("dimensions {dims:?} overflow")))?;
    Ok(Header {
        code,
        dims,
        len,
        count,
    })
}

/// The length of the header of an array of rank `rank`.
fn header_len(rank: usize) -> usize {
    4 + 4 * rank
}

impl Header {
    /// The error for data of `found` bytes (`None`: more than needed) where `count` are needed.
    fn wrong_length(&self, name: &str, found: Option<usize>) -> NnError {
        let (what, found) = match found {
            Some(n) if n < self.count => ("truncated", n.to_string()),
            Some(n) => ("trailing bytes in", n.to_string()),
            None => ("trailing bytes in", "more".to_string()),
        };
        NnError::bad_file(
            name,
            format!(
                "{what} IDX data: dims {:?} need {} bytes, found {found}",
                self.dims, self.count
            ),
        )
    }

    /// The array of this header and its data, `count` bytes.
    fn decode(self, body: &[u8]) -> IdxArray {
        let data = match self.code {
            0x08 => IdxData::U8(body.to_vec()),
            0x09 => IdxData::I8(body.iter().map(|&b| b as i8).collect()),
            0x0B => IdxData::I16(
                body.chunks_exact(2)
                    .map(|c| i16::from_be_bytes([c[0], c[1]]))
                    .collect(),
            ),
            0x0C => IdxData::I32(
                body.chunks_exact(4)
                    .map(|c| i32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            ),
            0x0D => IdxData::F32(
                body.chunks_exact(4)
                    .map(|c| f32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            ),
            _ => IdxData::F64(
                body.chunks_exact(8)
                    .map(|c| f64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                    .collect(),
            ),
        };
        IdxArray {
            dims: self.dims,
            data,
        }
    }
}

/// Parses IDX bytes (already decompressed). `name` is used in error messages.
///
/// # Errors
/// [`NnError::BadFile`] for a bad magic number, an unknown type code, or data shorter or longer
/// than the header promises.
pub fn parse_idx(bytes: &[u8], name: &str) -> Result<IdxArray> {
    let header = parse_header(bytes, name)?;
    let body = &bytes[header.len..];
    if body.len() != header.count {
        return Err(header.wrong_length(name, Some(body.len())));
    }
    Ok(header.decode(body))
}

/// Reads an IDX file, gunzipping it when it starts with the gzip magic (a gzip file of several
/// members, as `cat a.gz b.gz` makes, is read whole). The header is read and checked first and
/// then exactly the data it declares: memory is bounded by what the header declares and the
/// file holds, whatever the data would inflate to.
///
/// # Errors
/// [`NnError::Io`] when it cannot be read, [`NnError::BadFile`] when the gzip stream or the IDX
/// contents are truncated or corrupt, or when more data follows what the header declares.
pub fn read_idx(path: impl AsRef<Path>) -> Result<IdxArray> {
    let path = path.as_ref();
    let file = std::fs::File::open(path).map_err(|e| NnError::io(path, e))?;
    let mut file = BufReader::new(file);
    let gzip = file
        .fill_buf()
        .map_err(|e| NnError::io(path, e))?
        .starts_with(&[0x1f, 0x8b]);
    if gzip {
        let corrupt =
            |e: std::io::Error| NnError::bad_file(path, format!("corrupt or truncated gzip data: {e}"));
        read_idx_from(flate2::bufread::MultiGzDecoder::new(file), path, corrupt)
    } else {
        read_idx_from(file, path, |e| NnError::io(path, e))
    }
}

/// Reads an IDX array from `r`: the header, then the data it declares, then checks that
/// nothing follows. `io_error` turns a failed read into the error to report.
fn read_idx_from(
    mut r: impl Read,
    path: &Path,
    io_error: impl Fn(std::io::Error) -> NnError,
) -> Result<IdxArray> {
    let name = path.display().to_string();
    // Up to `to` bytes in all into `buf` (fewer at the end of the data).
    let mut fill = |buf: &mut Vec<u8>, to: usize| {
        let more = to.saturating_sub(buf.len()) as u64;
        r.by_ref().take(more).read_to_end(buf).map_err(&io_error)
    };
    let mut head = Vec::new();
    fill(&mut head, 4)?;
    if let Some(&rank) = head.get(3) {
        fill(&mut head, header_len(usize::from(rank)))?;
    }
    let header = parse_header(&head, &name)?;
    // Grown as the data arrives: a header declaring more than the file holds reserves nothing.
    let mut body = Vec::new();
    fill(&mut body, header.count)?;
    if body.len() < header.count {
        return Err(header.wrong_length(&name, Some(body.len())));
    }
    let mut extra = Vec::new();
    fill(&mut extra, 1)?;
    if !extra.is_empty() {
        return Err(header.wrong_length(&name, None));
    }
    Ok(header.decode(&body))
}

/// Images and labels of one split of an IDX classification dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct IdxSplit {
    /// Row-major `(samples, features)` pixel values scaled to `[0, 1]` (divided by 255 for u8).
    pub images: Vec<f32>,
    /// Features per sample (e.g. 784).
    pub features: usize,
    /// One class index per sample, as `f32`.
    pub labels: Vec<f32>,
}

impl IdxSplit {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the split has no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// Reads an image file and a label file with the same number of samples.
///
/// # Errors
/// As [`read_idx`], and [`NnError::Mismatch`] when the sample counts differ.
pub fn read_idx_split(images: impl AsRef<Path>, labels: impl AsRef<Path>) -> Result<IdxSplit> {
    let img = read_idx(images.as_ref())?;
    let lab = read_idx(labels.as_ref())?;
    let n = img.dims.first().copied().unwrap_or(0);
    if lab.dims.first().copied().unwrap_or(0) != n || lab.dims.len() != 1 {
        return Err(NnError::Mismatch {
            path: labels.as_ref().display().to_string(),
            reason: format!(
                "labels have dims {:?}, expected [{n}] to match {}",
                lab.dims,
                images.as_ref().display()
            ),
        });
    }
    let scale = if matches!(img.data, IdxData::U8(_)) {
        1.0 / 255.0
    } else {
        1.0
    };
    let features = img.len().checked_div(n).unwrap_or(0);
    Ok(IdxSplit {
        images: img.to_f32().into_iter().map(|x| x * scale).collect(),
        features,
        labels: lab.to_f32(),
    })
}

/// Loads `train-*` and `t10k-*` splits from a directory in MNIST's layout
/// (`{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]`).
///
/// # Errors
/// As [`read_idx_split`], and [`NnError::Io`] naming the file that is missing.
pub fn load_idx_dataset(dir: impl AsRef<Path>) -> Result<(IdxSplit, IdxSplit)> {
    let dir = dir.as_ref();
    let find = |stem: &str| {
        let gz = dir.join(format!("{stem}.gz"));
        if gz.exists() {
            gz
        } else {
            dir.join(stem)
        }
    };
    let train = read_idx_split(find("train-images-idx3-ubyte"), find("train-labels-idx1-ubyte"))?;
    let test = read_idx_split(find("t10k-images-idx3-ubyte"), find("t10k-labels-idx1-ubyte"))?;
    Ok((train, test))
}
