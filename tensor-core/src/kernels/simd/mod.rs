//! Vector abstraction for the SIMD kernels: one [`Simd`] trait, one zero-sized token type per
//! (instruction set, element type).
//!
//! A token can only be made by its `try_new`, which checks at run time that the CPU has the
//! instruction set, so holding a token proves that its intrinsics may be executed. The generic
//! kernel bodies written over [`Simd`] are therefore safe code; the only `unsafe` is inside the
//! token impls (each intrinsic call, justified by the token) and at the `#[target_feature]`
//! entry points (justified by the token passed in).

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2;
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512;

/// The element types the SIMD kernels handle, with the per-type constants of the math kernels.
pub(crate) trait Elem: num_traits::Float + Send + Sync + 'static {
    /// Converts an `f64` literal to this type (rounding to nearest).
    fn c(x: f64) -> Self;
    /// Inputs of `exp` are clamped to `[EXP_LO, EXP_HI]`: past them the result is 0 or +inf anyway.
    const EXP_LO: f64;
    /// Upper clamp of `exp` inputs.
    const EXP_HI: f64;
    /// High part of ln 2 for the Cody-Waite reduction (few mantissa bits, so `n * LN2_HI` is exact).
    const LN2_HI: f64;
    /// Low part of ln 2: `LN2_HI + LN2_LO` = ln 2 to well beyond this type's precision.
    const LN2_LO: f64;
    /// `exp(r) ≈ 1 + r + r²·P(r)` on `|r| <= ln2/2`: the coefficients of `P`, highest degree first.
    const EXP_P: &'static [f64];
    /// `tanh(x) ≈ x + x·z·P(z)/Q(z)` (z = x²) for `|x| < 0.625`: `P`, highest degree first.
    const TANH_P: &'static [f64];
    /// The monic denominator `Q` (leading 1 implied), highest degree first; empty means `Q = 1`.
    const TANH_Q: &'static [f64];
    /// Whether `erf` has a vector approximation accurate to this type's precision.
    const VECTOR_ERF: bool;
}

impl Elem for f32 {
    #[inline(always)]
    fn c(x: f64) -> f32 {
        x as f32
    }
    const EXP_LO: f64 = -104.0;
    const EXP_HI: f64 = 89.0;
    // Cephes expf.c
    const LN2_HI: f64 = 0.693359375;
    const LN2_LO: f64 = -2.121_944_400_546_905_827_68e-4;
    // Cephes expf.c minimax polynomial (relative error ≈ 1 ulp before rounding).
    const EXP_P: &'static [f64] = &[
        1.987_569_150_0e-4,
        1.398_199_950_7e-3,
        8.333_451_907_3e-3,
        4.166_579_589_4e-2,
        1.666_666_545_9e-1,
        5.000_000_120_1e-1,
    ];
    // Cephes tanhf.c
    const TANH_P: &'static [f64] = &[
        -5.704_988_727_45e-3,
        2.063_908_879_54e-2,
        -5.373_971_555_31e-2,
        1.333_144_220_36e-1,
        -3.333_328_194_22e-1,
    ];
    const TANH_Q: &'static [f64] = &[];
    const VECTOR_ERF: bool = true;
}

impl Elem for f64 {
    #[inline(always)]
    fn c(x: f64) -> f64 {
        x
    }
    const EXP_LO: f64 = -746.0;
    const EXP_HI: f64 = 710.0;
    // Cephes exp.c
    const LN2_HI: f64 = 6.931_457_519_531_25e-1;
    const LN2_LO: f64 = 1.428_606_820_309_417_232_12e-6;
    // Taylor coefficients 1/13!, 1/12!, ..., 1/2!: truncation error (ln2/2)^14/14! ≈ 4e-18.
    const EXP_P: &'static [f64] = &[
        1.0 / 6_227_020_800.0,
        1.0 / 479_001_600.0,
        1.0 / 39_916_800.0,
        1.0 / 3_628_800.0,
        1.0 / 362_880.0,
        1.0 / 40_320.0,
        1.0 / 5_040.0,
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        1.0 / 2.0,
    ];
    // Cephes tanh.c
    const TANH_P: &'static [f64] = &[
        -9.643_991_794_250_522_386_28e-1,
        -9.928_772_310_019_185_865_64e1,
        -1.614_687_684_417_084_479_52e3,
    ];
    const TANH_Q: &'static [f64] = &[
        1.128_116_784_916_329_314_02e2,
        2.235_488_390_601_004_485_83e3,
        4.844_063_053_251_254_860_48e3,
    ];
    const VECTOR_ERF: bool = false;
}

/// One SIMD instruction set for one element type. Implemented by zero-sized tokens whose
/// existence proves the CPU supports the instruction set.
pub(crate) trait Simd: Copy + Send + Sync + 'static {
    /// Element type.
    type E: Elem;
    /// A vector of `LANES` elements.
    type V: Copy;
    /// A lane mask as produced by comparisons.
    type M: Copy;
    /// Elements per vector.
    const LANES: usize;

    /// The token, if this CPU has the instruction set (checked at run time, cached by std).
    fn try_new() -> Option<Self>;

    /// All lanes `x`.
    fn splat(self, x: Self::E) -> Self::V;
    /// Loads the first `LANES` elements of `s`.
    ///
    /// # Panics
    /// If `s` is shorter than `LANES`.
    fn load(self, s: &[Self::E]) -> Self::V;
    /// Stores `v` into the first `LANES` elements of `s`.
    ///
    /// # Panics
    /// If `s` is shorter than `LANES`.
    fn store(self, s: &mut [Self::E], v: Self::V);
    /// `a + b`
    fn add(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a - b`
    fn sub(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a * b`
    fn mul(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a / b`
    fn div(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a * b + c` with one rounding.
    fn fmadd(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// x86 `max`: `a > b ? a : b` (so `b` when either is NaN).
    fn max_raw(self, a: Self::V, b: Self::V) -> Self::V;
    /// x86 `min`: `a < b ? a : b` (so `b` when either is NaN).
    fn min_raw(self, a: Self::V, b: Self::V) -> Self::V;
    /// Correctly rounded square root.
    fn sqrt(self, a: Self::V) -> Self::V;
    /// Round to the nearest integer, ties to even.
    fn round(self, a: Self::V) -> Self::V;
    /// `|a|` (clears the sign bit).
    fn abs(self, a: Self::V) -> Self::V;
    /// `-a` (flips the sign bit).
    fn neg(self, a: Self::V) -> Self::V;
    /// `2^n` for lanes holding integers with `|n|` below the exponent bias.
    fn pow2i(self, n: Self::V) -> Self::V;
    /// Lanes where `a > b` (false on NaN).
    fn gt(self, a: Self::V, b: Self::V) -> Self::M;
    /// Lanes where `a < b` (false on NaN).
    fn lt(self, a: Self::V, b: Self::V) -> Self::M;
    /// Lanes where `a` or `b` is NaN.
    fn unord(self, a: Self::V, b: Self::V) -> Self::M;
    /// Union of two masks.
    fn or_mask(self, a: Self::M, b: Self::M) -> Self::M;
    /// An all-false mask.
    fn no_lanes(self) -> Self::M;
    /// `m ? a : b` per lane.
    fn select(self, m: Self::M, a: Self::V, b: Self::V) -> Self::V;
    /// Whether any lane of `m` is set.
    fn any(self, m: Self::M) -> bool;
    /// Stores `v` into an array of `LANES` elements and returns it in a 16-element buffer.
    #[inline(always)]
    fn to_array(self, v: Self::V) -> [Self::E; 16] {
        let mut buf = [<Self::E as num_traits::Zero>::zero(); 16];
        self.store(&mut buf, v);
        buf
    }
    /// `E::c(x)` in all lanes.
    #[inline(always)]
    fn cst(self, x: f64) -> Self::V {
        self.splat(Self::E::c(x))
    }
}
