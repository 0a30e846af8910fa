//! The update rules of Keras 3's optimizers, written in f32 in Keras' order of operations so
//! trajectories match Keras to float rounding.

/// One optimizer's per-parameter update.
pub trait UpdateRule: Send + Sync + std::fmt::Debug {
    /// The Keras class name, e.g. `Adam`.
    fn name(&self) -> &'static str;

    /// Keras' default learning rate for this optimizer.
    fn default_learning_rate(&self) -> f32;

    /// Names of the per-parameter state buffers (each as long as the parameter).
    fn slot_names(&self) -> &'static [&'static str];

    /// Initial value of every element of slot `index`.
    fn initial_slot_value(&self, _index: usize) -> f32 {
        0.0
    }

    /// Updates `value` in place from `grad`. `step` is the 1-based step (Keras'
    /// `iterations + 1`), `lr` the learning rate of this step, `slots` this parameter's state.
    fn update(&self, step: u64, lr: f32, value: &mut [f32], grad: &[f32], slots: &mut [Vec<f32>]);
}

/// Stochastic gradient descent, optionally with (Nesterov) momentum. Keras default
/// learning rate 0.01.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sgd {
    /// Momentum coefficient (0 disables momentum).
    pub momentum: f64,
    /// Nesterov momentum.
    pub nesterov: bool,
}

impl Default for Sgd {
    fn default() -> Self {
        Self {
            momentum: 0.0,
            nesterov: false,
        }
    }
}

impl UpdateRule for Sgd {
    fn name(&self) -> &'static str {
        "SGD"
    }
    fn default_learning_rate(&self) -> f32 {
        0.01
    }
    fn slot_names(&self) -> &'static [&'static str] {
        if self.momentum != 0.0 {
            &["momentum"]
        } else {
            &[]
        }
    }
    fn update(&self, _step: u64, lr: f32, value: &mut [f32], grad: &[f32], slots: &mut [Vec<f32>]) {
        if self.momentum == 0.0 {
            for (v, &g) in value.iter_mut().zip(grad) {
                *v -= g * lr;
            }
            return;
        }
        let mu = self.momentum as f32;
        for ((v, &g), m) in value.iter_mut().zip(grad).zip(slots[0].iter_mut()) {
            // m = m·μ − g·lr; Nesterov steps by m·μ − g·lr with the new m.
            *m = *m * mu - g * lr;
            if self.nesterov {
                *v += *m * mu - g * lr;
            } else {
                *v += *m;
            }
        }
    }
}

/// Adam (and AMSGrad). Keras defaults: learning rate 0.001, β₁ 0.9, β₂ 0.999, ε 1e-7.
/// AdamW is this rule plus the optimizer's decoupled weight decay.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Adam {
    /// Decay of the first moment.
    pub beta_1: f64,
    /// Decay of the second moment.
    pub beta_2: f64,
    /// Added to the square root of the second moment.
    pub epsilon: f64,
    /// Use the running maximum of the second moment.
    pub amsgrad: bool,
}

impl Default for Adam {
    fn default() -> Self {
        Self {
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-7,
            amsgrad: false,
        }
    }
}

/// `1 − x` as Keras computes it: in f64 (Python floats), then cast to f32.
fn one_minus(x: f64) -> f32 {
    (1.0 - x) as f32
}

impl UpdateRule for Adam {
    fn name(&self) -> &'static str {
        "Adam"
    }
    fn default_learning_rate(&self) -> f32 {
        0.001
    }
    fn slot_names(&self) -> &'static [&'static str] {
        if self.amsgrad {
            &["momentum", "velocity", "velocity_hat"]
        } else {
            &["momentum", "velocity"]
        }
    }
    fn update(&self, step: u64, lr: f32, value: &mut [f32], grad: &[f32], slots: &mut [Vec<f32>]) {
        let t = step as f32;
        let b1p = (self.beta_1 as f32).powf(t);
        let b2p = (self.beta_2 as f32).powf(t);
        let eps = self.epsilon as f32;
        let alpha = lr * (1.0 - b2p).sqrt() / (1.0 - b1p);
        let (c1, c2) = (one_minus(self.beta_1), one_minus(self.beta_2));
        let [m, vel, rest @ ..] = slots else { return };
        let moments = value.iter_mut().zip(grad).zip(m.iter_mut()).zip(vel.iter_mut());
        if self.amsgrad {
            for ((((x, &g), m), v), vhat) in moments.zip(rest[0].iter_mut()) {
                *m += (g - *m) * c1;
                *v += (g * g - *v) * c2;
                *vhat = vhat.max(*v);
                *x -= (*m * alpha) / (vhat.sqrt() + eps);
            }
        } else {
            for (((x, &g), m), v) in moments {
                *m += (g - *m) * c1;
                *v += (g * g - *v) * c2;
                *x -= (*m * alpha) / (v.sqrt() + eps);
            }
        }
    }
}

/// Adagrad. Keras defaults: learning rate 0.001, initial accumulator 0.1, ε 1e-7.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Adagrad {
    /// Starting value of the accumulator.
    pub initial_accumulator_value: f64,
    /// Added inside the square root.
    pub epsilon: f64,
}

impl Default for Adagrad {
    fn default() -> Self {
        Self {
            initial_accumulator_value: 0.1,
            epsilon: 1e-7,
        }
    }
}

impl UpdateRule for Adagrad {
    fn name(&self) -> &'static str {
        "Adagrad"
    }
    fn default_learning_rate(&self) -> f32 {
        0.001
    }
    fn slot_names(&self) -> &'static [&'static str] {
        &["accumulator"]
    }
    fn initial_slot_value(&self, _index: usize) -> f32 {
        self.initial_accumulator_value as f32
    }
    fn update(&self, _step: u64, lr: f32, value: &mut [f32], grad: &[f32], slots: &mut [Vec<f32>]) {
        let eps = self.epsilon as f32;
        for ((v, &g), a) in value.iter_mut().zip(grad).zip(slots[0].iter_mut()) {
            *a += g * g;
            *v -= (lr * g) / (*a + eps).sqrt();
        }
    }
}

/// Adadelta. Keras defaults: learning rate 0.001, ρ 0.95, ε 1e-7.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Adadelta {
    /// Decay of the running averages.
    pub rho: f64,
    /// Added inside the square roots.
    pub epsilon: f64,
}

impl Default for Adadelta {
    fn default() -> Self {
        Self {
            rho: 0.95,
            epsilon: 1e-7,
        }
    }
}

impl UpdateRule for Adadelta {
    fn name(&self) -> &'static str {
        "Adadelta"
    }
    fn default_learning_rate(&self) -> f32 {
        0.001
    }
    fn slot_names(&self) -> &'static [&'static str] {
        &["accumulated_grad", "accumulated_delta_var"]
    }
    fn update(&self, _step: u64, lr: f32, value: &mut [f32], grad: &[f32], slots: &mut [Vec<f32>]) {
        let rho = self.rho as f32;
        let c = one_minus(self.rho);
        let eps = self.epsilon as f32;
        let (ag, ad) = slots.split_at_mut(1);
        for i in 0..value.len() {
            let g = grad[i];
            ag[0][i] = rho * ag[0][i] + c * (g * g);
            let delta = -(((ad[0][i] + eps).sqrt() * g) / (ag[0][i] + eps).sqrt());
            ad[0][i] = rho * ad[0][i] + c * (delta * delta);
            value[i] += lr * delta;
        }
    }
}

/// RMSprop, optionally centred and with momentum. Keras defaults: learning rate 0.001,
/// ρ 0.9, momentum 0, ε 1e-7, not centred.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RmsProp {
    /// Decay of the running average of squared gradients.
    pub rho: f64,
    /// Momentum coefficient (0 disables it).
    pub momentum: f64,
    /// Added to the denominator.
    pub epsilon: f64,
    /// Normalise by the variance rather than the second moment.
    pub centered: bool,
}

impl Default for RmsProp {
    fn default() -> Self {
        Self {
            rho: 0.9,
            momentum: 0.0,
            epsilon: 1e-7,
            centered: false,
        }
    }
}

impl UpdateRule for RmsProp {
    fn name(&self) -> &'static str {
        "RMSprop"
    }
    fn default_learning_rate(&self) -> f32 {
        0.001
    }
    fn slot_names(&self) -> &'static [&'static str] {
        // Always allocate all three; unused ones stay zero.
        &["velocity", "momentum", "average_gradient"]
    }
    fn update(&self, _step: u64, lr: f32, value: &mut [f32], grad: &[f32], slots: &mut [Vec<f32>]) {
        let rho = self.rho as f32;
        let c = one_minus(self.rho);
        let eps = self.epsilon as f32;
        let momentum = self.momentum as f32;
        let (vel, rest) = slots.split_at_mut(1);
        let (mom, avg) = rest.split_at_mut(1);
        for i in 0..value.len() {
            let g = grad[i];
            vel[0][i] = rho * vel[0][i] + c * (g * g);
            let denominator = if self.centered {
                avg[0][i] = rho * avg[0][i] + c * g;
                vel[0][i] - avg[0][i] * avg[0][i] + eps
            } else {
                vel[0][i] + eps
            };
            let increment = (lr * g) / denominator.sqrt();
            if self.momentum > 0.0 {
                mom[0][i] = momentum * mom[0][i] + increment;
                value[i] -= mom[0][i];
            } else {
                value[i] -= increment;
            }
        }
    }
}

/// FTRL-proximal. Keras defaults: learning rate 0.001, learning-rate power −0.5, initial
/// accumulator 0.1, no l1/l2/shrinkage, β 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ftrl {
    /// Power of the accumulator in the per-coordinate learning rate (≤ 0).
    pub learning_rate_power: f64,
    /// Starting value of the accumulator.
    pub initial_accumulator_value: f64,
    /// L1 regularisation strength.
    pub l1_regularization_strength: f64,
    /// L2 regularisation strength.
    pub l2_regularization_strength: f64,
    /// L2 shrinkage regularisation strength.
    pub l2_shrinkage_regularization_strength: f64,
    /// The β of the FTRL paper.
    pub beta: f64,
}

impl Default for Ftrl {
    fn default() -> Self {
        Self {
            learning_rate_power: -0.5,
            initial_accumulator_value: 0.1,
            l1_regularization_strength: 0.0,
            l2_regularization_strength: 0.0,
            l2_shrinkage_regularization_strength: 0.0,
            beta: 0.0,
        }
    }
}

impl UpdateRule for Ftrl {
    fn name(&self) -> &'static str {
        "Ftrl"
    }
    fn default_learning_rate(&self) -> f32 {
        0.001
    }
    fn slot_names(&self) -> &'static [&'static str] {
        &["accumulator", "linear"]
    }
    fn initial_slot_value(&self, index: usize) -> f32 {
        if index == 0 {
            self.initial_accumulator_value as f32
        } else {
            0.0
        }
    }
    fn update(&self, _step: u64, lr: f32, value: &mut [f32], grad: &[f32], slots: &mut [Vec<f32>]) {
        // Python floats meet f32 tensors: each scalar is cast to f32 where Keras casts it.
        let p = (-self.learning_rate_power) as f32;
        let l2 = self.l2_regularization_strength as f32 + self.beta as f32 / (2.0 * lr);
        let shrink = (2.0 * self.l2_shrinkage_regularization_strength) as f32;
        let l1 = self.l1_regularization_strength as f32;
        let (acc, lin) = slots.split_at_mut(1);
        for i in 0..value.len() {
            let g = grad[i];
            let x = value[i];
            let g_use = g + shrink * x;
            let new_acc = acc[0][i] + g * g;
            lin[0][i] += g_use - ((new_acc.powf(p) - acc[0][i].powf(p)) / lr) * x;
            let quadratic = new_acc.powf(p) / lr + 2.0 * l2;
            let clipped = lin[0][i].max(-l1).min(l1);
            value[i] = (clipped - lin[0][i]) / quadratic;
            acc[0][i] = new_acc;
        }
    }
}
