//! Shape rules of `Flatten` and `Reshape`: the first dim (the batch) is kept, the others are
//! replaced, and the number of elements per sample must not change. The macro multiplies the
//! sizes it knows; for dims declared with `dims!` it emits a const check.

use proc_macro2::Span;
use syn::Ident;

use super::build::Builder;
use super::ir::{show_shape, CountCheck, DimRef, Node, Op, Size, StaticCheck};
use crate::model::ast::{LayerSpec, ShapeSpec};

/// The message of a reshape that changes the element count (shared by the macro's own check
/// and, through [`CountCheck`], by the const check in `tensor_nn::fused`).
pub fn count_message(
    layer: &str,
    from: &str,
    to: &str,
    from_tail: &str,
    to_tail: &str,
    n: usize,
    m: usize,
) -> String {
    format!(
        "`{layer}` cannot reshape `{from}` to `{to}`: `{from_tail}` holds {n} elements but `{to_tail}` holds {m}; a reshape keeps the element count of every sample"
    )
}

/// `Batch` and the dims after it, `[H, W, C]`.
fn tail(shape: &[DimRef]) -> String {
    show_shape(&shape[1..])
}

impl Builder<'_> {
    /// Applies `Flatten(name)` (`target` = `None`) or `Reshape(target)` to node `cur`.
    pub(super) fn reshape(
        &mut self,
        spec: &LayerSpec,
        cur: usize,
        flatten: Option<Option<&Ident>>,
        target: Option<&ShapeSpec>,
    ) -> Option<usize> {
        let shape = self.nodes[cur].shape.clone();
        let src = self.nodes[cur].src;
        let kind = spec.kind.to_string();
        if shape.len() < 2 {
            self.errs.range(
                spec.span,
                spec.end,
                format!(
                    "`{kind}` keeps the first dim (the batch) and reshapes the others, but `{}` has only one dim",
                    show_shape(&shape)
                ),
            );
            return None;
        }
        let layer = self.auto_name(if flatten.is_some() { "flatten" } else { "reshape" });
        let layer = layer.to_string();
        // Every dim reshaped needs a static size; the dims from `dims!` get a const check,
        // pointed at this layer.
        for d in &shape[1..] {
            self.require_static_at(d, spec.span, &layer, "the dims it reshapes");
        }
        let merged = Size::Product(shape[1..].iter().map(|d| d.size.clone()).collect());
        let new_tail: Vec<DimRef> = match (flatten, target) {
            (Some(None), _) if shape.len() == 2 => vec![shape[1].clone()],
            (Some(None), _) => {
                let names: Vec<&str> = shape[1..].iter().map(|d| d.name.as_str()).collect();
                vec![DimRef {
                    name: names.join("*"),
                    ident: None,
                    size: merged.clone(),
                }]
            }
            (Some(Some(d)), _) => vec![self.dim_ref(d)],
            (None, Some(t)) => {
                let mut dims = Vec::new();
                for (i, d) in t.dims.iter().enumerate() {
                    if t.dims[..i].contains(d) || *d == shape[0].name {
                        self.errs.at(
                            d.span(),
                            format!("dimension `{d}` appears twice in the shape `Reshape` makes; every dim of a shape needs its own name"),
                        );
                        return None;
                    }
                    dims.push(self.dim_ref(d));
                }
                dims
            }
            (None, None) => return None,
        };
        for d in &new_tail {
            self.require_static_at(
                d,
                d.ident.as_ref().map_or(spec.span, |i| i.span()),
                &layer,
                "the dims it makes",
            );
        }
        let mut out = vec![shape[0].clone()];
        out.extend(new_tail);
        let made = Size::Product(out[1..].iter().map(|d| d.size.clone()).collect());
        let (from, to) = (show_shape(&shape), show_shape(&out));
        match (merged.known(), made.known()) {
            (Some(n), Some(m)) if n != m => {
                self.errs.range(
                    spec.span,
                    spec.end,
                    count_message(&layer, &from, &to, &tail(&shape), &tail(&out), n, m),
                );
                return None;
            }
            (Some(_), Some(_)) => {}
            // An unnamed flatten makes its dim from the product itself.
            _ if matches!(flatten, Some(None)) => {}
            _ => self.count_checks.push(CountCheck {
                span: spec.span,
                layer,
                from: (from, tail(&shape), merged),
                to: (to, tail(&out), made),
            }),
        }
        self.nodes.push(Node {
            op: Op::Reshape,
            args: vec![cur],
            shape: out,
            src,
            lead: 1,
        });
        Some(self.nodes.len() - 1)
    }

    /// A const check, spanned on `span`, that `d` has a static size (when the macro cannot
    /// see its size and nothing checks it yet).
    pub(super) fn require_static_at(&mut self, d: &DimRef, span: Span, layer: &str, role: &str) {
        if let (Size::Of(id), Some(_)) = (&d.size, &d.ident) {
            if !self.static_checks.iter().any(|c| c.dim == *id && c.who == layer) {
                self.static_checks.push(StaticCheck {
                    dim: Ident::new(&id.to_string(), span),
                    who: layer.to_string(),
                    role: role.to_string(),
                });
            }
        }
    }
}
