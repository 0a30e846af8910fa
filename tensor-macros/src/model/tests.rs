//! Unit tests of the pure stages (parse → check → expand) and the expansion time.

use quote::quote;

use super::ast::ModelInput;
use super::check::{check, ir::Op};
use super::errors::Errors;

fn checked(tokens: proc_macro2::TokenStream) -> (Option<super::check::ir::Graph>, Errors) {
    let input: ModelInput = match syn::parse2(tokens) {
        Ok(i) => i,
        Err(e) => panic!("parse failed: {e}"),
    };
    let mut errs = Errors::default();
    let g = check(&input, &mut errs);
    (g, errs)
}

#[test]
fn sequential_fuses_activations_into_dense() {
    let (g, errs) = checked(quote! {
        struct Mlp: [Batch, Pixels] -> [Batch, Classes] {
            Dense(Hidden), Relu, Dropout(0.2), Dense(Classes), Softmax
        }
    });
    assert!(errs.is_empty());
    let Some(g) = g else { panic!("no graph") };
    // input, dense1+relu, dropout, dense2+softmax
    assert_eq!(g.nodes.len(), 4);
    assert!(matches!(g.nodes[1].op, Op::Dense(0, super::check::ir::Act::Relu)));
    assert!(matches!(g.nodes[2].op, Op::Dropout(r) if r == 0.2));
    assert!(matches!(
        g.nodes[3].op,
        Op::Dense(1, super::check::ir::Act::Softmax)
    ));
    let names: Vec<String> = g.layers.iter().map(|l| l.field.to_string()).collect();
    assert_eq!(names, ["dense1", "dense2"]);
    assert_eq!(g.outputs[0].node, 3);
}

#[test]
fn concat_sums_inline_sizes() {
    let (g, errs) = checked(quote! {
        struct Net(x: [Batch, Pixels]) -> (y: [Batch, Classes]) {
            let a = x >> Dense(A = 3);
            let b = x >> Dense(B = 5) >> Tanh;
            y = concat(a, b) >> Dense(Classes);
        }
    });
    assert!(errs.is_empty());
    let Some(g) = g else { panic!("no graph") };
    let concat = g
        .nodes
        .iter()
        .find(|n| matches!(n.op, Op::Concat))
        .and_then(|n| n.shape.last())
        .map(|d| (d.name.clone(), d.size.known()));
    assert_eq!(concat, Some(("A+B".to_string(), Some(8))));
}

#[test]
fn every_error_is_collected() {
    let (g, errs) = checked(quote! {
        struct Mlp: [Batch, Batch] -> [Batch, Classes] {
            Dense(H = 0), Relo, Dropout(2.0), Dense(Classes)
        }
    });
    assert!(g.is_none());
    let text = errs.to_compile_errors().to_string();
    for needle in [
        "appears twice",
        "cannot have size 0",
        "unknown layer `Relo`",
        "dropout rate",
    ] {
        assert!(text.contains(needle), "missing `{needle}` in {text}");
    }
}

#[test]
fn odd_input_reports_instead_of_panicking() {
    for tokens in [
        quote!(struct A(x: [], y: []) -> (z: [Batch]) { z = concat(x, y); }),
        quote!(struct B: [Batch, P] -> [Batch, P] { BatchNorm(epsilon = 1e400) }),
        quote!(struct C: [Batch, P] -> [Batch, P] { LeakyRelu(1e400), Elu(-1), Dropout(1) }),
        quote!(struct D(x: [Batch, P]) -> (y: [Batch, P]) { y = add(x); let x = Relu; }),
        quote!(struct E: [] -> [] { Dense(H = 18446744073709551616) }),
    ] {
        let input: ModelInput = match syn::parse2(tokens) {
            Ok(i) => i,
            Err(e) => panic!("parse failed: {e}"),
        };
        let mut errs = Errors::default();
        assert!(check(&input, &mut errs).is_none());
        assert!(!errs.is_empty());
    }
}

#[test]
fn malformed_input_shows_the_expected_form() {
    let e = syn::parse2::<ModelInput>(quote!(struct Mlp [Batch] -> [Batch] { Relu }));
    let msg = e.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        msg.contains("struct Name: [Batch, Pixels] -> [Batch, Classes]"),
        "{msg}"
    );
}

/// A 20-layer model through the whole macro (parse, check, expand). The time is printed for
/// MACRO-NOTES.md; the assertion is a loose bound so a loaded machine does not fail it.
#[test]
fn expansion_time_of_a_20_layer_model() {
    let mut layers = Vec::new();
    for i in 0..10usize {
        let d = quote::format_ident!("H{}", i);
        layers.push(quote!(Dense(#d = 64), Relu,));
    }
    let tokens = quote! {
        /// Twenty layers.
        pub struct Deep: [Batch, Pixels] -> [Batch, H9] { #(#layers)* }
    };
    let runs = 50;
    let start = std::time::Instant::now();
    let mut len = 0;
    for _ in 0..runs {
        len += super::model(tokens.clone()).to_string().len();
    }
    let per = start.elapsed() / runs;
    println!(
        "model! expansion of a 20-layer model: {per:?} per expansion ({} chars of output)",
        len / runs as usize
    );
    assert!(len > 0);
    assert!(per < std::time::Duration::from_millis(500), "{per:?}");
}

#[test]
#[ignore = "prints an expansion for reading"]
fn print_expansion() {
    let out = super::model(quote! {
        /// doc
        pub struct Mlp: [Batch, Pixels] -> [Batch, Classes] {
            Dense(Hidden), Relu, Dropout(0.2), Dense(Classes)
        }
    });
    println!("{out}");
}

#[test]
fn flatten_multiplies_sizes_and_shares_buffers() {
    let (g, errs) = checked(quote! {
        struct Net: [Batch, Rows, Cols] -> [Batch, Classes] {
            Flatten, Dense(H = 12), Flatten(F = 12), Reshape([A, B]), Flatten, Dense(Classes)
        }
    });
    assert!(errs.is_empty());
    let Some(g) = g else { panic!("no graph") };
    let flat = &g.nodes[1];
    assert!(matches!(flat.op, Op::Reshape));
    let names: Vec<&str> = flat.shape.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["Batch", "Rows*Cols"]);
    assert_eq!(flat.lead, 1);
    // Reshapes read their operand's buffer: node 5 (the last flatten) is held by node 2 (dense).
    assert_eq!(g.buffer(1), 0);
    assert_eq!(g.buffer(5), 2);
    // `F = 12` against `H` (12) is decided by the macro; `[A, B]` (sizes from `dims!`) is a
    // const check; the unnamed flattens need none.
    assert_eq!(g.count_checks.len(), 1);
    assert_eq!(g.count_checks[0].layer, "reshape1");
}

#[test]
fn reshape_errors_are_reported_together() {
    let (g, errs) = checked(quote! {
        struct Net: [Batch, Pixels] -> [Batch, Classes] {
            Dense(H = 12), Flatten(F = 10), Dense(Classes), Reshape([Batch, C]), PReLU(0.1)
        }
    });
    assert!(g.is_none());
    let msg = errs.to_compile_errors().to_string();
    assert!(
        msg.contains("`[H]` holds 12 elements but `[F]` holds 10"),
        "{msg}"
    );
}
