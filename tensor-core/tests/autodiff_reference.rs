//! Gradients of eleven composite functions against JAX (float64). The values were computed
//! once by `reference/autodiff_reference.py` and committed in
//! `reference/autodiff_reference.json` (inputs included); this test needs no Python.
//! Agreement is asked to 1e-5 relative (float64 on both sides agrees to ~1e-12).
use std::collections::BTreeMap;

use tensor_core::autodiff::GradientTape;
use tensor_core::prelude::*;

tensor_macros::dims! {
    crate = ::tensor_core;
    Batch = 4; Feat = 5; Hidden = 6; Classes = 3;
    D2 = 2; D3 = 3; D4 = 4; D5 = 5; D6 = 6; D7 = 7; D8 = 8;
    Two = 2; Out2 = 2; Cat = 5; Stacked = 3;
}

type T<S> = Tensor<S, f64>;

/// A minimal JSON value and parser (objects, arrays, numbers, strings, literals).
#[derive(Debug)]
enum Json {
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(BTreeMap<String, Json>),
    Lit,
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }
    fn value(&mut self) -> Json {
        self.ws();
        match self.s[self.i] {
            b'{' => {
                self.i += 1;
                let mut m = BTreeMap::new();
                loop {
                    self.ws();
                    if self.s[self.i] == b'}' {
                        self.i += 1;
                        return Json::Obj(m);
                    }
                    let Json::Str(k) = self.value() else {
                        panic!("object key")
                    };
                    self.ws();
                    assert_eq!(self.s[self.i], b':');
                    self.i += 1;
                    let v = self.value();
                    m.insert(k, v);
                    self.ws();
                    if self.s[self.i] == b',' {
                        self.i += 1;
                    }
                }
            }
            b'[' => {
                self.i += 1;
                let mut v = Vec::new();
                loop {
                    self.ws();
                    if self.s[self.i] == b']' {
                        self.i += 1;
                        return Json::Arr(v);
                    }
                    v.push(self.value());
                    self.ws();
                    if self.s[self.i] == b',' {
                        self.i += 1;
                    }
                }
            }
            b'"' => {
                let start = self.i + 1;
                self.i = start;
                while self.s[self.i] != b'"' {
                    self.i += 1;
                }
                self.i += 1;
                Json::Str(String::from_utf8(self.s[start..self.i - 1].to_vec()).unwrap())
            }
            b't' | b'f' | b'n' => {
                while self.i < self.s.len() && self.s[self.i].is_ascii_alphabetic() {
                    self.i += 1;
                }
                Json::Lit
            }
            _ => {
                let start = self.i;
                while self.i < self.s.len() && b"+-.eE0123456789".contains(&self.s[self.i]) {
                    self.i += 1;
                }
                Json::Num(
                    std::str::from_utf8(&self.s[start..self.i])
                        .unwrap()
                        .parse()
                        .unwrap(),
                )
            }
        }
    }
}

impl Json {
    fn get(&self, k: &str) -> &Json {
        match self {
            Json::Obj(m) => m.get(k).unwrap_or_else(|| panic!("no key {k}")),
            _ => panic!("not an object"),
        }
    }
    fn nums(&self) -> Vec<f64> {
        match self {
            Json::Arr(v) => v
                .iter()
                .map(|x| match x {
                    Json::Num(n) => *n,
                    _ => panic!("not a number"),
                })
                .collect(),
            Json::Num(n) => vec![*n],
            _ => panic!("not numbers"),
        }
    }
}

fn reference() -> Json {
    let text = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../reference/autodiff_reference.json"
    ));
    Parser {
        s: text.as_bytes(),
        i: 0,
    }
    .value()
}

/// A float input of the case, checking the stored shape against the tensor's.
fn input<S: Shape>(case: &Json, name: &str) -> T<S> {
    let inp = case.get("inputs").get(name);
    let shape: Vec<usize> = inp.get("shape").nums().iter().map(|&d| d as usize).collect();
    T::<S>::from_vec_dims(inp.get("data").nums(), &shape).unwrap()
}

fn indices<S: Shape>(case: &Json, name: &str) -> Tensor<S, i64> {
    let inp = case.get("inputs").get(name);
    let shape: Vec<usize> = inp.get("shape").nums().iter().map(|&d| d as usize).collect();
    let data = inp.get("data").nums().into_iter().map(|v| v as i64).collect();
    Tensor::from_vec_dims(data, &shape).unwrap()
}

#[track_caller]
fn close(what: &str, got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-5 * w.abs() + 1e-9,
            "{what}[{i}]: got {g}, JAX gives {w}"
        );
    }
}

/// Compares the value and the gradient of every listed source with the case's reference.
#[track_caller]
fn compare(case: &Json, value: &T<()>, sources: &[(&str, Vec<f64>)]) {
    close("value", &[value.item()], &case.get("value").nums());
    for (name, g) in sources {
        close(name, g, &case.get("grads").get(name).nums());
    }
}

macro_rules! grad_of {
    ($grads:expr, $x:expr) => {
        $grads.wrt(&$x).unwrap().to_vec()
    };
}

#[test]
fn matches_jax_on_eleven_composite_functions() {
    let r = reference();
    let cases = r.get("cases");

    // two-layer MLP, relu, log-softmax cross-entropy with integer labels
    {
        let c = cases.get("mlp_softmax_xent");
        let tape = GradientTape::new();
        let x = tape.watch(&input::<(Batch, Feat)>(c, "x"));
        let w1 = tape.watch(&input::<(Feat, Hidden)>(c, "w1"));
        let b1 = tape.watch(&input::<(Hidden,)>(c, "b1"));
        let w2 = tape.watch(&input::<(Hidden, Classes)>(c, "w2"));
        let b2 = tape.watch(&input::<(Classes,)>(c, "b2"));
        let labels = indices::<(Batch,)>(c, "labels");
        let logp = ((x.matmul(&w1) + &b1).relu().matmul(&w2) + &b2).log_softmax::<Classes, _>();
        let loss = logp.gather::<Classes, _, i64>(&labels).mean_to_scalar().neg();
        let g = tape.gradient(&loss).unwrap();
        compare(
            c,
            &loss,
            &[
                ("x", grad_of!(g, x)),
                ("w1", grad_of!(g, w1)),
                ("b1", grad_of!(g, b1)),
                ("w2", grad_of!(g, w2)),
                ("b2", grad_of!(g, b2)),
            ],
        );
    }

    // broadcasting in every direction, including a rank-0 operand
    {
        let c = cases.get("broadcasting");
        let tape = GradientTape::new();
        let a = tape.watch(&input::<(D2, D3, D4)>(c, "a"));
        let b = tape.watch(&input::<(D4,)>(c, "b"));
        let cc = tape.watch(&input::<(D3, D4)>(c, "c"));
        let s = tape.watch(&input::<()>(c, "s"));
        let t = (a.mul(&b) - &cc)
            .tanh()
            .mul(&cc.exp())
            .div(&s.square().add_scalar(1.0));
        let loss = (t + a.maximum(&cc)).sum_to_scalar();
        let g = tape.gradient(&loss).unwrap();
        compare(
            c,
            &loss,
            &[
                ("a", grad_of!(g, a)),
                ("b", grad_of!(g, b)),
                ("c", grad_of!(g, cc)),
                ("s", grad_of!(g, s)),
            ],
        );
    }

    // log-sum-exp over both axes
    {
        let c = cases.get("logsumexp");
        let tape = GradientTape::new();
        let x = tape.watch(&input::<(D3, D5)>(c, "x"));
        let w = tape.watch(&input::<(D3,)>(c, "w"));
        let loss = x.logsumexp::<D5, _>().mul(&w).sum_to_scalar() + x.logsumexp::<D3, _>().sum_to_scalar();
        let g = tape.gradient(&loss).unwrap();
        compare(c, &loss, &[("x", grad_of!(g, x)), ("w", grad_of!(g, w))]);
    }

    // index_select (a repeated index), concat, softmax
    {
        let c = cases.get("gather_concat");
        let tape = GradientTape::new();
        let table = tape.watch(&input::<(D5, D3)>(c, "table"));
        let y = tape.watch(&input::<(Batch, D2)>(c, "y"));
        let w = tape.watch(&input::<(Batch, Cat)>(c, "w"));
        let ids = indices::<(Batch,)>(c, "ids");
        let rows = table.index_select::<D5, Batch, _, i64>(&ids);
        let z = rows.concat(D3, &y, D2, Cat);
        let loss = z.softmax::<Cat, _>().mul(&w).sum_to_scalar();
        let g = tape.gradient(&loss).unwrap();
        compare(
            c,
            &loss,
            &[
                ("table", grad_of!(g, table)),
                ("y", grad_of!(g, y)),
                ("w", grad_of!(g, w)),
            ],
        );
    }

    // batched matmul, then a shared matrix
    {
        let c = cases.get("batched_matmul");
        let tape = GradientTape::new();
        let a = tape.watch(&input::<(D2, D3, D4)>(c, "a"));
        let b = tape.watch(&input::<(D2, D4, Two)>(c, "b"));
        let m = tape.watch(&input::<(Two, Out2)>(c, "c"));
        let loss = a.matmul(&b).matmul(&m).sigmoid().square().sum_to_scalar();
        let g = tape.gradient(&loss).unwrap();
        compare(
            c,
            &loss,
            &[
                ("a", grad_of!(g, a)),
                ("b", grad_of!(g, b)),
                ("c", grad_of!(g, m)),
            ],
        );
    }

    // layer normalisation: mean, variance, sqrt, permutes to broadcast per row
    {
        let c = cases.get("layer_norm");
        let tape = GradientTape::new();
        let x = tape.watch(&input::<(Batch, D6)>(c, "x"));
        let gamma = tape.watch(&input::<(D6,)>(c, "gamma"));
        let beta = tape.watch(&input::<(D6,)>(c, "beta"));
        let w = tape.watch(&input::<(Batch, D6)>(c, "w"));
        let mu = x.mean::<D6, _>();
        let sd = x.variance::<D6, _>().add_scalar(1e-5).sqrt();
        let xt = x.permute::<(D6, Batch), _>();
        let norm = (xt - &mu).div(&sd).permute::<(Batch, D6), _>();
        let y = norm.mul(&gamma) + &beta;
        let loss = y.square().mul(&w).sum_to_scalar();
        let g = tape.gradient(&loss).unwrap();
        compare(
            c,
            &loss,
            &[
                ("x", grad_of!(g, x)),
                ("gamma", grad_of!(g, gamma)),
                ("beta", grad_of!(g, beta)),
                ("w", grad_of!(g, w)),
            ],
        );
    }

    // smooth unary chain
    {
        let c = cases.get("smooth_unary");
        let tape = GradientTape::new();
        let x = tape.watch(&input::<(D7,)>(c, "x"));
        let t = x.square().add_scalar(1.0).sqrt().mul(&x.erf())
            + x.abs().mul_scalar(0.3)
            + x.exp().add_scalar(1.0).ln()
            + x.square().add_scalar(2.0).recip();
        let loss = t.sum_to_scalar();
        let g = tape.gradient(&loss).unwrap();
        compare(c, &loss, &[("x", grad_of!(g, x))]);
    }

    // max and min reductions
    {
        let c = cases.get("max_min");
        let tape = GradientTape::new();
        let x = tape.watch(&input::<(D3, D4)>(c, "x"));
        let loss = x.max::<D4, _>().square().sum_to_scalar() + x.min::<D3, _>().sum_to_scalar();
        let g = tape.gradient(&loss).unwrap();
        compare(c, &loss, &[("x", grad_of!(g, x))]);
    }

    // permute, reshape of the permuted view, matmul
    {
        let c = cases.get("transpose_reshape");
        let tape = GradientTape::new();
        let x = tape.watch(&input::<(D2, D3, D4)>(c, "x"));
        let w = tape.watch(&input::<(D8, Two)>(c, "w"));
        let p = x.permute::<(D3, D2, D4), _>().reshape::<(D3, D8)>();
        let loss = p.matmul(&w).tanh().sum_to_scalar();
        let g = tape.gradient(&loss).unwrap();
        compare(c, &loss, &[("x", grad_of!(g, x)), ("w", grad_of!(g, w))]);
    }

    // where, clip, integer and real powers
    {
        let c = cases.get("where_clip_pow");
        let tape = GradientTape::new();
        let x = tape.watch(&input::<(D6,)>(c, "x"));
        let y = tape.watch(&input::<(D6,)>(c, "y"));
        let picked = x.gt(&y).select(&x.powi(3), &y.clamp(-0.5, 0.5));
        let loss = picked.sum_to_scalar() + x.abs().add_scalar(0.5).pow(&y).sum_to_scalar();
        let g = tape.gradient(&loss).unwrap();
        compare(c, &loss, &[("x", grad_of!(g, x)), ("y", grad_of!(g, y))]);
    }

    // stack, typed slice, mean over the stacked dim
    {
        let c = cases.get("stack_slice");
        let tape = GradientTape::new();
        let a = tape.watch(&input::<(D2, D3)>(c, "a"));
        let b = tape.watch(&input::<(D2, D3)>(c, "b"));
        let s = Tensor::stack::<Stacked>(&[a.clone(), b.mul_scalar(2.0), a.mul(&b)]);
        let loss = s.slice_as::<D3, Two, _>(1).square().sum_to_scalar()
            + s.mean::<Stacked, _>().powi(3).sum_to_scalar();
        let g = tape.gradient(&loss).unwrap();
        compare(c, &loss, &[("a", grad_of!(g, a)), ("b", grad_of!(g, b))]);
    }
}
