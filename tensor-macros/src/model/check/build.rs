//! Builds the graph statement by statement, inferring each tensor's shape by dim names.

use std::collections::{HashMap, HashSet};

use proc_macro2::Span;
use syn::Ident;

use super::ir::{
    CountCheck, DenseOpts, DimRef, Graph, InputIr, LayerCheck, Node, Op, OutputIr, ParamKind, ParamLayer,
    Size, StaticCheck,
};
use super::layers::{closest, interpret, is_known, user_layer, LayerKind, KNOWN};
use super::normalise::{layer_specs, normalise};
use crate::model::ast::{ArgValue, Expr, LayerSpec, ModelInput, Port, Source, Stmt};
use crate::model::errors::Errors;

pub(super) struct Tensor {
    pub(super) node: usize,
    pub(super) span: Span,
    pub(super) used: bool,
    pub(super) input: bool,
}

pub(super) struct Shared {
    pub(super) kind: Option<LayerKind>,
    pub(super) param: Option<usize>,
    pub(super) span: Span,
    pub(super) used: bool,
}

pub(super) struct Builder<'a> {
    pub(super) errs: &'a mut Errors,
    pub(super) inline: HashMap<String, usize>,
    pub(super) inline_dims: Vec<(Ident, usize)>,
    pub(super) nodes: Vec<Node>,
    pub(super) layers: Vec<ParamLayer>,
    pub(super) tensors: HashMap<String, Tensor>,
    pub(super) shared: HashMap<String, Shared>,
    pub(super) later: HashMap<String, Span>,
    pub(super) poisoned: HashSet<String>,
    pub(super) id_inputs: HashSet<usize>,
    pub(super) outputs: HashSet<String>,
    pub(super) counters: HashMap<String, usize>,
    pub(super) taken: HashSet<String>,
    pub(super) static_checks: Vec<StaticCheck>,
    pub(super) lead_checks: Vec<(usize, usize, usize)>,
    pub(super) count_checks: Vec<CountCheck>,
    pub(super) layer_checks: Vec<LayerCheck>,
    pub(super) size_checks: Vec<(Ident, Size, String)>,
    pub(super) window_checks: Vec<super::ir::WindowCheck>,
    pub(super) group_checks: Vec<super::ir::GroupCheck>,
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
        id_inputs: HashSet::new(),
        outputs: outputs.iter().map(|p| p.name.to_string()).collect(),
        counters: HashMap::new(),
        taken: HashSet::new(),
        static_checks: Vec::new(),
        lead_checks: Vec::new(),
        count_checks: Vec::new(),
        layer_checks: Vec::new(),
        size_checks: Vec::new(),
        window_checks: Vec::new(),
        group_checks: Vec::new(),
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
            lead: p.shape.dims.len().saturating_sub(1),
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
            ids: false,
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
                } else if let std::collections::hash_map::Entry::Vacant(slot) = assigned.entry(key.clone()) {
                    slot.insert(node);
                } else {
                    b.errs
                        .at(name.span(), format!("output `{key}` is assigned twice"));
                }
            }
        }
    }
    b.check_id_inputs(&inputs, &assigned);
    for k in b.id_inputs.clone() {
        input_irs[k].ids = true;
        // Ids carry no features: their last dim needs no static size.
        let who = if sequential {
            "the model's input".to_string()
        } else {
            format!("input `{}`", inputs[k].name)
        };
        b.static_checks.retain(|c| c.who != who);
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
        count_checks: b.count_checks,
        layer_checks: b.layer_checks,
        size_checks: b.size_checks,
        window_checks: b.window_checks,
        group_checks: b.group_checks,
        sequential,
    })
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
            let declaring: &[crate::model::ast::Arg] = match (spec.kind.to_string().as_str(), &spec.args) {
                ("Dense", Some(a)) => &a[..a.len().min(1)],
                ("Embedding", Some(a)) => &a[..a.len().min(2)],
                ("Flatten", Some(a)) => &a[..a.len().min(1)],
                ("Conv2D", Some(a)) => &a[..a.len().min(1)],
                _ => continue,
            };
            for first in declaring {
                let (Some(d), ArgValue::Int(lit, neg)) = (&first.key, &first.value) else {
                    continue;
                };
                let key = d.to_string();
                match lit.base10_parse::<usize>() {
                    Ok(0) => self.errs.range(
                        first.span,
                        first.end,
                        if spec.kind == "Flatten" {
                            format!("dimension `{key}` cannot have size 0: a flattened dim holds every element of a sample")
                        } else {
                            format!("dimension `{key}` cannot have size 0: a dense layer needs at least one unit")
                        },
                    ),
                    Ok(n) if !*neg => {
                        if let std::collections::hash_map::Entry::Vacant(slot) =
                            self.inline.entry(key.clone())
                        {
                            slot.insert(n);
                            self.inline_dims.push((d.clone(), n));
                        } else {
                            self.errs.at(
                            d.span(),
                            format!("dimension `{key}` is declared twice in this model; refer to it by name after the first declaration: `Dense({key})`"),
                        );
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
    }

    pub(super) fn dim_ref(&self, d: &Ident) -> DimRef {
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
            } else if let Some(k) = user_layer(&spec) {
                Some(k)
            } else {
                self.unknown_layer(&spec);
                None
            };
            let param = match &kind {
                Some(LayerKind::Dense {
                    units, bias, opts, ..
                }) => Some(self.new_layer(Some(name), units, *bias, *opts)),
                Some(LayerKind::Embedding { vocab, dim }) => Some(self.new_embedding(Some(name), vocab, dim)),
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

    /// A dense layer (auto-named `denseN` unless bound to a name), with the const check that
    /// its units have a static size.
    pub(super) fn new_layer(
        &mut self,
        name: Option<&Ident>,
        units: &Ident,
        bias: bool,
        opts: DenseOpts,
    ) -> usize {
        let field = match name {
            Some(n) => n.clone(),
            None => self.auto_name("dense"),
        };
        let units = self.dim_ref(units);
        if let (Size::Of(_), Some(id)) = (&units.size, &units.ident) {
            self.static_checks.push(StaticCheck {
                dim: id.clone(),
                who: field.to_string(),
                role: "its units".to_string(),
            });
        }
        self.layers.push(ParamLayer {
            ty: None,
            field,
            inputs: None,
            units,
            kind: ParamKind::Dense { bias, opts },
        });
        self.layers.len() - 1
    }

    /// An embedding table (auto-named `embeddingN` unless bound to a name), with const checks
    /// that its vocabulary and dim have static sizes.
    pub(super) fn new_embedding(&mut self, name: Option<&Ident>, vocab: &Ident, dim: &Ident) -> usize {
        let field = match name {
            Some(n) => n.clone(),
            None => self.auto_name("embedding"),
        };
        let (vocab, dim) = (self.dim_ref(vocab), self.dim_ref(dim));
        for (d, role) in [(&vocab, "its vocabulary"), (&dim, "its embedding dim")] {
            if let (Size::Of(_), Some(id)) = (&d.size, &d.ident) {
                self.static_checks.push(StaticCheck {
                    dim: id.clone(),
                    who: field.to_string(),
                    role: role.to_string(),
                });
            }
        }
        self.layers.push(ParamLayer {
            ty: None,
            field,
            inputs: Some(vocab),
            units: dim,
            kind: ParamKind::Embedding,
        });
        self.layers.len() - 1
    }

    /// An input that feeds an embedding holds ids: nothing else may read it.
    fn check_id_inputs(&mut self, inputs: &[Port], assigned: &HashMap<String, Option<usize>>) {
        for &k in &self.id_inputs {
            let misuse = self
                .nodes
                .iter()
                .any(|n| n.args.contains(&k) && !matches!(n.op, Op::Embedding(..)))
                || assigned.values().any(|&n| n == Some(k));
            if misuse {
                let name = &inputs[k].name;
                self.errs.at(
                    name.span(),
                    format!("input `{name}` holds integer ids (it feeds an Embedding), so only Embedding layers can read it"),
                );
            }
        }
    }

    pub(super) fn auto_name(&mut self, kind: &str) -> Ident {
        let c = self.counters.entry(kind.to_string()).or_insert(0);
        loop {
            *c += 1;
            let f = format!("{kind}{c}");
            if !self.taken.contains(&f) {
                break Ident::new(&f, Span::call_site());
            }
        }
    }

    /// A batch-normalisation layer over `features` (created at its first application).
    pub(super) fn new_batch_norm(
        &mut self,
        name: Option<&Ident>,
        features: DimRef,
        momentum: f64,
        epsilon: f64,
    ) -> usize {
        let field = match name {
            Some(n) => n.clone(),
            None => self.auto_name("batch_norm"),
        };
        self.layers.push(ParamLayer {
            ty: None,
            field,
            inputs: Some(features.clone()),
            units: features,
            kind: ParamKind::BatchNorm { momentum, epsilon },
        });
        self.layers.len() - 1
    }

    /// A layer with one parameter per feature of `features` (created at its first application,
    /// auto-named `{prefix}N` unless bound to a name).
    pub(super) fn new_per_feature(
        &mut self,
        name: Option<&Ident>,
        prefix: &'static str,
        features: DimRef,
        kind: ParamKind,
    ) -> usize {
        let field = match name {
            Some(n) => n.clone(),
            None => self.auto_name(prefix),
        };
        self.layers.push(ParamLayer {
            ty: None,
            field,
            inputs: Some(features.clone()),
            units: features,
            kind,
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

    pub(super) fn unknown_layer(&mut self, spec: &LayerSpec) {
        let key = spec.kind.to_string();
        let msg = if self.tensors.contains_key(&key) {
            format!("`{key}` is a tensor, not a layer; combine tensors with `add({key}, ..)`, `multiply({key}, ..)` or `concat({key}, ..)`")
        } else {
            let hint = closest(&key, KNOWN.iter().copied())
                .map(|c| format!("did you mean `{c}`? "))
                .unwrap_or_default();
            format!("unknown layer `{key}`: {hint}model! knows Dense, Embedding, BatchNorm, Flatten, Reshape, Relu, LeakyRelu, PReLU, Elu, Gelu, Softplus, Sigmoid, Tanh, Softmax, Linear and Dropout")
        };
        self.errs.at(spec.kind.span(), msg);
    }
}
