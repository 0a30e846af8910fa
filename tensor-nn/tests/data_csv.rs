//! CSV decoding against known parse results, error messages naming file, line, column and
//! value, and the shipped diamonds and Titanic tables against their documented counts.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tensor_core::Tensor;
use tensor_nn::data::{
    csv, list_files, ColumnData, ColumnType, CsvFormat, CsvOptions, DataError, FileOrder, Record,
    RecordBatch, Schema, Value,
};

tensor_macros::dims! { crate = ::tensor_core; Batch; F = 2; }

fn temp_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dimflow-csv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path
}

/// The names and types of a schema's columns.
fn kinds(schema: &Schema) -> Vec<(&str, ColumnType)> {
    schema
        .columns()
        .iter()
        .map(|c| (c.name.as_str(), c.kind))
        .collect()
}

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../data")
}

#[test]
fn infers_types_and_reads_quoted_fields() {
    let path = temp_file(
        "quoted.csv",
        "id,score,name,note\n1,2.5,plain,\"a, b\"\n2,-3,\"say \"\"hi\"\"\",\"two\nlines\"\n3,1e3,x,\n",
    );
    let (ds, schema) = csv(&[&path], CsvOptions::default()).unwrap();
    assert_eq!(
        kinds(&schema),
        vec![
            ("id", ColumnType::Int),
            ("score", ColumnType::Float),
            ("name", ColumnType::Str),
            ("note", ColumnType::Str)
        ]
    );
    let rows = ds.collect_vec().unwrap();
    let s = |x: &str| Value::Str(x.to_string());
    assert_eq!(
        rows,
        vec![
            vec![Value::Int(1), Value::Float(2.5), s("plain"), s("a, b")],
            vec![
                Value::Int(2),
                Value::Float(-3.0),
                s("say \"hi\""),
                s("two\nlines")
            ],
            // An empty string field takes the inferred default, the empty string.
            vec![Value::Int(3), Value::Float(1000.0), s("x"), s("")],
        ]
    );
}

#[test]
fn parse_errors_name_file_line_column_and_value() {
    // Line 4 follows a record spanning lines 2-3, so line numbers count physical lines.
    let path = temp_file("bad.csv", "a,b\n1,\"x\ny\"\n2,zz\n3,4\n");
    let schema = Schema::new()
        .column("a", ColumnType::Int)
        .column("b", ColumnType::Float);
    let (ds, _) = csv(&[&path], CsvOptions::default().schema(schema)).unwrap();
    let items: Vec<_> = ds.skip_errors().iter().unwrap().collect();
    assert_eq!(items, vec![Ok(vec![Value::Int(3), Value::Float(4.0)])]);

    let schema = Schema::new()
        .column("a", ColumnType::Int)
        .column("b", ColumnType::Float);
    let (ds, _) = csv(&[&path], CsvOptions::default().schema(schema)).unwrap();
    let err = ds.iter().unwrap().next().unwrap().unwrap_err();
    assert_eq!(
        err,
        DataError::Parse {
            file: path.clone(),
            line: 2,
            column: "b".into(),
            index: 2,
            value: "x\ny".into(),
            expected: "float",
        }
    );
    let path2 = temp_file("bad2.csv", "a,b\n1,2\n2,zz\n");
    let (ds, _) = csv(
        &[&path2],
        CsvOptions::default().schema(
            Schema::new()
                .column("a", ColumnType::Int)
                .column("b", ColumnType::Float),
        ),
    )
    .unwrap();
    let items: Vec<_> = ds.iter().unwrap().collect();
    assert_eq!(
        items[1].as_ref().unwrap_err().to_string(),
        format!(
            "{}:3: column `b` (#2): cannot parse \"zz\" as float",
            path2.display()
        )
    );
}

#[test]
fn missing_values_defaults_and_field_counts() {
    let path = temp_file("missing.csv", "name,age,fare\nann,30,7.25\nbob,,8.5\ncy,40\n");
    let opts = CsvOptions::default();
    let (ds, schema) = csv(&[&path], opts.clone()).unwrap();
    assert_eq!(schema.columns()[1].kind, ColumnType::Int);
    let items: Vec<_> = ds.skip_errors().iter().unwrap().collect();
    assert_eq!(items.len(), 1);

    let (ds, _) = csv(&[&path], opts.clone()).unwrap();
    let mut it = ds.skip_errors().iter().unwrap();
    let good: Vec<_> = it.by_ref().collect();
    assert_eq!(good.len(), 1);
    assert_eq!(it.skipped(), 2);
    assert_eq!(
        it.first_skipped().unwrap().to_string(),
        format!(
            "{}:3: column `age` (#2): missing value and no default",
            path.display()
        )
    );

    let (ds, _) = csv(&[&path], opts.default_value("age", Value::Int(-1))).unwrap();
    let items: Vec<_> = ds.iter().unwrap().collect();
    assert_eq!(
        items[1],
        Ok(vec![Value::Str("bob".into()), Value::Int(-1), Value::Float(8.5)])
    );
    assert_eq!(
        items[2],
        Err(DataError::FieldCount {
            file: path.clone(),
            line: 4,
            expected: 3,
            found: 2
        })
    );
    // A default of the wrong type is refused up front.
    let bad = CsvOptions::default().default_value("name", Value::Float(0.0));
    assert!(matches!(csv(&[&path], bad), Err(DataError::ColumnType { .. })));
}

#[test]
fn header_must_match_an_explicit_schema_and_missing_files_are_named() {
    let path = temp_file("hdr.csv", "x,y\n1,2\n");
    let schema = Schema::new()
        .column("x", ColumnType::Int)
        .column("z", ColumnType::Int);
    let format = CsvFormat::with_schema(schema, true, b',').unwrap();
    let err = format.read(&path).collect_vec().unwrap_err();
    assert!(
        matches!(err, DataError::Schema(ref m) if m.contains("does not match")),
        "{err}"
    );

    let missing = path.with_file_name("nope.csv");
    let err = format.read(&missing).iter().unwrap_err();
    assert_eq!(
        err,
        DataError::FileNotFound {
            path: missing.clone()
        }
    );
    assert!(matches!(
        csv(&[&missing], CsvOptions::default()),
        Err(DataError::FileNotFound { .. })
    ));
}

#[test]
fn columnar_batches_agree_with_rows_and_make_tensors() {
    let path = temp_file("cols.csv", "a;b;c\n1;0.5;u\n2;1.5;v\n3;x;w\n4;3.5;z\n5;4.5;y\n");
    let opts = CsvOptions::default().delimiter(b';').schema(
        Schema::new()
            .column("a", ColumnType::Int)
            .column("b", ColumnType::Float)
            .column("c", ColumnType::Str),
    );
    let format = CsvFormat::new(&path, &opts).unwrap();
    let batches: Vec<RecordBatch> = format.read_batches(&path, 2).skip_errors().collect_vec().unwrap();
    // Row 3 is bad: batches of 2 good rows keep filling around it.
    assert_eq!(
        batches.iter().map(RecordBatch::num_rows).collect::<Vec<_>>(),
        vec![2, 2]
    );
    assert_eq!(batches[1].column("a").unwrap(), &ColumnData::Int(vec![4, 5]));
    assert_eq!(
        batches[1].strings("c").unwrap(),
        &["z".to_string(), "y".to_string()]
    );

    // The parallel reader gives the same batches when no row is bad, and otherwise the error
    // first and the batch one row short.
    let par = format
        .read_batches_parallel(&path, 2, 2)
        .iter()
        .unwrap()
        .collect::<Vec<_>>();
    assert_eq!(par.len(), 2, "the default policy stops at the error");
    assert_eq!(par[0].as_ref().unwrap(), &batches[0]);
    assert!(
        matches!(
            &par[1],
            Err(DataError::Parse {
                line: 4,
                index: 2,
                ..
            })
        ),
        "{:?}",
        par[1]
    );
    let ds = format.read_batches_parallel(&path, 2, 2).skip_errors();
    let mut it = ds.iter().unwrap();
    let rest: Vec<RecordBatch> = it.by_ref().map(Result::unwrap).collect();
    assert_eq!(it.skipped(), 1);
    let a: Vec<&ColumnData> = rest.iter().map(|b| b.column("a").unwrap()).collect();
    assert_eq!(
        a,
        vec![
            &ColumnData::Int(vec![1, 2]),
            &ColumnData::Int(vec![4]),
            &ColumnData::Int(vec![5])
        ]
    );
    let good = temp_file(
        "cols_good.csv",
        "a;b;c\n1;0.5;u\n2;1.5;v\n4;3.5;z\n5;4.5;y\n6;1;q\n",
    );
    let seq = format.read_batches(&good, 2).collect_vec().unwrap();
    assert_eq!(
        format.read_batches_parallel(&good, 2, 3).collect_vec().unwrap(),
        seq
    );
    assert_eq!(seq.len(), 3);

    let schema = Arc::clone(format.schema());
    let rows = format
        .read(&path)
        .skip_errors()
        .batch(2, false)
        .collect_vec()
        .unwrap();
    let from_rows: Vec<RecordBatch> = rows
        .iter()
        .map(|r| RecordBatch::from_records(Arc::clone(&schema), r).unwrap())
        .collect();
    assert_eq!(from_rows, batches);

    let x: Tensor<(Batch, F)> = batches[0].tensor(&["a", "b"]).unwrap();
    assert_eq!(
        (x.dims(), x.to_vec()),
        (&[2usize, 2][..], vec![1.0, 0.5, 2.0, 1.5])
    );
    let y: Tensor<(Batch,)> = batches[0].tensor(&["b"]).unwrap();
    assert_eq!(y.to_vec(), vec![0.5, 1.5]);
    assert!(matches!(
        batches[0].tensor::<(Batch, F)>(&["a", "c"]),
        Err(DataError::ColumnType { .. })
    ));
    assert!(matches!(batches[0].floats("q"), Err(DataError::UnknownColumn(_))));
}

#[test]
fn diamonds_shards_hold_the_documented_rows() {
    let pattern = format!("{}/diamonds/part-*.csv", data_dir().display());
    let files = list_files(&pattern, FileOrder::Sorted)
        .unwrap()
        .collect_vec()
        .unwrap();
    assert_eq!(files.len(), 8);
    let format = CsvFormat::new(&files[0], &CsvOptions::default()).unwrap();
    let schema = format.schema();
    let kinds: Vec<_> = schema.columns().iter().map(|c| c.kind).collect();
    use ColumnType::{Float, Int, Str};
    assert_eq!(
        kinds,
        vec![Float, Str, Str, Str, Float, Float, Int, Float, Float, Float]
    );
    // The first row of the ggplot2 table: 0.23,Ideal,E,SI2,61.5,55,326,3.95,3.98,2.43.
    let first = format.read(&files[0]).take(1).collect_vec().unwrap().remove(0);
    assert_eq!(first[0], Value::Float(0.23));
    assert_eq!(first[1], Value::Str("Ideal".into()));
    assert_eq!(first[6], Value::Int(326));
    // The README: 53,940 rows over 8 shards.
    let f = format.clone();
    let rows = Dataset::from_vec(files)
        .interleave(move |p| f.read(&p), 4, 16)
        .collect_vec()
        .unwrap();
    assert_eq!(rows.len(), 53_940);
}

use tensor_nn::data::Dataset;

#[test]
fn titanic_has_263_missing_ages() {
    // data/titanic/README.md: 1,309 passengers, `age` has 263 missing values, `fare` 1.
    let path = data_dir().join("titanic/titanic.csv");
    let opts = CsvOptions::default()
        .default_value("age", Value::Float(f32::NAN))
        .default_value("fare", Value::Float(f32::NAN))
        .default_value("body", Value::Int(-1));
    let (ds, schema) = csv(&[&path], opts).unwrap();
    let age = schema.index_of("age").unwrap();
    let fare = schema.index_of("fare").unwrap();
    let rows = ds.collect_vec().unwrap();
    assert_eq!(rows.len(), 1309);
    let missing = |i: usize| {
        rows.iter()
            .filter(|r| r[i].as_f32().is_some_and(f32::is_nan))
            .count()
    };
    assert_eq!((missing(age), missing(fare)), (263, 1));
}

/// What each of the three readers (rows, columnar batches, parallel columnar batches) makes of
/// a file, skipping bad rows: the good rows, the number of bad ones and the first error.
fn read_three_ways(format: &CsvFormat, path: &Path) -> Vec<(Vec<Record>, usize, Option<DataError>)> {
    let ds = format.read(path).skip_errors();
    let mut it = ds.iter().unwrap();
    let rows: Vec<Record> = it.by_ref().map(Result::unwrap).collect();
    let mut out = vec![(rows, it.skipped(), it.first_skipped().cloned())];
    for ds in [
        format.read_batches(path, 2).skip_errors(),
        format.read_batches_parallel(path, 2, 2).skip_errors(),
    ] {
        let mut it = ds.iter().unwrap();
        let rows: Vec<Record> = it.by_ref().flat_map(|b| batch_rows(&b.unwrap())).collect();
        out.push((rows, it.skipped(), it.first_skipped().cloned()));
    }
    out
}

/// The rows of a batch as records.
fn batch_rows(b: &RecordBatch) -> Vec<Record> {
    (0..b.num_rows())
        .map(|r| {
            b.schema()
                .columns()
                .iter()
                .map(|c| match b.column(&c.name).unwrap() {
                    ColumnData::Float(v) => Value::Float(v[r]),
                    ColumnData::Int(v) => Value::Int(v[r]),
                    ColumnData::Str(v) => Value::Str(v[r].clone()),
                })
                .collect()
        })
        .collect()
}

/// A format with a header and columns `a` and `b` of these types.
fn ab_format(a: ColumnType, b: ColumnType) -> CsvFormat {
    let schema = Schema::new().column("a", a).column("b", b);
    CsvFormat::with_schema(schema, true, b',').unwrap()
}

/// The line of a row's error.
fn error_line(e: &DataError) -> u64 {
    match e {
        DataError::Parse { line, .. }
        | DataError::FieldCount { line, .. }
        | DataError::MissingValue { line, .. }
        | DataError::UnterminatedQuote { line, .. } => *line,
        other => panic!("not a row error: {other:?}"),
    }
}

#[test]
fn an_unterminated_quote_is_an_error_naming_where_it_opened() {
    // The quote opened on line 3, column 3 (the 2nd field) swallows lines 3 to 5.
    let path = temp_file("unterminated.csv", "a,b\n1,2\n3,\"x\n4,5\n6,7\n");
    let (ds, schema) = csv(&[&path], CsvOptions::default()).unwrap();
    assert_eq!(schema.columns()[1].kind, ColumnType::Int);
    let items: Vec<_> = ds.iter().unwrap().collect();
    let expected = DataError::UnterminatedQuote {
        file: path.clone(),
        line: 3,
        position: 3,
        index: 2,
    };
    assert_eq!(
        items,
        vec![Ok(vec![Value::Int(1), Value::Int(2)]), Err(expected.clone())]
    );
    assert_eq!(
        expected.to_string(),
        format!(
            "{}:3:3: column #2: quoted field is never closed (it runs to the end of the file)",
            path.display()
        )
    );
    let format = CsvFormat::new(&path, &CsvOptions::default()).unwrap();
    for read in read_three_ways(&format, &path) {
        assert_eq!(
            read,
            (
                vec![vec![Value::Int(1), Value::Int(2)]],
                1,
                Some(expected.clone())
            )
        );
    }
    // After CRLF line ends, blank lines and a multi-byte character.
    let path = temp_file(
        "unterminated_crlf.csv",
        "a,b\r\n\r\n1,2\r\n\r\n\r\n3,4\r\n\u{e9},\"x\r\n",
    );
    let format = ab_format(ColumnType::Str, ColumnType::Str);
    for (good, skipped, first) in read_three_ways(&format, &path) {
        assert_eq!((good.len(), skipped), (2, 1));
        assert!(
            matches!(
                first,
                Some(DataError::UnterminatedQuote {
                    line: 7,
                    position: 3,
                    index: 2,
                    ..
                })
            ),
            "{first:?}"
        );
    }
    // In the header itself.
    let path = temp_file("unterminated_header.csv", "a,\"b\n1,2\n");
    assert!(matches!(
        csv(&[&path], CsvOptions::default()),
        Err(DataError::UnterminatedQuote {
            line: 1,
            position: 3,
            index: 2,
            ..
        })
    ));
    // A quote closed at the very end of the file is fine, and so is a quote inside a field.
    let path = temp_file("closed.csv", "a,b\n1,\"x\"\"\"\n2,y\"z");
    let (ds, _) = csv(&[&path], CsvOptions::default()).unwrap();
    assert_eq!(
        ds.collect_vec().unwrap(),
        vec![
            vec![Value::Int(1), Value::Str("x\"".into())],
            vec![Value::Int(2), Value::Str("y\"z".into())]
        ]
    );
}

#[test]
fn a_float_out_of_f32_range_is_an_error_not_infinity() {
    let digits = "9".repeat(10 << 20);
    for value in ["1e39", "-1e39", " 3.5e38", digits.as_str()] {
        let path = temp_file("overflow.csv", &format!("x,y\n1.5,a\n\n{value},b\n2,c\n"));
        let (ds, schema) = csv(&[&path], CsvOptions::default()).unwrap();
        // An out-of-range value does not make the column a string column.
        assert_eq!(schema.columns()[0].kind, ColumnType::Float);
        let items: Vec<_> = ds.iter().unwrap().collect();
        assert_eq!(items.len(), 2);
        match &items[1] {
            Err(DataError::Parse {
                file,
                line: 4,
                column,
                index: 1,
                expected,
                ..
            }) if file == &path && column == "x" => assert!(expected.contains("f32 range"), "{expected}"),
            other => panic!("{}: expected an out-of-range error, got {other:?}", &value[..4]),
        }
        // The message quotes a shortened value, not megabytes of digits.
        let message = items[1].as_ref().unwrap_err().to_string();
        assert!(
            message.starts_with(&format!("{}:4: column `x` (#1): cannot parse \"", path.display())),
            "{message}"
        );
        assert!(message.len() < 300, "{} bytes", message.len());
        let format = CsvFormat::new(&path, &CsvOptions::default()).unwrap();
        for (good, skipped, first) in read_three_ways(&format, &path) {
            assert_eq!((good.len(), skipped), (2, 1));
            assert_eq!(first.as_ref().map(error_line), Some(4));
        }
    }
    // Infinities and NaN spelled out are read as they are, and so is the largest f32.
    let path = temp_file("inf.csv", "x\ninf\n-Infinity\nNaN\n3.4e38\n");
    let (ds, schema) = csv(&[&path], CsvOptions::default()).unwrap();
    assert_eq!(schema.columns()[0].kind, ColumnType::Float);
    let x: Vec<f32> = ds
        .collect_vec()
        .unwrap()
        .iter()
        .map(|r| r[0].as_f32().unwrap())
        .collect();
    assert_eq!((x[0], x[1], x[3]), (f32::INFINITY, f32::NEG_INFINITY, 3.4e38));
    assert!(x[2].is_nan());
}

#[test]
fn errors_give_the_physical_line_with_crlf_and_blank_lines() {
    let format = ab_format(ColumnType::Int, ColumnType::Float);
    for (name, text, line) in [
        ("crlf_parse.csv", "a,b\r\n1,2\r\n3,zz\r\n4,5\r\n", 3),
        ("crlf_count.csv", "a,b\r\n1,2\r\n4,5\r\n3\r\n", 4),
        ("blank_parse.csv", "a,b\n\n1,2\n\n\n3,zz\n4,5\n", 6),
        ("blank_missing.csv", "a,b\n\n1,2\n4,5\n\n\n\n3,\n", 8),
        ("mixed.csv", "\n\na,b\r\n\r\n1,\"2\r\n\"\r\n\r\n3,zz\n4,5\n", 8),
        ("cr.csv", "a,b\r1,2\r\r3,zz\r4,5", 4),
    ] {
        let path = temp_file(name, text);
        for (good, skipped, first) in read_three_ways(&format, &path) {
            assert_eq!((good.len(), skipped), (2, 1), "{name}");
            assert_eq!(first.as_ref().map(error_line), Some(line), "{name}: {first:?}");
        }
    }
}

#[test]
fn a_non_number_past_the_inference_window_is_an_error_naming_file_line_and_column() {
    // Three sampled rows, then blank lines and CRLF ends before the bad value on line 8.
    let path = temp_file(
        "window.csv",
        "id,x\r\n1,0.5\r\n2,1\r\n\r\n3,2\r\n\r\n4,3\r\n5,abc\r\n6,4\r\n",
    );
    let opts = CsvOptions::default().infer_rows(3);
    let (ds, schema) = csv(&[&path], opts.clone()).unwrap();
    assert_eq!(schema.columns()[1].kind, ColumnType::Float);
    let items: Vec<_> = ds.iter().unwrap().collect();
    assert_eq!(items.len(), 5);
    let err = items[4].as_ref().unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}:8: column `x` (#2): cannot parse \"abc\" as float",
            path.display()
        )
    );
    let format = CsvFormat::new(&path, &opts).unwrap();
    for (good, skipped, first) in read_three_ways(&format, &path) {
        assert_eq!((good.len(), skipped), (5, 1));
        assert_eq!(first.as_ref(), Some(err));
    }
}

#[test]
fn all_empty_and_trailing_comma_columns_are_read() {
    // `b` is empty in every row and the trailing comma adds an unnamed empty column: like
    // pandas, both are float columns of NaN, the unnamed one called `Unnamed: 2`.
    let path = temp_file("empty_cols.csv", "a,b,\n1,,\n2,,\n3,,\n");
    let (ds, schema) = csv(&[&path], CsvOptions::default()).unwrap();
    use ColumnType::{Float, Int};
    assert_eq!(kinds(&schema), [("a", Int), ("b", Float), ("Unnamed: 2", Float)]);
    let rows = ds.collect_vec().unwrap();
    assert_eq!(rows.len(), 3);
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r[0], Value::Int(i as i64 + 1));
        assert!(r[1].as_f32().is_some_and(f32::is_nan) && r[2].as_f32().is_some_and(f32::is_nan));
    }
    let format = CsvFormat::new(&path, &CsvOptions::default()).unwrap();
    for (good, skipped, _) in read_three_ways(&format, &path) {
        assert_eq!((good.len(), skipped), (3, 0));
    }
    // A value past the sampled rows of an all-empty column is read if it is a number, and
    // is otherwise an error naming file, line and column.
    let path = temp_file("empty_then.csv", "a,b\n1,\n2,\n3,2.5\n4,x\n");
    let (ds, _) = csv(&[&path], CsvOptions::default().infer_rows(2)).unwrap();
    let items: Vec<_> = ds.iter().unwrap().collect();
    assert_eq!(items[2], Ok(vec![Value::Int(3), Value::Float(2.5)]));
    assert_eq!(
        items[3].as_ref().unwrap_err().to_string(),
        format!(
            "{}:5: column `b` (#2): cannot parse \"x\" as float",
            path.display()
        )
    );
    // Without a header the trailing comma's column is `column_3`, empty and float.
    let path = temp_file("empty_nohdr.csv", "1,x,\n2,y,\n");
    let (ds, schema) = csv(&[&path], CsvOptions::default().header(false)).unwrap();
    assert_eq!(schema.columns()[2].kind, ColumnType::Float);
    assert_eq!(ds.collect_vec().unwrap().len(), 2);
}
