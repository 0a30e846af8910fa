//! [`FeatureLayer`]: raw record batches to the dense inputs of a wide & deep model — sparse
//! one-hot and crossed features for the wide part, embeddings and normalised numerics for the
//! deep part — with every layer adapted on the data and serialisable with the model.

use serde::{Deserialize, Serialize};

use super::{
    CategoryEncoding, Discretization, Embedding, HashedCrossing, Hashing, Normalization, OutputMode,
    StringLookup,
};
use crate::data::dataset::Dataset;
use crate::data::error::{DataError, Result};
use crate::data::record_batch::{ColumnData, RecordBatch};
use crate::model::{ParamMut, ParamRef};

/// What to make of one column (or of several, for a cross). The classic feature-column kinds:
///
/// | kind | classic API | goes to |
/// |---|---|---|
/// | [`Numeric`](FeatureSpec::Numeric) | `numeric_column` + normaliser | deep |
/// | [`Bucketized`](FeatureSpec::Bucketized) | `bucketized_column` + `indicator_column` | wide |
/// | [`Indicator`](FeatureSpec::Indicator) | vocabulary list/file + `indicator_column` | wide |
/// | [`Identity`](FeatureSpec::Identity) | `categorical_column_with_identity` + indicator | wide |
/// | [`Hashed`](FeatureSpec::Hashed) | `categorical_column_with_hash_bucket` + indicator | wide |
/// | [`Crossed`](FeatureSpec::Crossed) | `crossed_column` + indicator | wide |
/// | [`Embedded`](FeatureSpec::Embedded) | vocabulary + `embedding_column` | deep |
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FeatureSpec {
    /// A number, normalised by the mean and variance of the data.
    Numeric {
        /// Column name.
        column: String,
    },
    /// A number, one-hot by quantile buckets of the data (`num_bins` buckets at most).
    Bucketized {
        /// Column name.
        column: String,
        /// Number of buckets to aim for.
        num_bins: usize,
    },
    /// A category, one-hot over the vocabulary of the data (or the given one) plus one OOV slot.
    Indicator {
        /// Column name.
        column: String,
        /// A fixed vocabulary; `None` learns it from the data.
        vocabulary: Option<Vec<String>>,
    },
    /// An integer category used as its own index, one-hot over `0..num_buckets`.
    Identity {
        /// Column name.
        column: String,
        /// Number of categories.
        num_buckets: usize,
    },
    /// A category, one-hot over hash buckets.
    Hashed {
        /// Column name.
        column: String,
        /// Number of buckets.
        num_bins: usize,
    },
    /// Several categories crossed, one-hot over hash buckets.
    Crossed {
        /// Column names.
        columns: Vec<String>,
        /// Number of buckets.
        num_bins: usize,
    },
    /// A category, looked up in the data's vocabulary (one OOV slot) and embedded.
    Embedded {
        /// Column name.
        column: String,
        /// Vector length.
        dim: usize,
    },
}

/// One adapted column of a [`FeatureLayer`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AdaptedFeature {
    /// Normalised numeric.
    Numeric {
        /// Column name.
        column: String,
        /// Its statistics.
        norm: Normalization,
    },
    /// Bucketized numeric.
    Bucketized {
        /// Column name.
        column: String,
        /// Its boundaries.
        buckets: Discretization,
    },
    /// Vocabulary indicator.
    Indicator {
        /// Column name.
        column: String,
        /// Its vocabulary.
        lookup: StringLookup,
    },
    /// Identity indicator.
    Identity {
        /// Column name.
        column: String,
        /// Its encoder.
        encoding: CategoryEncoding,
    },
    /// Hashed indicator.
    Hashed {
        /// Column name.
        column: String,
        /// Its hashing.
        hashing: Hashing,
    },
    /// Crossed indicator.
    Crossed {
        /// Column names.
        columns: Vec<String>,
        /// Its crossing.
        crossing: HashedCrossing,
    },
    /// Embedded category.
    Embedded {
        /// Column name.
        column: String,
        /// Its vocabulary.
        lookup: StringLookup,
        /// Its trainable table.
        embedding: Embedding,
    },
}

/// The dense inputs made from one [`RecordBatch`].
#[derive(Debug, Clone, PartialEq)]
pub struct Features {
    /// Number of rows.
    pub rows: usize,
    /// The wide input, `[rows, wide_width]` row-major: the one-hot blocks side by side.
    pub wide: Vec<f32>,
    /// The deep input, `[rows, deep_width]` row-major: embeddings, then normalised numerics.
    pub deep: Vec<f32>,
    /// Per embedded column, the index of each row (needed by [`FeatureLayer::backward`]).
    pub embedding_indices: Vec<Vec<usize>>,
}

/// Turns record batches into wide and deep dense inputs. Build it with [`FeatureLayer::adapt`];
/// save and load its whole state (vocabularies, statistics, boundaries, embedding tables) with
/// [`FeatureLayer::to_json`] / [`FeatureLayer::from_json`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureLayer {
    features: Vec<AdaptedFeature>,
}

fn key_column(batch: &RecordBatch, name: &str) -> Result<Vec<String>> {
    Ok(batch.column(name)?.keys())
}

fn int_column(batch: &RecordBatch, name: &str) -> Result<Vec<i64>> {
    match batch.column(name)? {
        ColumnData::Int(v) => Ok(v.clone()),
        ColumnData::Float(v) => Ok(v.iter().map(|&x| x as i64).collect()),
        ColumnData::Str(_) => Err(DataError::ColumnType {
            column: name.to_string(),
            expected: "int",
            found: "string",
        }),
    }
}

impl FeatureLayer {
    /// Adapts every spec on one epoch of `batches` (statistics, quantiles, vocabularies).
    /// Embedding tables are initialised from `seed`.
    ///
    /// # Errors
    /// Errors of the pipeline, unknown columns, columns of the wrong type, empty data.
    pub fn adapt(specs: &[FeatureSpec], batches: &Dataset<RecordBatch>, seed: u64) -> Result<Self> {
        let all: Vec<RecordBatch> = batches.collect_vec()?;
        let mut features = Vec::with_capacity(specs.len());
        let strings = |column: &str| -> Result<Vec<String>> {
            let mut out = Vec::new();
            for b in &all {
                out.extend(key_column(b, column)?);
            }
            Ok(out)
        };
        let floats = |column: &str| -> Result<Vec<f32>> {
            let mut out = Vec::new();
            for b in &all {
                out.extend(b.floats(column)?);
            }
            Ok(out)
        };
        for (k, spec) in specs.iter().enumerate() {
            features.push(match spec {
                FeatureSpec::Numeric { column } => {
                    let mut norm = Normalization::new(1);
                    let v = floats(column)?;
                    norm.adapt(v.chunks(1))?;
                    AdaptedFeature::Numeric {
                        column: column.clone(),
                        norm,
                    }
                }
                FeatureSpec::Bucketized { column, num_bins } => AdaptedFeature::Bucketized {
                    column: column.clone(),
                    buckets: Discretization::adapt(*num_bins, floats(column)?)?,
                },
                FeatureSpec::Indicator { column, vocabulary } => AdaptedFeature::Indicator {
                    column: column.clone(),
                    lookup: match vocabulary {
                        Some(v) => StringLookup::with_vocabulary(v.clone(), 1)?,
                        None => StringLookup::adapt(&strings(column)?, 1, None)?,
                    },
                },
                FeatureSpec::Identity { column, num_buckets } => AdaptedFeature::Identity {
                    column: column.clone(),
                    encoding: CategoryEncoding::new(*num_buckets, OutputMode::OneHot)?,
                },
                FeatureSpec::Hashed { column, num_bins } => AdaptedFeature::Hashed {
                    column: column.clone(),
                    hashing: Hashing::new(*num_bins, None)?,
                },
                FeatureSpec::Crossed { columns, num_bins } => AdaptedFeature::Crossed {
                    columns: columns.clone(),
                    crossing: HashedCrossing::new(*num_bins)?,
                },
                FeatureSpec::Embedded { column, dim } => {
                    let lookup = StringLookup::adapt(&strings(column)?, 1, None)?;
                    let embedding =
                        Embedding::new(lookup.vocabulary_size(), *dim, seed.wrapping_add(k as u64))?
                            .named(&format!("embed_{column}.table"));
                    AdaptedFeature::Embedded {
                        column: column.clone(),
                        lookup,
                        embedding,
                    }
                }
            });
        }
        Ok(Self { features })
    }

    /// The adapted columns.
    pub fn features(&self) -> &[AdaptedFeature] {
        &self.features
    }

    /// The width of the wide input.
    pub fn wide_width(&self) -> usize {
        self.features
            .iter()
            .map(|f| match f {
                AdaptedFeature::Bucketized { buckets, .. } => buckets.num_buckets(),
                AdaptedFeature::Indicator { lookup, .. } => lookup.vocabulary_size(),
                AdaptedFeature::Identity { encoding, .. } => encoding.num_tokens(),
                AdaptedFeature::Hashed { hashing, .. } => hashing.num_bins(),
                AdaptedFeature::Crossed { crossing, .. } => crossing.num_bins(),
                AdaptedFeature::Numeric { .. } | AdaptedFeature::Embedded { .. } => 0,
            })
            .sum()
    }

    /// The width of the deep input.
    pub fn deep_width(&self) -> usize {
        self.features
            .iter()
            .map(|f| match f {
                AdaptedFeature::Numeric { .. } => 1,
                AdaptedFeature::Embedded { embedding, .. } => embedding.output_dim(),
                _ => 0,
            })
            .sum()
    }

    /// The wide and deep inputs of one batch.
    ///
    /// # Errors
    /// Unknown columns, columns of the wrong type, identity values out of range.
    pub fn transform(&self, batch: &RecordBatch) -> Result<Features> {
        let n = batch.num_rows();
        let (ww, dw) = (self.wide_width(), self.deep_width());
        let mut wide = vec![0.0f32; n * ww];
        let mut deep = vec![0.0f32; n * dw];
        let mut embedding_indices = Vec::new();
        let (mut woff, mut doff) = (0usize, 0usize);
        let hot = |wide: &mut Vec<f32>, idx: &[usize], width: usize, woff: &mut usize| {
            for (r, &i) in idx.iter().enumerate() {
                if i < width {
                    wide[r * ww + *woff + i] = 1.0;
                }
            }
            *woff += width;
        };
        // Embeddings first, then numerics, in the deep block.
        for f in &self.features {
            if let AdaptedFeature::Embedded {
                column,
                lookup,
                embedding,
            } = f
            {
                let idx = lookup.apply(&key_column(batch, column)?);
                let vecs = embedding.forward(&idx)?;
                let d = embedding.output_dim();
                for r in 0..n {
                    deep[r * dw + doff..r * dw + doff + d].copy_from_slice(&vecs[r * d..(r + 1) * d]);
                }
                doff += d;
                embedding_indices.push(idx);
            }
        }
        for f in &self.features {
            match f {
                AdaptedFeature::Numeric { column, norm } => {
                    let v = norm.apply(&batch.floats(column)?)?;
                    for (r, x) in v.into_iter().enumerate() {
                        deep[r * dw + doff] = x;
                    }
                    doff += 1;
                }
                AdaptedFeature::Bucketized { column, buckets } => {
                    let idx = buckets.apply(&batch.floats(column)?);
                    hot(&mut wide, &idx, buckets.num_buckets(), &mut woff);
                }
                AdaptedFeature::Indicator { column, lookup } => {
                    let idx = lookup.apply(&key_column(batch, column)?);
                    hot(&mut wide, &idx, lookup.vocabulary_size(), &mut woff);
                }
                AdaptedFeature::Identity { column, encoding } => {
                    let block = encoding.identity(&int_column(batch, column)?)?;
                    let w = encoding.num_tokens();
                    for r in 0..n {
                        wide[r * ww + woff..r * ww + woff + w].copy_from_slice(&block[r * w..(r + 1) * w]);
                    }
                    woff += w;
                }
                AdaptedFeature::Hashed { column, hashing } => {
                    let idx = hashing.apply(&key_column(batch, column)?);
                    hot(&mut wide, &idx, hashing.num_bins(), &mut woff);
                }
                AdaptedFeature::Crossed { columns, crossing } => {
                    let cols: Vec<Vec<String>> = columns
                        .iter()
                        .map(|c| key_column(batch, c))
                        .collect::<Result<_>>()?;
                    let refs: Vec<&[String]> = cols.iter().map(Vec::as_slice).collect();
                    let idx = crossing.apply(&refs)?;
                    hot(&mut wide, &idx, crossing.num_bins(), &mut woff);
                }
                AdaptedFeature::Embedded { .. } => {}
            }
        }
        Ok(Features {
            rows: n,
            wide,
            deep,
            embedding_indices,
        })
    }

    /// Passes the gradient of the loss with respect to the deep input (`[rows, deep_width]`)
    /// back to the embedding tables.
    ///
    /// # Errors
    /// [`DataError::Length`] when `grad_deep` does not match `features`.
    pub fn backward(&mut self, features: &Features, grad_deep: &[f32]) -> Result<()> {
        let dw = self.deep_width();
        if grad_deep.len() != features.rows * dw {
            return Err(DataError::Length {
                op: "FeatureLayer::backward",
                expected: features.rows * dw,
                got: grad_deep.len(),
            });
        }
        let mut doff = 0;
        let mut k = 0;
        for f in &mut self.features {
            if let AdaptedFeature::Embedded { embedding, .. } = f {
                let d = embedding.output_dim();
                let idx = features.embedding_indices.get(k).ok_or(DataError::Length {
                    op: "FeatureLayer::backward",
                    expected: k + 1,
                    got: features.embedding_indices.len(),
                })?;
                let g: Vec<f32> = (0..features.rows)
                    .flat_map(|r| grad_deep[r * dw + doff..r * dw + doff + d].iter().copied())
                    .collect();
                embedding.backward(idx, &g)?;
                doff += d;
                k += 1;
            }
        }
        Ok(())
    }

    /// The embedding tables with their gradients.
    pub fn params_mut(&mut self) -> Vec<ParamMut<'_>> {
        self.features
            .iter_mut()
            .flat_map(|f| match f {
                AdaptedFeature::Embedded { embedding, .. } => embedding.params_mut(),
                _ => Vec::new(),
            })
            .collect()
    }

    /// The embedding tables.
    pub fn params(&self) -> Vec<ParamRef<'_>> {
        self.features
            .iter()
            .flat_map(|f| match f {
                AdaptedFeature::Embedded { embedding, .. } => embedding.params(),
                _ => Vec::new(),
            })
            .collect()
    }

    /// The whole state as JSON.
    ///
    /// # Errors
    /// [`DataError::Serde`].
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| DataError::Serde(e.to_string()))
    }

    /// A layer from [`FeatureLayer::to_json`]'s output.
    ///
    /// # Errors
    /// [`DataError::Serde`].
    pub fn from_json(json: &str) -> Result<Self> {
        serde_json::from_str(json).map_err(|e| DataError::Serde(e.to_string()))
    }
}
