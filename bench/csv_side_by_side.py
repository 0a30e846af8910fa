#!/usr/bin/env python3
"""CSV reading side by side: generate the test file, and time TensorFlow's tf.data on it.

    python3 bench/csv_side_by_side.py generate FILE [MB]   # deterministic ~MB megabyte CSV
    /work/venv-tf/bin/python bench/csv_side_by_side.py tf FILE

The file has a header and rows of 8 floats, 2 ints and 2 strings (the shape of the reference
measurement in /work/shared/reference/README.md). The TF pipeline is the fast idiom:
TextLineDataset -> skip(1) -> batch(1024) -> map(decode_csv), iterated to the end.
Run both sides in one go with bench/csv_side_by_side.sh.
"""
import os
import random
import sys
import time


def generate(path, megabytes):
    rng = random.Random(12345)
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"]
    target = int(megabytes * 1_000_000)
    with open(path, "w", newline="") as f:
        f.write("f1,f2,f3,f4,f5,f6,f7,f8,i1,i2,s1,s2\n")
        size = 0
        lines = []
        while size < target:
            fl = [f"{rng.uniform(-1000, 1000):.6f}" for _ in range(8)]
            ints = [str(rng.randrange(-100000, 100000)), str(rng.randrange(0, 1000))]
            ss = [rng.choice(words) + str(rng.randrange(100)), '"' + rng.choice(words) + ", " + rng.choice(words) + '"']
            line = ",".join(fl + ints + ss) + "\n"
            lines.append(line)
            size += len(line)
            if len(lines) >= 10000:
                f.write("".join(lines))
                lines = []
        f.write("".join(lines))


def run_tf(path):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    defaults = [tf.constant(0.0)] * 8 + [tf.constant(0, tf.int64)] * 2 + [tf.constant("")] * 2
    size = os.path.getsize(path)
    best = None
    best_cpu = None
    for _ in range(2):
        ds = (
            tf.data.TextLineDataset(path)
            .skip(1)
            .batch(1024)
            .map(lambda x: tf.io.decode_csv(x, defaults))
        )
        t0 = time.perf_counter()
        c0 = time.process_time()
        rows = 0
        for batch in ds:
            rows += int(batch[0].shape[0])
        dt = time.perf_counter() - t0
        cpu = time.process_time() - c0
        best = dt if best is None else min(best, dt)
        best_cpu = cpu if best_cpu is None else min(best_cpu, cpu)
    print(f"tensorflow {tf.__version__} tf.data TextLineDataset->batch(1024)->decode_csv: "
          f"{rows} rows, {size / 1e6:.1f} MB in {best:.3f} s = {size / 1e6 / best:.1f} MB/s, "
          f"{rows / best:,.0f} rows/s; CPU {best_cpu:.2f} s = {size / 1e6 / best_cpu:.1f} MB per CPU-s "
          f"(best of 2)")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    if sys.argv[1] == "generate":
        generate(sys.argv[2], float(sys.argv[3]) if len(sys.argv) > 3 else 100.0)
    elif sys.argv[1] == "tf":
        run_tf(sys.argv[2])
    else:
        sys.exit(__doc__)
