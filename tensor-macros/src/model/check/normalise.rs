//! The sequential form rewritten as the functional one (`output = x >> layer >> ...;`), and
//! walks over the layers written in a chain.

use proc_macro2::Span;
use syn::Ident;

use crate::model::ast::{Body, Expr, LayerSpec, Port, Source, Stmt};

/// The sequential form as a functional graph: `output = x >> layer >> ...;`.
pub(super) fn normalise(body: &Body) -> (Vec<Port>, Vec<Port>, Vec<Stmt>, bool) {
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

pub(super) fn layer_specs<'e>(e: &'e Expr, out: &mut Vec<&'e LayerSpec>) {
    match &e.source {
        Source::Layer(l) => out.push(l),
        Source::Merge { args, .. } => args.iter().for_each(|a| layer_specs(a, out)),
        Source::Name(_) => {}
    }
    out.extend(e.steps.iter());
}
