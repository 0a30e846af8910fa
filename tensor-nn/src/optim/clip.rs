//! Gradient clipping as Keras' `clipvalue`, `clipnorm` and `global_clipnorm`.

/// How an optimizer clips gradients before updating.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum GradientClip {
    /// Each element into `[-v, v]`.
    Value(f32),
    /// Each parameter's gradient to an L2 norm of at most this.
    Norm(f32),
    /// All gradients together to a global L2 norm of at most this.
    GlobalNorm(f32),
}

/// Clips every element into `[-limit, limit]`.
pub fn clip_by_value(grad: &mut [f32], limit: f32) {
    for g in grad {
        *g = g.max(-limit).min(limit);
    }
}

/// Scales `grad` to an L2 norm of at most `max_norm` (Keras: `g·c / max(‖g‖, c)`).
pub fn clip_by_norm(grad: &mut [f32], max_norm: f32) {
    let l2sum: f32 = grad.iter().map(|g| g * g).sum();
    let norm = if l2sum > 0.0 { l2sum.sqrt() } else { l2sum };
    let denom = norm.max(max_norm);
    for g in grad {
        *g = (*g * max_norm) / denom;
    }
}

/// The L2 norm of all the gradients together.
pub fn global_norm(grads: &[&[f32]]) -> f32 {
    grads
        .iter()
        .map(|g| g.iter().map(|x| x * x).sum::<f32>())
        .sum::<f32>()
        .sqrt()
}

/// Scales all gradients by `c · min(1/‖g‖, 1/c)`; a non-finite global norm gives NaN
/// gradients, as in Keras.
pub fn clip_by_global_norm(grads: &mut [Vec<f32>], max_norm: f32) {
    let refs: Vec<&[f32]> = grads.iter().map(|g| g.as_slice()).collect();
    let norm = global_norm(&refs);
    #[allow(clippy::eq_op)]
    let scale = max_norm * (1.0 / norm).min(1.0 / max_norm) + (norm - norm);
    for g in grads.iter_mut().flat_map(|g| g.iter_mut()) {
        *g *= scale;
    }
}
