//! The forward pass, one statement per node: dense layers call the GEMM with the bias and the
//! activation applied right after it; buffers live in the model's `State` and are reused.

use proc_macro2::{Literal, TokenStream};
use quote::quote;

use super::{act_tokens, size_tokens, Paths};
use crate::model::check::ir::{Act, Graph, Op};

/// Statements computing every node, then the output expression. Expects `__st` (the state),
/// the layer fields as locals, the inputs by name, and `__rng` when `training` has dropout.
pub fn body(g: &Graph, p: &Paths, training: bool) -> TokenStream {
    let fused = &p.fused;
    let mut stmts = Vec::new();
    // In training, a convolution whose output only a max pooling reads runs inside the pooling.
    let pairs = if training {
        super::image::fused_conv_pools(g)
    } else {
        vec![None; g.nodes.len()]
    };
    let fused_conv = super::image::fused_convs(&pairs);
    for (i, node) in g.nodes.iter().enumerate() {
        if fused_conv[i] {
            continue;
        }
        let il = Literal::usize_unsuffixed(i);
        // Operands are read from their buffers (a reshape shares its operand's).
        let arg = |k: usize| Literal::usize_unsuffixed(g.buffer(node.args[k]));
        // Rows of the node's first operand: its buffer length over its last dim's size.
        let rows_decl = node.args.first().map(|&a| {
            let c = g.nodes[a]
                .shape
                .last()
                .map_or(quote!(1), |d| size_tokens(&d.size, p));
            let al = Literal::usize_unsuffixed(g.buffer(a));
            quote!(let __rows = #fused::rows_in(__st.outs[#al].len(), #c);)
        });
        let cols = node.shape.last().map_or(quote!(1), |d| size_tokens(&d.size, p));
        let stmt = match &node.op {
            Op::Input(k) if g.inputs[*k].ids => {
                let x = &g.inputs[*k].name;
                quote! {
                    #fused::load_ids(#x, &mut __st.ids[#il]);
                    __st.batch[#il] = #fused::first_len(#x);
                }
            }
            Op::Input(k) => {
                let x = &g.inputs[*k].name;
                quote! {
                    #fused::load_input(#x, &mut __st.outs[#il]);
                    __st.batch[#il] = #fused::first_len(#x);
                }
            }
            Op::Embedding(l, k) => {
                let f = &g.layers[*l].field;
                let kl = Literal::usize_unsuffixed(*k);
                quote! {{
                    let (_, __out) = #fused::split(&mut __st.outs, #il);
                    #f.forward(&__st.ids[#kl], __out);
                }}
            }
            Op::Dense(l, act) => {
                let f = &g.layers[*l].field;
                let a = arg(0);
                let actt = act_tokens(*act, p);
                let pre = if training && *act == Act::Gelu {
                    quote!(::core::option::Option::Some(&mut __st.pres[#il]))
                } else {
                    quote!(::core::option::Option::None)
                };
                quote! {{
                    #rows_decl
                    let (__prev, __out) = #fused::split(&mut __st.outs, #il);
                    #f.forward(&__prev[#a], __rows, #actt, __out, #pre);
                }}
            }
            Op::Conv(l, act) => {
                let f = &g.layers[*l].field;
                let a = arg(0);
                let actt = act_tokens(*act, p);
                let call = if training {
                    let pre = if *act == Act::Gelu {
                        quote!(::core::option::Option::Some(&mut __st.pres[#il]))
                    } else {
                        quote!(::core::option::Option::None)
                    };
                    quote!(#f.forward_train(&__prev[#a], __b, #actt, __out, #pre);)
                } else {
                    quote!(#f.forward(&__prev[#a], __b, #actt, __out);)
                };
                quote! {{
                    let (__prev, __out) = #fused::split(&mut __st.outs, #il);
                    let __b = #fused::rows_in(__prev[#a].len(), #f.input_len());
                    #call
                }}
            }
            Op::Pool(l) => {
                let f = &g.layers[*l].field;
                match pairs[i] {
                    Some(c) => {
                        let fc = &g.layers[c.layer].field;
                        let a = Literal::usize_unsuffixed(g.buffer(c.input));
                        let actt = act_tokens(c.act, p);
                        quote! {{
                            let (__prev, __out) = #fused::split(&mut __st.outs, #il);
                            let __b = #fused::rows_in(__prev[#a].len(), #fc.input_len());
                            #fused::conv_max_pool_train(#fc, #f, &__prev[#a], __b, #actt, __out);
                        }}
                    }
                    None => {
                        let a = arg(0);
                        let call = if training {
                            quote!(#f.forward_train(&__prev[#a], __b, __out);)
                        } else {
                            quote!(#f.forward(&__prev[#a], __b, __out);)
                        };
                        quote! {{
                            let (__prev, __out) = #fused::split(&mut __st.outs, #il);
                            let __b = #fused::rows_in(__prev[#a].len(), #f.input_len());
                            #call
                        }}
                    }
                }
            }
            Op::GlobalAvgPool => {
                let a = arg(0);
                let dims = &g.nodes[node.args[0]].shape;
                let (h, w, c) = (
                    size_tokens(&dims[1].size, p),
                    size_tokens(&dims[2].size, p),
                    size_tokens(&dims[3].size, p),
                );
                quote! {{
                    let (__prev, __out) = #fused::split(&mut __st.outs, #il);
                    let __cells = #h * #w;
                    let __b = #fused::rows_in(__prev[#a].len(), __cells * #c);
                    #fused::global_avg_pool_forward(&__prev[#a], __b, __cells, #c, __out);
                }}
            }
            Op::BatchNorm(l) => {
                let f = &g.layers[*l].field;
                let a = arg(0);
                if training {
                    quote! {{
                        #rows_decl
                    let (__prev, __out) = #fused::split(&mut __st.outs, #il);
                        #f.forward_train(&__prev[#a], __rows, __out, &mut __st.pres[#il], &mut __st.masks[#il]);
                    }}
                } else {
                    quote! {{
                        #rows_decl
                    let (__prev, __out) = #fused::split(&mut __st.outs, #il);
                        #f.forward_inference(&__prev[#a], __out);
                    }}
                }
            }
            Op::Act(act) => {
                let a = arg(0);
                let actt = act_tokens(*act, p);
                quote! {{
                    #rows_decl
                    let (__prev, __out) = #fused::split(&mut __st.outs, #il);
                    #fused::copy_into(&__prev[#a], __out);
                    #actt.forward_in_place(__out, #cols);
                }}
            }
            Op::Dropout(rate) => {
                let a = arg(0);
                let rng = if training {
                    quote!(::core::option::Option::Some(&mut *__rng))
                } else {
                    quote!(::core::option::Option::None)
                };
                quote! {{
                    #rows_decl
                    let (__prev, __out) = #fused::split(&mut __st.outs, #il);
                    #fused::dropout_forward(&__prev[#a], #rate, #rng, &mut __st.masks[#il], __out);
                }}
            }
            Op::Add | Op::Multiply => {
                let (a, b) = (arg(0), arg(1));
                let f = if matches!(node.op, Op::Add) {
                    quote!(add_forward)
                } else {
                    quote!(multiply_forward)
                };
                quote! {{
                    #rows_decl
                    let (__prev, __out) = #fused::split(&mut __st.outs, #il);
                    #fused::#f(&__prev[#a], &__prev[#b], __out);
                }}
            }
            Op::Reshape => continue,
            Op::SoftmaxAxis(k) => {
                let a = arg(0);
                let x = &g.inputs[node.src].name;
                // Each dim's length: the input's for the leading ones, static after them.
                let len = |j: usize| {
                    if j < node.lead {
                        quote!(#x.dims()[#j])
                    } else {
                        size_tokens(&node.shape[j].size, p)
                    }
                };
                let axis = len(*k);
                let inner = (k + 1..node.shape.len()).map(len);
                quote! {{
                    __st.axes[#il] = (#axis, 1 #(* #inner)*);
                    let (__len, __inner) = __st.axes[#il];
                    let (__prev, __out) = #fused::split(&mut __st.outs, #il);
                    #fused::softmax_axis_forward(&__prev[#a], __out, __len, __inner);
                }}
            }
            Op::User(l) => {
                let f = &g.layers[*l].field;
                let a = arg(0);
                let call = if training {
                    quote!(forward_train_rows)
                } else {
                    quote!(forward_rows)
                };
                quote! {{
                    #rows_decl
                    let (__prev, __out) = #fused::split(&mut __st.outs, #il);
                    #fused::FusedLayer::#call(#f, &__prev[#a], __rows, __out);
                }}
            }
            Op::PRelu(l) => {
                let f = &g.layers[*l].field;
                let a = arg(0);
                quote! {{
                    let (__prev, __out) = #fused::split(&mut __st.outs, #il);
                    #f.forward(&__prev[#a], __out);
                }}
            }
            Op::Concat => {
                let parts = node.args.iter().map(|&a| {
                    let c = g.nodes[a]
                        .shape
                        .last()
                        .map_or(quote!(1), |d| size_tokens(&d.size, p));
                    let a = Literal::usize_unsuffixed(g.buffer(a));
                    quote!((__prev[#a].as_slice(), #c))
                });
                quote! {{
                    #rows_decl
                    let (__prev, __out) = #fused::split(&mut __st.outs, #il);
                    #fused::concat_forward(__rows, &[#(#parts),*], __out);
                }}
            }
        };
        stmts.push(stmt);
    }
    let lead_checks = g.lead_checks.iter().map(|&(a, b, lead)| {
        let (ia, ib) = (&g.inputs[a], &g.inputs[b]);
        let (xa, xb) = (&ia.name, &ib.name);
        let (sa, sb) = (xa.to_string(), xb.to_string());
        let names = ia.dims[..lead].iter().map(|d| d.to_string());
        quote! {
            #fused::check_same_lead([#sa, #sb], [&#xa.dims()[..#lead], &#xb.dims()[..#lead]], &[#(#names),*]);
        }
    });
    let outs: Vec<TokenStream> = g
        .outputs
        .iter()
        .map(|o| {
            let node = &g.nodes[o.node];
            let n = Literal::usize_unsuffixed(g.buffer(o.node));
            let x = &g.inputs[node.src].name;
            let lead = node.lead;
            let tail = node.shape[lead..].iter().map(|d| size_tokens(&d.size, p));
            quote!(#fused::output_tensor(&__st.outs[#n], &#x.dims()[..#lead], &[#(#tail),*]))
        })
        .collect();
    let result = match &outs[..] {
        [one] => one.clone(),
        many => quote!((#(#many),*)),
    };
    quote! {
        #(#lead_checks)*
        #(#stmts)*
        #result
    }
}
