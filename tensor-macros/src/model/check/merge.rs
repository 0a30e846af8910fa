//! Shape rules of the merges: `add` and `multiply` need equal shapes, `concat` joins the last
//! dim and needs every other dim to match.

use syn::Ident;

use super::build::Builder;
use super::ir::{show_shape, DimRef, Node, Op, Size};

impl Builder<'_> {
    /// Checks a merge of `args` and adds its node.
    pub(super) fn merge(&mut self, op: &Ident, args: &[usize]) -> Option<usize> {
        let name = op.to_string();
        let shapes: Vec<Vec<DimRef>> = args.iter().map(|&a| self.nodes[a].shape.clone()).collect();
        let concat = name == "concat";
        if concat && args.len() < 2 {
            self.errs
                .at(op.span(), "`concat` joins two or more tensors: `concat(a, b)`");
            return None;
        }
        if !concat && args.len() != 2 {
            self.errs.at(
                op.span(),
                format!("`{name}` takes two tensors: `{name}(a, b)` (nest it for more: `{name}({name}(a, b), c)`)"),
            );
            return None;
        }
        let first = &shapes[0];
        if first.is_empty() {
            // A rank-0 input was already reported.
            return None;
        }
        let mut ok = true;
        for other in &shapes[1..] {
            if other.len() != first.len() {
                self.errs.at(
                    op.span(),
                    format!(
                        "cannot {name} `{}` and `{}`: their ranks differ ({} vs {})",
                        show_shape(first),
                        show_shape(other),
                        first.len(),
                        other.len()
                    ),
                );
                ok = false;
                continue;
            }
            let upto = if concat { first.len() - 1 } else { first.len() };
            if let Some(i) = (0..upto).find(|&i| first[i].name != other[i].name) {
                let msg = if concat {
                    format!(
                        "cannot concat `{}` and `{}`: concat joins the last dim, so the other dims must match, but dimension {} does not match {}",
                        show_shape(first), show_shape(other), first[i].describe(), other[i].describe()
                    )
                } else {
                    let fix = if i + 1 == first.len() {
                        format!(" (project one side first, e.g. `b >> Dense({})`)", first[i].name)
                    } else {
                        String::new()
                    };
                    format!(
                        "cannot {name} `{}` and `{}`: dimension {} does not match {}; `{name}` needs equal shapes{fix}",
                        show_shape(first), show_shape(other), first[i].describe(), other[i].describe()
                    )
                };
                self.errs.at(op.span(), msg);
                ok = false;
            }
        }
        if !ok {
            return None;
        }
        let src = self.nodes[args[0]].src;
        let lead = args.iter().map(|&a| self.nodes[a].lead).min().unwrap_or(0);
        for &a in &args[1..] {
            let s = self.nodes[a].src;
            // The dims both operands take from their inputs (the rest are static).
            if s != src && !self.lead_checks.contains(&(src, s, lead)) {
                self.lead_checks.push((src, s, lead));
            }
        }
        let mut shape = first.clone();
        let op = if concat {
            let lasts: Vec<&DimRef> = shapes.iter().filter_map(|s| s.last()).collect();
            let names: Vec<&str> = lasts.iter().map(|d| d.name.as_str()).collect();
            let joined = DimRef {
                name: names.join("+"),
                ident: None,
                size: Size::Sum(lasts.iter().map(|d| d.size.clone()).collect()),
            };
            if let Some(l) = shape.last_mut() {
                *l = joined;
            }
            Op::Concat
        } else if name == "add" {
            Op::Add
        } else {
            Op::Multiply
        };
        self.nodes.push(Node {
            op,
            args: args.to_vec(),
            shape,
            src,
            lead,
        });
        Some(self.nodes.len() - 1)
    }
}
