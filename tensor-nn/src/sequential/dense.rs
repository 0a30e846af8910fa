//! A fully connected layer `y = x·W + b`, with GEMMs over strided views (no transposed copies).

use tensor_core::kernels::gemv::gemv_rows;
use tensor_core::kernels::{gemm, GemmArgs};

use super::layers::RuntimeLayer;
use crate::init::{Initializer, NnRng};
use crate::model::{ParamMut, ParamRef};
use crate::regularizers::Regularizer;

/// Up to this many rows, the forward pass uses the GEMV kernel instead of a packed GEMM.
const SMALL_BATCH: usize = 4;

/// Dense layer: kernel `(inputs, units)`, bias `(units,)`.
#[derive(Debug, Clone)]
pub struct Dense {
    name: String,
    kernel_name: String,
    bias_name: String,
    inputs: usize,
    units: usize,
    kernel: Vec<f32>,
    bias: Vec<f32>,
    kernel_grad: Vec<f32>,
    bias_grad: Vec<f32>,
    kernel_shape: [usize; 2],
    bias_shape: [usize; 1],
    kernel_regularizer: Option<Regularizer>,
    bias_regularizer: Option<Regularizer>,
    input: Vec<f32>,
}

impl Dense {
    /// A dense layer with Keras' default initialisation (Glorot-uniform kernel, zero bias).
    pub fn new(name: impl Into<String>, inputs: usize, units: usize, rng: &mut NnRng) -> Self {
        Self::with_init(
            name,
            inputs,
            units,
            Initializer::GlorotUniform,
            Initializer::Zeros,
            rng,
        )
    }

    /// A dense layer with the given initializers.
    pub fn with_init(
        name: impl Into<String>,
        inputs: usize,
        units: usize,
        kernel_init: Initializer,
        bias_init: Initializer,
        rng: &mut NnRng,
    ) -> Self {
        let name = name.into();
        Self {
            kernel_name: format!("{name}.kernel"),
            bias_name: format!("{name}.bias"),
            name,
            inputs,
            units,
            kernel: kernel_init.sample(&[inputs, units], rng),
            bias: bias_init.sample(&[units], rng),
            kernel_grad: vec![0.0; inputs * units],
            bias_grad: vec![0.0; units],
            kernel_shape: [inputs, units],
            bias_shape: [units],
            kernel_regularizer: None,
            bias_regularizer: None,
            input: Vec::new(),
        }
    }

    /// Adds a penalty on the kernel.
    pub fn with_kernel_regularizer(mut self, r: Regularizer) -> Self {
        self.kernel_regularizer = Some(r);
        self
    }

    /// Adds a penalty on the bias.
    pub fn with_bias_regularizer(mut self, r: Regularizer) -> Self {
        self.bias_regularizer = Some(r);
        self
    }

    fn affine(&self, x: &[f32], rows: usize) -> Vec<f32> {
        let (k, n) = (self.inputs, self.units);
        let mut y = Vec::with_capacity(rows * n);
        for _ in 0..rows {
            y.extend_from_slice(&self.bias);
        }
        if rows > 0 && rows <= SMALL_BATCH {
            // A packed GEMM would repack the whole kernel for a handful of rows; the GEMV
            // kernel streams the row-major kernel once with the outputs in registers.
            gemv_rows(rows, k, n, x, &self.kernel, &mut y);
        } else if rows > 0 && k > 0 && n > 0 {
            gemm(GemmArgs {
                m: rows,
                n,
                k,
                alpha: 1.0,
                a: x,
                a_rs: k,
                a_cs: 1,
                b: &self.kernel,
                b_rs: n,
                b_cs: 1,
                beta: 1.0,
                c: &mut y,
                c_rs: n,
            });
        }
        y
    }
}

impl RuntimeLayer for Dense {
    fn name(&self) -> &str {
        &self.name
    }

    fn output_features(&self, _input: usize) -> usize {
        self.units
    }

    fn forward(&self, x: &[f32], rows: usize) -> Vec<f32> {
        self.affine(x, rows)
    }

    fn forward_train(&mut self, x: Vec<f32>, rows: usize) -> Vec<f32> {
        let y = self.affine(&x, rows);
        self.input = x;
        y
    }

    fn backward(&mut self, dy: &[f32], rows: usize, need_input_grad: bool) -> Option<Vec<f32>> {
        let (k, n) = (self.inputs, self.units);
        // dW = xᵀ·dy: xᵀ is x read with swapped strides.
        gemm(GemmArgs {
            m: k,
            n,
            k: rows,
            alpha: 1.0,
            a: &self.input,
            a_rs: 1,
            a_cs: k,
            b: dy,
            b_rs: n,
            b_cs: 1,
            beta: 0.0,
            c: &mut self.kernel_grad,
            c_rs: n,
        });
        self.bias_grad.iter_mut().for_each(|g| *g = 0.0);
        for row in dy.chunks(n) {
            for (g, &d) in self.bias_grad.iter_mut().zip(row) {
                *g += d;
            }
        }
        if let Some(r) = self.kernel_regularizer {
            r.add_gradient(&self.kernel, &mut self.kernel_grad);
        }
        if let Some(r) = self.bias_regularizer {
            r.add_gradient(&self.bias, &mut self.bias_grad);
        }
        if !need_input_grad {
            return None;
        }
        // dx = dy·Wᵀ.
        let mut dx = vec![0f32; rows * k];
        gemm(GemmArgs {
            m: rows,
            n: k,
            k: n,
            alpha: 1.0,
            a: dy,
            a_rs: n,
            a_cs: 1,
            b: &self.kernel,
            b_rs: 1,
            b_cs: n,
            beta: 0.0,
            c: &mut dx,
            c_rs: k,
        });
        Some(dx)
    }

    fn params_mut(&mut self) -> Vec<ParamMut<'_>> {
        vec![
            ParamMut {
                name: &self.kernel_name,
                shape: &self.kernel_shape,
                value: &mut self.kernel,
                grad: &self.kernel_grad,
                trainable: true,
            },
            ParamMut {
                name: &self.bias_name,
                shape: &self.bias_shape,
                value: &mut self.bias,
                grad: &self.bias_grad,
                trainable: true,
            },
        ]
    }

    fn params(&self) -> Vec<ParamRef<'_>> {
        vec![
            ParamRef {
                name: &self.kernel_name,
                shape: &self.kernel_shape,
                value: &self.kernel,
            },
            ParamRef {
                name: &self.bias_name,
                shape: &self.bias_shape,
                value: &self.bias,
            },
        ]
    }

    fn regularization_loss(&self) -> f32 {
        self.kernel_regularizer.map_or(0.0, |r| r.penalty(&self.kernel))
            + self.bias_regularizer.map_or(0.0, |r| r.penalty(&self.bias))
    }
}
