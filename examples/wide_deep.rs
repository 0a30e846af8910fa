//! Run: `cargo run --release --example wide_deep -- --data data/titanic/titanic.csv --label survived`
//!
//! Wide & deep on a mixed categorical/numeric CSV (Titanic by default) with the preprocessing
//! layers: a `FeatureLayer` adapted on the training rows builds the wide input (one-hot
//! vocabularies, hashed high-cardinality strings, quantile buckets of numerics, hashed crosses of
//! categorical pairs such as sex × class) and the deep input (trainable embeddings of the
//! categories and normalised numerics). The wide part is a linear model trained with FTRL, the
//! deep part a 16-unit ReLU network trained with Adam (embeddings included), jointly on the sum
//! of their logits; wide-only and deep-only baselines are trained the same way. Reports accuracy
//! and AUC on a held-out fifth of the rows.
//!
//! Until the multi-input `model!` lands, the two parts and their gradients are written out by
//! hand here. Options: `--data FILE`, `--label COLUMN`, `--drop a,b` (default `boat,body,name`,
//! Titanic's label leaks and a per-row identifier), `--epochs N` (default 30).

use std::collections::HashSet;
use std::error::Error;
use std::path::PathBuf;
use std::sync::Arc;

use tensor_nn::data::preprocessing::{fnv1a64, FeatureLayer, FeatureSpec, Features};
use tensor_nn::data::{csv, ColumnType, CsvOptions, Dataset, Record, RecordBatch, Schema, Value};

const HIDDEN: usize = 16;

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

/// A small deterministic generator for the initial weights (SplitMix64).
struct Rng(u64);

impl Rng {
    fn uniform(&mut self, limit: f32) -> f32 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        let u = ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 24) as f32;
        (2.0 * u - 1.0) * limit
    }
}

/// Adam (Keras update, epsilon 1e-7) on a flat vector.
struct Adam {
    m: Vec<f32>,
    v: Vec<f32>,
    t: i32,
    lr: f32,
}

impl Adam {
    fn new(n: usize, lr: f32) -> Self {
        Self {
            m: vec![0.0; n],
            v: vec![0.0; n],
            t: 0,
            lr,
        }
    }

    fn step(&mut self, w: &mut [f32], g: &[f32]) {
        self.t += 1;
        let (b1, b2) = (0.9f32, 0.999f32);
        let lr = self.lr * (1.0 - b2.powi(self.t)).sqrt() / (1.0 - b1.powi(self.t));
        for i in 0..w.len() {
            self.m[i] = b1 * self.m[i] + (1.0 - b1) * g[i];
            self.v[i] = b2 * self.v[i] + (1.0 - b2) * g[i] * g[i];
            w[i] -= lr * self.m[i] / (self.v[i].sqrt() + 1e-7);
        }
    }
}

/// FTRL-proximal (McMahan et al. 2013) as Keras' `Ftrl` with `learning_rate_power = -0.5`,
/// `initial_accumulator_value = 0.1` and no l1/l2 penalty.
struct Ftrl {
    accum: Vec<f32>,
    linear: Vec<f32>,
    lr: f32,
}

impl Ftrl {
    fn new(n: usize, lr: f32) -> Self {
        Self {
            accum: vec![0.1; n],
            linear: vec![0.0; n],
            lr,
        }
    }

    fn step(&mut self, w: &mut [f32], g: &[f32]) {
        for i in 0..w.len() {
            let new_accum = self.accum[i] + g[i] * g[i];
            let sigma = (new_accum.sqrt() - self.accum[i].sqrt()) / self.lr;
            self.linear[i] += g[i] - sigma * w[i];
            w[i] = -self.linear[i] / (new_accum.sqrt() / self.lr);
            self.accum[i] = new_accum;
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Parts {
    Wide,
    Deep,
    Both,
}

/// The wide linear part and the deep network, over a fitted feature layer.
struct WideDeep {
    parts: Parts,
    layer: FeatureLayer,
    wide: Vec<f32>, // wide weights, then the bias
    deep: Vec<f32>, // w1 [deep_width, HIDDEN], b1 [HIDDEN], w2 [HIDDEN], b2
    ftrl: Ftrl,
    adam: Adam,
    adam_embed: Vec<Adam>,
}

impl WideDeep {
    fn new(parts: Parts, layer: FeatureLayer, seed: u64) -> Self {
        let (ww, dw) = (layer.wide_width(), layer.deep_width());
        let mut rng = Rng(seed);
        let mut deep = vec![0.0; dw * HIDDEN + HIDDEN + HIDDEN + 1];
        let lim1 = (6.0 / (dw + HIDDEN) as f32).sqrt();
        let lim2 = (6.0 / (HIDDEN + 1) as f32).sqrt();
        for (i, w) in deep.iter_mut().enumerate() {
            if i < dw * HIDDEN {
                *w = rng.uniform(lim1);
            } else if (dw * HIDDEN + HIDDEN..dw * HIDDEN + 2 * HIDDEN).contains(&i) {
                *w = rng.uniform(lim2);
            }
        }
        let mut layer = layer;
        let adam_embed = layer
            .params_mut()
            .iter()
            .map(|p| Adam::new(p.value.len(), 0.01))
            .collect();
        Self {
            parts,
            wide: vec![0.0; ww + 1],
            ftrl: Ftrl::new(ww + 1, 0.05),
            adam: Adam::new(deep.len(), 0.01),
            deep,
            layer,
            adam_embed,
        }
    }

    /// Logits, and the hidden activations the backward pass needs.
    fn forward(&self, f: &Features) -> (Vec<f32>, Vec<f32>) {
        let (ww, dw) = (self.layer.wide_width(), self.layer.deep_width());
        let mut logits = vec![0.0; f.rows];
        let mut hidden = vec![0.0; f.rows * HIDDEN];
        let (w1, rest) = self.deep.split_at(dw * HIDDEN);
        let (b1, rest) = rest.split_at(HIDDEN);
        let (w2, b2) = rest.split_at(HIDDEN);
        for r in 0..f.rows {
            if self.parts != Parts::Deep {
                let x = &f.wide[r * ww..(r + 1) * ww];
                logits[r] += x.iter().zip(&self.wide).map(|(a, b)| a * b).sum::<f32>() + self.wide[ww];
            }
            if self.parts != Parts::Wide {
                let x = &f.deep[r * dw..(r + 1) * dw];
                let h = &mut hidden[r * HIDDEN..(r + 1) * HIDDEN];
                for (k, hk) in h.iter_mut().enumerate() {
                    let z = b1[k] + (0..dw).map(|i| x[i] * w1[i * HIDDEN + k]).sum::<f32>();
                    *hk = z.max(0.0);
                }
                logits[r] += h.iter().zip(w2).map(|(a, b)| a * b).sum::<f32>() + b2[0];
            }
        }
        (logits, hidden)
    }

    /// One step on the mean binary cross-entropy of a batch; returns the summed loss.
    fn train_step(&mut self, f: &Features, y: &[f32]) -> Result<f64, Box<dyn Error>> {
        let (ww, dw) = (self.layer.wide_width(), self.layer.deep_width());
        let (logits, hidden) = self.forward(f);
        let n = f.rows as f32;
        // d(mean BCE)/d logit = (sigmoid(logit) - y) / n.
        let mut loss = 0f64;
        let g: Vec<f32> = logits
            .iter()
            .zip(y)
            .map(|(&z, &t)| {
                loss += f64::from(z.max(0.0) - z * t + (-z.abs()).exp().ln_1p());
                (1.0 / (1.0 + (-z).exp()) - t) / n
            })
            .collect();
        if self.parts != Parts::Deep {
            let mut gw = vec![0.0; ww + 1];
            for (gr, x) in g.iter().zip(f.wide.chunks(ww.max(1))) {
                for (j, &xj) in x.iter().enumerate() {
                    gw[j] += gr * xj;
                }
                gw[ww] += gr;
            }
            self.ftrl.step(&mut self.wide, &gw);
        }
        if self.parts != Parts::Wide {
            let mut gd = vec![0.0; self.deep.len()];
            let mut g_input = vec![0.0; f.rows * dw];
            let w1_end = dw * HIDDEN;
            for r in 0..f.rows {
                let x = &f.deep[r * dw..(r + 1) * dw];
                let h = &hidden[r * HIDDEN..(r + 1) * HIDDEN];
                for k in 0..HIDDEN {
                    gd[w1_end + HIDDEN + k] += g[r] * h[k];
                    if h[k] > 0.0 {
                        let gh = g[r] * self.deep[w1_end + HIDDEN + k];
                        gd[w1_end + k] += gh;
                        for i in 0..dw {
                            gd[i * HIDDEN + k] += gh * x[i];
                            g_input[r * dw + i] += gh * self.deep[i * HIDDEN + k];
                        }
                    }
                }
                gd[w1_end + 2 * HIDDEN] += g[r];
            }
            self.adam.step(&mut self.deep, &gd);
            self.layer.backward(f, &g_input)?;
            for (p, opt) in self.layer.params_mut().into_iter().zip(&mut self.adam_embed) {
                opt.step(p.value, p.grad);
            }
        }
        Ok(loss)
    }
}

/// Area under the ROC curve by the rank-sum (Mann–Whitney) formula, ties sharing ranks.
fn auc(scores: &[f32], labels: &[f32]) -> f64 {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut ranks = vec![0f64; scores.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        for &k in &idx[i..=j] {
            ranks[k] = (i + j) as f64 / 2.0 + 1.0;
        }
        i = j + 1;
    }
    let pos = labels.iter().filter(|&&y| y > 0.5).count() as f64;
    let neg = labels.len() as f64 - pos;
    let rank_sum: f64 = ranks
        .iter()
        .zip(labels)
        .filter(|(_, &y)| y > 0.5)
        .map(|(r, _)| r)
        .sum();
    (rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg)
}

/// The feature columns chosen from the schema: categories (few distinct values) go wide as
/// one-hot and deep as embeddings, many-valued strings go wide hashed, numbers go deep
/// normalised and wide bucketized, and the first three categories are crossed pairwise.
fn choose_features(schema: &Schema, rows: &[Record], skip: &HashSet<String>) -> Vec<FeatureSpec> {
    let mut specs = Vec::new();
    let mut categorical = Vec::new();
    for (i, col) in schema.columns().iter().enumerate() {
        if skip.contains(&col.name) {
            continue;
        }
        let distinct: HashSet<String> = rows.iter().map(|r| r[i].to_key()).collect();
        let name = col.name.clone();
        match col.kind {
            ColumnType::Float => {
                specs.push(FeatureSpec::Numeric { column: name.clone() });
                specs.push(FeatureSpec::Bucketized {
                    column: name,
                    num_bins: 5,
                });
            }
            ColumnType::Int if distinct.len() > 10 => {
                specs.push(FeatureSpec::Numeric { column: name });
            }
            ColumnType::Int | ColumnType::Str if distinct.len() <= 20 => {
                specs.push(FeatureSpec::Indicator {
                    column: name.clone(),
                    vocabulary: None,
                });
                specs.push(FeatureSpec::Embedded {
                    column: name.clone(),
                    dim: 4,
                });
                categorical.push(name);
            }
            _ => specs.push(FeatureSpec::Hashed {
                column: name,
                num_bins: 64,
            }),
        }
    }
    let first: Vec<&String> = categorical.iter().take(3).collect();
    for a in 0..first.len() {
        for b in a + 1..first.len() {
            specs.push(FeatureSpec::Crossed {
                columns: vec![first[a].clone(), first[b].clone()],
                num_bins: 64,
            });
        }
    }
    specs
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
    let specs = choose_features(&schema, &train, &skip);
    let s = Arc::clone(&schema);
    let to_batch = move |rows: Vec<Record>| RecordBatch::from_records(Arc::clone(&s), &rows);
    let train_all = Dataset::from_vec(train.clone())
        .batch(4096, false)
        .try_map(to_batch.clone());
    let test_batch = RecordBatch::from_records(Arc::clone(&schema), &test)?;
    let test_y = test_batch.floats(&args.label)?;
    println!(
        "{}: {} training rows, {} test rows, label `{}` (column {}), {} feature columns",
        args.data.display(),
        train.len(),
        test.len(),
        args.label,
        label + 1,
        specs.len()
    );

    for (name, parts) in [
        ("wide only (FTRL)", Parts::Wide),
        ("deep only (Adam)", Parts::Deep),
        ("wide & deep", Parts::Both),
    ] {
        let layer = FeatureLayer::adapt(&specs, &train_all, 7)?;
        let (ww, dw) = (layer.wide_width(), layer.deep_width());
        let mut model = WideDeep::new(parts, layer, 11);
        let batches = Dataset::from_vec(train.clone())
            .shuffle(2048, 3, true)
            .batch(32, false)
            .try_map(to_batch.clone())
            .prefetch(4);
        let mut last = 0.0;
        for _ in 0..args.epochs {
            let (mut loss, mut n) = (0f64, 0usize);
            for b in batches.iter()? {
                let b = b?;
                let f = model.layer.transform(&b)?;
                loss += model.train_step(&f, &b.floats(&args.label)?)?;
                n += b.num_rows();
            }
            last = loss / n as f64;
        }
        let f = model.layer.transform(&test_batch)?;
        let (logits, _) = model.forward(&f);
        let correct = logits
            .iter()
            .zip(&test_y)
            .filter(|(&z, &y)| (z > 0.0) == (y > 0.5))
            .count();
        println!(
            "{name:>17}: wide {ww:>3} + deep {dw:>2} inputs, final train loss {last:.4}, test accuracy {:.3}, AUC {:.3}",
            correct as f64 / test_y.len() as f64,
            auc(&logits, &test_y)
        );
    }
    Ok(())
}
