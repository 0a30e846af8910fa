//! Helper threads that spin between jobs, for splitting work of a few tens of microseconds
//! (one image through a convolution) where waking a parked pool thread costs as much as the
//! work itself.
//!
//! [`for_each_claimed`] runs a closure over the items of a slice: the calling thread and the
//! helpers claim items one at a time from a shared counter, so a helper that is late (or
//! asleep) only means the caller does more of them; the call returns when every item is done
//! and no helper still holds the job. After a job a helper keeps polling for [`SPIN`] before it
//! parks, as OpenMP runtimes do, so a loop of small calls (single-image predictions) finds it
//! awake. Items are computed by the same code whichever thread claims them, so results do not
//! depend on the split.
//!
//! The number of helpers follows [`threads::num_threads`](super::threads::num_threads) (one
//! fewer, at most [`MAX_HELPERS`]); with one thread, inside a task of the kernels' pool (whose
//! other threads are busy already), or when another call holds the helpers, the caller runs
//! every item itself.

use std::any::Any;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use super::threads;

/// How long a helper polls for the next job after its last one before it parks.
pub const SPIN: Duration = Duration::from_millis(2);

/// Spin-loop hints between two looks at the job (by a waiting helper, between yields of its
/// core; by a caller waiting for a helper to finish, before it starts yielding).
const POLL_SPINS: u32 = 64;

/// Most helper threads a job is shared with.
pub const MAX_HELPERS: usize = 7;

/// `state` bits: helpers inside the current job (low 16 bits), the job is open to helpers
/// (bit 16), how many helpers may join (bits 20..28), the job's generation (high 32 bits).
const ACTIVE: u64 = 0xFFFF;
const OPEN: u64 = 1 << 16;
const LIMIT_SHIFT: u32 = 20;
const GEN_SHIFT: u32 = 32;

/// A job as the helpers see it: runs claimed items until none is left.
type JobFn<'a> = &'a (dyn Fn() + Sync);

struct Team {
    state: AtomicU64,
    /// Points at the current job's `JobFn` (on the caller's stack) while it is open.
    job: AtomicPtr<()>,
    /// Set by a helper whose part of the job panicked (the caller re-raises it).
    panic: Mutex<Option<Box<dyn Any + Send>>>,
    /// Held by the one caller whose job the helpers serve.
    busy: AtomicBool,
    /// Helpers parked (or about to park).
    sleeping: AtomicUsize,
    /// Every helper started so far, to unpark them.
    helpers: Mutex<Vec<Thread>>,
    /// `helpers.len()`, read without the lock by every job.
    started: AtomicUsize,
}

fn team() -> &'static Team {
    static TEAM: OnceLock<Team> = OnceLock::new();
    TEAM.get_or_init(|| Team {
        state: AtomicU64::new(0),
        job: AtomicPtr::new(std::ptr::null_mut()),
        panic: Mutex::new(None),
        busy: AtomicBool::new(false),
        sleeping: AtomicUsize::new(0),
        helpers: Mutex::new(Vec::new()),
        started: AtomicUsize::new(0),
    })
}

/// Number of helpers a job may use now: the kernels' thread count minus the caller.
pub fn helpers_wanted() -> usize {
    threads::num_threads().saturating_sub(1).min(MAX_HELPERS)
}

/// Runs `f(i, &mut items[i])` for every item, on the calling thread and up to
/// [`helpers_wanted`] helper threads, each item exactly once; returns when all are done.
/// A panic in `f` (on any thread) is raised again on the caller once no thread runs the job.
pub fn for_each_claimed<T: Send>(items: &mut [T], f: impl Fn(usize, &mut T) + Sync) {
    for_each_claimed_by(helpers_wanted(), items, f);
}

/// [`for_each_claimed`] with at most `helpers` helpers.
fn for_each_claimed_by<T: Send>(helpers: usize, items: &mut [T], f: impl Fn(usize, &mut T) + Sync) {
    let want = helpers.min(MAX_HELPERS).min(items.len().saturating_sub(1));
    let t = team();
    // Inside a pool task the other pool threads are busy too: a helper would only compete
    // with them for the cores (and a caller waiting on a descheduled helper would spin).
    if want == 0
        || rayon::current_thread_index().is_some()
        || t.busy
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
    {
        for (i, item) in items.iter_mut().enumerate() {
            f(i, item);
        }
        return;
    }
    let next = AtomicUsize::new(0);
    let (base, len) = (SendPtr(items.as_mut_ptr()), items.len());
    let claim_all = || loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= len {
            break;
        }
        // SAFETY: `fetch_add` hands out each index below `len` once, so this is the only
        // reference to item `i`; `items` is borrowed mutably for the whole call, which does not
        // return (see `Close`) while a helper may still run this closure.
        let item = unsafe { &mut *base.get().add(i) };
        f(i, item);
    };
    let job: JobFn<'_> = &claim_all;
    ensure_helpers(t, want);
    t.job
        .store((&job as *const JobFn<'_>).cast_mut().cast(), Ordering::Relaxed);
    let gen = (t.state.load(Ordering::Relaxed) >> GEN_SHIFT).wrapping_add(1);
    // SeqCst pairs with the helpers' `sleeping` increment before they re-check the state.
    t.state.store(
        (gen << GEN_SHIFT) | ((want as u64) << LIMIT_SHIFT) | OPEN,
        Ordering::SeqCst,
    );
    if t.sleeping.load(Ordering::SeqCst) > 0 {
        for h in t.helpers.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            h.unpark();
        }
    }
    {
        let _close = Close(t);
        claim_all();
    }
    let panic = t.panic.lock().unwrap_or_else(|e| e.into_inner()).take();
    t.busy.store(false, Ordering::Release);
    if let Some(p) = panic {
        resume_unwind(p);
    }
}

/// A raw pointer to the items, sent to the helpers inside the job.
struct SendPtr<T>(*mut T);

impl<T> SendPtr<T> {
    fn get(&self) -> *mut T {
        self.0
    }
}

// SAFETY: the pointer is only used to reach distinct items (each index claimed once) of a
// slice of `T: Send` that the caller borrows mutably for the whole job.
unsafe impl<T: Send> Sync for SendPtr<T> {}

/// Closes the job to helpers and waits until none is inside it (also when the caller's part
/// panics, since the helpers read the caller's stack; then it also frees the team, dropping
/// any helper's panic in favour of the caller's).
struct Close(&'static Team);

impl Drop for Close {
    fn drop(&mut self) {
        let t = self.0;
        t.state.fetch_and(!OPEN, Ordering::AcqRel);
        let mut spins = 0u32;
        while t.state.load(Ordering::Acquire) & ACTIVE != 0 {
            // A helper descheduled in the middle of an item: let it run.
            spins += 1;
            if spins < POLL_SPINS {
                std::hint::spin_loop();
            } else {
                thread::yield_now();
            }
        }
        t.job.store(std::ptr::null_mut(), Ordering::Relaxed);
        if thread::panicking() {
            t.panic.lock().unwrap_or_else(|e| e.into_inner()).take();
            t.busy.store(false, Ordering::Release);
        }
    }
}

/// Starts helpers until `want` exist.
fn ensure_helpers(t: &'static Team, want: usize) {
    if t.started.load(Ordering::Acquire) >= want {
        return;
    }
    let mut hs = t.helpers.lock().unwrap_or_else(|e| e.into_inner());
    while hs.len() < want {
        let spawned = thread::Builder::new()
            .name(format!("dimflow-hot-{}", hs.len()))
            .spawn(move || helper(t));
        match spawned {
            Ok(h) => {
                hs.push(h.thread().clone());
                t.started.store(hs.len(), Ordering::Release);
            }
            // Without a helper the caller does the work itself.
            Err(_) => break,
        }
    }
}

/// Whether `state` shows an open job of another generation than `last_gen` (the last one this
/// helper saw).
fn new_job(state: u64, last_gen: u64) -> bool {
    state & OPEN != 0 && state >> GEN_SHIFT != last_gen
}

/// A helper's loop: join each new open job (while it has room), run items, and park after
/// [`SPIN`] without work.
fn helper(t: &'static Team) {
    let mut last_gen = 0u64;
    let mut idle_since = Instant::now();
    loop {
        let s = t.state.load(Ordering::Acquire);
        let limit = (s >> LIMIT_SHIFT) & 0xFF;
        if new_job(s, last_gen) && (s & ACTIVE) < limit {
            if t.state
                .compare_exchange_weak(s, s + 1, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                last_gen = s >> GEN_SHIFT;
                let p = t.job.load(Ordering::Relaxed) as *const JobFn<'static>;
                // SAFETY: the job was stored before the state that opened it (release store,
                // read by the acquire exchange above), and the caller does not leave the job
                // (nor its stack frame) while this helper is counted as active.
                let job: JobFn<'_> = unsafe { *p };
                if let Err(e) = catch_unwind(AssertUnwindSafe(job)) {
                    *t.panic.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
                }
                t.state.fetch_sub(1, Ordering::Release);
                idle_since = Instant::now();
            }
            continue;
        }
        if new_job(s, last_gen) {
            // Full: this job is not for us.
            last_gen = s >> GEN_SHIFT;
        }
        if idle_since.elapsed() < SPIN {
            // Between polls, give the core away if anything else wants it: a helper that
            // shares a core with its caller must not take the caller's time.
            for _ in 0..POLL_SPINS {
                std::hint::spin_loop();
            }
            thread::yield_now();
            continue;
        }
        t.sleeping.fetch_add(1, Ordering::SeqCst);
        let s = t.state.load(Ordering::SeqCst);
        if !new_job(s, last_gen) {
            thread::park();
        }
        t.sleeping.fetch_sub(1, Ordering::SeqCst);
        idle_since = Instant::now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_is_run_once_and_panics_come_back() {
        let helped = AtomicUsize::new(0);
        let me = thread::current().id();
        for round in 0..2000usize {
            let n = round % 37;
            let mut items: Vec<usize> = vec![0; n];
            for_each_claimed_by(1, &mut items, |i, v| {
                *v += i + 1;
                if thread::current().id() != me {
                    helped.fetch_add(1, Ordering::Relaxed);
                }
            });
            assert!(
                items.iter().enumerate().all(|(i, &v)| v == i + 1),
                "round {round}"
            );
            if round % 500 == 499 {
                // Let the helper park, so that the next job wakes it.
                thread::sleep(SPIN * 2);
            }
        }
        // Items slow enough for the helper to arrive (other tests may hold the cores).
        let start = Instant::now();
        while helped.load(Ordering::Relaxed) == 0 && start.elapsed() < Duration::from_secs(10) {
            let mut items = vec![0u8; 8];
            for_each_claimed_by(1, &mut items, |_, v| {
                thread::sleep(Duration::from_micros(200));
                *v = 1;
                if thread::current().id() != me {
                    helped.fetch_add(1, Ordering::Relaxed);
                }
            });
            assert!(items.iter().all(|&v| v == 1));
        }
        assert!(helped.load(Ordering::Relaxed) > 0, "the helper took part");
        for bad in [0, 40] {
            // Item 0 fails on the caller or the helper, item 40 (of 64) most likely late.
            let mut items = vec![0u8; 64];
            let r = catch_unwind(AssertUnwindSafe(|| {
                for_each_claimed_by(1, &mut items, |i, _| {
                    thread::sleep(Duration::from_micros(20));
                    assert!(i != bad, "item {bad} fails");
                })
            }));
            assert!(r.is_err(), "the panic reaches the caller");
            // The helpers are free again afterwards, with no panic left over.
            let mut items = vec![1u32; 16];
            for_each_claimed_by(1, &mut items, |_, v| *v *= 3);
            assert!(items.iter().all(|&v| v == 3));
        }
    }

    #[test]
    fn pool_tasks_run_their_items_alone() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        pool.install(|| {
            let me = thread::current().id();
            let mut items = vec![0u8; 32];
            for_each_claimed_by(1, &mut items, |_, v| {
                assert_eq!(thread::current().id(), me, "no helper inside a pool task");
                *v = 1;
            });
            assert!(items.iter().all(|&v| v == 1));
        });
    }

    #[test]
    fn concurrent_callers_run_alone_and_get_all_items() {
        thread::scope(|s| {
            for k in 0..4u64 {
                s.spawn(move || {
                    for _ in 0..500 {
                        let mut items: Vec<u64> = (0..20).collect();
                        for_each_claimed_by(1, &mut items, |_, v| *v = *v * 2 + k);
                        assert!(items.iter().enumerate().all(|(i, &v)| v == i as u64 * 2 + k));
                    }
                });
            }
        });
    }
}
