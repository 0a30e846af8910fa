"""Reference values for tensor-core's convolution and pooling tests (tests/ops_conv.rs),
computed with TensorFlow 2.21 / Keras 3.15.1 on the CPU, in float64.

Run from the repository root (a venv with tensorflow-cpu==2.21.0 and keras==3.15.1):
    /work/venv-tf/bin/python reference/conv_reference.py
It writes reference/conv_reference.json, which the Rust tests read (they never run Python).

Each case holds the input `x` (NHWC), the filters `w` (HWIO, `[kh, kw, cin / groups, cout]`)
where there are any, the output `y`, an upstream gradient `r` of the output's shape, and the
gradients of `sum(y * r)` with respect to `x` and `w` (tf.GradientTape).
"""

import json
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402

RNG = np.random.default_rng(20261125)
F64 = np.float64


def arr(shape):
    return RNG.uniform(-1.0, 1.0, size=shape).astype(F64)


def flat(t):
    return [float(v) for v in np.asarray(t, F64).reshape(-1)]


def conv_case(name, x_shape, k, cout, stride, padding, dilation=(1, 1), groups=1, layer=False):
    """padding: "valid", "same" or [top, bottom, left, right]."""
    cin = x_shape[3]
    x = tf.constant(arr(x_shape))
    w = tf.constant(arr((k[0], k[1], cin // groups, cout)))
    if isinstance(padding, str):
        tf_pad = padding.upper()
    else:
        t, b, l, r = padding
        tf_pad = [[0, 0], [t, b], [l, r], [0, 0]]
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        tape.watch(w)
        if groups == cin and groups > 1 and layer:
            # depthwise through Keras' DepthwiseConv2D: kernel [kh, kw, cin, multiplier]
            mult = cout // cin
            dw = keras.layers.DepthwiseConv2D(k, strides=stride, padding=padding, dilation_rate=dilation,
                                              depth_multiplier=mult, use_bias=False, dtype="float64")
            dw.build(x_shape)
            dw.kernel.assign(tf.reshape(w, (k[0], k[1], cin, mult)))
            y = tf.nn.depthwise_conv2d(x, tf.reshape(w, (k[0], k[1], cin, mult)), strides=(1, *stride, 1),
                                       padding=tf_pad, dilations=dilation)
            y_layer = dw(x)
            np.testing.assert_allclose(y.numpy(), y_layer.numpy(), rtol=1e-12, atol=1e-12)
        elif groups > 1:
            # grouped: one conv per group, concatenated (what tf.nn.conv2d with cin/groups does)
            cg, og = cin // groups, cout // groups
            ys = [tf.nn.convolution(x[..., i * cg:(i + 1) * cg], w[..., i * og:(i + 1) * og], strides=stride,
                                    padding=tf_pad, dilations=dilation) for i in range(groups)]
            y = tf.concat(ys, axis=-1)
        else:
            if isinstance(padding, str):
                # tf.nn.convolution: its dilated path (space-to-batch) has a CPU gradient
                y = tf.nn.convolution(x, w, strides=stride, padding=tf_pad, dilations=dilation)
            else:
                y = tf.nn.conv2d(x, w, strides=stride, padding=tf_pad, dilations=dilation)
            if layer:
                conv = keras.layers.Conv2D(cout, k, strides=stride, padding=padding, dilation_rate=dilation,
                                           use_bias=False, dtype="float64")
                conv.build(x_shape)
                conv.kernel.assign(w)
                np.testing.assert_allclose(y.numpy(), conv(x).numpy(), rtol=1e-12, atol=1e-12)
        r = tf.constant(arr(y.shape))
        loss = tf.reduce_sum(y * r)
    dx, dwt = tape.gradient(loss, [x, w])
    pad = padding if isinstance(padding, str) else "explicit"
    return {
        "name": name, "kind": "conv2d", "x_shape": list(x_shape), "x": flat(x),
        "w_shape": list(w.shape), "w": flat(w), "stride": list(stride), "padding": pad,
        "explicit": [] if isinstance(padding, str) else list(padding), "dilation": list(dilation),
        "groups": groups, "y_shape": list(y.shape), "y": flat(y), "r": flat(r), "dx": flat(dx), "dw": flat(dwt),
    }


def pool_case(name, kind, x_shape, pool, stride, padding):
    x = tf.constant(arr(x_shape))
    cls = {"max_pool2d": keras.layers.MaxPooling2D, "avg_pool2d": keras.layers.AveragePooling2D}[kind]
    layer = cls(pool_size=pool, strides=stride, padding=padding, dtype="float64")
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x)
        r = tf.constant(arr(y.shape))
        loss = tf.reduce_sum(y * r)
    dx = tape.gradient(loss, x)
    return {
        "name": name, "kind": kind, "x_shape": list(x_shape), "x": flat(x), "pool": list(pool),
        "stride": list(stride), "padding": padding, "y_shape": list(y.shape), "y": flat(y), "r": flat(r),
        "dx": flat(dx),
    }


def global_case(name, x_shape):
    x = tf.constant(arr(x_shape))
    layer = keras.layers.GlobalAveragePooling2D(dtype="float64")
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x)
        r = tf.constant(arr(y.shape))
        loss = tf.reduce_sum(y * r)
    dx = tape.gradient(loss, x)
    return {"name": name, "kind": "global_avg_pool2d", "x_shape": list(x_shape), "x": flat(x),
            "y_shape": list(y.shape), "y": flat(y), "r": flat(r), "dx": flat(dx)}


CASES = [
    conv_case("valid_3x3_s1", (2, 7, 6, 3), (3, 3), 4, (1, 1), "valid", layer=True),
    conv_case("same_3x2_s2", (2, 7, 8, 3), (3, 2), 5, (2, 2), "same", layer=True),
    conv_case("same_4x4_s1_even_kernel", (1, 6, 5, 2), (4, 4), 3, (1, 1), "same", layer=True),
    conv_case("valid_s3_odd", (2, 11, 10, 2), (3, 2), 3, (3, 3), "valid", layer=True),
    conv_case("same_s3", (1, 10, 8, 2), (3, 3), 2, (3, 2), "same", layer=True),
    conv_case("dilation2_same", (1, 9, 7, 2), (3, 3), 3, (1, 1), "same", (2, 2), layer=True),
    conv_case("dilation2_valid", (2, 8, 9, 1), (2, 3), 2, (1, 1), "valid", (2, 2), layer=True),
    conv_case("explicit_pad", (1, 6, 5, 2), (3, 3), 2, (2, 1), [1, 2, 0, 1]),
    conv_case("groups2", (2, 6, 6, 4), (3, 3), 6, (2, 1), "same", groups=2),
    conv_case("depthwise_mult2", (2, 7, 7, 3), (3, 3), 6, (2, 2), "same", groups=3, layer=True),
    conv_case("pointwise_1x1", (2, 4, 5, 3), (1, 1), 4, (1, 1), "valid", layer=True),
    pool_case("max_2_valid", "max_pool2d", (2, 7, 6, 3), (2, 2), (2, 2), "valid"),
    pool_case("max_3_s2_same", "max_pool2d", (1, 7, 8, 2), (3, 3), (2, 2), "same"),
    pool_case("max_2x3_s1_valid", "max_pool2d", (1, 5, 6, 2), (2, 3), (1, 1), "valid"),
    pool_case("avg_2_valid", "avg_pool2d", (2, 7, 6, 3), (2, 2), (2, 2), "valid"),
    pool_case("avg_3_s2_same", "avg_pool2d", (1, 7, 8, 2), (3, 3), (2, 2), "same"),
    pool_case("avg_2_s3_same", "avg_pool2d", (1, 8, 7, 1), (2, 2), (3, 3), "same"),
    global_case("global_avg", (2, 5, 3, 4)),
]

OUT = {"keras_version": keras.__version__, "tensorflow_version": tf.__version__, "cases": CASES}
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "conv_reference.json")
with open(path, "w") as f:
    json.dump(OUT, f)
print(f"wrote {path}: {len(CASES)} cases")
