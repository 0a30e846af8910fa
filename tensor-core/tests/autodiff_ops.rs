//! The backward rule of every differentiable op against central finite differences in f64
//! (`check_gradients`), including broadcasting in both directions and odd, run-time shapes.
//! Each op's output is turned into a scalar by a weighted sum with fixed, distinct weights, so
//! that every output element gets a different upstream gradient.
// The closures spell out the tuple types of their inputs; naming each would hide the shapes.
#![allow(clippy::type_complexity)]
use tensor_core::autodiff::{check_gradients, GradInputs};
use tensor_core::prelude::*;

tensor_macros::dims! {
    crate = ::tensor_core;
    Batch;
    Rows = 3;
    Cols = 5;
    Inner = 4;
    Wide = 2;
    Both = 7;
    Pick;
    Two = 2;
    Flat = 15;
    Numel;
}

type T<S> = Tensor<S, f64>;

/// Distinct, deterministic values in about [-1.5, 1.5] (none exactly 0).
fn vals<S: Shape>(runtime: &[usize], seed: u64) -> T<S> {
    let mut k = 0u64;
    Tensor::from_fn(runtime, |_| {
        k += 1;
        ((k as f64) * 1.37 + (seed as f64) * 0.61).sin() * 1.5 + 0.013
    })
}

/// Positive values in about [0.3, 2.5].
fn pos<S: Shape>(runtime: &[usize], seed: u64) -> T<S> {
    vals::<S>(runtime, seed).map(|v| v.abs() + 0.3)
}

/// A weighted sum with weights 1, 1.25, 1.5, ... (a scalar whose upstream gradient differs per element).
fn weigh<S: Shape>(y: &T<S>) -> T<()> {
    let n = y.numel();
    let w = T::<(Numel,)>::from_vec((0..n).map(|i| 1.0 + 0.25 * i as f64).collect(), &[n]).unwrap();
    let flat: T<(Numel,)> = y.try_reshape_with(&[n]).unwrap();
    (&flat * &w).sum_to_scalar()
}

#[track_caller]
fn check<I: GradInputs>(f: impl Fn(&I) -> T<()>, inputs: &I) {
    let r = check_gradients(f, inputs, 1e-6, 1e-6);
    match r {
        Ok(rep) => assert!(rep.checked > 0),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn arithmetic_same_shape() {
    let a = vals::<(Rows, Cols)>(&[], 1);
    let b = pos::<(Rows, Cols)>(&[], 2);
    check(
        |(a, b): &(T<(Rows, Cols)>, T<(Rows, Cols)>)| weigh(&(a + b)),
        &(a.clone(), b.clone()),
    );
    check(
        |(a, b): &(T<(Rows, Cols)>, T<(Rows, Cols)>)| weigh(&(a - b)),
        &(a.clone(), b.clone()),
    );
    check(
        |(a, b): &(T<(Rows, Cols)>, T<(Rows, Cols)>)| weigh(&(a * b)),
        &(a.clone(), b.clone()),
    );
    check(
        |(a, b): &(T<(Rows, Cols)>, T<(Rows, Cols)>)| weigh(&(a / b)),
        &(a.clone(), b.clone()),
    );
    check(
        |(a, b): &(T<(Rows, Cols)>, T<(Rows, Cols)>)| weigh(&a.maximum(b)),
        &(a.clone(), b.clone()),
    );
    check(
        |(a, b): &(T<(Rows, Cols)>, T<(Rows, Cols)>)| weigh(&a.minimum(b)),
        &(a.clone(), b.clone()),
    );
    check(
        |(a, b): &(T<(Rows, Cols)>, T<(Rows, Cols)>)| weigh(&b.pow(a)),
        &(a, b),
    );
}

#[test]
fn arithmetic_broadcasts_and_sums_back() {
    // (Batch, Rows, Cols) with a run-time Batch of 2, against (Cols,), (Rows, Cols) and ().
    let x = vals::<(Batch, Rows, Cols)>(&[2], 3);
    let c = pos::<(Cols,)>(&[], 4);
    let rc = pos::<(Rows, Cols)>(&[], 5);
    let s = pos::<()>(&[], 6);
    type X = T<(Batch, Rows, Cols)>;
    check(
        |(x, c): &(X, T<(Cols,)>)| weigh(&(x + c)),
        &(x.clone(), c.clone()),
    );
    check(
        |(x, c): &(X, T<(Cols,)>)| weigh(&(c - x)),
        &(x.clone(), c.clone()),
    );
    check(
        |(x, c): &(X, T<(Cols,)>)| weigh(&(x * c)),
        &(x.clone(), c.clone()),
    );
    check(
        |(x, c): &(X, T<(Cols,)>)| weigh(&(x / c)),
        &(x.clone(), c.clone()),
    );
    check(
        |(x, c): &(X, T<(Cols,)>)| weigh(&(c / x.abs().add_scalar(0.5))),
        &(x.clone(), c.clone()),
    );
    check(
        |(x, rc): &(X, T<(Rows, Cols)>)| weigh(&rc.mul(x)),
        &(x.clone(), rc.clone()),
    );
    check(
        |(x, rc): &(X, T<(Rows, Cols)>)| weigh(&x.maximum(rc)),
        &(x.clone(), rc.clone()),
    );
    check(
        |(x, rc): &(X, T<(Rows, Cols)>)| weigh(&rc.minimum(x)),
        &(x.clone(), rc.clone()),
    );
    check(|(x, s): &(X, T<()>)| weigh(&x.mul(s)), &(x.clone(), s.clone()));
    check(|(x, s): &(X, T<()>)| weigh(&s.pow(x)), &(x.clone(), s.clone()));
    check(
        |(rc, c): &(T<(Rows, Cols)>, T<(Cols,)>)| weigh(&rc.pow(c)),
        &(rc.clone(), c.clone()),
    );
}

#[test]
fn scalar_forms() {
    let x = vals::<(Rows, Cols)>(&[], 7);
    let p = pos::<(Rows, Cols)>(&[], 8);
    type X = T<(Rows, Cols)>;
    check(|x: &X| weigh(&x.add_scalar(0.7)), &x);
    check(|x: &X| weigh(&x.sub_scalar(0.7)), &x);
    check(|x: &X| weigh(&x.mul_scalar(-1.3)), &x);
    check(|x: &X| weigh(&x.div_scalar(0.4)), &x);
    check(|x: &X| weigh(&x.rsub_scalar(2.0)), &x);
    check(|x: &X| weigh(&x.rdiv_scalar(2.0)), &p);
    check(|x: &X| weigh(&x.powf(1.7)), &p);
    check(|x: &X| weigh(&x.powi(3)), &x);
    check(|x: &X| weigh(&x.max_scalar(0.2)), &x);
    check(|x: &X| weigh(&x.min_scalar(0.2)), &x);
    check(|x: &X| weigh(&x.clamp(-0.5, 0.6)), &x);
    check(|x: &X| weigh(&(x * 3.0 + 1.0)), &x);
    check(|x: &X| weigh(&(x / 2.0 - 1.0)), &x);
    check(|x: &X| weigh(&-x), &x);
}

#[test]
fn unary_functions() {
    let x = vals::<(Batch, Cols)>(&[3], 9);
    let p = pos::<(Batch, Cols)>(&[3], 10);
    type X = T<(Batch, Cols)>;
    check(|x: &X| weigh(&x.neg()), &x);
    check(|x: &X| weigh(&x.abs()), &x);
    check(|x: &X| weigh(&x.exp()), &x);
    check(|x: &X| weigh(&x.ln()), &p);
    check(|x: &X| weigh(&x.sqrt()), &p);
    check(|x: &X| weigh(&x.tanh()), &x);
    check(|x: &X| weigh(&x.sigmoid()), &x);
    check(|x: &X| weigh(&x.relu()), &x);
    check(|x: &X| weigh(&x.erf()), &x);
    check(|x: &X| weigh(&x.sign().add(x)), &x);
    check(|x: &X| weigh(&x.recip()), &p);
    check(|x: &X| weigh(&x.square()), &x);
}

#[test]
fn matmul_plain_batched_and_transposed() {
    let a = vals::<(Rows, Inner)>(&[], 11);
    let b = vals::<(Inner, Cols)>(&[], 12);
    check(
        |(a, b): &(T<(Rows, Inner)>, T<(Inner, Cols)>)| weigh(&a.matmul(b)),
        &(a, b.clone()),
    );
    // transposed views on both sides: (Inner, Rows)ᵀ x (Cols, Inner)ᵀ
    let at = vals::<(Inner, Rows)>(&[], 13);
    let bt = vals::<(Cols, Inner)>(&[], 14);
    check(
        |(at, bt): &(T<(Inner, Rows)>, T<(Cols, Inner)>)| weigh(&at.t().matmul(&bt.t())),
        &(at, bt),
    );
    // batched lhs, shared rhs: the rhs gradient sums over the batch
    let x = vals::<(Batch, Rows, Inner)>(&[2], 15);
    check(
        |(x, b): &(T<(Batch, Rows, Inner)>, T<(Inner, Cols)>)| weigh(&x.matmul(b)),
        &(x.clone(), b.clone()),
    );
    // batched both, rhs a permuted view
    let y = vals::<(Cols, Batch, Inner)>(&[2], 16);
    check(
        |(x, y): &(T<(Batch, Rows, Inner)>, T<(Cols, Batch, Inner)>)| {
            let yb: T<(Batch, Inner, Cols)> = y.permute::<(Batch, Inner, Cols), _>();
            weigh(&x.matmul(&yb))
        },
        &(x, y),
    );
}

#[test]
fn reductions_over_every_axis() {
    let x = vals::<(Batch, Rows, Cols)>(&[2], 17);
    type X = T<(Batch, Rows, Cols)>;
    check(|x: &X| weigh(&x.sum::<Batch, _>()), &x);
    check(|x: &X| weigh(&x.sum::<Rows, _>()), &x);
    check(|x: &X| weigh(&x.sum::<Cols, _>()), &x);
    check(|x: &X| weigh(&x.mean::<Rows, _>()), &x);
    check(|x: &X| weigh(&x.mean::<Batch, _>()), &x);
    check(|x: &X| weigh(&x.max::<Cols, _>()), &x);
    check(|x: &X| weigh(&x.max::<Batch, _>()), &x);
    check(|x: &X| weigh(&x.min::<Rows, _>()), &x);
    check(|x: &X| weigh(&x.variance::<Cols, _>()), &x);
    check(|x: &X| weigh(&x.variance::<Batch, _>()), &x);
    check(|x: &X| weigh(&x.logsumexp::<Rows, _>()), &x);
    check(|x: &X| weigh(&x.logsumexp::<Cols, _>()), &x);
    check(|x: &X| x.sum_to_scalar().square(), &x);
    check(|x: &X| x.mean_to_scalar().square(), &x);
}

#[test]
fn softmax_and_log_softmax() {
    let x = vals::<(Batch, Rows, Cols)>(&[2], 18);
    type X = T<(Batch, Rows, Cols)>;
    check(|x: &X| weigh(&x.softmax::<Cols, _>()), &x);
    check(|x: &X| weigh(&x.softmax::<Rows, _>()), &x);
    check(|x: &X| weigh(&x.log_softmax::<Cols, _>()), &x);
    check(|x: &X| weigh(&x.log_softmax::<Batch, _>()), &x);
}

#[test]
fn shape_ops() {
    let x = vals::<(Rows, Cols)>(&[], 19);
    type X = T<(Rows, Cols)>;
    check(|x: &X| weigh(&x.reshape::<(Flat,)>()), &x);
    check(|x: &X| weigh(&x.t().contiguous()), &x);
    check(|x: &X| weigh(&x.permute::<(Cols, Rows), _>().mul_scalar(2.0)), &x);
    check(|x: &X| weigh(&x.try_unsqueeze::<Batch>().unwrap()), &x);
    check(|x: &X| weigh(&x.broadcast_to::<(Batch, Rows, Cols)>(&[3])), &x);
    check(|x: &X| weigh(&x.slice_as::<Cols, Two, _>(2)), &x);
    let b = vals::<(Batch, Cols)>(&[4], 20);
    check(|b: &T<(Batch, Cols)>| weigh(&b.narrow::<Batch, _>(1, 2)), &b);
    // a permuted 3-d view reshaped: the view is copied in the reshape, and the gradient goes back
    let y = vals::<(Batch, Rows, Cols)>(&[2], 21);
    check(
        |y: &T<(Batch, Rows, Cols)>| {
            let p: T<(Rows, Batch, Cols)> = y.permute::<(Rows, Batch, Cols), _>();
            weigh(&p.try_reshape_with::<(Rows, Pick)>(&[10]).unwrap())
        },
        &y,
    );
}

#[test]
fn concat_stack_and_where() {
    let a = vals::<(Batch, Wide)>(&[3], 22);
    let b = vals::<(Batch, Cols)>(&[3], 23);
    check(
        |(a, b): &(T<(Batch, Wide)>, T<(Batch, Cols)>)| weigh(&a.concat(Wide, b, Cols, Both)),
        &(a, b),
    );
    let c = vals::<(Batch, Cols)>(&[2], 24);
    let d = vals::<(Batch, Cols)>(&[4], 25);
    check(
        |(c, d): &(T<(Batch, Cols)>, T<(Batch, Cols)>)| weigh(&c.concat(Batch, d, Batch, Batch)),
        &(c, d),
    );
    let p = vals::<(Rows, Cols)>(&[], 26);
    let q = vals::<(Rows, Cols)>(&[], 27);
    check(
        |(p, q): &(T<(Rows, Cols)>, T<(Rows, Cols)>)| {
            let s: T<(Pick, Rows, Cols)> = Tensor::stack::<Pick>(&[p.clone(), q.square(), p.clone()]);
            weigh(&s)
        },
        &(p.clone(), q.clone()),
    );
    check(
        |(p, q): &(T<(Rows, Cols)>, T<(Rows, Cols)>)| {
            let mask = p.gt(q);
            weigh(&mask.select(&p.mul_scalar(3.0), &q.exp()))
        },
        &(p, q),
    );
}

#[test]
fn index_select_and_gather() {
    let table = vals::<(Rows, Cols)>(&[], 28);
    // repeated indices: the gradient rows add up
    let ids = Tensor::<(Pick,), i64>::from_vec(vec![2, 0, 2, 1, 2], &[5]).unwrap();
    check(
        |t: &T<(Rows, Cols)>| weigh(&t.index_select::<Rows, Pick, _, i64>(&ids)),
        &table,
    );
    let ids2 = Tensor::<(Pick,), i64>::from_vec(vec![4, 4, 1], &[3]).unwrap();
    check(
        |t: &T<(Rows, Cols)>| weigh(&t.index_select::<Cols, Pick, _, i64>(&ids2)),
        &table,
    );
    let logits = vals::<(Batch, Cols)>(&[4], 29);
    let labels = Tensor::<(Batch,), i64>::from_vec(vec![3, 0, 4, 3], &[4]).unwrap();
    check(
        |l: &T<(Batch, Cols)>| weigh(&l.gather::<Cols, _, i64>(&labels)),
        &logits,
    );
    let x3 = vals::<(Batch, Rows, Cols)>(&[2], 30);
    let rows = Tensor::<(Batch, Cols), i64>::from_fn(&[2], |i| ((i[0] + i[1]) % 3) as i64);
    check(
        |x: &T<(Batch, Rows, Cols)>| weigh(&x.gather::<Rows, _, i64>(&rows)),
        &x3,
    );
}

#[test]
fn composite_mlp_loss() {
    // a two-layer network with softmax cross-entropy, every parameter checked at once
    let x = vals::<(Batch, Inner)>(&[3], 31);
    let w1 = vals::<(Inner, Cols)>(&[], 32);
    let b1 = vals::<(Cols,)>(&[], 33);
    let w2 = vals::<(Cols, Rows)>(&[], 34);
    let labels = Tensor::<(Batch,), i64>::from_vec(vec![2, 0, 1], &[3]).unwrap();
    check(
        |(w1, b1, w2): &(T<(Inner, Cols)>, T<(Cols,)>, T<(Cols, Rows)>)| {
            let h = (x.matmul(w1) + b1).tanh();
            let logp = h.matmul(w2).log_softmax::<Rows, _>();
            logp.gather::<Rows, _, i64>(&labels).mean_to_scalar().neg()
        },
        &(w1, b1, w2),
    );
}
