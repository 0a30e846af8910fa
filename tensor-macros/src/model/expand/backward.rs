//! The backward pass, emitted statically in reverse node order: each dense layer forms ∂L/∂z in
//! place (the activation's derivative applied to the incoming gradient) and feeds it to the two
//! strided GEMMs; every contribution is added, so shared layers and fan-out accumulate.

use proc_macro2::{Literal, TokenStream};
use quote::quote;
use syn::Ident;

use super::{act_tokens, size_tokens, Paths};
use crate::model::check::ir::{Graph, Op};

/// Statements of `backward`. Expects `__st`, the layer fields as locals and the output gradients
/// by the names in `grads`.
/// With `with_input`, the gradient of the (single, float) input is computed too, into
/// `__st.grads[0]` (a nested model's backward).
pub fn body(g: &Graph, p: &Paths, grads: &[Ident], with_input: bool) -> TokenStream {
    let fused = &p.fused;
    let need = if with_input {
        vec![true; g.nodes.len()]
    } else {
        g.needs_grad()
    };
    let overwrite = overwriting_dense_layers(g, &need);
    // Convolutions run inside the max pooling that reads them (as in the training forward pass).
    let pairs = super::image::fused_conv_pools(g);
    let fused_conv = super::image::fused_convs(&pairs);
    let mut stmts = Vec::new();
    for (li, l) in g.layers.iter().enumerate() {
        if overwrite[li] {
            continue;
        }
        let f = &l.field;
        stmts.push(match l.ty {
            Some(_) => quote!(#fused::FusedLayer::zero_grad(#f);),
            None => quote!(#f.zero_grad();),
        });
    }
    for (i, n) in g.nodes.iter().enumerate() {
        let input = matches!(n.op, Op::Input(_));
        if need[i] && !matches!(n.op, Op::Reshape) && (!input || with_input) && !fused_conv[i] {
            let il = Literal::usize_unsuffixed(i);
            stmts.push(quote!(__st.zero_grad(#il);));
        }
    }
    stmts.extend(super::options::penalty_gradients(g));
    for (o, gname) in g.outputs.iter().zip(grads) {
        if need[o.node] {
            let n = Literal::usize_unsuffixed(g.buffer(o.node));
            stmts.push(quote!(#fused::accumulate_tensor(#gname, &mut __st.grads[#n]);));
        }
    }
    for (i, node) in g.nodes.iter().enumerate().rev() {
        if !need[i] || matches!(node.op, Op::Input(_) | Op::Reshape) || fused_conv[i] {
            continue;
        }
        let il = Literal::usize_unsuffixed(i);
        let cols = node.shape.last().map_or(quote!(1), |d| size_tokens(&d.size, p));
        // Rows of this node: its output buffer's length over its last dim's size.
        let rows = quote!(#fused::rows_in(__st.outs[#il].len(), #cols));
        // Operands' buffers (a reshape shares its operand's, so its gradient lands there).
        let lit = |a: usize| Literal::usize_unsuffixed(g.buffer(a));
        // Where the gradient of operand `a` goes: its buffer, or nowhere when it needs none.
        let grad_in = |a: usize| {
            let al = lit(a);
            if need[a] {
                quote!(::core::option::Option::Some(__lo[#al].as_mut_slice()))
            } else {
                quote!(::core::option::Option::None)
            }
        };
        // The activity penalty's gradient of weight layer `l`, added to ∂L/∂out first.
        let activity = |l: usize| {
            let f = &g.layers[l].field;
            super::options::weight_opts(g, l)
                .is_some_and(|o| o.activity_reg.is_some())
                .then(|| {
                    let batch = super::options::batch_tokens(node, quote!(__st), p);
                    quote!(#f.options.add_activity_penalty_gradient(&__st.outs[#il], __g, #batch);)
                })
        };
        let body = match &node.op {
            Op::Input(_) | Op::Reshape => continue,
            Op::SoftmaxAxis(_) => {
                let a = node.args[0];
                if !need[a] {
                    continue;
                }
                let al = lit(a);
                quote! {
                    let (__len, __inner) = __st.axes[#il];
                    #fused::softmax_axis_backward(&__st.outs[#il], __g, &mut __lo[#al], __len, __inner);
                }
            }
            Op::User(l) => {
                let f = &g.layers[*l].field;
                let a = node.args[0];
                let gin = grad_in(a);
                quote!(#fused::FusedLayer::backward_rows(#f, __g, #rows, #gin);)
            }
            Op::PRelu(l) => {
                let f = &g.layers[*l].field;
                let a = node.args[0];
                let al = lit(a);
                let gin = grad_in(a);
                quote!(#f.backward(&__st.outs[#al], __g, #gin);)
            }
            Op::Dense(l, act) => {
                let f = &g.layers[*l].field;
                let a = node.args[0];
                let al = lit(a);
                let actt = act_tokens(*act, p);
                let gin = grad_in(a);
                let activity = activity(*l);
                let accumulate = !overwrite[*l];
                quote! {
                    #activity
                    #f.backward_with(&__st.outs[#al], &__st.outs[#il], &__st.pres[#il], __g, #rows, #actt, #gin, #accumulate);
                }
            }
            Op::Conv(l, act) => {
                let f = &g.layers[*l].field;
                let a = node.args[0];
                let al = lit(a);
                let actt = act_tokens(*act, p);
                let gin = grad_in(a);
                let activity = activity(*l);
                quote! {
                    #activity
                    let __b = #fused::rows_in(__st.outs[#il].len(), #f.output_len());
                    #f.backward(&__st.outs[#al], &__st.outs[#il], &__st.pres[#il], __g, __b, #actt, #gin);
                }
            }
            Op::Pool(l) => {
                let f = &g.layers[*l].field;
                if let Some(c) = pairs[i] {
                    let fc = &g.layers[c.layer].field;
                    let (al, gin, actt) = (lit(c.input), grad_in(c.input), act_tokens(c.act, p));
                    quote! {
                        let __b = #fused::rows_in(__st.outs[#il].len(), #f.output_len());
                        #fused::conv_max_pool_backward(#fc, #f, &__st.outs[#al], &__st.outs[#il], __g, __b, #actt, #gin);
                    }
                } else {
                    let a = node.args[0];
                    if !need[a] {
                        continue;
                    }
                    let al = lit(a);
                    quote! {
                        let __b = #fused::rows_in(__st.outs[#il].len(), #f.output_len());
                        #f.backward(__g, __b, &mut __lo[#al]);
                    }
                }
            }
            Op::GlobalAvgPool => {
                let a = node.args[0];
                if !need[a] {
                    continue;
                }
                let al = lit(a);
                let dims = &g.nodes[a].shape;
                let (h, w, c) = (
                    size_tokens(&dims[1].size, p),
                    size_tokens(&dims[2].size, p),
                    size_tokens(&dims[3].size, p),
                );
                quote! {
                    let __b = #fused::rows_in(__st.outs[#il].len(), #c);
                    #fused::global_avg_pool_backward(__g, __b, #h * #w, #c, &mut __lo[#al]);
                }
            }
            Op::Embedding(l, k) => {
                let f = &g.layers[*l].field;
                let kl = lit(*k);
                quote!(#f.backward(&__st.ids[#kl], __g);)
            }
            Op::BatchNorm(l) => {
                let f = &g.layers[*l].field;
                let a = node.args[0];
                let gin = grad_in(a);
                quote!(#f.backward(&__st.pres[#il], &__st.masks[#il], __g, #rows, #gin);)
            }
            Op::Act(act) => {
                let a = node.args[0];
                let al = lit(a);
                let actt = act_tokens(*act, p);
                let acc = need[a].then(|| quote!(#fused::accumulate(__g, &mut __lo[#al]);));
                quote! {
                    #actt.backward_in_place(&__st.outs[#il], &__st.outs[#al], __g, #cols);
                    #acc
                }
            }
            Op::Dropout(_) => {
                let a = node.args[0];
                let al = lit(a);
                quote!(#fused::accumulate_product(__g, &__st.masks[#il], &mut __lo[#al]);)
            }
            Op::Add => {
                let accs = node.args.iter().filter(|&&a| need[a]).map(|&a| {
                    let al = lit(a);
                    quote!(#fused::accumulate(__g, &mut __lo[#al]);)
                });
                quote!(#(#accs)*)
            }
            Op::Multiply => {
                let (a, b) = (node.args[0], node.args[1]);
                let (al, bl) = (lit(a), lit(b));
                let ga = need[a]
                    .then(|| quote!(#fused::accumulate_product(__g, &__st.outs[#bl], &mut __lo[#al]);));
                let gb = need[b]
                    .then(|| quote!(#fused::accumulate_product(__g, &__st.outs[#al], &mut __lo[#bl]);));
                quote!(#ga #gb)
            }
            Op::Concat => {
                let mut offset = quote!(0);
                let mut parts = Vec::new();
                for &a in &node.args {
                    let c = g.nodes[a]
                        .shape
                        .last()
                        .map_or(quote!(1), |d| size_tokens(&d.size, p));
                    if need[a] {
                        let al = lit(a);
                        parts.push(
                            quote!(#fused::concat_backward(__g, #rows, #cols, #offset, #c, &mut __lo[#al]);),
                        );
                    }
                    offset = quote!(#offset + #c);
                }
                quote!(#(#parts)*)
            }
        };
        let lo = if body.to_string().contains("__lo") {
            quote!(__lo)
        } else {
            quote!(_)
        };
        stmts.push(quote! {{
            let (#lo, __g) = #fused::split_mut(&mut __st.grads, #il);
            #body
        }});
    }
    quote! {
        #(#stmts)*
    }
}

/// The dense layers whose backward pass may overwrite their parameters' gradients instead of
/// adding to zeroed ones: applied by exactly one node, which the backward pass visits, and
/// without kernel or bias penalties (whose gradients are added before the nodes run).
fn overwriting_dense_layers(g: &Graph, need: &[bool]) -> Vec<bool> {
    (0..g.layers.len())
        .map(|l| {
            let penalised = super::options::weight_opts(g, l)
                .is_none_or(|o| o.kernel_reg.is_some() || o.bias_reg.is_some());
            let mut uses = g.nodes.iter().enumerate().filter(|(_, n)| match n.op {
                Op::Dense(dl, _) => dl == l,
                _ => false,
            });
            let single = match (uses.next(), uses.next()) {
                (Some((i, _)), None) => need[i],
                _ => false,
            };
            single && !penalised
        })
        .collect()
}
