"""NumPy/OpenBLAS sgemm timing for bench/gemm_side_by_side.sh.

Prints one line per measurement, `numpy <threads> <n> <gflops> <cpu_gflops>` (the last by the
calling thread's CPU time: meaningful on one thread only), in the same format as the
gemm-compare binary. The thread count is set through OPENBLAS_NUM_THREADS by the caller, since
OpenBLAS reads it at import time.

Usage: python gemm_side_by_side.py <threads> <n|MxKxN|MxKxNt,...> [float32|float64]
"""

import sys
import time

import numpy as np


def best_time(f, min_runs=3, min_seconds=0.4):
    """Fastest wall time and least thread-CPU time of the calling thread (OpenBLAS runs a
    1-thread product on the calling thread, so the latter is the work's CPU time there)."""
    f()  # warm-up
    best = best_cpu = float("inf")
    start = time.perf_counter()
    runs = 0
    while runs < min_runs or time.perf_counter() - start < min_seconds:
        t, c = time.perf_counter(), time.thread_time()
        f()
        best_cpu = min(best_cpu, time.thread_time() - c)
        best = min(best, time.perf_counter() - t)
        runs += 1
    return best, best_cpu


def main():
    threads = int(sys.argv[1])
    # `n` for square products, `MxKxN` otherwise
    # a trailing `t` multiplies by a transposed view of A (`MxKxNt`: A is X.T for a k×m X)
    shapes = []
    for tok in sys.argv[2].split(","):
        at = tok.endswith("t")
        d = [int(v) for v in tok.rstrip("t").split("x")]
        dims = (d[0], d[1], d[2]) if len(d) == 3 else (d[0], d[0], d[0])
        shapes.append((tok, *dims, at))
    dtype = np.dtype(sys.argv[3] if len(sys.argv) > 3 else "float32")
    rng = np.random.default_rng(0)
    for label, m, k, n, at in shapes:
        if at:
            a = rng.uniform(-0.5, 0.5, (k, m)).astype(dtype).T
        else:
            a = rng.uniform(-0.5, 0.5, (m, k)).astype(dtype)
        b = rng.uniform(-0.5, 0.5, (k, n)).astype(dtype)
        c = np.empty((m, n), dtype)
        t, cpu = best_time(lambda: np.matmul(a, b, out=c))
        flops = 2 * m * k * n
        print(f"numpy {threads} {label} {flops / t / 1e9:.1f} {flops / cpu / 1e9:.1f}", flush=True)


if __name__ == "__main__":
    main()
