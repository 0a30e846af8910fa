//! Spare inference states of a generated model: `forward(&self)` borrows one instead of
//! allocating (and zero-filling) every node's buffers on each call, which dominates the cost of
//! predicting one small input.

use std::sync::Mutex;

use super::State;

/// Inference states kept only while their buffers hold at most this many values in all (4 MiB of
/// f32): small batches reuse them; a large batch, whose arithmetic dwarfs the allocation, does
/// not leave its buffers behind in the model.
pub const SPARE_STATE_MAX_VALUES: usize = 1 << 20;

/// States lent to concurrent `forward(&self)` calls: [`Spare::take`] one (or make a new one), run,
/// [`Spare::put`] it back. Cloning a model gives it no spares; they are only buffers.
#[derive(Default)]
pub struct Spare<F> {
    states: Mutex<Vec<State<F>>>,
}

impl<F> Spare<F> {
    /// An empty pool.
    pub fn new() -> Self {
        Spare {
            states: Mutex::new(Vec::new()),
        }
    }

    /// A spare state, if one was put back.
    pub fn take(&self) -> Option<State<F>> {
        // A panic cannot happen while the lock is held, so a poisoned pool is still consistent.
        self.states.lock().unwrap_or_else(|e| e.into_inner()).pop()
    }

    /// Keeps `state` for a later call when its buffers hold at most
    /// [`SPARE_STATE_MAX_VALUES`] values; drops it otherwise.
    pub fn put(&self, state: State<F>) {
        if state.capacity() <= SPARE_STATE_MAX_VALUES {
            self.states.lock().unwrap_or_else(|e| e.into_inner()).push(state);
        }
    }
}

impl<F> Clone for Spare<F> {
    fn clone(&self) -> Self {
        Spare::new()
    }
}

impl<F> std::fmt::Debug for Spare<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.states.lock().map_or(0, |s| s.len());
        write!(f, "Spare({n} states)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_small_states_and_drops_large_ones() {
        let spare = Spare::<f32>::new();
        assert!(spare.take().is_none());
        let mut small = State::<f32>::new(2);
        small.outs[1].resize(100, 0.0);
        spare.put(small);
        let back = spare.take().expect("a small state is kept");
        assert!(back.outs[1].capacity() >= 100, "its buffers come back with it");
        assert!(spare.take().is_none(), "lent once");
        let mut large = State::<f32>::new(2);
        large.outs[0].resize(SPARE_STATE_MAX_VALUES + 1, 0.0);
        spare.put(large);
        assert!(spare.take().is_none(), "a large state is dropped");
        spare.put(back);
        assert!(spare.clone().take().is_none(), "clones start empty");
        assert_eq!(format!("{spare:?}"), "Spare(1 states)");
    }
}
