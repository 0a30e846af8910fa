//! The shape rule of convolutions and poolings on NHWC images: the output height and width
//! are computed from the static sizes of the input (Keras' same / valid padding), as new dims
//! named after the layer (or the `out` names), with the checks that a window fits (and, with
//! `exact = true`, tiles) its input and that a depthwise convolution's named channels are `C·m`.

use syn::Ident;

use super::build::Builder;
use super::conv_args::ConvArgs;
use super::ir::{
    show_shape, window_out, Act, DimRef, GroupCheck, Node, Op, ParamKind, ParamLayer, Size, WindowCheck,
};
use super::layers::LayerKind;
use crate::model::ast::{Arg, ArgValue, LayerSpec};

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
            let pad = g.padded(i);
            // Explicit padding is read as a longer input with valid padding.
            let len = if pad > 0 {
                Size::Sum(vec![d.size.clone(), Size::Lit(pad)])
            } else {
                d.size.clone()
            };
            let padded = if pad > 0 {
                format!(" (+ {pad} padding)")
            } else {
                String::new()
            };
            if d.size.known().is_none() && !g.same {
                self.window_checks.push(WindowCheck {
                    span: spec.span,
                    len: len.clone(),
                    window: span,
                    stride: g.exact.then_some(g.stride[i]),
                    layer: field.to_string(),
                    dim: d.name.clone(),
                });
            }
            if let (Some(n), true, false) = (len.known(), g.exact, g.same) {
                let r = n.checked_sub(span).map_or(0, |l| l % g.stride[i]);
                if r > 0 {
                    self.errs.range(
                        spec.span,
                        spec.end,
                        format!(
                            "`{field}`: `exact = true`, but the window does not tile the input dim {}{padded}: a span of {span} cells moved by stride {stride} drops {r} cell(s) at the end, ({n} − {span}) % {stride} = {r}; pick sizes where `{}` − {span} is a multiple of {stride}, or use `padding = Same`",
                            d.describe(),
                            d.name,
                            stride = g.stride[i],
                        ),
                    );
                }
            }
            if let Some(n) = len.known() {
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
                            "`{field}`: the window spans {span} cells{dil} but the input dim {}{padded} has only {n}; use a smaller window, more padding or `padding = Same`",
                            d.describe()
                        ),
                    );
                    return None;
                }
            }
            let size = Size::Window {
                input: Box::new(len),
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

    /// With `groups = G`, the input channels `c` and the filters `f` must both be multiples of
    /// `G` (each group maps `c/G` channels to `f/G` filters): checked here when the sizes are
    /// known, else by a const check.
    fn check_groups(
        &mut self,
        spec: &LayerSpec,
        field: &Ident,
        c: &DimRef,
        f: &DimRef,
        groups: usize,
    ) -> Option<()> {
        let bad: Vec<String> = [(c, "input channels"), (f, "filters")]
            .into_iter()
            .filter_map(|(d, what)| {
                let n = d.size.known()?;
                (n % groups != 0).then(|| format!("{what}: {n} % {groups} = {}", n % groups))
            })
            .collect();
        if c.size.known().is_none() || f.size.known().is_none() {
            self.group_checks.push(GroupCheck {
                span: spec.span,
                layer: field.to_string(),
                groups,
                dims: [c, f].map(|d| (d.name.clone(), d.size.clone())),
            });
        }
        if bad.is_empty() {
            return Some(());
        }
        self.errs.range(
            spec.span,
            spec.end,
            format!(
                "`{field}` with `groups = {groups}` splits its input channels {} and its filters {} into {groups} groups, so both must be multiples of {groups} ({})",
                c.describe(),
                f.describe(),
                bad.join(" and ")
            ),
        );
        None
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
                if geom.groups > 1 {
                    self.check_groups(spec, &field, &c, &units, geom.groups)?;
                }
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
                        groups: geom.groups,
                        pad: geom.pad,
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
                        pad: geom.pad,
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
