//! The register tile's one step and the macro that makes a tile's row count a constant.

use crate::kernels::simd::Simd;

/// `acc[r][v] += a[r] · b[v·LANES ..]`: one step of a register tile.
#[inline(always)]
pub(super) fn rank1<S: Simd, const R: usize, const NV: usize>(
    s: S,
    acc: &mut [[S::V; NV]; R],
    a: [S::E; R],
    b: &[S::E],
) {
    let l = S::LANES;
    let bv: [S::V; NV] = std::array::from_fn(|v| s.load(&b[v * l..]));
    for (row, &x) in acc.iter_mut().zip(&a) {
        let xb = s.splat(x);
        for (accv, &w) in row.iter_mut().zip(&bv) {
            *accv = s.fmadd(xb, w, *accv);
        }
    }
}

/// Runs `$call` with the const `$c` set to `$n` (1 ..= [`TILE`]), so that a tile's row count is a
/// compile-time constant.
macro_rules! with_tile {
    ($n:expr, |$c:ident| $call:expr) => {
        match $n {
            6 => {
                const $c: usize = 6;
                $call
            }
            5 => {
                const $c: usize = 5;
                $call
            }
            4 => {
                const $c: usize = 4;
                $call
            }
            3 => {
                const $c: usize = 3;
                $call
            }
            2 => {
                const $c: usize = 2;
                $call
            }
            _ => {
                const $c: usize = 1;
                $call
            }
        }
    };
}
