//! Parsing of the functional form's statements: `let h = x >> Dense(H) >> Relu;`, `y = h;`.

use syn::parse::ParseStream;
use syn::{parenthesized, Ident, Token};

use super::layer::parse_layer;
use crate::model::ast::{Expr, Source, Stmt};

const STMT_FORM: &str =
    "expected a statement: `let h = x >> Dense(H1 = 256) >> Relu;` or `y = h >> Dense(Classes);` (assigning an output)";

/// Merges that take tensors as arguments.
pub const MERGES: [&str; 3] = ["add", "multiply", "concat"];

/// Parses every statement of the body.
pub fn parse_stmts(input: ParseStream) -> syn::Result<Vec<Stmt>> {
    let mut stmts = Vec::new();
    while !input.is_empty() {
        let is_let = input.peek(Token![let]);
        if is_let {
            input.parse::<Token![let]>()?;
        }
        let name: Ident = input.parse().map_err(|e| syn::Error::new(e.span(), STMT_FORM))?;
        if !input.peek(Token![=]) {
            return Err(syn::Error::new(input.span(), STMT_FORM));
        }
        input.parse::<Token![=]>()?;
        let expr = parse_expr(input)?;
        if !input.peek(Token![;]) {
            return Err(syn::Error::new(
                input.span(),
                format!("expected `;` after the statement defining `{name}` (chain layers with `>>`)"),
            ));
        }
        input.parse::<Token![;]>()?;
        stmts.push(if is_let {
            Stmt::Let { name, expr }
        } else {
            Stmt::Assign { name, expr }
        });
    }
    Ok(stmts)
}

/// `source >> layer >> ...`.
pub fn parse_expr(input: ParseStream) -> syn::Result<Expr> {
    let head: Ident = input.fork().parse().map_err(|e| {
        syn::Error::new(
            e.span(),
            "expected a tensor, a merge (`add(a, b)`, `multiply(a, b)`, `concat(a, b)`) or a layer",
        )
    })?;
    let source = if MERGES.contains(&head.to_string().as_str()) && input.peek2(syn::token::Paren) {
        let op: Ident = input.parse()?;
        let content;
        parenthesized!(content in input);
        let mut args = Vec::new();
        while !content.is_empty() {
            args.push(parse_expr(&content)?);
            if content.is_empty() {
                break;
            }
            content.parse::<Token![,]>()?;
        }
        Source::Merge { op, args }
    } else if input.peek2(syn::token::Paren) {
        Source::Layer(parse_layer(input)?)
    } else {
        Source::Name(input.parse()?)
    };
    let mut steps = Vec::new();
    while input.peek(Token![>>]) {
        input.parse::<Token![>>]>()?;
        steps.push(parse_layer(input)?);
    }
    Ok(Expr { source, steps })
}
