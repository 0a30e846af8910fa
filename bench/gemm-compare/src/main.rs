//! Times `C = A·B` (row-major f32, beta = 0) for Dimflow's kernels and the `gemm` crate at the
//! sizes and thread counts given on the command line, printing one line per measurement:
//! `impl threads n gflops cpu_gflops` (the second by the calling thread's CPU time: the work's
//! rate on one thread, meaningless on several).
//!
//! Usage: `gemm-compare <threads,...> <n|MxKxN|MxKxNt,...> [f32|f64]` (a trailing `t` reads `A`
//! transposed), or `gemm-compare tune ...` (see [`tune`]).

use std::time::{Duration, Instant};

use tensor_core::kernels::{self, GemmArgs};

/// Best-of timing: repeat until ~0.4 s has passed (at least 3 runs), report the fastest run's
/// wall time and the least thread-CPU time of the calling thread (the work's CPU time only on
/// one thread; far less disturbed by other processes on a shared machine than wall time).
fn time_best(mut f: impl FnMut()) -> (f64, f64) {
    f(); // warm-up (page faults, thread pool start)
    let mut best = f64::INFINITY;
    let mut best_cpu = f64::INFINITY;
    let start = Instant::now();
    let mut runs = 0;
    while runs < 3 || start.elapsed() < Duration::from_millis(400) {
        let (t, c) = (Instant::now(), thread_cpu_seconds());
        f();
        best_cpu = best_cpu.min(thread_cpu_seconds() - c);
        best = best.min(t.elapsed().as_secs_f64());
        runs += 1;
    }
    (best, best_cpu)
}

fn run<T>(threads: usize, (m, k, n, at): Shape)
where
    T: num_traits_lite::Lite,
{
    let a: Vec<T> = (0..m * k)
        .map(|i| T::from_f64(((i * 7 + 3) % 13) as f64 / 13.0 - 0.5))
        .collect();
    let b: Vec<T> = (0..k * n)
        .map(|i| T::from_f64(((i * 5 + 1) % 11) as f64 / 11.0 - 0.5))
        .collect();
    let mut c = vec![T::from_f64(0.0); m * n];
    let flops = 2.0 * m as f64 * k as f64 * n as f64;
    let label = label((m, k, n, at));
    // `A` is read row-major (`m×k`), or with `at` as the transpose of a row-major `k×m` (the
    // backward pass's `Xᵀ·dY`).
    let (a_rs, a_cs) = if at { (1, m) } else { (k, 1) };

    kernels::set_num_threads(threads);
    let t = time_best(|| {
        kernels::gemm(GemmArgs {
            m,
            n,
            k,
            alpha: T::from_f64(1.0),
            a: &a,
            a_rs,
            a_cs,
            b: &b,
            b_rs: n,
            b_cs: 1,
            beta: T::from_f64(0.0),
            c: &mut c,
            c_rs: n,
        })
    });
    println!(
        "dimflow {threads} {label} {:.1} {:.1}",
        flops / t.0 / 1e9,
        flops / t.1 / 1e9
    );
    let ours = c.clone();

    let par = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    let t = time_best(|| {
        // SAFETY: every pointer/stride pair below describes a matrix inside the corresponding
        // Vec (`A` m×k with strides (a_rs, a_cs), `B` k×n and `C` m×n row-major), and `c` is not
        // aliased by `a` or `b`.
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                c.as_mut_ptr(),
                1,
                n as isize,
                false,
                a.as_ptr(),
                a_cs as isize,
                a_rs as isize,
                b.as_ptr(),
                1,
                n as isize,
                T::from_f64(0.0),
                T::from_f64(1.0),
                false,
                false,
                false,
                par,
            )
        }
    });
    println!(
        "gemm-crate {threads} {label} {:.1} {:.1}",
        flops / t.0 / 1e9,
        flops / t.1 / 1e9
    );
    let worst = ours
        .iter()
        .zip(&c)
        .map(|(x, y)| (x.as_f64() - y.as_f64()).abs())
        .fold(0.0, f64::max);
    assert!(worst < 1e-3 * k as f64, "results disagree by {worst}");
}

/// Just enough of a float trait for the two element types timed here.
mod num_traits_lite {
    /// f32 / f64.
    pub trait Lite: Copy + Send + Sync + 'static + num_traits::Float {
        fn from_f64(x: f64) -> Self;
        fn as_f64(self) -> f64;
    }
    impl Lite for f32 {
        fn from_f64(x: f64) -> Self {
            x as f32
        }
        fn as_f64(self) -> f64 {
            self as f64
        }
    }
    impl Lite for f64 {
        fn from_f64(x: f64) -> Self {
            x
        }
        fn as_f64(self) -> f64 {
            self
        }
    }
}

/// This thread's CPU time in seconds (not advanced while the thread is descheduled, so less
/// disturbed than wall time on a shared machine).
fn thread_cpu_seconds() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID is always supported
    // on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// Tuning mode: `gemm-compare tune <shapes> <variant;variant;...> [rounds] [threads]`, each
/// variant `MC,KC,NC[,MODE[,MR,NR]]` (0 = default) passed to `set_blocking_override`,
/// `set_parallel_mode` and `set_tile_override`. Variants run round-robin (interleaved, so load changes hit all of them
/// alike); prints, per shape and variant, GFLOP/s by best and median thread-CPU time of the
/// calling thread (meaningful on one thread only) and by best and median wall time.
fn tune(shapes: &[Shape], variants: &[[usize; 6]], rounds: usize, threads: usize) {
    kernels::set_num_threads(threads);
    for &(m, k, n, at) in shapes {
        let (a_rs, a_cs) = if at { (1, m) } else { (k, 1) };
        let a: Vec<f32> = (0..m * k)
            .map(|i| ((i * 7 + 3) % 13) as f32 / 13.0 - 0.5)
            .collect();
        let b: Vec<f32> = (0..k * n)
            .map(|i| ((i * 5 + 1) % 11) as f32 / 11.0 - 0.5)
            .collect();
        let mut c = vec![0.0f32; m * n];
        let flops = 2.0 * m as f64 * k as f64 * n as f64;
        // calls per sample: about 20 ms of work at 100 GFLOP/s
        let reps = ((0.02 * 100e9 / flops) as usize).max(1);
        let mut cpu: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
        let mut wall: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
        let call = |c: &mut [f32]| {
            kernels::gemm(GemmArgs {
                m,
                n,
                k,
                alpha: 1.0,
                a: &a,
                a_rs,
                a_cs,
                b: &b,
                b_rs: n,
                b_cs: 1,
                beta: 0.0,
                c,
                c_rs: n,
            })
        };
        for round in 0..rounds + 1 {
            for (vi, v) in variants.iter().enumerate() {
                kernels::gemm::set_blocking_override(v[0], v[1], v[2]);
                kernels::gemm::set_parallel_mode(v[3]);
                kernels::gemm::set_tile_override(v[4], v[5]);
                let (c0, w0) = (thread_cpu_seconds(), Instant::now());
                for _ in 0..reps {
                    call(&mut c);
                }
                let (dc, dw) = (thread_cpu_seconds() - c0, w0.elapsed().as_secs_f64());
                if round > 0 {
                    cpu[vi].push(dc / reps as f64);
                    wall[vi].push(dw / reps as f64);
                }
            }
        }
        let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        let load = load.split_whitespace().next().unwrap_or("?").to_string();
        for (vi, v) in variants.iter().enumerate() {
            let mut cs = cpu[vi].clone();
            cs.sort_by(f64::total_cmp);
            let mut ws = wall[vi].clone();
            ws.sort_by(f64::total_cmp);
            println!(
                "{} t{threads} mc,kc,nc,mode,mr,nr={v:?} cpu best/median {:.1} {:.1} wall best/median {:.1} {:.1} GFLOP/s (load {load})",
                label((m, k, n, at)),
                flops / cs[0] / 1e9,
                flops / cs[cs.len() / 2] / 1e9,
                flops / ws[0] / 1e9,
                flops / ws[ws.len() / 2] / 1e9
            );
        }
    }
    kernels::gemm::set_blocking_override(0, 0, 0);
    kernels::gemm::set_parallel_mode(0);
    kernels::gemm::set_tile_override(0, 0);
}

/// `(m, k, n, a_transposed)`.
type Shape = (usize, usize, usize, bool);

/// `n` for square, `MxKxN` otherwise; a trailing `t` reads `A` transposed (`MxKxNt`).
fn parse_shapes(s: &str) -> Vec<Shape> {
    s.split(',')
        .filter_map(|s| {
            let (s, at) = match s.strip_suffix('t') {
                Some(rest) => (rest, true),
                None => (s, false),
            };
            let d: Vec<usize> = s.split('x').filter_map(|v| v.parse().ok()).collect();
            match d[..] {
                [n] => Some((n, n, n, at)),
                [m, k, n] => Some((m, k, n, at)),
                _ => None,
            }
        })
        .collect()
}

/// The shape as given on the command line.
fn label((m, k, n, at): Shape) -> String {
    let t = if at { "t" } else { "" };
    if m == k && k == n {
        format!("{n}{t}")
    } else {
        format!("{m}x{k}x{n}{t}")
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("tune") {
        let shapes = parse_shapes(args.get(2).map_or("256,1024", String::as_str));
        let variants: Vec<[usize; 6]> = args
            .get(3)
            .map_or("0,0,0", String::as_str)
            .split(';')
            .map(|v| {
                let d: Vec<usize> = v.split(',').map(|x| x.parse().unwrap_or(0)).collect();
                std::array::from_fn(|i| d.get(i).copied().unwrap_or(0))
            })
            .collect();
        let rounds = args.get(4).and_then(|r| r.parse().ok()).unwrap_or(7);
        let threads = args.get(5).and_then(|r| r.parse().ok()).unwrap_or(1);
        return tune(&shapes, &variants, rounds, threads);
    }
    let arg = |i: usize, default: &'static str| args.get(i).map_or(default.to_string(), |s| s.clone());
    let threads: Vec<usize> = arg(1, "1,2").split(',').filter_map(|s| s.parse().ok()).collect();
    // sizes: `n` for square, or `MxKxN`
    let sizes = parse_shapes(&arg(2, "64,128,256,512,1024,2048"));
    let dtype = arg(3, "f32");
    for &t in &threads {
        for &shape in &sizes {
            if dtype == "f64" {
                run::<f64>(t, shape);
            } else {
                run::<f32>(t, shape);
            }
        }
    }
}
