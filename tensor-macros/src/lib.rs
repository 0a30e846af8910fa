//! Procedural macros of Dimflow: `dims!` declares named dimensions; `model!` (see the
//! `model` module) declares models whose shapes are checked while compiling.
//!
//! Generated code names only `::dimflow::__private::…`; a leading `crate = path;` item
//! overrides that path (used inside Dimflow's own crates).

use proc_macro::TokenStream;

mod dims;

/// Declares named dimensions.
///
/// ```ignore
/// dims! {
///     /// Examples in a batch (size given at run time).
///     Batch;
///     Pixels = 784;
///     Hidden = 128;
/// }
/// ```
///
/// Each entry becomes a public unit struct implementing `Dim`, with the name as written and
/// either a static size (`= N`) or a run-time size (no `=`).
#[proc_macro]
pub fn dims(input: TokenStream) -> TokenStream {
    match syn::parse::<dims::parse::DimsInput>(input) {
        Ok(parsed) => match dims::check::check(&parsed) {
            Ok(()) => dims::expand::expand(&parsed).into(),
            // Still declare the dims (first declaration of each name) so that their uses do
            // not add a cascade of "cannot find type" errors to the real one.
            Err(e) => {
                let mut out = e.to_compile_error();
                out.extend(dims::expand::expand(&dims::check::deduplicated(parsed)));
                out.into()
            }
        },
        Err(e) => e.to_compile_error().into(),
    }
}
