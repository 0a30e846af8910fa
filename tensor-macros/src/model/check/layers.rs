//! Interpretation of a layer as written (`Dense(Hidden, bias = false)`, `LeakyRelu(0.2)`):
//! its kind, its arguments and their validity.

use syn::Ident;

use super::ir::{Act, DenseOpts};
use crate::model::ast::ShapeSpec;
use crate::model::ast::{Arg, ArgValue, LayerSpec};
use crate::model::errors::Errors;

/// The layer kinds `model!` knows, as written.
pub const KNOWN: [&str; 26] = [
    "Conv2D",
    "DepthwiseConv2D",
    "MaxPool2D",
    "AvgPool2D",
    "GlobalAvgPool2D",
    "Flatten",
    "Reshape",
    "PReLU",
    "PRelu",
    "Embedding",
    "BatchNorm",
    "Dense",
    "Relu",
    "ReLU",
    "LeakyRelu",
    "LeakyReLU",
    "Elu",
    "ELU",
    "Gelu",
    "GELU",
    "Softplus",
    "Sigmoid",
    "Tanh",
    "Softmax",
    "Linear",
    "Dropout",
];

/// A layer after interpretation.
#[derive(Clone)]
pub enum LayerKind {
    /// `Dense(units, bias = .., activation = ..)`.
    Dense {
        /// The units dim.
        units: Ident,
        /// Whether it has a bias.
        bias: bool,
        /// Activation given with `activation = ...`.
        act: Option<Act>,
        /// Initializers, regularizers, constraints.
        opts: DenseOpts,
    },
    /// An activation; `Softmax(Dim)` names the dim it normalises.
    Act(Act, Option<Ident>),
    /// `Dropout(rate)`.
    Dropout(f64),
    /// `Embedding(Vocab, Dim)`.
    Embedding {
        /// The vocabulary dim.
        vocab: Ident,
        /// The embedding dim.
        dim: Ident,
    },
    /// `Flatten` (an unnamed product dim) or `Flatten(Features)` / `Flatten(F = 784)`.
    Flatten(Option<Ident>),
    /// `Reshape([Rows, Cols])`: new dims after the first.
    Reshape(ShapeSpec),
    /// `PReLU`: a learned slope per feature.
    PRelu,
    /// A layer type the macro cannot see (another `model!`, or a user type implementing
    /// `FusedLayer`), written with the dim it makes: `Encoder(Code)`.
    User {
        /// The type.
        ty: Ident,
        /// The dim it makes (its `OutFeatures`).
        out: Ident,
    },
    /// `Conv2D(Filters, kernel = 3, strides = 1, padding = Valid, dilation = 1, activation = .., bias = ..)`.
    Conv2D {
        /// The filters dim as written (`F` or `F = 32`); optional for a depthwise convolution.
        filters: Option<Arg>,
        /// `Some(depth_multiplier)` for `DepthwiseConv2D` (one group per input channel).
        multiplier: Option<usize>,
        /// Square kernel, stride, same padding, dilation, bias.
        geom: super::conv_args::ConvArgs,
        /// Activation given with `activation = ...`.
        act: Option<Act>,
        /// `out = [H1 = 26, W1 = 26]`: names (and sizes) of the output height and width.
        out: Option<Vec<Arg>>,
        /// Initializers, regularizers, constraints.
        opts: super::ir::DenseOpts,
    },
    /// `MaxPool2D(2)` / `AvgPool2D(pool = 2, strides = 2, padding = Valid)`.
    Pool {
        /// Max (else average).
        max: bool,
        /// Window, stride, same padding.
        geom: super::conv_args::ConvArgs,
        /// `out = [H1 = 13, W1 = 13]`.
        out: Option<Vec<Arg>>,
    },
    /// `GlobalAvgPool2D`.
    GlobalAvgPool,
    /// `BatchNorm(momentum = .., epsilon = ..)`.
    BatchNorm {
        /// Moving-statistics momentum (Keras' default 0.99).
        momentum: f64,
        /// Variance epsilon (Keras' default 0.001).
        epsilon: f64,
    },
}

/// A layer written `Type(OutDim)` whose type `model!` does not know: a nested model or a user
/// layer. Names close to a known layer (`Dens(Hidden)`) stay unknown-layer errors.
pub fn user_layer(spec: &LayerSpec) -> Option<LayerKind> {
    let name = spec.kind.to_string();
    if is_known(&name) || closest(&name, KNOWN.iter().copied()).is_some() {
        return None;
    }
    match spec.args.as_deref() {
        Some(
            [Arg {
                key: None,
                value: ArgValue::Ident(out),
                ..
            }],
        ) => Some(LayerKind::User {
            ty: spec.kind.clone(),
            out: out.clone(),
        }),
        _ => None,
    }
}

/// Whether `name` is a layer kind `model!` knows.
pub fn is_known(name: &str) -> bool {
    KNOWN.contains(&name)
}

pub(super) fn number(arg: &Arg) -> Option<f64> {
    match &arg.value {
        ArgValue::Float(v) => Some(*v),
        ArgValue::Int(i, neg) => i.base10_parse::<f64>().ok().map(|v| if *neg { -v } else { v }),
        _ => None,
    }
}

fn no_args(spec: &LayerSpec, errs: &mut Errors) {
    if let Some(args) = &spec.args {
        if let Some(first) = args.first() {
            errs.range(
                first.span,
                args.last().map_or(first.end, |a| a.end),
                format!("`{}` takes no arguments; write `{}`", spec.kind, spec.kind),
            );
        }
    }
}

/// One optional numeric argument (`LeakyRelu(0.2)`, `Elu(alpha = 1.0)`).
fn one_number(spec: &LayerSpec, key: &str, default: f64, errs: &mut Errors) -> Option<f64> {
    let args = match &spec.args {
        None => return Some(default),
        Some(a) if a.is_empty() => return Some(default),
        Some(a) => a,
    };
    let mut ok = true;
    for extra in args.iter().skip(1) {
        errs.range(
            extra.span,
            extra.end,
            format!("`{}` takes one argument: `{}({default})`", spec.kind, spec.kind),
        );
        ok = false;
    }
    let arg = &args[0];
    if let Some(k) = &arg.key {
        if k != key {
            errs.at(
                k.span(),
                format!("unknown argument `{k}` of `{}`; expected `{key}`", spec.kind),
            );
            return None;
        }
    }
    match number(arg) {
        Some(v) if ok => Some(v),
        Some(_) => None,
        None => {
            errs.range(
                arg.span,
                arg.end,
                format!("expected a number, e.g. `{}({default})`", spec.kind),
            );
            None
        }
    }
}

/// Interprets one layer whose kind is in [`KNOWN`]; reports every problem and returns `None`
/// when it is unusable.
pub fn interpret(spec: &LayerSpec, errs: &mut Errors) -> Option<LayerKind> {
    let kind = spec.kind.to_string();
    let act = |a: Act, errs: &mut Errors| {
        no_args(spec, errs);
        Some(LayerKind::Act(a, None))
    };
    match kind.as_str() {
        "Dense" => super::dense::dense(spec, errs),
        "Conv2D" => super::conv_args::conv2d(spec, false, errs),
        "DepthwiseConv2D" => super::conv_args::conv2d(spec, true, errs),
        "MaxPool2D" | "AvgPool2D" => super::conv_args::pool2d(spec, kind == "MaxPool2D", errs),
        "GlobalAvgPool2D" => {
            no_args(spec, errs);
            Some(LayerKind::GlobalAvgPool)
        }
        "Relu" | "ReLU" => act(Act::Relu, errs),
        "Gelu" | "GELU" => act(Act::Gelu, errs),
        "Softplus" => act(Act::Softplus, errs),
        "Sigmoid" => act(Act::Sigmoid, errs),
        "Tanh" => act(Act::Tanh, errs),
        "Linear" => act(Act::Linear, errs),
        "LeakyRelu" | "LeakyReLU" => {
            let a = one_number(spec, "alpha", 0.3, errs)?;
            if !(a >= 0.0 && a.is_finite()) {
                errs.range(
                    spec.span,
                    spec.end,
                    format!("the slope of `{kind}` must be a finite number >= 0 (got {a}); Keras' default is `{kind}(0.3)`"),
                );
                return None;
            }
            Some(LayerKind::Act(Act::LeakyRelu(a), None))
        }
        "Elu" | "ELU" => {
            let a = one_number(spec, "alpha", 1.0, errs)?;
            if !(a > 0.0 && a.is_finite()) {
                errs.range(
                    spec.span,
                    spec.end,
                    format!("the alpha of `{kind}` must be a finite number > 0 (got {a}); the default is `{kind}(1.0)`"),
                );
                return None;
            }
            Some(LayerKind::Act(Act::Elu(a), None))
        }
        "Softmax" => {
            let axis = match spec.args.as_deref() {
                None | Some([]) => None,
                Some(
                    [Arg {
                        key: None,
                        value: ArgValue::Ident(d),
                        ..
                    }],
                ) => Some(d.clone()),
                Some([first, ..]) => {
                    errs.range(
                        first.span,
                        spec.end,
                        "`Softmax` takes at most the dim it normalises: `Softmax` or `Softmax(Classes)`",
                    );
                    return None;
                }
            };
            Some(LayerKind::Act(Act::Softmax, axis))
        }
        "Embedding" => {
            const FORM: &str = "`Embedding` takes two named dims, the vocabulary and the embedding size: `Embedding(Vocab, E = 64)`";
            let args = spec.args.as_deref().unwrap_or(&[]);
            let dim_of = |a: &Arg| match (&a.key, &a.value) {
                (None, ArgValue::Ident(d)) => Some(d.clone()),
                (Some(d), ArgValue::Int(..)) => Some(d.clone()),
                _ => None,
            };
            match args {
                [v, d] => match (dim_of(v), dim_of(d)) {
                    (Some(vocab), Some(dim)) => Some(LayerKind::Embedding { vocab, dim }),
                    _ => {
                        errs.range(v.span, d.end, FORM);
                        None
                    }
                },
                _ => {
                    errs.range(spec.span, spec.end, FORM);
                    None
                }
            }
        }
        "BatchNorm" => {
            let (mut momentum, mut epsilon) = (0.99, 1e-3);
            for arg in spec.args.as_deref().unwrap_or(&[]) {
                let key = arg.key.as_ref().map(|k| k.to_string());
                match (key.as_deref(), number(arg)) {
                    (Some("momentum"), Some(v)) if (0.0..=1.0).contains(&v) => momentum = v,
                    (Some("epsilon"), Some(v)) if v > 0.0 && v.is_finite() => epsilon = v,
                    (k, v) => {
                        let got = match (k, v) {
                            (Some(k @ ("momentum" | "epsilon")), Some(v)) => {
                                format!(" (got `{k} = {v}`)")
                            }
                            _ => String::new(),
                        };
                        errs.range(
                            arg.span,
                            arg.end,
                            format!("`BatchNorm` takes `momentum = 0.99` (in [0, 1]) and `epsilon = 0.001` (> 0){got}"),
                        );
                        return None;
                    }
                }
            }
            Some(LayerKind::BatchNorm { momentum, epsilon })
        }
        "PReLU" | "PRelu" => {
            no_args(spec, errs);
            Some(LayerKind::PRelu)
        }
        "Flatten" => match spec.args.as_deref() {
            None | Some([]) => Some(LayerKind::Flatten(None)),
            Some(
                [Arg {
                    key: None,
                    value: ArgValue::Ident(d),
                    ..
                }]
                | [Arg {
                    key: Some(d),
                    value: ArgValue::Int(..),
                    ..
                }],
            ) => Some(LayerKind::Flatten(Some(d.clone()))),
            Some([first, ..]) => {
                errs.range(
                    first.span,
                    spec.end,
                    "`Flatten` takes at most the name of the dim it makes: `Flatten`, `Flatten(Features)` or `Flatten(F = 784)`",
                );
                None
            }
        },
        "Reshape" => match spec.args.as_deref() {
            Some(
                [Arg {
                    key: None,
                    value: ArgValue::Shape(target),
                    ..
                }],
            ) if !target.dims.is_empty() => Some(LayerKind::Reshape(target.clone())),
            _ => {
                errs.range(
                    spec.span,
                    spec.end,
                    "`Reshape` takes the new dims after the first (batch) dim, in brackets: `Reshape([Rows, Cols])`",
                );
                None
            }
        },
        "Dropout" => {
            let args = spec.args.as_deref().unwrap_or(&[]);
            let Some(arg) = args.first() else {
                errs.range(
                    spec.span,
                    spec.end,
                    "`Dropout` needs its rate: `Dropout(0.2)` drops 20% of the values while training",
                );
                return None;
            };
            let rate = one_number(spec, "rate", 0.5, errs)?;
            if !(0.0..1.0).contains(&rate) {
                errs.range(
                    arg.span,
                    arg.end,
                    format!("the dropout rate must be in [0, 1) (got {rate}): it is the fraction of values dropped, e.g. `Dropout(0.2)`"),
                );
                return None;
            }
            Some(LayerKind::Dropout(rate))
        }
        _ => None,
    }
}

/// The known name closest to `name` (edit distance at most 2), for "did you mean" hints.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (edit_distance(&name.to_lowercase(), &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}
