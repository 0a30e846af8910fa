//! AVX-512F tokens for f32 (16 lanes) and f64 (8 lanes).
//!
//! Only AVX-512F instructions are used (no DQ/BW/VL), so every AVX-512 CPU runs them.

use std::arch::x86_64::*;

use super::Simd;

/// Proof that AVX-512F (and FMA) is available; vector type `__m512` (16 × f32).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Avx512F32(());

/// Proof that AVX-512F (and FMA) is available; vector type `__m512d` (8 × f64).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Avx512F64(());

fn detected() -> bool {
    is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
}

/// Wraps one intrinsic call made from a token method.
macro_rules! avx512 {
    ($e:expr) => {
        // SAFETY: `self` is a token, constructed only when AVX-512F was detected at run time,
        // and the intrinsic reads/writes no memory (loads and stores are checked separately).
        unsafe { $e }
    };
}

macro_rules! impl_avx512 {
    ($tok:ident, $e:ty, $v:ty, $m:ty, $lanes:expr,
     set1 = $set1:ident, loadu = $loadu:ident, storeu = $storeu:ident,
     add = $add:ident, sub = $sub:ident, mul = $mul:ident, div = $div:ident, fmadd = $fmadd:ident,
     max = $max:ident, min = $min:ident, sqrt = $sqrt:ident, roundscale = $round:ident,
     abs = $abs:ident, cmp = $cmp:ident, blend = $blend:ident,
     cast_si = $cast_si:ident, cast_fp = $cast_fp:ident, add_int = $add_int:ident,
     slli = $slli:ident, magic = $magic:expr, bias_minus_magic = $bmm:expr, set1_int = $set1_int:ident,
     sign = $sign:expr, shift = $shift:expr) => {
        impl Simd for $tok {
            type E = $e;
            type V = $v;
            type M = $m;
            const LANES: usize = $lanes;

            #[inline(always)]
            fn try_new() -> Option<Self> {
                detected().then_some($tok(()))
            }

            #[inline(always)]
            fn splat(self, x: $e) -> $v {
                avx512!($set1(x))
            }
            #[inline(always)]
            fn load(self, s: &[$e]) -> $v {
                assert!(s.len() >= $lanes);
                // SAFETY: the token proves AVX-512F is available and the assert above proves `s`
                // holds `LANES` readable elements; `loadu` has no alignment requirement.
                unsafe { $loadu(s.as_ptr()) }
            }
            #[inline(always)]
            fn store(self, s: &mut [$e], v: $v) {
                assert!(s.len() >= $lanes);
                // SAFETY: the token proves AVX-512F is available and the assert above proves `s`
                // holds `LANES` writable elements; `storeu` has no alignment requirement.
                unsafe { $storeu(s.as_mut_ptr(), v) }
            }
            #[inline(always)]
            fn add(self, a: $v, b: $v) -> $v {
                avx512!($add(a, b))
            }
            #[inline(always)]
            fn sub(self, a: $v, b: $v) -> $v {
                avx512!($sub(a, b))
            }
            #[inline(always)]
            fn mul(self, a: $v, b: $v) -> $v {
                avx512!($mul(a, b))
            }
            #[inline(always)]
            fn div(self, a: $v, b: $v) -> $v {
                avx512!($div(a, b))
            }
            #[inline(always)]
            fn fmadd(self, a: $v, b: $v, c: $v) -> $v {
                avx512!($fmadd(a, b, c))
            }
            #[inline(always)]
            fn max_raw(self, a: $v, b: $v) -> $v {
                avx512!($max(a, b))
            }
            #[inline(always)]
            fn min_raw(self, a: $v, b: $v) -> $v {
                avx512!($min(a, b))
            }
            #[inline(always)]
            fn sqrt(self, a: $v) -> $v {
                avx512!($sqrt(a))
            }
            #[inline(always)]
            fn round(self, a: $v) -> $v {
                // imm8 = 0x08: scale 0 (round to an integer), nearest-even, no exceptions.
                avx512!($round::<0x08>(a))
            }
            #[inline(always)]
            fn abs(self, a: $v) -> $v {
                avx512!($abs(a))
            }
            #[inline(always)]
            fn neg(self, a: $v) -> $v {
                avx512!($cast_fp(_mm512_xor_si512($cast_si(a), $set1_int($sign))))
            }
            #[inline(always)]
            fn pow2i(self, n: $v) -> $v {
                // Same magic-number construction as the AVX2 token.
                avx512!({
                    let t = $cast_si($add(n, $set1($magic)));
                    let e = $add_int(t, $set1_int($bmm));
                    $cast_fp($slli::<$shift>(e))
                })
            }
            #[inline(always)]
            fn gt(self, a: $v, b: $v) -> $m {
                avx512!($cmp::<_CMP_GT_OQ>(a, b))
            }
            #[inline(always)]
            fn lt(self, a: $v, b: $v) -> $m {
                avx512!($cmp::<_CMP_LT_OQ>(a, b))
            }
            #[inline(always)]
            fn unord(self, a: $v, b: $v) -> $m {
                avx512!($cmp::<_CMP_UNORD_Q>(a, b))
            }
            #[inline(always)]
            fn or_mask(self, a: $m, b: $m) -> $m {
                a | b
            }
            #[inline(always)]
            fn no_lanes(self) -> $m {
                0
            }
            #[inline(always)]
            fn select(self, m: $m, a: $v, b: $v) -> $v {
                // mask_blend(k, x, y) takes y where k is set.
                avx512!($blend(m, b, a))
            }
            #[inline(always)]
            fn any(self, m: $m) -> bool {
                m != 0
            }
        }
    };
}

impl_avx512!(
    Avx512F32,
    f32,
    __m512,
    __mmask16,
    16,
    set1 = _mm512_set1_ps,
    loadu = _mm512_loadu_ps,
    storeu = _mm512_storeu_ps,
    add = _mm512_add_ps,
    sub = _mm512_sub_ps,
    mul = _mm512_mul_ps,
    div = _mm512_div_ps,
    fmadd = _mm512_fmadd_ps,
    max = _mm512_max_ps,
    min = _mm512_min_ps,
    sqrt = _mm512_sqrt_ps,
    roundscale = _mm512_roundscale_ps,
    abs = _mm512_abs_ps,
    cmp = _mm512_cmp_ps_mask,
    blend = _mm512_mask_blend_ps,
    cast_si = _mm512_castps_si512,
    cast_fp = _mm512_castsi512_ps,
    add_int = _mm512_add_epi32,
    slli = _mm512_slli_epi32,
    magic = 12_582_912.0,
    bias_minus_magic = 127 - 0x4B40_0000,
    set1_int = _mm512_set1_epi32,
    sign = i32::MIN,
    shift = 23
);

impl_avx512!(
    Avx512F64,
    f64,
    __m512d,
    __mmask8,
    8,
    set1 = _mm512_set1_pd,
    loadu = _mm512_loadu_pd,
    storeu = _mm512_storeu_pd,
    add = _mm512_add_pd,
    sub = _mm512_sub_pd,
    mul = _mm512_mul_pd,
    div = _mm512_div_pd,
    fmadd = _mm512_fmadd_pd,
    max = _mm512_max_pd,
    min = _mm512_min_pd,
    sqrt = _mm512_sqrt_pd,
    roundscale = _mm512_roundscale_pd,
    abs = _mm512_abs_pd,
    cmp = _mm512_cmp_pd_mask,
    blend = _mm512_mask_blend_pd,
    cast_si = _mm512_castpd_si512,
    cast_fp = _mm512_castsi512_pd,
    add_int = _mm512_add_epi64,
    slli = _mm512_slli_epi64,
    magic = 6_755_399_441_055_744.0,
    bias_minus_magic = 1023 - 0x4338_0000_0000_0000,
    set1_int = _mm512_set1_epi64,
    sign = i64::MIN,
    shift = 52
);
