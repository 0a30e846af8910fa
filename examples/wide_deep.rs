//! Run: `cargo run --release --example wide_deep -- --data data/titanic/titanic.csv --label survived`
//!
//! Wide & deep (Cheng et al. 2016) on a mixed categorical/numeric CSV, Titanic by default, as one
//! multi-input `model!` trained with `fit`: the wide part is a linear model over hashed one-hot
//! categories, quantile buckets of the numbers and hashed crosses of category pairs (sex ×
//! class …), trained with FTRL; the deep part is a ReLU network over learned category embeddings
//! and normalised numbers, trained with Adam. Both are trained jointly on the sum of their
//! logits (`Optimizer::with_group` routes the wide layer's parameters to FTRL). Wide-only and
//! deep-only baselines are trained the same way; all three report accuracy and AUC on a held-out
//! fifth of the rows.
//!
//! The model's input widths are fixed while compiling, so the categories are hashed into fixed
//! spaces (Keras' `Hashing` and `HashedCrossing` layers) rather than one-hot over vocabularies
//! whose sizes only the data knows; the category embeddings are a bias-free Dense layer over the
//! multi-hot category vector (an embedding bag: the sum of one learned vector per category).
//! Another CSV of the same kind works unchanged, as long as it has at most `NumericSlots`
//! numeric columns. Options: `--data FILE`, `--label COLUMN`, `--drop a,b` (default
//! `boat,body,name`: Titanic's label leaks and a per-row identifier), `--epochs N` (default 30).

use std::collections::HashSet;
use std::error::Error;
use std::path::PathBuf;

use dimflow::prelude::*;
use dimflow::tensor_nn::data::preprocessing::{
    fnv1a64, Discretization, HashedCrossing, Hashing, Normalization,
};
use dimflow::tensor_nn::data::{csv, ColumnType, CsvOptions, Record, Schema, Value};
use dimflow::tensor_nn::losses::BinaryCrossentropy;
use dimflow::tensor_nn::metrics::{Auc, BinaryAccuracy};
use dimflow::tensor_nn::optim::Optimizer;
use dimflow::tensor_nn::train::{Compile, FitConfig};
use dimflow::tensor_nn::Model;

dims! {
    Batch;
    /// Hashed one-hot categories, buckets of numbers and crosses: the wide input.
    WideBuckets = 1024;
    /// Hashed categories for the embeddings: the deep input.
    CatBuckets = 256;
    /// Normalised numeric columns (unused slots stay zero).
    NumericSlots = 8;
    Embed = 8;
    H1 = 32;
    H2 = 16;
    One = 1;
}

model! {
    /// Wide & deep: a linear layer over the wide input plus a ReLU network over category
    /// embeddings and numbers, summed into one logit and squashed into a probability.
    pub struct WideDeep(wide: [Batch, WideBuckets], cats: [Batch, CatBuckets], nums: [Batch, NumericSlots])
        -> (prob: [Batch, One])
    {
        let linear = Dense(One);
        let embed = Dense(Embed, bias = false);
        let w = wide >> linear;
        let e = cats >> embed;
        let d = concat(e, nums) >> Dense(H1) >> Relu >> Dense(H2) >> Relu >> Dense(One);
        prob = add(w, d) >> Sigmoid;
    }
}

model! {
    /// The wide part alone: logistic regression over the wide input.
    pub struct WideOnly: [Batch, WideBuckets] -> [Batch, One] {
        Dense(One), Sigmoid
    }
}

model! {
    /// The deep part alone.
    pub struct DeepOnly(cats: [Batch, CatBuckets], nums: [Batch, NumericSlots]) -> (prob: [Batch, One]) {
        let e = cats >> Dense(Embed, bias = false);
        prob = concat(e, nums) >> Dense(H1) >> Relu >> Dense(H2) >> Relu >> Dense(One) >> Sigmoid;
    }
}

/// A batch of wide inputs.
type Wide = Tensor<(Batch, WideBuckets)>;
/// A batch of hashed categories.
type Cats = Tensor<(Batch, CatBuckets)>;
/// A batch of normalised numbers.
type Nums = Tensor<(Batch, NumericSlots)>;
/// One 0/1 label per row.
type Labels = Tensor<(Batch, One)>;

struct Args {
    data: PathBuf,
    label: String,
    drop: Vec<String>,
    epochs: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        data: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/titanic/titanic.csv"),
        label: "survived".into(),
        drop: vec!["boat".into(), "body".into(), "name".into()],
        epochs: 30,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--data" => args.data = value.into(),
            "--label" => args.label = value,
            "--drop" => args.drop = value.split(',').map(str::to_string).collect(),
            "--epochs" => args.epochs = value.parse().map_err(|_| format!("bad --epochs {value}"))?,
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(args)
}

/// How a column feeds the model.
#[derive(Clone, Copy, PartialEq)]
enum Role {
    /// Few distinct values: wide one-hot (hashed), deep embedding, and crossed with others.
    Category,
    /// Many distinct strings (tickets, cabins): wide only, hashed.
    Text,
    /// A number: deep normalised, wide as one of 5 quantile buckets.
    Number,
}

/// The feature columns, adapted on the training rows: which column plays which role, the
/// quantile boundaries and normalisation statistics of the numbers, and the hashing layers.
struct Encoder {
    columns: Vec<(String, usize, Role)>,
    crosses: Vec<(usize, usize)>,
    buckets: Vec<Discretization>,
    norm: Normalization,
    wide_hash: Hashing,
    cat_hash: Hashing,
    cross_hash: HashedCrossing,
}

impl Encoder {
    fn adapt(schema: &Schema, rows: &[Record], skip: &HashSet<String>) -> Result<Self, Box<dyn Error>> {
        let mut columns = Vec::new();
        for (i, col) in schema.columns().iter().enumerate() {
            if skip.contains(&col.name) {
                continue;
            }
            let distinct: HashSet<String> = rows.iter().map(|r| r[i].to_key()).collect();
            let role = match col.kind {
                ColumnType::Float => Role::Number,
                ColumnType::Int if distinct.len() > 10 => Role::Number,
                _ if distinct.len() <= 20 => Role::Category,
                _ => Role::Text,
            };
            columns.push((col.name.clone(), i, role));
        }
        let numbers: Vec<usize> = columns
            .iter()
            .filter(|c| c.2 == Role::Number)
            .map(|c| c.1)
            .collect();
        if numbers.len() > NumericSlots::SIZE.unwrap_or(0) {
            return Err(format!(
                "the CSV has {} numeric columns but the model declares NumericSlots = {}: raise it",
                numbers.len(),
                NumericSlots::SIZE.unwrap_or(0)
            )
            .into());
        }
        let buckets = numbers
            .iter()
            .map(|&i| Discretization::adapt(5, rows.iter().filter_map(|r| r[i].as_f32())))
            .collect::<Result<Vec<_>, _>>()?;
        let slots = NumericSlots::SIZE.unwrap_or(0);
        let padded: Vec<Vec<f32>> = rows.iter().map(|r| numeric_slots(r, &numbers, slots)).collect();
        let mut norm = Normalization::new(slots);
        norm.adapt(padded.iter().map(Vec::as_slice))?;
        // The first three categories, crossed pairwise.
        let cats: Vec<usize> = columns
            .iter()
            .filter(|c| c.2 == Role::Category)
            .map(|c| c.1)
            .take(3)
            .collect();
        let mut crosses = Vec::new();
        for a in 0..cats.len() {
            for b in a + 1..cats.len() {
                crosses.push((cats[a], cats[b]));
            }
        }
        Ok(Self {
            columns,
            crosses,
            buckets,
            norm,
            wide_hash: Hashing::new(WideBuckets::SIZE.unwrap_or(1), Some(1))?,
            cat_hash: Hashing::new(CatBuckets::SIZE.unwrap_or(1), Some(2))?,
            cross_hash: HashedCrossing::new(WideBuckets::SIZE.unwrap_or(1))?,
        })
    }

    /// The model inputs of `rows`: wide multi-hot, category multi-hot, normalised numbers.
    fn encode(&self, rows: &[Record]) -> Result<(Wide, Cats, Nums), Box<dyn Error>> {
        let (nw, nc, ns) = (
            WideBuckets::SIZE.unwrap_or(0),
            CatBuckets::SIZE.unwrap_or(0),
            NumericSlots::SIZE.unwrap_or(0),
        );
        let n = rows.len();
        let (mut wide, mut cats, mut nums) =
            (vec![0f32; n * nw], vec![0f32; n * nc], Vec::with_capacity(n * ns));
        let numbers: Vec<usize> = self
            .columns
            .iter()
            .filter(|c| c.2 == Role::Number)
            .map(|c| c.1)
            .collect();
        for (r, row) in rows.iter().enumerate() {
            let mut wide_keys = Vec::new();
            let mut cat_keys = Vec::new();
            let mut k = 0;
            for (name, i, role) in &self.columns {
                match role {
                    Role::Category => {
                        wide_keys.push(format!("{name}={}", row[*i].to_key()));
                        cat_keys.push(format!("{name}={}", row[*i].to_key()));
                    }
                    Role::Text => wide_keys.push(format!("{name}={}", row[*i].to_key())),
                    Role::Number => {
                        let v = row[*i].as_f32().unwrap_or(f32::NAN);
                        let b = self.buckets[k].apply(&[v])[0];
                        wide_keys.push(format!("{name}#bucket={b}"));
                        k += 1;
                    }
                }
            }
            for b in self.wide_hash.apply(&wide_keys) {
                wide[r * nw + b] = 1.0;
            }
            for &(a, b) in &self.crosses {
                let (ka, kb) = ([row[a].to_key()], [row[b].to_key()]);
                let bin = self.cross_hash.apply(&[&ka[..], &kb[..]])?[0];
                wide[r * nw + bin] = 1.0;
            }
            for b in self.cat_hash.apply(&cat_keys) {
                cats[r * nc + b] = 1.0;
            }
            nums.extend(self.norm.apply(&numeric_slots(row, &numbers, ns))?);
        }
        Ok((
            Tensor::from_vec(wide, &[n])?,
            Tensor::from_vec(cats, &[n])?,
            Tensor::from_vec(nums, &[n])?,
        ))
    }
}

/// The numeric columns of a row in the first slots, zeros after.
fn numeric_slots(row: &Record, numbers: &[usize], slots: usize) -> Vec<f32> {
    let mut out = vec![0.0; slots];
    for (o, &i) in out.iter_mut().zip(numbers) {
        *o = row[i].as_f32().unwrap_or(0.0);
    }
    out
}

/// Trains `model` with `fit` (binary cross-entropy, batch 32, shuffled) and returns the test
/// accuracy and AUC from `evaluate`, and the last epoch's training loss.
fn train_and_score<M>(
    model: M,
    optimizer: Optimizer,
    train: (&M::Input, &Labels),
    test: (&M::Input, &Labels),
    epochs: usize,
) -> Result<(f32, f32, f32), Box<dyn Error>>
where
    M: Model<Output = Labels>,
    M::Input: dimflow::tensor_nn::data::Rows,
{
    let metrics: Vec<Box<dyn dimflow::tensor_nn::metrics::Metric>> =
        vec![Box::new(BinaryAccuracy::default()), Box::new(Auc::default())];
    let mut trainer = model.compile(optimizer, BinaryCrossentropy::default(), metrics);
    let config = FitConfig {
        epochs,
        batch_size: 32,
        seed: 3,
        verbose: 0,
        ..FitConfig::default()
    };
    let history = trainer.fit(train.0, train.1, &config, None, &mut [])?;
    let loss = history.history["loss"].last().copied().unwrap_or(f32::NAN);
    let logs = trainer.evaluate(test.0, test.1, 256)?;
    Ok((loss, logs["binary_accuracy"], logs["auc"]))
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = parse_args()?;
    // Empty numeric fields become NaN (floats) or -1 (integers), then NaN is imputed below.
    let (_, inferred) = csv(&[&args.data], CsvOptions::default())?;
    let mut opts = CsvOptions::default();
    for c in inferred.columns() {
        match c.kind {
            ColumnType::Float => opts = opts.default_value(&c.name, Value::Float(f32::NAN)),
            ColumnType::Int => opts = opts.default_value(&c.name, Value::Int(-1)),
            ColumnType::Str => {}
        }
    }
    let (ds, schema) = csv(&[&args.data], opts)?;
    let label = schema.index_of(&args.label)?;
    let rows = ds.collect_vec()?;

    // A fifth of the rows held out, chosen by a hash of the row.
    let is_test = |r: &Record| {
        let key: Vec<String> = r.iter().map(Value::to_key).collect();
        fnv1a64(key.join("\u{1f}").as_bytes()).is_multiple_of(5)
    };
    let (mut test, mut train): (Vec<Record>, Vec<Record>) = rows.into_iter().partition(|r| is_test(r));
    // Mean imputation of missing floats, with training means.
    for (i, c) in schema.columns().iter().enumerate() {
        if c.kind == ColumnType::Float {
            let vals: Vec<f32> = train
                .iter()
                .filter_map(|r| r[i].as_f32())
                .filter(|v| !v.is_nan())
                .collect();
            let mean = vals.iter().sum::<f32>() / vals.len().max(1) as f32;
            for r in train.iter_mut().chain(test.iter_mut()) {
                if r[i].as_f32().is_some_and(f32::is_nan) {
                    r[i] = Value::Float(mean);
                }
            }
        }
    }

    let mut skip: HashSet<String> = args.drop.iter().cloned().collect();
    skip.insert(args.label.clone());
    let encoder = Encoder::adapt(&schema, &train, &skip)?;
    let labels = |rows: &[Record]| -> Result<Labels, Box<dyn Error>> {
        let y = rows.iter().map(|r| r[label].as_f32().unwrap_or(0.0)).collect();
        Ok(Tensor::from_vec(y, &[rows.len()])?)
    };
    let (xw, xc, xn) = encoder.encode(&train)?;
    let (tw, tc, tn) = encoder.encode(&test)?;
    let (y, ty) = (labels(&train)?, labels(&test)?);
    let roles = |r: Role| encoder.columns.iter().filter(|c| c.2 == r).count();
    println!(
        "{}: {} training rows, {} test rows, label `{}`; {} category, {} text and {} numeric columns, {} crosses",
        args.data.display(),
        train.len(),
        test.len(),
        args.label,
        roles(Role::Category),
        roles(Role::Text),
        roles(Role::Number),
        encoder.crosses.len()
    );

    let (ftrl, adam) = (|| Optimizer::ftrl(0.05), || Optimizer::adam(0.01));
    let report = |name: &str, (loss, acc, auc): (f32, f32, f32)| {
        println!("{name:>17}: final train loss {loss:.4}, test accuracy {acc:.3}, AUC {auc:.3}");
    };
    let e = args.epochs;
    report(
        "wide only (FTRL)",
        train_and_score(WideOnly::new(11), ftrl(), (&xw, &y), (&tw, &ty), e)?,
    );
    let (deep_x, deep_t) = ((xc.clone(), xn.clone()), (tc.clone(), tn.clone()));
    report(
        "deep only (Adam)",
        train_and_score(DeepOnly::new(11), adam(), (&deep_x, &y), (&deep_t, &ty), e)?,
    );
    let (x, t) = ((xw, xc, xn), (tw, tc, tn));
    report(
        "wide & deep",
        train_and_score(
            WideDeep::new(11),
            adam().with_group("linear.", ftrl()),
            (&x, &y),
            (&t, &ty),
            e,
        )?,
    );
    Ok(())
}
