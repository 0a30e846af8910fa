"""Side-by-side training of the same MLP (default 784-128-10; --hidden 1024 1024 for the large
one) on MNIST (Adam 1e-3 or --sgd for SGD 0.01, batch 128 by default,
sparse categorical cross-entropy on logits, test set as validation data): Keras (TensorFlow
CPU), PyTorch (if installed) and Dimflow (examples/mnist.rs), at 1 and 2 threads.

Run from the repository root:
    cargo build --release --example mnist
    python3 -m venv bench/.venv && bench/.venv/bin/pip install tensorflow-cpu==2.21.0 keras==3.15.1
    # optional: bench/.venv/bin/pip install torch==2.15.0   (about 5 GB)
    bench/.venv/bin/python bench/train_side_by_side.py [--epochs 5] [--threads 1 2]

Each framework/thread count runs in its own process (thread pools are fixed at start-up).
Prints samples/s of the whole fit (validation included, as Keras' fit does it), test accuracy,
predict latency at batch 1 and 128, and the ratios to Dimflow.
"""

import argparse
import gzip
import json
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_mnist(data):
    import numpy as np

    def idx(name):
        with gzip.open(os.path.join(data, name + ".gz"), "rb") as f:
            raw = f.read()
        ndim = raw[3]
        dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
        return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)

    xtr = idx("train-images-idx3-ubyte").reshape(-1, 784).astype("float32") / 255.0
    ytr = idx("train-labels-idx1-ubyte").astype("int64")
    xte = idx("t10k-images-idx3-ubyte").reshape(-1, 784).astype("float32") / 255.0
    yte = idx("t10k-labels-idx1-ubyte").astype("int64")
    return xtr, ytr, xte, yte


def latency(fn, x, repeats):
    fn(x)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - t)
    times.sort()
    return times[len(times) // 2] * 1e6


def run_keras(args):
    os.environ["KERAS_BACKEND"] = "tensorflow"
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    import keras

    xtr, ytr, xte, yte = load_mnist(args.data)
    keras.utils.set_random_seed(42)
    hidden = [keras.layers.Dense(w, activation="relu") for w in args.hidden]
    model = keras.Sequential([keras.Input((784,)), *hidden, keras.layers.Dense(10)])
    model.compile(
        optimizer=keras.optimizers.SGD(0.01) if args.sgd else keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    t = time.perf_counter()
    model.fit(xtr, ytr, batch_size=args.batch_size, epochs=args.epochs, validation_data=(xte, yte), verbose=0)
    secs = time.perf_counter() - t
    _, acc = model.evaluate(xte, yte, batch_size=1024, verbose=0)
    call = lambda x: model(x, training=False)  # noqa: E731
    return {
        "samples_per_s": len(xtr) * args.epochs / secs,
        "test_accuracy": float(acc),
        "predict_us_b1": latency(call, xte[:1], 2000),
        "predict_us_b128": latency(call, xte[:128], 500),
    }


def run_torch(args):
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(42)
    xtr, ytr, xte, yte = (torch.from_numpy(a) for a in load_mnist(args.data))
    layers, width = [], 784
    for w in args.hidden:
        layers += [torch.nn.Linear(width, w), torch.nn.ReLU()]
        width = w
    model = torch.nn.Sequential(*layers, torch.nn.Linear(width, 10))
    if args.sgd:
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = torch.nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(42)
    t = time.perf_counter()
    for _ in range(args.epochs):
        model.train()
        perm = torch.randperm(len(xtr), generator=gen)
        for i in range(0, len(xtr), args.batch_size):
            idx = perm[i : i + args.batch_size]
            opt.zero_grad()
            loss = loss_fn(model(xtr[idx]), ytr[idx])
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():  # validation, as Keras' fit does with validation_data
            loss_fn(model(xte), yte)
    secs = time.perf_counter() - t
    with torch.no_grad():
        acc = (model(xte).argmax(1) == yte).float().mean().item()

        def call(x):
            return model(x)

        b1, b128 = latency(call, xte[:1], 2000), latency(call, xte[:128], 500)
    del np
    return {"samples_per_s": len(xtr) * args.epochs / secs, "test_accuracy": acc, "predict_us_b1": b1, "predict_us_b128": b128}


def run_dimflow(args):
    exe = os.path.join(ROOT, "target", "release", "examples", "mnist")
    out = subprocess.run(
        [exe, "--data", args.data, "--epochs", str(args.epochs), "--batch-size", str(args.batch_size),
         "--threads", str(args.threads), "--hidden", ",".join(map(str, args.hidden)),
         "--out", os.path.join("/tmp", f"dimflow-bench-{os.getpid()}")] + (["--sgd"] if args.sgd else []),
        check=True, capture_output=True, text=True,
    ).stdout
    num = lambda pat: float(re.search(pat, out).group(1))  # noqa: E731
    return {
        "samples_per_s": num(r"trained (\d+) samples/s"),
        "test_accuracy": num(r"test accuracy: ([0-9.]+)"),
        "predict_us_b1": num(r"batch 1: ([0-9.]+) us"),
        "predict_us_b128": num(r"batch 128: ([0-9.]+) us"),
    }


RUNNERS = {"keras": run_keras, "torch": run_torch, "dimflow": run_dimflow}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--data", default=os.path.join(ROOT, "data", "mnist"))
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--hidden", type=int, nargs="+", default=[128], help="hidden widths, e.g. 1024 1024")
    p.add_argument("--sgd", action="store_true", help="SGD(0.01) instead of Adam(1e-3)")
    p.add_argument("--frameworks", nargs="+", default=["dimflow", "keras", "torch"])
    p.add_argument("--one", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        args.threads = args.threads[0]
        print(json.dumps(RUNNERS[args.one](args)))
        return
    results = {}
    for fw in args.frameworks:
        for n in args.threads:
            cmd = [sys.executable, __file__, "--one", fw, "--epochs", str(args.epochs), "--threads", str(n), "--data", args.data,
                   "--batch-size", str(args.batch_size), "--hidden", *map(str, args.hidden)] + (["--sgd"] if args.sgd else [])
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                last = (r.stderr.strip().splitlines() or ["?"])[-1]
                print(f"{fw:8} {n} thread(s): skipped ({last})")
                continue
            res = json.loads(r.stdout.strip().splitlines()[-1])
            results[(fw, n)] = res
            print(f"{fw:8} {n} thread(s): {res['samples_per_s']:>9.0f} samples/s  test accuracy {res['test_accuracy']:.4f}  "
                  f"predict b1 {res['predict_us_b1']:.1f} us  b128 {res['predict_us_b128']:.1f} us", flush=True)
    for n in args.threads:
        d = results.get(("dimflow", n))
        for fw in ("keras", "torch"):
            o = results.get((fw, n))
            if d and o:
                print(f"{n} thread(s): Dimflow / {fw} = {d['samples_per_s'] / o['samples_per_s']:.2f}x training throughput, "
                      f"accuracy difference {100 * (d['test_accuracy'] - o['test_accuracy']):+.2f} points")


if __name__ == "__main__":
    main()
