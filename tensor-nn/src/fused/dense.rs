//! The dense layer of generated models: `a = act(x·W + b)` with the bias and the activation
//! applied right after the GEMM, and a backward pass that forms `∂L/∂z` in place and feeds it to
//! two strided GEMMs (`xᵀ·∂z` and `∂z·Wᵀ`, no transposed copies).

use tensor_core::kernels::gemv::gemv_rows;
use tensor_core::kernels::{gemm, gemm_fused, Epilogue, GemmArgs, UnaryOp};
use tensor_core::Float;

use super::activation::Activation;
use super::options::DenseOptions;
use super::param::Param;
use super::rng::Rng;

/// Up to this many rows, the forward pass streams the kernel through [`gemv_rows`] instead of
/// the packed GEMM.
const SMALL_BATCH: usize = 4;

/// Weights of one dense layer: a kernel `[inputs, units]` and an optional bias `[units]`.
#[derive(Debug, Clone)]
pub struct Dense<F> {
    /// `name.kernel`, `[inputs, units]`, row-major.
    pub kernel: Param<F>,
    /// `name.bias`, `[units]`, when the layer has a bias.
    pub bias: Option<Param<F>>,
    /// Initializers, regularizers and constraints.
    pub options: DenseOptions,
    inputs: usize,
    units: usize,
}

impl<F: Float> Dense<F> {
    /// A layer named `name` with a Glorot-uniform kernel (as Keras: limit `sqrt(6 / (in + out))`,
    /// drawn in f32 so that f32 and f64 models from one seed hold the same values) and a zero bias.
    pub fn new(name: &str, inputs: usize, units: usize, use_bias: bool, rng: &mut Rng) -> Self {
        Self::with_options(name, inputs, units, use_bias, DenseOptions::default(), rng)
    }

    /// A layer with `options`: the kernel drawn by its initializer (Glorot uniform as in
    /// [`Dense::new`] when none is given), the bias by its own (zeros by default).
    pub fn with_options(
        name: &str,
        inputs: usize,
        units: usize,
        use_bias: bool,
        options: DenseOptions,
        rng: &mut Rng,
    ) -> Self {
        let kernel = options.kernel_values(&[inputs, units], rng);
        Dense {
            kernel: Param::new(format!("{name}.kernel"), vec![inputs, units], kernel),
            bias: use_bias.then(|| {
                Param::new(
                    format!("{name}.bias"),
                    vec![units],
                    options.bias_values(units, rng),
                )
            }),
            options,
            inputs,
            units,
        }
    }

    /// Number of input features.
    pub fn inputs(&self) -> usize {
        self.inputs
    }

    /// Number of output features.
    pub fn units(&self) -> usize {
        self.units
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

    /// `out = act(x·W + b)` over `rows` rows. `out` is resized (no allocation once it has held
    /// this many values); `pre`, when given, receives `z = x·W + b` (needed by GELU's backward).
    ///
    /// # Panics
    /// If `x` holds fewer than `rows * inputs` values.
    pub fn forward(&self, x: &[F], rows: usize, act: Activation, out: &mut Vec<F>, pre: Option<&mut Vec<F>>) {
        let n = rows * self.units;
        out.resize(n, F::zero());
        // ReLU runs in the GEMM's epilogue unless the pre-activation is kept.
        let mut fused_act = false;
        if rows > SMALL_BATCH && self.units > 0 {
            // Bias (and ReLU) in the epilogue, per cache block; beta = 0 never reads `out`.
            fused_act = act == Activation::Relu && pre.is_none();
            gemm_fused(
                GemmArgs {
                    m: rows,
                    n: self.units,
                    k: self.inputs,
                    alpha: F::one(),
                    a: x,
                    a_rs: self.inputs,
                    a_cs: 1,
                    b: &self.kernel.value,
                    b_rs: self.units,
                    b_cs: 1,
                    beta: F::zero(),
                    c: out,
                    c_rs: self.units,
                },
                Epilogue {
                    bias: self.bias.as_ref().map(|b| b.value.as_slice()),
                    activation: fused_act.then_some(UnaryOp::Relu),
                },
            );
        } else {
            match &self.bias {
                Some(b) if self.units > 0 => out
                    .chunks_exact_mut(self.units)
                    .for_each(|row| row.copy_from_slice(&b.value)),
                _ => out.iter_mut().for_each(|v| *v = F::zero()),
            }
            // A few rows (inference on single samples): stream the row-major kernel once
            // instead of packing it for the blocked GEMM.
            gemv_rows(rows, self.inputs, self.units, x, &self.kernel.value, out);
        }
        if let Some(pre) = pre {
            pre.clear();
            pre.extend_from_slice(out);
        }
        if !fused_act {
            act.forward_in_place(out, self.units);
        }
    }

    /// Backward pass of [`Dense::forward`]: `grad` holds `∂L/∂a` and is turned into `∂L/∂z` in
    /// place; `∂L/∂W` and `∂L/∂b` are **added** to the parameters' gradients (so a layer applied
    /// twice accumulates both uses), and `∂L/∂x` is added to `grad_in` when given.
    ///
    /// # Panics
    /// If the slices are shorter than `rows` rows of the layer's sizes.
    #[allow(clippy::too_many_arguments)]
    pub fn backward(
        &mut self,
        x: &[F],
        out: &[F],
        pre: &[F],
        grad: &mut [F],
        rows: usize,
        act: Activation,
        grad_in: Option<&mut [F]>,
    ) {
        self.backward_with(x, out, pre, grad, rows, act, grad_in, true);
    }

    /// As [`Dense::backward`] when `accumulate`; otherwise `∂L/∂W` and `∂L/∂b` **overwrite**
    /// the parameters' gradients (the GEMM runs with β = 0), so no [`Dense::zero_grad`] is
    /// needed before it. Generated models overwrite for a layer applied once and without kernel
    /// or bias penalties: it saves clearing and re-reading the kernel's gradient every step.
    ///
    /// # Panics
    /// As [`Dense::backward`].
    #[allow(clippy::too_many_arguments)]
    pub fn backward_with(
        &mut self,
        x: &[F],
        out: &[F],
        pre: &[F],
        grad: &mut [F],
        rows: usize,
        act: Activation,
        grad_in: Option<&mut [F]>,
        accumulate: bool,
    ) {
        act.backward_in_place(out, pre, grad, self.units);
        if !accumulate {
            if let Some(b) = &mut self.bias {
                b.grad.iter_mut().for_each(|g| *g = F::zero());
            }
            if rows == 0 || self.units == 0 {
                self.kernel.grad.iter_mut().for_each(|g| *g = F::zero());
            }
        }
        if rows == 0 || self.units == 0 {
            return;
        }
        // ∂W = xᵀ·∂z: A = xᵀ is x read with swapped strides.
        gemm(GemmArgs {
            m: self.inputs,
            n: self.units,
            k: rows,
            alpha: F::one(),
            a: x,
            a_rs: 1,
            a_cs: self.inputs,
            b: grad,
            b_rs: self.units,
            b_cs: 1,
            beta: if accumulate { F::one() } else { F::zero() },
            c: &mut self.kernel.grad,
            c_rs: self.units,
        });
        if let Some(b) = &mut self.bias {
            for row in grad.chunks_exact(self.units) {
                b.grad.iter_mut().zip(row).for_each(|(s, &g)| *s = *s + g);
            }
        }
        if let Some(gx) = grad_in {
            // ∂x = ∂z·Wᵀ: B = Wᵀ is W read with swapped strides.
            gemm(GemmArgs {
                m: rows,
                n: self.inputs,
                k: self.units,
                alpha: F::one(),
                a: grad,
                a_rs: self.units,
                a_cs: 1,
                b: &self.kernel.value,
                b_rs: 1,
                b_cs: self.units,
                beta: F::one(),
                c: gx,
                c_rs: self.inputs,
            });
        }
    }
}

impl Dense<f32> {
    /// Projects the kernel and the bias with their constraints (after an optimizer update).
    ///
    /// # Errors
    /// When a parameter does not hold its shape's element count.
    pub fn apply_constraints(&mut self) -> crate::error::Result<()> {
        let shape = [self.inputs, self.units];
        self.options
            .constrain(&mut self.kernel, &shape, self.bias.as_mut())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_and_backward_by_hand() {
        // x = [[1, 2]], W = [[1, -1, 0], [2, 1, -3]], b = [0.5, 0, 1]:
        // z = [1+4+0.5, -1+2+0, 0-6+1] = [5.5, 1, -5]; relu → [5.5, 1, 0].
        let mut rng = Rng::new(0);
        let mut d = Dense::<f64>::new("d", 2, 3, true, &mut rng);
        d.kernel.value = vec![1., -1., 0., 2., 1., -3.];
        if let Some(b) = d.bias.as_mut() {
            b.value = vec![0.5, 0., 1.];
        }
        let x = [1.0, 2.0];
        let mut out = Vec::new();
        d.forward(&x, 1, Activation::Relu, &mut out, None);
        assert_eq!(out, vec![5.5, 1.0, 0.0]);
        // g = [1, 2, 3] → ∂z = [1, 2, 0]; ∂W = xᵀ∂z = [[1, 2, 0], [2, 4, 0]]; ∂b = [1, 2, 0];
        // ∂x = ∂z·Wᵀ = [1·1 + 2·(-1), 1·2 + 2·1] = [-1, 4].
        let mut g = vec![1.0, 2.0, 3.0];
        let mut gx = vec![0.0; 2];
        d.backward(&x, &out, &[], &mut g, 1, Activation::Relu, Some(&mut gx));
        assert_eq!(d.kernel.grad, vec![1., 2., 0., 2., 4., 0.]);
        assert_eq!(d.bias.as_ref().map(|b| b.grad.clone()), Some(vec![1., 2., 0.]));
        assert_eq!(gx, vec![-1.0, 4.0]);
    }

    /// `backward_with(.., false)` leaves what `zero_grad` + `backward` leaves, whatever the
    /// gradients held before (stale values, NaN), also on an empty batch.
    #[test]
    fn overwrite_equals_zero_then_accumulate() {
        let (k, n) = (13, 7);
        let mut rng = Rng::new(11);
        let base = Dense::<f64>::new("d", k, n, true, &mut rng);
        for rows in [0, 1, 6] {
            let x: Vec<f64> = (0..rows * k).map(|i| ((i * 7) % 11) as f64 / 5.0 - 1.0).collect();
            let mut out = Vec::new();
            base.forward(&x, rows, Activation::Relu, &mut out, None);
            let g0: Vec<f64> = (0..rows * n).map(|i| ((i * 3) % 5) as f64 - 2.0).collect();
            let mut a = base.clone();
            a.kernel.grad.iter_mut().for_each(|g| *g = 5.0);
            a.zero_grad();
            let (mut ga, mut gxa) = (g0.clone(), vec![0.0; rows * k]);
            a.backward(&x, &out, &[], &mut ga, rows, Activation::Relu, Some(&mut gxa));
            let mut b = base.clone();
            b.kernel.grad.iter_mut().for_each(|g| *g = f64::NAN);
            if let Some(bias) = b.bias.as_mut() {
                bias.grad.iter_mut().for_each(|g| *g = 3.0);
            }
            let (mut gb, mut gxb) = (g0.clone(), vec![0.0; rows * k]);
            b.backward_with(
                &x,
                &out,
                &[],
                &mut gb,
                rows,
                Activation::Relu,
                Some(&mut gxb),
                false,
            );
            assert_eq!(a.kernel.grad, b.kernel.grad, "rows {rows}");
            assert_eq!(a.bias.map(|p| p.grad), b.bias.map(|p| p.grad), "rows {rows}");
            assert_eq!(gxa, gxb, "rows {rows}");
        }
    }

    /// Both forward paths (the GEMV for up to 4 rows, the GEMM with bias and ReLU in its
    /// epilogue above that) agree with a naive `max(x·W + b, 0)` summed in f64.
    #[test]
    fn forward_paths_match_naive_relu_affine() {
        let (k, n) = (37, 21);
        let mut rng = Rng::new(7);
        let mut d = Dense::<f32>::new("d", k, n, true, &mut rng);
        if let Some(b) = d.bias.as_mut() {
            b.value = (0..n).map(|j| j as f32 * 0.05 - 0.5).collect();
        }
        for rows in [1, 3, 4, 5, 9] {
            let x: Vec<f32> = (0..rows * k)
                .map(|i| ((i * 13) % 17) as f32 / 8.0 - 1.0)
                .collect();
            let mut out = Vec::new();
            d.forward(&x, rows, Activation::Relu, &mut out, None);
            for r in 0..rows {
                for j in 0..n {
                    let z: f64 = (0..k)
                        .map(|i| f64::from(x[r * k + i]) * f64::from(d.kernel.value[i * n + j]))
                        .sum::<f64>()
                        + f64::from(d.bias.as_ref().map_or(0.0, |b| b.value[j]));
                    let got = f64::from(out[r * n + j]);
                    assert!(
                        (got - z.max(0.0)).abs() < 1e-5,
                        "rows {rows} ({r}, {j}): {got} vs {z}"
                    );
                }
            }
        }
    }

    #[test]
    fn glorot_limit_and_zero_bias() {
        let mut rng = Rng::new(3);
        let d = Dense::<f32>::new("dense1", 784, 128, true, &mut rng);
        let limit = (6.0f32 / 912.0).sqrt();
        assert!(d.kernel.value.iter().all(|v| v.abs() <= limit));
        let mean = d.kernel.value.iter().sum::<f32>() / d.kernel.value.len() as f32;
        // Uniform(-l, l) has variance l²/3: the sample's is within 5% of it.
        let var =
            d.kernel.value.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / d.kernel.value.len() as f32;
        assert!((var / (limit * limit / 3.0) - 1.0).abs() < 0.05, "{var}");
        assert_eq!(d.kernel.name, "dense1.kernel");
        assert!(d.bias.as_ref().is_some_and(|b| b.value.iter().all(|&v| v == 0.0)));
    }
}
