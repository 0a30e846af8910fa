//! No input bytes make the CSV path panic: arbitrary bytes (and CSV-looking noise) through
//! schema inference, the row reader, the columnar reader and the conversion to tensors.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use tensor_nn::data::{ColumnType, CsvFormat, CsvOptions, RecordBatch, Schema, Value};

tensor_macros::dims! { crate = ::tensor_core; Batch; Two = 2; }

static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn write(bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dimflow-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(format!("{}.csv", COUNTER.fetch_add(1, Ordering::Relaxed)));
    std::fs::write(&path, bytes).expect("write");
    path
}

/// Runs every CSV path over the file; only panics fail (errors are expected).
fn exercise(path: &Path, opts: &CsvOptions) {
    if let Ok(format) = CsvFormat::new(path, opts) {
        let schema = format.schema().clone();
        for header in [true, false] {
            let f = CsvFormat::with_schema((*schema).clone(), header, b',').expect("valid schema");
            let rows: Vec<_> = f
                .read(path)
                .skip_errors()
                .batch(3, false)
                .iter()
                .expect("start")
                .collect();
            for batch in rows.into_iter().flatten() {
                let b = RecordBatch::from_records(schema.clone(), &batch).expect("rows follow the schema");
                let names: Vec<&str> = schema.columns().iter().map(|c| c.name.as_str()).take(2).collect();
                let _ = b.tensor::<(Batch, Two)>(&names);
            }
            let _ = f.read_batches(path, 4).iter().expect("start").count();
            let _ = f.read_batches_parallel(path, 3, 2).iter().expect("start").count();
        }
    }
    let fixed = Schema::new()
        .column("a", ColumnType::Float)
        .column_with_default("b", ColumnType::Int, Value::Int(0))
        .column("c", ColumnType::Str);
    let f = CsvFormat::with_schema(fixed, false, b',').expect("valid schema");
    let _ = f.read(path).iter().expect("start").count();
    let _ = f
        .read_batches(path, 2)
        .skip_errors()
        .iter()
        .expect("start")
        .count();
}

fn csv_like() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![
            Just(b','),
            Just(b'"'),
            Just(b'\n'),
            Just(b'\r'),
            Just(b'-'),
            Just(b'.'),
            Just(b'e'),
            b'0'..=b'9',
            any::<u8>(),
        ],
        0..300,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let path = write(&bytes);
        exercise(&path, &CsvOptions::default());
        exercise(&path, &CsvOptions::default().header(false));
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn csv_like_noise_never_panics(bytes in csv_like()) {
        let path = write(&bytes);
        exercise(&path, &CsvOptions::default());
        exercise(&path, &CsvOptions::default().header(false).infer_rows(3));
        let _ = std::fs::remove_file(path);
    }
}
