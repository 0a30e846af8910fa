//! Optimizers with Keras 3's update rules and defaults, over the parameters of a [`Model`].
//!
//! An [`Optimizer`] combines an [`UpdateRule`] (SGD, Adam, …) with what Keras' base optimizer
//! does around it: gradient clipping, decoupled weight decay, a learning rate or schedule,
//! the step counter, and per-parameter state keyed by parameter name.
//!
//! ```
//! use tensor_nn::optim::Optimizer;
//! use tensor_nn::ParamMut;
//! let mut w = vec![1.0f32, -2.0];
//! let mut opt = Optimizer::sgd(0.1);
//! let mut params = [ParamMut { name: "w", shape: &[2], value: &mut w, grad: &[0.5, -1.0], trainable: true }];
//! opt.apply(&mut params).unwrap();
//! assert_eq!(w, vec![1.0 - 0.05, -2.0 + 0.1]);
//! ```
//!
//! [`Model`]: crate::Model

mod clip;
mod rules;
mod schedules;

pub use clip::{clip_by_global_norm, clip_by_norm, clip_by_value, global_norm, GradientClip};
pub use rules::{Adadelta, Adagrad, Adam, Ftrl, RmsProp, Sgd, UpdateRule};
pub use schedules::{CosineDecay, ExponentialDecay, LearningRateSchedule, PiecewiseConstantDecay};

use std::collections::BTreeMap;

use crate::error::{NnError, Result};
use crate::model::ParamMut;
use crate::non_finite::{first_non_finite_in, NonFinite};

/// A constant learning rate or a schedule.
#[derive(Debug)]
pub enum LearningRate {
    /// The same rate at every step.
    Constant(f32),
    /// A rate computed from the step count.
    Schedule(Box<dyn LearningRateSchedule>),
}

impl LearningRate {
    /// The rate for the update after `step` earlier updates.
    pub fn at(&self, step: u64) -> f32 {
        match self {
            LearningRate::Constant(lr) => *lr,
            LearningRate::Schedule(s) => s.at(step),
        }
    }
}

impl From<f32> for LearningRate {
    fn from(lr: f32) -> Self {
        LearningRate::Constant(lr)
    }
}

impl<S: LearningRateSchedule + 'static> From<S> for LearningRate {
    fn from(s: S) -> Self {
        LearningRate::Schedule(Box::new(s))
    }
}

/// An optimizer: an update rule plus clipping, weight decay, learning rate and state.
#[derive(Debug)]
pub struct Optimizer {
    rule: Box<dyn UpdateRule>,
    learning_rate: LearningRate,
    iterations: u64,
    clip: Option<GradientClip>,
    weight_decay: Option<f32>,
    slots: BTreeMap<String, Vec<Vec<f32>>>,
    groups: Vec<(String, Optimizer)>,
}

impl Optimizer {
    /// An optimizer with the given rule and learning rate (or schedule).
    pub fn new(rule: impl UpdateRule + 'static, learning_rate: impl Into<LearningRate>) -> Self {
        Self {
            rule: Box::new(rule),
            learning_rate: learning_rate.into(),
            iterations: 0,
            clip: None,
            weight_decay: None,
            slots: BTreeMap::new(),
            groups: Vec::new(),
        }
    }

    /// Routes the parameters whose names start with `prefix` to `optimizer`; the others stay
    /// with `self`. This is how a wide & deep model trains its wide part with FTRL and its deep
    /// part with Adam (Keras' `WideDeepModel` takes two optimizers). The first matching group
    /// wins. Each group clips, decays and schedules its own parameters; all count the same steps.
    ///
    /// ```
    /// use tensor_nn::optim::Optimizer;
    /// use tensor_nn::ParamMut;
    /// let (mut wide, mut deep) = (vec![1.0f32], vec![1.0f32]);
    /// let mut opt = Optimizer::sgd(0.1).with_group("wide.", Optimizer::sgd(0.5));
    /// let mut params = [
    ///     ParamMut { name: "wide.kernel", shape: &[1], value: &mut wide, grad: &[1.0], trainable: true },
    ///     ParamMut { name: "dense1.kernel", shape: &[1], value: &mut deep, grad: &[1.0], trainable: true },
    /// ];
    /// opt.apply(&mut params).unwrap();
    /// assert_eq!((wide[0], deep[0]), (0.5, 0.9));
    /// ```
    pub fn with_group(mut self, prefix: impl Into<String>, optimizer: Optimizer) -> Self {
        self.groups.push((prefix.into(), optimizer));
        self
    }

    /// The group a parameter belongs to: its index in `groups`, or `groups.len()` for `self`.
    fn group_of(&self, name: &str) -> usize {
        self.groups
            .iter()
            .position(|(prefix, _)| name.starts_with(prefix.as_str()))
            .unwrap_or(self.groups.len())
    }

    /// An optimizer with the rule's Keras default learning rate.
    pub fn with_default_rate(rule: impl UpdateRule + 'static) -> Self {
        let lr = rule.default_learning_rate();
        Self::new(rule, lr)
    }

    /// Plain SGD.
    pub fn sgd(learning_rate: impl Into<LearningRate>) -> Self {
        Self::new(Sgd::default(), learning_rate)
    }

    /// SGD with momentum (`nesterov` for Nesterov momentum).
    pub fn momentum(learning_rate: impl Into<LearningRate>, momentum: f64, nesterov: bool) -> Self {
        Self::new(Sgd { momentum, nesterov }, learning_rate)
    }

    /// Adam with Keras' defaults for β₁, β₂ and ε.
    pub fn adam(learning_rate: impl Into<LearningRate>) -> Self {
        Self::new(Adam::default(), learning_rate)
    }

    /// AdamW: Adam with decoupled weight decay (Keras default 0.004).
    pub fn adamw(learning_rate: impl Into<LearningRate>, weight_decay: f32) -> Self {
        Self::new(Adam::default(), learning_rate).with_weight_decay(weight_decay)
    }

    /// Adagrad with Keras' defaults.
    pub fn adagrad(learning_rate: impl Into<LearningRate>) -> Self {
        Self::new(Adagrad::default(), learning_rate)
    }

    /// Adadelta with Keras' defaults.
    pub fn adadelta(learning_rate: impl Into<LearningRate>) -> Self {
        Self::new(Adadelta::default(), learning_rate)
    }

    /// RMSprop with Keras' defaults.
    pub fn rmsprop(learning_rate: impl Into<LearningRate>) -> Self {
        Self::new(RmsProp::default(), learning_rate)
    }

    /// FTRL with Keras' defaults.
    pub fn ftrl(learning_rate: impl Into<LearningRate>) -> Self {
        Self::new(Ftrl::default(), learning_rate)
    }

    /// Clips gradients before each update.
    pub fn with_clip(mut self, clip: GradientClip) -> Self {
        self.clip = Some(clip);
        self
    }

    /// Decoupled weight decay: before each update `w -= w · decay · lr`.
    pub fn with_weight_decay(mut self, decay: f32) -> Self {
        self.weight_decay = Some(decay);
        self
    }

    /// The rule's Keras class name.
    pub fn name(&self) -> &'static str {
        self.rule.name()
    }

    /// Number of updates applied so far.
    pub fn iterations(&self) -> u64 {
        self.iterations
    }

    /// The learning rate the next update will use.
    pub fn learning_rate(&self) -> f32 {
        self.learning_rate.at(self.iterations)
    }

    /// Replaces the learning rate (or schedule) by a constant, as `ReduceLROnPlateau` does.
    pub fn set_learning_rate(&mut self, lr: f32) {
        self.learning_rate = LearningRate::Constant(lr);
    }

    /// One update of every trainable parameter from its gradient, in Keras' order: clip the
    /// gradients, apply weight decay, update, count the step.
    ///
    /// Every step also scans for NaN and infinities (a vectorised pass over what the step
    /// reads and writes): the gradients of the trainable parameters and the values of the
    /// others (moving statistics) before the update, the updated values after it.
    ///
    /// # Errors
    /// [`NnError::Length`] when a gradient's length differs from its parameter's, or when the
    /// state kept under a parameter's name has another length (a different model).
    /// [`NnError::NonFinite`] when a gradient or a non-trainable value is not finite (nothing
    /// is updated, the step is not counted), or when an updated parameter is not finite (the
    /// update is applied; the report says so).
    pub fn apply(&mut self, params: &mut [ParamMut<'_>]) -> Result<()> {
        let iteration = self.iterations;
        check_inputs(iteration, params)?;
        self.apply_unchecked(params)?;
        check_updated(iteration, &self.learning_rate, params)
    }

    /// [`Optimizer::apply`] without the scans for non-finite values.
    fn apply_unchecked(&mut self, params: &mut [ParamMut<'_>]) -> Result<()> {
        if self.groups.is_empty() {
            return self.apply_own(params);
        }
        // Group the parameters (a stable sort keeps each group's order), then hand each group
        // its contiguous run.
        params.sort_by_cached_key(|p| self.group_of(p.name));
        let mut rest = params;
        for g in 0..=self.groups.len() {
            let n = rest.iter().take_while(|p| self.group_of(p.name) == g).count();
            let (mine, tail) = rest.split_at_mut(n);
            match self.groups.get_mut(g) {
                Some((_, opt)) => opt.apply_unchecked(mine)?,
                None => self.apply_own(mine)?,
            }
            rest = tail;
        }
        Ok(())
    }

    /// [`Optimizer::apply`] with this optimizer's own rule, over every parameter given.
    fn apply_own(&mut self, params: &mut [ParamMut<'_>]) -> Result<()> {
        // Filled only when clipping (no allocation otherwise).
        let mut grads: Vec<Vec<f32>> = Vec::new();
        for p in params.iter() {
            if p.grad.len() != p.value.len() {
                return Err(NnError::Length {
                    op: "Optimizer::apply",
                    what: "gradient",
                    expected: p.value.len(),
                    got: p.grad.len(),
                });
            }
            if let Some(slots) = self.slots.get(p.name) {
                if slots.first().is_some_and(|s| s.len() != p.value.len()) {
                    return Err(NnError::Length {
                        op: "Optimizer::apply",
                        what: "optimizer state",
                        expected: p.value.len(),
                        got: slots[0].len(),
                    });
                }
            }
        }
        // Gradients are copied only when clipping has to change them.
        let clipping = match self.clip {
            Some(GradientClip::Value(v) | GradientClip::Norm(v) | GradientClip::GlobalNorm(v)) => v > 0.0,
            None => false,
        };
        if clipping {
            for p in params.iter().filter(|p| p.trainable) {
                grads.push(p.grad.to_vec());
            }
        }
        match self.clip {
            Some(GradientClip::Value(v)) if v > 0.0 => grads.iter_mut().for_each(|g| clip_by_value(g, v)),
            Some(GradientClip::Norm(c)) if c > 0.0 => grads.iter_mut().for_each(|g| clip_by_norm(g, c)),
            Some(GradientClip::GlobalNorm(c)) if c > 0.0 => clip_by_global_norm(&mut grads, c),
            _ => {}
        }
        let lr = self.learning_rate.at(self.iterations);
        if let Some(wd) = self.weight_decay {
            for p in params.iter_mut().filter(|p| p.trainable) {
                for v in p.value.iter_mut() {
                    *v -= *v * wd * lr;
                }
            }
        }
        let step = self.iterations + 1;
        let names = self.rule.slot_names();
        for (j, p) in params.iter_mut().filter(|p| p.trainable).enumerate() {
            let g: &[f32] = if clipping { &grads[j] } else { p.grad };
            let n = p.value.len();
            let rule = &self.rule;
            let slots = match self.slots.get_mut(p.name) {
                Some(s) => s,
                None => self.slots.entry(p.name.to_string()).or_insert_with(|| {
                    (0..names.len())
                        .map(|k| vec![rule.initial_slot_value(k); n])
                        .collect()
                }),
            };
            rule.update(step, lr, p.value, g, slots);
        }
        self.iterations = step;
        Ok(())
    }

    /// The optimizer's state as named buffers `"{param}/{slot}"`, for checkpoints.
    pub fn state(&self) -> Vec<(String, &[f32])> {
        let names = self.rule.slot_names();
        let own = self.slots.iter().flat_map(|(p, slots)| {
            slots
                .iter()
                .zip(names)
                .map(move |(s, n)| (format!("{p}/{n}"), s.as_slice()))
        });
        own.chain(self.groups.iter().flat_map(|(_, opt)| opt.state()))
            .collect()
    }

    /// Restores state saved by [`Optimizer::state`] and the step count, checking the state's
    /// structure only (it does not know the model: see [`Optimizer::load_state_for`]). Nothing
    /// changes on error, in this optimizer or in any of its groups.
    ///
    /// # Errors
    /// [`NnError::InvalidArgument`] when a name is not `"{param}/{slot}"` with a slot of the
    /// rule of that parameter's group, a parameter's slots are incomplete or of different
    /// lengths, there is state before any step (`iterations == 0`), or `iterations` exceeds
    /// [`MAX_ITERATIONS`].
    pub fn load_state(&mut self, iterations: u64, state: Vec<(String, Vec<f32>)>) -> Result<()> {
        let parsed = self.parse_state(iterations, &state)?;
        self.install_state(iterations, parsed, state);
        Ok(())
    }

    /// Checks, without changing anything, that `state` (as [`Optimizer::state`] gives it) and
    /// the step count `iterations` fit this optimizer and the model whose parameters are
    /// `params`; [`Optimizer::load_state_for`] loads exactly what this accepts.
    ///
    /// Besides what [`Optimizer::load_state`] checks: every state entry names a parameter of
    /// `params` and has as many values as that parameter; and after steps (`iterations > 0`)
    /// every trainable parameter whose group's rule keeps slots has them all, since state
    /// missing there would silently restart, say, Adam's moments from zero. A parameter that
    /// was trainable when the state was saved but is frozen now may keep its slots; one frozen
    /// then but trainable now has none, so freeze it again before loading (and unfreeze after).
    ///
    /// # Errors
    /// [`NnError::InvalidArgument`] naming the parameter or the state entry at fault.
    pub fn check_state(
        &self,
        params: &[ParamMut<'_>],
        iterations: u64,
        state: &[(String, Vec<f32>)],
    ) -> Result<()> {
        let parsed = self.parse_state(iterations, state)?;
        let op = "Optimizer::load_state";
        let by_name: BTreeMap<&str, &ParamMut<'_>> = params.iter().map(|p| (p.name, p)).collect();
        for (param, slots) in &parsed {
            let p = by_name.get(param.as_str()).ok_or_else(|| {
                NnError::invalid(
                    op,
                    format!("state for `{param}`, which is not a parameter of the model"),
                )
            })?;
            // The slots of a parameter agree in length (checked by `parse_state`).
            if let Some(&i) = slots.first().filter(|&&i| state[i].1.len() != p.value.len()) {
                return Err(NnError::invalid(
                    op,
                    format!(
                        "`{}` has {} values but parameter `{param}` has {}",
                        state[i].0,
                        state[i].1.len(),
                        p.value.len()
                    ),
                ));
            }
        }
        if iterations > 0 {
            for p in params.iter().filter(|p| p.trainable) {
                let rule = &self.owner(p.name).rule;
                if !rule.slot_names().is_empty() && !parsed.contains_key(p.name) {
                    return Err(NnError::invalid(
                        op,
                        format!(
                            "no state for trainable parameter `{}` after {iterations} steps \
                             ({} keeps {:?} for it)",
                            p.name,
                            rule.name(),
                            rule.slot_names()
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// [`Optimizer::check_state`], then restores the state and the step count. Nothing changes
    /// on error.
    ///
    /// # Errors
    /// As [`Optimizer::check_state`].
    pub fn load_state_for(
        &mut self,
        params: &[ParamMut<'_>],
        iterations: u64,
        state: Vec<(String, Vec<f32>)>,
    ) -> Result<()> {
        self.check_state(params, iterations, &state)?;
        let parsed = self.parse_state(iterations, &state)?;
        self.install_state(iterations, parsed, state);
        Ok(())
    }

    /// The optimizer (this one or one of its groups, at any depth) that updates `name`.
    fn owner(&self, name: &str) -> &Optimizer {
        match self.groups.get(self.group_of(name)) {
            Some((_, opt)) => opt.owner(name),
            None => self,
        }
    }

    /// [`Optimizer::owner`], mutably.
    fn owner_mut(&mut self, name: &str) -> &mut Optimizer {
        let g = self.group_of(name);
        if g < self.groups.len() {
            return self.groups[g].1.owner_mut(name);
        }
        self
    }

    /// Checks the structure of `state`: for each parameter, the indices in `state` of its
    /// slots in the order of its optimizer's rule.
    fn parse_state(
        &self,
        iterations: u64,
        state: &[(String, Vec<f32>)],
    ) -> Result<BTreeMap<String, Vec<usize>>> {
        let op = "Optimizer::load_state";
        if iterations > MAX_ITERATIONS {
            return Err(NnError::invalid(
                op,
                format!("{iterations} iterations is more than the {MAX_ITERATIONS} a step counter holds"),
            ));
        }
        let mut slots: BTreeMap<&str, Vec<Option<usize>>> = BTreeMap::new();
        for (i, (key, _)) in state.iter().enumerate() {
            let (param, slot) = key
                .rsplit_once('/')
                .ok_or_else(|| NnError::invalid(op, format!("bad state name `{key}`")))?;
            let rule = &self.owner(param).rule;
            let names = rule.slot_names();
            let k = names.iter().position(|n| *n == slot).ok_or_else(|| {
                NnError::invalid(
                    op,
                    format!(
                        "`{slot}` is not a slot of {}, which updates `{param}`",
                        rule.name()
                    ),
                )
            })?;
            let entry = slots.entry(param).or_insert_with(|| vec![None; names.len()]);
            if entry[k].replace(i).is_some() {
                return Err(NnError::invalid(op, format!("`{key}` is given twice")));
            }
        }
        let mut out = BTreeMap::new();
        for (param, s) in slots {
            if iterations == 0 {
                return Err(NnError::invalid(
                    op,
                    format!("state for `{param}` at iteration 0, before any step made it"),
                ));
            }
            let names = self.owner(param).rule.slot_names();
            let s: Vec<usize> = s
                .iter()
                .zip(names)
                .map(|(i, n)| {
                    i.ok_or_else(|| {
                        NnError::invalid(op, format!("incomplete state for `{param}`: no `{param}/{n}`"))
                    })
                })
                .collect::<Result<_>>()?;
            if s.windows(2).any(|w| state[w[0]].1.len() != state[w[1]].1.len()) {
                return Err(NnError::invalid(
                    op,
                    format!("slots of `{param}` differ in length"),
                ));
            }
            out.insert(param.to_string(), s);
        }
        Ok(out)
    }

    /// Replaces the state of this optimizer and its groups by `parsed` (from
    /// [`Optimizer::parse_state`] over `state`) and sets the step count; cannot fail.
    fn install_state(
        &mut self,
        iterations: u64,
        parsed: BTreeMap<String, Vec<usize>>,
        mut state: Vec<(String, Vec<f32>)>,
    ) {
        self.reset_state(iterations);
        for (param, indices) in parsed {
            let slots = indices
                .into_iter()
                .map(|i| std::mem::take(&mut state[i].1))
                .collect();
            self.owner_mut(&param).slots.insert(param, slots);
        }
    }

    /// Drops the state of this optimizer and its groups and sets their step count.
    fn reset_state(&mut self, iterations: u64) {
        self.slots.clear();
        self.iterations = iterations;
        for (_, opt) in &mut self.groups {
            opt.reset_state(iterations);
        }
    }
}

/// The largest step count an optimizer loads: Keras' `iterations` is an int64, and the next
/// step's 1-based count must still fit.
pub const MAX_ITERATIONS: u64 = i64::MAX as u64;

/// The first non-finite gradient of a trainable parameter or value of a non-trainable one.
fn check_inputs(iteration: u64, params: &[ParamMut<'_>]) -> Result<()> {
    let read = params
        .iter()
        .map(|p| (p, if p.trainable { p.grad } else { &*p.value }));
    match first_non_finite_in(read) {
        None => Ok(()),
        Some((p, i, v)) => {
            let detail = if p.trainable {
                format!("the gradient of `{}` is {v} at element {i}", p.name)
            } else {
                format!("`{}` (not trainable) is {v} at element {i}", p.name)
            };
            Err(non_finite(iteration, p.name, detail, false))
        }
    }
}

/// The first non-finite value of a trainable parameter after its update.
fn check_updated(iteration: u64, learning_rate: &LearningRate, params: &[ParamMut<'_>]) -> Result<()> {
    let updated = params.iter().filter(|p| p.trainable).map(|p| (p.name, &*p.value));
    match first_non_finite_in(updated) {
        None => Ok(()),
        Some((name, i, v)) => {
            let detail = format!(
                "`{name}` is {v} at element {i} after the update (learning rate {}) although \
                 every gradient was finite",
                learning_rate.at(iteration)
            );
            Err(non_finite(iteration, name, detail, true))
        }
    }
}

fn non_finite(iteration: u64, tensor: &str, detail: String, update_applied: bool) -> NnError {
    NnError::NonFinite(Box::new(NonFinite {
        epoch: None,
        step: None,
        iteration,
        tensor: Some(tensor.to_string()),
        detail,
        update_applied,
    }))
}
