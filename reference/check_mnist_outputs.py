"""Checks that what examples/mnist.rs writes is readable by the Python tools themselves:
TensorBoard's own event reader (scalars, histograms, point counts) and the `safetensors`
package (weights and checkpoint).

    cargo run --release --example mnist -- --epochs 2 --out runs/mnist
    reference/.venv/bin/pip install tensorboard==2.21.0 safetensors==0.8.0
    reference/.venv/bin/python reference/check_mnist_outputs.py runs/mnist 2
"""

import os
import sys

from safetensors.numpy import load_file
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

out, epochs = sys.argv[1], int(sys.argv[2])
ok = True


def check(cond, what):
    global ok
    print(("ok   " if cond else "FAIL ") + what)
    ok &= bool(cond)


for sub, tags in [
    ("train", ["epoch_loss", "epoch_sparse_categorical_accuracy", "epoch_learning_rate", "relu_zero_fraction/relu1"]),
    ("validation", ["epoch_loss", "epoch_sparse_categorical_accuracy"]),
]:
    ea = EventAccumulator(os.path.join(out, "tensorboard", sub), size_guidance={"scalars": 0, "histograms": 0})
    ea.Reload()
    for t in tags:
        points = ea.Scalars(t) if t in ea.Tags()["scalars"] else []
        check(len(points) == epochs, f"{sub}/{t}: {len(points)} points {[round(p.value, 4) for p in points]}")
    if sub == "train":
        hist = ea.Tags()["histograms"]
        check("dense1.kernel/histogram" in hist, f"train histograms {hist}")
        h = ea.Histograms("dense1.kernel/histogram")[-1].histogram_value
        check(h.num == 784 * 128, f"dense1.kernel histogram counts {h.num} values in [{h.min:.3f}, {h.max:.3f}]")

w = load_file(os.path.join(out, "weights.safetensors"))
check({k: v.shape for k, v in w.items()} == {"dense1.kernel": (784, 128), "dense1.bias": (128,),
                                             "dense2.kernel": (128, 10), "dense2.bias": (10,)}, "weights.safetensors shapes")
c = load_file(os.path.join(out, "checkpoint.safetensors"))
check(all(k in c for k in w) and any(k.startswith("optimizer/") for k in c), f"checkpoint tensors: {sorted(c)[:6]}...")
sys.exit(0 if ok else 1)
