//! What `model!` emits when the input has errors: the errors, plus a minimal struct with the
//! declared name and signatures (bodies unreachable, since compilation fails), so that code
//! using the model reports nothing further: one error per mistake, not a cascade.

use proc_macro2::TokenStream;
use quote::quote;

use super::ast::{Body, ModelInput};
use super::expand::{tensor_type, Paths};

/// The stand-in for a model that failed its checks.
pub fn fallback(input: &ModelInput) -> TokenStream {
    let p = Paths::new(input);
    let krate = &p.krate;
    let name = &input.name;
    let vis = &input.vis;
    let f = quote!(__F);
    let (ins, outs): (Vec<TokenStream>, Vec<TokenStream>) = match &input.body {
        Body::Sequential { input, output, .. } => {
            let t = tensor_type(&input.dims, &f, &p);
            (vec![quote!(x: &#t)], vec![tensor_type(&output.dims, &f, &p)])
        }
        Body::Functional { inputs, outputs, .. } => (
            inputs
                .iter()
                .map(|i| {
                    let n = &i.name;
                    let t = tensor_type(&i.shape.dims, &f, &p);
                    quote!(#n: &#t)
                })
                .collect(),
            outputs
                .iter()
                .map(|o| tensor_type(&o.shape.dims, &f, &p))
                .collect(),
        ),
    };
    let out = match &outs[..] {
        [one] => one.clone(),
        many => quote!((#(#many),*)),
    };
    quote! {
        #[allow(dead_code, unused_variables)]
        #vis struct #name<__F: #krate::Float = f32>(::core::marker::PhantomData<__F>);
        #[allow(dead_code, unused_variables, clippy::all)]
        impl #name<f32> {
            #vis fn new(seed: u64) -> Self {
                ::core::unreachable!()
            }
        }
        #[allow(dead_code, unused_variables, clippy::all)]
        impl<__F: #krate::Float> #name<__F> {
            #vis fn init(seed: u64) -> Self {
                ::core::unreachable!()
            }
            #vis fn forward(&self, #(#ins),*) -> #out {
                ::core::unreachable!()
            }
        }
    }
}
