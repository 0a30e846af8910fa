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

use std::io::Read;
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

/// Parses IDX bytes (already decompressed). `name` is used in error messages.
///
/// # Errors
/// [`NnError::BadFile`] for a bad magic number, an unknown type code, or data shorter or longer
/// than the header promises.
pub fn parse_idx(bytes: &[u8], name: &str) -> Result<IdxArray> {
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
    let header = 4 + 4 * rank;
    if bytes.len() < header {
        return Err(bad(format!(
            "truncated IDX header: rank {rank} needs {header} bytes, file has {}",
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
    let body = &bytes[header..];
    if body.len() != count {
        let what = if body.len() < count {
            "truncated"
        } else {
            "trailing bytes in"
        };
        return Err(bad(format!(
            "{what} IDX data: dims {dims:?} need {count} bytes, found {}",
            body.len()
        )));
    }
    let data = match code {
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
    Ok(IdxArray { dims, data })
}

/// Reads an IDX file, gunzipping it when it starts with the gzip magic.
///
/// # Errors
/// [`NnError::Io`] when it cannot be read, [`NnError::BadFile`] when the gzip stream or the IDX
/// contents are truncated or corrupt.
pub fn read_idx(path: impl AsRef<Path>) -> Result<IdxArray> {
    let path = path.as_ref();
    let raw = std::fs::read(path).map_err(|e| NnError::io(path, e))?;
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .map_err(|e| NnError::bad_file(path, format!("corrupt or truncated gzip data: {e}")))?;
        out
    } else {
        raw
    };
    parse_idx(&bytes, &path.display().to_string())
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
