//! File sources: `list_files` (glob) and `text_lines`.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::dataset::{Dataset, ItemIter};
use super::error::{DataError, Result};
use super::rng::SplitMix64;

/// The order in which [`list_files`] returns its matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileOrder {
    /// Sorted by path (deterministic).
    Sorted,
    /// Shuffled with this seed, redrawn every epoch.
    Shuffled(u64),
}

/// The files matching a glob pattern such as `data/diamonds/part-*.csv` (`Dataset.list_files`).
///
/// The pattern is expanded once, now, so a pattern matching nothing is reported here.
///
/// # Errors
/// [`DataError::Pattern`] for a malformed pattern, [`DataError::NoMatch`] when nothing matches,
/// [`DataError::Io`] when a directory cannot be read.
pub fn list_files(pattern: &str, order: FileOrder) -> Result<Dataset<PathBuf>> {
    let paths = glob::glob(pattern).map_err(|e| DataError::Pattern {
        pattern: pattern.to_string(),
        message: e.to_string(),
    })?;
    let mut files = Vec::new();
    for entry in paths {
        match entry {
            Ok(p) => {
                if p.is_file() {
                    files.push(p);
                }
            }
            Err(e) => return Err(DataError::io(e.path(), e.error())),
        }
    }
    if files.is_empty() {
        return Err(DataError::NoMatch {
            pattern: pattern.to_string(),
        });
    }
    files.sort();
    let files = Arc::new(files);
    Ok(match order {
        FileOrder::Sorted => Dataset::from_vec(files.to_vec()),
        FileOrder::Shuffled(seed) => {
            let epoch = Arc::new(std::sync::atomic::AtomicU64::new(0));
            Dataset::from_maker(move || {
                let e = epoch.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let mut order = files.to_vec();
                SplitMix64::new(seed ^ e.wrapping_mul(0x9E37_79B9_7F4A_7C15)).shuffle(&mut order);
                Ok(Box::new(order.into_iter().map(Ok)) as ItemIter<PathBuf>)
            })
        }
    })
}

/// Opens a file, naming it in the error.
pub(crate) fn open(path: &Path) -> Result<File> {
    File::open(path).map_err(|e| DataError::io(path, &e))
}

/// The lines of one or more text files, in order, without their line endings
/// (`TextLineDataset`). A missing file is an error naming it, raised when the epoch reaches it.
pub fn text_lines<P: AsRef<Path>>(paths: &[P]) -> Dataset<String> {
    let paths: Vec<PathBuf> = paths.iter().map(|p| p.as_ref().to_path_buf()).collect();
    Dataset::from_vec(paths).flat_map(|p| text_file_lines(&p))
}

fn text_file_lines(path: &Path) -> Dataset<String> {
    let path = path.to_path_buf();
    Dataset::from_maker(move || {
        let reader = BufReader::with_capacity(1 << 16, open(&path)?);
        let path = path.clone();
        let mut lines = reader.lines();
        let mut failed = false;
        Ok(Box::new(std::iter::from_fn(move || {
            if failed {
                return None;
            }
            match lines.next()? {
                Ok(mut line) => {
                    if line.ends_with('\r') {
                        line.pop();
                    }
                    Some(Ok(line))
                }
                Err(e) => {
                    failed = true;
                    Some(Err(DataError::io(&path, &e)))
                }
            }
        })) as ItemIter<String>)
    })
}
