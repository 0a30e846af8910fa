//! Layers the macro cannot see: other `model!` models and user types implementing
//! `tensor_nn::fused::FusedLayer`, written `x >> Encoder(Code)` with the dim they make. The
//! macro cannot compare their dims itself, so it records checks that the expansion turns into
//! `SameDim` assertions (messages naming both dims) spanned on the user's tokens.

use syn::Ident;

use super::build::Builder;
use super::ir::{LayerCheck, Node, Op, ParamKind, ParamLayer, Size, StaticCheck};
use crate::model::ast::LayerSpec;

/// `Encoder` → `encoder`, `MyLayer` → `my_layer`.
fn snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

impl Builder<'_> {
    /// Applies the user layer `ty` (making `out`) to node `cur`.
    pub(super) fn user(
        &mut self,
        spec: &LayerSpec,
        cur: usize,
        param: Option<usize>,
        ty: &Ident,
        out: &Ident,
    ) -> Option<usize> {
        let key = spec.kind.to_string();
        let shape = self.nodes[cur].shape.clone();
        let (src, lead) = (self.nodes[cur].src, self.nodes[cur].lead);
        let last = shape.last()?.clone();
        let shared_name = self.shared.contains_key(&key).then(|| spec.kind.clone());
        let p = match self.shared.get(&key).and_then(|s| s.param).or(param) {
            Some(p) => {
                self.errs.range(
                    spec.span,
                    spec.end,
                    format!("layer `{}` is applied a second time; a nested model or user layer keeps the buffers of one application, so declare another one", self.layers[p].field),
                );
                return None;
            }
            None => {
                let field = match &shared_name {
                    Some(n) => n.clone(),
                    None => self.auto_name(&snake(&ty.to_string())),
                };
                let units = self.dim_ref(out);
                if let (Size::Of(_), Some(id)) = (&units.size, &units.ident) {
                    self.static_checks.push(StaticCheck {
                        dim: id.clone(),
                        who: field.to_string(),
                        role: "the dim it makes".to_string(),
                    });
                }
                let layer = field.to_string();
                self.layer_checks.push(LayerCheck {
                    span: spec.kind.span(),
                    ty: ty.clone(),
                    input: true,
                    dim: last.clone(),
                    layer: layer.clone(),
                });
                self.layer_checks.push(LayerCheck {
                    span: out.span(),
                    ty: ty.clone(),
                    input: false,
                    dim: units.clone(),
                    layer,
                });
                self.layers.push(ParamLayer {
                    ty: Some(ty.clone()),
                    field,
                    inputs: Some(last),
                    units,
                    kind: ParamKind::User,
                });
                let p = self.layers.len() - 1;
                if let Some(sh) = self.shared.get_mut(&key) {
                    sh.param = Some(p);
                }
                p
            }
        };
        let mut shape = shape;
        if let Some(l) = shape.last_mut() {
            *l = self.layers[p].units.clone();
        }
        self.nodes.push(Node {
            op: Op::User(p),
            args: vec![cur],
            shape,
            src,
            lead,
        });
        Some(self.nodes.len() - 1)
    }
}
