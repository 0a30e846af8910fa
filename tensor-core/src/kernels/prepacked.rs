//! Right operands packed once and reused: [`PackedB`] and [`gemm_prepacked`].
//!
//! Layer weights multiply many batches; packing them into the micro-kernel's panel layout once
//! saves the `B` packing pass (`k·n` reads and writes) on every call.

use std::any::TypeId;

use num_traits::Float;

use super::dispatch::{self, Isa};
use super::gemm::{blocking_for, fit_kc, gemm_fast, scalar_gemm, Blocking, Epilogue, GemmArgs};
use super::pack::{pack_b, View};

/// A `k × n` right-hand GEMM operand packed for the instruction set active when it was made.
///
/// ```
/// use tensor_core::kernels::{gemm_prepacked, Epilogue, PackedB, PackedGemmArgs};
///
/// // W = [1 2; 3 4] packed once, then x·W for two inputs: [1 0]·W = [1 2], [0 1]·W = [3 4].
/// let w = PackedB::new(2, 2, &[1.0f32, 2.0, 3.0, 4.0], 2, 1);
/// for (x, want) in [([1.0f32, 0.0], [1.0, 2.0]), ([0.0, 1.0], [3.0, 4.0])] {
///     let mut y = [0.0f32; 2];
///     let args = PackedGemmArgs { m: 1, alpha: 1.0, a: &x, a_rs: 2, a_cs: 1, b: &w, beta: 0.0, c: &mut y, c_rs: 2 };
///     gemm_prepacked(args, Epilogue::default());
///     assert_eq!(y, want);
/// }
/// ```
#[derive(Debug, Clone)]
pub struct PackedB<F> {
    isa: Isa,
    k: usize,
    n: usize,
    /// Panels of every `(NC, KC)` block in the driver's loop order; on the scalar path, `B`
    /// copied row-major.
    data: Vec<F>,
    /// The blocking the panels were cut for (`None` on the scalar path).
    blk: Option<Blocking>,
}

impl<F: Float + Send + Sync + 'static> PackedB<F> {
    /// Packs the `k × n` view of `b` with strides `(b_rs, b_cs)`.
    ///
    /// # Panics
    /// If the view reaches past the end of `b`.
    pub fn new(k: usize, n: usize, b: &[F], b_rs: usize, b_cs: usize) -> Self {
        if k > 0 && n > 0 {
            assert!(
                (k - 1) * b_rs + (n - 1) * b_cs < b.len(),
                "PackedB: B view out of bounds"
            );
        }
        let isa = dispatch::active_isa();
        let simd_type = TypeId::of::<F>() == TypeId::of::<f32>() || TypeId::of::<F>() == TypeId::of::<f64>();
        let view = View {
            data: b,
            rs: b_rs,
            cs: b_cs,
        };
        let blk = blocking_for(isa, std::mem::size_of::<F>(), n)
            .filter(|_| simd_type)
            .map(|b| fit_kc(b, k));
        let data = match blk {
            Some(blk) => {
                let mut data = Vec::new();
                let mut jc = 0;
                while jc < n {
                    let nc = blk.nc.min(n - jc);
                    let mut pc = 0;
                    while pc < k {
                        let kc = blk.kc.min(k - pc);
                        let start = data.len();
                        data.resize(start + nc.div_ceil(blk.nr) * blk.nr * kc, F::zero());
                        pack_b(blk.nr, view, pc, kc, jc, nc, &mut data[start..], false);
                        pc += kc;
                    }
                    jc += nc;
                }
                data
            }
            None => (0..k * n).map(|i| b[(i / n) * b_rs + (i % n) * b_cs]).collect(),
        };
        let isa = if simd_type { isa } else { Isa::Scalar };
        PackedB { isa, k, n, data, blk }
    }

    /// Rows of `B` (the inner dimension).
    pub fn k(&self) -> usize {
        self.k
    }

    /// Columns of `B`.
    pub fn n(&self) -> usize {
        self.n
    }
}

/// Arguments of [`gemm_prepacked`]: like [`GemmArgs`] with `B` (and so `k` and `n`) prepacked.
#[derive(Debug)]
pub struct PackedGemmArgs<'a, F> {
    /// Rows of `A` and `C`.
    pub m: usize,
    /// Scale of the product.
    pub alpha: F,
    /// Left operand, `m × b.k()`.
    pub a: &'a [F],
    /// Row stride of `A`.
    pub a_rs: usize,
    /// Column stride of `A`.
    pub a_cs: usize,
    /// Right operand.
    pub b: &'a PackedB<F>,
    /// Scale of the previous `C` (0 overwrites, ignoring NaNs in `C`).
    pub beta: F,
    /// Output, `m × b.n()`.
    pub c: &'a mut [F],
    /// Row stride of `C`.
    pub c_rs: usize,
}

/// `C = activation(alpha·A·B + beta·C + bias)` with a prepacked `B`; same results as
/// [`gemm_fused`](super::gemm_fused) on the unpacked `B`.
///
/// # Panics
/// If a view reaches past the end of its slice, the bias is not `n` long, or `C`'s rows overlap
/// (`m > 1` and `c_rs < n`).
pub fn gemm_prepacked<F: Float + Send + Sync + 'static>(
    args: PackedGemmArgs<'_, F>,
    epilogue: Epilogue<'_, F>,
) {
    let PackedGemmArgs {
        m,
        alpha,
        a,
        a_rs,
        a_cs,
        b,
        beta,
        c,
        c_rs,
    } = args;
    let (k, n) = (b.k, b.n);
    if m > 0 && k > 0 {
        assert!(
            (m - 1) * a_rs + (k - 1) * a_cs < a.len(),
            "gemm: A view out of bounds"
        );
    }
    if m > 0 && n > 0 {
        assert!((m - 1) * c_rs + n <= c.len(), "gemm: C view out of bounds");
        assert!(m == 1 || c_rs >= n, "gemm_prepacked: rows of C overlap");
    }
    if let Some(bias) = epilogue.bias {
        assert_eq!(bias.len(), n, "gemm: bias length must equal n");
    }
    let Some(blk) = b.blk.filter(|_| b.isa != Isa::Scalar) else {
        let args = GemmArgs {
            m,
            n,
            k,
            alpha,
            a,
            a_rs,
            a_cs,
            b: &b.data,
            b_rs: n,
            b_cs: 1,
            beta,
            c,
            c_rs,
        };
        return scalar_gemm(args, epilogue);
    };
    let args = GemmArgs {
        m,
        n,
        k,
        alpha,
        a,
        a_rs,
        a_cs,
        b: &[],
        b_rs: 0,
        b_cs: 0,
        beta,
        c,
        c_rs,
    };
    macro_rules! as_type {
        ($t:ty) => {{
            let args = std::mem::ManuallyDrop::new(args);
            // SAFETY: `F` has the `TypeId` of `$t`, so it is that type and these copies are the
            // identity; the originals are never used or dropped.
            let (args, epilogue, data) = unsafe {
                (
                    std::mem::transmute_copy::<_, GemmArgs<'_, $t>>(&args),
                    std::mem::transmute_copy::<_, Epilogue<'_, $t>>(&epilogue),
                    std::mem::transmute_copy::<_, &[$t]>(&b.data.as_slice()),
                )
            };
            let ran = gemm_fast(b.isa, args, Some((data, blk)), epilogue);
            debug_assert!(ran, "PackedB made for an instruction set this CPU has");
        }};
    }
    if TypeId::of::<F>() == TypeId::of::<f32>() {
        as_type!(f32)
    } else {
        as_type!(f64)
    }
}
