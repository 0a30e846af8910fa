//! CSV parsing throughput of the Dimflow pipeline on a generated file (run with
//! `bench/csv_side_by_side.sh`, which also times TensorFlow on the same file):
//! `cargo bench -p tensor-nn --bench csv_side_by_side -- FILE`.

use std::path::PathBuf;
use std::time::Instant;

use tensor_nn::data::{CsvFormat, CsvOptions, Dataset, RecordBatch, Result};

fn time_epoch<T: Send + 'static>(ds: &Dataset<T>, rows_of: impl Fn(&T) -> usize) -> Result<(usize, f64)> {
    let mut best = f64::INFINITY;
    let mut rows = 0;
    for _ in 0..2 {
        let t0 = Instant::now();
        rows = 0;
        for item in ds.iter()? {
            rows += rows_of(&item?);
        }
        best = best.min(t0.elapsed().as_secs_f64());
    }
    Ok((rows, best))
}

fn report(name: &str, bytes: u64, rows: usize, secs: f64) {
    let mb = bytes as f64 / 1e6;
    println!(
        "dimflow {name}: {rows} rows, {mb:.1} MB in {secs:.3} s = {:.1} MB/s, {:.0} rows/s (best of 2)",
        mb / secs,
        rows as f64 / secs
    );
}

fn main() -> Result<()> {
    let path: PathBuf = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .unwrap_or_else(|| "target/bench100.csv".into())
        .into();
    let bytes = std::fs::metadata(&path)
        .map_err(|e| tensor_nn::data::DataError::io(&path, &e))?
        .len();
    let format = CsvFormat::new(&path, &CsvOptions::default())?;
    let schema = format.schema().clone();
    println!(
        "schema: {:?}",
        schema
            .columns()
            .iter()
            .map(|c| (c.name.as_str(), c.kind.name()))
            .collect::<Vec<_>>()
    );

    let records = format.read(&path);
    let (rows, secs) = time_epoch(&records, |_| 1)?;
    report("csv -> records", bytes, rows, secs);

    let s = schema.clone();
    let batches = format
        .read(&path)
        .batch(1024, false)
        .try_map(move |rows| RecordBatch::from_records(s.clone(), &rows));
    let (rows, secs) = time_epoch(&batches, RecordBatch::num_rows)?;
    report("csv -> batch(1024) -> columns", bytes, rows, secs);

    let columnar = format.read_batches(&path, 1024);
    let (rows, secs) = time_epoch(&columnar, RecordBatch::num_rows)?;
    report("csv read_batches(1024) (columnar)", bytes, rows, secs);
    Ok(())
}
