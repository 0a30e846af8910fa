//! Interpretation of `Conv2D(Filters, kernel = 3, ...)`, `MaxPool2D(2)`, `AvgPool2D(..)` and
//! their shape rule on NHWC images: the output height and width are computed from the static
//! sizes of the input (Keras' same / valid padding), as new dims named after the layer.

use syn::Ident;

use super::build::Builder;
use super::dense::{bias_options_need_bias, weight_option, WEIGHT_OPTIONS, WEIGHT_OPTIONS_HELP};
use super::ir::{
    show_shape, window_out, Act, DenseOpts, DimRef, Node, Op, ParamKind, ParamLayer, Size, WindowCheck,
};
use super::layers::{closest, interpret, LayerKind};
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
}

impl ConvArgs {
    /// The window's span along `axis` (0: height, 1: width), `dilation · (kernel − 1) + 1`.
    pub fn span(&self, axis: usize) -> usize {
        self.dilation[axis] * (self.kernel[axis] - 1) + 1
    }
}

const CONV_FORM: &str = "`Conv2D` takes its filters as a named dim, then options: `Conv2D(F = 32, kernel = 3, strides = 1, padding = Valid, dilation = 1, activation = Relu, bias = true, out = [H1 = 26, W1 = 26])`";

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

fn padding(arg: &Arg, errs: &mut Errors) -> Option<bool> {
    match &arg.value {
        ArgValue::Ident(p) if p == "Same" => Some(true),
        ArgValue::Ident(p) if p == "Valid" => Some(false),
        _ => {
            errs.range(arg.span, arg.end, "`padding` is `Same` or `Valid`");
            None
        }
    }
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
    };
    let mut act = None;
    let mut out = None;
    let mut opts = DenseOpts::default();
    let mut ok = true;
    for arg in rest {
        let key = arg.key.as_ref().map(|k| k.to_string());
        let done = match key.as_deref().map(|k| option_name(k, depthwise)) {
            Some("depth_multiplier") if depthwise => match &arg.value {
                ArgValue::Int(i, false) => i.base10_parse::<usize>().ok().filter(|m| *m > 0),
                _ => None,
            }
            .map(|m| multiplier = m)
            .or_else(|| {
                errs.range(arg.span, arg.end, "`depth_multiplier` is a whole number > 0");
                None
            }),
            Some("kernel" | "kernel_size") => positive(arg, "kernel size", errs).map(|k| geom.kernel = k),
            Some("strides" | "stride") => positive(arg, "stride", errs).map(|s| geom.stride = s),
            Some("dilation" | "dilation_rate") => positive(arg, "dilation", errs).map(|d| geom.dilation = d),
            Some("padding") => padding(arg, errs).map(|p| geom.same = p),
            Some("out") => out_arg(arg, &mut out, errs),
            Some("bias" | "use_bias") => flag(arg, "bias", errs).map(|b| geom.bias = b),
            Some("exact") => flag(arg, "exact", errs).map(|e| geom.exact = e),
            Some("activation") => match &arg.value {
                ArgValue::Ident(a) => {
                    let s = LayerSpec {
                        kind: a.clone(),
                        args: None,
                        span: a.span(),
                        end: a.span(),
                    };
                    match interpret(&s, errs) {
                        Some(LayerKind::Act(a, None)) if a != Act::Softmax => {
                            act = Some(a);
                            Some(())
                        }
                        _ => {
                            errs.range(arg.span, arg.end, format!("unknown activation `{a}` for `{name}`; expected one of Relu, LeakyRelu, Elu, Gelu, Softplus, Sigmoid, Tanh, Linear"));
                            None
                        }
                    }
                }
                _ => {
                    errs.range(
                        arg.span,
                        arg.end,
                        "expected an activation, e.g. `activation = Relu`",
                    );
                    None
                }
            },
            Some(k) => match weight_option(k, arg, &mut opts, errs) {
                Some(done) => done.then_some(()),
                None => {
                    let own = if depthwise { &DEPTHWISE_OWN[..] } else { &[] };
                    let hint = closest(
                        k,
                        CONV_OWN
                            .into_iter()
                            .chain(WEIGHT_OPTIONS)
                            .chain(own.iter().copied()),
                    )
                    .map(|c| format!("did you mean `{c}`? "))
                    .unwrap_or_default();
                    let extra = if depthwise { "`depth_multiplier = 1`, " } else { "" };
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
    };
    let mut ok = true;
    let mut out = None;
    for (i, arg) in spec.args.as_deref().unwrap_or(&[]).iter().enumerate() {
        let key = arg.key.as_ref().map(|k| k.to_string());
        let done = match key.as_deref() {
            None if i == 0 => positive(arg, "pool size", errs).map(|k| geom.kernel = k),
            Some("pool" | "pool_size") => positive(arg, "pool size", errs).map(|k| geom.kernel = k),
            Some("strides" | "stride") => positive(arg, "stride", errs).map(|s| geom.stride = s),
            Some("padding") => padding(arg, errs).map(|p| geom.same = p),
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

impl Builder<'_> {
    /// The `[Batch, H, W, C]` dims of node `cur`, or an error pointed at `spec`.
    fn image(&mut self, spec: &LayerSpec, cur: usize) -> Option<[DimRef; 4]> {
        let shape = self.nodes[cur].shape.clone();
        match <[DimRef; 4]>::try_from(shape.clone()) {
            Ok(dims) => {
                let layer = spec.kind.to_string();
                for d in &dims[1..] {
                    self.require_static_at(d, spec.span, &layer, "the image dims it reads");
                }
                Some(dims)
            }
            Err(_) => {
                self.errs.range(
                    spec.span,
                    spec.end,
                    format!(
                        "`{}` reads NHWC images `[Batch, H, W, C]`, but `{}` has {} dims",
                        spec.kind,
                        show_shape(&shape),
                        shape.len()
                    ),
                );
                None
            }
        }
    }

    /// The output height and width of a window over `[h, w]`; an error when it does not fit.
    fn window_dims(
        &mut self,
        spec: &LayerSpec,
        field: &Ident,
        hw: [&DimRef; 2],
        g: &ConvArgs,
        names: Option<&[Arg]>,
    ) -> Option<[DimRef; 2]> {
        let mut out = Vec::new();
        for (i, (d, axis)) in hw.into_iter().zip(["H", "W"]).enumerate() {
            let span = g.span(i);
            if d.size.known().is_none() && !g.same {
                self.window_checks.push(WindowCheck {
                    span: spec.span,
                    len: d.size.clone(),
                    window: span,
                    stride: g.exact.then_some(g.stride[i]),
                    layer: field.to_string(),
                    dim: d.name.clone(),
                });
            }
            if let (Some(n), true, false) = (d.size.known(), g.exact, g.same) {
                let r = n.checked_sub(span).map_or(0, |l| l % g.stride[i]);
                if r > 0 {
                    self.errs.range(
                        spec.span,
                        spec.end,
                        format!(
                            "`{field}`: `exact = true`, but the window does not tile the input dim {}: a span of {span} cells moved by stride {stride} drops {r} cell(s) at the end, ({n} − {span}) % {stride} = {r}; pick sizes where `{}` − {span} is a multiple of {stride}, or use `padding = Same`",
                            d.describe(),
                            d.name,
                            stride = g.stride[i],
                        ),
                    );
                }
            }
            if let Some(n) = d.size.known() {
                if window_out(n, span, g.stride[i], g.same).is_none() {
                    let dil = if g.dilation[i] > 1 {
                        format!(" (kernel {} with dilation {})", g.kernel[i], g.dilation[i])
                    } else {
                        String::new()
                    };
                    self.errs.range(
                        spec.span,
                        spec.end,
                        format!(
                            "`{field}`: the window spans {span} cells{dil} but the input dim {} has only {n} and `padding = Valid` adds none; use a smaller window or `padding = Same`",
                            d.describe()
                        ),
                    );
                    return None;
                }
            }
            let size = Size::Window {
                input: Box::new(d.size.clone()),
                span,
                stride: g.stride[i],
                same: g.same,
            };
            let which = if axis == "H" { "height" } else { "width" };
            let named = names.and_then(|n| n.get(out.len()));
            out.push(match named {
                None => DimRef {
                    name: format!("{field}_{axis}"),
                    ident: None,
                    size,
                },
                Some(a) => self.named_output(
                    a,
                    size,
                    &format!("the {which} `{field}` computes from {}", d.describe()),
                )?,
            });
        }
        <[DimRef; 2]>::try_from(out).ok()
    }

    /// The output dim the user named in `out = [..]`: an inline `H1 = 26` (declared here, its
    /// size checked against the computed one) or a dim declared elsewhere (checked by a const
    /// check when the macro cannot see its size).
    fn named_output(&mut self, a: &Arg, size: Size, what: &str) -> Option<DimRef> {
        let computed = size.known();
        let (d, declared) = match (&a.key, &a.value) {
            (Some(d), ArgValue::Int(lit, _)) => (d.clone(), lit.base10_parse::<usize>().ok()),
            (None, ArgValue::Ident(d)) => (d.clone(), self.inline.get(&d.to_string()).copied()),
            _ => return None,
        };
        let inline_new = a.key.is_some() && !self.inline.contains_key(&d.to_string());
        if a.key.is_some() {
            if let (Some(prev), Some(n)) = (self.inline.get(&d.to_string()), declared) {
                if *prev != n {
                    self.errs.range(
                        a.span,
                        a.end,
                        format!("dimension `{d}` is declared twice with different sizes ({prev} and {n})"),
                    );
                    return None;
                }
            }
        }
        match (declared, computed) {
            (Some(n), Some(m)) if n != m => {
                self.errs.range(
                    a.span,
                    a.end,
                    format!("dimension `{d}` is declared with size {n}, but {what} is {m}"),
                );
                return None;
            }
            (Some(_), Some(_)) => {}
            _ => self.size_checks.push((d.clone(), size.clone(), what.to_string())),
        }
        if inline_new {
            if let Some(n) = declared {
                self.inline.insert(d.to_string(), n);
                self.inline_dims.push((d.clone(), n));
            }
        }
        Some(DimRef {
            name: d.to_string(),
            ident: Some(d),
            size: match (declared, computed) {
                (_, Some(m)) => Size::Lit(m),
                (Some(n), None) => Size::Lit(n),
                (None, None) => size,
            },
        })
    }

    /// Applies a convolution, a pooling or a global average pooling to node `cur`.
    pub(super) fn image_layer(
        &mut self,
        spec: &LayerSpec,
        cur: usize,
        kind: LayerKind,
        fusable: &mut Option<usize>,
    ) -> Option<usize> {
        let [b, h, w, c] = self.image(spec, cur)?;
        let src = self.nodes[cur].src;
        let (op, shape) = match kind {
            LayerKind::Conv2D {
                filters,
                multiplier,
                geom,
                act,
                out,
                opts,
            } => {
                let field = self.auto_name(if multiplier.is_some() {
                    "depthwise_conv2d"
                } else {
                    "conv2d"
                });
                let [oh, ow] = self.window_dims(spec, &field, [&h, &w], &geom, out.as_deref())?;
                let units = match (multiplier, &filters) {
                    (None, Some(a)) => match (&a.key, &a.value) {
                        (Some(d), _) | (None, ArgValue::Ident(d)) => self.dim_ref(d),
                        _ => return None,
                    },
                    (Some(1), None) => c.clone(),
                    (Some(m), None) => {
                        self.errs.range(
                            spec.span,
                            spec.end,
                            format!(
                                "`{field}` with `depth_multiplier = {m}` makes {} × {m} channels: name them first, e.g. `DepthwiseConv2D(C2 = {}, ..)` or a dim from `dims!`",
                                c.describe(),
                                c.size.known().map_or("..".to_string(), |n| (n * m).to_string())
                            ),
                        );
                        return None;
                    }
                    (Some(m), Some(a)) => {
                        let size = Size::Product(vec![c.size.clone(), Size::Lit(m)]);
                        let what = format!(
                            "the output channels of `{field}` ({} × depth_multiplier {m})",
                            c.describe()
                        );
                        self.named_output(a, size, &what)?
                    }
                    (None, None) => return None,
                };
                self.layers.push(ParamLayer {
                    ty: None,
                    field,
                    inputs: Some(c),
                    units: units.clone(),
                    kind: ParamKind::Conv2D {
                        kernel: geom.kernel,
                        stride: geom.stride,
                        same: geom.same,
                        dilation: geom.dilation,
                        bias: geom.bias,
                        depthwise: multiplier.is_some(),
                        opts,
                    },
                });
                let p = self.layers.len() - 1;
                (Op::Conv(p, act.unwrap_or(Act::Linear)), vec![b, oh, ow, units])
            }
            LayerKind::Pool { max, geom, out } => {
                let field = self.auto_name(if max { "max_pool" } else { "avg_pool" });
                let [oh, ow] = self.window_dims(spec, &field, [&h, &w], &geom, out.as_deref())?;
                self.layers.push(ParamLayer {
                    ty: None,
                    field,
                    inputs: Some(c.clone()),
                    units: c.clone(),
                    kind: ParamKind::Pool {
                        max,
                        pool: geom.kernel,
                        stride: geom.stride,
                        same: geom.same,
                    },
                });
                (Op::Pool(self.layers.len() - 1), vec![b, oh, ow, c])
            }
            _ => (Op::GlobalAvgPool, vec![b, c]),
        };
        let fuse = matches!(op, Op::Conv(_, Act::Linear));
        self.nodes.push(Node {
            op,
            args: vec![cur],
            shape,
            src,
            lead: 1,
        });
        let n = self.nodes.len() - 1;
        *fusable = fuse.then_some(n);
        Some(n)
    }
}
