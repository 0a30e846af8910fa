"""Reference gradients for Dimflow's autodiff tests, computed with JAX in float64.

Run once by hand (the Rust tests read the committed JSON and never need Python):

    python3 -m venv /work/venv-jax && /work/venv-jax/bin/pip install "jax[cpu]"
    /work/venv-jax/bin/python reference/autodiff_reference.py

Writes reference/autodiff_reference.json: for each composite function, its inputs (name,
shape, row-major values), the value of the function and the gradient with respect to every
float input. Integer inputs (indices) are stored the same way and are not differentiated.
"""

import json
import pathlib

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

rng = np.random.default_rng(20261125)


def rand(*shape, lo=-1.5, hi=1.5):
    return rng.uniform(lo, hi, size=shape).astype(np.float64)


def mlp_softmax_xent(x, w1, b1, w2, b2, labels):
    h = jax.nn.relu(x @ w1 + b1)
    logp = jax.nn.log_softmax(h @ w2 + b2, axis=1)
    return -jnp.mean(jnp.take_along_axis(logp, labels[:, None], axis=1)[:, 0])


def broadcasting(a, b, c, s):
    # a: (2,3,4), b: (4,), c: (3,4), s: ()
    return jnp.sum(jnp.tanh(a * b - c) * jnp.exp(c) / (s * s + 1.0) + jnp.maximum(a, c))


def logsumexp(x, w):
    return jnp.sum(jax.nn.logsumexp(x, axis=1) * w) + jnp.sum(jax.nn.logsumexp(x, axis=0))


def gather_concat(table, y, w, ids):
    rows = table[ids]  # (4, 3)
    z = jnp.concatenate([rows, y], axis=1)  # (4, 5)
    return jnp.sum(jax.nn.softmax(z, axis=1) * w)


def batched_matmul(a, b, c):
    # a: (2,3,4) @ b: (2,4,2) -> (2,3,2) @ c: (2,2)
    return jnp.sum(jax.nn.sigmoid((a @ b) @ c) ** 2)


def layer_norm(x, gamma, beta, w):
    mu = jnp.mean(x, axis=1, keepdims=True)
    var = jnp.var(x, axis=1, keepdims=True)
    y = (x - mu) / jnp.sqrt(var + 1e-5) * gamma + beta
    return jnp.sum(y * y * w)


def smooth_unary(x):
    return jnp.sum(
        jnp.sqrt(x * x + 1.0) * jax.scipy.special.erf(x)
        + 0.3 * jnp.abs(x)
        + jnp.log(1.0 + jnp.exp(x))
        + 1.0 / (x * x + 2.0)
    )


def max_min(x):
    return jnp.sum(jnp.max(x, axis=1) ** 2) + jnp.sum(jnp.min(x, axis=0))


def transpose_reshape(x, w):
    # x: (2,3,4) -> (3,2,4) -> (3,8) @ w: (8,2)
    p = jnp.transpose(x, (1, 0, 2)).reshape(3, 8)
    return jnp.sum(jnp.tanh(p @ w))


def where_clip_pow(x, y):
    picked = jnp.where(x > y, x**3, jnp.clip(y, -0.5, 0.5))
    return jnp.sum(picked) + jnp.sum(jnp.power(jnp.abs(x) + 0.5, y))


def stack_slice(a, b):
    s = jnp.stack([a, b * 2.0, a * b])  # (3, 2, 3)
    return jnp.sum(jnp.square(s[:, :, 1:3])) + jnp.sum(jnp.mean(s, axis=0) ** 3)


CASES = {
    "mlp_softmax_xent": (
        mlp_softmax_xent,
        {
            "x": rand(4, 5),
            "w1": rand(5, 6),
            "b1": rand(6, lo=-0.2, hi=0.2),
            "w2": rand(6, 3),
            "b2": rand(3, lo=-0.2, hi=0.2),
        },
        {"labels": np.array([2, 0, 1, 2], dtype=np.int64)},
    ),
    "broadcasting": (
        broadcasting,
        {"a": rand(2, 3, 4), "b": rand(4), "c": rand(3, 4), "s": np.array(0.7)},
        {},
    ),
    "logsumexp": (logsumexp, {"x": rand(3, 5, lo=-4, hi=4), "w": rand(3)}, {}),
    "gather_concat": (
        gather_concat,
        {"table": rand(5, 3), "y": rand(4, 2), "w": rand(4, 5)},
        {"ids": np.array([4, 1, 1, 0], dtype=np.int64)},
    ),
    "batched_matmul": (batched_matmul, {"a": rand(2, 3, 4), "b": rand(2, 4, 2), "c": rand(2, 2)}, {}),
    "layer_norm": (
        layer_norm,
        {"x": rand(4, 6), "gamma": rand(6), "beta": rand(6), "w": rand(4, 6)},
        {},
    ),
    "smooth_unary": (smooth_unary, {"x": rand(7)}, {}),
    "max_min": (max_min, {"x": rand(3, 4)}, {}),
    "transpose_reshape": (transpose_reshape, {"x": rand(2, 3, 4), "w": rand(8, 2)}, {}),
    "where_clip_pow": (where_clip_pow, {"x": rand(6), "y": rand(6)}, {}),
    "stack_slice": (stack_slice, {"a": rand(2, 3), "b": rand(2, 3)}, {}),
}


def main():
    out = {"framework": f"jax {jax.__version__}", "dtype": "float64", "cases": {}}
    for name, (f, floats, ints) in CASES.items():
        names = list(floats)
        args = [jnp.asarray(floats[n]) for n in names]
        kw = {k: jnp.asarray(v) for k, v in ints.items()}
        fun = lambda *a: f(*a, **kw)  # noqa: E731
        value, grads = jax.value_and_grad(fun, argnums=tuple(range(len(args))))(*args)
        inputs = {n: {"shape": list(np.shape(floats[n])), "data": np.ravel(floats[n]).tolist()} for n in names}
        inputs.update({k: {"shape": list(v.shape), "data": v.tolist()} for k, v in ints.items()})
        out["cases"][name] = {
            "inputs": inputs,
            "value": float(value),
            "grads": {n: np.ravel(np.asarray(g)).tolist() for n, g in zip(names, grads)},
        }
    path = pathlib.Path(__file__).with_name("autodiff_reference.json")
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {path} ({len(CASES)} cases)")


if __name__ == "__main__":
    main()
