//! Optimizers, schedules, losses, metrics and constraints against values computed by Keras 3
//! (reference/keras_reference.py wrote reference/keras_reference.json; no Python needed here).

use serde_json::Value;
use tensor_nn::constraints::{Constraint, MaxNorm, NonNeg, UnitNorm};
use tensor_nn::losses::{
    BinaryCrossentropy, CategoricalCrossentropy, Huber, Loss, MeanAbsoluteError, MeanSquaredError, Reduction,
    SparseCategoricalCrossentropy,
};
use tensor_nn::metrics::{
    Auc, BinaryAccuracy, CategoricalAccuracy, Mean, Metric, Precision, Recall, SparseCategoricalAccuracy,
};
use tensor_nn::optim::{
    Adadelta, Adagrad, Adam, CosineDecay, ExponentialDecay, Ftrl, GradientClip, LearningRateSchedule,
    Optimizer, PiecewiseConstantDecay, RmsProp, Sgd,
};
use tensor_nn::ParamMut;

fn reference() -> Value {
    serde_json::from_str(include_str!("../../reference/keras_reference.json")).expect("reference JSON parses")
}

fn floats(v: &Value) -> Vec<f32> {
    match v {
        Value::Array(a) => a.iter().flat_map(floats).collect(),
        Value::Number(n) => vec![n.as_f64().expect("number") as f32],
        other => panic!("not a number: {other}"),
    }
}

fn assert_close(what: &str, got: &[f32], want: &[f32], rel: f32, abs: f32) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let tol = rel * w.abs() + abs;
        assert!(
            (g - w).abs() <= tol,
            "{what}[{i}]: got {g}, Keras {w} (diff {})",
            (g - w).abs()
        );
    }
}

fn optimizer(name: &str) -> Optimizer {
    match name {
        "sgd" => Optimizer::with_default_rate(Sgd::default()),
        "sgd_lr0.1" => Optimizer::sgd(0.1),
        "momentum" => Optimizer::momentum(0.05, 0.9, false),
        "nesterov" => Optimizer::momentum(0.05, 0.9, true),
        "adam" => Optimizer::with_default_rate(Adam::default()),
        "adam_lr0.1" => Optimizer::adam(0.1),
        "amsgrad" => Optimizer::new(
            Adam {
                amsgrad: true,
                ..Adam::default()
            },
            0.1,
        ),
        "adamw" => Optimizer::adamw(0.1, 0.004),
        "adamw_wd0.1" => Optimizer::adamw(0.05, 0.1),
        "adagrad" => Optimizer::with_default_rate(Adagrad::default()),
        "adagrad_lr0.5" => Optimizer::adagrad(0.5),
        "adadelta" => Optimizer::with_default_rate(Adadelta::default()),
        "adadelta_lr1" => Optimizer::adadelta(1.0),
        "rmsprop" => Optimizer::with_default_rate(RmsProp::default()),
        "rmsprop_centered_momentum" => Optimizer::new(
            RmsProp {
                momentum: 0.5,
                centered: true,
                ..RmsProp::default()
            },
            0.01,
        ),
        "ftrl" => Optimizer::with_default_rate(Ftrl::default()),
        "ftrl_reg" => Optimizer::new(
            Ftrl {
                learning_rate_power: -0.7,
                initial_accumulator_value: 0.2,
                l1_regularization_strength: 0.01,
                l2_regularization_strength: 0.02,
                l2_shrinkage_regularization_strength: 0.03,
                beta: 0.1,
            },
            0.3,
        ),
        "sgd_clipvalue" => Optimizer::sgd(0.1).with_clip(GradientClip::Value(0.5)),
        "sgd_clipnorm" => Optimizer::sgd(0.1).with_clip(GradientClip::Norm(1.0)),
        "sgd_global_clipnorm" => Optimizer::sgd(0.1).with_clip(GradientClip::GlobalNorm(1.0)),
        "adam_exponential_decay" => Optimizer::adam(ExponentialDecay {
            initial_learning_rate: 0.1,
            decay_steps: 3,
            decay_rate: 0.5,
            staircase: false,
        }),
        "sgd_staircase_decay" => Optimizer::sgd(ExponentialDecay {
            initial_learning_rate: 0.2,
            decay_steps: 3,
            decay_rate: 0.5,
            staircase: true,
        }),
        "sgd_piecewise" => {
            Optimizer::sgd(PiecewiseConstantDecay::new(vec![2, 5], vec![0.2, 0.1, 0.05]).unwrap())
        }
        "sgd_cosine" => Optimizer::sgd(CosineDecay {
            alpha: 0.1,
            ..CosineDecay::new(0.2, 8)
        }),
        "sgd_cosine_warmup" => Optimizer::sgd(CosineDecay {
            warmup_steps: 3,
            warmup_target: Some(0.2),
            ..CosineDecay::new(0.0, 6)
        }),
        other => panic!("no Rust optimizer for reference case `{other}`"),
    }
}

#[test]
fn optimizer_trajectories_match_keras_on_a_quadratic() {
    let r = reference();
    let q = &r["quadratic"];
    let to_vecs = |v: &Value| -> Vec<Vec<f32>> { v.as_array().unwrap().iter().map(floats).collect() };
    let (a, c, w0) = (to_vecs(&q["a"]), to_vecs(&q["c"]), to_vecs(&q["w0"]));
    let cases = r["optimizers"].as_object().unwrap();
    assert!(cases.len() >= 25);
    for (name, traj) in cases {
        let mut opt = optimizer(name);
        let mut w = w0.clone();
        for (step, want) in traj.as_array().unwrap().iter().enumerate() {
            // f(w) = ½ Σ a (w − c)²  ⇒  ∇f = a (w − c), in f32 as the script computes it.
            let grads: Vec<Vec<f32>> = (0..w.len())
                .map(|p| {
                    w[p].iter()
                        .zip(&a[p])
                        .zip(&c[p])
                        .map(|((x, a), c)| a * (x - c))
                        .collect()
                })
                .collect();
            let (w_a, w_b) = w.split_at_mut(1);
            let shapes = [[w_a[0].len()], [w_b[0].len()]];
            let mut params = [
                ParamMut {
                    name: "p0",
                    shape: &shapes[0],
                    value: &mut w_a[0],
                    grad: &grads[0],
                    trainable: true,
                },
                ParamMut {
                    name: "p1",
                    shape: &shapes[1],
                    value: &mut w_b[0],
                    grad: &grads[1],
                    trainable: true,
                },
            ];
            opt.apply(&mut params).unwrap();
            let got: Vec<f32> = w.concat();
            assert_close(
                &format!("{name} step {}", step + 1),
                &got,
                &floats(want),
                1e-6,
                1e-7,
            );
        }
        assert_eq!(opt.iterations(), 10);
    }
}

#[test]
fn schedules_match_keras() {
    let r = reference();
    let s = &r["schedules"];
    let cases: Vec<(&str, Box<dyn LearningRateSchedule>)> = vec![
        (
            "exponential",
            Box::new(ExponentialDecay {
                initial_learning_rate: 0.1,
                decay_steps: 4,
                decay_rate: 0.3,
                staircase: false,
            }),
        ),
        (
            "exponential_staircase",
            Box::new(ExponentialDecay {
                initial_learning_rate: 0.1,
                decay_steps: 4,
                decay_rate: 0.3,
                staircase: true,
            }),
        ),
        (
            "piecewise",
            Box::new(PiecewiseConstantDecay::new(vec![3, 7], vec![1.0, 0.5, 0.1]).unwrap()),
        ),
        (
            "cosine",
            Box::new(CosineDecay {
                alpha: 0.2,
                ..CosineDecay::new(0.5, 10)
            }),
        ),
        (
            "cosine_warmup",
            Box::new(CosineDecay {
                warmup_steps: 4,
                warmup_target: Some(0.5),
                ..CosineDecay::new(0.1, 10)
            }),
        ),
    ];
    for (name, sched) in cases {
        let got: Vec<f32> = (0..16).map(|t| sched.at(t)).collect();
        assert_close(name, &got, &floats(&s[name]), 1e-6, 1e-7);
    }
}

fn loss(name: &str, reduction: Reduction) -> Box<dyn Loss> {
    match name {
        "mse" => Box::new(MeanSquaredError { reduction }),
        "mae" => Box::new(MeanAbsoluteError { reduction }),
        "huber" => Box::new(Huber {
            reduction,
            ..Huber::default()
        }),
        "huber_delta0.5" => Box::new(Huber {
            delta: 0.5,
            reduction,
        }),
        "bce_probs" => Box::new(BinaryCrossentropy {
            reduction,
            ..BinaryCrossentropy::default()
        }),
        "bce_logits" => Box::new(BinaryCrossentropy {
            reduction,
            ..BinaryCrossentropy::from_logits()
        }),
        "bce_logits_smoothing" => Box::new(BinaryCrossentropy {
            reduction,
            label_smoothing: 0.2,
            ..BinaryCrossentropy::from_logits()
        }),
        "cce_probs" | "cce_unnormalised" => Box::new(CategoricalCrossentropy {
            reduction,
            ..CategoricalCrossentropy::default()
        }),
        "cce_logits" => Box::new(CategoricalCrossentropy {
            reduction,
            ..CategoricalCrossentropy::from_logits()
        }),
        "cce_logits_smoothing" => Box::new(CategoricalCrossentropy {
            reduction,
            label_smoothing: 0.1,
            ..CategoricalCrossentropy::from_logits()
        }),
        "scce_probs" => Box::new(SparseCategoricalCrossentropy {
            reduction,
            ..SparseCategoricalCrossentropy::default()
        }),
        "scce_logits" => Box::new(SparseCategoricalCrossentropy {
            reduction,
            ..SparseCategoricalCrossentropy::from_logits()
        }),
        other => panic!("no Rust loss for reference case `{other}`"),
    }
}

#[test]
fn losses_and_gradients_match_keras() {
    let r = reference();
    let weights = floats(&r["sample_weight"]);
    let cases = r["losses"].as_object().unwrap();
    assert_eq!(cases.len(), 13);
    for (name, case) in cases {
        let y_pred = floats(&case["y_pred"]);
        let y_true = floats(&case["y_true"]);
        for (key, reduction) in [
            ("sum_over_batch_size", Reduction::SumOverBatchSize),
            ("sum", Reduction::Sum),
            ("mean_with_sample_weight", Reduction::MeanWithSampleWeight),
            ("none", Reduction::None),
        ] {
            for weighted in [false, true] {
                let key = format!("{key}{}", if weighted { "_weighted" } else { "" });
                let want = &case[&key];
                let sw = weighted.then_some(weights.as_slice());
                let out = loss(name, reduction).compute(&y_pred, &y_true, 4, sw).unwrap();
                let what = format!("{name} {key}");
                assert!(
                    out.value.is_finite() && out.grad.iter().all(|g| g.is_finite()),
                    "{what}"
                );
                if reduction == Reduction::None {
                    assert_close(
                        &format!("{what} value"),
                        &out.per_sample,
                        &floats(&want["value"]),
                        1e-5,
                        1e-6,
                    );
                } else {
                    assert_close(
                        &format!("{what} value"),
                        &[out.value],
                        &floats(&want["value"]),
                        1e-5,
                        1e-6,
                    );
                }
                assert_close(
                    &format!("{what} grad"),
                    &out.grad,
                    &floats(&want["grad"]),
                    1e-5,
                    1e-6,
                );
            }
        }
    }
}

fn batches(v: &Value) -> Vec<Vec<f32>> {
    v.as_array().unwrap().iter().map(floats).collect()
}

fn run_metric(
    m: &mut dyn Metric,
    preds: &[Vec<f32>],
    trues: &[Vec<f32>],
    batch_sizes: &[usize],
    sw: Option<&[Vec<f32>]>,
) -> Vec<f32> {
    (0..preds.len())
        .map(|i| {
            m.update(&preds[i], &trues[i], batch_sizes[i], sw.map(|w| w[i].as_slice()))
                .unwrap();
            m.result()
        })
        .collect()
}

#[test]
fn metrics_match_keras() {
    let r = reference();
    let m = &r["metrics"];
    let (bt, bp, bw) = (
        batches(&m["binary"]["y_true"]),
        batches(&m["binary"]["y_pred"]),
        batches(&m["binary"]["sample_weight"]),
    );
    let bs = [6, 6];
    let check = |name: &str, metric: &mut dyn Metric, weighted: bool| {
        let got = run_metric(metric, &bp, &bt, &bs, weighted.then_some(bw.as_slice()));
        assert_close(name, &got, &floats(&m[name]), 1e-6, 1e-7);
        metric.reset();
        assert_eq!(metric.result(), 0.0, "{name} after reset");
        let again = run_metric(metric, &bp, &bt, &bs, weighted.then_some(bw.as_slice()));
        assert_eq!(got, again, "{name} is the same after reset");
    };
    check("binary_accuracy", &mut BinaryAccuracy::default(), false);
    check("binary_accuracy_weighted", &mut BinaryAccuracy::default(), true);
    check(
        "binary_accuracy_threshold0.7",
        &mut BinaryAccuracy::with_threshold(0.7),
        false,
    );
    check("precision", &mut Precision::default(), false);
    check("precision_weighted", &mut Precision::default(), true);
    check("recall", &mut Recall::default(), false);
    check("recall_weighted", &mut Recall::default(), true);
    check("auc", &mut Auc::default(), false);
    check("auc_weighted", &mut Auc::default(), true);
    check("auc_50", &mut Auc::with_thresholds(50), false);

    let (ct, cp, cl) = (
        batches(&m["categorical"]["y_true"]),
        batches(&m["categorical"]["y_pred"]),
        batches(&m["categorical"]["labels"]),
    );
    let cs = [4, 3];
    let got = run_metric(&mut CategoricalAccuracy::default(), &cp, &ct, &cs, None);
    assert_close(
        "categorical_accuracy",
        &got,
        &floats(&m["categorical_accuracy"]),
        1e-6,
        1e-7,
    );
    let got = run_metric(&mut SparseCategoricalAccuracy::default(), &cp, &cl, &cs, None);
    assert_close(
        "sparse_categorical_accuracy",
        &got,
        &floats(&m["sparse_categorical_accuracy"]),
        1e-6,
        1e-7,
    );

    let mut mean = Mean::new("loss");
    mean.update_values(&[1.0, 2.0, 4.0]);
    let first = mean.result();
    mean.update_values(&[0.5]);
    assert_close("mean", &[first, mean.result()], &floats(&m["mean"]), 1e-6, 1e-7);
}

#[test]
fn constraints_match_keras() {
    let r = reference();
    let c = &r["constraints"];
    let w = floats(&c["w"]);
    let shape = [2, 3];
    let cases: Vec<(&str, Box<dyn Constraint>)> = vec![
        ("max_norm_2", Box::new(MaxNorm::default())),
        (
            "max_norm_1_axis1",
            Box::new(MaxNorm {
                max_value: 1.0,
                axis: 1,
            }),
        ),
        ("non_neg", Box::new(NonNeg)),
        ("unit_norm", Box::new(UnitNorm::default())),
    ];
    for (name, k) in cases {
        let mut v = w.clone();
        k.apply(&mut v, &shape).unwrap();
        assert_close(name, &v, &floats(&c[name]), 1e-6, 1e-7);
    }
}

tensor_macros::dims! { crate = ::tensor_core; Batch; In = 3; Out = 2; }

#[test]
fn optimizer_trajectories_match_keras_on_a_tiny_mlp() {
    use tensor_core::Tensor;
    use tensor_nn::activations::Activation;
    use tensor_nn::sequential::Sequential;
    use tensor_nn::train::Compile;
    use tensor_nn::Model;

    let r = reference();
    let m = &r["mlp"];
    let x = Tensor::<(Batch, In)>::from_vec(floats(&m["x"]), &[8]).unwrap();
    let y = Tensor::<(Batch, Out)>::from_vec(floats(&m["y"]), &[8]).unwrap();
    let w0: Vec<Vec<f32>> = m["w0"].as_array().unwrap().iter().map(floats).collect();
    let cases = r["mlp_trajectories"].as_object().unwrap();
    assert_eq!(cases.len(), 12);
    for (name, traj) in cases {
        let model = Sequential::builder(3, 0)
            .dense(4, Activation::Tanh)
            .dense(2, Activation::Linear)
            .build::<(Batch, In), (Batch, Out)>()
            .unwrap();
        let mut t = model.compile(optimizer(name), MeanSquaredError::default(), vec![]);
        for (p, w) in t.model.params_mut().into_iter().zip(&w0) {
            p.value.copy_from_slice(w);
        }
        for (step, want) in traj.as_array().unwrap().iter().enumerate() {
            let loss = t.train_step(&x, &y).unwrap();
            let what = format!("{name} step {}", step + 1);
            assert_close(
                &format!("{what} loss"),
                &[loss],
                &floats(&want["loss"]),
                1e-5,
                1e-7,
            );
            let got: Vec<f32> = t.model.params().iter().flat_map(|p| p.value.to_vec()).collect();
            // Gradients come from our own backward pass (a different summation order from
            // TensorFlow's matmuls): 1e-6 relative, with a 5e-7 absolute floor for weights near 0.
            assert_close(&what, &got, &floats(&want["weights"]), 1e-6, 5e-7);
        }
    }
}
