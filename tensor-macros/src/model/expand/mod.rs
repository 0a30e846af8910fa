//! Expansion of a checked model: the inline dims, the const checks, the struct with its
//! parameters, seeded initialisation, `forward`, the fused training step (`forward_train` +
//! `backward`, emitted statically node by node), and the `Model` trait impl.

mod backward;
mod forward;
mod image;
mod nested;
mod options;

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::Ident;

use super::ast::ModelInput;
use super::check::ir::{Act, Graph, Op, ParamKind, Size};

/// Paths the generated code names.
pub struct Paths {
    /// `::dimflow::__private` or the `crate = ...` override.
    pub krate: TokenStream,
    /// `#krate::fused`.
    pub fused: TokenStream,
}

impl Paths {
    /// The paths for this input.
    pub fn new(input: &ModelInput) -> Self {
        let krate = match &input.krate {
            Some(p) => quote!(#p),
            None => quote!(::dimflow::__private),
        };
        let fused = quote!(#krate::fused);
        Paths { krate, fused }
    }
}

/// `tokens` with every span replaced by `span`.
fn respan(tokens: TokenStream, span: proc_macro2::Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut t| {
            if let proc_macro2::TokenTree::Group(g) = &t {
                let mut ng = proc_macro2::Group::new(g.delimiter(), respan(g.stream(), span));
                ng.set_span(span);
                t = proc_macro2::TokenTree::Group(ng);
            } else {
                t.set_span(span);
            }
            t
        })
        .collect()
}

/// The run-time size of a dim.
pub fn size_tokens(s: &Size, p: &Paths) -> TokenStream {
    let fused = &p.fused;
    match s {
        Size::Lit(n) => {
            let n = Literal::usize_unsuffixed(*n);
            quote!(#n)
        }
        Size::Of(d) => quote!(#fused::size_of_dim::<#d>()),
        Size::Sum(parts) => {
            let parts = parts.iter().map(|s| size_tokens(s, p));
            quote!((0 #(+ #parts)*))
        }
        Size::Product(parts) => {
            let parts = parts.iter().map(|s| size_tokens(s, p));
            quote!((1 #(* #parts)*))
        }
        Size::Window {
            input,
            span,
            stride,
            same,
        } => {
            let n = size_tokens(input, p);
            let (span, stride) = (
                Literal::usize_unsuffixed(*span),
                Literal::usize_unsuffixed(*stride),
            );
            quote!(#fused::window_out(#n, #span, #stride, #same))
        }
    }
}

/// The run-time activation value.
pub fn act_tokens(a: Act, p: &Paths) -> TokenStream {
    let fused = &p.fused;
    match a {
        Act::Linear => quote!(#fused::Activation::Linear),
        Act::Relu => quote!(#fused::Activation::Relu),
        Act::LeakyRelu(v) => quote!(#fused::Activation::LeakyRelu(#v)),
        Act::Elu(v) => quote!(#fused::Activation::Elu(#v)),
        Act::Gelu => quote!(#fused::Activation::Gelu),
        Act::Softplus => quote!(#fused::Activation::Softplus),
        Act::Sigmoid => quote!(#fused::Activation::Sigmoid),
        Act::Tanh => quote!(#fused::Activation::Tanh),
        Act::Softmax => quote!(#fused::Activation::Softmax),
    }
}

/// `Tensor<(A, B), F>` for declared dims.
pub fn tensor_type(dims: &[Ident], elem: &TokenStream, p: &Paths) -> TokenStream {
    let krate = &p.krate;
    quote!(#krate::Tensor<(#(#dims,)*), #elem>)
}

/// A type that is one tensor, or a tuple of tensors for several ports.
fn port_type(types: &[TokenStream]) -> TokenStream {
    match types {
        [one] => one.clone(),
        many => quote!((#(#many),*)),
    }
}

fn state_locals(g: &Graph, training: bool) -> TokenStream {
    let fields = g.layers.iter().map(|l| &l.field);
    let has_dropout = g.nodes.iter().any(|n| matches!(n.op, Op::Dropout(_)));
    let rng = (training && has_dropout).then(|| quote!(__rng,));
    if training {
        quote!(let Self { #(#fields,)* __state: __st, #rng .. } = self;)
    } else {
        quote!(let Self { #(#fields,)* .. } = self;)
    }
}

/// Generates everything for a checked model.
pub fn expand(input: &ModelInput, g: &Graph) -> TokenStream {
    let p = Paths::new(input);
    let (krate, fused) = (&p.krate, &p.fused);
    let name = &input.name;
    let vis = &input.vis;
    let attrs = &input.attrs;
    let n_nodes = g.nodes.len();

    let inline_dims = g.inline_dims.iter().map(|(d, n)| {
        let s = d.to_string();
        let doc = format!("Dimension `{s}` of static size {n}, declared inline by `model!` `{name}`.");
        let n = Literal::usize_unsuffixed(*n);
        quote! {
            #[doc = #doc]
            #[derive(::core::clone::Clone, ::core::marker::Copy, ::core::fmt::Debug, ::core::default::Default,
                     ::core::cmp::PartialEq, ::core::cmp::Eq, ::core::hash::Hash)]
            #vis struct #d;
            impl #krate::Dim for #d {
                const NAME: &'static str = #s;
                const SIZE: ::core::option::Option<usize> = ::core::option::Option::Some(#n);
            }
        }
    });
    let checks = g.static_checks.iter().map(|c| {
        let (d, who, role) = (&c.dim, &c.who, &c.role);
        // Every token of the call carries the dim's span, so that the error points at it.
        let path = respan(quote!(#fused::require_static), d.span());
        quote_spanned! {d.span()=>
            const _: () = #path::<#d>(#who, #role);
        }
    });
    let count_checks = g.count_checks.iter().map(|c| {
        let (n, m) = (size_tokens(&c.from.2, &p), size_tokens(&c.to.2, &p));
        let layer = &c.layer;
        let shapes = [&c.from.0, &c.to.0, &c.from.1, &c.to.1];
        let path = respan(quote!(#fused::require_same_count), c.span);
        quote_spanned! {c.span=>
            const _: () = #path(#n, #m, #layer, [#(#shapes),*]);
        }
    });

    let size_checks = g.size_checks.iter().map(|(d, size, what)| {
        let n = size_tokens(size, &p);
        let path = respan(quote!(#fused::require_size), d.span());
        quote_spanned! {d.span()=>
            const _: () = #path::<#d>(#n, #what);
        }
    });
    let window_checks = g.window_checks.iter().map(|c| {
        let n = size_tokens(&c.len, &p);
        let (span, w, layer, dim) = (c.span, c.window, &c.layer, &c.dim);
        let path = respan(quote!(#fused::require_window), span);
        let tiling = c.stride.map(|s| {
            let path = respan(quote!(#fused::require_tiling), span);
            quote_spanned! {span=> const _: () = #path(#n, #w, #s, #layer, #dim); }
        });
        quote_spanned! {span=>
            const _: () = #path(#n, #w, #layer, #dim);
            #tiling
        }
    });
    let group_checks = g.group_checks.iter().map(|c| {
        let [(cn, cs), (fname, fs)] = &c.dims;
        let (cs, fs) = (size_tokens(cs, &p), size_tokens(fs, &p));
        let (span, layer, groups) = (c.span, &c.layer, c.groups);
        let path = respan(quote!(#fused::require_groups), span);
        quote_spanned! {span=>
            const _: () = #path(#cs, #fs, #groups, #layer, [#cn, #fname]);
        }
    });
    let fields = g.layers.iter().map(|l| {
        let f = &l.field;
        match l.kind {
            ParamKind::Dense { .. } => quote!(#f: #fused::Dense<__F>,),
            ParamKind::BatchNorm { .. } => quote!(#f: #fused::BatchNorm<__F>,),
            ParamKind::Embedding => quote!(#f: #fused::Embedding<__F>,),
            ParamKind::PRelu => quote!(#f: #fused::PRelu<__F>,),
            ParamKind::Conv2D { .. } => quote!(#f: #fused::Conv2D<__F>,),
            ParamKind::Pool { .. } => quote!(#f: #fused::Pool2D,),
            ParamKind::User => {
                let ty = &l.ty;
                quote!(#f: #ty<__F>,)
            }
        }
    });
    let inits = g.layers.iter().enumerate().map(|(li, l)| {
        let f = &l.field;
        let fs = f.to_string();
        let inputs = l.inputs.as_ref().map_or(quote!(0), |d| size_tokens(&d.size, &p));
        let units = size_tokens(&l.units.size, &p);
        match l.kind {
            ParamKind::Dense { bias, opts } if opts == Default::default() => {
                quote!(#f: #fused::Dense::new(#fs, #inputs, #units, #bias, &mut __init),)
            }
            ParamKind::Dense { bias, opts } => {
                let o = options::options_tokens(&opts, &p);
                quote!(#f: #fused::Dense::with_options(#fs, #inputs, #units, #bias, #o, &mut __init),)
            }
            ParamKind::BatchNorm { momentum, epsilon } => {
                quote!(#f: #fused::BatchNorm::new(#fs, #units, #momentum, #epsilon),)
            }
            ParamKind::Embedding => {
                quote!(#f: #fused::Embedding::new(#fs, #inputs, #units, &mut __init),)
            }
            ParamKind::PRelu => quote!(#f: #fused::PRelu::new(#fs, #units),),
            ParamKind::Conv2D { .. } | ParamKind::Pool { .. } => {
                let init = image::init_tokens(g, li, &inputs, &units, &p);
                quote!(#f: #init,)
            }
            ParamKind::User => {
                let ty = &l.ty;
                quote!(#f: {
                    let mut __l = <#ty<__F> as #fused::FusedLayer<__F>>::build(__init.next_seed());
                    #fused::prefix_names(&mut __l, #fs);
                    __l
                },)
            }
        }
    });
    let params = g.layers.iter().map(|l| {
        let f = &l.field;
        match l.ty {
            Some(_) => quote!(__v.extend(#fused::FusedLayer::layer_params(&self.#f));),
            None => quote!(__v.extend(self.#f.params());),
        }
    });
    let params_mut = g.layers.iter().map(|l| {
        let f = &l.field;
        match l.ty {
            Some(_) => quote!(__v.extend(#fused::FusedLayer::layer_params_mut(&mut self.#f));),
            None => quote!(__v.extend(self.#f.params_mut());),
        }
    });
    let layer_checks = nested::layer_checks(g, &p);
    let fused_layer = nested::fused_layer_impl(input, g, &p);

    let f_ty = quote!(__F);
    let in_names: Vec<&Ident> = g.inputs.iter().map(|i| &i.name).collect();
    let ids_ty = quote!(i64);
    let elem = |i: &super::check::ir::InputIr, f: &TokenStream| {
        if i.ids {
            ids_ty.clone()
        } else {
            f.clone()
        }
    };
    let in_types: Vec<TokenStream> = g
        .inputs
        .iter()
        .map(|i| tensor_type(&i.dims, &elem(i, &f_ty), &p))
        .collect();
    let out_types: Vec<TokenStream> = g
        .outputs
        .iter()
        .map(|o| tensor_type(&o.dims, &f_ty, &p))
        .collect();
    let out_names: Vec<Ident> = g
        .outputs
        .iter()
        .map(|o| {
            if g.sequential {
                format_ident!("grad")
            } else {
                o.name.clone()
            }
        })
        .collect();
    let out_ty = port_type(&out_types);
    let f32_ty = quote!(f32);
    let in_ty32 = port_type(
        &g.inputs
            .iter()
            .map(|i| tensor_type(&i.dims, &elem(i, &f32_ty), &p))
            .collect::<Vec<_>>(),
    );
    let out_ty32 = port_type(
        &g.outputs
            .iter()
            .map(|o| tensor_type(&o.dims, &f32_ty, &p))
            .collect::<Vec<_>>(),
    );

    let infer_body = forward::body(g, &p, false);
    let train_body = forward::body(g, &p, true);
    let backward_body = backward::body(g, &p, &out_names, false);
    let reg_body = options::loss_body(g, &p);
    let constraints = options::constraints_method(g, &p);
    let infer_locals = state_locals(g, false);
    let train_locals = state_locals(g, true);

    let call_in = if g.inputs.len() == 1 {
        quote!(input)
    } else {
        let idx = (0..g.inputs.len()).map(syn::Index::from);
        quote!(#(&input.#idx),*)
    };
    let call_out = if g.outputs.len() == 1 {
        quote!(grad_output)
    } else {
        let idx = (0..g.outputs.len()).map(syn::Index::from);
        quote!(#(&grad_output.#idx),*)
    };
    let fields_b = g.layers.iter().map(|l| &l.field);

    let doc_attr = if attrs.iter().any(|a| a.path().is_ident("doc")) {
        quote!()
    } else {
        let d = format!("A model declared with `model!`: `{name}`.");
        quote!(#[doc = #d])
    };

    quote! {
        #(#inline_dims)*
        #(#checks)*
        #(#count_checks)*
        #(#size_checks)*
        #(#window_checks)*
        #(#group_checks)*
        #layer_checks

        #(#attrs)*
        #doc_attr
        #[derive(::core::fmt::Debug, ::core::clone::Clone)]
        #vis struct #name<__F: #krate::Float = f32> {
            #(#fields)*
            __state: #fused::State<__F>,
            __spare: #fused::Spare<__F>,
            __rng: #fused::Rng,
        }

        impl #name<f32> {
            /// A new model with f32 parameters: Glorot-uniform kernels and zero biases drawn
            /// from a ChaCha stream seeded with `seed`.
            #vis fn new(seed: u64) -> Self {
                Self::init(seed)
            }
        }

        impl<__F: #krate::Float> #name<__F> {
            /// A new model with parameters of type `F`, initialised from `seed` exactly as
            /// `new(seed)` (the same values, rounded once to f32).
            #vis fn init(seed: u64) -> Self {
                let mut __init = #fused::Rng::new(seed);
                #name {
                    #(#inits)*
                    __state: #fused::State::new(#n_nodes),
                    __spare: #fused::Spare::new(),
                    __rng: #fused::Rng::new(seed ^ 0x9E37_79B9_7F4A_7C15),
                }
            }

            /// Inference: dropout off, nothing kept for a backward pass.
            ///
            /// # Panics
            /// When inputs merged by the model disagree on the length of a run-time dim.
            #vis fn forward(&self, #(#in_names: &#in_types),*) -> #out_ty {
                #infer_locals
                let mut __state = self.__spare.take().unwrap_or_else(|| #fused::State::<__F>::new(#n_nodes));
                let __st = &mut __state;
                let __result = { #infer_body };
                self.__spare.put(__state);
                __result
            }

            /// The training forward pass of the fused step: dropout on, every intermediate
            /// the backward pass needs kept in buffers reused from step to step.
            ///
            /// # Panics
            /// When inputs merged by the model disagree on the length of a run-time dim.
            #vis fn forward_train(&mut self, #(#in_names: &#in_types),*) -> #out_ty {
                #train_locals
                #train_body
            }

            /// The backward pass of the fused step, for the last `forward_train`: overwrites every
            /// parameter's gradient with ∂L/∂param, given ∂L/∂output.
            ///
            /// # Panics
            /// When called before `forward_train`, or with gradients of another shape.
            #vis fn backward(&mut self, #(#out_names: &#out_types),*) {
                let Self { #(#fields_b,)* __state: __st, .. } = self;
                #backward_body
            }

            /// The regularization penalty of the last `forward_train` (weight penalties, and
            /// activity penalties of those outputs), to be added to the loss; 0 without
            /// regularizers.
            #vis fn regularization_loss(&self) -> f64 {
                #reg_body
            }

            /// Every parameter (kernel, then bias, layer by layer).
            #vis fn parameters(&self) -> ::std::vec::Vec<&#fused::Param<__F>> {
                let mut __v = ::std::vec::Vec::new();
                #(#params)*
                __v
            }

            /// Every parameter, mutably, in the order of `parameters`.
            #vis fn parameters_mut(&mut self) -> ::std::vec::Vec<&mut #fused::Param<__F>> {
                let mut __v = ::std::vec::Vec::new();
                #(#params_mut)*
                __v
            }
        }

        #fused_layer

        impl #krate::Model for #name<f32> {
            type Input = #in_ty32;
            type Output = #out_ty32;

            fn forward(&self, input: &Self::Input) -> Self::Output {
                #name::<f32>::forward(self, #call_in)
            }

            fn forward_train(&mut self, input: &Self::Input) -> Self::Output {
                #name::<f32>::forward_train(self, #call_in)
            }

            fn backward(&mut self, grad_output: &Self::Output) {
                #name::<f32>::backward(self, #call_out)
            }

            fn params_mut(&mut self) -> ::std::vec::Vec<#krate::ParamMut<'_>> {
                self.parameters_mut().into_iter().map(|p| p.as_param_mut()).collect()
            }

            fn params(&self) -> ::std::vec::Vec<#krate::ParamRef<'_>> {
                self.parameters().into_iter().map(|p| p.as_param_ref()).collect()
            }

            fn regularization_loss(&self) -> f32 {
                #name::<f32>::regularization_loss(self) as f32
            }

            fn rng_state(&self) -> ::core::option::Option<::std::string::String> {
                ::core::option::Option::Some(self.__rng.state())
            }

            fn set_rng_state(&mut self, state: &str) -> ::core::result::Result<(), #fused::NnError> {
                self.__rng.restore(state)
            }

            #constraints
        }
    }
}
