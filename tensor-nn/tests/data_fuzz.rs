//! A seeded, time-bounded fuzzer for the CSV and IDX readers and the checkpoint (safetensors)
//! loader, on stable Rust: valid seed inputs are mutated (bit flips, interesting bytes, truncation, insertions, deletions, duplicated
//! ranges, splices of two inputs) and run through every reading path under `catch_unwind`.
//! A panic (or a worker thread of a parallel reader dying, or the readers disagreeing) fails
//! the test, as does a checkpoint load that fails but changed the model or the optimizer; the
//! input is saved as `tests/fuzz_cases/<reader>/<hash>.bin`; every file there
//! is replayed first on each run, as a regression case.
//!
//! `DIMFLOW_FUZZ_SECS` sets the time per reader (default 5 s), `DIMFLOW_FUZZ_SEED` the seed
//! (default fixed, so that a plain `cargo test` is repeatable up to the time bound); the
//! number of inputs tried is printed (`cargo test --test data_fuzz -- --nocapture`).

use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tensor_nn::data::{ColumnType, CsvFormat, CsvOptions, DataError, RecordBatch, Schema, Value};
use tensor_nn::io::idx::{parse_idx, read_idx};
use tensor_nn::io::safetensors::{
    load_checkpoint, load_weights, read_tensors, save_checkpoint, save_weights, CheckpointInfo, CHECKSUM_KEY,
};
use tensor_nn::optim::Optimizer;
use tensor_nn::ParamMut;

tensor_macros::dims! { crate = ::tensor_core; Batch; Two = 2; }

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// The input in a fresh temporary file.
fn write(bytes: &[u8], ext: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dimflow-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(format!("{}.{ext}", COUNTER.fetch_add(1, Ordering::Relaxed)));
    std::fs::write(&path, bytes).expect("write");
    path
}

/// Good rows of one epoch; panics if a worker thread died (a panic the stage caught).
fn good_rows<T>(items: impl Iterator<Item = Result<T, DataError>>, rows: impl Fn(&T) -> usize) -> usize {
    let mut n = 0;
    for item in items {
        match item {
            Ok(v) => n += rows(&v),
            Err(e @ DataError::Worker { .. }) => panic!("a reader's worker failed: {e}"),
            Err(_) => {}
        }
    }
    n
}

/// Runs a format's three readers over the file; they must agree on the good rows.
fn read_every_way(f: &CsvFormat, path: &Path) {
    let schema = f.schema().clone();
    let rows: Vec<_> = f
        .read(path)
        .skip_errors()
        .batch(3, false)
        .iter()
        .expect("start")
        .collect();
    let mut by_rows = 0;
    for batch in rows {
        let batch = batch.expect("errors are skipped");
        by_rows += batch.len();
        let b = RecordBatch::from_records(schema.clone(), &batch).expect("rows follow the schema");
        let names: Vec<&str> = schema.columns().iter().map(|c| c.name.as_str()).take(2).collect();
        let _ = b.tensor::<(Batch, Two)>(&names);
    }
    let seq = good_rows(
        f.read_batches(path, 4).skip_errors().iter().expect("start"),
        RecordBatch::num_rows,
    );
    let par = good_rows(
        f.read_batches_parallel(path, 3, 2)
            .skip_errors()
            .iter()
            .expect("start"),
        RecordBatch::num_rows,
    );
    assert_eq!(
        (by_rows, seq),
        (par, par),
        "rows / batches / parallel batches disagree"
    );
}

/// Every CSV path over the file: inference, then the three readers with and without a header,
/// and a fixed schema; only panics and disagreements fail (errors are expected).
fn exercise_csv(bytes: &[u8]) {
    let path = write(bytes, "csv");
    for opts in [
        CsvOptions::default(),
        CsvOptions::default().header(false).infer_rows(3),
    ] {
        if let Ok(format) = CsvFormat::new(&path, &opts) {
            for header in [true, false] {
                let schema = (**format.schema()).clone();
                let f = CsvFormat::with_schema(schema, header, b',').expect("valid schema");
                read_every_way(&f, &path);
            }
        }
    }
    let fixed = Schema::new()
        .column("a", ColumnType::Float)
        .column_with_default("b", ColumnType::Int, Value::Int(0))
        .column("c", ColumnType::Str);
    read_every_way(
        &CsvFormat::with_schema(fixed, false, b',').expect("valid schema"),
        &path,
    );
    let _ = std::fs::remove_file(path);
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).expect("in memory");
    enc.finish().expect("in memory")
}

/// The IDX reader over the bytes, as they are and gzipped (in one member and in two); reading
/// the gzipped file must give what parsing the bytes gives.
fn exercise_idx(bytes: &[u8]) {
    let parsed = parse_idx(bytes, "fuzz");
    let path = write(bytes, "idx");
    let plain = read_idx(&path);
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        assert_eq!(
            plain.as_ref().ok(),
            parsed.as_ref().ok(),
            "read_idx and parse_idx disagree"
        );
    }
    let cut = bytes.len() / 2;
    let mut two = gzip(&bytes[..cut]);
    two.extend(gzip(&bytes[cut..]));
    for gz in [gzip(bytes), two] {
        std::fs::write(&path, gz).expect("write");
        let read = read_idx(&path);
        assert_eq!(
            read.as_ref().ok(),
            parsed.as_ref().ok(),
            "gzipped read and parse_idx disagree"
        );
    }
    let _ = std::fs::remove_file(path);
}

/// Bytes worth putting in an input: the syntax of both formats and edges of numbers.
const TOKENS: &[&[u8]] = &[
    b",",
    b"\"",
    b"\"\"",
    b"\n",
    b"\r\n",
    b"\r",
    b"\xef\xbb\xbf",
    b"1e39",
    b"-inf",
    b"nan",
    b"9999999999999999999999",
    b"\xff\xfe",
    b"\x00\x00\x08\x01",
    b"\x00\x00\x0e\x03",
    b"\xff\xff\xff\xff",
    b"\x1f\x8b",
    b"\"F64\"",
    b"\"shape\":[",
    b"18446744073709551615",
    b"\"data_offsets\":[0,",
    b"/m",
];

/// One random mutation of `input`, sometimes spliced with another seed.
fn mutate(rng: &mut ChaCha8Rng, input: &[u8], seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..rng.gen_range(1..=4) {
        let len = v.len();
        match rng.gen_range(0..8) {
            0 if len > 0 => {
                let i = rng.gen_range(0..len);
                v[i] ^= 1 << rng.gen_range(0..8);
            }
            1 if len > 0 => {
                let i = rng.gen_range(0..len);
                v[i] = [0, 0xff, 0x7f, 0x80, b'"', b',', b'\n', b'\r'][rng.gen_range(0..8)];
            }
            2 => v.truncate(rng.gen_range(0..=len)),
            3 => {
                let i = rng.gen_range(0..=len);
                let token = TOKENS[rng.gen_range(0..TOKENS.len())];
                v.splice(i..i, token.iter().copied());
            }
            4 => {
                let i = rng.gen_range(0..=len);
                let bytes: Vec<u8> = (0..rng.gen_range(1..16)).map(|_| rng.gen()).collect();
                v.splice(i..i, bytes);
            }
            5 if len > 0 => {
                let i = rng.gen_range(0..len);
                let j = rng.gen_range(i..=len.min(i + 64));
                v.drain(i..j);
            }
            6 if len > 0 => {
                let i = rng.gen_range(0..len);
                let j = rng.gen_range(i..=len.min(i + 64));
                let copy = v[i..j].to_vec();
                let at = rng.gen_range(0..=v.len());
                v.splice(at..at, copy);
            }
            _ => {
                let other = &seeds[rng.gen_range(0..seeds.len())];
                let i = rng.gen_range(0..=len);
                let j = rng.gen_range(0..=other.len());
                v.truncate(i);
                v.extend_from_slice(&other[j..]);
            }
        }
    }
    v.truncate(1 << 14);
    v
}

/// Runs `target` on the input under `catch_unwind`; a failure is saved under `cases`.
fn run_case(target: fn(&[u8]), input: &[u8], cases: &Path, saved: &mut Vec<PathBuf>) {
    if catch_unwind(AssertUnwindSafe(|| target(input))).is_err() {
        // FNV-1a names the case after its bytes, so a case found twice is saved once.
        let hash = input.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        std::fs::create_dir_all(cases).expect("fuzz case dir");
        let path = cases.join(format!("{hash:016x}.bin"));
        std::fs::write(&path, input).expect("save fuzz case");
        saved.push(path);
    }
}

/// Replays the saved cases of `reader`, then fuzzes it from `seeds` for the time bound.
fn fuzz(reader: &str, target: fn(&[u8]), seeds: Vec<Vec<u8>>) {
    let cases = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz_cases")
        .join(reader);
    let secs: f64 = std::env::var("DIMFLOW_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    let seed: u64 = std::env::var("DIMFLOW_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_d1f1);
    let mut failed = Vec::new();
    let mut replayed = 0;
    if let Ok(dir) = std::fs::read_dir(&cases) {
        let mut files: Vec<PathBuf> = dir.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        for file in files.iter().filter(|f| f.extension().is_some_and(|e| e == "bin")) {
            let input = std::fs::read(file).expect("read fuzz case");
            let before = failed.len();
            run_case(target, &input, &cases, &mut failed);
            if failed.len() > before {
                failed.truncate(before);
                failed.push(file.clone());
            }
            replayed += 1;
        }
    }
    for s in &seeds {
        run_case(target, s, &cases, &mut failed);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut corpus = seeds.clone();
    let end = Instant::now() + Duration::from_secs_f64(secs);
    let mut tried = 0u64;
    while Instant::now() < end {
        let pick = rng.gen_range(0..corpus.len());
        let input = mutate(&mut rng, &corpus[pick], &seeds);
        run_case(target, &input, &cases, &mut failed);
        // Mutants of mutants reach further; the corpus stays small.
        if corpus.len() < 256 {
            corpus.push(input);
        } else {
            let i = rng.gen_range(seeds.len()..corpus.len());
            corpus[i] = input;
        }
        tried += 1;
    }
    println!(
        "{reader} fuzz: {tried} inputs in {secs} s (seed {seed}), {replayed} saved cases replayed, {} failures",
        failed.len()
    );
    assert!(failed.is_empty(), "{reader}: failing inputs saved as {failed:?}");
}

#[test]
fn csv_readers_survive_mutated_inputs() {
    let seeds: Vec<Vec<u8>> = [
        "id,score,name,note\n1,2.5,plain,\"a, b\"\n2,-3,\"say \"\"hi\"\"\",\"two\nlines\"\n3,1e3,x,\n",
        "a,b\r\n\r\n1,2\r\n3,zz\r\n4\r\n5,\r\n",
        "\u{feff}x,y,\n1.5,,\n\n-inf,,\nnan,7,\n3.4e38,8,\n",
        "a,b,c\n1,2,x\n3,\"4\n5\",y\n6,7,\"z\"\"\"",
        "1,2,3\n4,5,6\n7,8,9\n",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    fuzz("csv", exercise_csv, seeds);
}

#[test]
fn idx_reader_survives_mutated_inputs() {
    let idx = |code: u8, dims: &[u32], width: usize| {
        let mut b = vec![0, 0, code, dims.len() as u8];
        for d in dims {
            b.extend_from_slice(&d.to_be_bytes());
        }
        let n = dims.iter().product::<u32>() as usize * width;
        b.extend((0..n).map(|i| (i * 37) as u8));
        b
    };
    let raw = vec![
        idx(0x08, &[3, 4], 1),
        idx(0x09, &[5], 1),
        idx(0x0B, &[2, 2, 2], 2),
        idx(0x0C, &[3], 4),
        idx(0x0D, &[2, 1], 4),
        idx(0x0E, &[2], 8),
        idx(0x08, &[0], 1),
    ];
    // Gzipped seeds too, so that mutations reach the decoder's header and trailer checks.
    let mut seeds = raw.clone();
    seeds.extend(raw.iter().take(3).map(|r| gzip(r)));
    fuzz("idx", exercise_idx, seeds);
}

const PARAM_NAMES: [&str; 2] = ["dense.kernel", "dense.bias"];
const PARAM_SHAPES: [&[usize]; 2] = [&[3, 2], &[2]];

/// A small model's parameter values and gradients.
struct Net {
    values: [Vec<f32>; 2],
    grads: [Vec<f32>; 2],
}

impl Net {
    fn new() -> Self {
        let v = |n: usize| (0..n).map(|i| i as f32 * 0.25 - 0.5).collect::<Vec<f32>>();
        Net {
            values: [v(6), v(2)],
            grads: [6, 2].map(|n| (0..n).map(|i| 0.125 - i as f32 * 0.0625).collect()),
        }
    }

    fn params(&mut self) -> Vec<ParamMut<'_>> {
        self.values
            .iter_mut()
            .zip(&self.grads)
            .enumerate()
            .map(|(i, (value, grad))| ParamMut {
                name: PARAM_NAMES[i],
                shape: PARAM_SHAPES[i],
                value,
                grad,
                trainable: true,
            })
            .collect()
    }

    /// The net and an Adam optimizer after two steps (so that it holds moments).
    fn trained() -> (Net, Optimizer) {
        let mut net = Net::new();
        let mut opt = Optimizer::adam(0.01);
        for _ in 0..2 {
            opt.apply(&mut net.params()).expect("finite step");
        }
        (net, opt)
    }
}

/// The bits of the parameters, the optimizer's step count and the bits of its state by name.
type Snapshot = (Vec<u32>, u64, Vec<(String, Vec<u32>)>);

/// Every bit of the parameters and the optimizer's state and step count.
fn snapshot(net: &Net, opt: &Optimizer) -> Snapshot {
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<u32>>();
    (
        net.values.iter().flat_map(|v| bits(v)).collect(),
        opt.iterations(),
        opt.state().into_iter().map(|(n, v)| (n, bits(v))).collect(),
    )
}

/// The checkpoint loader and the weights loader over the bytes: no panic, and a load that fails
/// leaves the model and the optimizer as they were; one that succeeds can take another step.
fn exercise_checkpoint(bytes: &[u8]) {
    let path = write(bytes, "safetensors");
    let _ = read_tensors(&path);
    let (mut net, mut opt) = Net::trained();
    let before = snapshot(&net, &opt);
    match load_checkpoint(&path, &mut net.params(), &mut opt) {
        Err(e) => {
            assert!(
                e.to_string().contains(&*path.to_string_lossy()),
                "error names no file: {e}"
            );
            assert!(
                snapshot(&net, &opt) == before,
                "a failed load_checkpoint changed something: {e}"
            );
        }
        Ok(_) => {
            let _ = opt.apply(&mut net.params());
        }
    }
    let (mut net, opt) = Net::trained();
    let before = snapshot(&net, &opt);
    if let Err(e) = load_weights(&path, &mut net.params()) {
        assert!(
            snapshot(&net, &opt) == before,
            "a failed load_weights changed something: {e}"
        );
    }
    let _ = std::fs::remove_file(path);
}

/// `bytes` (a safetensors file) with the checksum key taken out of its header, so that
/// mutations of the data reach the checks behind the checksum.
fn without_checksum(bytes: &[u8]) -> Vec<u8> {
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).expect("header");
    header["__metadata__"]
        .as_object_mut()
        .expect("metadata")
        .remove(CHECKSUM_KEY)
        .expect("a checksum");
    let mut text = serde_json::to_vec(&header).expect("json");
    while !text.len().is_multiple_of(8) {
        text.push(b' ');
    }
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend(text);
    out.extend_from_slice(&bytes[8 + n..]);
    out
}

#[test]
fn checkpoint_loader_survives_mutated_files() {
    let dir = std::env::temp_dir().join(format!("dimflow-fuzz-seeds-{}", std::process::id()));
    let (net, opt) = Net::trained();
    let refs: Vec<tensor_nn::ParamRef<'_>> = net
        .values
        .iter()
        .enumerate()
        .map(|(i, value)| tensor_nn::ParamRef {
            name: PARAM_NAMES[i],
            shape: PARAM_SHAPES[i],
            value,
        })
        .collect();
    let info = CheckpointInfo {
        epoch: 1,
        metadata: [("logs.loss".to_string(), "0.5".to_string())].into(),
    };
    save_checkpoint(dir.join("c.safetensors"), &refs, &opt, &info).expect("save");
    save_weights(dir.join("w.safetensors"), &refs).expect("save");
    let checkpoint = std::fs::read(dir.join("c.safetensors")).expect("read");
    let weights = std::fs::read(dir.join("w.safetensors")).expect("read");
    let _ = std::fs::remove_dir_all(&dir);
    let seeds = vec![
        without_checksum(&checkpoint),
        without_checksum(&weights),
        checkpoint,
        weights,
    ];
    // The seeds load, so mutations start from files that reach every check.
    for seed in [&seeds[0], &seeds[2]] {
        let path = write(seed, "safetensors");
        let (mut net, mut opt) = Net::trained();
        let loaded = load_checkpoint(&path, &mut net.params(), &mut opt).expect("a seed loads");
        assert_eq!(loaded.epoch, 1);
        let _ = std::fs::remove_file(path);
    }
    fuzz("checkpoint", exercise_checkpoint, seeds);
}
