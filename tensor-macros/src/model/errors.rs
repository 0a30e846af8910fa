//! The error collector: every check pushes here, and all errors are reported together
//! (combined with `syn::Error::combine`), each on the user's own tokens.

use proc_macro2::{Span, TokenStream};
use quote::quote_spanned;

/// Gathers errors; `finish` turns them into one `syn::Error`.
#[derive(Default)]
pub struct Errors {
    all: Option<syn::Error>,
}

impl Errors {
    /// Adds an error pointing at one token.
    pub fn at(&mut self, span: Span, msg: impl std::fmt::Display) {
        self.push(syn::Error::new(span, msg));
    }

    /// Adds an error underlining the tokens from `start` to `end`.
    pub fn range(&mut self, start: Span, end: Span, msg: impl std::fmt::Display) {
        let first: TokenStream = quote_spanned!(start=> __start);
        let last: TokenStream = quote_spanned!(end=> __end);
        let mut tokens = first;
        tokens.extend(last);
        self.push(syn::Error::new_spanned(tokens, msg));
    }

    /// Adds an already built error.
    pub fn push(&mut self, e: syn::Error) {
        match &mut self.all {
            Some(all) => all.combine(e),
            None => self.all = Some(e),
        }
    }

    /// Whether any error was reported.
    pub fn is_empty(&self) -> bool {
        self.all.is_none()
    }

    /// All errors as `compile_error!` invocations (empty when there are none).
    pub fn to_compile_errors(&self) -> TokenStream {
        match &self.all {
            Some(e) => e.to_compile_error(),
            None => TokenStream::new(),
        }
    }
}
