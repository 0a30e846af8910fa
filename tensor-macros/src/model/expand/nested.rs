//! Nesting: the checks an outer model emits for the layers it cannot see (`SameDim`
//! assertions naming both dims, on the user's tokens), and the `FusedLayer` impl every eligible
//! model gets so that other models can use it as a layer.

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote, quote_spanned};

use super::{respan, size_tokens, Paths};
use crate::model::ast::ModelInput;
use crate::model::check::ir::Graph;

/// Const items checking every nested model or user layer: it implements `FusedLayer`, reads
/// the dim the graph feeds it and makes the dim written after it.
pub fn layer_checks(g: &Graph, p: &Paths) -> TokenStream {
    let (krate, fused) = (&p.krate, &p.fused);
    let items = g.layer_checks.iter().map(|c| {
        let ty = &c.ty;
        let side = if c.input {
            format_ident!("InFeatures")
        } else {
            format_ident!("OutFeatures")
        };
        let proj = respan(quote!(<#ty<f32> as #fused::FusedLayer<f32>>::#side), c.span);
        let check = match (&c.dim.ident, c.input) {
            (Some(d), true) => {
                // Point at the layer, where the dim is read, not where it was made.
                let d = syn::Ident::new(&d.to_string(), c.span);
                let f = respan(quote!(#krate::assert_same_dim), c.span);
                quote_spanned!(c.span=> #f::<#d, #proj>())
            }
            (Some(d), false) => {
                let f = respan(quote!(#krate::assert_same_dim), c.span);
                quote_spanned!(c.span=> #f::<#proj, #d>())
            }
            (None, _) => {
                // A dim without a type (a concat or a flatten): compare sizes.
                let n = size_tokens(&c.dim.size, p);
                let what = format!("the last dim `{}` that `{}` reads", c.dim.name, c.layer);
                let f = respan(quote!(#fused::require_size), c.span);
                quote_spanned!(c.span=> #f::<#proj>(#n, #what))
            }
        };
        quote_spanned!(c.span=> const _: () = #check;)
    });
    quote!(#(#items)*)
}

/// The `FusedLayer` impl of a model with one float input `[B, In]` and one output `[B, Out]`
/// (same first dim), plus the backward pass that also yields the input's gradient.
pub fn fused_layer_impl(input: &ModelInput, g: &Graph, p: &Paths) -> TokenStream {
    let (krate, fused) = (&p.krate, &p.fused);
    let ([i], [o]) = (&g.inputs[..], &g.outputs[..]) else {
        return quote!();
    };
    if i.ids || i.dims.len() != 2 || o.dims.len() != 2 || i.dims[0] != o.dims[0] {
        return quote!();
    }
    let name = &input.name;
    let (b, fin, fout) = (&i.dims[0], &i.dims[1], &o.dims[1]);
    let grad = format_ident!("grad");
    let body = super::backward::body(g, p, std::slice::from_ref(&grad), true);
    let fields = g.layers.iter().map(|l| &l.field);
    let zero = Literal::usize_unsuffixed(0);
    quote! {
        impl<__F: #krate::Float> #name<__F> {
            /// The backward pass, also computing ∂L/∂input (into the state), for use as a layer.
            #[doc(hidden)]
            pub fn __backward_with_input(&mut self, #grad: &#krate::Tensor<(#b, #fout), __F>) {
                let Self { #(#fields,)* __state: __st, .. } = self;
                #body
            }
        }

        impl<__F: #krate::Float> #fused::FusedLayer<__F> for #name<__F> {
            type InFeatures = #fin;
            type OutFeatures = #fout;

            fn build(seed: u64) -> Self {
                Self::init(seed)
            }

            fn forward_rows(&self, x: &[__F], rows: usize, out: &mut ::std::vec::Vec<__F>) {
                let __x = #fused::rows_tensor::<(#b, #fin), __F>(x, rows);
                #fused::load_input(&self.forward(&__x), out);
            }

            fn forward_train_rows(&mut self, x: &[__F], rows: usize, out: &mut ::std::vec::Vec<__F>) {
                let __x = #fused::rows_tensor::<(#b, #fin), __F>(x, rows);
                #fused::load_input(&self.forward_train(&__x), out);
            }

            fn backward_rows(&mut self, grad: &[__F], rows: usize, grad_in: ::core::option::Option<&mut [__F]>) {
                let __g = #fused::rows_tensor::<(#b, #fout), __F>(grad, rows);
                self.__backward_with_input(&__g);
                if let ::core::option::Option::Some(__gi) = grad_in {
                    #fused::accumulate(&self.__state.grads[#zero], __gi);
                }
            }

            fn layer_params(&self) -> ::std::vec::Vec<&#fused::Param<__F>> {
                self.parameters()
            }

            fn layer_params_mut(&mut self) -> ::std::vec::Vec<&mut #fused::Param<__F>> {
                self.parameters_mut()
            }

            fn layer_regularization_loss(&self) -> f64 {
                #name::<__F>::regularization_loss(self)
            }
        }
    }
}
