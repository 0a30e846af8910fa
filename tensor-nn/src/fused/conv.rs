//! The 2-D convolution layer of generated models (and of [`crate::sequential`]): NHWC images,
//! an HWIO kernel `[kh, kw, in_c / groups, filters]` and a bias, with the bias and ReLU / tanh /
//! sigmoid applied inside the GEMM's epilogue. `forward_train` keeps the im2col matrix that the
//! backward pass reads for `∂kernel`; its buffers are reused from step to step.

use std::any::Any;
use std::cell::RefCell;

use tensor_core::kernels::conv::{
    conv2d_backward, conv2d_forward, images_per_chunk, Conv2d, Conv2dGeometry, Conv2dGrads, COL_CHUNK,
};
use tensor_core::kernels::{Epilogue, UnaryOp};
use tensor_core::{Float, TensorError};

use super::activation::Activation;
use super::options::DenseOptions;
use super::param::Param;
use super::rng::Rng;

/// Weights and scratch buffers of one convolution layer over images of a fixed `[h, w, c]`.
#[derive(Debug, Clone)]
pub struct Conv2D<F> {
    /// `name.kernel`, `[kh, kw, in_c / groups, filters]`, row-major.
    pub kernel: Param<F>,
    /// `name.bias`, `[filters]`, when the layer has a bias.
    pub bias: Option<Param<F>>,
    /// Initializers, regularizers and constraints (the same options as a dense layer's).
    pub options: DenseOptions,
    /// Sizes for one image (`batch` = 1); [`Conv2D::geometry`] sets the batch.
    geom: Conv2dGeometry,
    col: Vec<F>,
    dcol: Vec<F>,
    /// Per-task buffers of a fused convolution + max pooling (`conv_max_pool_train`).
    pub(super) blocks: Vec<Vec<F>>,
}

thread_local! {
    /// The im2col buffer of [`Conv2D::forward`] on this thread (a `Vec<F>` of the last element
    /// type used), shared by every convolution layer the thread runs.
    static SCRATCH: RefCell<Option<Box<dyn Any>>> = const { RefCell::new(None) };
}

/// Runs `f` with this thread's scratch buffer for elements `F`: taken out of the thread-local
/// slot for the call (so a nested call just starts an empty buffer) and put back afterwards,
/// unless it grew past [`COL_CHUNK`] values (one huge image), which is dropped. A thread
/// rather than a lock or a buffer inside the layer: `forward(&self)` stays callable from several
/// threads at once without contention, and nothing is allocated once the buffer is warm.
fn with_scratch<F: 'static + Clone, R>(f: impl FnOnce(&mut Vec<F>) -> R) -> R {
    let mut boxed: Box<dyn Any> = match SCRATCH.with(|c| c.borrow_mut().take()) {
        Some(b) if b.is::<Vec<F>>() => b,
        _ => Box::new(Vec::<F>::new()),
    };
    let r = match boxed.downcast_mut::<Vec<F>>() {
        Some(buf) => f(buf),
        None => f(&mut Vec::new()),
    };
    let keep = boxed
        .downcast_ref::<Vec<F>>()
        .is_some_and(|b| b.capacity() <= COL_CHUNK);
    if keep {
        SCRATCH.with(|c| *c.borrow_mut() = Some(boxed));
    }
    r
}

/// The activations the GEMM epilogue applies itself; the others run after it.
fn epilogue_op(act: Activation) -> Option<UnaryOp> {
    match act {
        Activation::Relu => Some(UnaryOp::Relu),
        Activation::Tanh => Some(UnaryOp::Tanh),
        Activation::Sigmoid => Some(UnaryOp::Sigmoid),
        _ => None,
    }
}

impl<F: Float> Conv2D<F> {
    /// A layer named `name` over images of `input = [h, w, c]` producing `filters` channels
    /// with a `kernel = [kh, kw]` window. The kernel `[kh, kw, c/groups, filters]` is drawn by
    /// the kernel initializer of `options`, by default as Keras: Glorot uniform (limit
    /// `sqrt(6 / (fan_in + fan_out))` with `fan_in = kh·kw·c/groups`, `fan_out = kh·kw·filters`,
    /// or for a depthwise convolution (`groups = c`) `kh·kw·c` and `kh·kw·multiplier` as Keras'
    /// `DepthwiseConv2D`, drawn in f32); the bias by the bias initializer (zeros by default).
    /// The regularizers and constraints of `options` are kept for training.
    ///
    /// # Errors
    /// [`TensorError::BadLength`] when the window does not fit the padded input, or the
    /// channels or filters are not multiples of the groups.
    #[allow(clippy::too_many_arguments)]
    pub fn try_new(
        name: &str,
        input: [usize; 3],
        filters: usize,
        kernel: [usize; 2],
        conv: Conv2d,
        use_bias: bool,
        options: DenseOptions,
        rng: &mut Rng,
    ) -> Result<Self, TensorError> {
        let geom = Conv2dGeometry::try_new("Conv2D", 1, input, kernel, filters, &conv)?;
        let shape = vec![kernel[0], kernel[1], geom.group_in(), filters];
        // Keras draws a depthwise kernel as `[kh, kw, c, multiplier]` (its fans), which holds
        // the same values in the same order as `[kh, kw, 1, c · multiplier]`.
        let depthwise = conv.groups > 1 && conv.groups == input[2];
        let draw = if depthwise {
            vec![kernel[0], kernel[1], input[2], filters / input[2]]
        } else {
            shape.clone()
        };
        let values = options.kernel_values(&draw, rng);
        Ok(Conv2D {
            kernel: Param::new(format!("{name}.kernel"), shape, values),
            bias: use_bias.then(|| {
                Param::new(
                    format!("{name}.bias"),
                    vec![filters],
                    options.bias_values(filters, rng),
                )
            }),
            options,
            geom,
            col: Vec::new(),
            dcol: Vec::new(),
            blocks: Vec::new(),
        })
    }

    /// As [`Conv2D::try_new`]: the constructor `model!` calls.
    ///
    /// # Panics
    /// On the errors of [`Conv2D::try_new`] (sizes `model!` has already checked).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        name: &str,
        input: [usize; 3],
        filters: usize,
        kernel: [usize; 2],
        conv: Conv2d,
        use_bias: bool,
        options: DenseOptions,
        rng: &mut Rng,
    ) -> Self {
        match Self::try_new(name, input, filters, kernel, conv, use_bias, options, rng) {
            Ok(l) => l,
            Err(e) => panic!("{e}"),
        }
    }

    /// The sizes of a batch of `batch` images.
    pub fn geometry(&self, batch: usize) -> Conv2dGeometry {
        Conv2dGeometry { batch, ..self.geom }
    }

    /// Output `[out_h, out_w, filters]` of one image.
    pub fn output_shape(&self) -> [usize; 3] {
        [self.geom.out_h, self.geom.out_w, self.geom.out_c]
    }

    /// Values per input image (`h · w · c`).
    pub fn input_len(&self) -> usize {
        self.geom.input_len()
    }

    /// Values per output image (`out_h · out_w · filters`).
    pub fn output_len(&self) -> usize {
        self.geom.output_len()
    }

    /// Sets the gradients of the kernel and the bias to zero (before a backward pass).
    pub fn zero_grad(&mut self) {
        self.kernel.grad.iter_mut().for_each(|g| *g = F::zero());
        if let Some(b) = &mut self.bias {
            b.grad.iter_mut().for_each(|g| *g = F::zero());
        }
    }

    /// The kernel, then the bias when there is one.
    pub fn params(&self) -> impl Iterator<Item = &Param<F>> {
        core::iter::once(&self.kernel).chain(self.bias.as_ref())
    }

    /// The kernel, then the bias when there is one, mutably.
    pub fn params_mut(&mut self) -> impl Iterator<Item = &mut Param<F>> {
        core::iter::once(&mut self.kernel).chain(self.bias.as_mut())
    }

    fn run(
        &self,
        g: &Conv2dGeometry,
        x: &[F],
        act: Activation,
        out: &mut Vec<F>,
        pre: Option<&mut Vec<F>>,
        col: &mut Vec<F>,
    ) {
        out.resize(g.output_len(), F::zero());
        let fused = if pre.is_some() { None } else { epilogue_op(act) };
        self.conv(g, x, fused, out, col);
        if let Some(pre) = pre {
            pre.clear();
            pre.extend_from_slice(out);
        }
        if fused.is_none() {
            act.forward_in_place(out, g.out_c);
        }
    }

    /// `out = fused(conv(x) + b)` (`out` exactly `g.output_len()` long).
    fn conv(&self, g: &Conv2dGeometry, x: &[F], fused: Option<UnaryOp>, out: &mut [F], col: &mut Vec<F>) {
        conv2d_forward(
            g,
            x,
            &self.kernel.value,
            Epilogue {
                bias: self.bias.as_ref().map(|b| &b.value[..]),
                activation: fused,
            },
            out,
            col,
        );
    }

    /// Inference: `out = act(conv(x) + b)` over `batch` images (`out` resized).
    ///
    /// Allocation-free once warm, and usable from several threads at once (`&self`): the
    /// images run in chunks whose im2col matrix holds at most [`COL_CHUNK`] values (one
    /// image at least), so it stays in cache, in a buffer kept per thread (see
    /// [`with_scratch`]).
    ///
    /// # Panics
    /// If `x` holds fewer than `batch` input images.
    pub fn forward(&self, x: &[F], batch: usize, act: Activation, out: &mut Vec<F>) {
        let (in_len, out_len) = (self.input_len(), self.output_len());
        out.resize(batch * out_len, F::zero());
        let chunk = images_per_chunk(self.geom.col_len(), batch);
        let fused = epilogue_op(act);
        with_scratch(|col: &mut Vec<F>| {
            let mut start = 0;
            while start < batch {
                let n = chunk.min(batch - start);
                let g = self.geometry(n);
                let o = &mut out[start * out_len..][..n * out_len];
                self.conv(&g, &x[start * in_len..][..n * in_len], fused, o, col);
                if fused.is_none() {
                    act.forward_in_place(o, g.out_c);
                }
                start += n;
            }
        });
    }

    /// Training forward pass: as [`Conv2D::forward`], keeping the im2col matrix for
    /// [`Conv2D::backward`] in the layer (reused across steps); `pre`, when given, receives the
    /// pre-activation (needed by GELU's backward).
    ///
    /// # Panics
    /// If `x` holds fewer than `batch` input images.
    pub fn forward_train(
        &mut self,
        x: &[F],
        batch: usize,
        act: Activation,
        out: &mut Vec<F>,
        pre: Option<&mut Vec<F>>,
    ) {
        let mut col = core::mem::take(&mut self.col);
        self.run(&self.geometry(batch), x, act, out, pre, &mut col);
        self.col = col;
    }

    /// Backward pass of the last [`Conv2D::forward_train`] (same `x` and batch): `grad` holds
    /// `∂L/∂a` and is turned into `∂L/∂z` in place; `∂L/∂kernel` and `∂L/∂bias` are **added**
    /// to the parameters' gradients, and `∂L/∂x` is added to `grad_in` when given.
    ///
    /// # Panics
    /// If the slices are shorter than `batch` images, or `forward_train` did not run first.
    #[allow(clippy::too_many_arguments)]
    pub fn backward(
        &mut self,
        x: &[F],
        out: &[F],
        pre: &[F],
        grad: &mut [F],
        batch: usize,
        act: Activation,
        grad_in: Option<&mut [F]>,
    ) {
        let g = self.geometry(batch);
        act.backward_in_place(out, pre, grad, g.out_c);
        let mut dcol = core::mem::take(&mut self.dcol);
        conv2d_backward(
            &g,
            x,
            &self.kernel.value,
            &self.col,
            grad,
            Conv2dGrads {
                input: grad_in,
                filters: Some(&mut self.kernel.grad),
                bias: self.bias.as_mut().map(|b| &mut b.grad[..]),
            },
            &mut dcol,
        );
        self.dcol = dcol;
    }
}

impl Conv2D<f32> {
    /// Projects the kernel and the bias with their constraints (after an optimizer update);
    /// a kernel constraint's norms are taken per filter, over `kh · kw · c/groups` weights
    /// (Keras' `axis = [0, 1, 2]`).
    ///
    /// # Errors
    /// When a parameter does not hold its shape's element count.
    pub fn apply_constraints(&mut self) -> crate::error::Result<()> {
        let s = &self.kernel.shape;
        let shape = [s[0] * s[1] * s[2], s[3]];
        self.options
            .constrain(&mut self.kernel, &shape, self.bias.as_mut())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_and_backward_by_hand() {
        // One 3×3 image [[1,2,3],[4,5,6],[7,8,9]], one channel, 2×2 kernel [[1,0],[0,-1]],
        // bias 0.5, valid: z = x[i][j] − x[i+1][j+1] + 0.5 = −3.5 everywhere → relu 0.
        // With kernel [[0,0],[0,1]] (picks x[i+1][j+1]): z = [5.5, 6.5, 8.5, 9.5].
        let mut rng = Rng::new(0);
        let mut c = Conv2D::<f64>::new(
            "c",
            [3, 3, 1],
            1,
            [2, 2],
            Conv2d::default(),
            true,
            DenseOptions::default(),
            &mut rng,
        );
        c.kernel.value = vec![0.0, 0.0, 0.0, 1.0];
        if let Some(b) = c.bias.as_mut() {
            b.value = vec![0.5];
        }
        let x: Vec<f64> = (1..=9).map(f64::from).collect();
        let mut out = Vec::new();
        c.forward_train(&x, 1, Activation::Relu, &mut out, None);
        assert_eq!(out, vec![5.5, 6.5, 8.5, 9.5]);
        // grad = [1, 2, 3, 4]: ∂b = 10; ∂k[ky][kx] = Σ g·x under tap: k00 = 1·1+2·2+3·4+4·5 = 37,
        // k11 = 1·5+2·6+3·8+4·9 = 77; ∂x puts g on x[i+1][j+1].
        let mut g = vec![1.0, 2.0, 3.0, 4.0];
        let mut gx = vec![0.0; 9];
        c.zero_grad();
        c.backward(&x, &out, &[], &mut g, 1, Activation::Relu, Some(&mut gx));
        assert_eq!(c.kernel.grad, vec![37.0, 47.0, 67.0, 77.0]);
        assert_eq!(c.bias.as_ref().map(|b| b.grad.clone()), Some(vec![10.0]));
        assert_eq!(gx, vec![0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 0.0, 3.0, 4.0]);
    }

    #[test]
    fn chunked_inference_matches_the_training_pass() {
        // 40×40×16 images, 3×3 valid: 207,936 im2col values per image, so `forward` runs one
        // image per chunk (COL_CHUNK = 262,144); from two threads at once, twice each
        // (the second call reuses the thread's buffer).
        let mut rng = Rng::new(3);
        let mut c = Conv2D::<f32>::new(
            "c",
            [40, 40, 16],
            8,
            [3, 3],
            Conv2d::default(),
            true,
            DenseOptions::default(),
            &mut rng,
        );
        let x: Vec<f32> = (0..3 * c.input_len())
            .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
            .collect();
        let mut want = Vec::new();
        c.forward_train(&x, 3, Activation::Relu, &mut want, None);
        let c = &c;
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    for _ in 0..2 {
                        let mut got = Vec::new();
                        c.forward(&x, 3, Activation::Relu, &mut got);
                        assert_eq!(got.len(), want.len());
                        for (a, b) in got.iter().zip(&want) {
                            assert!((a - b).abs() <= 1e-6 * b.abs().max(1.0), "{a} vs {b}");
                        }
                    }
                });
            }
        });
    }

    #[test]
    fn glorot_limit_and_names() {
        let mut rng = Rng::new(1);
        let c = Conv2D::<f32>::new(
            "conv2d1",
            [28, 28, 1],
            32,
            [3, 3],
            Conv2d::default(),
            true,
            DenseOptions::default(),
            &mut rng,
        );
        // fan_in = 9, fan_out = 288: limit sqrt(6 / 297)
        let limit = (6.0f32 / 297.0).sqrt();
        assert!(c.kernel.value.iter().all(|v| v.abs() <= limit));
        assert!(c.kernel.value.iter().any(|v| v.abs() > 0.9 * limit));
        assert_eq!(c.kernel.name, "conv2d1.kernel");
        assert_eq!(c.kernel.shape, vec![3, 3, 1, 32]);
        assert_eq!(c.output_shape(), [26, 26, 32]);
        assert!(Conv2D::<f32>::try_new(
            "c",
            [2, 2, 1],
            1,
            [3, 3],
            Conv2d::default(),
            true,
            DenseOptions::default(),
            &mut rng
        )
        .is_err());
    }
}
