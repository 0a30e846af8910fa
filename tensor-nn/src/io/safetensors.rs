//! Weights and checkpoints as safetensors files (readable by Python's `safetensors`), under the
//! parameters' stable names, written atomically.
//!
//! A checkpoint adds the optimizer's state as `optimizer/{param}/{slot}` tensors and the epoch
//! and step count in the header's `__metadata__`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use super::atomic::write_atomic;
use crate::error::{NnError, Result};
use crate::model::{ParamMut, ParamRef};
use crate::optim::Optimizer;

const OPTIMIZER_PREFIX: &str = "optimizer/";

fn to_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn serialize(path: &Path, tensors: Vec<Named>, metadata: Option<HashMap<String, String>>) -> Result<Vec<u8>> {
    let mut views = Vec::with_capacity(tensors.len());
    for (name, shape, bytes) in &tensors {
        let view = TensorView::new(Dtype::F32, shape.clone(), bytes)
            .map_err(|e| NnError::bad_file(path, format!("tensor `{name}`: {e}")))?;
        views.push((name.clone(), view));
    }
    safetensors::tensor::serialize(views, &metadata)
        .map_err(|e| NnError::bad_file(path, format!("cannot serialize: {e}")))
}

/// Saves every parameter as an f32 tensor under its name.
///
/// # Errors
/// [`NnError::Io`] when the file cannot be written, [`NnError::InvalidArgument`] for duplicate
/// names or a value that does not fill its shape.
pub fn save_weights(path: impl AsRef<Path>, params: &[ParamRef<'_>]) -> Result<()> {
    let path = path.as_ref();
    let tensors = param_tensors(params)?;
    write_atomic(path, &serialize(path, tensors, None)?)
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

/// Reads every tensor of a safetensors file (all must be F32).
///
/// # Errors
/// [`NnError::Io`] when it cannot be read, [`NnError::BadFile`] when it is truncated, corrupt,
/// or holds a tensor of another dtype.
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
    for (name, view) in st.tensors() {
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

fn assign(path: &Path, file: &mut TensorFile, params: &mut [ParamMut<'_>]) -> Result<()> {
    let mismatch = |reason: String| NnError::Mismatch {
        path: path.display().to_string(),
        reason,
    };
    // Check everything before changing anything.
    for p in params.iter() {
        match file.tensors.get(p.name) {
            None => return Err(mismatch(format!("no tensor for parameter `{}`", p.name))),
            Some((shape, _)) if shape.as_slice() != p.shape => {
                return Err(mismatch(format!(
                    "`{}` has shape {shape:?} in the file but {:?} in the model",
                    p.name, p.shape
                )))
            }
            Some(_) => {}
        }
    }
    let names: std::collections::BTreeSet<&str> = params.iter().map(|p| p.name).collect();
    if let Some(extra) = file
        .tensors
        .keys()
        .find(|k| !k.starts_with(OPTIMIZER_PREFIX) && !names.contains(k.as_str()))
    {
        return Err(mismatch(format!(
            "tensor `{extra}` is not a parameter of the model"
        )));
    }
    for p in params.iter_mut() {
        if let Some((_, v)) = file.tensors.remove(p.name) {
            p.value.copy_from_slice(&v);
        }
    }
    Ok(())
}

/// Loads weights saved by [`save_weights`] into the parameters, matched by name.
///
/// # Errors
/// As [`read_tensors`], and [`NnError::Mismatch`] when a parameter is missing, has another
/// shape, or the file holds a tensor the model does not have. Nothing is changed on error.
pub fn load_weights(path: impl AsRef<Path>, params: &mut [ParamMut<'_>]) -> Result<()> {
    let path = path.as_ref();
    let mut file = read_tensors(path)?;
    assign(path, &mut file, params)
}

/// What a checkpoint records besides tensors.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CheckpointInfo {
    /// Number of epochs completed.
    pub epoch: usize,
    /// Other metadata (e.g. the RNG state), as saved.
    pub metadata: BTreeMap<String, String>,
}

/// Saves weights, the optimizer's state and step count, the epoch and extra metadata.
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
    write_atomic(path, &serialize(path, tensors, Some(meta))?)
}

/// Restores a checkpoint written by [`save_checkpoint`].
///
/// # Errors
/// As [`load_weights`], and [`NnError::BadFile`] when the metadata is missing or names another
/// optimizer.
pub fn load_checkpoint(
    path: impl AsRef<Path>,
    params: &mut [ParamMut<'_>],
    optimizer: &mut Optimizer,
) -> Result<CheckpointInfo> {
    let path = path.as_ref();
    let mut file = read_tensors(path)?;
    let get = |key: &str| {
        file.metadata
            .get(key)
            .cloned()
            .ok_or_else(|| NnError::bad_file(path, format!("checkpoint metadata lacks `{key}`")))
    };
    let epoch: usize = get("epoch")?
        .parse()
        .map_err(|_| NnError::bad_file(path, "bad `epoch` in checkpoint metadata"))?;
    let iterations: u64 = get("optimizer_iterations")?
        .parse()
        .map_err(|_| NnError::bad_file(path, "bad `optimizer_iterations` in checkpoint metadata"))?;
    let name = get("optimizer")?;
    if name != optimizer.name() {
        return Err(NnError::Mismatch {
            path: path.display().to_string(),
            reason: format!("checkpoint was saved by {name}, not {}", optimizer.name()),
        });
    }
    assign(path, &mut file, params)?;
    let state: Vec<(String, Vec<f32>)> = std::mem::take(&mut file.tensors)
        .into_iter()
        .filter_map(|(k, (_, v))| k.strip_prefix(OPTIMIZER_PREFIX).map(|s| (s.to_string(), v)))
        .collect();
    optimizer.load_state(iterations, state)?;
    let mut metadata = file.metadata;
    for k in ["epoch", "optimizer", "optimizer_iterations"] {
        metadata.remove(k);
    }
    Ok(CheckpointInfo { epoch, metadata })
}
