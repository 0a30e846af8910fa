//! CSV parsing throughput of the Dimflow pipeline on a generated file, and prefetch overlap.
//! Run with `bench/csv_side_by_side.sh`, which also times TensorFlow on the same file, or
//! `cargo bench -p tensor-nn --bench csv_side_by_side -- FILE [csv|prefetch]`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tensor_nn::data::{CsvFormat, CsvOptions, DataError, Dataset, RecordBatch, Result};

/// CPU seconds used by this process so far (all threads), from /proc/self/stat (USER_HZ = 100).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    // Fields 14 and 15 of stat (utime, stime) are items 11 and 12 after the `)`.
    (ticks(11) + ticks(12)) / 100.0
}

fn time_epoch<T: Send + 'static>(
    ds: &Dataset<T>,
    rows_of: impl Fn(&T) -> usize,
) -> Result<(usize, f64, f64)> {
    let (mut best, mut best_cpu, mut rows) = (f64::INFINITY, f64::INFINITY, 0);
    for _ in 0..2 {
        let (t0, c0) = (Instant::now(), cpu_seconds());
        rows = 0;
        for item in ds.iter()? {
            rows += rows_of(&item?);
        }
        best = best.min(t0.elapsed().as_secs_f64());
        best_cpu = best_cpu.min(cpu_seconds() - c0);
    }
    Ok((rows, best, best_cpu))
}

fn report(name: &str, bytes: u64, (rows, secs, cpu): (usize, f64, f64)) {
    let mb = bytes as f64 / 1e6;
    println!(
        "dimflow {name}: {rows} rows, {mb:.1} MB in {secs:.3} s = {:.1} MB/s, {:.0} rows/s; CPU {cpu:.2} s = {:.1} MB per CPU-s (best of 2)",
        mb / secs,
        rows as f64 / secs,
        mb / cpu.max(1e-9)
    );
}

fn raw_split(path: &Path) -> Result<(usize, f64, f64)> {
    let (t0, c0) = (Instant::now(), cpu_seconds());
    let file = std::fs::File::open(path).map_err(|e| DataError::io(path, &e))?;
    let mut rdr = csv::ReaderBuilder::new().has_headers(true).from_reader(file);
    let mut rec = csv::ByteRecord::new();
    let mut rows = 0;
    while rdr
        .read_byte_record(&mut rec)
        .map_err(|e| DataError::User(e.to_string()))?
    {
        rows += 1;
    }
    Ok((rows, t0.elapsed().as_secs_f64(), cpu_seconds() - c0))
}

fn csv_bench(path: &Path) -> Result<()> {
    let bytes = std::fs::metadata(path)
        .map_err(|e| DataError::io(path, &e))?
        .len();
    let format = CsvFormat::new(path, &CsvOptions::default())?;
    let schema = format.schema().clone();
    let kinds: Vec<_> = schema.columns().iter().map(|c| c.kind.name()).collect();
    println!("schema: {kinds:?}");

    report(
        "csv crate, split only (no typing; lower bound)",
        bytes,
        raw_split(path)?,
    );
    report("read -> records", bytes, time_epoch(&format.read(path), |_| 1)?);
    let s = schema.clone();
    let batches = format
        .read(path)
        .batch(1024, false)
        .try_map(move |rows| RecordBatch::from_records(s.clone(), &rows));
    report(
        "read -> batch(1024) -> RecordBatch",
        bytes,
        time_epoch(&batches, RecordBatch::num_rows)?,
    );
    let columnar = format.read_batches(path, 1024);
    report(
        "read_batches(1024) (columnar)",
        bytes,
        time_epoch(&columnar, RecordBatch::num_rows)?,
    );
    for threads in [1, 2] {
        let par = format.read_batches_parallel(path, 1024, threads);
        let name = format!("read_batches_parallel(1024, {threads} decode thread(s) + 1 splitter)");
        report(&name, bytes, time_epoch(&par, RecordBatch::num_rows)?);
    }
    Ok(())
}

/// Spins for `d` of wall time (a CPU-bound stand-in for work).
fn spin(d: Duration) {
    let t0 = Instant::now();
    while t0.elapsed() < d {
        std::hint::spin_loop();
    }
}

fn prefetch_bench() -> Result<()> {
    let steps = 50;
    let (produce, train) = (Duration::from_millis(8), Duration::from_millis(12));
    for (kind, cpu_bound) in [("sleep", false), ("spin (CPU-bound)", true)] {
        let work = move |d: Duration| if cpu_bound { spin(d) } else { std::thread::sleep(d) };
        let slow = Dataset::range(0, steps).map(move |x| {
            work(produce);
            x
        });
        let run = |ds: &Dataset<i64>| -> Result<f64> {
            let t0 = Instant::now();
            for x in ds.iter()? {
                x?;
                work(train);
            }
            Ok(t0.elapsed().as_secs_f64())
        };
        let without = run(&slow)?;
        let with = run(&slow.prefetch(2))?;
        let (p, t) = (
            produce.as_secs_f64() * steps as f64,
            train.as_secs_f64() * steps as f64,
        );
        println!(
            "prefetch overlap [{kind}]: {steps} steps, map {:.0} ms + train step {:.0} ms each: \
             without prefetch {:.3} s (sum {:.3} s), with prefetch(2) {:.3} s (max {:.3} s)",
            produce.as_secs_f64() * 1e3,
            train.as_secs_f64() * 1e3,
            without,
            p + t,
            with,
            p.max(t)
        );
    }
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let path: PathBuf = args
        .first()
        .cloned()
        .unwrap_or_else(|| "target/bench100.csv".into())
        .into();
    let mode = args.get(1).map_or("all", String::as_str);
    if mode == "csv" || mode == "all" {
        csv_bench(&path)?;
    }
    if mode == "prefetch" || mode == "all" {
        prefetch_bench()?;
    }
    Ok(())
}
