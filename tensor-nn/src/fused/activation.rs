//! Activations of generated models: applied in place after a GEMM (the epilogue), and their
//! derivatives applied in place to the incoming gradient (forming the backward GEMM's input).

use tensor_core::Float;

/// An element-wise (or, for softmax, row-wise over the last dimension) activation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Activation {
    /// Identity.
    Linear,
    /// `max(z, 0)`.
    Relu,
    /// `z` for `z > 0`, `alpha * z` otherwise (`alpha >= 0`).
    LeakyRelu(f64),
    /// `z` for `z > 0`, `alpha * (e^z - 1)` otherwise (`alpha > 0`).
    Elu(f64),
    /// `z * Φ(z)` with the exact normal CDF (Keras' default, `approximate=False`).
    Gelu,
    /// `ln(1 + e^z)`.
    Softplus,
    /// `1 / (1 + e^-z)`.
    Sigmoid,
    /// `tanh(z)`.
    Tanh,
    /// Softmax over the last dimension (each row sums to 1).
    Softmax,
}

impl Activation {
    /// Whether the backward pass needs the pre-activation `z` (not only the output `a`).
    pub const fn needs_pre(self) -> bool {
        matches!(self, Activation::Gelu)
    }

    /// Applies the activation in place to `rows` rows of `cols` values.
    pub fn forward_in_place<F: Float>(self, z: &mut [F], cols: usize) {
        match self {
            Activation::Linear => {}
            Activation::Relu => z.iter_mut().for_each(|v| *v = v.max(F::zero())),
            Activation::LeakyRelu(alpha) => {
                let a = F::from_f64(alpha);
                z.iter_mut().for_each(|v| {
                    if *v <= F::zero() {
                        *v = *v * a
                    }
                });
            }
            Activation::Elu(alpha) => {
                let a = F::from_f64(alpha);
                z.iter_mut().for_each(|v| {
                    if *v <= F::zero() {
                        *v = a * v.exp_m1()
                    }
                });
            }
            Activation::Gelu => z.iter_mut().for_each(|v| {
                let x: f64 = (*v).into();
                *v = F::from_f64(0.5 * x * (1.0 + erf(x * core::f64::consts::FRAC_1_SQRT_2)));
            }),
            Activation::Softplus => z.iter_mut().for_each(|v| {
                // max(z, 0) + ln(1 + e^-|z|): no overflow for large |z|.
                *v = v.max(F::zero()) + (-v.abs()).exp().ln_1p();
            }),
            Activation::Sigmoid => z.iter_mut().for_each(|v| *v = sigmoid(*v)),
            Activation::Tanh => z.iter_mut().for_each(|v| *v = v.tanh()),
            Activation::Softmax => {
                if cols == 0 {
                    return;
                }
                for row in z.chunks_exact_mut(cols) {
                    let m = row.iter().fold(F::neg_infinity(), |m, &v| m.max(v));
                    let mut sum = F::zero();
                    for v in row.iter_mut() {
                        *v = (*v - m).exp();
                        sum = sum + *v;
                    }
                    let inv = sum.recip();
                    row.iter_mut().for_each(|v| *v = *v * inv);
                }
            }
        }
    }

    /// Turns `grad` (∂L/∂a) into ∂L/∂z in place, given the activation's output `out` and, when
    /// [`Activation::needs_pre`], its input `pre` (otherwise `pre` is ignored).
    pub fn backward_in_place<F: Float>(self, out: &[F], pre: &[F], grad: &mut [F], cols: usize) {
        match self {
            Activation::Linear => {}
            // A select rather than a conditional store, so the loop vectorises.
            Activation::Relu => grad.iter_mut().zip(out).for_each(|(g, &a)| {
                *g = if a <= F::zero() { F::zero() } else { *g };
            }),
            Activation::LeakyRelu(alpha) => {
                let s = F::from_f64(alpha);
                grad.iter_mut().zip(out).for_each(|(g, &a)| {
                    if a <= F::zero() {
                        *g = *g * s
                    }
                });
            }
            Activation::Elu(alpha) => {
                // d/dz alpha (e^z - 1) = alpha e^z = a + alpha.
                let s = F::from_f64(alpha);
                grad.iter_mut().zip(out).for_each(|(g, &a)| {
                    if a <= F::zero() {
                        *g = *g * (a + s)
                    }
                });
            }
            Activation::Gelu => grad.iter_mut().zip(pre).for_each(|(g, &z)| {
                // d/dz z Φ(z) = Φ(z) + z φ(z).
                let x: f64 = z.into();
                let cdf = 0.5 * (1.0 + erf(x * core::f64::consts::FRAC_1_SQRT_2));
                let pdf = (-0.5 * x * x).exp() / (2.0 * core::f64::consts::PI).sqrt();
                *g = *g * F::from_f64(cdf + x * pdf);
            }),
            Activation::Softplus => grad.iter_mut().zip(out).for_each(|(g, &a)| {
                // σ(z) = 1 - e^-a since a = ln(1 + e^z).
                *g = *g * -(-a).exp_m1();
            }),
            Activation::Sigmoid => grad
                .iter_mut()
                .zip(out)
                .for_each(|(g, &a)| *g = *g * a * (F::one() - a)),
            Activation::Tanh => grad
                .iter_mut()
                .zip(out)
                .for_each(|(g, &a)| *g = *g * (F::one() - a * a)),
            Activation::Softmax => {
                if cols == 0 {
                    return;
                }
                // ∂L/∂z_j = a_j (g_j - Σ_k g_k a_k), row by row.
                for (g, a) in grad.chunks_exact_mut(cols).zip(out.chunks_exact(cols)) {
                    let dot = g.iter().zip(a).fold(F::zero(), |s, (&g, &a)| s + g * a);
                    g.iter_mut().zip(a).for_each(|(g, &a)| *g = a * (*g - dot));
                }
            }
        }
    }
}

/// The error function. Tiny arguments (including 0, on which tensor-core's series does not
/// terminate) use `erf(x) ≈ 2x/√π`, exact to f64 precision below 1e-8.
fn erf(x: f64) -> f64 {
    if x.abs() < 1e-8 {
        x * core::f64::consts::FRAC_2_SQRT_PI
    } else {
        tensor_core::kernels::scalar::erf_f64(x)
    }
}

fn sigmoid<F: Float>(z: F) -> F {
    if z >= F::zero() {
        F::one() / (F::one() + (-z).exp())
    } else {
        let e = z.exp();
        e / (F::one() + e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Activation; 9] = [
        Activation::Linear,
        Activation::Relu,
        Activation::LeakyRelu(0.3),
        Activation::Elu(1.5),
        Activation::Gelu,
        Activation::Softplus,
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Softmax,
    ];

    #[test]
    fn known_values() {
        // Hand-derived: relu(-1)=0, leaky(-1)=-0.3, elu_1.5(-1)=1.5(e^-1-1), gelu(1)=Φ(1)=0.841344746,
        // softplus(0)=ln 2, sigmoid(0)=0.5, tanh(1)=0.761594156.
        let check = |act: Activation, z: f64, want: f64| {
            let mut v = [z];
            act.forward_in_place(&mut v, 1);
            assert!((v[0] - want).abs() < 1e-9, "{act:?}({z}) = {} != {want}", v[0]);
        };
        check(Activation::Relu, -1.0, 0.0);
        check(Activation::LeakyRelu(0.3), -1.0, -0.3);
        check(Activation::Elu(1.5), -1.0, 1.5 * ((-1.0f64).exp() - 1.0));
        check(Activation::Gelu, 1.0, 0.841_344_746_068_543);
        check(Activation::Gelu, 0.0, 0.0);
        check(Activation::Softplus, 0.0, std::f64::consts::LN_2);
        check(Activation::Sigmoid, 0.0, 0.5);
        check(Activation::Tanh, 1.0, 0.761_594_155_955_764_9);
        let mut row = [1.0f64, 2.0, 3.0];
        Activation::Softmax.forward_in_place(&mut row, 3);
        let e: Vec<f64> = [1.0f64, 2.0, 3.0].iter().map(|v| v.exp()).collect();
        let s: f64 = e.iter().sum();
        for (r, e) in row.iter().zip(&e) {
            assert!((r - e / s).abs() < 1e-12);
        }
    }

    #[test]
    fn derivatives_match_central_differences() {
        // f(z) = Σ w_j act(z)_j with fixed weights w: ∂f/∂z by backward vs by central differences.
        let z0 = [-1.3f64, -0.2, 0.4, 1.7, 2.2, -2.9];
        let w = [0.3f64, -1.1, 0.7, 0.5, -0.4, 1.3];
        let f = |act: Activation, z: &[f64]| {
            let mut a = z.to_vec();
            act.forward_in_place(&mut a, 3);
            a.iter().zip(&w).map(|(a, w)| a * w).sum::<f64>()
        };
        for act in ALL {
            let mut out = z0.to_vec();
            act.forward_in_place(&mut out, 3);
            let mut g = w.to_vec();
            act.backward_in_place(&out, &z0, &mut g, 3);
            for i in 0..z0.len() {
                let h = 1e-6;
                let (mut zp, mut zm) = (z0.to_vec(), z0.to_vec());
                zp[i] += h;
                zm[i] -= h;
                let fd = (f(act, &zp) - f(act, &zm)) / (2.0 * h);
                assert!(
                    (fd - g[i]).abs() < 1e-7 * (1.0 + fd.abs()),
                    "{act:?} at {i}: {} vs {fd}",
                    g[i]
                );
            }
        }
    }
}
