//! Atomic file writes: a temporary file in the same directory, fsync, rename, fsync of the
//! directory. A reader sees the old file or the new one, never a half-written one.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use crate::error::{NnError, Result};

/// Writes `bytes` to `path` atomically, creating the parent directory if needed.
///
/// # Errors
/// [`NnError::Io`] naming the path that failed.
pub fn write_atomic(path: impl AsRef<Path>, bytes: &[u8]) -> Result<()> {
    let path = path.as_ref();
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => Path::new(".").to_path_buf(),
    };
    fs::create_dir_all(&dir).map_err(|e| NnError::io(&dir, e))?;
    let file_name = path
        .file_name()
        .ok_or_else(|| NnError::invalid("write_atomic", format!("{} has no file name", path.display())))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        file_name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = File::create(&tmp).map_err(|e| NnError::io(&tmp, e))?;
        f.write_all(bytes).map_err(|e| NnError::io(&tmp, e))?;
        f.sync_all().map_err(|e| NnError::io(&tmp, e))?;
        drop(f);
        fs::rename(&tmp, path).map_err(|e| NnError::io(path, e))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
        return result;
    }
    // Make the rename itself durable; not every platform can open a directory, so a failure
    // here is not an error.
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}
