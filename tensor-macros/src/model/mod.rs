//! `model!`: parse → check → expand, as STYLE.md lays out a proc macro.

pub mod ast;
pub mod check;
pub mod errors;
pub mod expand;
pub mod fallback;
pub mod parse;

use proc_macro2::TokenStream;

/// Runs the whole macro on its input tokens.
pub fn model(tokens: TokenStream) -> TokenStream {
    let input: ast::ModelInput = match syn::parse2(tokens) {
        Ok(i) => i,
        Err(e) => return e.to_compile_error(),
    };
    let mut errs = errors::Errors::default();
    match check::check(&input, &mut errs) {
        Some(graph) if errs.is_empty() => expand::expand(&input, &graph),
        _ => {
            let mut out = errs.to_compile_errors();
            out.extend(fallback::fallback(&input));
            out
        }
    }
}

#[cfg(test)]
mod tests;
