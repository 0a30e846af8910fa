//! Builds the graph statement by statement, inferring each tensor's shape by dim names.

use std::collections::{HashMap, HashSet};

use proc_macro2::Span;
use syn::Ident;

use super::ir::{show_shape, Act, DimRef, Graph, InputIr, Node, Op, OutputIr, ParamLayer, Size, StaticCheck};
use super::layers::{closest, interpret, is_known, LayerKind, KNOWN};
use crate::model::ast::{ArgValue, Body, Expr, LayerSpec, ModelInput, Port, Source, Stmt};
use crate::model::errors::Errors;

struct Tensor {
    node: usize,
    span: Span,
    used: bool,
    input: bool,
}

struct Shared {
    kind: Option<LayerKind>,
    param: Option<usize>,
    span: Span,
    used: bool,
}

pub(super) struct Builder<'a> {
    pub(super) errs: &'a mut Errors,
    inline: HashMap<String, usize>,
    inline_dims: Vec<(Ident, usize)>,
    pub(super) nodes: Vec<Node>,
    layers: Vec<ParamLayer>,
    tensors: HashMap<String, Tensor>,
    shared: HashMap<String, Shared>,
    later: HashMap<String, Span>,
    poisoned: HashSet<String>,
    outputs: HashSet<String>,
    counters: HashMap<&'static str, usize>,
    taken: HashSet<String>,
    static_checks: Vec<StaticCheck>,
    pub(super) lead_checks: Vec<(usize, usize)>,
}

/// Checks the model and returns its graph, or `None` when errors were reported.
pub fn check(input: &ModelInput, errs: &mut Errors) -> Option<Graph> {
    let (inputs, outputs, stmts, sequential) = normalise(&input.body);
    let mut b = Builder {
        errs,
        inline: HashMap::new(),
        inline_dims: Vec::new(),
        nodes: Vec::new(),
        layers: Vec::new(),
        tensors: HashMap::new(),
        shared: HashMap::new(),
        later: HashMap::new(),
        poisoned: HashSet::new(),
        outputs: outputs.iter().map(|p| p.name.to_string()).collect(),
        counters: HashMap::new(),
        taken: HashSet::new(),
        static_checks: Vec::new(),
        lead_checks: Vec::new(),
    };
    for port in inputs.iter().chain(outputs.iter()) {
        b.taken.insert(port.name.to_string());
    }
    for s in stmts.iter() {
        b.scan_inline(s);
    }
    let mut input_irs = Vec::new();
    for (k, p) in inputs.iter().enumerate() {
        b.check_shape(p, sequential, "input");
        let shape: Vec<DimRef> = p.shape.dims.iter().map(|d| b.dim_ref(d)).collect();
        if let Some(last) = p.shape.dims.last() {
            if !b.inline.contains_key(&last.to_string()) {
                b.static_checks.push(StaticCheck {
                    dim: last.clone(),
                    who: if sequential {
                        "the model's input".to_string()
                    } else {
                        format!("input `{}`", p.name)
                    },
                    role: "its last dim (the features a dense layer reads)".to_string(),
                });
            }
        }
        let name = p.name.to_string();
        if b.tensors.contains_key(&name) {
            b.errs
                .at(p.name.span(), format!("input `{name}` is declared twice"));
        }
        b.nodes.push(Node {
            op: Op::Input(k),
            args: vec![],
            shape,
            src: k,
        });
        b.tensors.insert(
            name,
            Tensor {
                node: k,
                span: p.name.span(),
                used: false,
                input: true,
            },
        );
        input_irs.push(InputIr {
            name: p.name.clone(),
            dims: p.shape.dims.clone(),
        });
    }
    for p in outputs.iter() {
        b.check_shape(p, sequential, "output");
    }
    for s in stmts.iter() {
        if let Stmt::Let { name, .. } = s {
            b.later.entry(name.to_string()).or_insert(name.span());
        }
    }
    let mut assigned: HashMap<String, Option<usize>> = HashMap::new();
    for s in stmts.iter() {
        match s {
            Stmt::Let { name, expr } => {
                b.later.remove(&name.to_string());
                b.let_stmt(name, expr);
            }
            Stmt::Assign { name, expr } => {
                let key = name.to_string();
                let node = b.eval(expr);
                if !b.outputs.contains(&key) {
                    let outs: Vec<String> = outputs.iter().map(|p| format!("`{}`", p.name)).collect();
                    b.errs.at(
                        name.span(),
                        format!("`{key}` is not an output of the model (its outputs are {}); to name an intermediate tensor write `let {key} = ...;`", outs.join(", ")),
                    );
                } else if assigned.contains_key(&key) {
                    b.errs
                        .at(name.span(), format!("output `{key}` is assigned twice"));
                } else {
                    assigned.insert(key, node);
                }
            }
        }
    }
    if b.errs.is_empty() {
        // Unused names are only worth reporting once everything resolves.
        b.report_unused(&inputs);
    }
    let mut output_irs = Vec::new();
    for p in outputs.iter() {
        let node = match assigned.get(&p.name.to_string()) {
            Some(Some(node)) => *node,
            Some(None) => continue,
            None => {
                if !sequential {
                    b.errs.at(
                        p.name.span(),
                        format!(
                            "output `{0}` is never assigned: add `{0} = ...;` to the body",
                            p.name
                        ),
                    );
                }
                continue;
            }
        };
        b.compare_output(p, node, sequential);
        output_irs.push(OutputIr {
            name: p.name.clone(),
            dims: p.shape.dims.clone(),
            node,
        });
    }
    if !b.errs.is_empty() {
        return None;
    }
    Some(Graph {
        inputs: input_irs,
        outputs: output_irs,
        layers: b.layers,
        nodes: b.nodes,
        inline_dims: b.inline_dims,
        static_checks: b.static_checks,
        lead_checks: b.lead_checks,
        sequential,
    })
}

/// The sequential form as a functional graph: `output = x >> layer >> ...;`.
fn normalise(body: &Body) -> (Vec<Port>, Vec<Port>, Vec<Stmt>, bool) {
    match body {
        Body::Sequential {
            input,
            output,
            layers,
            ..
        } => {
            let x = Ident::new("x", Span::call_site());
            let y = Ident::new("output", output.span);
            let stmt = Stmt::Assign {
                name: y.clone(),
                expr: Expr {
                    source: Source::Name(x.clone()),
                    steps: layers.clone(),
                },
            };
            (
                vec![Port {
                    name: x,
                    shape: input.clone(),
                }],
                vec![Port {
                    name: y,
                    shape: output.clone(),
                }],
                vec![stmt],
                true,
            )
        }
        Body::Functional {
            inputs,
            outputs,
            stmts,
        } => {
            let copy = |ps: &Vec<Port>| {
                ps.iter()
                    .map(|p| Port {
                        name: p.name.clone(),
                        shape: p.shape.clone(),
                    })
                    .collect::<Vec<_>>()
            };
            let stmts = stmts
                .iter()
                .map(|s| match s {
                    Stmt::Let { name, expr } => Stmt::Let {
                        name: name.clone(),
                        expr: clone_expr(expr),
                    },
                    Stmt::Assign { name, expr } => Stmt::Assign {
                        name: name.clone(),
                        expr: clone_expr(expr),
                    },
                })
                .collect();
            (copy(inputs), copy(outputs), stmts, false)
        }
    }
}

fn clone_expr(e: &Expr) -> Expr {
    Expr {
        source: match &e.source {
            Source::Name(n) => Source::Name(n.clone()),
            Source::Layer(l) => Source::Layer(l.clone()),
            Source::Merge { op, args } => Source::Merge {
                op: op.clone(),
                args: args.iter().map(clone_expr).collect(),
            },
        },
        steps: e.steps.clone(),
    }
}

fn layer_specs<'e>(e: &'e Expr, out: &mut Vec<&'e LayerSpec>) {
    match &e.source {
        Source::Layer(l) => out.push(l),
        Source::Merge { args, .. } => args.iter().for_each(|a| layer_specs(a, out)),
        Source::Name(_) => {}
    }
    out.extend(e.steps.iter());
}

impl Builder<'_> {
    /// Registers the inline dims (`Dense(H1 = 256)`) before anything refers to them.
    fn scan_inline(&mut self, s: &Stmt) {
        let (Stmt::Let { expr, name } | Stmt::Assign { expr, name }) = s;
        if matches!(s, Stmt::Let { .. }) {
            self.taken.insert(name.to_string());
        }
        let mut specs = Vec::new();
        layer_specs(expr, &mut specs);
        for spec in specs {
            if spec.kind != "Dense" {
                continue;
            }
            let Some(first) = spec.args.as_ref().and_then(|a| a.first()) else {
                continue;
            };
            let (Some(d), ArgValue::Int(lit, neg)) = (&first.key, &first.value) else {
                continue;
            };
            let key = d.to_string();
            match lit.base10_parse::<usize>() {
                Ok(0) => self.errs.range(
                    first.span,
                    first.end,
                    format!("dimension `{key}` cannot have size 0: a dense layer needs at least one unit"),
                ),
                Ok(n) if !*neg => {
                    if self.inline.contains_key(&key) {
                        self.errs.at(
                            d.span(),
                            format!("dimension `{key}` is declared twice in this model; refer to it by name after the first declaration: `Dense({key})`"),
                        );
                    } else {
                        self.inline.insert(key, n);
                        self.inline_dims.push((d.clone(), n));
                    }
                }
                _ => self.errs.range(
                    first.span,
                    first.end,
                    format!("the size of `{key}` must be a positive integer, e.g. `{key} = 128`"),
                ),
            }
        }
    }

    fn dim_ref(&self, d: &Ident) -> DimRef {
        let name = d.to_string();
        let size = match self.inline.get(&name) {
            Some(&n) => Size::Lit(n),
            None => Size::Of(d.clone()),
        };
        DimRef {
            name,
            ident: Some(d.clone()),
            size,
        }
    }

    fn check_shape(&mut self, p: &Port, sequential: bool, what: &str) {
        let dims = &p.shape.dims;
        if dims.is_empty() {
            self.errs.at(
                p.shape.span,
                format!("the {what} shape needs at least one dim (its features), e.g. `[Batch, Pixels]`"),
            );
        }
        for (i, d) in dims.iter().enumerate() {
            if dims[..i].iter().any(|e| e == d) {
                let whose = if sequential {
                    format!("the {what} shape")
                } else {
                    format!("the shape of `{}`", p.name)
                };
                self.errs.at(
                    d.span(),
                    format!("dimension `{d}` appears twice in {whose}; every dim of a shape needs its own name (declare another one with `dims!`)"),
                );
            }
        }
    }

    fn let_stmt(&mut self, name: &Ident, expr: &Expr) {
        let key = name.to_string();
        let lone_layer = match (&expr.source, expr.steps.is_empty()) {
            (Source::Layer(spec), true) => Some(spec.clone()),
            (Source::Name(n), true) if is_known(&n.to_string()) => Some(LayerSpec {
                kind: n.clone(),
                args: None,
                span: n.span(),
                end: n.span(),
            }),
            _ => None,
        };
        if self.outputs.contains(&key) {
            self.errs.at(
                name.span(),
                format!("`{key}` is an output of the model: assign it without `let`: `{key} = ...;`"),
            );
            return;
        }
        if self.tensors.contains_key(&key) || self.shared.contains_key(&key) {
            self.errs.at(
                name.span(),
                format!("`{key}` is already defined; give this one another name"),
            );
            return;
        }
        if let Some(spec) = lone_layer {
            let kind = if is_known(&spec.kind.to_string()) {
                interpret(&spec, self.errs)
            } else {
                self.unknown_layer(&spec);
                None
            };
            let param = match &kind {
                Some(LayerKind::Dense { units, bias, .. }) => Some(self.new_layer(Some(name), units, *bias)),
                _ => None,
            };
            self.shared.insert(
                key,
                Shared {
                    kind,
                    param,
                    span: name.span(),
                    used: false,
                },
            );
            return;
        }
        let Some(node) = self.eval(expr) else {
            self.poisoned.insert(key);
            return;
        };
        {
            self.tensors.insert(
                key,
                Tensor {
                    node,
                    span: name.span(),
                    used: false,
                    input: false,
                },
            );
        }
    }

    fn new_layer(&mut self, name: Option<&Ident>, units: &Ident, bias: bool) -> usize {
        let field = match name {
            Some(n) => n.clone(),
            None => {
                let c = self.counters.entry("dense").or_insert(0);
                loop {
                    *c += 1;
                    let f = format!("dense{c}");
                    if !self.taken.contains(&f) {
                        break Ident::new(&f, Span::call_site());
                    }
                }
            }
        };
        let units = self.dim_ref(units);
        if let (Size::Of(d), Some(id)) = (&units.size, &units.ident) {
            self.static_checks.push(StaticCheck {
                dim: id.clone(),
                who: field.to_string(),
                role: "its units".to_string(),
            });
            let _ = d;
        }
        self.layers.push(ParamLayer {
            field,
            inputs: None,
            units,
            bias,
        });
        self.layers.len() - 1
    }

    /// Evaluates a chain; `None` after reporting an error.
    pub(super) fn eval(&mut self, expr: &Expr) -> Option<usize> {
        let mut cur = match &expr.source {
            Source::Name(n) => self.lookup(n)?,
            Source::Layer(spec) => {
                self.errs.range(
                    spec.span,
                    spec.end,
                    format!("a chain starts from a tensor, e.g. `x >> {}(..)`; a lone layer can only be bound to a name to share it: `let tower = {}(..);`", spec.kind, spec.kind),
                );
                return None;
            }
            Source::Merge { op, args } => {
                let nodes: Vec<Option<usize>> = args.iter().map(|a| self.eval(a)).collect();
                let nodes: Option<Vec<usize>> = nodes.into_iter().collect();
                self.merge(op, &nodes?)?
            }
        };
        let mut fusable = None;
        for (i, step) in expr.steps.iter().enumerate() {
            match self.apply(step, cur, &mut fusable) {
                Some(next) => cur = next,
                None => {
                    // Still report the argument errors of the layers that follow.
                    for rest in &expr.steps[i + 1..] {
                        if is_known(&rest.kind.to_string()) {
                            let _ = interpret(rest, self.errs);
                        }
                    }
                    return None;
                }
            }
        }
        Some(cur)
    }

    fn lookup(&mut self, n: &Ident) -> Option<usize> {
        let key = n.to_string();
        if let Some(t) = self.tensors.get_mut(&key) {
            t.used = true;
            return Some(t.node);
        }
        if self.poisoned.contains(&key) {
            // Its definition failed and was reported; say nothing more.
            return None;
        }
        let msg = if self.shared.contains_key(&key) || is_known(&key) {
            format!("`{key}` is a layer; a chain starts from a tensor: `x >> {key}`")
        } else if self.later.contains_key(&key) {
            format!("`{key}` is used before its definition; move `let {key} = ...;` above this statement")
        } else if self.outputs.contains(&key) {
            format!("output `{key}` cannot be read inside the model; compute it with `let {key}_value = ...;` and assign `{key} = {key}_value;`")
        } else {
            let mut known: Vec<&String> = self.tensors.keys().collect();
            known.sort();
            let list: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
            let hint = closest(&key, known.iter().map(|k| k.as_str()))
                .map(|c| format!("; did you mean `{c}`?"))
                .unwrap_or_default();
            format!(
                "cannot find tensor `{key}` in this model (defined so far: {}){hint}",
                list.join(", ")
            )
        };
        self.errs.at(n.span(), msg);
        None
    }

    fn unknown_layer(&mut self, spec: &LayerSpec) {
        let key = spec.kind.to_string();
        let msg = if self.tensors.contains_key(&key) {
            format!("`{key}` is a tensor, not a layer; combine tensors with `add({key}, ..)`, `multiply({key}, ..)` or `concat({key}, ..)`")
        } else {
            let hint = closest(&key, KNOWN.iter().copied())
                .map(|c| format!("did you mean `{c}`? "))
                .unwrap_or_default();
            format!("unknown layer `{key}`: {hint}model! knows Dense, Relu, LeakyRelu, Elu, Gelu, Softplus, Sigmoid, Tanh, Softmax, Linear and Dropout")
        };
        self.errs.at(spec.kind.span(), msg);
    }

    fn apply(&mut self, spec: &LayerSpec, cur: usize, fusable: &mut Option<usize>) -> Option<usize> {
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
                Some(LayerKind::Dense { units, bias, act }) => LayerKind::Dense {
                    units: units.clone(),
                    bias: *bias,
                    act: *act,
                },
                Some(LayerKind::Act(a, d)) => LayerKind::Act(*a, d.clone()),
                Some(LayerKind::Dropout(r)) => LayerKind::Dropout(*r),
                None => return None,
            };
            (kind, param)
        } else if is_known(&key) {
            let kind = interpret(spec, self.errs)?;
            let param = match &kind {
                LayerKind::Dense { units, bias, .. } => Some(self.new_layer(None, units, *bias)),
                _ => None,
            };
            (kind, param)
        } else {
            self.unknown_layer(spec);
            return None;
        };
        let shape = self.nodes[cur].shape.clone();
        let src = self.nodes[cur].src;
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
                });
                let n = self.nodes.len() - 1;
                *fusable = act.is_none().then_some(n);
                Some(n)
            }
            LayerKind::Act(a, axis) => {
                if let Some(d) = axis {
                    let key = d.to_string();
                    let last = shape.last().map(|l| l.name.clone()).unwrap_or_default();
                    if !shape.iter().any(|s| s.name == key) {
                        self.errs.at(
                            d.span(),
                            format!("`Softmax({key})`: the tensor `{}` has no dimension `{key}`; softmax normalises over the last dim, here `{last}`: write `Softmax` or `Softmax({last})`", show_shape(&shape)),
                        );
                        return None;
                    }
                    if key != last {
                        self.errs.at(
                            d.span(),
                            format!("`Softmax({key})`: model! normalises over the last dim only, and the last dim of `{}` is `{last}`", show_shape(&shape)),
                        );
                        return None;
                    }
                }
                if let Some(n) = fusable.take() {
                    if let Op::Dense(p, Act::Linear) = self.nodes[n].op {
                        self.nodes[n].op = Op::Dense(p, a);
                        return Some(n);
                    }
                }
                self.nodes.push(Node {
                    op: Op::Act(a),
                    args: vec![cur],
                    shape,
                    src,
                });
                Some(self.nodes.len() - 1)
            }
            LayerKind::Dropout(rate) => {
                *fusable = None;
                self.nodes.push(Node {
                    op: Op::Dropout(rate),
                    args: vec![cur],
                    shape,
                    src,
                });
                Some(self.nodes.len() - 1)
            }
        }
    }

    fn report_unused(&mut self, inputs: &[Port]) {
        let mut unused: Vec<(Span, String)> = Vec::new();
        for (name, t) in &self.tensors {
            if t.used {
                continue;
            }
            let msg = if t.input {
                let shape = inputs
                    .iter()
                    .find(|p| p.name == name)
                    .map(|p| {
                        let d: Vec<String> = p.shape.dims.iter().map(|d| d.to_string()).collect();
                        format!(" `[{}]`", d.join(", "))
                    })
                    .unwrap_or_default();
                format!(
                    "input `{name}`{shape} is never used; use it in the graph or remove it from the inputs"
                )
            } else {
                format!("the tensor `{name}` is computed but never used; use it (e.g. in an output) or remove this `let`")
            };
            unused.push((t.span, msg));
        }
        for (name, s) in &self.shared {
            if !s.used {
                unused.push((
                    s.span,
                    format!("layer `{name}` is never applied; apply it with `x >> {name}` or remove it"),
                ));
            }
        }
        unused.sort_by_key(|(s, m)| (format!("{s:?}"), m.clone()));
        for (span, msg) in unused {
            self.errs.at(span, msg);
        }
    }

    fn compare_output(&mut self, p: &Port, node: usize, sequential: bool) {
        let produced = &self.nodes[node].shape;
        let declared: Vec<String> = p.shape.dims.iter().map(|d| d.to_string()).collect();
        let same =
            produced.len() == declared.len() && produced.iter().zip(&declared).all(|(a, b)| a.name == *b);
        if same {
            return;
        }
        let what = if sequential {
            "the model".to_string()
        } else {
            format!("output `{}`", p.name)
        };
        let mut msg = format!(
            "{what} produces `{}` but its declared shape is `[{}]`",
            show_shape(produced),
            declared.join(", ")
        );
        if produced.len() == declared.len() {
            let diffs: Vec<usize> = (0..declared.len())
                .filter(|&i| produced[i].name != declared[i])
                .collect();
            if let [i] = diffs[..] {
                msg.push_str(&format!(
                    ": dimension {} does not match `{}`",
                    produced[i].describe(),
                    declared[i]
                ));
                if i + 1 == declared.len() {
                    msg.push_str(&format!(
                        "; end it with `Dense({})` to map the features to `{}`",
                        declared[i], declared[i]
                    ));
                }
            }
        } else {
            msg.push_str(&format!(" (rank {} vs {})", produced.len(), declared.len()));
        }
        self.errs.at(p.shape.span, msg);
    }
}
