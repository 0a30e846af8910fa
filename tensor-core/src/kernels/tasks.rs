//! Splitting a batch of images over the kernels' thread pool: one range of images per task,
//! per-image closures, and sums formed per task and added in task order (so a result never
//! depends on the scheduling).

use std::ops::Range;

use num_traits::Float;
use rayon::prelude::*;

use super::threads;

/// Whether splitting `batch` images over the pool is worth it.
pub(crate) fn par_batch(batch: usize) -> bool {
    batch > 1 && threads::num_threads() > 1
}

/// Runs `f(image_in, image_out, image_index)` for each image, over the pool when it pays.
pub(crate) fn per_image<F: Send + Sync, G: Send>(
    batch: usize,
    x: &[F],
    img_in: usize,
    out: &mut [G],
    img_out: usize,
    f: impl Fn(&[F], &mut [G], usize) + Sync,
) {
    if img_in == 0 || img_out == 0 {
        return;
    }
    let pairs = out[..batch * img_out]
        .chunks_mut(img_out)
        .zip(x.chunks(img_in))
        .enumerate();
    if par_batch(batch) {
        let pairs: Vec<_> = pairs.collect();
        threads::install(|| pairs.into_par_iter().for_each(|(i, (o, x))| f(x, o, i)));
    } else {
        pairs.for_each(|(i, (o, x))| f(x, o, i));
    }
}

/// Splits `batch` images into one range per task (one task for a single image).
pub(crate) fn tasks(batch: usize) -> Vec<Range<usize>> {
    let n = if batch > 1 {
        threads::num_threads().min(batch)
    } else {
        1
    };
    let per = batch.div_ceil(n.max(1)).max(1);
    (0..batch.div_ceil(per))
        .map(|i| i * per..((i + 1) * per).min(batch))
        .collect()
}

/// Adds `f(images, acc)`'s sums over each task's images into `dst`: straight into it for one
/// task, else each task into its own zeroed buffer, the buffers added in task order (so the
/// result does not depend on the scheduling).
pub(crate) fn sum_per_task<E: Float + Send + Sync>(
    batch: usize,
    dst: &mut [E],
    f: impl Fn(Range<usize>, &mut [E]) + Sync,
) {
    let ranges = tasks(batch);
    if ranges.len() <= 1 {
        return f(0..batch, dst);
    }
    let parts: Vec<Vec<E>> = threads::install(|| {
        use rayon::prelude::*;
        ranges
            .into_par_iter()
            .map(|r| {
                let mut acc = vec![E::zero(); dst.len()];
                f(r, &mut acc);
                acc
            })
            .collect()
    });
    for p in parts {
        dst.iter_mut().zip(&p).for_each(|(d, &v)| *d = *d + v);
    }
}

/// Runs `f(images, part of out)` for each task's images, on the pool when there are several.
pub(crate) fn per_task<E: Send + Sync>(
    batch: usize,
    img_out: usize,
    out: &mut [E],
    f: impl Fn(Range<usize>, &mut [E]) + Sync,
) {
    let ranges = tasks(batch);
    if ranges.len() <= 1 {
        return f(0..batch, &mut out[..batch * img_out]);
    }
    let per = ranges[0].len();
    let parts: Vec<_> = ranges
        .into_iter()
        .zip(out[..batch * img_out].chunks_mut(per * img_out))
        .collect();
    threads::install(|| {
        use rayon::prelude::*;
        parts.into_par_iter().for_each(|(r, o)| f(r, o));
    });
}
