//! Procedural macros of Dimflow: `dims!` declares named dimensions; `model!` (see the
//! `model` module) declares models whose shapes are checked while compiling.
//!
//! Generated code names only `::dimflow::__private::…`; a leading `crate = path;` item
//! overrides that path (used inside Dimflow's own crates).

#![forbid(unsafe_code)]

use proc_macro::TokenStream;

mod dims;
mod model;

/// Declares named dimensions.
///
/// ```ignore
/// dims! {
///     /// Examples in a batch (size given at run time).
///     Batch;
///     Pixels = 784;
///     Hidden = 128;
/// }
/// ```
///
/// Each entry becomes a public unit struct implementing `Dim`, with the name as written and
/// either a static size (`= N`) or a run-time size (no `=`).
#[proc_macro]
pub fn dims(input: TokenStream) -> TokenStream {
    match syn::parse::<dims::parse::DimsInput>(input) {
        Ok(parsed) => match dims::check::check(&parsed) {
            Ok(()) => dims::expand::expand(&parsed).into(),
            // Still declare the dims (first declaration of each name) so that their uses do
            // not add a cascade of "cannot find type" errors to the real one.
            Err(e) => {
                let mut out = e.to_compile_error();
                out.extend(dims::expand::expand(&dims::check::deduplicated(parsed)));
                out.into()
            }
        },
        Err(e) => e.to_compile_error().into(),
    }
}

/// Declares a model whose shapes are checked while compiling, and generates its struct,
/// seeded initialisation, `forward` and fused training step (no tape).
///
/// ```ignore
/// dims! { Batch; Pixels = 784; Hidden = 128; Classes = 10; }
///
/// model! {
///     /// A sequential MNIST classifier.
///     pub struct Mlp: [Batch, Pixels] -> [Batch, Classes] {
///         Dense(Hidden), Relu, Dropout(0.2), Dense(Classes)
///     }
/// }
///
/// model! {
///     /// Two inputs, a merge.
///     pub struct WideDeep(wide: [Batch, Crossed], deep: [Batch, Numeric]) -> (out: [Batch, One]) {
///         let h = deep >> Dense(H1 = 256) >> Relu >> Dense(H2 = 64) >> Relu;
///         let both = concat(wide, h);
///         out = both >> Dense(One) >> Sigmoid;
///     }
/// }
/// ```
///
/// Layers: `Dense(Units[, bias = false][, activation = Relu])` (units a named dim, or an inline
/// dim `H = 128` that the macro declares), `Relu`, `LeakyRelu(alpha)`, `Elu(alpha)`, `Gelu`,
/// `Softplus`, `Sigmoid`, `Tanh`, `Softmax`, `Linear`, `Dropout(rate)`,
/// `BatchNorm(momentum = 0.99, epsilon = 0.001)`, `Embedding(Vocab, E = 64)` (applied to a
/// model input, which then takes `Tensor<_, i64>` ids); merges `add(a, b)`,
/// `multiply(a, b)`, `concat(a, b, ..)`; `let tower = Dense(H = 64);` declares a shared layer
/// applied by name (`x >> tower`). Every mistake is reported at once, on the user's tokens.
#[proc_macro]
pub fn model(input: TokenStream) -> TokenStream {
    model::model(input.into()).into()
}
