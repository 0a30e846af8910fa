//! Atomic file writes: a temporary file in the same directory, fsync, rename, fsync of the
//! directory. A reader sees the old file or the new one, never a half-written one.
//!
//! The temporary file of `dir/name` is `dir/.name.tmp-{pid}`. A process killed mid-write
//! leaves its temporary file behind; the next write to the same path removes those of
//! processes that no longer run (see [`write_atomic`]).

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use crate::error::{NnError, Result};

/// Writes `bytes` to `path` atomically, creating the parent directory if needed.
///
/// First it removes the temporary files that earlier writes to `path` left behind when their
/// process died: the files named `.{name}.tmp-{pid}` exactly (`name` being `path`'s file
/// name, `pid` all digits) whose process is not running. Where the running processes cannot
/// be told (no `/proc`), only this process's own leftover is removed. Nothing else in the
/// directory is touched, and failing to remove one is not an error.
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
    let prefix = format!(".{}.tmp-", file_name.to_string_lossy());
    remove_stale(&dir, &prefix);
    let tmp = dir.join(format!("{prefix}{}", std::process::id()));
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

/// Removes the files `{prefix}{pid}` in `dir` whose process is not running (see
/// [`write_atomic`]).
fn remove_stale(dir: &Path, prefix: &str) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let own = std::process::id().to_string();
    // Linux (and others with procfs) list every running process under /proc.
    let procfs = Path::new("/proc/self").exists();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix(prefix)) else {
            continue;
        };
        if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let dead = if procfs {
            pid == own || !Path::new("/proc").join(pid).exists()
        } else {
            pid == own
        };
        if dead && entry.file_type().is_ok_and(|t| t.is_file()) {
            let _ = fs::remove_file(entry.path());
        }
    }
}
