//! Preprocessing layers against hand-computed statistics, published FNV-1a test vectors and
//! finite differences, and the feature layer's JSON round trip.

use std::sync::Arc;

use tensor_nn::data::preprocessing::{
    fnv1a64, AdaptedFeature, CategoryEncoding, Discretization, Embedding, FeatureLayer, FeatureSpec,
    HashedCrossing, Hashing, IntegerLookup, Normalization, OutputMode, StringLookup,
};
use tensor_nn::data::{ColumnType, DataError, Dataset, RecordBatch, Schema, Value};

fn close(a: f32, b: f32) -> bool {
    (a - b).abs() <= 1e-5 * (1.0 + b.abs())
}

#[test]
fn normalization_uses_population_mean_and_variance() {
    // Rows (1, 10), (2, 20), (3, 60): means 2 and 30; variances ((1+0+1)/3, (400+100+900)/3).
    let rows = [[1.0f32, 10.0], [2.0, 20.0], [3.0, 60.0]];
    let mut norm = Normalization::new(2);
    norm.adapt(rows.iter().map(|r| &r[..])).unwrap();
    assert_eq!(norm.mean(), &[2.0, 30.0]);
    assert!(close(norm.variance()[0], 2.0 / 3.0) && close(norm.variance()[1], 1400.0 / 3.0));
    let out = norm.apply(&[3.0, 60.0]).unwrap();
    assert!(close(out[0], 1.0 / (2.0f32 / 3.0).sqrt()), "{out:?}");
    assert!(close(out[1], 30.0 / (1400.0f32 / 3.0).sqrt()), "{out:?}");
    // Keras divides by max(sqrt(var), 1e-7): a constant feature maps its value to 0, others to
    // (x - mean) * 1e7.
    let mut constant = Normalization::new(1);
    constant.adapt([[5.0f32]].iter().map(|r| &r[..])).unwrap();
    assert_eq!(constant.apply(&[5.0, 5.5]).unwrap(), vec![0.0, 5e6]);
    assert!(matches!(
        Normalization::new(2).apply(&[1.0, 2.0]),
        Err(DataError::NotAdapted { .. })
    ));
    assert!(matches!(
        norm.apply(&[1.0, 2.0, 3.0]),
        Err(DataError::Length { .. })
    ));
    let empty = Normalization::with_stats(vec![], vec![]).unwrap();
    assert!(matches!(empty.apply(&[1.0]), Err(DataError::Length { .. })));
    let json = serde_json::to_string(&norm).unwrap();
    assert_eq!(serde_json::from_str::<Normalization>(&json).unwrap(), norm);
}

#[test]
fn discretization_buckets_and_quantiles() {
    let d = Discretization::with_boundaries(vec![0.0, 1.0, 2.5]).unwrap();
    assert_eq!(
        d.apply(&[-1.0, 0.0, 0.999, 1.0, 2.5, 100.0, f32::NAN]),
        vec![0, 1, 1, 2, 3, 3, 0]
    );
    assert!(Discretization::with_boundaries(vec![1.0, 1.0]).is_err());
    // 1..=8 in 4 bins: ranks floor(k * 8 / 4) = 2, 4, 6 of the sorted values -> 3, 5, 7.
    let q = Discretization::adapt(4, (1..=8).rev().map(|x| x as f32)).unwrap();
    assert_eq!(q.boundaries(), &[3.0, 5.0, 7.0]);
    assert_eq!(q.apply(&[1.0, 2.0, 3.0, 4.0, 5.0, 8.0]), vec![0, 0, 1, 1, 2, 3]);
    // Repeated quantiles merge: half the data is 0.
    let r = Discretization::adapt(4, [0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 3.0, 4.0]).unwrap();
    assert_eq!(r.boundaries(), &[0.0, 1.0, 3.0]);
}

#[test]
fn string_and_integer_lookups() {
    let keys: Vec<String> = ["b", "a", "b", "c", "b", "a"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    // Counts b:3, a:2, c:1 -> vocabulary [b, a, c] after the OOV index 0.
    let l = StringLookup::adapt(&keys, 1, None).unwrap();
    assert_eq!(l.vocabulary(), &["b".to_string(), "a".into(), "c".into()]);
    assert_eq!(
        l.apply(&["a".to_string(), "c".into(), "zz".into()]),
        vec![2, 3, 0]
    );
    // max_tokens counts the OOV index: 3 tokens -> 2 keys.
    let small = StringLookup::adapt(&keys, 1, Some(3)).unwrap();
    assert_eq!(small.vocabulary_size(), 3);
    assert_eq!(small.apply(&["c".to_string()]), vec![0]);
    // Ties are broken by key order.
    let tie = StringLookup::adapt(&["y".to_string(), "x".into()], 1, None).unwrap();
    assert_eq!(tie.vocabulary(), &["x".to_string(), "y".into()]);
    // No OOV index: an unknown key is an error.
    let strict = StringLookup::with_vocabulary(vec!["a".into()], 0).unwrap();
    assert!(strict.try_index(&"b".to_string()).is_err());
    assert!(StringLookup::with_vocabulary(vec!["a".into(), "a".into()], 1).is_err());

    // Two OOV indices: an unknown integer goes to fnv1a64("42") % 2 = 571532774284038691 % 2 = 1.
    let ints = IntegerLookup::with_vocabulary(vec![7, 9], 2).unwrap();
    assert_eq!(ints.apply(&[9, 7, 42]), vec![3, 2, 1]);
    let json = serde_json::to_string(&ints).unwrap();
    assert_eq!(json, r#"{"vocabulary":[7,9],"num_oov_indices":2}"#);
    assert_eq!(serde_json::from_str::<IntegerLookup>(&json).unwrap(), ints);
}

#[test]
fn vocabulary_files() {
    let dir = std::env::temp_dir().join(format!("dimflow-vocab-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let words = dir.join("words.txt");
    std::fs::write(&words, "red\ngreen\r\n\nblue\n").unwrap();
    let l = StringLookup::from_vocabulary_file(&words, 1).unwrap();
    assert_eq!(l.apply(&["blue".to_string(), "red".into()]), vec![3, 1]);
    let ints = dir.join("ints.txt");
    std::fs::write(&ints, "1\n2\nthree\n").unwrap();
    let err = IntegerLookup::from_vocabulary_file(&ints, 1).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}:3: column `vocabulary` (#1): cannot parse \"three\" as a vocabulary key",
            ints.display()
        )
    );
    let missing = dir.join("none.txt");
    assert_eq!(
        StringLookup::from_vocabulary_file(&missing, 1).unwrap_err(),
        DataError::FileNotFound { path: missing }
    );
}

#[test]
fn fnv1a_hashing_and_crossing() {
    // Published FNV-1a 64-bit test vectors (Fowler/Noll/Vo reference test suite).
    assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
    assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    let h = Hashing::new(10, None).unwrap();
    // 0xaf63dc4c8601ec8c = 12638187200555641996 -> bucket 6; "foobar" 9625390261332436968 -> 8.
    assert_eq!(h.apply(&["a", "foobar"]), vec![6, 8]);
    assert!(Hashing::new(0, None).is_err());
    let salted = Hashing::new(1 << 20, Some(1)).unwrap();
    assert_ne!(
        salted.apply(&["a"]),
        Hashing::new(1 << 20, None).unwrap().apply(&["a"])
    );

    let cross = HashedCrossing::new(100).unwrap();
    let sex = ["male", "female", "male"];
    let class = ["1", "3", "3"];
    // fnv1a64("male_X_1") = 12937195553626676195, ("female_X_3") = 9623940700136909120,
    // ("male_X_3") = 12937197752649932617: buckets 95, 20, 17.
    assert_eq!(cross.apply(&[&sex[..], &class[..]]).unwrap(), vec![95, 20, 17]);
    assert!(cross.apply(&[&sex[..]]).is_err());
    assert!(cross.apply(&[&sex[..], &class[..2]]).is_err());
}

#[test]
fn category_encoding_modes() {
    let one = CategoryEncoding::new(4, OutputMode::OneHot).unwrap();
    assert_eq!(
        one.one_hot(&[3, 0]).unwrap(),
        vec![0., 0., 0., 1., 1., 0., 0., 0.]
    );
    assert_eq!(one.identity(&[1]).unwrap(), vec![0., 1., 0., 0.]);
    assert_eq!(
        one.identity(&[-1]).unwrap_err(),
        DataError::IndexOutOfRange {
            layer: "CategoryEncoding",
            index: -1,
            len: 4
        }
    );
    assert!(one.encode(&[vec![1, 2]]).is_err());
    let multi = CategoryEncoding::new(3, OutputMode::MultiHot).unwrap();
    assert_eq!(
        multi.encode(&[vec![0, 2, 2], vec![]]).unwrap(),
        vec![1., 0., 1., 0., 0., 0.]
    );
    let count = CategoryEncoding::new(3, OutputMode::Count).unwrap();
    assert_eq!(count.encode(&[vec![0, 2, 2]]).unwrap(), vec![1., 0., 2.]);
    assert!(count.encode(&[vec![3]]).is_err());
}

#[test]
fn embedding_gradient_matches_finite_differences() {
    // loss = sum_r sum_j w[r][j] * E[idx[r]][j], so dloss/dE[i][j] = sum over rows with idx = i
    // of w[r][j]; checked against central differences of the loss.
    let mut e = Embedding::new(4, 3, 11).unwrap();
    assert!(e.table().iter().all(|&x| (-0.05..0.05).contains(&x)));
    let idx = [1usize, 3, 1, 0];
    let w: Vec<f32> = (0..12).map(|k| (k as f32 * 0.37).sin()).collect();
    let loss = |e: &Embedding| -> f64 {
        let out = e.forward(&idx).unwrap();
        out.iter()
            .zip(&w)
            .map(|(&o, &wi)| f64::from(o) * f64::from(wi))
            .sum()
    };
    e.backward(&idx, &w).unwrap();
    let grad = e.grad().to_vec();
    let h = 1e-2f32;
    for k in 0..12 {
        let base = e.table().to_vec();
        let mut plus = base.clone();
        plus[k] += h;
        let mut minus = base.clone();
        minus[k] -= h;
        let fd = (loss(&Embedding::from_table(4, 3, plus).unwrap())
            - loss(&Embedding::from_table(4, 3, minus).unwrap()))
            / (2.0 * f64::from(h));
        assert!(
            (fd - f64::from(grad[k])).abs() < 1e-4,
            "entry {k}: fd {fd} vs {}",
            grad[k]
        );
    }
    // Row 2 is never looked up: zero gradient.
    assert_eq!(&grad[6..9], &[0.0, 0.0, 0.0]);
    assert!(matches!(e.forward(&[4]), Err(DataError::IndexOutOfRange { .. })));
    let p = e.params_mut();
    assert_eq!((p[0].name, p[0].shape), ("embedding.table", &[4usize, 3][..]));
}

fn titanic_like() -> Dataset<RecordBatch> {
    let schema = Arc::new(
        Schema::new()
            .column("sex", ColumnType::Str)
            .column("pclass", ColumnType::Int)
            .column("age", ColumnType::Float),
    );
    let s = |x: &str| Value::Str(x.into());
    let rows = vec![
        vec![s("male"), Value::Int(1), Value::Float(20.0)],
        vec![s("female"), Value::Int(3), Value::Float(40.0)],
        vec![s("male"), Value::Int(3), Value::Float(30.0)],
        vec![s("male"), Value::Int(2), Value::Float(50.0)],
    ];
    Dataset::from_vec(vec![RecordBatch::from_records(schema, &rows).unwrap()])
}

#[test]
fn feature_layer_builds_wide_and_deep_inputs_and_round_trips() {
    let specs = vec![
        FeatureSpec::Indicator {
            column: "sex".into(),
            vocabulary: None,
        },
        FeatureSpec::Identity {
            column: "pclass".into(),
            num_buckets: 4,
        },
        FeatureSpec::Crossed {
            columns: vec!["sex".into(), "pclass".into()],
            num_bins: 100,
        },
        FeatureSpec::Bucketized {
            column: "age".into(),
            num_bins: 2,
        },
        FeatureSpec::Hashed {
            column: "sex".into(),
            num_bins: 10,
        },
        FeatureSpec::Numeric { column: "age".into() },
        FeatureSpec::Embedded {
            column: "sex".into(),
            dim: 2,
        },
    ];
    let data = titanic_like();
    let mut layer = FeatureLayer::adapt(&specs, &data, 5).unwrap();
    // Wide: sex (OOV + 2) + pclass 4 + cross 100 + age buckets 2 + hashed 10 = 119.
    assert_eq!(layer.wide_width(), 119);
    assert_eq!(layer.deep_width(), 3);
    let batch = data.collect_vec().unwrap().remove(0);
    let f = layer.transform(&batch).unwrap();
    let row = |r: usize| &f.wide[r * 119..(r + 1) * 119];
    let hot = |r: usize| {
        row(r)
            .iter()
            .enumerate()
            .filter(|(_, &x)| x == 1.0)
            .map(|(i, _)| i)
            .collect::<Vec<_>>()
    };
    // Row 0 (male, 1, 20): sex vocab [male, female] -> index 1; pclass 1 -> 3 + 1 = 4;
    // cross "male_X_1" -> bucket 95 -> 7 + 95 = 102; age boundary [40] (rank 2 of 20,30,40,50):
    // 20 -> bucket 0 -> 107; hashed "male" -> fnv1a64 % 10 -> 109 + that.
    let male_bucket = (fnv1a64(b"male") % 10) as usize;
    assert_eq!(hot(0), vec![1, 4, 102, 107, 109 + male_bucket]);
    // Row 1 (female, 3, 40): female -> 2; pclass 3 -> 6; cross "female_X_3" -> 20 -> 27;
    // 40 >= 40 -> bucket 1 -> 108.
    assert_eq!(&hot(1)[..4], &[2, 6, 27, 108]);
    // Deep: embedding of the row's sex index, then age normalised by mean 35 and
    // population variance (225 + 25 + 25 + 225) / 4 = 125.
    let table = match &layer.features()[6] {
        AdaptedFeature::Embedded { embedding, .. } => embedding.table().to_vec(),
        other => panic!("expected the embedding, got {other:?}"),
    };
    assert_eq!(&f.deep[0..2], &table[2..4]);
    assert!(close(f.deep[2], (20.0 - 35.0) / 125f32.sqrt()));
    assert_eq!(f.embedding_indices, vec![vec![1, 2, 1, 1]]);

    // Backward: rows 0, 2, 3 are male (index 1), so its gradient is the sum of their rows.
    let grad: Vec<f32> = (0..12).map(|k| k as f32).collect();
    layer.backward(&f, &grad).unwrap();
    let p = layer.params_mut();
    assert_eq!(p[0].name, "embed_sex.table");
    assert_eq!(p[0].grad, &[0., 0., 0. + 6. + 9., 1. + 7. + 10., 3., 4.]);

    let json = layer.to_json().unwrap();
    let back = FeatureLayer::from_json(&json).unwrap();
    assert_eq!(back.transform(&batch).unwrap(), f);
    assert!(FeatureLayer::from_json("{").is_err());
}
