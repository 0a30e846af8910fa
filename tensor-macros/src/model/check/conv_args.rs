//! Interpretation of `Conv2D(Filters, kernel = 3, ...)`, `DepthwiseConv2D(kernel = 3, ...)`,
//! `MaxPool2D(2)` and `AvgPool2D(..)` as written: their window, stride, padding, dilation,
//! bias, activation, `exact`, `out` and weight options, each checked with a message that lists
//! what is valid.

use super::dense::{
    activation_option, bias_options_need_bias, weight_option, WEIGHT_OPTIONS, WEIGHT_OPTIONS_HELP,
};
use super::ir::DenseOpts;
use super::layers::{closest, LayerKind};
use crate::model::ast::{Arg, ArgValue, LayerSpec};
use crate::model::errors::Errors;

/// Window, stride, padding and dilation of a convolution or pooling, per axis (height, width).
#[derive(Clone, Copy)]
pub struct ConvArgs {
    /// Window size.
    pub kernel: [usize; 2],
    /// Stride.
    pub stride: [usize; 2],
    /// Same (else valid) padding.
    pub same: bool,
    /// Dilation (1 for pooling).
    pub dilation: [usize; 2],
    /// Whether it has a bias (convolution only).
    pub bias: bool,
    /// `exact = true`: a valid window must tile the input (no cells dropped at the end).
    pub exact: bool,
    /// Channel groups (`groups = G`, convolution only; 1 otherwise).
    pub groups: usize,
    /// Explicit zero padding `[[top, bottom], [left, right]]` (`padding = ((1, 2), (0, 1))`);
    /// `same` is then false.
    pub pad: Option<[[usize; 2]; 2]>,
}

impl ConvArgs {
    /// The window's span along `axis` (0: height, 1: width), `dilation · (kernel − 1) + 1`.
    pub fn span(&self, axis: usize) -> usize {
        self.dilation[axis] * (self.kernel[axis] - 1) + 1
    }

    /// The cells explicit padding adds along `axis` (0: height, 1: width); 0 without it.
    pub fn padded(&self, axis: usize) -> usize {
        self.pad.map_or(0, |p| p[axis][0] + p[axis][1])
    }
}

const CONV_FORM: &str = "`Conv2D` takes its filters as a named dim, then options: `Conv2D(F = 32, kernel = 3, strides = 1, padding = Valid, dilation = 1, groups = 1, activation = Relu, bias = true, out = [H1 = 26, W1 = 26])`";

const DEPTHWISE_FORM: &str = "`DepthwiseConv2D` takes options, and with `depth_multiplier` > 1 first its output channels as a named dim: `DepthwiseConv2D(kernel = 3, depth_multiplier = 1, strides = 1, padding = Valid, activation = Relu, bias = true)` or `DepthwiseConv2D(C2 = 64, kernel = 3, depth_multiplier = 2)`";

/// The options of `DepthwiseConv2D` besides those of `Conv2D`.
const DEPTHWISE_OWN: [&str; 4] = [
    "depth_multiplier",
    "depthwise_initializer",
    "depthwise_regularizer",
    "depthwise_constraint",
];

/// `key` with Keras' depthwise names (`depthwise_initializer`, ...) read as the kernel options
/// when `depthwise`.
fn option_name(key: &str, depthwise: bool) -> &str {
    match key {
        "depthwise_initializer" if depthwise => "kernel_initializer",
        "depthwise_regularizer" if depthwise => "kernel_regularizer",
        "depthwise_constraint" if depthwise => "kernel_constraint",
        k => k,
    }
}

/// The options of `Conv2D` besides [`WEIGHT_OPTIONS`].
const CONV_OWN: [&str; 12] = [
    "exact",
    "kernel",
    "kernel_size",
    "strides",
    "stride",
    "dilation",
    "dilation_rate",
    "padding",
    "out",
    "bias",
    "use_bias",
    "activation",
];

const OUT_FORM: &str = "`out` names the output height and width: `out = [H1 = 26, W1 = 26]` (inline dims, sizes checked) or `out = [H1, W1]` (dims from `dims!` or declared earlier)";

/// `out = [H1 = 26, W1 = 26]` / `out = [H1, W1]`.
fn out_arg(arg: &Arg, out: &mut Option<Vec<Arg>>, errs: &mut Errors) -> Option<()> {
    let items = match &arg.value {
        ArgValue::List(items) => items.clone(),
        ArgValue::Shape(s) => s
            .dims
            .iter()
            .map(|d| Arg {
                key: None,
                value: ArgValue::Ident(d.clone()),
                span: d.span(),
                end: d.span(),
            })
            .collect(),
        _ => Vec::new(),
    };
    let well_formed = items.len() == 2
        && items.iter().all(|a| {
            matches!(
                (&a.key, &a.value),
                (None, ArgValue::Ident(_)) | (Some(_), ArgValue::Int(_, false))
            )
        });
    if !well_formed {
        errs.range(arg.span, arg.end, OUT_FORM);
        return None;
    }
    *out = Some(items);
    Some(())
}

/// A whole number > 0 for both axes (`3`) or a `(height, width)` pair (`(3, 5)`).
fn positive(arg: &Arg, what: &str, errs: &mut Errors) -> Option<[usize; 2]> {
    let one = |v: &ArgValue| match v {
        ArgValue::Int(i, false) => i.base10_parse::<usize>().ok().filter(|n| *n > 0),
        _ => None,
    };
    let found = match &arg.value {
        ArgValue::Tuple(items) => match &items[..] {
            [a, b] if a.key.is_none() && b.key.is_none() => {
                one(&a.value).zip(one(&b.value)).map(|(a, b)| [a, b])
            }
            _ => None,
        },
        v => one(v).map(|n| [n, n]),
    };
    if found.is_none() {
        errs.range(
            arg.span,
            arg.end,
            format!("the {what} is a whole number > 0 (the same along height and width), e.g. `3`, or a `(height, width)` pair, e.g. `(3, 5)`"),
        );
    }
    found
}

/// `true` or `false`.
fn flag(arg: &Arg, what: &str, errs: &mut Errors) -> Option<bool> {
    match arg.value {
        ArgValue::Bool(b) => Some(b),
        _ => {
            errs.range(arg.span, arg.end, format!("`{what}` is `true` or `false`"));
            None
        }
    }
}

/// A whole number ≥ 0.
fn cells(v: &ArgValue) -> Option<usize> {
    match v {
        ArgValue::Int(i, false) => i.base10_parse::<usize>().ok(),
        _ => None,
    }
}

/// A `(before, after)` pair of whole numbers ≥ 0.
fn pad_pair(v: &ArgValue) -> Option<[usize; 2]> {
    match v {
        ArgValue::Tuple(items) => match &items[..] {
            [a, b] if a.key.is_none() && b.key.is_none() => Some([cells(&a.value)?, cells(&b.value)?]),
            _ => None,
        },
        _ => None,
    }
}

/// `Same`, `Valid` or explicit zero padding `((top, bottom), (left, right))` (Keras'
/// `ZeroPadding2D` numbers): sets `geom.same` and `geom.pad`.
fn padding(arg: &Arg, geom: &mut ConvArgs, errs: &mut Errors) -> Option<()> {
    let (same, pad) = match &arg.value {
        ArgValue::Ident(p) if p == "Same" => (true, None),
        ArgValue::Ident(p) if p == "Valid" => (false, None),
        ArgValue::Tuple(items) => {
            let pad = match &items[..] {
                [h, w] if h.key.is_none() && w.key.is_none() => pad_pair(&h.value).zip(pad_pair(&w.value)),
                _ => None,
            };
            let Some((h, w)) = pad else {
                errs.range(
                    arg.span,
                    arg.end,
                    "explicit `padding` is the zero cells added on each side, `((top, bottom), (left, right))` in whole numbers ≥ 0, e.g. `padding = ((1, 1), (0, 2))`",
                );
                return None;
            };
            (false, Some([h, w]))
        }
        _ => {
            errs.range(
                arg.span,
                arg.end,
                "`padding` is `Same`, `Valid` or `((top, bottom), (left, right))`, e.g. `padding = ((1, 1), (0, 2))`",
            );
            return None;
        }
    };
    geom.same = same;
    geom.pad = pad;
    Some(())
}

/// Interprets `Conv2D(..)`, or `DepthwiseConv2D(..)` when `depthwise`.
pub fn conv2d(spec: &LayerSpec, depthwise: bool, errs: &mut Errors) -> Option<LayerKind> {
    let (name, form) = if depthwise {
        ("DepthwiseConv2D", DEPTHWISE_FORM)
    } else {
        ("Conv2D", CONV_FORM)
    };
    let args = spec.args.as_deref().unwrap_or(&[]);
    // A depthwise convolution's output dim is optional: its first argument may be an option.
    let is_option = |a: &Arg| {
        a.key.as_ref().is_some_and(|k| {
            let k = k.to_string();
            let k = option_name(&k, depthwise);
            CONV_OWN.contains(&k) || WEIGHT_OPTIONS.contains(&k) || k == "depth_multiplier"
        })
    };
    let (filters, rest) = match args.first() {
        Some(first) if !(depthwise && is_option(first)) => {
            let filters = match (&first.key, &first.value) {
                (None, ArgValue::Ident(_)) | (Some(_), ArgValue::Int(..)) => Some(first.clone()),
                _ => {
                    errs.range(first.span, first.end, form);
                    None
                }
            };
            (filters, &args[1..])
        }
        _ if depthwise => (None, args),
        _ => {
            errs.range(spec.span, spec.end, form);
            return None;
        }
    };
    let mut multiplier = 1;
    let mut geom = ConvArgs {
        kernel: [0, 0],
        stride: [1, 1],
        same: false,
        dilation: [1, 1],
        bias: true,
        exact: false,
        groups: 1,
        pad: None,
    };
    let mut act = None;
    let mut out = None;
    let mut opts = DenseOpts::default();
    let mut ok = true;
    for arg in rest {
        let key = arg.key.as_ref().map(|k| k.to_string());
        let done = match key.as_deref().map(|k| option_name(k, depthwise)) {
            Some("depth_multiplier") if depthwise => {
                whole_number(arg, "depth_multiplier", errs).map(|m| multiplier = m)
            }
            Some("kernel" | "kernel_size") => positive(arg, "kernel size", errs).map(|k| geom.kernel = k),
            Some("strides" | "stride") => positive(arg, "stride", errs).map(|s| geom.stride = s),
            Some("dilation" | "dilation_rate") => positive(arg, "dilation", errs).map(|d| geom.dilation = d),
            Some("padding") => padding(arg, &mut geom, errs),
            Some("groups") if !depthwise => whole_number(arg, "groups", errs).map(|g| geom.groups = g),
            Some("out") => out_arg(arg, &mut out, errs),
            Some("bias" | "use_bias") => flag(arg, "bias", errs).map(|b| geom.bias = b),
            Some("exact") => flag(arg, "exact", errs).map(|e| geom.exact = e),
            Some("activation") => activation_option(arg, Some(name), errs).map(|a| act = Some(a)),
            Some(k) => match weight_option(k, arg, &mut opts, errs) {
                Some(done) => done.then_some(()),
                None => {
                    let own = if depthwise {
                        &DEPTHWISE_OWN[..]
                    } else {
                        &["groups"]
                    };
                    let hint = closest(
                        k,
                        CONV_OWN
                            .into_iter()
                            .chain(WEIGHT_OPTIONS)
                            .chain(own.iter().copied()),
                    )
                    .map(|c| format!("did you mean `{c}`? "))
                    .unwrap_or_default();
                    let extra = if depthwise {
                        "`depth_multiplier = 1`, "
                    } else {
                        "`groups = 2`, "
                    };
                    errs.at(
                        arg.key.as_ref().map_or(arg.span, |k| k.span()),
                        format!("unknown option `{k}` of `{name}`: {hint}`{name}` takes `kernel = 3`, {extra}`strides = 1`, `padding = Valid`, `dilation = 1`, `exact = true`, `activation = Relu`, `bias = false`, `out = [H1, W1]`, {WEIGHT_OPTIONS_HELP}"),
                    );
                    None
                }
            },
            None => {
                errs.range(arg.span, arg.end, form);
                None
            }
        };
        ok &= done.is_some();
    }
    ok &= bias_options_need_bias(spec, name, geom.bias, &opts, errs);
    if geom.kernel[0] == 0 && ok {
        let example = if depthwise {
            "DepthwiseConv2D(kernel = 3)"
        } else {
            "Conv2D(F = 32, kernel = 3)"
        };
        errs.range(
            spec.span,
            spec.end,
            format!("`{name}` needs its kernel size: `{example}`"),
        );
        return None;
    }
    if geom.stride.iter().any(|&s| s > 1) && geom.dilation.iter().any(|&d| d > 1) {
        errs.range(
            spec.span,
            spec.end,
            format!("`{name}` takes `strides` > 1 or `dilation` > 1, not both (as Keras)"),
        );
        return None;
    }
    if !depthwise && filters.is_none() {
        return None;
    }
    ok.then_some(LayerKind::Conv2D {
        filters,
        multiplier: depthwise.then_some(multiplier),
        geom,
        act,
        out,
        opts,
    })
}

/// The value of option `key` when it is a whole number > 0; otherwise an error at `arg`.
fn whole_number(arg: &Arg, key: &str, errs: &mut Errors) -> Option<usize> {
    let n = match &arg.value {
        ArgValue::Int(i, false) => i.base10_parse::<usize>().ok().filter(|n| *n > 0),
        _ => None,
    };
    if n.is_none() {
        errs.range(arg.span, arg.end, format!("`{key}` is a whole number > 0"));
    }
    n
}

/// Interprets `MaxPool2D(2)` / `AvgPool2D(pool = 2, strides = 2, padding = Valid)` (stride:
/// the window, as Keras).
pub fn pool2d(spec: &LayerSpec, max: bool, errs: &mut Errors) -> Option<LayerKind> {
    let kind = &spec.kind;
    let mut geom = ConvArgs {
        kernel: [2, 2],
        stride: [0, 0],
        same: false,
        dilation: [1, 1],
        bias: false,
        exact: false,
        groups: 1,
        pad: None,
    };
    let mut ok = true;
    let mut out = None;
    for (i, arg) in spec.args.as_deref().unwrap_or(&[]).iter().enumerate() {
        let key = arg.key.as_ref().map(|k| k.to_string());
        let done = match key.as_deref() {
            None if i == 0 => positive(arg, "pool size", errs).map(|k| geom.kernel = k),
            Some("pool" | "pool_size") => positive(arg, "pool size", errs).map(|k| geom.kernel = k),
            Some("strides" | "stride") => positive(arg, "stride", errs).map(|s| geom.stride = s),
            Some("padding") => padding(arg, &mut geom, errs),
            Some("out") => out_arg(arg, &mut out, errs),
            Some("exact") => flag(arg, "exact", errs).map(|e| geom.exact = e),
            _ => {
                errs.range(
                    arg.span,
                    arg.end,
                    format!("`{kind}` takes its window, then options: `{kind}(2)` or `{kind}(pool = 2, strides = 2, padding = Valid, exact = true, out = [H2 = 13, W2 = 13])`"),
                );
                None
            }
        };
        ok &= done.is_some();
    }
    if geom.stride[0] == 0 {
        geom.stride = geom.kernel;
    }
    ok.then_some(LayerKind::Pool { max, geom, out })
}
