//! Checks of `dims!` input: sizes are positive integers, names are not repeated.

use super::parse::DimsInput;

/// Collects every problem of the input into one error.
pub fn check(input: &DimsInput) -> syn::Result<()> {
    let mut errors: Option<syn::Error> = None;
    let mut push = |e: syn::Error| match &mut errors {
        Some(all) => all.combine(e),
        None => errors = Some(e),
    };
    for (i, d) in input.dims.iter().enumerate() {
        if let Some(lit) = &d.size {
            match lit.base10_parse::<usize>() {
                Ok(0) => push(syn::Error::new(
                    lit.span(),
                    format!("dimension `{}` cannot have size 0", d.name),
                )),
                Ok(_) => {}
                Err(_) => push(syn::Error::new(
                    lit.span(),
                    format!(
                        "the size of `{}` must be a positive integer that fits in usize",
                        d.name
                    ),
                )),
            }
        }
        if input.dims[..i].iter().any(|p| p.name == d.name) {
            push(syn::Error::new(
                d.name.span(),
                format!("dimension `{}` is declared twice", d.name),
            ));
        }
    }
    match errors {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// The input with every repeated name dropped (the first declaration wins), for the fallback
/// expansion emitted beside errors.
pub fn deduplicated(mut input: DimsInput) -> DimsInput {
    let mut seen = Vec::new();
    input.dims.retain(|d| {
        let fresh = !seen.contains(&d.name);
        if fresh {
            seen.push(d.name.clone());
        }
        fresh
    });
    input
}
