//! Interpretation of `Dense(units, options...)`: the units, the bias, the activation and the
//! Keras weight options (initializers, regularizers, constraints; shared with the
//! convolutions), each checked with a message that lists what is valid.

use super::ir::{Act, ConstraintIr, DenseOpts, InitIr};
use super::layers::{closest, interpret, number, LayerKind};
use crate::model::ast::{Arg, ArgValue, LayerSpec};
use crate::model::errors::Errors;

/// The options of every layer with a kernel and a bias (`Dense`, `Conv2D`, `DepthwiseConv2D`).
pub const WEIGHT_OPTIONS: [&str; 8] = [
    "kernel_initializer",
    "initializer",
    "bias_initializer",
    "kernel_regularizer",
    "bias_regularizer",
    "activity_regularizer",
    "kernel_constraint",
    "bias_constraint",
];

/// [`WEIGHT_OPTIONS`] with an example value each, for messages.
pub const WEIGHT_OPTIONS_HELP: &str = "`kernel_initializer = HeNormal` (or `initializer`), \
`bias_initializer = Zeros`, `kernel_regularizer = L2(0.01)`, `bias_regularizer = L1(0.01)`, \
`activity_regularizer = L1L2(0.01, 0.01)`, `kernel_constraint = MaxNorm(3.0)`, `bias_constraint = NonNeg`";

/// The options `Dense` takes besides [`WEIGHT_OPTIONS`].
const DENSE_OWN: [&str; 3] = ["use_bias", "bias", "activation"];

/// Initializers without arguments.
const NAMED_INITS: [&str; 8] = [
    "GlorotUniform",
    "GlorotNormal",
    "HeUniform",
    "HeNormal",
    "LecunUniform",
    "LecunNormal",
    "Zeros",
    "Ones",
];

const INITS_HELP: &str =
    "GlorotUniform, GlorotNormal, HeUniform, HeNormal, LecunUniform, LecunNormal, Zeros, Ones, \
Constant(0.1), RandomUniform(-0.05, 0.05), RandomNormal(0.0, 0.05), TruncatedNormal(0.0, 0.05)";

/// Interprets `Dense(units, ...)`.
pub fn dense(spec: &LayerSpec, errs: &mut Errors) -> Option<LayerKind> {
    const FORM: &str = "`Dense` needs its units as a named dim: `Dense(Hidden)` with `Hidden` from `dims!`, or an inline dim `Dense(H1 = 256)`";
    let args = spec.args.as_deref().unwrap_or(&[]);
    let Some(first) = args.first() else {
        errs.range(spec.span, spec.end, FORM);
        return None;
    };
    let units = match (&first.key, &first.value) {
        (None, ArgValue::Ident(d)) => Some(d.clone()),
        (Some(d), ArgValue::Int(..)) => Some(d.clone()),
        (None, ArgValue::Int(i, _)) => {
            errs.at(
                i.span(),
                format!("`Dense` units are named dims, not bare numbers: declare one inline, e.g. `Dense(H = {})`", i.base10_digits()),
            );
            None
        }
        _ => {
            errs.range(first.span, first.end, FORM);
            None
        }
    };
    let mut bias = true;
    let mut act = None;
    let mut opts = DenseOpts::default();
    let mut ok = true;
    for arg in &args[1..] {
        let Some(key) = &arg.key else {
            errs.range(
                arg.span,
                arg.end,
                format!("`Dense` takes its units first, then options written `key = value`: `use_bias = false`, `activation = Relu`, {WEIGHT_OPTIONS_HELP}"),
            );
            ok = false;
            continue;
        };
        let k = key.to_string();
        let done = match k.as_str() {
            "bias" | "use_bias" => match arg.value {
                ArgValue::Bool(b) => {
                    bias = b;
                    true
                }
                _ => bad(errs, arg, format!("`{k}` is `true` or `false`")),
            },
            "activation" => activation_option(arg, None, errs)
                .map(|a| act = Some(a))
                .is_some(),
            _ => match weight_option(&k, arg, &mut opts, errs) {
                Some(done) => done,
                None => {
                    let hint = closest(&k, DENSE_OWN.into_iter().chain(WEIGHT_OPTIONS))
                        .map(|c| format!("did you mean `{c}`? "))
                        .unwrap_or_default();
                    errs.at(
                        key.span(),
                        format!("unknown option `{k}` of `Dense`: {hint}`Dense` takes `use_bias = false`, `activation = Relu`, {WEIGHT_OPTIONS_HELP}"),
                    );
                    false
                }
            },
        };
        ok &= done;
    }
    ok &= bias_options_need_bias(spec, "Dense", bias, &opts, errs);
    ok.then_some(())?;
    Some(LayerKind::Dense {
        units: units?,
        bias,
        act,
        opts,
    })
}

/// The activation of `activation = Relu`: any for `Dense` (`image_layer` `None`), any but
/// softmax for the image layer named `image_layer`; an error listing the valid ones otherwise.
pub fn activation_option(arg: &Arg, image_layer: Option<&str>, errs: &mut Errors) -> Option<Act> {
    let ArgValue::Ident(a) = &arg.value else {
        errs.range(
            arg.span,
            arg.end,
            "expected an activation, e.g. `activation = Relu`",
        );
        return None;
    };
    let spec = LayerSpec {
        kind: a.clone(),
        args: None,
        span: a.span(),
        end: a.span(),
    };
    match (interpret(&spec, errs), image_layer) {
        (Some(LayerKind::Act(act, None)), None) => Some(act),
        (Some(LayerKind::Act(act, None)), Some(_)) if act != Act::Softmax => Some(act),
        (_, None) => {
            errs.range(arg.span, arg.end, format!("unknown activation `{a}`; expected one of Relu, LeakyRelu, Elu, Gelu, Softplus, Sigmoid, Tanh, Softmax, Linear"));
            None
        }
        (_, Some(layer)) => {
            errs.range(arg.span, arg.end, format!("unknown activation `{a}` for `{layer}`; expected one of Relu, LeakyRelu, Elu, Gelu, Softplus, Sigmoid, Tanh, Linear"));
            None
        }
    }
}

/// Parses weight option `key` (one of [`WEIGHT_OPTIONS`]) into `opts`: `Some(ok)`, or `None`
/// when `key` is not a weight option.
pub fn weight_option(key: &str, arg: &Arg, opts: &mut DenseOpts, errs: &mut Errors) -> Option<bool> {
    Some(match key {
        "kernel_initializer" | "initializer" => set(&mut opts.kernel_init, initializer(arg, errs)),
        "bias_initializer" => set(&mut opts.bias_init, initializer(arg, errs)),
        "kernel_regularizer" => set(&mut opts.kernel_reg, regularizer(arg, errs)),
        "bias_regularizer" => set(&mut opts.bias_reg, regularizer(arg, errs)),
        "activity_regularizer" => set(&mut opts.activity_reg, regularizer(arg, errs)),
        "kernel_constraint" => set(&mut opts.kernel_constraint, constraint(arg, errs)),
        "bias_constraint" => set(&mut opts.bias_constraint, constraint(arg, errs)),
        _ => return None,
    })
}

/// An error (and `false`) when a layer without bias (`bias = false`) is given bias options.
pub fn bias_options_need_bias(
    spec: &LayerSpec,
    layer: &str,
    bias: bool,
    opts: &DenseOpts,
    errs: &mut Errors,
) -> bool {
    if !bias && (opts.bias_init.is_some() || opts.bias_reg.is_some() || opts.bias_constraint.is_some()) {
        errs.range(
            spec.span,
            spec.end,
            format!("this `{layer}` has `use_bias = false`, so it cannot take a bias initializer, regularizer or constraint"),
        );
        return false;
    }
    true
}

fn bad(errs: &mut Errors, arg: &Arg, msg: String) -> bool {
    errs.range(arg.span, arg.end, msg);
    false
}

fn set<T>(slot: &mut Option<T>, v: Option<T>) -> bool {
    let ok = v.is_some();
    *slot = v;
    ok
}

/// The name and the arguments of an option's value (`HeNormal`, `L2(0.01)`).
fn call(arg: &Arg) -> Option<(String, &[Arg])> {
    match &arg.value {
        ArgValue::Ident(i) => Some((i.to_string(), &[])),
        ArgValue::Call(i, a) => Some((i.to_string(), a)),
        _ => None,
    }
}

/// The numbers of `args` (positional or keyed by `keys`, in order), or `None` when one is
/// not a number or an unknown key.
fn numbers(args: &[Arg], keys: &[&str]) -> Option<Vec<f64>> {
    let mut out = vec![None; keys.len()];
    for (i, a) in args.iter().enumerate() {
        let slot = match &a.key {
            None => i,
            Some(k) => keys.iter().position(|n| k == n)?,
        };
        *out.get_mut(slot)? = Some(number(a)?);
    }
    Some(out.into_iter().map(|v| v.unwrap_or(f64::NAN)).collect())
}

fn initializer(arg: &Arg, errs: &mut Errors) -> Option<InitIr> {
    let found = call(arg).and_then(|(name, args)| {
        if let Some(n) = NAMED_INITS.iter().find(|n| **n == name) {
            return args.is_empty().then_some(InitIr::Named(n));
        }
        let pair = |keys: &[&str]| match numbers(args, keys)?[..] {
            [a, b] if a.is_finite() && b.is_finite() => Some((a, b)),
            _ => None,
        };
        match name.as_str() {
            "Constant" => match numbers(args, &["value"])?[..] {
                [v] if v.is_finite() => Some(InitIr::Constant(v)),
                _ => None,
            },
            "RandomUniform" => pair(&["minval", "maxval"]).map(|(a, b)| InitIr::RandomUniform(a, b)),
            "RandomNormal" => pair(&["mean", "stddev"]).map(|(a, b)| InitIr::RandomNormal(a, b)),
            "TruncatedNormal" => pair(&["mean", "stddev"]).map(|(a, b)| InitIr::TruncatedNormal(a, b)),
            _ => None,
        }
    });
    if found.is_none() {
        let hint = call(arg)
            .and_then(|(n, _)| closest(&n, NAMED_INITS.iter().copied()).filter(|c| *c != n))
            .map(|c| format!("; did you mean `{c}`?"))
            .unwrap_or_default();
        errs.range(
            arg.span,
            arg.end,
            format!("expected an initializer, one of {INITS_HELP}{hint}"),
        );
    }
    found
}

fn regularizer(arg: &Arg, errs: &mut Errors) -> Option<(f64, f64)> {
    let found = call(arg).and_then(|(name, args)| {
        let keys: &[&str] = match name.as_str() {
            "L1" => &["l1"],
            "L2" => &["l2"],
            "L1L2" => &["l1", "l2"],
            _ => return None,
        };
        let given = numbers(args, keys)?;
        // Keras' defaults: 0.01 for `L1`/`L2`, 0.0 for each factor of `L1L2`.
        let default = if name == "L1L2" { 0.0 } else { 0.01 };
        let pick = |i: usize| given.get(i).copied().filter(|v| !v.is_nan()).unwrap_or(default);
        let (l1, l2) = match name.as_str() {
            "L1" => (pick(0), 0.0),
            "L2" => (0.0, pick(0)),
            _ => (pick(0), pick(1)),
        };
        (l1 >= 0.0 && l2 >= 0.0 && l1.is_finite() && l2.is_finite()).then_some((l1, l2))
    });
    if found.is_none() {
        errs.range(
            arg.span,
            arg.end,
            "expected a regularizer: `L1(0.01)`, `L2(0.01)` or `L1L2(l1 = 0.01, l2 = 0.01)`, with factors >= 0",
        );
    }
    found
}

fn constraint(arg: &Arg, errs: &mut Errors) -> Option<ConstraintIr> {
    let found = call(arg).and_then(|(name, args)| match (name.as_str(), args.is_empty()) {
        ("NonNeg", true) => Some(ConstraintIr::NonNeg),
        ("UnitNorm", true) => Some(ConstraintIr::UnitNorm),
        ("MaxNorm", true) => Some(ConstraintIr::MaxNorm(2.0)),
        ("MaxNorm", false) => match numbers(args, &["max_value"])?[..] {
            [v] if v > 0.0 && v.is_finite() => Some(ConstraintIr::MaxNorm(v)),
            _ => None,
        },
        _ => None,
    });
    if found.is_none() {
        errs.range(
            arg.span,
            arg.end,
            "expected a constraint: `MaxNorm(3.0)` (the largest norm of each unit's weights, > 0), `NonNeg` or `UnitNorm`",
        );
    }
    found
}
