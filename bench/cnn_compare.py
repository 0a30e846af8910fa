"""The MNIST CNN of examples/mnist_cnn.rs trained by Dimflow, Keras (TensorFlow CPU) and PyTorch
in one run, at 1 and 2 threads: training samples/s and single-image prediction latency, and
Dimflow's ratio to the faster of the other two.

    cargo build --release --example mnist_cnn
    python3 -m venv bench/.venv && bench/.venv/bin/pip install tensorflow-cpu==2.21.0 keras==3.15.1 torch==2.15.0
    bench/.venv/bin/python bench/cnn_compare.py [--train 12800] [--epochs 2] [--threads 1 2]

Model: Conv2D(32, 3x3, relu) > MaxPool(2) > Conv2D(64, 3x3, relu) > MaxPool(2) > Flatten >
Dropout(0.5) > Dense(10); Adam(1e-3, eps 1e-7), batch 128, shuffled each epoch, cross-entropy on
the class scores. Every framework trains on the first --train images of data/mnist (written to a
temporary IDX directory, so the three read the same files) for --epochs epochs; the figure is the
last epoch's training time (the first one includes tracing and warm-up), without validation.
Each framework and thread count runs in its own process, one after the other. PyTorch runs its
native NCHW layout, Keras and Dimflow NHWC.
"""

import argparse
import gzip
import json
import os
import re
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read_idx(path):
    import numpy as np

    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def write_idx(path, arr):
    header = struct.pack(">BBBB", 0, 0, 0x08, arr.ndim) + struct.pack(">" + "I" * arr.ndim, *arr.shape)
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(header + arr.tobytes())


def subset(data, train, test, out):
    for split, n in (("train", train), ("t10k", test)):
        for part in ("images-idx3", "labels-idx1"):
            name = f"{split}-{part}-ubyte.gz"
            write_idx(os.path.join(out, name), read_idx(os.path.join(data, name))[:n])


def run_torch(a):
    import numpy as np
    import torch

    torch.set_num_threads(a.threads)
    torch.manual_seed(42)
    d = a.data
    x = torch.from_numpy(read_idx(f"{d}/train-images-idx3-ubyte.gz").astype("float32") / 255.0)[:, None]
    y = torch.from_numpy(read_idx(f"{d}/train-labels-idx1-ubyte.gz").astype("int64"))
    xt = torch.from_numpy(read_idx(f"{d}/t10k-images-idx3-ubyte.gz").astype("float32") / 255.0)[:, None]
    nn = torch.nn
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(0.5), nn.Linear(1600, 10),
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(42)
    times = []
    for _ in range(a.epochs):
        model.train()
        t = time.perf_counter()
        perm = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), 128):
            idx = perm[i:i + 128]
            opt.zero_grad()
            loss_fn(model(x[idx]), y[idx]).backward()
            opt.step()
        times.append(time.perf_counter() - t)
    model.eval()
    one = xt[:1]
    lat = []
    with torch.no_grad():
        for _ in range(20):
            model(one)
        for _ in range(300):
            t = time.perf_counter()
            model(one)
            lat.append(time.perf_counter() - t)
    del np
    return {"samples_per_s": len(x) / times[-1], "predict_us": 1e6 * sorted(lat)[len(lat) // 2]}


def run_keras(a):
    out = subprocess.run(
        [sys.executable, os.path.join(ROOT, "bench", "cnn_side_by_side.py"), "--data", a.data,
         "--epochs", str(a.epochs), "--threads", str(a.threads)],
        check=True, capture_output=True, text=True,
    ).stdout
    res = json.loads(out.strip().splitlines()[-1])
    n = len(read_idx(os.path.join(a.data, "train-labels-idx1-ubyte.gz")))
    return {"samples_per_s": n / res["epoch_seconds"][-1], "predict_us": res["predict_1_image_us"]}


def run_dimflow(a):
    exe = os.path.join(ROOT, "target", "release", "examples", "mnist_cnn")
    out = subprocess.run(
        [exe, "--data", a.data, "--epochs", str(a.epochs), "--threads", str(a.threads)],
        check=True, capture_output=True, text=True,
    ).stdout
    secs = [float(s) for s in re.findall(r"epoch \d+: ([0-9.]+) s of training", out)]
    n = len(read_idx(os.path.join(a.data, "train-labels-idx1-ubyte.gz")))
    b1 = float(re.search(r"batch 1: ([0-9.]+) us", out).group(1))
    return {"samples_per_s": n / secs[-1], "predict_us": b1}


RUNNERS = {"dimflow": run_dimflow, "keras": run_keras, "torch": run_torch}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--train", type=int, default=12800, help="training images (the first ones)")
    p.add_argument("--test", type=int, default=2000)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--data", default=os.path.join(ROOT, "data", "mnist"))
    p.add_argument("--frameworks", nargs="+", default=["dimflow", "keras", "torch"])
    p.add_argument("--one", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.one:
        a.threads = a.threads[0]
        print(json.dumps(RUNNERS[a.one](a)))
        return
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    print(f"# {time.strftime('%Y-%m-%dT%H:%MZ', time.gmtime())}, {a.train} images x {a.epochs} epochs, load {load}")
    with tempfile.TemporaryDirectory() as tmp:
        subset(a.data, a.train, a.test, tmp)
        results = {}
        for n in a.threads:
            for fw in a.frameworks:
                cmd = [sys.executable, __file__, "--one", fw, "--data", tmp, "--epochs", str(a.epochs), "--threads", str(n)]
                r = subprocess.run(cmd, capture_output=True, text=True)
                if r.returncode != 0:
                    print(f"{fw:8} {n} thread(s): failed ({(r.stderr.strip().splitlines() or ['?'])[-1]})")
                    continue
                res = json.loads(r.stdout.strip().splitlines()[-1])
                results[(fw, n)] = res
                print(f"{fw:8} {n} thread(s): {res['samples_per_s']:>7.0f} samples/s  predict 1 image {res['predict_us']:>8.1f} us", flush=True)
    for n in a.threads:
        d = results.get(("dimflow", n))
        others = [(fw, results[(fw, n)]) for fw in ("keras", "torch") if (fw, n) in results]
        if d and others:
            fw, best = max(others, key=lambda o: o[1]["samples_per_s"])
            fast = min(o[1]["predict_us"] for o in others)
            print(f"{n} thread(s): Dimflow / {fw} (the faster) = {d['samples_per_s'] / best['samples_per_s']:.2f}x training; "
                  f"single-image prediction {d['predict_us']:.0f} us vs {fast:.0f} us (fastest other)")


if __name__ == "__main__":
    main()
