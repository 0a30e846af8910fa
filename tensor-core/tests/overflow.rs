//! Shapes whose element count overflows, and ops whose result would: every constructor and
//! every `try_*` op answers with an error naming the op and the dims, never a panic.
//!
//! The broadcast views below repeat one stored value over huge lengths, so that shapes of
//! up to `isize::MAX` bytes cost no memory; every check under test runs before anything is
//! copied out of them.

use proptest::prelude::*;
use tensor_core::ops::conv::{Conv2d, Padding, Pool2d};
use tensor_core::prelude::*;
use tensor_core::Rng;

tensor_macros::dims! {
    crate = ::tensor_core;
    Batch; Seq; Pick; A; M; K; N; Both;
    H; W; C; Ho; Wo; F; Kh; Kw; Ci;
}

/// The most `f32`s one buffer can hold (`isize::MAX` bytes).
const MAX_F32: usize = isize::MAX as usize / 4;

/// Dims `(2^63 + 1, 2)`: their product `2^64 + 2` wraps around to 2.
const WRAPS_TO_TWO: [usize; 2] = [(1 << 63) + 1, 2];

fn too_large<T: std::fmt::Debug>(r: Result<T, TensorError>, op: &str) -> String {
    match r {
        Err(e @ TensorError::TooLarge { .. }) => {
            let msg = e.to_string();
            assert!(msg.starts_with(&format!("{op}: ")), "{msg}");
            msg
        }
        other => panic!("{op}: expected TooLarge, got {other:?}"),
    }
}

fn bad_length<T: std::fmt::Debug>(r: Result<T, TensorError>, op: &str, dim: &str) {
    match r {
        Err(TensorError::BadLength { op: o, dim: d, .. }) if o == op && d == dim => {}
        other => panic!("{op}: expected BadLength of `{dim}`, got {other:?}"),
    }
}

/// `(Batch, A)` of `rows` rows repeating `[1, 2]`, stored as two values.
fn repeated_rows(rows: usize) -> Tensor<(Batch, A)> {
    Tensor::<(A,)>::from_vec(vec![1., 2.], &[2])
        .unwrap()
        .try_broadcast_to::<(Batch, A)>(&[rows, 2])
        .unwrap()
}

#[test]
fn from_vec_dims_rejects_dims_whose_product_wraps_around() {
    let r = Tensor::<(Batch, Seq)>::from_vec_dims(vec![0.0; 2], &WRAPS_TO_TWO);
    let msg = too_large(r, "from_vec");
    assert!(msg.contains("Batch=9223372036854775809, Seq=2"), "{msg}");
    let r = Tensor::<(Batch, Seq)>::from_pieces_dims([&[0.0f32, 0.0][..]], &WRAPS_TO_TWO);
    too_large(r, "from_pieces");
    // `from_vec` resolves the same lengths from the run-time sizes
    too_large(
        Tensor::<(Batch, Seq)>::from_vec(vec![0.0; 2], &WRAPS_TO_TWO),
        "from_vec",
    );
}

#[test]
fn from_vec_dims_rejects_more_bytes_than_a_buffer_holds() {
    // the count fits in usize, but not in one buffer of f32
    too_large(
        Tensor::<(Batch,)>::from_vec_dims(vec![0.0], &[MAX_F32 + 1]),
        "from_vec",
    );
    // the same count of bools does
    let r = Tensor::<(Batch,), bool>::from_vec_dims(vec![true], &[MAX_F32 + 1]);
    assert!(matches!(r, Err(TensorError::DataLength { .. })), "{r:?}");
}

#[test]
fn try_get_and_try_narrow_on_an_overflowing_shape_are_errors() {
    // such a tensor cannot be built any more; were it built (the wrapped product used to be
    // accepted), reading it would index past its two stored values
    let made = Tensor::<(Batch, Seq)>::from_vec_dims(vec![1.0, 2.0], &WRAPS_TO_TWO);
    too_large(made, "from_vec");
    let view = Tensor::<(Seq,)>::from_vec(vec![1.0, 2.0], &[2])
        .unwrap()
        .try_broadcast_to::<(Batch, Seq)>(&WRAPS_TO_TWO);
    too_large(view, "broadcast_to");
}

#[test]
fn try_get_and_try_narrow_reach_the_last_row_of_the_largest_view() {
    let rows = MAX_F32 / 2;
    let t = repeated_rows(rows);
    assert_eq!(t.try_get(&[rows - 1, 1]), Ok(2.0));
    assert!(matches!(
        t.try_get(&[rows, 0]),
        Err(TensorError::IndexOutOfRange { .. })
    ));
    assert!(matches!(
        t.try_get(&[usize::MAX, 0]),
        Err(TensorError::IndexOutOfRange { .. })
    ));
    let last = t.try_narrow::<Batch, _>(rows - 1, 1).unwrap();
    assert_eq!(last.to_vec(), vec![1.0, 2.0]);
    for (start, len) in [(rows, 1), (usize::MAX, 2), (1, usize::MAX)] {
        let r = t.try_narrow::<Batch, _>(start, len);
        assert!(
            matches!(r, Err(TensorError::Range { .. })),
            "{start}, {len}: {r:?}"
        );
    }
}

#[test]
fn broadcast_to_rejects_an_overflowing_target() {
    let one = Tensor::<(A,)>::from_vec(vec![1.0, 2.0], &[2]).unwrap();
    let msg = too_large(
        one.try_broadcast_to::<(Batch, A)>(&[usize::MAX, 2]),
        "broadcast_to",
    );
    assert!(msg.contains(&format!("Batch={}, A=2", usize::MAX)), "{msg}");
    // a fitting view still unsqueezes (its stride is its element count)
    let v = repeated_rows(MAX_F32 / 2);
    let u = v.try_unsqueeze::<Pick>().unwrap();
    assert_eq!(u.dims(), &[1, MAX_F32 / 2, 2]);
    assert_eq!(u.try_get(&[0, 5, 1]), Ok(2.0));
}

#[test]
fn full_from_fn_and_random_reject_overflowing_sizes() {
    let dims = [1usize << 32, 1 << 32];
    too_large(Tensor::<(Batch, Seq)>::try_full(0.0, &dims), "full");
    too_large(Tensor::<(Batch, Seq)>::try_from_fn(&dims, |_| 0.0), "from_fn");
    too_large(Tensor::<(Batch, Seq)>::eye(&dims), "from_fn");
    let mut rng = Rng::seed(0);
    too_large(
        Tensor::<(Batch, Seq)>::random_uniform(&mut rng, 0.0, 1.0, &dims),
        "random_uniform",
    );
    too_large(
        Tensor::<(Batch, Seq)>::random_normal(&mut rng, 0.0, 1.0, &dims),
        "random_normal",
    );
    too_large(
        Tensor::<(Batch, Seq)>::random_truncated_normal(&mut rng, 0.0, 1.0, &dims),
        "random_truncated_normal",
    );
    too_large(Tensor::<(Batch,)>::arange(0.0, 1.0, &[usize::MAX]), "arange");
    too_large(Tensor::<(Batch,)>::linspace(0.0, 1.0, &[usize::MAX]), "linspace");
}

#[test]
fn reshape_with_rejects_overflowing_sizes() {
    let t = Tensor::<(Batch,)>::from_vec(vec![1.0, 2.0], &[2]).unwrap();
    too_large(t.try_reshape_with::<(Batch, Seq)>(&WRAPS_TO_TWO), "reshape");
}

#[test]
fn matmul_of_views_whose_product_overflows_is_an_error() {
    // (M, K) · (K, N) with M = N = 2^32 + 1, K = 1: each operand is one stored value
    let big = (1usize << 32) + 1;
    let one = Tensor::<(K,)>::from_vec(vec![3.0], &[1]).unwrap();
    let a: Tensor<(M, K)> = one.try_broadcast_to(&[big, 1]).unwrap();
    let b: Tensor<(K, N)> = one.try_broadcast_to::<(N, K)>(&[big, 1]).unwrap().t();
    let msg = too_large(a.try_matmul(&b), "matmul");
    assert!(msg.contains(&format!("M={big}, N={big}")), "{msg}");
    // the batched form as well: 2^30 · 2^30 · 16 = 2^64 elements, each operand a view that fits
    let ab: Tensor<(Batch, M, K)> = one.try_broadcast_to(&[1 << 30, 1 << 30, 1]).unwrap();
    let b16: Tensor<(K, N)> = one.try_broadcast_to::<(N, K)>(&[16, 1]).unwrap().t();
    let msg = too_large(ab.try_matmul(&b16), "matmul");
    assert!(msg.contains("Batch=1073741824, M=1073741824, N=16"), "{msg}");
}

#[test]
fn concat_and_stack_of_views_whose_result_overflows_are_errors() {
    // each operand holds 2 · (MAX_F32 / 4 + 1) elements, the two together more than fit
    let half = MAX_F32 / 4 + 1;
    let a = repeated_rows(half);
    let msg = too_large(a.try_concat(Batch, &a, Batch, Both), "concat");
    assert!(msg.contains(&format!("Both={}, A=2", 2 * half)), "{msg}");
    let views = vec![repeated_rows(MAX_F32 / 4); 8];
    too_large(Tensor::try_stack::<Pick>(&views), "stack");
}

#[test]
fn index_select_with_more_picks_than_fit_is_an_error() {
    let table = Tensor::<(Batch, A)>::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2]).unwrap();
    let ids: Tensor<(Pick,), i32> = Tensor::<(), i32>::scalar(1)
        .try_broadcast_to(&[MAX_F32 / 2 + 1])
        .unwrap();
    too_large(table.try_index_select::<Batch, Pick, _, _>(&ids), "index_select");
}

fn image() -> Tensor<(Batch, H, W, C)> {
    Tensor::full(1.0, &[1, 4, 4, 1])
}

#[test]
fn conv2d_with_overflowing_hyper_parameters_is_an_error() {
    let x = image();
    let w = Tensor::<(Kh, Kw, Ci, F)>::full(1.0, &[3, 3, 1, 1]);
    let dilated = Conv2d {
        dilation: (usize::MAX, 1),
        ..Conv2d::default()
    };
    let r = x.try_conv2d::<Ho, Wo, F>(&w, &dilated);
    bad_length(r, "conv2d", "H");
    let padded = Conv2d {
        padding: Padding::Explicit {
            top: 0,
            bottom: 0,
            left: usize::MAX,
            right: 1,
        },
        ..Conv2d::default()
    };
    let r = x.try_conv2d::<Ho, Wo, F>(&w, &padded);
    bad_length(r, "conv2d", "W");
    let grouped = Conv2d {
        groups: usize::MAX,
        ..Conv2d::default()
    };
    let w2 = Tensor::<(Kh, Kw, Ci, F)>::full(1.0, &[1, 1, 2, 1]);
    let r = x.try_conv2d::<Ho, Wo, F>(&w2, &grouped);
    bad_length(r, "conv2d", "C");
    // padding that fits, but an output of (2^41 + 4)^2 positions does not
    let p = 1usize << 40;
    let huge = Conv2d {
        padding: Padding::Explicit {
            top: p,
            bottom: p,
            left: p,
            right: p,
        },
        ..Conv2d::default()
    };
    let w1 = Tensor::<(Kh, Kw, Ci, F)>::full(1.0, &[1, 1, 1, 1]);
    too_large(x.try_conv2d::<Ho, Wo, F>(&w1, &huge), "conv2d");
}

#[test]
fn pooling_with_overflowing_padding_is_an_error() {
    let x = image();
    let pool = Pool2d {
        padding: Padding::Explicit {
            top: usize::MAX,
            bottom: 1,
            left: 0,
            right: 0,
        },
        ..Pool2d::default()
    };
    let r = x.try_max_pool2d::<Ho, Wo>(&pool);
    bad_length(r, "max_pool2d", "H");
    let r = x.try_avg_pool2d::<Ho, Wo>(&pool);
    bad_length(r, "avg_pool2d", "H");
}

/// Lengths of which at least two are at least 2^32, so that their product overflows.
fn overflowing_dims(rank: usize) -> impl Strategy<Value = Vec<usize>> {
    let huge = (1usize << 32)..=usize::MAX;
    (
        prop::collection::vec(1usize..=4, rank),
        prop::collection::vec(huge, 2),
        prop::sample::subsequence((0..rank).collect::<Vec<_>>(), 2),
    )
        .prop_map(|(mut dims, big, at)| {
            dims[at[0]] = big[0];
            dims[at[1]] = big[1];
            dims
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_constructor_rejects_overflowing_dims(dims in overflowing_dims(3), k in 0usize..8) {
        type S = (Batch, Seq, Pick);
        let data = vec![0.0f32; k];
        let is_too_large = |r: &Result<Tensor<S>, TensorError>| matches!(r, Err(TensorError::TooLarge { .. }));
        prop_assert!(is_too_large(&Tensor::<S>::from_vec_dims(data.clone(), &dims)));
        prop_assert!(is_too_large(&Tensor::<S>::from_vec(data.clone(), &dims)));
        prop_assert!(is_too_large(&Tensor::<S>::from_pieces_dims([&data[..]], &dims)));
        prop_assert!(is_too_large(&Tensor::<S>::try_full(0.0, &dims)));
        prop_assert!(is_too_large(&Tensor::<S>::try_from_fn(&dims, |_| 0.0)));
        let mut rng = Rng::seed(1);
        prop_assert!(is_too_large(&Tensor::<S>::random_uniform(&mut rng, 0.0, 1.0, &dims)));
        let one = Tensor::<(Pick,)>::from_vec(vec![1.0], &[1]).unwrap();
        let mut bdims = dims.clone();
        bdims[2] = 1;
        // the last dim is the stored one: the view is too large when the other two are
        let view = one.try_broadcast_to::<S>(&bdims);
        match bdims.iter().try_fold(1usize, |n, &d| n.checked_mul(d)) {
            Some(n) if n <= MAX_F32 => prop_assert!(view.is_ok(), "{:?}", view.err()),
            _ => prop_assert!(is_too_large(&view)),
        }
        let flat = Tensor::<(Batch,)>::from_vec(vec![0.0; 2], &[2]).unwrap();
        prop_assert!(is_too_large(&flat.try_reshape_with::<S>(&dims)));
    }

    #[test]
    fn matmul_of_overflowing_views_is_an_error(
        m in (1usize << 32)..MAX_F32,
        n in (1usize << 32)..MAX_F32,
    ) {
        let one = Tensor::<(K,)>::from_vec(vec![1.0], &[1]).unwrap();
        let a: Tensor<(M, K)> = one.try_broadcast_to(&[m, 1]).unwrap();
        let b: Tensor<(K, N)> = one.try_broadcast_to::<(N, K)>(&[n, 1]).unwrap().t();
        let r = a.try_matmul(&b);
        prop_assert!(matches!(r, Err(TensorError::TooLarge { op: "matmul", .. })), "{:?}", r.map(|t| t.dims().to_vec()));
    }

    #[test]
    fn get_and_narrow_on_large_views_never_panic(
        rows in 1usize..MAX_F32 / 2,
        index in any::<usize>(),
        start in any::<usize>(),
        len in any::<usize>(),
    ) {
        let t = repeated_rows(rows);
        let i = index % (rows + 2);
        match t.try_get(&[i, index % 3]) {
            Ok(v) => prop_assert!(i < rows && v == [1.0, 2.0][index % 3]),
            Err(e) => prop_assert!(i >= rows || index % 3 == 2, "{e}"),
        }
        let start = start % (rows + 2);
        match t.try_narrow::<Batch, _>(start, len) {
            Ok(v) => prop_assert!(len > 0 && start + len <= rows && v.dims() == [len, 2]),
            Err(e) => prop_assert!(len == 0 || start.checked_add(len).is_none_or(|e| e > rows), "{e}"),
        }
    }
}
