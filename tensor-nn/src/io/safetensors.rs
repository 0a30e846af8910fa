//! Weights and checkpoints as safetensors files (readable by Python's `safetensors`), under the
//! parameters' stable names, written atomically.
//!
//! A checkpoint adds the optimizer's state as `optimizer/{param}/{slot}` tensors and the epoch
//! and step count in the header's `__metadata__`.
//!
//! Every file written here records a checksum of its tensor data in `__metadata__` under
//! [`CHECKSUM_KEY`]: the CRC32 (IEEE, as zlib's) of the tensors' bytes, concatenated in the
//! order of their names, as 8 lowercase hex digits. Independent of the layout, it survives
//! files rewritten tensor by tensor. Readers verify it when it is there; a file without it
//! (written by Python's `safetensors`, say) still loads, unchecked. Python reads our files as
//! any other (metadata are strings).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use super::atomic::write_atomic;
use crate::error::{NnError, Result};
use crate::model::{ParamMut, ParamRef};
use crate::optim::{Optimizer, MAX_ITERATIONS};

const OPTIMIZER_PREFIX: &str = "optimizer/";

/// The `__metadata__` key of the checksum of the tensor data (see the module docs).
pub const CHECKSUM_KEY: &str = "dimflow.crc32";

/// The CRC32 of the tensors' bytes in the order of their names.
fn checksum<'a>(tensors: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> u32 {
    let mut sorted: Vec<(&str, &[u8])> = tensors.into_iter().collect();
    sorted.sort_unstable_by_key(|&(name, _)| name);
    let mut hasher = crc32fast::Hasher::new();
    for (_, bytes) in sorted {
        hasher.update(bytes);
    }
    hasher.finalize()
}

fn to_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// The file's bytes, with the checksum of the tensor data added to `metadata`.
fn serialize(path: &Path, tensors: Vec<Named>, mut metadata: HashMap<String, String>) -> Result<Vec<u8>> {
    let crc = checksum(
        tensors
            .iter()
            .map(|(name, _, bytes)| (name.as_str(), bytes.as_slice())),
    );
    metadata.insert(CHECKSUM_KEY.into(), format!("{crc:08x}"));
    let metadata = Some(metadata);
    let mut views = Vec::with_capacity(tensors.len());
    for (name, shape, bytes) in &tensors {
        let view = TensorView::new(Dtype::F32, shape.clone(), bytes)
            .map_err(|e| NnError::bad_file(path, format!("tensor `{name}`: {e}")))?;
        views.push((name.clone(), view));
    }
    safetensors::tensor::serialize(views, &metadata)
        .map_err(|e| NnError::bad_file(path, format!("cannot serialize: {e}")))
}

/// Saves every parameter as an f32 tensor under its name, with the checksum of the data.
///
/// # Errors
/// [`NnError::Io`] when the file cannot be written, [`NnError::InvalidArgument`] for duplicate
/// names or a value that does not fill its shape.
pub fn save_weights(path: impl AsRef<Path>, params: &[ParamRef<'_>]) -> Result<()> {
    let path = path.as_ref();
    let tensors = param_tensors(params)?;
    write_atomic(path, &serialize(path, tensors, HashMap::new())?)
}

/// A tensor to serialize: name, shape, little-endian bytes.
type Named = (String, Vec<usize>, Vec<u8>);

fn param_tensors(params: &[ParamRef<'_>]) -> Result<Vec<Named>> {
    let mut seen = std::collections::BTreeSet::new();
    params
        .iter()
        .map(|p| {
            if !seen.insert(p.name) {
                return Err(NnError::invalid(
                    "save_weights",
                    format!("duplicate parameter name `{}`", p.name),
                ));
            }
            if p.shape.iter().product::<usize>() != p.value.len() {
                return Err(NnError::invalid(
                    "save_weights",
                    format!(
                        "`{}` has {} values for shape {:?}",
                        p.name,
                        p.value.len(),
                        p.shape
                    ),
                ));
            }
            Ok((p.name.to_string(), p.shape.to_vec(), to_bytes(p.value)))
        })
        .collect()
}

/// The tensors of a safetensors file, as f32 values with their shapes, and its metadata.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TensorFile {
    /// Tensors by name.
    pub tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
    /// The header's `__metadata__`.
    pub metadata: BTreeMap<String, String>,
}

/// Reads every tensor of a safetensors file (all must be F32), verifying the checksum of the
/// data when the metadata has one ([`CHECKSUM_KEY`]; a file without it loads unchecked).
///
/// # Errors
/// [`NnError::Io`] when it cannot be read, [`NnError::BadFile`] when it is truncated, corrupt
/// (its data do not match the checksum, or the checksum is malformed), or holds a tensor of
/// another dtype.
pub fn read_tensors(path: impl AsRef<Path>) -> Result<TensorFile> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| NnError::io(path, e))?;
    let st = SafeTensors::deserialize(&bytes)
        .map_err(|e| NnError::bad_file(path, format!("not a valid safetensors file: {e}")))?;
    let (_, meta) = SafeTensors::read_metadata(&bytes)
        .map_err(|e| NnError::bad_file(path, format!("not a valid safetensors file: {e}")))?;
    let mut out = TensorFile {
        metadata: meta.metadata().clone().unwrap_or_default().into_iter().collect(),
        ..TensorFile::default()
    };
    let views = st.tensors();
    if let Some(recorded) = out.metadata.get(CHECKSUM_KEY) {
        let expected = Some(recorded)
            .filter(|r| r.len() == 8)
            .and_then(|r| u32::from_str_radix(r, 16).ok())
            .ok_or_else(|| {
                NnError::bad_file(
                    path,
                    format!("checksum `{CHECKSUM_KEY}` is {recorded:?}, not 8 hex digits"),
                )
            })?;
        let actual = checksum(views.iter().map(|(name, view)| (name.as_str(), view.data())));
        if actual != expected {
            return Err(NnError::bad_file(
                path,
                format!(
                    "checksum mismatch: the tensor data has CRC32 {actual:08x} but the header \
                     records {expected:08x}; the file is corrupt"
                ),
            ));
        }
    }
    for (name, view) in views {
        if view.dtype() != Dtype::F32 {
            return Err(NnError::bad_file(
                path,
                format!("tensor `{name}` is {:?}, expected F32", view.dtype()),
            ));
        }
        let values = view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        out.tensors.insert(name, (view.shape().to_vec(), values));
    }
    Ok(out)
}

/// Tensors by name, with their shapes.
type Tensors = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// Checks, changing nothing, that `tensors` (optimizer state aside) are exactly the
/// parameters, each with the parameter's shape and number of values.
fn check_weights(path: &Path, tensors: &Tensors, params: &[ParamMut<'_>]) -> Result<()> {
    let mismatch = |reason: String| NnError::Mismatch {
        path: path.display().to_string(),
        reason,
    };
    for p in params {
        match tensors.get(p.name) {
            None => return Err(mismatch(format!("no tensor for parameter `{}`", p.name))),
            Some((shape, _)) if shape.as_slice() != p.shape => {
                return Err(mismatch(format!(
                    "`{}` has shape {shape:?} in the file but {:?} in the model",
                    p.name, p.shape
                )))
            }
            Some((_, v)) if v.len() != p.value.len() => {
                return Err(mismatch(format!(
                    "`{}` has {} values in the file but {} in the model",
                    p.name,
                    v.len(),
                    p.value.len()
                )))
            }
            Some(_) => {}
        }
    }
    let names: std::collections::BTreeSet<&str> = params.iter().map(|p| p.name).collect();
    if let Some(extra) = tensors
        .keys()
        .find(|k| !k.starts_with(OPTIMIZER_PREFIX) && !names.contains(k.as_str()))
    {
        return Err(mismatch(format!(
            "tensor `{extra}` is not a parameter of the model"
        )));
    }
    Ok(())
}

/// Copies the tensors into the parameters; [`check_weights`] has accepted them.
fn set_weights(tensors: &Tensors, params: &mut [ParamMut<'_>]) {
    for p in params.iter_mut() {
        if let Some((_, v)) = tensors.get(p.name) {
            p.value.copy_from_slice(v);
        }
    }
}

/// Loads weights saved by [`save_weights`] into the parameters, matched by name.
///
/// # Errors
/// As [`read_tensors`], and [`NnError::Mismatch`] when a parameter is missing, has another
/// shape, or the file holds a tensor the model does not have. Nothing is changed on error.
pub fn load_weights(path: impl AsRef<Path>, params: &mut [ParamMut<'_>]) -> Result<()> {
    let path = path.as_ref();
    let file = read_tensors(path)?;
    check_weights(path, &file.tensors, params)?;
    set_weights(&file.tensors, params);
    Ok(())
}

/// What a checkpoint records besides tensors.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CheckpointInfo {
    /// Number of epochs completed.
    pub epoch: usize,
    /// Other metadata (e.g. the RNG state), as saved.
    pub metadata: BTreeMap<String, String>,
}

/// Saves weights, the optimizer's state and step count, the epoch and extra metadata, with the
/// checksum of the tensor data.
///
/// # Errors
/// As [`save_weights`].
pub fn save_checkpoint(
    path: impl AsRef<Path>,
    params: &[ParamRef<'_>],
    optimizer: &Optimizer,
    info: &CheckpointInfo,
) -> Result<()> {
    let path = path.as_ref();
    let mut tensors = param_tensors(params)?;
    for (name, values) in optimizer.state() {
        tensors.push((
            format!("{OPTIMIZER_PREFIX}{name}"),
            vec![values.len()],
            to_bytes(values),
        ));
    }
    let mut meta: HashMap<String, String> = info.metadata.clone().into_iter().collect();
    meta.insert("epoch".into(), info.epoch.to_string());
    meta.insert("optimizer".into(), optimizer.name().into());
    meta.insert("optimizer_iterations".into(), optimizer.iterations().to_string());
    write_atomic(path, &serialize(path, tensors, meta)?)
}

/// Restores a checkpoint written by [`save_checkpoint`]: all of it or, on error, nothing.
///
/// Everything is checked before anything is assigned: the checksum (when there is one, see
/// [`read_tensors`]), the metadata, the weights (as [`load_weights`] does) and the optimizer's
/// state against the model ([`Optimizer::check_state`]: after steps every trainable parameter
/// must have its slots, no slot may name a parameter the model lacks or differ from its
/// parameter's length). The step count is at most [`MAX_ITERATIONS`]; the epoch fits `usize`
/// and is at most the step count, since every epoch of `fit` takes at least one step (a
/// checkpoint saved after `fit` with an `initial_epoch` past the optimizer's own steps is
/// refused too). The returned metadata leaves out the keys this function reads and the
/// checksum.
///
/// # Errors
/// As [`read_tensors`] and [`load_weights`]; [`NnError::BadFile`] when the metadata lacks a key
/// or holds a bad epoch or step count; [`NnError::Mismatch`] when the checkpoint was saved by
/// another optimizer or its state does not fit the model. Every error names the file; on error
/// neither the parameters nor the optimizer change.
pub fn load_checkpoint(
    path: impl AsRef<Path>,
    params: &mut [ParamMut<'_>],
    optimizer: &mut Optimizer,
) -> Result<CheckpointInfo> {
    let path = path.as_ref();
    let TensorFile {
        tensors,
        mut metadata,
    } = read_tensors(path)?;
    let mut take = |key: &str| {
        metadata
            .remove(key)
            .ok_or_else(|| NnError::bad_file(path, format!("checkpoint metadata lacks `{key}`")))
    };
    let iterations = take("optimizer_iterations")?;
    let iterations: u64 = iterations
        .parse()
        .ok()
        .filter(|&i| i <= MAX_ITERATIONS)
        .ok_or_else(|| {
            NnError::bad_file(
                path,
                format!(
                    "bad `optimizer_iterations` {iterations:?} in checkpoint metadata (a step \
                     count up to {MAX_ITERATIONS})"
                ),
            )
        })?;
    let epoch = take("epoch")?;
    let epoch: usize = epoch
        .parse::<u64>()
        .ok()
        .filter(|&e| e <= iterations)
        .and_then(|e| usize::try_from(e).ok())
        .ok_or_else(|| {
            NnError::bad_file(
                path,
                format!(
                    "bad `epoch` {epoch:?} in checkpoint metadata: an epoch count at most the \
                     {iterations} optimizer steps (every epoch takes one at least)"
                ),
            )
        })?;
    let name = take("optimizer")?;
    metadata.remove(CHECKSUM_KEY);
    if name != optimizer.name() {
        return Err(NnError::Mismatch {
            path: path.display().to_string(),
            reason: format!("checkpoint was saved by {name}, not {}", optimizer.name()),
        });
    }
    let (state, weights): (Tensors, Tensors) = tensors
        .into_iter()
        .partition(|(k, _)| k.starts_with(OPTIMIZER_PREFIX));
    check_weights(path, &weights, params)?;
    let state: Vec<(String, Vec<f32>)> = state
        .into_iter()
        .map(|(k, (_, v))| (k[OPTIMIZER_PREFIX.len()..].to_string(), v))
        .collect();
    // All-or-nothing itself; the weights are assigned only once it has succeeded.
    optimizer
        .load_state_for(params, iterations, state)
        .map_err(|e| match e {
            NnError::InvalidArgument { reason, .. } => NnError::Mismatch {
                path: path.display().to_string(),
                reason: format!("optimizer state: {reason}"),
            },
            other => other,
        })?;
    set_weights(&weights, params);
    Ok(CheckpointInfo { epoch, metadata })
}
