//! Hygiene of `model!`: the expansion compiles, warning-free, in a crate that defines its own
//! `Tensor`, `Result`, `Dense`, `Vec`, `Option`, `State` and `Model`, a dim named `F`, and a
//! local module named `core`: generated code names only absolute paths.
#![deny(warnings)]

/// A user type named like Dimflow's tensor.
pub struct Tensor;
/// A user alias named like std's `Result`.
pub type Result<T> = ::core::result::Result<T, ()>;
/// A user type named like the dense layer.
pub struct Dense;
/// A user type named like std's `Vec`.
pub struct Vec;
/// A user type named like std's `Option`.
pub struct Option;
/// A user type named like the generated state.
pub struct State;
/// A user trait named like tensor-nn's model trait.
pub trait Model {}
/// A user module named `core`.
pub mod core {}

dimflow::dims! { Batch; F = 4; Classes = 2; }

dimflow::model! {
    /// A model whose feature dim is called `F`, like a generic parameter would be.
    pub struct Hygienic: [Batch, F] -> [Batch, Classes] {
        Dense(H = 3), Gelu, Dropout(0.1), Dense(Classes), Softmax
    }
}

dimflow::model! {
    /// A functional model whose input names could clash with generated locals.
    pub struct Functional(input: [Batch, F], grad_output: [Batch, F]) -> (dense1: [Batch, Classes]) {
        let both = add(input, grad_output);
        dense1 = both >> Dense(Classes) >> Sigmoid;
    }
}

dimflow::model! {
    /// No parameters at all: the backward pass has nothing to do.
    pub struct NoParams: [Batch, F] -> [Batch, F] {
        Relu, Dropout(0.5)
    }
}

/// User types named like the option values and the reshape layers.
pub struct Initializer;
/// See `Initializer`.
pub struct Regularizer;
/// See `Initializer`.
pub struct PRelu;

dimflow::dims! { Rows = 2; Cols = 2; }

dimflow::model! {
    /// Reshapes, PReLU and every kind of Dense option, with constraints and regularizers.
    pub struct Options: [Batch, Rows, Cols] -> [Batch, Rows, Cols] {
        Flatten, Dense(H2 = 3, kernel_initializer = HeNormal, bias_initializer = Constant(0.1),
            kernel_regularizer = L2(0.01), bias_regularizer = L1, activity_regularizer = L1L2(0.01, 0.01),
            kernel_constraint = MaxNorm(2.0), bias_constraint = NonNeg), PReLU,
        Dense(F, kernel_constraint = UnitNorm), Reshape([Rows, Cols])
    }
}

fn result_ok() -> Result<usize> {
    let m = Hygienic::new(3);
    let x = dimflow::tensor_core::Tensor::<(Batch, F)>::full(0.5, &[2]);
    let y = m.forward(&x);
    let f = Functional::new(1);
    let z = f.forward(&x, &x);
    Ok(y.dims()[1] + z.dims()[1])
}

#[test]
fn expands_cleanly_and_runs() {
    let _ = (Tensor, Dense, Vec, Option, State, Initializer, Regularizer, PRelu);
    let mut o = Options::new(2);
    let img = dimflow::tensor_core::Tensor::<(Batch, Rows, Cols)>::full(0.5, &[3]);
    let out = o.forward_train(&img);
    assert_eq!(out.dims(), &[3, 2, 2]);
    o.backward(&out);
    assert!(o.regularization_loss() > 0.0);
    let mut n = NoParams::new(0);
    let x = dimflow::tensor_core::Tensor::<(Batch, F)>::full(-1.0, &[2]);
    let y = n.forward_train(&x);
    n.backward(&y);
    assert!(n.parameters().is_empty());
    assert_eq!(n.forward(&x).to_vec(), vec![0.0; 8]);
    assert_eq!(result_ok(), Ok(4));
    let m = Hygienic::new(3);
    let x = dimflow::tensor_core::Tensor::<(Batch, F)>::full(0.5, &[2]);
    let rows: std::vec::Vec<f32> = m.forward(&x).to_vec();
    // Softmax rows sum to one.
    assert!((rows[0] + rows[1] - 1.0).abs() < 1e-6);
}
