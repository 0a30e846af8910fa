//! `Hashing` and `HashedCrossing`: hash buckets (the classic `categorical_column_with_hash_bucket`
//! and `crossed_column`), with a fixed, documented hash.

use serde::{Deserialize, Serialize};

use crate::data::error::{DataError, Result};

/// 64-bit FNV-1a (Fowler–Noll–Vo): offset basis `0xcbf29ce484222325`, prime `0x100000001b3`,
/// XOR then multiply per byte. Fixed and seed-stable across platforms and versions (Keras uses
/// FarmHash64, so bucket numbers differ from Keras'; the distribution properties are what matter).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The separator between the features of a crossed key, as in `tf.sparse.cross` output.
pub const CROSS_SEPARATOR: &str = "_X_";

fn bucket(key: &str, salt: Option<u64>, num_bins: usize) -> usize {
    let h = match salt {
        None => fnv1a64(key.as_bytes()),
        Some(s) => {
            let mut bytes = s.to_le_bytes().to_vec();
            bytes.extend_from_slice(key.as_bytes());
            fnv1a64(&bytes)
        }
    };
    (h % num_bins as u64) as usize
}

fn check_bins(op: &'static str, num_bins: usize) -> Result<()> {
    if num_bins == 0 {
        return Err(DataError::Argument {
            op,
            message: "num_bins must be positive".into(),
        });
    }
    Ok(())
}

/// Maps strings (or numbers written as text, see [`Value::to_key`](crate::data::Value::to_key))
/// to `fnv1a64(key) % num_bins`; with a salt, the salt's 8 little-endian bytes are hashed
/// before the key.
///
/// ```
/// use tensor_nn::data::preprocessing::Hashing;
/// let h = Hashing::new(1000, None).unwrap();
/// // FNV-1a of "a" is 0xaf63dc4c8601ec8c = 12638187200555641996.
/// assert_eq!(h.apply(&["a"]), vec![(12638187200555641996u64 % 1000) as usize]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hashing {
    num_bins: usize,
    salt: Option<u64>,
}

impl Hashing {
    /// A layer with `num_bins` buckets.
    ///
    /// # Errors
    /// [`DataError::Argument`] for zero bins.
    pub fn new(num_bins: usize, salt: Option<u64>) -> Result<Self> {
        check_bins("Hashing", num_bins)?;
        Ok(Self { num_bins, salt })
    }

    /// The number of buckets.
    pub fn num_bins(&self) -> usize {
        self.num_bins
    }

    /// The bucket of every key.
    pub fn apply<S: AsRef<str>>(&self, keys: &[S]) -> Vec<usize> {
        keys.iter()
            .map(|k| bucket(k.as_ref(), self.salt, self.num_bins))
            .collect()
    }
}

/// Crosses several categorical features into one hashed feature: row `i`'s key is the
/// features' keys joined by [`CROSS_SEPARATOR`] (`"male_X_1"`), bucketed as by [`Hashing`].
///
/// ```
/// use tensor_nn::data::preprocessing::{fnv1a64, HashedCrossing};
/// let cross = HashedCrossing::new(16).unwrap();
/// let sex = ["male", "female"];
/// let class = ["1", "3"];
/// let out = cross.apply(&[&sex[..], &class[..]]).unwrap();
/// assert_eq!(out[0], (fnv1a64(b"male_X_1") % 16) as usize);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HashedCrossing {
    num_bins: usize,
}

impl HashedCrossing {
    /// A layer with `num_bins` buckets.
    ///
    /// # Errors
    /// [`DataError::Argument`] for zero bins.
    pub fn new(num_bins: usize) -> Result<Self> {
        check_bins("HashedCrossing", num_bins)?;
        Ok(Self { num_bins })
    }

    /// The number of buckets.
    pub fn num_bins(&self) -> usize {
        self.num_bins
    }

    /// The crossed bucket of every row, given each feature's column of keys.
    ///
    /// # Errors
    /// [`DataError::Length`] when the columns differ in length, [`DataError::Argument`] for
    /// fewer than two features.
    pub fn apply<S: AsRef<str>>(&self, features: &[&[S]]) -> Result<Vec<usize>> {
        if features.len() < 2 {
            return Err(DataError::Argument {
                op: "HashedCrossing",
                message: "crossing needs at least two features".into(),
            });
        }
        let n = features[0].len();
        if let Some(bad) = features.iter().find(|f| f.len() != n) {
            return Err(DataError::Length {
                op: "HashedCrossing::apply",
                expected: n,
                got: bad.len(),
            });
        }
        let mut key = String::new();
        Ok((0..n)
            .map(|i| {
                key.clear();
                for (j, f) in features.iter().enumerate() {
                    if j > 0 {
                        key.push_str(CROSS_SEPARATOR);
                    }
                    key.push_str(f[i].as_ref());
                }
                bucket(&key, None, self.num_bins)
            })
            .collect())
    }
}
