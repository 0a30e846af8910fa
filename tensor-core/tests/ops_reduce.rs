//! Reductions and softmax along named dims, against hand-derived values.
mod common;
use common::*;
use tensor_core::prelude::*;

fn m() -> Tensor<(Rows, Cols)> {
    // [[1, 5, 3],
    //  [4, 2, 6]]
    Tensor::from_vec(vec![1., 5., 3., 4., 2., 6.], &[]).unwrap()
}

#[test]
fn sums_and_means_over_each_dim() {
    let t = m();
    let over_cols: Tensor<(Rows,)> = t.sum::<Cols, _>();
    assert_eq!(over_cols.to_vec(), vec![9., 12.]);
    let over_rows: Tensor<(Cols,)> = t.sum_over(Rows);
    assert_eq!(over_rows.to_vec(), vec![5., 7., 9.]);
    assert_eq!(t.mean::<Cols, _>().to_vec(), vec![3., 4.]);
    assert_eq!(t.sum_all(), 21.0);
    assert_eq!(t.mean_all(), 3.5);
}

#[test]
fn max_min_argmax() {
    let t = m();
    assert_eq!(t.max::<Cols, _>().to_vec(), vec![5., 6.]);
    assert_eq!(t.min::<Rows, _>().to_vec(), vec![1., 2., 3.]);
    assert_eq!(t.argmax::<Cols, _>().to_vec(), vec![1, 2]);
    assert_eq!(t.argmin::<Rows, _>().to_vec(), vec![0, 1, 0]);
    assert_eq!(t.max_all(), 6.0);
    assert_eq!(t.min_all(), 1.0);
}

#[test]
fn variance_is_population_variance() {
    // row 0: mean 3, deviations -2, 2, 0 -> 8/3; row 1: mean 4, deviations 0, -2, 2 -> 8/3
    assert_close(&m().variance::<Cols, _>().to_vec(), &[8. / 3., 8. / 3.], 1e-6);
}

#[test]
fn logsumexp_is_stable_for_large_inputs() {
    let t = Tensor::<(Rows, Cols)>::from_vec(vec![1000., 1000., 1000., 0., 0., 0.], &[]).unwrap();
    let lse = t.logsumexp::<Cols, _>().to_vec();
    assert_close(&lse, &[1000. + 3f32.ln(), 3f32.ln()], 1e-6);
}

#[test]
fn softmax_rows_sum_to_one_and_match_hand_values() {
    let t = Tensor::<(Rows, Cols)>::from_vec(vec![0., 1., 2., 1000., 1000., 1000.], &[]).unwrap();
    let s = t.softmax::<Cols, _>().to_vec();
    let z = 1. + 1f32.exp() + 2f32.exp();
    assert_close(
        &s,
        &[1. / z, 1f32.exp() / z, 2f32.exp() / z, 1. / 3., 1. / 3., 1. / 3.],
        1e-6,
    );
    let ls = t.log_softmax::<Cols, _>().to_vec();
    assert_close(&ls[..3], &[-z.ln(), 1. - z.ln(), 2. - z.ln()], 1e-6);
    // softmax over the other dim: columns sum to one
    let c = t.softmax::<Rows, _>();
    assert_close(&c.sum::<Rows, _>().to_vec(), &[1., 1., 1.], 1e-6);
}

#[test]
fn reductions_over_a_middle_dim_of_rank_3() {
    let t = Tensor::<(Batch, Rows, Cols)>::from_fn(&[2], |i| (i[0] * 6 + i[1] * 3 + i[2]) as f32);
    // sum over Rows: out[b, c] = x[b,0,c] + x[b,1,c] = 2*(6b + c) + 3
    let s = t.sum::<Rows, _>();
    assert_eq!(s.dims(), &[2, 3]);
    assert_eq!(s.to_vec(), vec![3., 5., 7., 15., 17., 19.]);
}
