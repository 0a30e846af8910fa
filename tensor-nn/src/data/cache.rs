//! `cache`: keep the elements of the first complete epoch in memory or in a file and replay
//! them in later epochs.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::dataset::{Dataset, ItemIter};
use super::error::{DataError, Result};

type Stored<T> = Arc<Vec<Result<T>>>;

impl<T: Clone + Send + Sync + 'static> Dataset<T> {
    /// Keeps the elements (errors included) of the first epoch that runs to its end in memory;
    /// later epochs replay them without running the stages above. An epoch abandoned half-way
    /// stores nothing.
    pub fn cache(&self) -> Dataset<T> {
        let up = Arc::clone(&self.make);
        let store: Arc<Mutex<Option<Stored<T>>>> = Arc::new(Mutex::new(None));
        self.derive(move || {
            let cached = store.lock().ok().and_then(|s| s.clone());
            if let Some(items) = cached {
                return Ok(Box::new((0..items.len()).map(move |i| items[i].clone())) as ItemIter<T>);
            }
            let mut it = up()?;
            let store = Arc::clone(&store);
            let mut seen: Vec<Result<T>> = Vec::new();
            let mut finished = false;
            Ok(Box::new(std::iter::from_fn(move || {
                if finished {
                    return None;
                }
                match it.next() {
                    Some(item) => {
                        seen.push(item.clone());
                        Some(item)
                    }
                    None => {
                        finished = true;
                        if let Ok(mut s) = store.lock() {
                            *s = Some(Arc::new(std::mem::take(&mut seen)));
                        }
                        None
                    }
                }
            })) as ItemIter<T>)
        })
    }
}

impl<T: Serialize + DeserializeOwned + Send + 'static> Dataset<T> {
    /// Like [`Dataset::cache`] but in a file of JSON lines at `path`: the first complete epoch
    /// writes `path` (through a temporary file renamed at the end, so an interrupted epoch
    /// leaves no half cache), and every epoch after that — in this process or a later one —
    /// reads it. Errors are not stored: the replayed epochs hold only the good elements.
    pub fn cache_file(&self, path: impl AsRef<Path>) -> Dataset<T> {
        let up = Arc::clone(&self.make);
        let path: PathBuf = path.as_ref().to_path_buf();
        self.derive(move || {
            if path.is_file() {
                return read_cache(&path);
            }
            let mut tmp = path.clone().into_os_string();
            tmp.push(format!(".tmp-{}", std::process::id()));
            let tmp = PathBuf::from(tmp);
            let file = File::create(&tmp).map_err(|e| DataError::io(&tmp, &e))?;
            let mut out = Some(BufWriter::new(file));
            let mut it = up()?;
            let final_path = path.clone();
            Ok(Box::new(std::iter::from_fn(move || match it.next() {
                Some(Ok(x)) => {
                    if let Some(w) = out.as_mut() {
                        let line = serde_json::to_string(&x).map_err(|e| DataError::Serde(e.to_string()));
                        let written =
                            line.and_then(|l| writeln!(w, "{l}").map_err(|e| DataError::io(&tmp, &e)));
                        if let Err(e) = written {
                            out = None;
                            let _ = std::fs::remove_file(&tmp);
                            return Some(Err(e));
                        }
                    }
                    Some(Ok(x))
                }
                Some(Err(e)) => Some(Err(e)),
                None => {
                    if let Some(mut w) = out.take() {
                        let done = w
                            .flush()
                            .and_then(|()| std::fs::rename(&tmp, &final_path))
                            .map_err(|e| DataError::io(&final_path, &e));
                        if let Err(e) = done {
                            let _ = std::fs::remove_file(&tmp);
                            return Some(Err(e));
                        }
                    }
                    None
                }
            })) as ItemIter<T>)
        })
    }
}

fn read_cache<T: DeserializeOwned + Send + 'static>(path: &Path) -> Result<ItemIter<T>> {
    let file = File::open(path).map_err(|e| DataError::io(path, &e))?;
    let path = path.to_path_buf();
    let mut lines = BufReader::new(file).lines().enumerate();
    Ok(Box::new(std::iter::from_fn(move || {
        let (i, line) = lines.next()?;
        Some(match line {
            Ok(l) => serde_json::from_str(&l)
                .map_err(|e| DataError::Serde(format!("{}:{}: {e}", path.display(), i + 1))),
            Err(e) => Err(DataError::io(&path, &e)),
        })
    })))
}
