//! Run-time selection of the instruction set, made once per process, and the dispatching
//! entry points of the element-wise kernels.
//!
//! `DIMFLOW_ISA=scalar|avx2|avx512` forces a path (falling back to the best available one
//! below it when the CPU lacks it).

use std::sync::OnceLock;

#[cfg(target_arch = "x86_64")]
use super::elementwise;
use super::simd::Elem;
#[cfg(target_arch = "x86_64")]
use super::simd::{
    avx2::{Avx2F32, Avx2F64},
    avx512::{Avx512F32, Avx512F64},
    Simd,
};
use super::{scalar, BinaryOp, ReduceOp, UnaryOp};

/// The instruction-set paths the kernels have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    /// Portable scalar code (the reference).
    Scalar,
    /// AVX2 with FMA.
    Avx2,
    /// AVX-512F.
    Avx512,
}

/// Picks the path for `forced` (the value of `DIMFLOW_ISA`) given what the CPU has.
fn choose(forced: Option<&str>, has2: bool, has512: bool) -> Isa {
    match forced {
        Some("scalar") => Isa::Scalar,
        Some("avx2") if has2 => Isa::Avx2,
        Some("avx2") => Isa::Scalar,
        _ if has512 => Isa::Avx512,
        _ if has2 => Isa::Avx2,
        _ => Isa::Scalar,
    }
}

fn detect() -> Isa {
    #[cfg(target_arch = "x86_64")]
    {
        let forced = std::env::var("DIMFLOW_ISA").ok();
        let has2 = Avx2F32::try_new().is_some();
        let has512 = Avx512F32::try_new().is_some();
        choose(forced.as_deref(), has2, has512)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        choose(Some("scalar"), false, false)
    }
}

/// The instruction set the kernels use in this process.
pub fn active_isa() -> Isa {
    static ISA: OnceLock<Isa> = OnceLock::new();
    *ISA.get_or_init(detect)
}

/// Element types with SIMD paths: ties each to its tokens.
pub(crate) trait SimdElem: Elem {
    /// The AVX2 token for this type.
    #[cfg(target_arch = "x86_64")]
    type Avx2: Simd<E = Self>;
    /// The AVX-512 token for this type.
    #[cfg(target_arch = "x86_64")]
    type Avx512: Simd<E = Self>;
}

impl SimdElem for f32 {
    #[cfg(target_arch = "x86_64")]
    type Avx2 = Avx2F32;
    #[cfg(target_arch = "x86_64")]
    type Avx512 = Avx512F32;
}

impl SimdElem for f64 {
    #[cfg(target_arch = "x86_64")]
    type Avx2 = Avx2F64;
    #[cfg(target_arch = "x86_64")]
    type Avx512 = Avx512F64;
}

/// Runs `$call` through the entry points of the active instruction set, or `$fallback`.
macro_rules! dispatch {
    ($e:ty, |$t:ident, $m:ident| $call:expr, $fallback:expr) => {{
        #[cfg(target_arch = "x86_64")]
        match active_isa() {
            Isa::Avx512 => {
                if let Some($t) = <$e as SimdElem>::Avx512::try_new() {
                    use elementwise::avx512 as $m;
                    // SAFETY: the token `$t` exists, so AVX-512F, AVX2 and FMA (the features
                    // the entry point is compiled with) were detected on this CPU.
                    return unsafe { $call };
                }
            }
            Isa::Avx2 => {
                if let Some($t) = <$e as SimdElem>::Avx2::try_new() {
                    use elementwise::avx2 as $m;
                    // SAFETY: the token `$t` exists, so AVX2 and FMA (the features the entry
                    // point is compiled with) were detected on this CPU.
                    return unsafe { $call };
                }
            }
            Isa::Scalar => {}
        }
        $fallback
    }};
}

/// `out[i] = a[i] op b[i]` on the best available path.
///
/// # Panics
/// If the slices differ in length.
pub(crate) fn binary<E: SimdElem>(op: BinaryOp, a: &[E], b: &[E], out: &mut [E]) {
    dispatch!(
        E,
        |t, m| m::binary(t, op, a, b, out),
        scalar::binary(op, a, b, out)
    )
}

/// `out[i] = a[i] op s` on the best available path.
///
/// # Panics
/// If the slices differ in length.
pub(crate) fn binary_scalar<E: SimdElem>(op: BinaryOp, a: &[E], s: E, out: &mut [E]) {
    dispatch!(
        E,
        |t, m| m::binary_scalar(t, op, a, s, out),
        scalar::binary_scalar(op, a, s, out)
    )
}

/// `out[i] = s op a[i]` on the best available path.
///
/// # Panics
/// If the slices differ in length.
pub(crate) fn scalar_binary<E: SimdElem>(op: BinaryOp, s: E, a: &[E], out: &mut [E]) {
    dispatch!(
        E,
        |t, m| m::scalar_binary(t, op, s, a, out),
        scalar::scalar_binary(op, s, a, out)
    )
}

/// `out[i] = op(a[i])` on the best available path.
///
/// # Panics
/// If the slices differ in length.
pub(crate) fn unary<E: SimdElem>(op: UnaryOp, a: &[E], out: &mut [E]) {
    dispatch!(E, |t, m| m::unary(t, op, a, out), scalar::unary(op, a, out))
}

/// Reduction of a slice on the best available path.
pub(crate) fn reduce<E: SimdElem>(op: ReduceOp, a: &[E]) -> E {
    dispatch!(E, |t, m| m::reduce(t, op, a), scalar::reduce(op, a))
}

/// f32 binary op on the best available path.
///
/// # Panics
/// If the slices differ in length.
pub fn binary_f32(op: BinaryOp, a: &[f32], b: &[f32], out: &mut [f32]) {
    binary(op, a, b, out)
}

/// Explicit-path entry points for tests and benches: run one op on a named instruction set.
///
/// Returns `false` (leaving `out` untouched) when this CPU lacks the instruction set.
pub mod forced {
    use super::*;

    /// Runs `f` through the element-wise entry points of `isa`; `false` if unavailable.
    macro_rules! on_isa {
        ($isa:expr, $e:ty, |$t:ident, $m:ident| $call:expr, $scalar:expr) => {{
            match $isa {
                Isa::Scalar => {
                    $scalar;
                    true
                }
                #[cfg(target_arch = "x86_64")]
                Isa::Avx2 => match <$e as SimdElem>::Avx2::try_new() {
                    Some($t) => {
                        use elementwise::avx2 as $m;
                        // SAFETY: the token `$t` exists, so AVX2 and FMA were detected.
                        unsafe { $call };
                        true
                    }
                    None => false,
                },
                #[cfg(target_arch = "x86_64")]
                Isa::Avx512 => match <$e as SimdElem>::Avx512::try_new() {
                    Some($t) => {
                        use elementwise::avx512 as $m;
                        // SAFETY: the token `$t` exists, so AVX-512F, AVX2 and FMA were detected.
                        unsafe { $call };
                        true
                    }
                    None => false,
                },
                #[cfg(not(target_arch = "x86_64"))]
                _ => false,
            }
        }};
    }

    /// Element types with explicit-path kernels (f32 and f64).
    #[allow(private_bounds)]
    pub trait ForcedFloat: SimdElem {}
    impl ForcedFloat for f32 {}
    impl ForcedFloat for f64 {}

    /// [`KernelFloat::binary`](super::super::KernelFloat::binary) on `isa`.
    ///
    /// # Panics
    /// If the slices differ in length.
    pub fn binary<E: ForcedFloat>(isa: Isa, op: BinaryOp, a: &[E], b: &[E], out: &mut [E]) -> bool {
        on_isa!(
            isa,
            E,
            |t, m| m::binary(t, op, a, b, out),
            scalar::binary(op, a, b, out)
        )
    }

    /// [`KernelFloat::binary_scalar`](super::super::KernelFloat::binary_scalar) on `isa`.
    ///
    /// # Panics
    /// If the slices differ in length.
    pub fn binary_scalar<E: ForcedFloat>(isa: Isa, op: BinaryOp, a: &[E], s: E, out: &mut [E]) -> bool {
        on_isa!(
            isa,
            E,
            |t, m| m::binary_scalar(t, op, a, s, out),
            scalar::binary_scalar(op, a, s, out)
        )
    }

    /// [`KernelFloat::scalar_binary`](super::super::KernelFloat::scalar_binary) on `isa`.
    ///
    /// # Panics
    /// If the slices differ in length.
    pub fn scalar_binary<E: ForcedFloat>(isa: Isa, op: BinaryOp, s: E, a: &[E], out: &mut [E]) -> bool {
        on_isa!(
            isa,
            E,
            |t, m| m::scalar_binary(t, op, s, a, out),
            scalar::scalar_binary(op, s, a, out)
        )
    }

    /// [`KernelFloat::unary`](super::super::KernelFloat::unary) on `isa`.
    ///
    /// # Panics
    /// If the slices differ in length.
    pub fn unary<E: ForcedFloat>(isa: Isa, op: UnaryOp, a: &[E], out: &mut [E]) -> bool {
        on_isa!(isa, E, |t, m| m::unary(t, op, a, out), scalar::unary(op, a, out))
    }

    /// [`KernelFloat::reduce`](super::super::KernelFloat::reduce) on `isa`; `None` if unavailable.
    pub fn reduce<E: ForcedFloat>(isa: Isa, op: ReduceOp, a: &[E]) -> Option<E> {
        let mut r = None;
        on_isa!(
            isa,
            E,
            |t, m| r = Some(m::reduce(t, op, a)),
            r = Some(scalar::reduce(op, a))
        );
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_choice_follows_the_documented_rules() {
        assert_eq!(choose(Some("scalar"), true, true), Isa::Scalar);
        assert_eq!(choose(Some("avx2"), true, true), Isa::Avx2);
        assert_eq!(choose(Some("avx2"), false, false), Isa::Scalar);
        assert_eq!(choose(Some("avx512"), true, false), Isa::Avx2);
        assert_eq!(choose(None, true, true), Isa::Avx512);
        assert_eq!(choose(None, true, false), Isa::Avx2);
        assert_eq!(choose(None, false, false), Isa::Scalar);
    }
}
