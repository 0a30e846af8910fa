//! The checked graph the expansion works from: nodes in topological order, every shape inferred
//! by name, every size either known to the macro or named as a dim type for a const check.

use syn::Ident;

/// The size of a dim as the generated code computes it.
#[derive(Clone)]
pub enum Size {
    /// Known to the macro (an inline dim such as `H1 = 256`).
    Lit(usize),
    /// The static size of a dim type declared elsewhere (with `dims!`).
    Of(Ident),
    /// The sum of several sizes (the last dim of a concat).
    Sum(Vec<Size>),
    /// The product of several sizes (the dim `Flatten` makes of the dims it merges).
    Product(Vec<Size>),
    /// The output length of a convolution or pooling window along one axis:
    /// `ceil(len / stride)` with same padding, `(len − span) / stride + 1` with valid padding.
    Window {
        /// The input length.
        input: Box<Size>,
        /// The window's span (`dilation · (kernel − 1) + 1`).
        span: usize,
        /// The stride.
        stride: usize,
        /// Same (else valid) padding.
        same: bool,
    },
}

impl Size {
    /// The value when the macro knows it.
    pub fn known(&self) -> Option<usize> {
        match self {
            Size::Lit(n) => Some(*n),
            Size::Of(_) => None,
            Size::Sum(parts) => parts
                .iter()
                .try_fold(0usize, |acc, p| acc.checked_add(p.known()?)),
            Size::Product(parts) => parts
                .iter()
                .try_fold(1usize, |acc, p| acc.checked_mul(p.known()?)),
            Size::Window {
                input,
                span,
                stride,
                same,
            } => window_out(input.known()?, *span, *stride, *same),
        }
    }
}

/// Output length of a window of `span` cells moved by `stride` over `len` cells (Keras' same
/// or valid padding); `None` when a valid window does not fit.
pub fn window_out(len: usize, span: usize, stride: usize, same: bool) -> Option<usize> {
    if same {
        Some(len.div_ceil(stride))
    } else if len >= span {
        Some((len - span) / stride + 1)
    } else {
        None
    }
}

/// One dim of an inferred shape.
#[derive(Clone)]
pub struct DimRef {
    /// The name shown in messages (`Hidden`, or `Crossed+H2` for a concat).
    pub name: String,
    /// The dim type, when there is one (none for a concat's last dim).
    pub ident: Option<Ident>,
    /// Its size.
    pub size: Size,
}

impl DimRef {
    /// `Hidden` or `Hidden (128)` when the size is known.
    pub fn describe(&self) -> String {
        match self.size.known() {
            Some(n) => format!("`{}` ({n})", self.name),
            None => format!("`{}`", self.name),
        }
    }
}

/// `[Batch, Hidden]`.
pub fn show_shape(shape: &[DimRef]) -> String {
    let names: Vec<&str> = shape.iter().map(|d| d.name.as_str()).collect();
    format!("[{}]", names.join(", "))
}

/// An activation, as the run-time `Activation` enum.
#[derive(Clone, Copy, PartialEq)]
pub enum Act {
    /// Identity.
    Linear,
    /// ReLU.
    Relu,
    /// Leaky ReLU with its slope.
    LeakyRelu(f64),
    /// ELU with its alpha.
    Elu(f64),
    /// GELU.
    Gelu,
    /// Softplus.
    Softplus,
    /// Sigmoid.
    Sigmoid,
    /// Tanh.
    Tanh,
    /// Softmax over the last dim.
    Softmax,
}

/// A layer with parameters (a field of the generated struct).
pub struct ParamLayer {
    /// The type of a nested model or user layer (`None` for the built-in layers).
    pub ty: Option<Ident>,
    /// Field and parameter-name prefix (`dense1`, or the user's name for a shared layer).
    pub field: Ident,
    /// Input features (set by the first application).
    pub inputs: Option<DimRef>,
    /// Output features.
    pub units: DimRef,
    /// What kind of layer it is.
    pub kind: ParamKind,
}

/// The kinds of layers with parameters.
#[derive(Clone, Copy)]
pub enum ParamKind {
    /// A dense layer, with or without bias.
    Dense {
        /// Whether it has a bias.
        bias: bool,
        /// Initializers, regularizers, constraints.
        opts: DenseOpts,
    },
    /// An embedding table (`inputs` is the vocabulary, `units` the embedding dim).
    Embedding,
    /// PReLU with a learned slope per feature of the last dim (`units`).
    PRelu,
    /// A nested model or user layer (`inputs` and `units` are its in and out dims).
    User,
    /// A 2-D convolution over NHWC images (`inputs` is the channels, `units` the filters).
    Conv2D {
        /// Kernel size (height, width).
        kernel: [usize; 2],
        /// Stride (height, width).
        stride: [usize; 2],
        /// Same (else valid) padding.
        same: bool,
        /// Dilation (height, width).
        dilation: [usize; 2],
        /// Whether it has a bias.
        bias: bool,
        /// Depthwise: one group per input channel (else `groups`).
        depthwise: bool,
        /// Channel groups of a plain convolution (`groups = G`).
        groups: usize,
        /// Explicit padding `[[top, bottom], [left, right]]` (`same` is then false).
        pad: Option<[[usize; 2]; 2]>,
        /// Initializers, regularizers, constraints.
        opts: DenseOpts,
    },
    /// A max or average pooling over NHWC images (no parameters; `units` is the channels).
    Pool {
        /// Max (else average).
        max: bool,
        /// Window size (height, width).
        pool: [usize; 2],
        /// Stride (height, width).
        stride: [usize; 2],
        /// Same (else valid) padding.
        same: bool,
        /// Explicit padding `[[top, bottom], [left, right]]` (`same` is then false).
        pad: Option<[[usize; 2]; 2]>,
    },
    /// Batch normalisation over the last dim (`units` is the normalised dim).
    BatchNorm {
        /// Moving-statistics momentum.
        momentum: f64,
        /// Variance epsilon.
        epsilon: f64,
    },
}

/// An initializer, as tensor-nn's `Initializer`.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum InitIr {
    /// A variant without arguments (`HeNormal`, `Zeros`, ...).
    Named(&'static str),
    /// `Constant(v)`.
    Constant(f64),
    /// `RandomUniform(min, max)`.
    RandomUniform(f64, f64),
    /// `RandomNormal(mean, stddev)`.
    RandomNormal(f64, f64),
    /// `TruncatedNormal(mean, stddev)`.
    TruncatedNormal(f64, f64),
}

/// A weight constraint, as tensor-nn's `fused::WeightConstraint`.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum ConstraintIr {
    /// `MaxNorm(max_value)`.
    MaxNorm(f64),
    /// `NonNeg`.
    NonNeg,
    /// `UnitNorm`.
    UnitNorm,
}

/// The weight options of a dense or convolution layer (all `None` by default: Glorot uniform,
/// zero bias, nothing else). Regularizers are `(l1, l2)`.
#[derive(Clone, Copy, PartialEq, Debug, Default)]
pub struct DenseOpts {
    /// `kernel_initializer` (or `initializer`).
    pub kernel_init: Option<InitIr>,
    /// `bias_initializer`.
    pub bias_init: Option<InitIr>,
    /// `kernel_regularizer`.
    pub kernel_reg: Option<(f64, f64)>,
    /// `bias_regularizer`.
    pub bias_reg: Option<(f64, f64)>,
    /// `activity_regularizer`.
    pub activity_reg: Option<(f64, f64)>,
    /// `kernel_constraint`.
    pub kernel_constraint: Option<ConstraintIr>,
    /// `bias_constraint`.
    pub bias_constraint: Option<ConstraintIr>,
}

/// What a node computes.
#[derive(Clone)]
pub enum Op {
    /// Model input number `k`.
    Input(usize),
    /// A dense layer (index into `Graph::layers`) with its fused activation.
    Dense(usize, Act),
    /// A standalone activation.
    Act(Act),
    /// Inverted dropout with its rate.
    Dropout(f64),
    /// Batch normalisation (index into `Graph::layers`).
    BatchNorm(usize),
    /// Embedding lookup (layer index) of the ids held by model input `k`.
    Embedding(usize, usize),
    /// Element-wise sum of two tensors.
    Add,
    /// Element-wise product of two tensors.
    Multiply,
    /// Concatenation along the last dim.
    Concat,
    /// `Flatten` / `Reshape`: the same values under another shape (no copy: the node shares
    /// its operand's buffers).
    Reshape,
    /// PReLU (index into `Graph::layers`).
    PRelu(usize),
    /// A nested model or user layer (index into `Graph::layers`).
    User(usize),
    /// Softmax over the dim at this position (not the last one).
    SoftmaxAxis(usize),
    /// A 2-D convolution (index into `Graph::layers`) with its fused activation.
    Conv(usize, Act),
    /// Max or average pooling (index into `Graph::layers`).
    Pool(usize),
    /// The mean over height and width of NHWC images.
    GlobalAvgPool,
}

/// One node of the graph.
pub struct Node {
    /// The operation.
    pub op: Op,
    /// Operand nodes (always earlier).
    pub args: Vec<usize>,
    /// Inferred shape.
    pub shape: Vec<DimRef>,
    /// The input whose leading dims this node carries.
    pub src: usize,
    /// How many of that input's dims lead this node's shape (all but the last, or all of them
    /// after an embedding, which appends a dim, or only the first after a reshape); the dims
    /// after them have static sizes.
    pub lead: usize,
}

/// A model input.
pub struct InputIr {
    /// Parameter name of `forward`.
    pub name: Ident,
    /// Declared dims.
    pub dims: Vec<Ident>,
    /// Whether it holds integer ids (it feeds an embedding): `Tensor<_, i64>`.
    pub ids: bool,
}

/// A model output.
pub struct OutputIr {
    /// Name (functional form) used in docs.
    pub name: Ident,
    /// Declared dims.
    pub dims: Vec<Ident>,
    /// The node that produces it.
    pub node: usize,
}

/// A const check that a dim declared elsewhere has a static size.
pub struct StaticCheck {
    /// The dim (spanned on the user's token).
    pub dim: Ident,
    /// Who needs it (`dense1`, or `input \`x\``).
    pub who: String,
    /// For what (`its units`).
    pub role: String,
}

/// A const check that a reshape keeps the element count, for sizes the macro cannot see.
pub struct CountCheck {
    /// Span of the layer (the error points at it).
    pub span: proc_macro2::Span,
    /// The layer (`reshape1`).
    pub layer: String,
    /// The shape before, and its dims after the first (the ones reshaped).
    pub from: (String, String, Size),
    /// The shape after, and its dims after the first.
    pub to: (String, String, Size),
}

/// A const check that a grouped convolution's input channels and filters (sizes the macro
/// cannot see) are multiples of its groups.
pub struct GroupCheck {
    /// Span of the layer (the error points at it).
    pub span: proc_macro2::Span,
    /// The layer (`conv2d1`).
    pub layer: String,
    /// `groups = G`.
    pub groups: usize,
    /// The input channels and the filters: name and size.
    pub dims: [(String, Size); 2],
}

/// A const check that a valid window fits the input dim `dim` (sizes the macro cannot see)
/// and, with `exact = true`, tiles it.
pub struct WindowCheck {
    /// Span of the layer (the error points at it).
    pub span: proc_macro2::Span,
    /// The input length.
    pub len: Size,
    /// The window's span.
    pub window: usize,
    /// The stride, when `exact = true` asks for the tiling check too.
    pub stride: Option<usize>,
    /// The layer (`conv2d1`).
    pub layer: String,
    /// The input dim's name.
    pub dim: String,
}

/// A check that a user layer's `InFeatures` (`input = true`) or `OutFeatures` is `dim`.
pub struct LayerCheck {
    /// Span of the layer's token (or of the dim the user wrote).
    pub span: proc_macro2::Span,
    /// The layer's type.
    pub ty: Ident,
    /// Which side.
    pub input: bool,
    /// The dim the graph has there.
    pub dim: DimRef,
    /// The layer (for messages).
    pub layer: String,
}

/// The checked model.
pub struct Graph {
    /// Inputs, in declaration order; input `k` is node `k`.
    pub inputs: Vec<InputIr>,
    /// Outputs, in declaration order.
    pub outputs: Vec<OutputIr>,
    /// Layers with parameters, in order of definition.
    pub layers: Vec<ParamLayer>,
    /// Nodes in topological order.
    pub nodes: Vec<Node>,
    /// Dims declared inline (`H1 = 256`), to be emitted as types.
    pub inline_dims: Vec<(Ident, usize)>,
    /// Const checks to emit.
    pub static_checks: Vec<StaticCheck>,
    /// Pairs of inputs merged together, with how many leading dims they share: their lengths
    /// must agree at run time.
    pub lead_checks: Vec<(usize, usize, usize)>,
    /// Const checks that a reshape keeps the static element count.
    pub count_checks: Vec<CountCheck>,
    /// Checks that nested models and user layers read and make the dims the graph says.
    pub layer_checks: Vec<LayerCheck>,
    /// Const checks that a dim from `dims!` named as a layer's output has the size the layer
    /// computes: the dim, the computed size, what computes it.
    pub size_checks: Vec<(Ident, Size, String)>,
    /// Const checks that a valid window fits (and, with `exact = true`, tiles) its input dim.
    pub window_checks: Vec<WindowCheck>,
    /// Const checks that grouped convolutions split their channels and filters evenly.
    pub group_checks: Vec<GroupCheck>,
    /// Whether the form is sequential (one input, one output, not a tuple).
    pub sequential: bool,
}

impl Graph {
    /// Whether the gradient of node `n` leads to a parameter (else the backward pass skips it).
    pub fn needs_grad(&self) -> Vec<bool> {
        let mut need = vec![false; self.nodes.len()];
        for (i, n) in self.nodes.iter().enumerate() {
            need[i] = matches!(
                n.op,
                Op::Dense(..)
                    | Op::Conv(..)
                    | Op::BatchNorm(_)
                    | Op::Embedding(..)
                    | Op::PRelu(_)
                    | Op::User(_)
            ) || n.args.iter().any(|&a| need[a]);
        }
        need
    }
}

impl Graph {
    /// The node whose buffers hold node `n`'s values: a reshape shares its operand's.
    pub fn buffer(&self, mut n: usize) -> usize {
        while let Op::Reshape = self.nodes[n].op {
            n = self.nodes[n].args[0];
        }
        n
    }
}
