//! The syntax tree of `model!` input. Every node keeps the spans of the user's tokens so that
//! the checks can point at them.

use proc_macro2::Span;
use syn::{Attribute, Ident, LitInt, Path, Visibility};

/// The whole macro input.
pub struct ModelInput {
    /// `crate = path;` override of `::dimflow::__private` (used inside Dimflow's crates).
    pub krate: Option<Path>,
    /// Outer attributes of the struct (doc comments).
    pub attrs: Vec<Attribute>,
    /// Visibility of the struct (and of the inline dims it declares).
    pub vis: Visibility,
    /// The struct's name.
    pub name: Ident,
    /// Inputs, outputs and the graph.
    pub body: Body,
}

/// A shape written `[Batch, Pixels]`.
#[derive(Clone)]
pub struct ShapeSpec {
    /// Span of the brackets (the whole shape).
    pub span: Span,
    /// The dims, outermost first.
    pub dims: Vec<Ident>,
}

/// A named input or output of the functional form: `wide: [Batch, Crossed]`.
pub struct Port {
    /// The tensor's name.
    pub name: Ident,
    /// Its declared shape.
    pub shape: ShapeSpec,
}

/// The two forms of a model.
pub enum Body {
    /// `Name: [in] -> [out] { Layer, Layer, ... }`.
    Sequential {
        /// Input shape.
        input: ShapeSpec,
        /// Declared output shape.
        output: ShapeSpec,
        /// The layers, in order.
        layers: Vec<LayerSpec>,
    },
    /// `Name(x: [..], ...) -> (y: [..], ...) { let h = x >> ...; y = h >> ...; }`.
    Functional {
        /// Named inputs.
        inputs: Vec<Port>,
        /// Named outputs.
        outputs: Vec<Port>,
        /// The statements.
        stmts: Vec<Stmt>,
    },
}

/// A layer as written: `Dense(Hidden, bias = false)`, `Relu`, `LeakyRelu(0.2)`.
#[derive(Clone)]
pub struct LayerSpec {
    /// The layer's kind (or, in the functional form, the name of a shared layer).
    pub kind: Ident,
    /// Arguments in parentheses (`None` when no parentheses were written).
    pub args: Option<Vec<Arg>>,
    /// Span of the layer's first token.
    pub span: Span,
    /// Span of its last token (the closing parenthesis when there are arguments).
    pub end: Span,
}

/// One layer argument: `Hidden`, `H1 = 256`, `0.2`, `bias = false`.
#[derive(Clone)]
pub struct Arg {
    /// `key` of `key = value`.
    pub key: Option<Ident>,
    /// The value.
    pub value: ArgValue,
    /// Span of the argument's first token.
    pub span: Span,
    /// Span of its last token.
    pub end: Span,
}

/// The value of a layer argument.
#[derive(Clone)]
pub enum ArgValue {
    /// A name: a dim, an activation, `true`/`false`.
    Ident(Ident),
    /// An integer literal (possibly negated).
    Int(LitInt, bool),
    /// `true` or `false`.
    Bool(bool),
    /// A number (float literal, possibly negated) as f64.
    Float(f64),
    /// A shape in brackets: the target of `Reshape([Rows, Cols])`.
    Shape(ShapeSpec),
    /// A name with arguments: `L2(0.01)`, `MaxNorm(3.0)`.
    Call(Ident, Vec<Arg>),
    /// Arguments in brackets that are not a plain shape: `out = [H1 = 26, W1 = 26]`.
    List(Vec<Arg>),
    /// Arguments in parentheses: `kernel = (3, 5)`.
    Tuple(Vec<Arg>),
}

/// A statement of the functional form.
pub enum Stmt {
    /// `let name = expr;`: a tensor, or a (shared) layer when `expr` is a lone layer.
    Let {
        /// The bound name.
        name: Ident,
        /// The value.
        expr: Expr,
    },
    /// `output = expr;`.
    Assign {
        /// A declared output.
        name: Ident,
        /// The value.
        expr: Expr,
    },
}

/// `source >> layer >> layer ...`.
pub struct Expr {
    /// Where the chain starts.
    pub source: Source,
    /// The layers applied in order.
    pub steps: Vec<LayerSpec>,
}

/// The start of a chain.
pub enum Source {
    /// A tensor (input or `let`), or a layer when the chain is a lone layer.
    Name(Ident),
    /// A lone layer with arguments, e.g. `Dense(H = 64)` (a shared-layer definition).
    Layer(LayerSpec),
    /// `add(a, b)`, `multiply(a, b)`, `concat(a, b, ...)`.
    Merge {
        /// The merge's name.
        op: Ident,
        /// Its operands.
        args: Vec<Expr>,
    },
}
