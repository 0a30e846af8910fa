//! Keras-style preprocessing layers, adapted on data and serialisable (serde) with the model,
//! covering every kind of the classic `tf.feature_column` API; see [`FeatureLayer`] for the
//! table of kinds.

pub mod category_encoding;
pub mod discretization;
pub mod embedding;
pub mod feature_layer;
pub mod hashing;
pub mod lookup;
pub mod normalization;

pub use category_encoding::{CategoryEncoding, OutputMode};
pub use discretization::Discretization;
pub use embedding::Embedding;
pub use feature_layer::{AdaptedFeature, FeatureLayer, FeatureSpec, Features};
pub use hashing::{fnv1a64, HashedCrossing, Hashing, CROSS_SEPARATOR};
pub use lookup::{IntegerLookup, Lookup, LookupKey, StringLookup};
pub use normalization::Normalization;
