//! Parsing of one layer expression: `Kind` or `Kind(arg, key = value, ...)`.

use syn::parse::ParseStream;
use syn::{parenthesized, Ident, Lit, Token};

use crate::model::ast::{Arg, ArgValue, LayerSpec};

const LAYER_FORM: &str =
    "expected a layer such as `Dense(Hidden)`, `Dense(H1 = 256)`, `Relu` or `Dropout(0.2)`";

/// Parses `Kind` or `Kind(args)`.
pub fn parse_layer(input: ParseStream) -> syn::Result<LayerSpec> {
    let kind: Ident = input.parse().map_err(|e| syn::Error::new(e.span(), LAYER_FORM))?;
    let span = kind.span();
    let mut end = span;
    let args = if input.peek(syn::token::Paren) {
        let content;
        let paren = parenthesized!(content in input);
        end = paren.span.close();
        let mut args = Vec::new();
        while !content.is_empty() {
            args.push(parse_arg(&content, &kind)?);
            if content.is_empty() {
                break;
            }
            if !content.peek(Token![,]) {
                return Err(syn::Error::new(
                    content.span(),
                    format!("expected `,` between the arguments of `{kind}`"),
                ));
            }
            content.parse::<Token![,]>()?;
        }
        Some(args)
    } else {
        None
    };
    Ok(LayerSpec {
        kind,
        args,
        span,
        end,
    })
}

/// Comma-separated arguments (inside brackets or parentheses), a trailing comma allowed.
fn parse_list(content: ParseStream, kind: &Ident) -> syn::Result<Vec<Arg>> {
    let mut args = Vec::new();
    while !content.is_empty() {
        args.push(parse_arg(content, kind)?);
        if content.is_empty() {
            break;
        }
        content.parse::<Token![,]>()?;
    }
    Ok(args)
}

fn parse_arg(input: ParseStream, kind: &Ident) -> syn::Result<Arg> {
    let start = input.span();
    let key = if input.peek(Ident) && input.peek2(Token![=]) {
        let k: Ident = input.parse()?;
        input.parse::<Token![=]>()?;
        Some(k)
    } else {
        None
    };
    let neg = if input.peek(Token![-]) {
        input.parse::<Token![-]>()?;
        true
    } else {
        false
    };
    let end;
    let value = if !neg && input.peek(syn::token::Bracket) && super::parse_shape(&input.fork()).is_ok() {
        let shape = super::parse_shape(input)?;
        end = shape.span;
        ArgValue::Shape(shape)
    } else if !neg && input.peek(syn::token::Bracket) {
        let content;
        let bracket = syn::bracketed!(content in input);
        end = bracket.span.close();
        ArgValue::List(parse_list(&content, kind)?)
    } else if !neg && input.peek(Ident) && input.peek2(syn::token::Paren) {
        let id: Ident = input.parse()?;
        let content;
        let paren = parenthesized!(content in input);
        end = paren.span.close();
        ArgValue::Call(id.clone(), parse_list(&content, &id)?)
    } else if !neg && input.peek(syn::token::Paren) {
        let content;
        let paren = parenthesized!(content in input);
        end = paren.span.close();
        ArgValue::Tuple(parse_list(&content, kind)?)
    } else if !neg && input.peek(Ident) {
        let id: Ident = input.parse()?;
        end = id.span();
        ArgValue::Ident(id)
    } else if input.peek(Lit) {
        let lit: Lit = input.parse()?;
        end = lit.span();
        match lit {
            Lit::Int(i) => ArgValue::Int(i, neg),
            Lit::Float(f) => {
                let v: f64 = f.base10_parse()?;
                ArgValue::Float(if neg { -v } else { v })
            }
            Lit::Bool(b) if !neg => ArgValue::Bool(b.value),
            other => {
                return Err(syn::Error::new(
                    other.span(),
                    format!("expected a number, a name or `true`/`false` as an argument of `{kind}`"),
                ))
            }
        }
    } else {
        return Err(syn::Error::new(
            input.span(),
            format!("expected an argument of `{kind}`: a dim (`Hidden`), an inline dim (`H = 128`), a number, a shape (`[Rows, Cols]`) or `key = value`"),
        ));
    };
    Ok(Arg {
        key,
        value,
        span: start,
        end,
    })
}
