//! matmul, reshape, permute, concat, stack, slicing and gather.
mod common;
use common::*;
use tensor_core::prelude::*;

#[test]
fn matmul_2d_by_hand() {
    // [[1,2,3],[4,5,6]] x [[1,0],[0,1],[1,1]] = [[4,5],[10,11]]
    let a = Tensor::<(Rows, Inner)>::from_vec(vec![1., 2., 3., 4., 5., 6.], &[]).unwrap();
    let b = Tensor::<(Inner, Out)>::from_vec(vec![1., 0., 0., 1., 1., 1.], &[]).unwrap();
    let c: Tensor<(Rows, Out)> = a.matmul(&b);
    assert_eq!(c.to_vec(), vec![4., 5., 10., 11.]);
}

#[test]
fn matmul_of_a_transposed_view_needs_no_copy() {
    let a = Tensor::<(Inner, Rows)>::from_vec(vec![1., 4., 2., 5., 3., 6.], &[]).unwrap();
    let at: Tensor<(Rows, Inner)> = a.t();
    assert!(!at.is_contiguous());
    let b = Tensor::<(Inner, Out)>::from_vec(vec![1., 0., 0., 1., 1., 1.], &[]).unwrap();
    assert_eq!(at.matmul(&b).to_vec(), vec![4., 5., 10., 11.]);
}

#[test]
fn batched_matmul_both_forms() {
    let a = Tensor::<(Batch, Rows, Inner)>::from_fn(&[2], |i| (i[0] * 6 + i[1] * 3 + i[2]) as f32);
    let w = Tensor::<(Inner, Out)>::from_vec(vec![1., 0., 0., 1., 1., 1.], &[]).unwrap();
    let c = a.matmul(&w);
    // batch 1 rows: [6,7,8] -> [14, 15]; [9,10,11] -> [20, 21]
    assert_eq!(c.to_vec(), vec![2., 3., 8., 9., 14., 15., 20., 21.]);
    let wb =
        Tensor::<(Batch, Inner, Out)>::from_fn(&[2], |i| if i[1] == i[2] { (i[0] + 1) as f32 } else { 0. });
    let d = a.matmul(&wb);
    // batch 0 scales by 1 the first two columns; batch 1 by 2
    assert_eq!(d.to_vec(), vec![0., 1., 3., 4., 12., 14., 18., 20.]);
}

#[test]
fn matmul_runtime_inner_mismatch_is_an_error() {
    let a = Tensor::<(Batch, Seq)>::zeros(&[2, 3]);
    let b = Tensor::<(Seq, Out)>::zeros(&[4]);
    let e = a.try_matmul(&b).unwrap_err();
    assert_eq!(
        e.to_string(),
        "matmul: dimension `Seq` has length 3 on the left but 4 on the right"
    );
}

#[test]
fn reshape_infers_the_runtime_dim_and_checks_counts() {
    let t = Tensor::<(Batch, Rows, Cols)>::from_fn(&[2], |i| (i[0] * 6 + i[1] * 3 + i[2]) as f32);
    let flat: Tensor<(Batch, Six)> = t.reshape();
    assert_eq!(flat.dims(), &[2, 6]);
    assert_eq!(flat.to_vec(), t.to_vec());
    // one run-time dim absorbs the rest: 12 elements -> [Batch=4, Cols=3]
    let s = Tensor::<(Seq,)>::from_fn(&[12], |i| i[0] as f32);
    let r: Tensor<(Batch, Cols)> = s.reshape();
    assert_eq!(r.dims(), &[4, 3]);
    let odd = Tensor::<(Seq,)>::zeros(&[7]);
    let e = odd.try_reshape::<(Batch, Cols)>().unwrap_err();
    assert_eq!(
        e.to_string(),
        "reshape: cannot reshape [Seq=7] (7 elements) into [Batch=?, Cols=3]"
    );
}

#[test]
fn permute_is_a_view_and_contiguous_copies_in_order() {
    let t = Tensor::<(Rows, Cols)>::from_vec(vec![1., 2., 3., 4., 5., 6.], &[]).unwrap();
    let p: Tensor<(Cols, Rows)> = t.permute::<(Cols, Rows), _>();
    assert_eq!(p.dims(), &[3, 2]);
    assert_eq!(p.to_vec(), vec![1., 4., 2., 5., 3., 6.]);
    assert_eq!(p.get(&[2, 1]), 6.0);
    let b = Tensor::<(Batch, Rows, Cols)>::from_fn(&[2], |i| (i[0] * 6 + i[1] * 3 + i[2]) as f32);
    let q = b.permute::<(Cols, Batch, Rows), _>();
    assert_eq!(q.dims(), &[3, 2, 2]);
    assert_eq!(q.get(&[2, 1, 0]), 8.0); // b[1, 0, 2]
}

#[test]
fn concat_sums_the_new_dim_and_checks_its_size() {
    let a = Tensor::<(Batch, Wide)>::from_vec(vec![1., 2., 3., 4.], &[2]).unwrap();
    let b = Tensor::<(Batch, Deep)>::from_vec(vec![5., 6., 7., 8., 9., 10.], &[2]).unwrap();
    let c: Tensor<(Batch, Both)> = a.concat(Wide, &b, Deep, Both);
    assert_eq!(c.to_vec(), vec![1., 2., 5., 6., 7., 3., 4., 8., 9., 10.]);
    let rows = a.concat(Batch, &a, Batch, Batch);
    assert_eq!(rows.dims(), &[4, 2]);
    let e = a.try_concat(Wide, &a, Wide, Both).unwrap_err();
    assert!(
        e.to_string()
            .contains("`Both` cannot have length 4, its static size is 5"),
        "{e}"
    );
}

#[test]
fn stack_adds_a_leading_dim() {
    let a = Tensor::<(Cols,)>::from_vec(vec![1., 2., 3.], &[]).unwrap();
    let b = Tensor::<(Cols,)>::from_vec(vec![4., 5., 6.], &[]).unwrap();
    let s: Tensor<(Batch, Cols)> = Tensor::stack::<Batch>(&[a.clone(), b]);
    assert_eq!(s.dims(), &[2, 3]);
    assert_eq!(s.to_vec(), vec![1., 2., 3., 4., 5., 6.]);
    assert!(Tensor::<(Cols,)>::try_stack::<Batch>(&[]).is_err());
    let u: Tensor<(Batch, Cols)> = a.try_unsqueeze::<Batch>().unwrap();
    assert_eq!(u.dims(), &[1, 3]);
}

#[test]
fn narrow_slice_index_select_and_gather() {
    let t = Tensor::<(Batch, Cols)>::from_fn(&[4], |i| (i[0] * 3 + i[1]) as f32);
    let n = t.narrow::<Batch, _>(1, 2);
    assert_eq!(n.to_vec(), vec![3., 4., 5., 6., 7., 8.]);
    assert!(t.try_narrow::<Batch, _>(3, 2).is_err());
    assert!(t.try_narrow::<Cols, _>(0, 2).is_err()); // static dims keep their size
    let s: Tensor<(Batch, Top2)> = t.slice_as::<Cols, Top2, _>(1);
    assert_eq!(s.to_vec(), vec![1., 2., 4., 5., 7., 8., 10., 11.]);
    let ids = Tensor::<(Pick,), i64>::from_vec(vec![3, 0, 3], &[3]).unwrap();
    let sel: Tensor<(Pick, Cols)> = t.index_select::<Batch, Pick, _, _>(&ids);
    assert_eq!(sel.to_vec(), vec![9., 10., 11., 0., 1., 2., 9., 10., 11.]);
    let labels = Tensor::<(Batch,), i64>::from_vec(vec![2, 0, 1, 2], &[4]).unwrap();
    assert_eq!(t.gather::<Cols, _, _>(&labels).to_vec(), vec![2., 3., 7., 11.]);
    let bad = Tensor::<(Batch,), i64>::from_vec(vec![2, 0, 3, 2], &[4]).unwrap();
    let e = t.try_gather::<Cols, _, _>(&bad).unwrap_err();
    assert_eq!(
        e.to_string(),
        "gather: index 3 is out of range for dimension `Cols` of length 3"
    );
}

#[test]
fn broadcast_to_is_a_stride_zero_view() {
    let b = Tensor::<(Cols,)>::from_vec(vec![1., 2., 3.], &[]).unwrap();
    let m: Tensor<(Batch, Cols)> = b.broadcast_to(&[2]);
    assert_eq!(m.to_vec(), vec![1., 2., 3., 1., 2., 3.]);
}
