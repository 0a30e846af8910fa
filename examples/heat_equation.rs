//! Run: `cargo run --release --example heat_equation`
//!
//! The 2-D heat equation `u_t = alpha (u_xx + u_yy)` on the unit square with zero boundary
//! values, solved by explicit finite differences (the five-point Laplacian, forward Euler in
//! time) on typed tensors, and compared with the analytic solution
//! `u(x, y, t) = exp(-2 pi^2 alpha t) sin(pi x) sin(pi y)`.
//!
//! The grid's interior and the shifted stencil views are separate named dims, so a stencil
//! written with the wrong shift or a missing pad does not type-check.
use std::time::Instant;

use dimflow::prelude::*;

dimflow::dims! {
    /// Grid points along x, boundary included (h = 1/64).
    X = 65;
    /// Interior points along x.
    Xi = 63;
    /// Interior plus one boundary column along x (a padding step).
    Xp = 64;
    /// Grid points along y.
    Y = 65;
    /// Interior points along y.
    Yi = 63;
    /// Interior plus one boundary row along y.
    Yp = 64;
    /// A single boundary line.
    One = 1;
}

type Grid = Tensor<(X, Y), f64>;
type Interior = Tensor<(Xi, Yi), f64>;

/// The interior shifted by `(dx, dy)` grid points (each in 0..=2; (1, 1) is the centre).
fn shifted(u: &Grid, dx: usize, dy: usize) -> Interior {
    u.slice_as::<X, Xi, _>(dx).slice_as::<Y, Yi, _>(dy)
}

/// Puts the zero boundary back around an interior.
fn pad(inner: &Interior) -> Grid {
    let zcol = Tensor::<(Xi, One), f64>::zeros(&[]);
    let right = inner.concat(Yi, &zcol, One, Yp); // (Xi, Yp)
    let both = zcol.concat(One, &right, Yp, Y); // (Xi, Y)
    let zrow = Tensor::<(One, Y), f64>::zeros(&[]);
    let bottom = both.concat(Xi, &zrow, One, Xp); // (Xp, Y)
    zrow.concat(One, &bottom, Xp, X) // (X, Y)
}

fn main() {
    let alpha = 1.0;
    let n = X::SIZE.unwrap_or(65);
    let h = 1.0 / (n - 1) as f64;
    let dt = 0.2 * h * h / alpha; // explicit scheme is stable for dt <= h^2 / (4 alpha)
    let t_end = 0.05;
    let steps = (t_end / dt).round() as usize;
    let dt = t_end / steps as f64;
    let pi = std::f64::consts::PI;

    let exact = |t: f64| -> Grid {
        Tensor::from_fn(&[], |i| {
            let (x, y) = (i[0] as f64 * h, i[1] as f64 * h);
            (-2.0 * pi * pi * alpha * t).exp() * (pi * x).sin() * (pi * y).sin()
        })
    };

    let mut u = exact(0.0);
    let r = alpha * dt / (h * h);
    let start = Instant::now();
    for _ in 0..steps {
        let centre = shifted(&u, 1, 1);
        let lap = shifted(&u, 0, 1) + shifted(&u, 2, 1) + shifted(&u, 1, 0) + shifted(&u, 1, 2)
            - centre.mul_scalar(4.0);
        u = pad(&(centre + lap.mul_scalar(r)));
    }
    let elapsed = start.elapsed();

    let err = (&u - &exact(t_end)).abs().max_all();
    let peak = exact(t_end).max_all();
    println!("2-D heat equation, {n}x{n} grid, h = {h:.5}, dt = {dt:.3e}, {steps} steps to t = {t_end}");
    println!(
        "max |numeric - analytic| = {err:.3e} (peak value {peak:.5}, relative {:.3e})",
        err / peak
    );
    println!(
        "time: {:.1} ms ({:.1} us per step)",
        elapsed.as_secs_f64() * 1e3,
        elapsed.as_secs_f64() * 1e6 / steps as f64
    );
    assert!(
        err / peak < 1e-3,
        "the scheme is second order in h: the error should be small"
    );
}
