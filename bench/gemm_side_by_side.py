"""NumPy/OpenBLAS sgemm timing for bench/gemm_side_by_side.sh.

Prints one line per measurement, `numpy <threads> <n> <gflops>`, in the same format as the
gemm-compare binary. The thread count is set through OPENBLAS_NUM_THREADS by the caller, since
OpenBLAS reads it at import time.

Usage: python gemm_side_by_side.py <threads> <n,n,...> [float32|float64]
"""

import sys
import time

import numpy as np


def best_time(f, min_runs=3, min_seconds=0.4):
    f()  # warm-up
    best = float("inf")
    start = time.perf_counter()
    runs = 0
    while runs < min_runs or time.perf_counter() - start < min_seconds:
        t = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t)
        runs += 1
    return best


def main():
    threads = int(sys.argv[1])
    sizes = [int(s) for s in sys.argv[2].split(",")]
    dtype = np.dtype(sys.argv[3] if len(sys.argv) > 3 else "float32")
    rng = np.random.default_rng(0)
    for n in sizes:
        a = rng.uniform(-0.5, 0.5, (n, n)).astype(dtype)
        b = rng.uniform(-0.5, 0.5, (n, n)).astype(dtype)
        c = np.empty((n, n), dtype)
        t = best_time(lambda: np.matmul(a, b, out=c))
        print(f"numpy {threads} {n} {2 * n**3 / t / 1e9:.1f}", flush=True)


if __name__ == "__main__":
    main()
