//! Checks over the whole graph once it is built: unused inputs, tensors and layers, and
//! declared output shapes against the produced ones.

use proc_macro2::Span;

use super::build::Builder;
use super::ir::show_shape;
use crate::model::ast::Port;

impl Builder<'_> {
    pub(super) fn report_unused(&mut self, inputs: &[Port]) {
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

    pub(super) fn compare_output(&mut self, p: &Port, node: usize, sequential: bool) {
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
