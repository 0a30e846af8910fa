//! The seeded random stream of generated models (initialisation and dropout masks).

use rand::{Rng as _, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::NnError;

/// A seedable ChaCha8 stream: the same seed gives the same weights and the same dropout masks
/// on every platform.
#[derive(Debug, Clone)]
pub struct Rng(ChaCha8Rng);

impl Rng {
    /// A stream seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(ChaCha8Rng::seed_from_u64(seed))
    }

    /// A uniform draw from `[0, 1)`.
    pub fn unit(&mut self) -> f32 {
        self.0.gen::<f32>()
    }

    /// Fills `out` with uniform 32-bit draws: the very words, in order, that as many
    /// [`Rng::unit`] calls would consume (`unit` is the top 24 bits of one word times 2⁻²⁴),
    /// generated a block at a time.
    pub fn fill_words(&mut self, out: &mut [u32]) {
        self.0.fill(out);
    }

    /// The ChaCha stream itself, for tensor-nn's initializers.
    pub(crate) fn chacha(&mut self) -> &mut ChaCha8Rng {
        &mut self.0
    }

    /// A seed for a nested layer's own stream.
    pub fn next_seed(&mut self) -> u64 {
        self.0.gen::<u64>()
    }

    /// A uniform draw from `[-limit, limit)`.
    pub fn symmetric(&mut self, limit: f32) -> f32 {
        (self.unit() * 2.0 - 1.0) * limit
    }

    /// The stream's position as text, `chacha8:{seed as 64 hex digits}:{stream}:{word
    /// position}`: what [`Rng::restore`] needs to continue with the very next draw.
    pub fn state(&self) -> String {
        let seed: String = self.0.get_seed().iter().map(|b| format!("{b:02x}")).collect();
        format!("chacha8:{seed}:{}:{}", self.0.get_stream(), self.0.get_word_pos())
    }

    /// Puts the stream at the position [`Rng::state`] wrote.
    ///
    /// # Errors
    /// [`NnError::InvalidArgument`] naming the part of `state` that is malformed; the stream
    /// is unchanged then.
    pub fn restore(&mut self, state: &str) -> crate::error::Result<()> {
        let bad =
            |what: &str| NnError::invalid("Rng::restore", format!("{what} in random stream state `{state}`"));
        let parts: Vec<&str> = state.split(':').collect();
        let [kind, seed, stream, pos] = parts[..] else {
            return Err(bad("not 4 `:`-separated parts"));
        };
        if kind != "chacha8" {
            return Err(bad("unknown generator"));
        }
        if seed.len() != 64 || !seed.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("a seed that is not 64 hex digits"));
        }
        let mut bytes = [0u8; 32];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = u8::from_str_radix(&seed[2 * i..2 * i + 2], 16).map_err(|_| bad("a bad seed"))?;
        }
        let stream: u64 = stream.parse().map_err(|_| bad("a bad stream number"))?;
        let pos: u128 = pos.parse().map_err(|_| bad("a bad word position"))?;
        let mut rng = ChaCha8Rng::from_seed(bytes);
        rng.set_stream(stream);
        rng.set_word_pos(pos);
        self.0 = rng;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_range() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        let mut c = Rng::new(8);
        let xs: Vec<f32> = (0..100).map(|_| a.symmetric(0.5)).collect();
        let ys: Vec<f32> = (0..100).map(|_| b.symmetric(0.5)).collect();
        let zs: Vec<f32> = (0..100).map(|_| c.symmetric(0.5)).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
        assert!(xs.iter().all(|v| (-0.5..0.5).contains(v)));
    }

    #[test]
    fn restored_state_continues_the_stream_and_bad_state_is_refused() {
        let mut a = Rng::new(3);
        for _ in 0..37 {
            a.unit();
        }
        let saved = a.state();
        let mut b = Rng::new(99);
        b.restore(&saved).unwrap();
        let xs: Vec<f32> = (0..50).map(|_| a.unit()).collect();
        let ys: Vec<f32> = (0..50).map(|_| b.unit()).collect();
        assert_eq!(xs, ys);
        for bad in [
            "",
            "chacha8:00:0:0",
            "pcg:x:0:0",
            &saved.replace("chacha8:", "chacha8:zz"),
        ] {
            let before = b.state();
            let e = b.restore(bad).unwrap_err().to_string();
            assert!(e.contains("random stream state"), "{e}");
            assert_eq!(b.state(), before, "unchanged on error");
        }
    }

    #[test]
    fn words_are_the_draws_of_unit() {
        // Odd lengths, so the block boundaries of the two streams do not line up.
        let (mut a, mut b) = (Rng::new(11), Rng::new(11));
        for len in [1, 7, 255, 1000] {
            let mut words = vec![0u32; len];
            a.fill_words(&mut words);
            for w in words {
                assert_eq!(b.unit(), (w >> 8) as f32 / 16_777_216.0);
            }
        }
    }
}
