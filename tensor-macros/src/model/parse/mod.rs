//! Parsing of `model!` input into the [`ast`](super::ast). Malformed input fails with a message
//! that shows the expected form.

mod graph;
mod layer;

use syn::parse::{Parse, ParseStream};
use syn::{braced, bracketed, parenthesized, Attribute, Ident, Path, Token, Visibility};

use super::ast::{Body, ModelInput, Port, ShapeSpec};

pub use layer::parse_layer;

/// The two accepted forms, shown when the header is malformed.
pub const EXPECTED_FORMS: &str = "expected `struct Name: [Batch, Pixels] -> [Batch, Classes] { Dense(Hidden), Relu, Dense(Classes) }` \
(sequential) or `struct Name(x: [Batch, Pixels]) -> (y: [Batch, Classes]) { y = x >> Dense(Classes); }` (functional)";

fn expected<T>(span: proc_macro2::Span, what: &str) -> syn::Result<T> {
    Err(syn::Error::new(span, what))
}

impl Parse for ModelInput {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut krate = None;
        if input.peek(Token![crate]) && input.peek2(Token![=]) {
            input.parse::<Token![crate]>()?;
            input.parse::<Token![=]>()?;
            krate = Some(input.parse::<Path>()?);
            input.parse::<Token![;]>()?;
        }
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        if !input.peek(Token![struct]) {
            return expected(input.span(), EXPECTED_FORMS);
        }
        input.parse::<Token![struct]>()?;
        let name: Ident = input
            .parse()
            .map_err(|e| syn::Error::new(e.span(), EXPECTED_FORMS))?;
        let body = if input.peek(Token![:]) {
            input.parse::<Token![:]>()?;
            let in_shape = parse_shape(input)?;
            parse_arrow(input)?;
            let out_shape = parse_shape(input)?;
            if !input.peek(syn::token::Brace) {
                return expected(
                    input.span(),
                    "expected the layers in braces after the output shape: `{ Dense(Hidden), Relu, Dense(Classes) }`",
                );
            }
            let content;
            braced!(content in input);
            let mut layers = Vec::new();
            while !content.is_empty() {
                layers.push(parse_layer(&content)?);
                if content.is_empty() {
                    break;
                }
                if !content.peek(Token![,]) {
                    return expected(
                        content.span(),
                        "expected `,` between layers: `{ Dense(Hidden), Relu, Dense(Classes) }`",
                    );
                }
                content.parse::<Token![,]>()?;
            }
            Body::Sequential {
                input: in_shape,
                output: out_shape,
                layers,
            }
        } else if input.peek(syn::token::Paren) {
            let inputs = parse_ports(input, "inputs")?;
            parse_arrow(input)?;
            if !input.peek(syn::token::Paren) {
                return expected(
                    input.span(),
                    "expected the named outputs in parentheses: `-> (y: [Batch, Classes])`",
                );
            }
            let outputs = parse_ports(input, "outputs")?;
            if !input.peek(syn::token::Brace) {
                return expected(
                    input.span(),
                    "expected the graph in braces: `{ let h = x >> Dense(H = 64) >> Relu; y = h >> Dense(Classes); }`",
                );
            }
            let content;
            braced!(content in input);
            let stmts = graph::parse_stmts(&content)?;
            Body::Functional {
                inputs,
                outputs,
                stmts,
            }
        } else {
            return expected(input.span(), EXPECTED_FORMS);
        };
        if !input.is_empty() {
            return expected(
                input.span(),
                "unexpected tokens after the model; declare one model per `model!`",
            );
        }
        Ok(ModelInput {
            krate,
            attrs,
            vis,
            name,
            body,
        })
    }
}

fn parse_arrow(input: ParseStream) -> syn::Result<()> {
    if !input.peek(Token![->]) {
        return expected(
            input.span(),
            "expected `->` between the input and the output shapes: `[Batch, Pixels] -> [Batch, Classes]`",
        );
    }
    input.parse::<Token![->]>()?;
    Ok(())
}

/// `[Batch, Pixels]`.
pub fn parse_shape(input: ParseStream) -> syn::Result<ShapeSpec> {
    if !input.peek(syn::token::Bracket) {
        return expected(
            input.span(),
            "expected a shape in brackets, e.g. `[Batch, Pixels]`",
        );
    }
    let content;
    let bracket = bracketed!(content in input);
    let mut dims = Vec::new();
    while !content.is_empty() {
        let d: Ident = content.parse().map_err(|e| {
            syn::Error::new(
                e.span(),
                "expected a dimension name; a shape is written `[Batch, Pixels]`",
            )
        })?;
        dims.push(d);
        if content.is_empty() {
            break;
        }
        if !content.peek(Token![,]) {
            return expected(
                content.span(),
                "expected `,` between dimensions: `[Batch, Pixels]`",
            );
        }
        content.parse::<Token![,]>()?;
    }
    Ok(ShapeSpec {
        span: bracket.span.join(),
        dims,
    })
}

fn parse_ports(input: ParseStream, what: &str) -> syn::Result<Vec<Port>> {
    let content;
    parenthesized!(content in input);
    let mut ports = Vec::new();
    while !content.is_empty() {
        let name: Ident = content.parse().map_err(|e| {
            syn::Error::new(
                e.span(),
                format!("expected named {what}: `(x: [Batch, Pixels], ...)`"),
            )
        })?;
        if !content.peek(Token![:]) {
            return expected(
                content.span(),
                &format!("expected `:` and a shape after `{name}`: `{name}: [Batch, Pixels]`"),
            );
        }
        content.parse::<Token![:]>()?;
        let shape = parse_shape(&content)?;
        ports.push(Port { name, shape });
        if content.is_empty() {
            break;
        }
        if !content.peek(Token![,]) {
            return expected(content.span(), &format!("expected `,` between {what}"));
        }
        content.parse::<Token![,]>()?;
    }
    Ok(ports)
}
