//! The thread pool the kernels run on: size set by [`set_num_threads`] or `DIMFLOW_NUM_THREADS`.

use std::sync::{Arc, OnceLock, RwLock};

use rayon::{ThreadPool, ThreadPoolBuilder};

fn pool_cell() -> &'static RwLock<Arc<ThreadPool>> {
    static POOL: OnceLock<RwLock<Arc<ThreadPool>>> = OnceLock::new();
    POOL.get_or_init(|| {
        let n = std::env::var("DIMFLOW_NUM_THREADS")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|&n| n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        RwLock::new(Arc::new(build(n)))
    })
}

fn build(n: usize) -> ThreadPool {
    ThreadPoolBuilder::new()
        .num_threads(n)
        .thread_name(|i| format!("dimflow-{i}"))
        .build()
        .expect("failed to start the dimflow thread pool")
}

/// Number of threads the kernels use.
pub fn num_threads() -> usize {
    pool_cell().read().map(|p| p.current_num_threads()).unwrap_or(1)
}

/// Sets the number of threads the kernels use (at least 1).
pub fn set_num_threads(n: usize) {
    let pool = Arc::new(build(n.max(1)));
    if let Ok(mut guard) = pool_cell().write() {
        *guard = pool;
    }
}

/// Runs `f` inside the kernels' thread pool.
pub fn install<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    let pool = pool_cell().read().map(|p| Arc::clone(&p)).ok();
    match pool {
        Some(p) => p.install(f),
        None => f(),
    }
}

/// Runs `f(i, item)` for every item, item 0 on the calling thread and the others as tasks on the
/// kernels' thread pool, returning when all are done. Unlike [`install`] from outside the pool,
/// the caller works instead of sleeping until the pool wakes it again, which saves one thread
/// wake-up per call (it matters for products of a few hundred microseconds).
pub(crate) fn run_split<T: Send>(items: Vec<T>, f: impl Fn(usize, T) + Sync) {
    let pool = pool_cell().read().map(|p| Arc::clone(&p)).ok();
    let mut items = items.into_iter().enumerate();
    let Some((_, first)) = items.next() else {
        return;
    };
    match pool {
        Some(p) => p.in_place_scope(|s| {
            let f = &f;
            for (i, item) in items {
                s.spawn(move |_| f(i, item));
            }
            f(0, first);
        }),
        None => {
            f(0, first);
            items.for_each(|(i, item)| f(i, item));
        }
    }
}
