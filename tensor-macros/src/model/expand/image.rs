//! Expansion of the image layers' constructors: `fused::Conv2D::new` (plain and depthwise)
//! and `fused::Pool2D::new`, with their window, strides, padding, dilation and groups.

use proc_macro2::TokenStream;
use quote::quote;

use super::{options, size_tokens, Paths};
use crate::model::check::ir::{Act, Graph, Op, ParamKind};

/// `Padding::Same`, `Padding::Valid` or `Padding::Explicit { .. }`.
fn padding_tokens(same: bool, pad: Option<[[usize; 2]; 2]>, p: &Paths) -> TokenStream {
    let fused = &p.fused;
    match pad {
        Some([[top, bottom], [left, right]]) => quote!(#fused::Padding::Explicit {
            top: #top,
            bottom: #bottom,
            left: #left,
            right: #right,
        }),
        None if same => quote!(#fused::Padding::Same),
        None => quote!(#fused::Padding::Valid),
    }
}

/// The constructor call of image layer `li` (a convolution or a pooling; nothing for the
/// others), whose input channels and output channels have sizes `inputs` and `units`.
pub fn init_tokens(
    g: &Graph,
    li: usize,
    inputs: &TokenStream,
    units: &TokenStream,
    p: &Paths,
) -> TokenStream {
    let fused = &p.fused;
    let fs = g.layers[li].field.to_string();
    // `[h, w, c]` of the images the layer reads (from the node that applies it).
    let node = g
        .nodes
        .iter()
        .find(|n| matches!(n.op, Op::Conv(k, _) | Op::Pool(k) if k == li));
    let dims = node.map(|n| &g.nodes[n.args[0]].shape[1..]).unwrap_or(&[]);
    let sizes = dims.iter().map(|d| size_tokens(&d.size, p));
    let hwc = quote!([#(#sizes),*]);
    match g.layers[li].kind {
        ParamKind::Conv2D {
            kernel: [kh, kw],
            stride: [sh, sw],
            same,
            dilation: [dh, dw],
            bias,
            depthwise,
            groups,
            pad,
            opts,
        } => {
            let groups = if depthwise {
                inputs.clone()
            } else {
                quote!(#groups)
            };
            let padding = padding_tokens(same, pad, p);
            let o = options::options_tokens(&opts, p);
            quote!(#fused::Conv2D::new(#fs, #hwc, #units, [#kh, #kw], #fused::Conv2d {
                stride: (#sh, #sw),
                padding: #padding,
                dilation: (#dh, #dw),
                groups: #groups,
            }, #bias, #o, &mut __init))
        }
        ParamKind::Pool {
            max,
            pool: [ph, pw],
            stride: [sh, sw],
            same,
            pad,
        } => {
            let kind = if max { quote!(Max) } else { quote!(Average) };
            let padding = padding_tokens(same, pad, p);
            quote!(#fused::Pool2D::new(#fused::PoolKind::#kind, #hwc, #fused::Pool2d {
                pool: (#ph, #pw),
                stride: ::core::option::Option::Some((#sh, #sw)),
                padding: #padding,
            }))
        }
        _ => quote!(),
    }
}

/// A convolution that the training step runs inside the max pooling reading it.
#[derive(Clone, Copy)]
pub struct FusedConv {
    /// The convolution's node.
    pub node: usize,
    /// Its layer (index into `Graph::layers`).
    pub layer: usize,
    /// Its activation (ReLU or linear).
    pub act: Act,
    /// The node it reads.
    pub input: usize,
}

/// For each node: the convolution that the training step fuses into it when the node is a
/// max pooling that alone reads a convolution with ReLU or no activation, no activity penalty,
/// and an output that is not a model output (`fused::conv_max_pool_train` / `_backward`: the
/// convolution's output is then never stored).
pub fn fused_conv_pools(g: &Graph) -> Vec<Option<FusedConv>> {
    let mut readers = vec![0usize; g.nodes.len()];
    for n in &g.nodes {
        for &a in &n.args {
            readers[a] += 1;
        }
    }
    for o in &g.outputs {
        readers[o.node] += 1;
    }
    g.nodes
        .iter()
        .map(|n| {
            let Op::Pool(lp) = n.op else { return None };
            if !matches!(g.layers[lp].kind, ParamKind::Pool { max: true, .. }) {
                return None;
            }
            let c = n.args[0];
            let Op::Conv(l, act) = g.nodes[c].op else {
                return None;
            };
            let activity = options::weight_opts(g, l).is_some_and(|o| o.activity_reg.is_some());
            (matches!(act, Act::Relu | Act::Linear) && readers[c] == 1 && !activity).then_some(FusedConv {
                node: c,
                layer: l,
                act,
                input: g.nodes[c].args[0],
            })
        })
        .collect()
}

/// Whether each node is a convolution fused into the max pooling that reads it (see
/// [`fused_conv_pools`]).
pub fn fused_convs(pairs: &[Option<FusedConv>]) -> Vec<bool> {
    let mut fused = vec![false; pairs.len()];
    for c in pairs.iter().flatten() {
        fused[c.node] = true;
    }
    fused
}
