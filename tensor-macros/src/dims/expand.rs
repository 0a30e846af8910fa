//! Expansion of `dims!`: one unit struct and one `Dim` impl per declaration.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};

use super::parse::DimsInput;

/// Generates the declarations.
pub fn expand(input: &DimsInput) -> TokenStream {
    let krate = match &input.krate {
        Some(p) => quote!(#p),
        None => quote!(::dimflow::__private),
    };
    let items = input.dims.iter().map(|d| {
        let name = &d.name;
        let name_str = name.to_string();
        let attrs = &d.attrs;
        let vis = match &d.vis {
            Some(v) => quote!(#v),
            None => quote!(pub),
        };
        let (size, doc) = match &d.size {
            Some(lit) => (
                quote!(::core::option::Option::Some(#lit)),
                format!("Dimension `{name_str}` of static size {lit}."),
            ),
            None => (
                quote!(::core::option::Option::None),
                format!("Dimension `{name_str}`, sized at run time."),
            ),
        };
        let doc_attr = if attrs.iter().any(|a| a.path().is_ident("doc")) {
            quote!()
        } else {
            quote!(#[doc = #doc])
        };
        // Spanned on the dim's name, so rustc's notes about a dim point at its declaration.
        quote_spanned! {name.span()=>
            #(#attrs)*
            #doc_attr
            #[derive(::core::clone::Clone, ::core::marker::Copy, ::core::fmt::Debug, ::core::default::Default,
                     ::core::cmp::PartialEq, ::core::cmp::Eq, ::core::hash::Hash)]
            #vis struct #name;
            impl #krate::Dim for #name {
                const NAME: &'static str = #name_str;
                const SIZE: ::core::option::Option<usize> = #size;
            }
        }
    });
    quote!(#(#items)*)
}
