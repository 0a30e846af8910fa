//! The embedding layer of generated models: a table `[vocab, dim]` whose rows are looked up by
//! integer ids (Keras' `Embedding`, uniform initialisation in [-0.05, 0.05)).

use tensor_core::Float;

use super::param::Param;
use super::rng::Rng;

/// An embedding table.
#[derive(Debug, Clone)]
pub struct Embedding<F> {
    /// `name.embeddings`, `[vocab, dim]`, row-major.
    pub table: Param<F>,
    vocab: usize,
    dim: usize,
}

impl<F: Float> Embedding<F> {
    /// A table of `vocab` rows of `dim` values, uniform in [-0.05, 0.05) (drawn in f32).
    pub fn new(name: &str, vocab: usize, dim: usize, rng: &mut Rng) -> Self {
        let values = (0..vocab * dim)
            .map(|_| F::from_f64(f64::from(rng.symmetric(0.05))))
            .collect();
        Embedding {
            table: Param::new(format!("{name}.embeddings"), vec![vocab, dim], values),
            vocab,
            dim,
        }
    }

    /// The table.
    pub fn params(&self) -> impl Iterator<Item = &Param<F>> {
        core::iter::once(&self.table)
    }

    /// The table, mutably.
    pub fn params_mut(&mut self) -> impl Iterator<Item = &mut Param<F>> {
        core::iter::once(&mut self.table)
    }

    /// Sets the gradient to zero.
    pub fn zero_grad(&mut self) {
        self.table.grad.iter_mut().for_each(|g| *g = F::zero());
    }

    /// `out[i] = table[ids[i]]`, one row of `dim` values per id. An id outside `0..vocab`
    /// gives a row of zeros (and no gradient), as TensorFlow does on accelerators.
    pub fn forward(&self, ids: &[i64], out: &mut Vec<F>) {
        out.clear();
        for &id in ids {
            match self.row(id) {
                Some(r) => out.extend_from_slice(&self.table.value[r * self.dim..(r + 1) * self.dim]),
                None => out.extend(core::iter::repeat_n(F::zero(), self.dim)),
            }
        }
    }

    /// Adds each row of `grad` into the gradient of the table row it was looked up from.
    pub fn backward(&mut self, ids: &[i64], grad: &[F]) {
        if self.dim == 0 {
            return;
        }
        for (&id, g) in ids.iter().zip(grad.chunks_exact(self.dim)) {
            if let Some(r) = self.row(id) {
                let dst = &mut self.table.grad[r * self.dim..(r + 1) * self.dim];
                dst.iter_mut().zip(g).for_each(|(d, &g)| *d = *d + g);
            }
        }
    }

    fn row(&self, id: i64) -> Option<usize> {
        usize::try_from(id).ok().filter(|&r| r < self.vocab)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_and_scatter_add() {
        let mut e = Embedding::<f64>::new("emb", 3, 2, &mut Rng::new(0));
        e.table.value = vec![0., 1., 10., 11., 20., 21.];
        let mut out = vec![];
        e.forward(&[2, 0, 2, 7, -1], &mut out);
        assert_eq!(out, vec![20., 21., 0., 1., 20., 21., 0., 0., 0., 0.]);
        e.backward(&[2, 0, 2, 7, -1], &[1., 2., 3., 4., 5., 6., 7., 8., 9., 10.]);
        // Row 2 receives rows 0 and 2 of the gradient: [1 + 5, 2 + 6]; row 0 gets [3, 4].
        assert_eq!(e.table.grad, vec![3., 4., 0., 0., 6., 8.]);
    }
}
