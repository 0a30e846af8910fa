"""Keras' side of examples/mnist_cnn.rs: the same CNN, optimizer, batch size and data.

    /work/venv-tf/bin/python bench/cnn_side_by_side.py [--epochs 12] [--threads 1] [--data data/mnist]

Conv2D(32, 3x3, relu) > MaxPooling2D(2) > Conv2D(64, 3x3, relu) > MaxPooling2D(2) > Flatten >
Dropout(0.5) > Dense(10, softmax); Adam(1e-3), batch 128, shuffled each epoch, Glorot-uniform
kernels and zero biases (Keras' defaults, as Dimflow's). Inputs are the IDX images scaled to
[0, 1], as tensor_nn::io::idx loads them. Prints the training time of each epoch (fit's own
epoch time, without validation), the test accuracy and the single-image prediction latency.
"""

import argparse
import gzip
import json
import os
import struct
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402


def idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--threads", type=int, default=0, help="0: TensorFlow's default")
    p.add_argument("--data", default="data/mnist")
    p.add_argument("--seed", type=int, default=42)
    a = p.parse_args()

    import tensorflow as tf
    import keras

    if a.threads:
        tf.config.threading.set_intra_op_parallelism_threads(a.threads)
        tf.config.threading.set_inter_op_parallelism_threads(a.threads)
    keras.utils.set_random_seed(a.seed)
    d = a.data
    x_train = (idx(f"{d}/train-images-idx3-ubyte.gz").astype("float32") / 255.0)[..., None]
    y_train = idx(f"{d}/train-labels-idx1-ubyte.gz").astype("int64")
    x_test = (idx(f"{d}/t10k-images-idx3-ubyte.gz").astype("float32") / 255.0)[..., None]
    y_test = idx(f"{d}/t10k-labels-idx1-ubyte.gz").astype("int64")

    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(32, (3, 3), activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(64, (3, 3), activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dropout(0.5),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])

    class Timer(keras.callbacks.Callback):
        def __init__(self):
            self.times = []

        def on_epoch_begin(self, epoch, logs=None):
            self.t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.times.append(time.perf_counter() - self.t)
            print(f"epoch {epoch + 1}: {self.times[-1]:.1f} s, loss {logs['loss']:.4f}", flush=True)

    timer = Timer()
    model.fit(x_train, y_train, batch_size=128, epochs=a.epochs, shuffle=True, verbose=0, callbacks=[timer])
    loss, acc = model.evaluate(x_test, y_test, batch_size=1000, verbose=0)
    one = x_test[:1]
    for _ in range(20):
        model(one, training=False)
    lat = []
    for _ in range(200):
        t = time.perf_counter()
        model(one, training=False)
        lat.append(time.perf_counter() - t)
    # the first epoch includes tracing; report the mean of the others when there are any
    steady = timer.times[1:] or timer.times
    out = {
        "keras": keras.__version__, "tensorflow": tf.__version__, "threads": a.threads or "default",
        "epochs": a.epochs, "epoch_seconds": [round(t, 2) for t in timer.times],
        "seconds_per_epoch": round(sum(steady) / len(steady), 2),
        "samples_per_s": round(len(x_train) / (sum(steady) / len(steady))),
        "test_loss": round(loss, 4), "test_accuracy": round(acc, 4),
        "predict_1_image_us": round(1e6 * sorted(lat)[len(lat) // 2], 1),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
