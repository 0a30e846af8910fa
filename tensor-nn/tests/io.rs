//! IDX reading, safetensors weights and checkpoints, atomic writes.

use std::io::Write;
use std::path::PathBuf;

use tensor_nn::io::idx::{load_idx_dataset, parse_idx, read_idx, IdxData};
use tensor_nn::io::safetensors::{
    load_checkpoint, load_weights, read_tensors, save_checkpoint, save_weights, CheckpointInfo,
};
use tensor_nn::optim::Optimizer;
use tensor_nn::{NnError, ParamMut, ParamRef};

fn tmp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tensor-nn-io-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn header(code: u8, dims: &[u32]) -> Vec<u8> {
    let mut b = vec![0, 0, code, dims.len() as u8];
    for d in dims {
        b.extend_from_slice(&d.to_be_bytes());
    }
    b
}

#[test]
fn idx_parses_every_element_type_big_endian() {
    let mut b = header(0x0B, &[3]);
    b.extend([0x01, 0x02, 0xFF, 0xFE, 0x00, 0x05]);
    assert_eq!(
        parse_idx(&b, "t").unwrap().data,
        IdxData::I16(vec![0x0102, -2, 5])
    );
    let mut b = header(0x0D, &[1, 2]);
    b.extend(1.5f32.to_be_bytes());
    b.extend((-2.25f32).to_be_bytes());
    let a = parse_idx(&b, "t").unwrap();
    assert_eq!(a.dims, vec![1, 2]);
    assert_eq!(a.to_f32(), vec![1.5, -2.25]);
    let mut b = header(0x0C, &[1]);
    b.extend((-7i32).to_be_bytes());
    assert_eq!(parse_idx(&b, "t").unwrap().data, IdxData::I32(vec![-7]));
    let mut b = header(0x0E, &[1]);
    b.extend(0.1f64.to_be_bytes());
    assert_eq!(parse_idx(&b, "t").unwrap().data, IdxData::F64(vec![0.1]));
    let mut b = header(0x09, &[2]);
    b.extend([0x80, 0x7F]);
    assert_eq!(parse_idx(&b, "t").unwrap().data, IdxData::I8(vec![-128, 127]));
}

fn bad_file_reason(r: Result<impl std::fmt::Debug, NnError>) -> String {
    match r {
        Err(NnError::BadFile { reason, .. }) => reason,
        other => panic!("expected BadFile, got {other:?}"),
    }
}

#[test]
fn idx_rejects_truncated_and_corrupt_data_with_a_reason() {
    let mut good = header(0x08, &[2, 3]);
    good.extend([1, 2, 3, 4, 5, 6]);
    assert!(bad_file_reason(parse_idx(&good[..good.len() - 1], "t")).contains("truncated IDX data"));
    assert!(bad_file_reason(parse_idx(&good[..6], "t")).contains("truncated IDX header"));
    assert!(bad_file_reason(parse_idx(&good[..2], "t")).contains("truncated IDX header"));
    let mut long = good.clone();
    long.push(0);
    assert!(bad_file_reason(parse_idx(&long, "t")).contains("trailing"));
    let mut magic = good.clone();
    magic[0] = 7;
    assert!(bad_file_reason(parse_idx(&magic, "t")).contains("not an IDX file"));
    let mut code = good.clone();
    code[2] = 0x42;
    assert!(bad_file_reason(parse_idx(&code, "t")).contains("unknown IDX element type 0x42"));
}

#[test]
fn idx_gzip_round_trip_and_truncated_gzip_is_an_error() {
    let dir = tmp_dir("gz");
    let mut raw = header(0x08, &[4]);
    raw.extend([9, 8, 7, 6]);
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(&raw).unwrap();
    let gz = enc.finish().unwrap();
    let path = dir.join("a.gz");
    std::fs::write(&path, &gz).unwrap();
    assert_eq!(read_idx(&path).unwrap().data, IdxData::U8(vec![9, 8, 7, 6]));
    std::fs::write(&path, &gz[..gz.len() - 6]).unwrap();
    assert!(bad_file_reason(read_idx(&path)).contains("gzip"));
    assert!(matches!(read_idx(dir.join("missing")), Err(NnError::Io { .. })));
}

#[test]
fn mnist_in_the_repository_has_the_documented_label_counts() {
    // data/mnist/README.md documents the canonical class counts of both splits.
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../data/mnist");
    let (train, test) = load_idx_dataset(&dir).unwrap();
    assert_eq!((train.len(), train.features), (60_000, 784));
    assert_eq!((test.len(), test.features), (10_000, 784));
    let counts = |labels: &[f32]| {
        let mut c = [0usize; 10];
        labels.iter().for_each(|&l| c[l as usize] += 1);
        c
    };
    assert_eq!(
        counts(&train.labels),
        [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    );
    assert_eq!(
        counts(&test.labels),
        [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    );
    assert!(train.images.iter().all(|&x| (0.0..=1.0).contains(&x)));
}

#[test]
fn weights_round_trip_in_the_safetensors_layout() {
    let dir = tmp_dir("weights");
    let path = dir.join("w.safetensors");
    let kernel = vec![1.0f32, -2.0, 3.5, 0.25, 5.0, 6.0];
    let bias = vec![0.5f32, -0.5, 1.0];
    save_weights(
        &path,
        &[
            ParamRef {
                name: "dense.kernel",
                shape: &[2, 3],
                value: &kernel,
            },
            ParamRef {
                name: "dense.bias",
                shape: &[3],
                value: &bias,
            },
        ],
    )
    .unwrap();
    // The format by hand: u64 LE header length, JSON header, then little-endian data.
    let bytes = std::fs::read(&path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let json: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    assert_eq!(json["dense.kernel"]["dtype"], "F32");
    assert_eq!(json["dense.kernel"]["shape"], serde_json::json!([2, 3]));
    let off = json["dense.kernel"]["data_offsets"][0].as_u64().unwrap() as usize;
    let first = f32::from_le_bytes(bytes[8 + n + off..8 + n + off + 4].try_into().unwrap());
    assert_eq!(first, 1.0);

    let (mut k2, mut b2) = (vec![0f32; 6], vec![0f32; 3]);
    let g = [0f32; 6];
    let mut params = [
        ParamMut {
            name: "dense.kernel",
            shape: &[2, 3],
            value: &mut k2,
            grad: &g,
            trainable: true,
        },
        ParamMut {
            name: "dense.bias",
            shape: &[3],
            value: &mut b2,
            grad: &g[..3],
            trainable: true,
        },
    ];
    load_weights(&path, &mut params).unwrap();
    assert_eq!((k2, b2), (kernel, bias));
    // No temporary file is left behind.
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
}

#[test]
fn truncated_corrupt_and_mismatched_weights_are_errors_that_change_nothing() {
    let dir = tmp_dir("bad");
    let path = dir.join("w.safetensors");
    let v = vec![1.0f32; 4];
    save_weights(
        &path,
        &[ParamRef {
            name: "a",
            shape: &[4],
            value: &v,
        }],
    )
    .unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let target = std::cell::RefCell::new(vec![0f32; 4]);
    let g = [0f32; 4];
    let load = |p: &PathBuf, name: &str, shape: &[usize]| {
        let mut t = target.borrow_mut();
        let mut params = [ParamMut {
            name,
            shape,
            value: &mut t[..],
            grad: &g,
            trainable: true,
        }];
        load_weights(p, &mut params)
    };
    let trunc = dir.join("trunc.safetensors");
    std::fs::write(&trunc, &bytes[..bytes.len() - 1]).unwrap();
    assert!(matches!(load(&trunc, "a", &[4]), Err(NnError::BadFile { .. })));
    let mut corrupt = bytes.clone();
    corrupt[8] = b'x'; // the header's opening brace
    std::fs::write(&trunc, &corrupt).unwrap();
    assert!(matches!(load(&trunc, "a", &[4]), Err(NnError::BadFile { .. })));
    std::fs::write(&trunc, &bytes[..5]).unwrap();
    assert!(matches!(load(&trunc, "a", &[4]), Err(NnError::BadFile { .. })));
    let err = load(&path, "b", &[4]).unwrap_err().to_string();
    assert!(err.contains("no tensor for parameter `b`"), "{err}");
    let err = load(&path, "a", &[2, 2]).unwrap_err().to_string();
    assert!(err.contains("shape [4] in the file but [2, 2]"), "{err}");
    assert_eq!(*target.borrow(), vec![0.0; 4]);
    let two = dir.join("two.safetensors");
    save_weights(
        &two,
        &[
            ParamRef {
                name: "a",
                shape: &[4],
                value: &v,
            },
            ParamRef {
                name: "z",
                shape: &[1],
                value: &v[..1],
            },
        ],
    )
    .unwrap();
    let err = load(&two, "a", &[4]).unwrap_err().to_string();
    assert!(err.contains("`z` is not a parameter"), "{err}");
    assert_eq!(*target.borrow(), vec![0.0; 4]);
}

/// Adam on f(w) = ½‖w − c‖² for `steps` steps from the current state.
fn adam_steps(w: &mut [f32], opt: &mut Optimizer, steps: usize) {
    let c = [1.0f32, -2.0, 3.0];
    for _ in 0..steps {
        let g: Vec<f32> = w.iter().zip(c).map(|(x, c)| x - c).collect();
        let mut p = [ParamMut {
            name: "w",
            shape: &[3],
            value: w,
            grad: &g,
            trainable: true,
        }];
        opt.apply(&mut p).unwrap();
    }
}

#[test]
fn resuming_from_a_checkpoint_is_bit_for_bit_the_uninterrupted_run() {
    let dir = tmp_dir("ckpt");
    let path = dir.join("ckpt.safetensors");
    let mut straight = vec![0.0f32; 3];
    let mut opt = Optimizer::adam(0.1);
    adam_steps(&mut straight, &mut opt, 10);

    let mut w = vec![0.0f32; 3];
    let mut opt = Optimizer::adam(0.1);
    adam_steps(&mut w, &mut opt, 4);
    let mut meta = std::collections::BTreeMap::new();
    meta.insert("rng".to_string(), "1234".to_string());
    save_checkpoint(
        &path,
        &[ParamRef {
            name: "w",
            shape: &[3],
            value: &w,
        }],
        &opt,
        &CheckpointInfo {
            epoch: 4,
            metadata: meta.clone(),
        },
    )
    .unwrap();
    // Python-readable layout: optimizer slots are ordinary tensors.
    let file = read_tensors(&path).unwrap();
    assert!(
        file.tensors.contains_key("optimizer/w/momentum")
            && file.tensors.contains_key("optimizer/w/velocity")
    );

    let mut resumed = vec![9.0f32; 3];
    let mut opt2 = Optimizer::adam(0.1);
    let g = [0f32; 3];
    let info = load_checkpoint(
        &path,
        &mut [ParamMut {
            name: "w",
            shape: &[3],
            value: &mut resumed,
            grad: &g,
            trainable: true,
        }],
        &mut opt2,
    )
    .unwrap();
    assert_eq!(
        info,
        CheckpointInfo {
            epoch: 4,
            metadata: meta
        }
    );
    assert_eq!(opt2.iterations(), 4);
    adam_steps(&mut resumed, &mut opt2, 6);
    assert_eq!(
        resumed.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
        straight.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
    );

    let mut sgd = Optimizer::sgd(0.1);
    let err = load_checkpoint(
        &path,
        &mut [ParamMut {
            name: "w",
            shape: &[3],
            value: &mut resumed,
            grad: &g,
            trainable: true,
        }],
        &mut sgd,
    )
    .unwrap_err();
    assert!(err.to_string().contains("saved by Adam, not SGD"), "{err}");
}
