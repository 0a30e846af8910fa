//! Activation functions with their derivatives, element-wise except softmax (over each row).
//!
//! ```
//! use tensor_nn::activations::Activation;
//! let mut y = vec![-1.0, 2.0];
//! Activation::Relu.apply_rows(&mut y, 2);
//! assert_eq!(y, vec![0.0, 2.0]);
//! ```

/// SELU's scale.
const SELU_SCALE: f64 = 1.050_700_987_355_480_5;
/// SELU's alpha.
const SELU_ALPHA: f64 = 1.673_263_242_354_377_2;

/// An activation function.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Activation {
    /// The identity.
    #[default]
    Linear,
    /// `max(x, 0)`.
    Relu,
    /// `x` for `x > 0`, else `negative_slope · x`.
    LeakyRelu(f32),
    /// `x` for `x > 0`, else `alpha · (eˣ − 1)`.
    Elu(f32),
    /// Scaled ELU with Keras' constants.
    Selu,
    /// `x · Φ(x)`, exact (`false`) or with the tanh approximation (`true`).
    Gelu(bool),
    /// `log(1 + eˣ)`.
    Softplus,
    /// `1 / (1 + e⁻ˣ)`.
    Sigmoid,
    /// `tanh x`.
    Tanh,
    /// `x · sigmoid(x)` (SiLU).
    Swish,
    /// `softmax` over each row.
    Softmax,
}

fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// erf with |error| < 1.2e-7 (Numerical Recipes' erfc Chebyshev fit).
fn erf(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 {
        1.0 - r
    } else {
        r - 1.0
    }
}

const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;

impl Activation {
    /// The Keras name.
    pub fn name(&self) -> &'static str {
        match self {
            Activation::Linear => "linear",
            Activation::Relu => "relu",
            Activation::LeakyRelu(_) => "leaky_relu",
            Activation::Elu(_) => "elu",
            Activation::Selu => "selu",
            Activation::Gelu(_) => "gelu",
            Activation::Softplus => "softplus",
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Swish => "swish",
            Activation::Softmax => "softmax",
        }
    }

    fn scalar(&self, x: f64) -> f64 {
        match *self {
            Activation::Linear | Activation::Softmax => x,
            Activation::Relu => x.max(0.0),
            Activation::LeakyRelu(a) => {
                if x > 0.0 {
                    x
                } else {
                    f64::from(a) * x
                }
            }
            Activation::Elu(a) => {
                if x > 0.0 {
                    x
                } else {
                    f64::from(a) * x.exp_m1()
                }
            }
            Activation::Selu => SELU_SCALE * if x > 0.0 { x } else { SELU_ALPHA * x.exp_m1() },
            Activation::Gelu(false) => 0.5 * x * (1.0 + erf(x / std::f64::consts::SQRT_2)),
            Activation::Gelu(true) => 0.5 * x * (1.0 + (SQRT_2_OVER_PI * (x + 0.044_715 * x * x * x)).tanh()),
            Activation::Softplus => x.max(0.0) + (-x.abs()).exp().ln_1p(),
            Activation::Sigmoid => sigmoid(x),
            Activation::Tanh => x.tanh(),
            Activation::Swish => x * sigmoid(x),
        }
    }

    fn derivative(&self, x: f64) -> f64 {
        match *self {
            Activation::Linear | Activation::Softmax => 1.0,
            Activation::Relu => {
                if x > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Activation::LeakyRelu(a) => {
                if x > 0.0 {
                    1.0
                } else {
                    f64::from(a)
                }
            }
            Activation::Elu(a) => {
                if x > 0.0 {
                    1.0
                } else {
                    f64::from(a) * x.exp()
                }
            }
            Activation::Selu => SELU_SCALE * if x > 0.0 { 1.0 } else { SELU_ALPHA * x.exp() },
            Activation::Gelu(false) => {
                let cdf = 0.5 * (1.0 + erf(x / std::f64::consts::SQRT_2));
                let pdf = (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
                cdf + x * pdf
            }
            Activation::Gelu(true) => {
                let u = SQRT_2_OVER_PI * (x + 0.044_715 * x * x * x);
                let t = u.tanh();
                0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * SQRT_2_OVER_PI * (1.0 + 3.0 * 0.044_715 * x * x)
            }
            Activation::Sigmoid => {
                let s = sigmoid(x);
                s * (1.0 - s)
            }
            Activation::Softplus => sigmoid(x),
            Activation::Tanh => 1.0 - x.tanh().powi(2),
            Activation::Swish => {
                let s = sigmoid(x);
                s + x * s * (1.0 - s)
            }
        }
    }

    /// Applies the activation in place to row-major rows of `features` values.
    pub fn apply_rows(&self, values: &mut [f32], features: usize) {
        match self {
            Activation::Linear => {}
            Activation::Relu => values.iter_mut().for_each(|v| *v = v.max(0.0)),
            Activation::Softmax => {
                for row in values.chunks_mut(features.max(1)) {
                    let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
                    let mut sum = 0.0f64;
                    for v in row.iter_mut() {
                        let e = (f64::from(*v - max)).exp();
                        *v = e as f32;
                        sum += e;
                    }
                    row.iter_mut().for_each(|v| *v = (f64::from(*v) / sum) as f32);
                }
            }
            _ => values
                .iter_mut()
                .for_each(|v| *v = self.scalar(f64::from(*v)) as f32),
        }
    }

    /// Gradient with respect to the input, given the input `x`, the output `y` and the
    /// gradient `dy` with respect to the output (rows of `features` values).
    pub fn backward_rows(&self, x: &[f32], y: &[f32], dy: &[f32], features: usize) -> Vec<f32> {
        match self {
            Activation::Linear => dy.to_vec(),
            Activation::Relu => x
                .iter()
                .zip(dy)
                .map(|(&x, &g)| if x > 0.0 { g } else { 0.0 })
                .collect(),
            Activation::Softmax => {
                // dx = y ⊙ (dy − Σ dy·y) per row.
                let mut dx = vec![0f32; dy.len()];
                let f = features.max(1);
                for ((yr, gr), dr) in y.chunks(f).zip(dy.chunks(f)).zip(dx.chunks_mut(f)) {
                    let dot: f64 = yr
                        .iter()
                        .zip(gr)
                        .map(|(&a, &b)| f64::from(a) * f64::from(b))
                        .sum();
                    for j in 0..yr.len() {
                        dr[j] = (f64::from(yr[j]) * (f64::from(gr[j]) - dot)) as f32;
                    }
                }
                dx
            }
            _ => x
                .iter()
                .zip(dy)
                .map(|(&x, &g)| (self.derivative(f64::from(x)) * f64::from(g)) as f32)
                .collect(),
        }
    }
}
