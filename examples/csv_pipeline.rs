//! Run: `cargo run --release --example csv_pipeline`
//!
//! The eight diamonds CSV shards through a tf.data-style input pipeline —
//! list_files → interleave (parallel) → filter (train/validation split) → map (parallel) →
//! cache → shuffle → batch → map (to typed tensors) → prefetch — and a linear regression of
//! log(price) trained on those batches with a hand-written Adam loop over typed tensors
//! (`fit` lives elsewhere). Categorical columns go through `StringLookup` + `CategoryEncoding`,
//! numeric ones through `Normalization`, all adapted on the training rows. Reports the
//! validation RMSE against predicting the mean.

use std::sync::Arc;
use std::time::Instant;

use dimflow::prelude::*;
use tensor_nn::data::preprocessing::{fnv1a64, CategoryEncoding, Normalization, OutputMode, StringLookup};
use tensor_nn::data::{
    list_files, CsvFormat, CsvOptions, DataError, Dataset, FileOrder, Record, Schema, AUTOTUNE,
};

dims! { Batch; Features = 27; Out = 1; }

// x, y and z (mm) are left out: they repeat carat and hold data-entry errors (zeros, a
// 58.9 mm width) that a linear model extrapolates wildly.
/// One batch as typed tensors: features and target.
type XY = (Tensor<(Batch, Features)>, Tensor<(Batch, Out)>);

const NUMERIC: [&str; 3] = ["carat", "depth", "table"];
const CATEGORICAL: [&str; 3] = ["cut", "color", "clarity"];

/// One example: the raw numeric features (log carat added) and the three categories.
#[derive(Clone)]
struct Example {
    numeric: [f32; 4],
    categories: [String; 3],
    log_price: f32,
}

/// Decodes a record into an [`Example`] (log of carat and price).
fn to_example(schema: &Schema, row: Record) -> Result<Example, DataError> {
    let num = |name: &str| -> Result<f32, DataError> {
        let v = &row[schema.index_of(name)?];
        v.as_f32()
            .ok_or_else(|| DataError::User(format!("`{name}` is not a number")))
    };
    let cat = |name: &str| -> Result<String, DataError> { Ok(row[schema.index_of(name)?].to_key()) };
    let mut numeric = [0f32; 4];
    for (slot, name) in numeric.iter_mut().zip(NUMERIC) {
        *slot = num(name)?;
    }
    numeric[3] = numeric[0].ln();
    let [a, b, c] = CATEGORICAL;
    Ok(Example {
        numeric,
        categories: [cat(a)?, cat(b)?, cat(c)?],
        log_price: num("price")?.ln(),
    })
}

/// One validation row in ten, chosen by a hash of the row's values (stable across runs).
fn is_validation(row: &Record) -> bool {
    let key: Vec<String> = row.iter().map(|v| v.to_key()).collect();
    fnv1a64(key.join(",").as_bytes()).is_multiple_of(10)
}

/// The adapted preprocessing: normalisation of the 4 numerics, one-hot of the 3 categories.
struct Preprocess {
    norm: Normalization,
    lookups: Vec<StringLookup>,
    encodings: Vec<CategoryEncoding>,
}

impl Preprocess {
    fn adapt(train: &Dataset<Example>) -> Result<Self, DataError> {
        let rows = train.collect_vec()?;
        let mut norm = Normalization::new(4);
        norm.adapt(rows.iter().map(|e| &e.numeric[..]))?;
        let mut lookups = Vec::new();
        let mut encodings = Vec::new();
        for k in 0..3 {
            let keys: Vec<String> = rows.iter().map(|e| e.categories[k].clone()).collect();
            let lookup = StringLookup::adapt(&keys, 1, None)?;
            encodings.push(CategoryEncoding::new(
                lookup.vocabulary_size(),
                OutputMode::OneHot,
            )?);
            lookups.push(lookup);
        }
        Ok(Self {
            norm,
            lookups,
            encodings,
        })
    }

    fn width(&self) -> usize {
        4 + self
            .encodings
            .iter()
            .map(CategoryEncoding::num_tokens)
            .sum::<usize>()
    }

    /// A batch of examples as typed tensors: features `(Batch, Features)`, target `(Batch, Out)`.
    fn tensors(&self, batch: &[Example]) -> Result<XY, DataError> {
        let n = batch.len();
        let numeric: Vec<f32> = batch.iter().flat_map(|e| e.numeric).collect();
        let numeric = self.norm.apply(&numeric)?;
        let mut blocks = Vec::new();
        for k in 0..3 {
            let keys: Vec<String> = batch.iter().map(|e| e.categories[k].clone()).collect();
            let idx = self.lookups[k].apply(&keys);
            blocks.push((self.encodings[k].one_hot(&idx)?, self.encodings[k].num_tokens()));
        }
        let mut x = Vec::with_capacity(n * self.width());
        for r in 0..n {
            x.extend_from_slice(&numeric[r * 4..(r + 1) * 4]);
            for (block, w) in &blocks {
                x.extend_from_slice(&block[r * w..(r + 1) * w]);
            }
        }
        let y: Vec<f32> = batch.iter().map(|e| e.log_price).collect();
        Ok((Tensor::from_vec(x, &[n])?, Tensor::from_vec(y, &[n])?))
    }
}

/// Adam (Kingma & Ba) on a flat parameter vector.
struct Adam {
    m: Vec<f32>,
    v: Vec<f32>,
    t: i32,
    lr: f32,
}

impl Adam {
    fn step(&mut self, params: &mut [f32], grads: &[f32]) {
        let (b1, b2, eps) = (0.9f32, 0.999f32, 1e-7f32);
        self.t += 1;
        for i in 0..params.len() {
            self.m[i] = b1 * self.m[i] + (1.0 - b1) * grads[i];
            self.v[i] = b2 * self.v[i] + (1.0 - b2) * grads[i] * grads[i];
            let mh = self.m[i] / (1.0 - b1.powi(self.t));
            let vh = self.v[i] / (1.0 - b2.powi(self.t));
            params[i] -= self.lr * mh / (vh.sqrt() + eps);
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let start = Instant::now();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/diamonds");
    let pattern = format!("{}/part-*.csv", dir.display());
    let files = list_files(&pattern, FileOrder::Sorted)?;
    let first = files.collect_vec()?.remove(0);
    let format = CsvFormat::new(&first, &CsvOptions::default())?;
    let schema: Arc<Schema> = Arc::clone(format.schema());

    // Every shard read on its own thread, four at a time, records interleaved 16 by 16.
    let f = format.clone();
    let rows = files.interleave_parallel(move |p| f.read(&p), 4, 16, 64);
    let s = Arc::clone(&schema);
    let examples = |validation: bool| {
        let s = Arc::clone(&s);
        rows.filter(move |r| is_validation(r) == validation)
            .try_map_parallel(move |r| to_example(&s, r), AUTOTUNE)
            .cache()
    };
    let (train, valid) = (examples(false), examples(true));

    let prep = Arc::new(Preprocess::adapt(&train)?);
    if Some(prep.width()) != Features::SIZE {
        return Err(format!(
            "the features are {} wide, `Features` says {:?}",
            prep.width(),
            Features::SIZE
        )
        .into());
    }
    let p = Arc::clone(&prep);
    let train_batches = train
        .shuffle(8192, 42, true)
        .batch(256, false)
        .try_map(move |b| p.tensors(&b))
        .prefetch(4);
    let p = Arc::clone(&prep);
    let valid_batches = valid
        .batch(1024, false)
        .try_map(move |b| p.tensors(&b))
        .prefetch(2);

    // y = x w + b, trained with Adam on the mean squared error of log(price).
    let mut w = vec![0f32; prep.width()];
    let mut b = 0f32;
    let mut opt_w = Adam {
        m: vec![0.0; w.len()],
        v: vec![0.0; w.len()],
        t: 0,
        lr: 0.02,
    };
    let mut opt_b = Adam {
        m: vec![0.0],
        v: vec![0.0],
        t: 0,
        lr: 0.02,
    };
    let evaluate = |w: &[f32], b: f32| -> Result<(f64, f64, f64), DataError> {
        let wt = Tensor::<(Features, Out)>::from_vec(w.to_vec(), &[])?;
        let (mut se, mut se_dollars, mut n) = (0f64, 0f64, 0f64);
        for batch in valid_batches.iter()? {
            let (x, y) = batch?;
            let pred = x.matmul(&wt).add_scalar(b);
            for (p, t) in pred.to_vec().into_iter().zip(y.to_vec()) {
                se += f64::from(p - t).powi(2);
                se_dollars += (f64::from(p).exp() - f64::from(t).exp()).powi(2);
                n += 1.0;
            }
        }
        Ok(((se / n).sqrt(), (se_dollars / n).sqrt(), n))
    };

    let epochs = 10;
    for epoch in 1..=epochs {
        let t0 = Instant::now();
        let (mut loss, mut seen) = (0f64, 0usize);
        for batch in train_batches.iter()? {
            let (x, y) = batch?;
            let n = x.dims()[0];
            let wt = Tensor::<(Features, Out)>::from_vec(w.clone(), &[])?;
            let err = x.matmul(&wt).add_scalar(b).sub(&y); // (Batch, Out)
            loss += f64::from(err.powi(2).sum_all());
            seen += n;
            // d/dw mean(err^2) = 2/n x^T err;  d/db = 2/n sum(err).
            let gw = x.t().matmul(&err).mul_scalar(2.0 / n as f32);
            let gb = 2.0 * err.sum_all() / n as f32;
            opt_w.step(&mut w, &gw.to_vec());
            opt_b.step(std::slice::from_mut(&mut b), &[gb]);
        }
        let (rmse, _, _) = evaluate(&w, b)?;
        println!(
            "epoch {epoch}: train MSE {:.4} over {seen} rows, validation RMSE(log price) {rmse:.4}  [{:.2} s]",
            loss / seen as f64,
            t0.elapsed().as_secs_f64()
        );
    }

    let (rmse, rmse_dollars, n) = evaluate(&w, b)?;
    // Baseline: predict the training mean of log(price) for everything.
    let train_rows = train.collect_vec()?;
    let mean = train_rows.iter().map(|e| f64::from(e.log_price)).sum::<f64>() / train_rows.len() as f64;
    let valid_rows = valid.collect_vec()?;
    let base = (valid_rows
        .iter()
        .map(|e| (f64::from(e.log_price) - mean).powi(2))
        .sum::<f64>()
        / n)
        .sqrt();
    println!(
        "validation ({n} rows): RMSE log(price) {rmse:.4} (predicting the mean: {base:.4}), RMSE price ${rmse_dollars:.0}"
    );
    println!(
        "{} training rows, total time {:.2} s",
        train_rows.len(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
