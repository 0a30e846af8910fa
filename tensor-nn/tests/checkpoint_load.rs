//! Checkpoint and weights loading is all or nothing: every bad file is an error naming the
//! file, after which neither the parameters nor the optimizer have changed; the tensor data
//! carry a checksum; atomic writes clean up what killed writers left behind.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, TensorView};
use tensor_nn::io::atomic::write_atomic;
use tensor_nn::io::safetensors::{
    load_checkpoint, load_weights, read_tensors, save_checkpoint, save_weights, CheckpointInfo, TensorFile,
    CHECKSUM_KEY,
};
use tensor_nn::optim::Optimizer;
use tensor_nn::{NnError, ParamMut, ParamRef};

fn tmp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tensor-nn-ckpt-load-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

const NAMES: [&str; 3] = ["wide.kernel", "dense.kernel", "dense.bias"];
const SHAPES: [&[usize]; 3] = [&[2], &[2, 3], &[3]];

/// A small model: its three parameters' values.
#[derive(Clone, Debug, PartialEq)]
struct Model {
    values: [Vec<f32>; 3],
    grads: [Vec<f32>; 3],
}

impl Model {
    fn new(start: f32) -> Self {
        let v = |n: usize| (0..n).map(|i| start + i as f32 * 0.25).collect::<Vec<f32>>();
        Model {
            values: [v(2), v(6), v(3)],
            // The same gradients for every model, so that runs can be compared.
            grads: [2, 6, 3].map(|n| (0..n).map(|i| i as f32 * 0.125 - 0.5).collect()),
        }
    }

    fn params(&mut self) -> Vec<ParamMut<'_>> {
        self.values
            .iter_mut()
            .zip(&self.grads)
            .enumerate()
            .map(|(i, (value, grad))| ParamMut {
                name: NAMES[i],
                shape: SHAPES[i],
                value,
                grad,
                trainable: true,
            })
            .collect()
    }

    fn refs(&self) -> Vec<ParamRef<'_>> {
        self.values
            .iter()
            .enumerate()
            .map(|(i, value)| ParamRef {
                name: NAMES[i],
                shape: SHAPES[i],
                value,
            })
            .collect()
    }

    fn bits(&self) -> Vec<u32> {
        self.values.iter().flatten().map(|x| x.to_bits()).collect()
    }

    fn steps(&mut self, opt: &mut Optimizer, n: usize) {
        for _ in 0..n {
            opt.apply(&mut self.params()).unwrap();
        }
    }
}

/// Adam for the dense part, FTRL for the `wide.` group.
fn optimizer() -> Optimizer {
    Optimizer::adam(0.1).with_group("wide.", Optimizer::ftrl(0.1))
}

/// Everything an optimizer remembers, bit for bit.
fn opt_bits(opt: &Optimizer) -> (u64, Vec<(String, Vec<u32>)>) {
    let mut s: Vec<(String, Vec<u32>)> = opt
        .state()
        .into_iter()
        .map(|(k, v)| (k, v.iter().map(|x| x.to_bits()).collect()))
        .collect();
    s.sort();
    (opt.iterations(), s)
}

/// A checkpoint after 4 steps, at epoch 2.
fn good_checkpoint(dir: &Path) -> PathBuf {
    let path = dir.join("good.safetensors");
    let mut model = Model::new(1.0);
    let mut opt = optimizer();
    model.steps(&mut opt, 4);
    let info = CheckpointInfo {
        epoch: 2,
        metadata: BTreeMap::new(),
    };
    save_checkpoint(&path, &model.refs(), &opt, &info).unwrap();
    path
}

/// Writes `file` as safetensors, with a correct checksum of its data (so that only what was
/// edited is wrong).
fn write_file(path: &Path, file: &TensorFile) {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = file
        .tensors
        .iter()
        .map(|(k, (shape, v))| {
            (
                k.clone(),
                shape.clone(),
                v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            )
        })
        .collect();
    let mut hasher = crc32fast::Hasher::new();
    for (_, _, b) in &bytes {
        hasher.update(b); // a BTreeMap iterates in name order
    }
    let mut meta: HashMap<String, String> = file.metadata.clone().into_iter().collect();
    meta.insert(CHECKSUM_KEY.into(), format!("{:08x}", hasher.finalize()));
    let views: Vec<(String, TensorView<'_>)> = bytes
        .iter()
        .map(|(k, shape, b)| (k.clone(), TensorView::new(Dtype::F32, shape.clone(), b).unwrap()))
        .collect();
    std::fs::write(path, safetensors::tensor::serialize(views, &Some(meta)).unwrap()).unwrap();
}

/// The good checkpoint with `edit` applied, written to `dir/{name}.safetensors`.
fn edited(dir: &Path, name: &str, edit: impl FnOnce(&mut TensorFile)) -> PathBuf {
    let mut file = read_tensors(good_checkpoint(dir)).unwrap();
    edit(&mut file);
    let path = dir.join(format!("{name}.safetensors"));
    write_file(&path, &file);
    path
}

/// Loads `path` into a trained model and optimizer that differ from the checkpoint's; it must
/// fail, name the file, and change nothing. Returns the error's text.
fn load_fails_changing_nothing(path: &Path) -> String {
    let mut model = Model::new(-3.0);
    let mut opt = optimizer();
    model.steps(&mut opt, 2);
    let (before, opt_before) = (model.bits(), opt_bits(&opt));
    let err = load_checkpoint(path, &mut model.params(), &mut opt)
        .expect_err("a bad checkpoint must not load")
        .to_string();
    assert_eq!(model.bits(), before, "weights changed by a failed load: {err}");
    assert_eq!(
        opt_bits(&opt),
        opt_before,
        "optimizer changed by a failed load: {err}"
    );
    assert!(
        err.contains(&path.display().to_string()),
        "the error names the file: {err}"
    );
    err
}

#[test]
fn a_good_checkpoint_resumes_the_grouped_optimizer_bit_for_bit() {
    let dir = tmp_dir("good");
    let path = good_checkpoint(&dir);
    let mut straight = Model::new(1.0);
    let mut opt = optimizer();
    straight.steps(&mut opt, 7);

    let mut resumed = Model::new(-3.0);
    let mut opt2 = optimizer();
    resumed.steps(&mut opt2, 1);
    let info = load_checkpoint(&path, &mut resumed.params(), &mut opt2).unwrap();
    assert_eq!(
        info,
        CheckpointInfo {
            epoch: 2,
            metadata: BTreeMap::new()
        },
        "the checksum is not user metadata"
    );
    assert_eq!(opt2.iterations(), 4);
    resumed.steps(&mut opt2, 3);
    assert_eq!(resumed.bits(), straight.bits());
    assert_eq!(opt_bits(&opt2), opt_bits(&opt));
}

#[test]
fn weights_do_not_change_when_the_optimizer_part_fails() {
    let dir = tmp_dir("opt-fails");
    let path = edited(&dir, "bad-slot", |f| {
        f.tensors
            .insert("optimizer/dense.bias/bogus".into(), (vec![3], vec![0.0; 3]));
    });
    let err = load_fails_changing_nothing(&path);
    assert!(err.contains("`bogus` is not a slot of Adam"), "{err}");
}

#[test]
fn missing_slots_after_steps_are_an_error() {
    let dir = tmp_dir("missing");
    let path = edited(&dir, "no-slots", |f| {
        f.tensors.retain(|k, _| !k.starts_with("optimizer/"))
    });
    let err = load_fails_changing_nothing(&path);
    assert!(err.contains("no state for trainable parameter"), "{err}");
    // One group's parameter alone missing its slots.
    let path = edited(&dir, "no-wide-slots", |f| {
        f.tensors.retain(|k, _| !k.starts_with("optimizer/wide.kernel/"));
    });
    let err = load_fails_changing_nothing(&path);
    assert!(err.contains("`wide.kernel` after 4 steps (Ftrl keeps"), "{err}");
    // A half-present set of slots.
    let path = edited(&dir, "half-slots", |f| {
        f.tensors.remove("optimizer/dense.kernel/velocity");
    });
    let err = load_fails_changing_nothing(&path);
    assert!(err.contains("incomplete state for `dense.kernel`"), "{err}");
}

#[test]
fn slots_for_a_parameter_the_model_lacks_are_an_error() {
    let dir = tmp_dir("unknown");
    let path = edited(&dir, "ghost", |f| {
        for slot in ["momentum", "velocity"] {
            f.tensors
                .insert(format!("optimizer/ghost/{slot}"), (vec![3], vec![0.0; 3]));
        }
    });
    let err = load_fails_changing_nothing(&path);
    assert!(
        err.contains("state for `ghost`, which is not a parameter"),
        "{err}"
    );
}

#[test]
fn slots_of_the_wrong_length_are_an_error() {
    let dir = tmp_dir("length");
    let path = edited(&dir, "short", |f| {
        for slot in ["momentum", "velocity"] {
            f.tensors
                .insert(format!("optimizer/dense.bias/{slot}"), (vec![2], vec![0.0; 2]));
        }
    });
    let err = load_fails_changing_nothing(&path);
    assert!(
        err.contains("has 2 values but parameter `dense.bias` has 3"),
        "{err}"
    );
}

#[test]
fn absurd_epochs_and_step_counts_are_errors() {
    let dir = tmp_dir("epoch");
    for (i, (key, value, says)) in [
        ("epoch", "18446744073709551615", "bad `epoch`"),
        ("epoch", "5", "at most the 4 optimizer steps"),
        ("epoch", "-1", "bad `epoch`"),
        (
            "optimizer_iterations",
            "18446744073709551615",
            "bad `optimizer_iterations`",
        ),
        ("optimizer_iterations", "0", "bad `epoch`"),
    ]
    .into_iter()
    .enumerate()
    {
        let path = edited(&dir, &format!("meta{i}"), |f| {
            f.metadata.insert(key.into(), value.into());
        });
        let err = load_fails_changing_nothing(&path);
        assert!(err.contains(says), "{key}={value}: {err}");
    }
    // State although no step was made.
    let path = edited(&dir, "state-at-0", |f| {
        f.metadata.insert("epoch".into(), "0".into());
        f.metadata.insert("optimizer_iterations".into(), "0".into());
    });
    let err = load_fails_changing_nothing(&path);
    assert!(err.contains("at iteration 0"), "{err}");
}

#[test]
fn a_flipped_bit_in_the_data_is_a_checksum_error() {
    let dir = tmp_dir("flip");
    let path = good_checkpoint(&dir);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01; // the lowest mantissa bit of the last value
    std::fs::write(&path, &bytes).unwrap();
    let err = load_fails_changing_nothing(&path);
    assert!(err.contains("checksum mismatch"), "{err}");

    let weights = dir.join("w.safetensors");
    let model = Model::new(0.5);
    save_weights(&weights, &model.refs()).unwrap();
    let mut bytes = std::fs::read(&weights).unwrap();
    let n = 8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    bytes[n] ^= 0x80;
    std::fs::write(&weights, &bytes).unwrap();
    let mut target = Model::new(9.0);
    let before = target.bits();
    match load_weights(&weights, &mut target.params()) {
        Err(NnError::BadFile { path, reason }) => {
            assert_eq!(path, weights.display().to_string());
            assert!(reason.contains("checksum"), "{reason}");
        }
        other => panic!("expected a checksum error, got {other:?}"),
    }
    assert_eq!(target.bits(), before);
}

#[test]
fn files_without_a_checksum_load_and_malformed_ones_do_not() {
    let dir = tmp_dir("no-crc");
    let model = Model::new(0.5);
    // As Python's safetensors writes it: no metadata at all.
    let bytes: Vec<Vec<u8>> = model
        .values
        .iter()
        .map(|v| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let views: Vec<(&str, TensorView<'_>)> = (0..3)
        .map(|i| {
            (
                NAMES[i],
                TensorView::new(Dtype::F32, SHAPES[i].to_vec(), &bytes[i]).unwrap(),
            )
        })
        .collect();
    let path = dir.join("python.safetensors");
    std::fs::write(&path, safetensors::tensor::serialize(views, &None).unwrap()).unwrap();
    let mut target = Model::new(9.0);
    load_weights(&path, &mut target.params()).unwrap();
    assert_eq!(target.bits(), model.bits());

    // Our files carry the checksum as a plain string in `__metadata__`.
    let ours = dir.join("ours.safetensors");
    save_weights(&ours, &model.refs()).unwrap();
    let meta = read_tensors(&ours).unwrap().metadata;
    assert_eq!(meta.get(CHECKSUM_KEY).map(String::len), Some(8), "{meta:?}");

    let mut file = read_tensors(&ours).unwrap();
    file.metadata.insert(CHECKSUM_KEY.into(), "xyz".into());
    let mut views_file = file.clone();
    views_file.metadata.clear();
    // write_file would put a correct checksum back: write this one by hand.
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = views_file
        .tensors
        .iter()
        .map(|(k, (s, v))| {
            (
                k.clone(),
                s.clone(),
                v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            )
        })
        .collect();
    let views: Vec<(String, TensorView<'_>)> = bytes
        .iter()
        .map(|(k, s, b)| (k.clone(), TensorView::new(Dtype::F32, s.clone(), b).unwrap()))
        .collect();
    let meta: HashMap<String, String> = file.metadata.into_iter().collect();
    std::fs::write(&ours, safetensors::tensor::serialize(views, &Some(meta)).unwrap()).unwrap();
    let before = target.bits();
    let err = load_weights(&ours, &mut target.params()).unwrap_err().to_string();
    assert!(
        err.contains("not 8 hex digits") && err.contains("ours.safetensors"),
        "{err}"
    );
    assert_eq!(target.bits(), before);
}

#[test]
fn another_optimizer_and_mismatched_weights_change_nothing() {
    let dir = tmp_dir("other");
    let path = edited(&dir, "sgd", |f| {
        f.metadata.insert("optimizer".into(), "SGD".into());
    });
    let err = load_fails_changing_nothing(&path);
    assert!(err.contains("saved by SGD, not Adam"), "{err}");
    let path = edited(&dir, "reshaped", |f| {
        f.tensors
            .insert("dense.kernel".into(), (vec![3, 2], vec![0.0; 6]));
    });
    let err = load_fails_changing_nothing(&path);
    assert!(err.contains("shape [3, 2] in the file but [2, 3]"), "{err}");
}

#[test]
fn a_write_removes_temporary_files_that_dead_writers_left() {
    let dir = tmp_dir("stale");
    let target = dir.join("w.safetensors");
    // No process has this id (Linux caps ids at 2^22).
    let dead = 999_999_999u32;
    let stale = [
        dir.join(format!(".w.safetensors.tmp-{dead}")),
        dir.join(format!(".w.safetensors.tmp-{}", std::process::id())),
    ];
    // Neither leftovers of this target by a dead process, nor to be touched.
    let kept = [
        dir.join(".w.safetensors.tmp-1"), // pid 1 runs
        dir.join(".w.safetensors.tmp-x"),
        dir.join(format!(".w.safetensors.tmp-1.tmp-{dead}")), // another target's
        dir.join(format!(".other.tmp-{dead}")),
        dir.join(format!("w.safetensors.tmp-{dead}")),
        dir.join(format!(".w.safetensors.tmp-{dead}.bak")),
    ];
    for f in stale.iter().chain(&kept) {
        std::fs::write(f, b"half a file").unwrap();
    }
    write_atomic(&target, b"new").unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), b"new");
    for f in &stale {
        assert!(!f.exists(), "{} was left behind", f.display());
    }
    for f in &kept {
        assert!(f.exists(), "{} was removed", f.display());
    }
}
