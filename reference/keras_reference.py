"""Reference values for tensor-nn's tests, computed with Keras 3 (TensorFlow backend, CPU).

Run from the repository root:
    python3 -m venv reference/.venv
    reference/.venv/bin/pip install tensorflow-cpu==2.21.0 keras==3.15.1
    KERAS_BACKEND=tensorflow reference/.venv/bin/python reference/keras_reference.py
It writes reference/keras_reference.json, which the Rust tests read (they never run Python).
"""

import json
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402

F32 = np.float32
OUT = {"keras_version": keras.__version__, "tensorflow_version": tf.__version__}

# ---------------------------------------------------------------- optimizers
# Quadratic f(w) = 0.5 * sum(a * (w - c)^2); gradient a * (w - c), computed in float32
# exactly as the Rust test computes it. Two parameters so global-norm clipping is exercised.
QUAD = {
    "a": [[1.0, 2.0, 0.5, 4.0], [3.0, 0.25]],
    "c": [[1.0, -1.0, 2.0, 0.5], [-2.0, 1.5]],
    "w0": [[0.0, 0.5, -1.0, 2.0], [1.0, -0.5]],
}


def quad_trajectory(make_opt, steps=10):
    a = [np.array(x, F32) for x in QUAD["a"]]
    c = [np.array(x, F32) for x in QUAD["c"]]
    ws = [keras.Variable(np.array(x, F32), dtype="float32") for x in QUAD["w0"]]
    opt = make_opt()
    traj = []
    for _ in range(steps):
        grads = [(ai * (np.asarray(w.numpy(), F32) - ci)).astype(F32) for ai, ci, w in zip(a, c, ws)]
        opt.apply_gradients([(tf.constant(g), w.value) for g, w in zip(grads, ws)])
        traj.append([np.asarray(w.numpy(), F32).tolist() for w in ws])
    return traj


O = keras.optimizers
S = keras.optimizers.schedules
OPTIMIZERS = {
    "sgd": lambda: O.SGD(),
    "sgd_lr0.1": lambda: O.SGD(learning_rate=0.1),
    "momentum": lambda: O.SGD(learning_rate=0.05, momentum=0.9),
    "nesterov": lambda: O.SGD(learning_rate=0.05, momentum=0.9, nesterov=True),
    "adam": lambda: O.Adam(),
    "adam_lr0.1": lambda: O.Adam(learning_rate=0.1),
    "amsgrad": lambda: O.Adam(learning_rate=0.1, amsgrad=True),
    "adamw": lambda: O.AdamW(learning_rate=0.1),
    "adamw_wd0.1": lambda: O.AdamW(learning_rate=0.05, weight_decay=0.1),
    "adagrad": lambda: O.Adagrad(),
    "adagrad_lr0.5": lambda: O.Adagrad(learning_rate=0.5),
    "adadelta": lambda: O.Adadelta(),
    "adadelta_lr1": lambda: O.Adadelta(learning_rate=1.0),
    "rmsprop": lambda: O.RMSprop(),
    "rmsprop_centered_momentum": lambda: O.RMSprop(learning_rate=0.01, momentum=0.5, centered=True),
    "ftrl": lambda: O.Ftrl(),
    "ftrl_reg": lambda: O.Ftrl(
        learning_rate=0.3,
        learning_rate_power=-0.7,
        initial_accumulator_value=0.2,
        l1_regularization_strength=0.01,
        l2_regularization_strength=0.02,
        l2_shrinkage_regularization_strength=0.03,
        beta=0.1,
    ),
    "sgd_clipvalue": lambda: O.SGD(learning_rate=0.1, clipvalue=0.5),
    "sgd_clipnorm": lambda: O.SGD(learning_rate=0.1, clipnorm=1.0),
    "sgd_global_clipnorm": lambda: O.SGD(learning_rate=0.1, global_clipnorm=1.0),
    "adam_exponential_decay": lambda: O.Adam(
        learning_rate=S.ExponentialDecay(0.1, decay_steps=3, decay_rate=0.5)
    ),
    "sgd_staircase_decay": lambda: O.SGD(
        learning_rate=S.ExponentialDecay(0.2, decay_steps=3, decay_rate=0.5, staircase=True)
    ),
    "sgd_piecewise": lambda: O.SGD(
        learning_rate=S.PiecewiseConstantDecay([2, 5], [0.2, 0.1, 0.05])
    ),
    "sgd_cosine": lambda: O.SGD(learning_rate=S.CosineDecay(0.2, decay_steps=8, alpha=0.1)),
    "sgd_cosine_warmup": lambda: O.SGD(
        learning_rate=S.CosineDecay(0.0, decay_steps=6, warmup_target=0.2, warmup_steps=3)
    ),
}
OUT["quadratic"] = QUAD
OUT["optimizers"] = {name: quad_trajectory(make) for name, make in OPTIMIZERS.items()}

# ---------------------------------------------------------------- tiny MLP
# 3 -> 4 (tanh) -> 2 (linear), MSE, 8 samples; fixed weights; 10 steps per optimizer.
mrng = np.random.default_rng(7)
MLP = {
    "x": mrng.normal(size=(8, 3)).astype(F32),
    "y": mrng.normal(size=(8, 2)).astype(F32),
    "w": [
        mrng.normal(scale=0.5, size=(3, 4)).astype(F32),
        mrng.normal(scale=0.1, size=(4,)).astype(F32),
        mrng.normal(scale=0.5, size=(4, 2)).astype(F32),
        mrng.normal(scale=0.1, size=(2,)).astype(F32),
    ],
}


def mlp_trajectory(make_opt, steps=10):
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(4, activation="tanh"), keras.layers.Dense(2)]
    )
    model.set_weights(MLP["w"])
    opt = make_opt()
    loss_fn = keras.losses.MeanSquaredError()
    traj = []
    for _ in range(steps):
        with tf.GradientTape() as tape:
            loss = loss_fn(tf.constant(MLP["y"]), model(tf.constant(MLP["x"]), training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        traj.append({"loss": float(loss), "weights": [np.asarray(v.numpy()).tolist() for v in model.trainable_variables]})
    return traj


OUT["mlp"] = {"x": MLP["x"].tolist(), "y": MLP["y"].tolist(), "w0": [w.tolist() for w in MLP["w"]]}
OUT["mlp_trajectories"] = {
    name: mlp_trajectory(OPTIMIZERS[name])
    for name in ["sgd_lr0.1", "momentum", "nesterov", "adam_lr0.1", "amsgrad", "adamw", "adagrad_lr0.5",
                 "adadelta_lr1", "rmsprop", "rmsprop_centered_momentum", "ftrl_reg", "sgd_global_clipnorm"]
}

# ---------------------------------------------------------------- schedules
SCHEDULES = {
    "exponential": S.ExponentialDecay(0.1, decay_steps=4, decay_rate=0.3),
    "exponential_staircase": S.ExponentialDecay(0.1, decay_steps=4, decay_rate=0.3, staircase=True),
    "piecewise": S.PiecewiseConstantDecay([3, 7], [1.0, 0.5, 0.1]),
    "cosine": S.CosineDecay(0.5, decay_steps=10, alpha=0.2),
    "cosine_warmup": S.CosineDecay(0.1, decay_steps=10, warmup_target=0.5, warmup_steps=4),
}
OUT["schedules"] = {n: [float(s(step)) for step in range(16)] for n, s in SCHEDULES.items()}

# ---------------------------------------------------------------- losses
rng = np.random.default_rng(1234)
B, K = 4, 3
reg_true = rng.normal(size=(B, K)).astype(F32)
reg_pred = rng.normal(size=(B, K)).astype(F32) * 2
probs = rng.uniform(0.05, 1.0, size=(B, K)).astype(F32)
probs = probs / probs.sum(axis=1, keepdims=True)
probs[0] = [1.0, 0.0, 0.0]  # exercises clipping (0 and 1)
unnormalised = (probs * 1.7).astype(F32)
logits = (rng.normal(size=(B, K)) * 3).astype(F32)
logits[1] = [80.0, -40.0, 0.5]  # large logits: must stay finite
onehot = np.eye(K, dtype=F32)[[0, 2, 1, 1]]
soft = np.array([[0.7, 0.2, 0.1], [0.0, 0.5, 0.5], [0.2, 0.2, 0.6], [1.0, 0.0, 0.0]], F32)
labels = np.array([0, 2, 1, 1], F32)
bin_true = np.array([[1, 0, 1], [0, 0, 1], [1, 1, 0], [0, 1, 0]], F32)
bin_prob = rng.uniform(0.0, 1.0, size=(B, K)).astype(F32)
bin_prob[2] = [1.0, 0.0, 0.5]
weights = np.array([1.0, 0.5, 2.0, 0.0], F32)

L = keras.losses
LOSS_CASES = {
    "mse": (lambda r: L.MeanSquaredError(reduction=r), reg_pred, reg_true),
    "mae": (lambda r: L.MeanAbsoluteError(reduction=r), reg_pred, reg_true),
    "huber": (lambda r: L.Huber(reduction=r), reg_pred, reg_true),
    "huber_delta0.5": (lambda r: L.Huber(delta=0.5, reduction=r), reg_pred, reg_true),
    "bce_probs": (lambda r: L.BinaryCrossentropy(reduction=r), bin_prob, bin_true),
    "bce_logits": (lambda r: L.BinaryCrossentropy(from_logits=True, reduction=r), logits, bin_true),
    "bce_logits_smoothing": (
        lambda r: L.BinaryCrossentropy(from_logits=True, label_smoothing=0.2, reduction=r),
        logits,
        bin_true,
    ),
    "cce_probs": (lambda r: L.CategoricalCrossentropy(reduction=r), probs, onehot),
    "cce_unnormalised": (lambda r: L.CategoricalCrossentropy(reduction=r), unnormalised, soft),
    "cce_logits": (lambda r: L.CategoricalCrossentropy(from_logits=True, reduction=r), logits, soft),
    "cce_logits_smoothing": (
        lambda r: L.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1, reduction=r),
        logits,
        onehot,
    ),
    "scce_probs": (lambda r: L.SparseCategoricalCrossentropy(reduction=r), probs, labels),
    "scce_logits": (
        lambda r: L.SparseCategoricalCrossentropy(from_logits=True, reduction=r),
        logits,
        labels,
    ),
}


def loss_case(make, y_pred, y_true):
    out = {"y_pred": y_pred.tolist(), "y_true": y_true.tolist()}
    for red in ["sum_over_batch_size", "sum", "mean_with_sample_weight", "none"]:
        for weighted in [False, True]:
            x = tf.Variable(y_pred)
            with tf.GradientTape() as tape:
                sw = tf.constant(weights) if weighted else None
                val = make(red)(tf.constant(y_true), x, sample_weight=sw)
                total = tf.reduce_sum(val)
            g = tape.gradient(total, x)
            key = red + ("_weighted" if weighted else "")
            out[key] = {"value": np.asarray(val).tolist(), "grad": np.asarray(g).tolist()}
    return out


OUT["losses"] = {n: loss_case(*case) for n, case in LOSS_CASES.items()}
OUT["sample_weight"] = weights.tolist()

# ---------------------------------------------------------------- metrics
M = keras.metrics
mb_true = [np.array([1, 0, 1, 1, 0, 0], F32), np.array([0, 1, 1, 0, 1, 0], F32)]
mb_pred = [
    np.array([0.9, 0.4, 0.6, 0.3, 0.5, 0.1], F32),
    np.array([0.2, 0.8, 0.7, 0.55, 0.45, 0.05], F32),
]
mc_true = [np.eye(3, dtype=F32)[[0, 1, 2, 2]], np.eye(3, dtype=F32)[[1, 1, 0]]]
mc_pred = [
    np.array([[0.7, 0.2, 0.1], [0.3, 0.4, 0.3], [0.5, 0.1, 0.4], [0.1, 0.1, 0.8]], F32),
    np.array([[0.3, 0.6, 0.1], [0.5, 0.2, 0.3], [0.4, 0.4, 0.2]], F32),
]
metric_weights = [np.array([1, 2, 1, 0.5, 1, 1], F32), np.array([1, 1, 3, 1, 1, 0], F32)]


def run_metric(m, trues, preds, sws=None):
    results = []
    for i, (t, p) in enumerate(zip(trues, preds)):
        if sws is None:
            m.update_state(t, p)
        else:
            m.update_state(t, p, sample_weight=sws[i])
        results.append(float(m.result()))
    return results


sc_true = [np.argmax(t, axis=1).astype(F32) for t in mc_true]
OUT["metrics"] = {
    "binary": {"y_true": [t.tolist() for t in mb_true], "y_pred": [p.tolist() for p in mb_pred],
               "sample_weight": [w.tolist() for w in metric_weights]},
    "categorical": {"y_true": [t.tolist() for t in mc_true], "y_pred": [p.tolist() for p in mc_pred],
                    "labels": [t.tolist() for t in sc_true]},
    "binary_accuracy": run_metric(M.BinaryAccuracy(), mb_true, mb_pred),
    "binary_accuracy_weighted": run_metric(M.BinaryAccuracy(), mb_true, mb_pred, metric_weights),
    "binary_accuracy_threshold0.7": run_metric(M.BinaryAccuracy(threshold=0.7), mb_true, mb_pred),
    "precision": run_metric(M.Precision(), mb_true, mb_pred),
    "precision_weighted": run_metric(M.Precision(), mb_true, mb_pred, metric_weights),
    "recall": run_metric(M.Recall(), mb_true, mb_pred),
    "recall_weighted": run_metric(M.Recall(), mb_true, mb_pred, metric_weights),
    "auc": run_metric(M.AUC(), mb_true, mb_pred),
    "auc_weighted": run_metric(M.AUC(), mb_true, mb_pred, metric_weights),
    "auc_50": run_metric(M.AUC(num_thresholds=50), mb_true, mb_pred),
    "categorical_accuracy": run_metric(M.CategoricalAccuracy(), mc_true, mc_pred),
    "sparse_categorical_accuracy": run_metric(M.SparseCategoricalAccuracy(), sc_true, mc_pred),
}
mean = M.Mean()
OUT["metrics"]["mean"] = []
for batch in [np.array([1.0, 2.0, 4.0], F32), np.array([0.5], F32)]:
    mean.update_state(batch)
    OUT["metrics"]["mean"].append(float(mean.result()))

# ---------------------------------------------------------------- constraints
cw = np.array([[3.0, -0.1, 0.0], [4.0, 0.2, -2.0]], F32)  # a (2 inputs, 3 units) kernel
C = keras.constraints
OUT["constraints"] = {
    "w": cw.tolist(),
    "max_norm_2": np.asarray(C.MaxNorm(2.0)(tf.constant(cw))).tolist(),
    "max_norm_1_axis1": np.asarray(C.MaxNorm(1.0, axis=1)(tf.constant(cw))).tolist(),
    "non_neg": np.asarray(C.NonNeg()(tf.constant(cw))).tolist(),
    "unit_norm": np.asarray(C.UnitNorm()(tf.constant(cw))).tolist(),
}

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "keras_reference.json")
with open(path, "w") as f:
    json.dump(OUT, f, indent=1)
    f.write("\n")
print("wrote", path)
