//! Portable direct convolution loops for small windows (at most
//! [`DIRECT_MAX_PATCH`](super::DIRECT_MAX_PATCH) inputs per group): the path every element
//! type and ISA can run, and the oracle of the SIMD direct kernels.

use num_traits::Float;
use rayon::prelude::*;

use super::Conv2dGeometry;
use crate::kernels::gemm::Epilogue;
use crate::kernels::tasks::{par_batch, per_image};
use crate::kernels::threads;

/// `acc[j] += v · w[j]`.
#[inline(always)]
fn axpy<F: Float>(acc: &mut [F], v: F, w: &[F]) {
    acc.iter_mut().zip(w).for_each(|(a, &b)| *a = *a + v * b);
}

/// `acc[j] += x[j] · w[j]`.
#[inline(always)]
fn fma_rows<F: Float>(acc: &mut [F], x: &[F], w: &[F]) {
    acc.iter_mut()
        .zip(x.iter().zip(w))
        .for_each(|(a, (&p, &q))| *a = *a + p * q);
}

/// Direct forward loops: per output pixel, per tap inside the image, `out += x · W[tap]`
/// (one axpy over the group's filters per input channel; depthwise with multiplier 1 is a
/// channel-wise product), then the bias and activation.
pub(super) fn direct_forward<F: Float + Send + Sync>(
    g: &Conv2dGeometry,
    x: &[F],
    filters: &[F],
    epilogue: Epilogue<'_, F>,
    out: &mut [F],
) {
    let (cg, ocg, oc) = (g.group_in(), g.group_out(), g.out_c);
    let img_in = g.in_h * g.in_w * g.in_c;
    let img_out = g.out_h * g.out_w * oc;
    let channelwise = cg == 1 && ocg == 1;
    per_image(g.batch, x, img_in, out, img_out, |img, o, _| {
        for oy in 0..g.out_h {
            for ox in 0..g.out_w {
                let orow = &mut o[(oy * g.out_w + ox) * oc..][..oc];
                match epilogue.bias {
                    Some(b) => orow.copy_from_slice(&b[..oc]),
                    None => orow.iter_mut().for_each(|v| *v = F::zero()),
                }
                for ky in 0..g.k_h {
                    for kx in 0..g.k_w {
                        let Some((iy, ix)) = g.tap(oy, ox, ky, kx) else {
                            continue;
                        };
                        let xin = &img[(iy * g.in_w + ix) * g.in_c..][..g.in_c];
                        let tap = (ky * g.k_w + kx) * cg;
                        if channelwise {
                            fma_rows(orow, xin, &filters[tap * oc..][..oc]);
                            continue;
                        }
                        for gi in 0..g.groups {
                            let acc = &mut orow[gi * ocg..][..ocg];
                            for ci in 0..cg {
                                axpy(
                                    acc,
                                    xin[gi * cg + ci],
                                    &filters[(tap + ci) * oc + gi * ocg..][..ocg],
                                );
                            }
                        }
                    }
                }
                if let Some(op) = epilogue.activation {
                    orow.iter_mut()
                        .for_each(|v| *v = crate::kernels::scalar::apply_unary(op, *v));
                }
            }
        }
    });
}

/// Direct `∂W += Σ x ⊗ ∂Y` over the windows; each task sums its share of the batch into its own
/// buffer, and the buffers are added in task order.
pub(super) fn direct_filter_grad<F: Float + Send + Sync>(
    g: &Conv2dGeometry,
    x: &[F],
    dy: &[F],
    dw: &mut [F],
) {
    let (cg, ocg, oc) = (g.group_in(), g.group_out(), g.out_c);
    let img_in = g.in_h * g.in_w * g.in_c;
    let img_out = g.out_h * g.out_w * oc;
    let channelwise = cg == 1 && ocg == 1;
    let one = |images: core::ops::Range<usize>| -> Vec<F> {
        let mut acc = vec![F::zero(); g.filter_len()];
        for b in images {
            let img = &x[b * img_in..][..img_in];
            for oy in 0..g.out_h {
                for ox in 0..g.out_w {
                    let grow = &dy[b * img_out + (oy * g.out_w + ox) * oc..][..oc];
                    for ky in 0..g.k_h {
                        for kx in 0..g.k_w {
                            let Some((iy, ix)) = g.tap(oy, ox, ky, kx) else {
                                continue;
                            };
                            let xin = &img[(iy * g.in_w + ix) * g.in_c..][..g.in_c];
                            let tap = (ky * g.k_w + kx) * cg;
                            if channelwise {
                                fma_rows(&mut acc[tap * oc..][..oc], xin, grow);
                                continue;
                            }
                            for gi in 0..g.groups {
                                for ci in 0..cg {
                                    axpy(
                                        &mut acc[(tap + ci) * oc + gi * ocg..][..ocg],
                                        xin[gi * cg + ci],
                                        &grow[gi * ocg..][..ocg],
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
        acc
    };
    let tasks = if par_batch(g.batch) {
        threads::num_threads().min(g.batch)
    } else {
        1
    };
    let per = g.batch.div_ceil(tasks);
    let ranges: Vec<_> = (0..tasks)
        .map(|t| t * per..((t + 1) * per).min(g.batch))
        .collect();
    let parts: Vec<Vec<F>> = if tasks > 1 {
        threads::install(|| ranges.into_par_iter().map(one).collect())
    } else {
        ranges.into_iter().map(one).collect()
    };
    for p in parts {
        dw.iter_mut().zip(&p).for_each(|(d, &v)| *d = *d + v);
    }
}

/// Direct `∂x += Σ W[tap] · ∂Y` (per image, over the pool).
pub(super) fn direct_input_grad<F: Float + Send + Sync>(
    g: &Conv2dGeometry,
    filters: &[F],
    dy: &[F],
    dx: &mut [F],
) {
    let (cg, ocg, oc) = (g.group_in(), g.group_out(), g.out_c);
    let img_in = g.in_h * g.in_w * g.in_c;
    let img_out = g.out_h * g.out_w * oc;
    let channelwise = cg == 1 && ocg == 1;
    let one = |(d, gy): (&mut [F], &[F])| {
        for oy in 0..g.out_h {
            for ox in 0..g.out_w {
                let grow = &gy[(oy * g.out_w + ox) * oc..][..oc];
                for ky in 0..g.k_h {
                    for kx in 0..g.k_w {
                        let Some((iy, ix)) = g.tap(oy, ox, ky, kx) else {
                            continue;
                        };
                        let dxin = &mut d[(iy * g.in_w + ix) * g.in_c..][..g.in_c];
                        let tap = (ky * g.k_w + kx) * cg;
                        if channelwise {
                            fma_rows(dxin, &filters[tap * oc..][..oc], grow);
                            continue;
                        }
                        for gi in 0..g.groups {
                            let gg = &grow[gi * ocg..][..ocg];
                            for ci in 0..cg {
                                let w = &filters[(tap + ci) * oc + gi * ocg..][..ocg];
                                let dot = w.iter().zip(gg).fold(F::zero(), |s, (&a, &b)| s + a * b);
                                dxin[gi * cg + ci] = dxin[gi * cg + ci] + dot;
                            }
                        }
                    }
                }
            }
        }
    };
    let pairs = dx[..g.input_len()].chunks_mut(img_in).zip(dy.chunks(img_out));
    if par_batch(g.batch) {
        let pairs: Vec<_> = pairs.collect();
        threads::install(|| pairs.into_par_iter().for_each(one));
    } else {
        pairs.for_each(one);
    }
}
