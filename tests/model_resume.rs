//! A `model!` model with Dropout resumes bit for bit: `BackupAndRestore` saves the position of
//! the model's mask stream (`Model::rng_state`), which a weights-and-optimizer checkpoint lacks.
use dimflow::prelude::*;
use dimflow::tensor_nn::io::safetensors::load_checkpoint;
use dimflow::tensor_nn::losses::SparseCategoricalCrossentropy;
use dimflow::tensor_nn::optim::Optimizer;
use dimflow::tensor_nn::train::callbacks::ModelCheckpoint;
use dimflow::tensor_nn::train::{BackupAndRestore, Callback, Compile, FitConfig, TrainState, Trainer};
use dimflow::tensor_nn::{Model, NnError};

dims! { Batch; Features = 4; Classes = 3; }

model! {
    /// An MLP whose dropout draws from the model's own stream.
    pub struct Drop: [Batch, Features] -> [Batch, Classes] {
        Dense(Hidden = 16), Relu, Dropout(0.3), Dense(Classes)
    }
}

fn data(n: usize) -> (Tensor<(Batch, Features)>, Tensor<(Batch,)>) {
    let x = Tensor::from_fn(&[n], |i| ((i[0] * 7 + i[1] * 13) % 17) as f32 / 8.0 - 1.0);
    let y = Tensor::from_fn(&[n], |i| (i[0] % 3) as f32);
    (x, y)
}

fn trainer() -> Trainer<Drop> {
    Drop::new(4).compile(
        Optimizer::adam(0.01),
        SparseCategoricalCrossentropy::from_logits(),
        vec![],
    )
}

fn config() -> FitConfig {
    FitConfig {
        epochs: 3,
        batch_size: 16,
        verbose: 0,
        ..FitConfig::default()
    }
}

fn bits(t: &Trainer<Drop>) -> Vec<u32> {
    t.model
        .params()
        .iter()
        .flat_map(|p| p.value.iter().map(|v| v.to_bits()))
        .collect()
}

/// Fails at the start of epoch 2: a crash after epoch 1 was backed up.
struct Crash;

impl Callback for Crash {
    fn on_epoch_begin(
        &mut self,
        epoch: usize,
        _state: &mut TrainState<'_>,
    ) -> dimflow::tensor_nn::Result<()> {
        if epoch == 2 {
            return Err(NnError::InvalidArgument {
                op: "test",
                reason: "simulated crash".into(),
            });
        }
        Ok(())
    }
}

#[test]
fn model_with_dropout_resumed_after_epoch_1_is_bit_for_bit() {
    let (x, y) = data(80);
    let dir = std::env::temp_dir().join(format!("dimflow-model-resume-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut straight = trainer();
    straight.fit(&x, &y, &config(), None, &mut []).unwrap();

    let mut first = trainer();
    let mut backup = BackupAndRestore::new(&dir);
    let mut ckpt = ModelCheckpoint::new(
        dir.join("ckpt-{epoch}.safetensors")
            .to_string_lossy()
            .into_owned(),
    );
    let e = first
        .fit(&x, &y, &config(), None, &mut [&mut backup, &mut ckpt, &mut Crash])
        .unwrap_err();
    assert!(e.to_string().contains("simulated crash"), "{e}");

    let mut resumed = trainer();
    let mut backup = BackupAndRestore::new(dir.clone());
    resumed.fit(&x, &y, &config(), None, &mut [&mut backup]).unwrap();
    assert_eq!(backup.restored.map(|p| p.epoch), Some(2));
    assert_eq!(bits(&resumed), bits(&straight));

    // Negative control, the resume of 163edf4: weights and optimizer from the epoch-2
    // checkpoint and `initial_epoch`, the mask stream back at its start: other masks.
    let mut old = trainer();
    let Trainer { model, optimizer, .. } = &mut old;
    let info = load_checkpoint(dir.join("ckpt-2.safetensors"), &mut model.params_mut(), optimizer).unwrap();
    assert_eq!(info.epoch, 2);
    let resume_config = FitConfig {
        initial_epoch: info.epoch,
        ..config()
    };
    old.fit(&x, &y, &resume_config, None, &mut []).unwrap();
    assert_ne!(bits(&old), bits(&straight));
    // The stream state itself round-trips and a bad one is refused.
    let state = straight.model.rng_state().unwrap();
    let mut other = Drop::new(9);
    other.set_rng_state(&state).unwrap();
    assert_eq!(other.rng_state(), Some(state));
    assert!(other.set_rng_state("chacha8:xyz").is_err());
    let _ = std::fs::remove_dir_all(dir);
}
