//! Training that meets a NaN or an infinity stops with an error naming the epoch, the step and
//! the parameter, for `model!` and `Sequential` alike, and a checkpoint callback never replaces
//! a good file with non-finite weights.
//!
//! The data here hides its NaN from the loss: ReLU turns a NaN activation into 0, so the loss
//! stays finite while the first layer's kernel gradient (`xᵀ·δ`) is NaN.
use dimflow::prelude::*;
use dimflow::tensor_nn::activations::Activation;
use dimflow::tensor_nn::losses::SparseCategoricalCrossentropy;
use dimflow::tensor_nn::non_finite::NonFinite;
use dimflow::tensor_nn::optim::Optimizer;
use dimflow::tensor_nn::sequential::Sequential;
use dimflow::tensor_nn::train::callbacks::{Callback, ModelCheckpoint, TerminateOnNaN, TrainState};
use dimflow::tensor_nn::train::{Compile, FitConfig, Logs, Trainer};
use dimflow::tensor_nn::{Model, NnError};

dims! { Batch; Feat = 2; Hidden = 8; Classes = 3; }

model! {
    /// 2 → 8 (ReLU) → 3 logits.
    pub struct Mlp(x: [Batch, Feat]) -> (logits: [Batch, Classes]) {
        logits = x >> Dense(Hidden) >> Relu >> Dense(Classes);
    }
}

type Net = Sequential<(Batch, Feat), (Batch, Classes)>;

/// Rows per batch in these tests.
const BATCH: usize = 8;

/// `n` points of three blobs; when `nan_row` is given, that row's first feature is NaN.
fn data(n: usize, nan_row: Option<usize>) -> (Tensor<(Batch, Feat)>, Tensor<(Batch,)>) {
    let centres = [(0.0f32, 2.0f32), (2.0, -1.0), (-2.0, -1.0)];
    let x = Tensor::from_fn(&[n], |ix| {
        let (i, f) = (ix[0], ix[1]);
        if Some(i) == nan_row && f == 0 {
            return f32::NAN;
        }
        let t = i as f32 * 0.7;
        let c = centres[i % 3];
        if f == 0 {
            c.0 + 0.4 * t.sin()
        } else {
            c.1 + 0.4 * (1.3 * t).cos()
        }
    });
    let y = Tensor::from_fn(&[n], |ix| (ix[0] % 3) as f32);
    (x, y)
}

fn config(epochs: usize) -> FitConfig {
    FitConfig {
        epochs,
        batch_size: BATCH,
        shuffle: false,
        verbose: 0,
        ..FitConfig::default()
    }
}

fn sequential(lr: f32) -> Trainer<Net> {
    Sequential::builder(2, 3)
        .dense(8, Activation::Relu)
        .dense(3, Activation::Linear)
        .build::<(Batch, Feat), (Batch, Classes)>()
        .unwrap()
        .compile(
            Optimizer::sgd(lr),
            SparseCategoricalCrossentropy::from_logits(),
            vec![],
        )
}

fn fused(lr: f32) -> Trainer<Mlp> {
    Mlp::new(3).compile(
        Optimizer::sgd(lr),
        SparseCategoricalCrossentropy::from_logits(),
        vec![],
    )
}

/// Every weight, parameter after parameter.
fn weights<M: Model>(t: &Trainer<M>) -> Vec<Vec<f32>> {
    t.model.params().iter().map(|p| p.value.to_vec()).collect()
}

fn report<T: std::fmt::Debug>(r: Result<T, NnError>) -> NonFinite {
    match r {
        Err(NnError::NonFinite(report)) => *report,
        other => panic!("expected a non-finite error, got {other:?}"),
    }
}

/// Trains 2 epochs on data whose row 21 (batch 2 of each epoch) holds a NaN: `fit` must stop
/// at epoch 0, step 2 with an error naming the first kernel, before that step's update.
fn nan_in_the_data_stops_fit<M: Model<Input = Tensor<(Batch, Feat)>, Output = Tensor<(Batch, Classes)>>>(
    make: impl Fn() -> Trainer<M>,
) {
    let (x, y) = data(48, Some(2 * BATCH + 5));
    // what the two good steps before it give
    let mut good = make();
    let (x2, y2) = (
        x.try_narrow::<Batch, _>(0, 2 * BATCH).unwrap(),
        y.try_narrow::<Batch, _>(0, 2 * BATCH).unwrap(),
    );
    good.fit(&x2, &y2, &config(1), None, &mut []).unwrap();

    let mut t = make();
    let first_kernel = t.model.params()[0].name.to_string();
    assert!(first_kernel.ends_with("kernel"), "{first_kernel}");
    let r = report(t.fit(&x, &y, &config(2), None, &mut []));
    assert_eq!((r.epoch, r.step, r.iteration), (Some(0), Some(2), 2), "{r}");
    assert_eq!(r.tensor.as_deref(), Some(first_kernel.as_str()), "{r}");
    assert!(!r.update_applied, "{r}");
    let text = r.to_string();
    assert!(
        text.starts_with(&format!(
            "non-finite value at epoch 0, step 2 (optimizer step 3): the gradient of `{first_kernel}` is NaN at element "
        )),
        "{text}"
    );
    assert!(text.ends_with("the update was not applied"), "{text}");
    // the failing step changed nothing: the weights are those after the two good steps
    assert_eq!(weights(&t), weights(&good));
    assert_eq!(t.optimizer.iterations(), 2);
}

#[test]
fn a_nan_in_the_data_stops_a_sequential_fit_with_an_error() {
    nan_in_the_data_stops_fit(|| sequential(0.1));
}

#[test]
fn a_nan_in_the_data_stops_a_model_macro_fit_with_an_error() {
    nan_in_the_data_stops_fit(|| fused(0.1));
}

#[test]
fn an_exploding_update_stops_fit_naming_the_parameter() {
    // finite data, an absurd learning rate: the weights overflow to ±∞ in the first steps
    let (x, y) = data(48, None);
    for (name, r) in [
        (
            "Sequential",
            report(sequential(1e38).fit(&x, &y, &config(3), None, &mut [])),
        ),
        (
            "model!",
            report(fused(1e38).fit(&x, &y, &config(3), None, &mut [])),
        ),
    ] {
        assert_eq!(r.epoch, Some(0), "{name}: {r}");
        assert!(r.tensor.is_some(), "{name}: {r}");
        assert!(
            r.to_string().contains("non-finite value at epoch 0, step "),
            "{name}: {r}"
        );
    }
}

#[test]
fn terminate_on_nan_reports_the_parameter_the_optimizer_found() {
    let (x, y) = data(48, Some(5));
    let mut nan = TerminateOnNaN::default();
    let r = report(sequential(0.1).fit(&x, &y, &config(2), None, &mut [&mut nan]));
    let reason = nan.reason.expect("TerminateOnNaN saw the stop");
    assert_eq!(reason, r.to_string());
    assert!(reason.contains("`dense1.kernel`"), "{reason}");
    assert!(
        reason.starts_with("non-finite value at epoch 0, step 0 "),
        "{reason}"
    );
}

#[test]
fn a_checkpoint_is_never_replaced_by_non_finite_weights() {
    let dir = std::env::temp_dir().join(format!("dimflow-non-finite-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("last.safetensors");
    let mut ckpt = ModelCheckpoint::new(path.to_string_lossy());
    let mut t = sequential(0.1);
    let (x, y) = data(48, None);
    t.fit(&x, &y, &config(2), None, &mut [&mut ckpt]).unwrap();
    let good = std::fs::read(&path).unwrap();
    assert_eq!(ckpt.saved.len(), 2);

    // the same callback on a run that turns non-finite: the good file stays
    let (bad_x, _) = data(48, Some(3 * BATCH));
    let r = report(t.fit(&bad_x, &y, &config(2), None, &mut [&mut ckpt]));
    assert_eq!((r.epoch, r.step), (Some(0), Some(3)), "{r}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        good,
        "the good checkpoint was replaced"
    );
    assert_eq!(ckpt.saved.len(), 2, "nothing saved after the stop");

    // weights made non-finite by hand: the callback refuses to write them, naming the file
    t.model.params_mut()[0].value[1] = f32::INFINITY;
    let mut stop = false;
    let mut state = TrainState {
        model: &mut t.model,
        optimizer: &mut t.optimizer,
        stop_training: &mut stop,
        non_finite: &mut None,
        epochs: 1,
        steps_per_epoch: 1,
    };
    let logs = Logs::from([("loss".to_string(), 0.5)]);
    let r = report(ckpt.on_epoch_end(0, &logs, &mut state));
    let text = r.to_string();
    assert!(text.contains("ModelCheckpoint refused to write"), "{text}");
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert!(text.contains("is inf at element 1"), "{text}");
    assert_eq!(std::fs::read(&path).unwrap(), good);
    std::fs::remove_dir_all(&dir).unwrap();
}
