//! Applying one layer to a tensor: dense layers (shared ones keep their input dim),
//! activations (fused into a preceding dense layer of the same chain) and dropout.

use super::build::Builder;
use super::ir::{show_shape, Act, Node, Op, ParamKind};
use super::layers::{interpret, is_known, user_layer, LayerKind};
use crate::model::ast::LayerSpec;

impl Builder<'_> {
    pub(super) fn apply(
        &mut self,
        spec: &LayerSpec,
        cur: usize,
        fusable: &mut Option<usize>,
    ) -> Option<usize> {
        let key = spec.kind.to_string();
        let (kind, param) = if let Some(sh) = self.shared.get_mut(&key) {
            sh.used = true;
            if spec.args.is_some() {
                self.errs.range(
                    spec.span,
                    spec.end,
                    format!("`{key}` is a shared layer, applied by name without arguments: `x >> {key}`"),
                );
                return None;
            }
            let param = sh.param;
            let kind = match &sh.kind {
                Some(LayerKind::Dense {
                    units,
                    bias,
                    act,
                    opts,
                }) => LayerKind::Dense {
                    units: units.clone(),
                    bias: *bias,
                    act: *act,
                    opts: *opts,
                },
                Some(LayerKind::Act(a, d)) => LayerKind::Act(*a, d.clone()),
                Some(LayerKind::Dropout(r)) => LayerKind::Dropout(*r),
                Some(LayerKind::Embedding { vocab, dim }) => LayerKind::Embedding {
                    vocab: vocab.clone(),
                    dim: dim.clone(),
                },
                Some(LayerKind::BatchNorm { momentum, epsilon }) => LayerKind::BatchNorm {
                    momentum: *momentum,
                    epsilon: *epsilon,
                },
                Some(LayerKind::Flatten(d)) => LayerKind::Flatten(d.clone()),
                Some(LayerKind::Reshape(t)) => LayerKind::Reshape(t.clone()),
                Some(LayerKind::PRelu) => LayerKind::PRelu,
                Some(LayerKind::GlobalAvgPool) => LayerKind::GlobalAvgPool,
                Some(LayerKind::Conv2D { .. } | LayerKind::Pool { .. }) => {
                    self.errs.range(
                        spec.span,
                        spec.end,
                        format!("`{key}` is a convolution or pooling layer, which cannot be shared: write it inline in each chain"),
                    );
                    return None;
                }
                Some(LayerKind::User { ty, out }) => LayerKind::User {
                    ty: ty.clone(),
                    out: out.clone(),
                },
                None => return None,
            };
            (kind, param)
        } else if is_known(&key) {
            let kind = interpret(spec, self.errs)?;
            let param = match &kind {
                LayerKind::Dense {
                    units, bias, opts, ..
                } => Some(self.new_layer(None, units, *bias, *opts)),
                LayerKind::Embedding { vocab, dim } => Some(self.new_embedding(None, vocab, dim)),
                _ => None,
            };
            (kind, param)
        } else if let Some(kind) = user_layer(spec) {
            (kind, None)
        } else {
            self.unknown_layer(spec);
            return None;
        };
        let shape = self.nodes[cur].shape.clone();
        let src = self.nodes[cur].src;
        let lead = self.nodes[cur].lead;
        match kind {
            LayerKind::Dense { act, .. } => {
                let p = param?;
                let last = shape.last()?.clone();
                let layer = &mut self.layers[p];
                match &layer.inputs {
                    None => layer.inputs = Some(last),
                    Some(prev) if prev.name != last.name => {
                        let msg = format!(
                            "layer `{}` was built for inputs whose last dim is {} (its first use), but here it is applied to `{}` whose last dim is {}; a shared layer keeps one kernel, so every input needs the same feature dim",
                            layer.field, prev.describe(), show_shape(&shape), last.describe()
                        );
                        self.errs.range(spec.span, spec.end, msg);
                        return None;
                    }
                    Some(_) => {}
                }
                let mut out = shape[..shape.len() - 1].to_vec();
                out.push(layer.units.clone());
                self.nodes.push(Node {
                    op: Op::Dense(p, act.unwrap_or(Act::Linear)),
                    args: vec![cur],
                    shape: out,
                    src,
                    lead,
                });
                let n = self.nodes.len() - 1;
                *fusable = act.is_none().then_some(n);
                Some(n)
            }
            LayerKind::Act(a, axis) => {
                if let Some(d) = axis {
                    let key = d.to_string();
                    let last = shape.last().map(|l| l.name.clone()).unwrap_or_default();
                    let Some(k) = shape.iter().position(|s| s.name == key) else {
                        let dims: Vec<String> = shape.iter().map(|s| format!("`{}`", s.name)).collect();
                        self.errs.at(
                            d.span(),
                            format!("`Softmax({key})`: the tensor `{}` has no dimension `{key}`; name one of its dims ({}), e.g. `Softmax({last})`, the last one, which `Softmax` alone normalises", show_shape(&shape), dims.join(", ")),
                        );
                        return None;
                    };
                    if key != last {
                        *fusable = None;
                        self.nodes.push(Node {
                            op: Op::SoftmaxAxis(k),
                            args: vec![cur],
                            shape,
                            src,
                            lead,
                        });
                        return Some(self.nodes.len() - 1);
                    }
                }
                if let Some(n) = fusable.take() {
                    if let Op::Dense(p, Act::Linear) = self.nodes[n].op {
                        self.nodes[n].op = Op::Dense(p, a);
                        return Some(n);
                    }
                    if let (Op::Conv(p, Act::Linear), false) = (&self.nodes[n].op, a == Act::Softmax) {
                        self.nodes[n].op = Op::Conv(*p, a);
                        return Some(n);
                    }
                }
                self.nodes.push(Node {
                    op: Op::Act(a),
                    args: vec![cur],
                    shape,
                    src,
                    lead,
                });
                Some(self.nodes.len() - 1)
            }
            LayerKind::Embedding { .. } => {
                *fusable = None;
                let p = param?;
                let Op::Input(k) = self.nodes[cur].op else {
                    self.errs.range(
                        spec.span,
                        spec.end,
                        format!("`{key}` reads integer ids: apply it directly to a model input, e.g. `tokens >> {key}`"),
                    );
                    return None;
                };
                self.id_inputs.insert(k);
                let mut out = shape.clone();
                out.push(self.layers[p].units.clone());
                self.nodes.push(Node {
                    op: Op::Embedding(p, k),
                    args: vec![cur],
                    shape: out,
                    src,
                    lead: lead + 1,
                });
                Some(self.nodes.len() - 1)
            }
            LayerKind::BatchNorm { momentum, epsilon } => {
                *fusable = None;
                let last = shape.last()?.clone();
                let p = match param {
                    Some(p) => {
                        let prev = &self.layers[p].units;
                        if prev.name != last.name {
                            let msg = format!(
                                "layer `{key}` was built for inputs whose last dim is {} (its first use), but here it is applied to `{}` whose last dim is {}; a shared layer keeps one set of statistics, so every input needs the same feature dim",
                                prev.describe(), show_shape(&shape), last.describe()
                            );
                            self.errs.range(spec.span, spec.end, msg);
                            return None;
                        }
                        p
                    }
                    None => {
                        let name = self.shared.contains_key(&key).then(|| spec.kind.clone());
                        let p = self.new_batch_norm(name.as_ref(), last, momentum, epsilon);
                        if let Some(sh) = self.shared.get_mut(&key) {
                            sh.param = Some(p);
                        }
                        p
                    }
                };
                self.nodes.push(Node {
                    op: Op::BatchNorm(p),
                    args: vec![cur],
                    shape,
                    src,
                    lead,
                });
                Some(self.nodes.len() - 1)
            }
            LayerKind::Flatten(d) => {
                *fusable = None;
                self.reshape(spec, cur, Some(d.as_ref()), None)
            }
            LayerKind::Reshape(t) => {
                *fusable = None;
                self.reshape(spec, cur, None, Some(&t))
            }
            LayerKind::PRelu => {
                *fusable = None;
                let last = shape.last()?.clone();
                let p = match param {
                    Some(p) => {
                        let prev = &self.layers[p].units;
                        if prev.name != last.name {
                            let msg = format!(
                                "layer `{key}` was built for inputs whose last dim is {} (its first use), but here it is applied to `{}` whose last dim is {}; a shared layer keeps one slope per feature, so every input needs the same feature dim",
                                prev.describe(), show_shape(&shape), last.describe()
                            );
                            self.errs.range(spec.span, spec.end, msg);
                            return None;
                        }
                        p
                    }
                    None => {
                        let name = self.shared.contains_key(&key).then(|| spec.kind.clone());
                        let p = self.new_per_feature(name.as_ref(), "prelu", last, ParamKind::PRelu);
                        if let Some(sh) = self.shared.get_mut(&key) {
                            sh.param = Some(p);
                        }
                        p
                    }
                };
                self.nodes.push(Node {
                    op: Op::PRelu(p),
                    args: vec![cur],
                    shape,
                    src,
                    lead,
                });
                Some(self.nodes.len() - 1)
            }
            LayerKind::User { ty, out } => {
                *fusable = None;
                self.user(spec, cur, param, &ty, &out)
            }
            k @ (LayerKind::Conv2D { .. } | LayerKind::Pool { .. } | LayerKind::GlobalAvgPool) => {
                self.image_layer(spec, cur, k, fusable)
            }
            LayerKind::Dropout(rate) => {
                *fusable = None;
                self.nodes.push(Node {
                    op: Op::Dropout(rate),
                    args: vec![cur],
                    shape,
                    src,
                    lead,
                });
                Some(self.nodes.len() - 1)
            }
        }
    }
}
