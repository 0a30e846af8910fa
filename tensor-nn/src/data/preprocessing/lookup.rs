//! `StringLookup` and `IntegerLookup`: vocabulary indices with out-of-vocabulary buckets (the
//! classic `categorical_column_with_vocabulary_list` / `_file`).

use std::collections::HashMap;
use std::hash::Hash;
use std::io::{BufRead, BufReader};
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::hashing::fnv1a64;
use crate::data::error::{DataError, Result};

/// A key a [`Lookup`] can index: strings or integers.
pub trait LookupKey: Clone + Eq + Hash + Ord + Serialize + DeserializeOwned + Send + Sync {
    /// The key's bytes for OOV hashing (strings: UTF-8; integers: decimal text, as Keras does).
    fn hash_bytes(&self) -> Vec<u8>;
    /// Parses a line of a vocabulary file.
    fn parse(text: &str) -> Option<Self>;
}

impl LookupKey for String {
    fn hash_bytes(&self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }
    fn parse(text: &str) -> Option<Self> {
        Some(text.to_string())
    }
}

impl LookupKey for i64 {
    fn hash_bytes(&self) -> Vec<u8> {
        self.to_string().into_bytes()
    }
    fn parse(text: &str) -> Option<Self> {
        text.trim().parse().ok()
    }
}

#[derive(Serialize, Deserialize)]
struct LookupState<K> {
    vocabulary: Vec<K>,
    num_oov_indices: usize,
}

/// Maps keys to integer indices as Keras' `StringLookup`/`IntegerLookup` with `mask_token=None`
/// and `output_mode="int"`: indices `0..num_oov_indices` are the out-of-vocabulary buckets
/// (a key not in the vocabulary goes to `fnv1a64(key) % num_oov_indices`), then the vocabulary
/// in order. Feed the indices to [`CategoryEncoding`](super::CategoryEncoding) for one-hot or
/// multi-hot, or to an [`Embedding`](super::Embedding).
///
/// ```
/// use tensor_nn::data::preprocessing::StringLookup;
/// let lookup = StringLookup::with_vocabulary(vec!["a".into(), "b".into()], 1).unwrap();
/// assert_eq!(lookup.apply(&["b".to_string(), "z".to_string()]), vec![2, 0]);
/// assert_eq!(lookup.vocabulary_size(), 3);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "LookupState<K>", into = "LookupState<K>")]
#[serde(bound(serialize = "K: LookupKey", deserialize = "K: LookupKey"))]
pub struct Lookup<K: LookupKey> {
    vocabulary: Vec<K>,
    num_oov_indices: usize,
    index: HashMap<K, usize>,
}

/// String keys (`StringLookup`).
pub type StringLookup = Lookup<String>;
/// Integer keys (`IntegerLookup`).
pub type IntegerLookup = Lookup<i64>;

impl<K: LookupKey> From<LookupState<K>> for Lookup<K> {
    fn from(s: LookupState<K>) -> Self {
        Self::build(s.vocabulary, s.num_oov_indices)
    }
}

impl<K: LookupKey> From<Lookup<K>> for LookupState<K> {
    fn from(l: Lookup<K>) -> Self {
        Self {
            vocabulary: l.vocabulary,
            num_oov_indices: l.num_oov_indices,
        }
    }
}

impl<K: LookupKey> Lookup<K> {
    fn build(vocabulary: Vec<K>, num_oov_indices: usize) -> Self {
        let index = vocabulary
            .iter()
            .enumerate()
            .map(|(i, k)| (k.clone(), i + num_oov_indices))
            .collect();
        Self {
            vocabulary,
            num_oov_indices,
            index,
        }
    }

    /// A layer with a given vocabulary (no duplicates).
    ///
    /// # Errors
    /// [`DataError::Argument`] for a duplicate key, or for no OOV index and an empty vocabulary.
    pub fn with_vocabulary(vocabulary: Vec<K>, num_oov_indices: usize) -> Result<Self> {
        let l = Self::build(vocabulary, num_oov_indices);
        if l.index.len() != l.vocabulary.len() {
            return Err(DataError::Argument {
                op: "Lookup",
                message: "the vocabulary has duplicate keys".into(),
            });
        }
        if l.vocabulary_size() == 0 {
            return Err(DataError::Argument {
                op: "Lookup",
                message: "empty vocabulary and no OOV index".into(),
            });
        }
        Ok(l)
    }

    /// A layer whose vocabulary is read from a file, one key per line (blank lines skipped).
    ///
    /// # Errors
    /// A missing file (named), a line that is not a key (file and line named), duplicates.
    pub fn from_vocabulary_file(path: &Path, num_oov_indices: usize) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(|e| DataError::io(path, &e))?;
        let mut vocab = Vec::new();
        for (i, line) in BufReader::new(file).lines().enumerate() {
            let line = line.map_err(|e| DataError::io(path, &e))?;
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() {
                continue;
            }
            let key = K::parse(line).ok_or_else(|| DataError::Parse {
                file: path.to_path_buf(),
                line: i as u64 + 1,
                column: "vocabulary".into(),
                index: 1,
                value: line.to_string(),
                expected: "a vocabulary key",
            })?;
            vocab.push(key);
        }
        Self::with_vocabulary(vocab, num_oov_indices)
    }

    /// Builds the vocabulary from data: keys by decreasing frequency, ties in increasing key
    /// order, keeping at most `max_tokens - num_oov_indices` keys when `max_tokens` is given
    /// (Keras counts the OOV indices in `max_tokens` too).
    ///
    /// # Errors
    /// As [`Lookup::with_vocabulary`].
    pub fn adapt<'a>(
        keys: impl IntoIterator<Item = &'a K>,
        num_oov_indices: usize,
        max_tokens: Option<usize>,
    ) -> Result<Self>
    where
        K: 'a,
    {
        let mut counts: HashMap<&K, u64> = HashMap::new();
        for k in keys {
            *counts.entry(k).or_insert(0) += 1;
        }
        let mut order: Vec<(&K, u64)> = counts.into_iter().collect();
        order.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        let keep = max_tokens.map_or(order.len(), |m| m.saturating_sub(num_oov_indices));
        let vocab = order.into_iter().take(keep).map(|(k, _)| k.clone()).collect();
        Self::with_vocabulary(vocab, num_oov_indices)
    }

    /// The vocabulary, in index order (without the OOV indices).
    pub fn vocabulary(&self) -> &[K] {
        &self.vocabulary
    }

    /// The number of OOV indices.
    pub fn num_oov_indices(&self) -> usize {
        self.num_oov_indices
    }

    /// The number of distinct outputs: vocabulary plus OOV indices.
    pub fn vocabulary_size(&self) -> usize {
        self.vocabulary.len() + self.num_oov_indices
    }

    /// The index of one key. With no OOV index, an unknown key is an error.
    ///
    /// # Errors
    /// [`DataError::Argument`] for an unknown key when `num_oov_indices == 0`.
    pub fn try_index(&self, key: &K) -> Result<usize> {
        if let Some(&i) = self.index.get(key) {
            return Ok(i);
        }
        match self.num_oov_indices {
            0 => Err(DataError::Argument {
                op: "Lookup",
                message: "key not in the vocabulary and no OOV index".into(),
            }),
            1 => Ok(0),
            n => Ok((fnv1a64(&key.hash_bytes()) % n as u64) as usize),
        }
    }

    /// The index of every key; with no OOV index, unknown keys map to `vocabulary_size()`
    /// (one past the end) — use [`Lookup::try_index`] to get an error instead.
    pub fn apply(&self, keys: &[K]) -> Vec<usize> {
        keys.iter()
            .map(|k| self.try_index(k).unwrap_or(self.vocabulary_size()))
            .collect()
    }
}
