//! AVX2 + FMA tokens for f32 (8 lanes) and f64 (4 lanes).

use std::arch::x86_64::*;

use super::Simd;

/// Proof that AVX2 and FMA are available; vector type `__m256` (8 × f32).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Avx2F32(());

/// Proof that AVX2 and FMA are available; vector type `__m256d` (4 × f64).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Avx2F64(());

fn detected() -> bool {
    is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
}

/// Wraps one intrinsic call. Every use sits in a method of a token type, and a token exists only
/// after `try_new` saw AVX2 and FMA on this CPU, which is all these intrinsics require.
macro_rules! avx {
    ($e:expr) => {
        // SAFETY: `self` is a token, constructed only when AVX2+FMA were detected at run time,
        // and the intrinsic reads/writes no memory (loads and stores are checked separately).
        unsafe { $e }
    };
}

macro_rules! impl_avx2 {
    ($tok:ident, $e:ty, $v:ty, $lanes:expr,
     set1 = $set1:ident, loadu = $loadu:ident, storeu = $storeu:ident,
     add = $add:ident, sub = $sub:ident, mul = $mul:ident, div = $div:ident, fmadd = $fmadd:ident,
     max = $max:ident, min = $min:ident, sqrt = $sqrt:ident, round = $round:ident,
     and_not = $andnot:ident, xor = $xor:ident, cmp = $cmp:ident, or = $or:ident,
     blendv = $blendv:ident, movemask = $movemask:ident, setzero = $setzero:ident,
     cast_si = $cast_si:ident, cast_fp = $cast_fp:ident, add_int = $add_int:ident,
     slli = $slli:ident, magic = $magic:expr, bias_minus_magic = $bmm:expr, set1_int = $set1_int:ident,
     shift = $shift:expr) => {
        impl Simd for $tok {
            type E = $e;
            type V = $v;
            type M = $v;
            const LANES: usize = $lanes;

            #[inline(always)]
            fn try_new() -> Option<Self> {
                detected().then_some($tok(()))
            }

            #[inline(always)]
            fn splat(self, x: $e) -> $v {
                avx!($set1(x))
            }
            #[inline(always)]
            fn load(self, s: &[$e]) -> $v {
                assert!(s.len() >= $lanes);
                // SAFETY: the token proves AVX is available and the assert above proves `s`
                // holds `LANES` readable elements; `loadu` has no alignment requirement.
                unsafe { $loadu(s.as_ptr()) }
            }
            #[inline(always)]
            fn store(self, s: &mut [$e], v: $v) {
                assert!(s.len() >= $lanes);
                // SAFETY: the token proves AVX is available and the assert above proves `s`
                // holds `LANES` writable elements; `storeu` has no alignment requirement.
                unsafe { $storeu(s.as_mut_ptr(), v) }
            }
            #[inline(always)]
            fn add(self, a: $v, b: $v) -> $v {
                avx!($add(a, b))
            }
            #[inline(always)]
            fn sub(self, a: $v, b: $v) -> $v {
                avx!($sub(a, b))
            }
            #[inline(always)]
            fn mul(self, a: $v, b: $v) -> $v {
                avx!($mul(a, b))
            }
            #[inline(always)]
            fn div(self, a: $v, b: $v) -> $v {
                avx!($div(a, b))
            }
            #[inline(always)]
            fn fmadd(self, a: $v, b: $v, c: $v) -> $v {
                avx!($fmadd(a, b, c))
            }
            #[inline(always)]
            fn max_raw(self, a: $v, b: $v) -> $v {
                avx!($max(a, b))
            }
            #[inline(always)]
            fn min_raw(self, a: $v, b: $v) -> $v {
                avx!($min(a, b))
            }
            #[inline(always)]
            fn sqrt(self, a: $v) -> $v {
                avx!($sqrt(a))
            }
            #[inline(always)]
            fn round(self, a: $v) -> $v {
                avx!($round::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(a))
            }
            #[inline(always)]
            fn abs(self, a: $v) -> $v {
                avx!($andnot($set1(-0.0), a))
            }
            #[inline(always)]
            fn neg(self, a: $v) -> $v {
                avx!($xor($set1(-0.0), a))
            }
            #[inline(always)]
            fn pow2i(self, n: $v) -> $v {
                // n + 1.5·2^mantissa_bits puts n (two's complement) in the low mantissa bits;
                // adding (bias - bits(magic)) leaves n + bias as an integer, shifted into the
                // exponent field.
                avx!({
                    let t = $cast_si($add(n, $set1($magic)));
                    let e = $add_int(t, $set1_int($bmm));
                    $cast_fp($slli::<$shift>(e))
                })
            }
            #[inline(always)]
            fn gt(self, a: $v, b: $v) -> $v {
                avx!($cmp::<_CMP_GT_OQ>(a, b))
            }
            #[inline(always)]
            fn lt(self, a: $v, b: $v) -> $v {
                avx!($cmp::<_CMP_LT_OQ>(a, b))
            }
            #[inline(always)]
            fn unord(self, a: $v, b: $v) -> $v {
                avx!($cmp::<_CMP_UNORD_Q>(a, b))
            }
            #[inline(always)]
            fn or_mask(self, a: $v, b: $v) -> $v {
                avx!($or(a, b))
            }
            #[inline(always)]
            fn no_lanes(self) -> $v {
                avx!($setzero())
            }
            #[inline(always)]
            fn select(self, m: $v, a: $v, b: $v) -> $v {
                avx!($blendv(b, a, m))
            }
            #[inline(always)]
            fn any(self, m: $v) -> bool {
                avx!($movemask(m)) != 0
            }
        }
    };
}

impl_avx2!(
    Avx2F32,
    f32,
    __m256,
    8,
    set1 = _mm256_set1_ps,
    loadu = _mm256_loadu_ps,
    storeu = _mm256_storeu_ps,
    add = _mm256_add_ps,
    sub = _mm256_sub_ps,
    mul = _mm256_mul_ps,
    div = _mm256_div_ps,
    fmadd = _mm256_fmadd_ps,
    max = _mm256_max_ps,
    min = _mm256_min_ps,
    sqrt = _mm256_sqrt_ps,
    round = _mm256_round_ps,
    and_not = _mm256_andnot_ps,
    xor = _mm256_xor_ps,
    cmp = _mm256_cmp_ps,
    or = _mm256_or_ps,
    blendv = _mm256_blendv_ps,
    movemask = _mm256_movemask_ps,
    setzero = _mm256_setzero_ps,
    cast_si = _mm256_castps_si256,
    cast_fp = _mm256_castsi256_ps,
    add_int = _mm256_add_epi32,
    slli = _mm256_slli_epi32,
    magic = 12_582_912.0,
    bias_minus_magic = 127 - 0x4B40_0000,
    set1_int = _mm256_set1_epi32,
    shift = 23
);

impl_avx2!(
    Avx2F64,
    f64,
    __m256d,
    4,
    set1 = _mm256_set1_pd,
    loadu = _mm256_loadu_pd,
    storeu = _mm256_storeu_pd,
    add = _mm256_add_pd,
    sub = _mm256_sub_pd,
    mul = _mm256_mul_pd,
    div = _mm256_div_pd,
    fmadd = _mm256_fmadd_pd,
    max = _mm256_max_pd,
    min = _mm256_min_pd,
    sqrt = _mm256_sqrt_pd,
    round = _mm256_round_pd,
    and_not = _mm256_andnot_pd,
    xor = _mm256_xor_pd,
    cmp = _mm256_cmp_pd,
    or = _mm256_or_pd,
    blendv = _mm256_blendv_pd,
    movemask = _mm256_movemask_pd,
    setzero = _mm256_setzero_pd,
    cast_si = _mm256_castpd_si256,
    cast_fp = _mm256_castsi256_pd,
    add_int = _mm256_add_epi64,
    slli = _mm256_slli_epi64,
    magic = 6_755_399_441_055_744.0,
    bias_minus_magic = 1023 - 0x4338_0000_0000_0000,
    set1_int = _mm256_set1_epi64x,
    shift = 52
);
