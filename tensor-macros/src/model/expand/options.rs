//! Expansion of the weight options of dense and convolution layers: the `DenseOptions` value a
//! layer is built with, the
//! regularization loss, the penalty gradients added in `backward`, and the constraints the
//! `Model` impl applies after each optimizer update.

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};

use super::Paths;
use crate::model::check::ir::{ConstraintIr, DenseOpts, Graph, InitIr, Node, Op, ParamKind};

fn f32_lit(v: f64) -> Literal {
    Literal::f32_suffixed(v as f32)
}

fn opt(v: Option<TokenStream>) -> TokenStream {
    match v {
        Some(t) => quote!(::core::option::Option::Some(#t)),
        None => quote!(::core::option::Option::None),
    }
}

fn init_tokens(i: InitIr, p: &Paths) -> TokenStream {
    let fused = &p.fused;
    match i {
        InitIr::Named(n) => {
            let n = format_ident!("{}", n);
            quote!(#fused::Initializer::#n)
        }
        InitIr::Constant(v) => {
            let v = f32_lit(v);
            quote!(#fused::Initializer::Constant(#v))
        }
        InitIr::RandomUniform(a, b) => {
            let (a, b) = (f32_lit(a), f32_lit(b));
            quote!(#fused::Initializer::RandomUniform { min: #a, max: #b })
        }
        InitIr::RandomNormal(a, b) => {
            let (a, b) = (f32_lit(a), f32_lit(b));
            quote!(#fused::Initializer::RandomNormal { mean: #a, stddev: #b })
        }
        InitIr::TruncatedNormal(a, b) => {
            let (a, b) = (f32_lit(a), f32_lit(b));
            quote!(#fused::Initializer::TruncatedNormal { mean: #a, stddev: #b })
        }
    }
}

fn reg_tokens(r: (f64, f64), p: &Paths) -> TokenStream {
    let fused = &p.fused;
    let (l1, l2) = (f32_lit(r.0), f32_lit(r.1));
    quote!(#fused::Regularizer { l1: #l1, l2: #l2 })
}

fn constraint_tokens(c: ConstraintIr, p: &Paths) -> TokenStream {
    let fused = &p.fused;
    match c {
        ConstraintIr::MaxNorm(v) => {
            let v = f32_lit(v);
            quote!(#fused::WeightConstraint::MaxNorm(#v))
        }
        ConstraintIr::NonNeg => quote!(#fused::WeightConstraint::NonNeg),
        ConstraintIr::UnitNorm => quote!(#fused::WeightConstraint::UnitNorm),
    }
}

/// The `DenseOptions` value of a layer.
pub fn options_tokens(o: &DenseOpts, p: &Paths) -> TokenStream {
    let fused = &p.fused;
    let ki = opt(o.kernel_init.map(|i| init_tokens(i, p)));
    let bi = opt(o.bias_init.map(|i| init_tokens(i, p)));
    let kr = opt(o.kernel_reg.map(|r| reg_tokens(r, p)));
    let br = opt(o.bias_reg.map(|r| reg_tokens(r, p)));
    let ar = opt(o.activity_reg.map(|r| reg_tokens(r, p)));
    let kc = opt(o.kernel_constraint.map(|c| constraint_tokens(c, p)));
    let bc = opt(o.bias_constraint.map(|c| constraint_tokens(c, p)));
    quote! {
        #fused::DenseOptions {
            kernel_initializer: #ki,
            bias_initializer: #bi,
            kernel_regularizer: #kr,
            bias_regularizer: #br,
            activity_regularizer: #ar,
            kernel_constraint: #kc,
            bias_constraint: #bc,
        }
    }
}

/// The weight options of a layer, when it is a dense or convolution layer.
pub fn weight_opts(g: &Graph, l: usize) -> Option<&DenseOpts> {
    match &g.layers[l].kind {
        ParamKind::Dense { opts, .. } | ParamKind::Conv2D { opts, .. } => Some(opts),
        _ => None,
    }
}

/// The batch size an activity penalty of `node` is divided by (Keras 3: the output's first
/// dim), read from the state of the last forward pass.
pub fn batch_tokens(node: &Node, state: TokenStream, p: &Paths) -> TokenStream {
    if node.lead >= 1 {
        let s = Literal::usize_unsuffixed(node.src);
        quote!(#state.batch[#s])
    } else {
        node.shape
            .first()
            .map_or(quote!(1), |d| super::size_tokens(&d.size, p))
    }
}

/// The body of the generic `regularization_loss` (an `f64`).
pub fn loss_body(g: &Graph, p: &Paths) -> TokenStream {
    let fused = &p.fused;
    let mut terms = Vec::new();
    for (l, layer) in g.layers.iter().enumerate() {
        if let Some(o) = weight_opts(g, l) {
            if o.kernel_reg.is_some() || o.bias_reg.is_some() {
                let f = &layer.field;
                terms.push(quote!(+ self.#f.options.weight_penalty(&self.#f.kernel, self.#f.bias.as_ref())));
            }
        }
    }
    for layer in g.layers.iter().filter(|l| l.ty.is_some()) {
        let f = &layer.field;
        terms.push(quote!(+ #fused::FusedLayer::layer_regularization_loss(&self.#f)));
    }
    for (i, node) in g.nodes.iter().enumerate() {
        if let Op::Dense(l, _) | Op::Conv(l, _) = node.op {
            if weight_opts(g, l).is_some_and(|o| o.activity_reg.is_some()) {
                let f = &g.layers[l].field;
                let il = Literal::usize_unsuffixed(i);
                let batch = batch_tokens(node, quote!(self.__state), p);
                terms.push(quote!(+ self.#f.options.activity_penalty(&self.__state.outs[#il], #batch)));
            }
        }
    }
    quote!(0.0f64 #(#terms)*)
}

/// Statements of `backward` adding the weight penalties' gradients.
pub fn penalty_gradients(g: &Graph) -> Vec<TokenStream> {
    g.layers
        .iter()
        .enumerate()
        .filter(|(l, _)| weight_opts(g, *l).is_some_and(|o| o.kernel_reg.is_some() || o.bias_reg.is_some()))
        .map(|(_, layer)| {
            let f = &layer.field;
            quote!(#f.options.add_weight_penalty_gradients(&mut #f.kernel, #f.bias.as_mut());)
        })
        .collect()
}

/// The `Model::apply_constraints` method, when a layer has a constraint.
pub fn constraints_method(g: &Graph, p: &Paths) -> TokenStream {
    let fused = &p.fused;
    let calls: Vec<TokenStream> = g
        .layers
        .iter()
        .enumerate()
        .filter(|(l, _)| {
            weight_opts(g, *l).is_some_and(|o| o.kernel_constraint.is_some() || o.bias_constraint.is_some())
        })
        .map(|(_, layer)| {
            let f = &layer.field;
            quote!(self.#f.apply_constraints()?;)
        })
        .collect();
    if calls.is_empty() {
        return quote!();
    }
    quote! {
        fn apply_constraints(&mut self) -> ::core::result::Result<(), #fused::NnError> {
            #(#calls)*
            ::core::result::Result::Ok(())
        }
    }
}
