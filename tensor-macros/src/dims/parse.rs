//! Parsing of `dims! { [crate = path;] [attrs] [vis] Name [= size]; ... }`.

use syn::parse::{Parse, ParseStream};
use syn::{Attribute, Ident, LitInt, Path, Token, Visibility};

/// One declared dimension.
pub struct DimDecl {
    /// Outer attributes (doc comments) to forward.
    pub attrs: Vec<Attribute>,
    /// Visibility; `pub` when none is written.
    pub vis: Option<Visibility>,
    /// The dimension's name.
    pub name: Ident,
    /// The static size literal, when given.
    pub size: Option<LitInt>,
}

/// The whole macro input.
pub struct DimsInput {
    /// Path of the crate that exports `Dim` (`::dimflow::__private` by default).
    pub krate: Option<Path>,
    /// The declarations.
    pub dims: Vec<DimDecl>,
}

impl Parse for DimsInput {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut krate = None;
        if input.peek(Token![crate]) && input.peek2(Token![=]) {
            input.parse::<Token![crate]>()?;
            input.parse::<Token![=]>()?;
            krate = Some(input.parse::<Path>()?);
            input.parse::<Token![;]>()?;
        }
        let mut dims = Vec::new();
        while !input.is_empty() {
            let attrs = input.call(Attribute::parse_outer)?;
            let vis: Visibility = input.parse()?;
            let vis = if matches!(vis, Visibility::Inherited) {
                None
            } else {
                Some(vis)
            };
            let name: Ident = input.parse().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    "expected a dimension: `Name;` (run-time size) or `Name = 128;` (static size)",
                )
            })?;
            let size = if input.peek(Token![=]) {
                input.parse::<Token![=]>()?;
                Some(input.parse::<LitInt>().map_err(|e| {
                    syn::Error::new(e.span(), format!("expected the static size of `{name}` as an integer literal, e.g. `{name} = 128;`"))
                })?)
            } else {
                None
            };
            if !input.is_empty() {
                input.parse::<Token![;]>().map_err(|e| {
                    syn::Error::new(
                        e.span(),
                        format!("expected `;` after the declaration of `{name}`"),
                    )
                })?;
            }
            dims.push(DimDecl {
                attrs,
                vis,
                name,
                size,
            });
        }
        Ok(DimsInput { krate, dims })
    }
}
