"""The reconstruction test (g_lis/main.py `test()`): how well G can reproduce held-out real images.

For each test image x a code starts at 0 and takes `steps` (50) RMSprop steps (lr 0.01, eps 1e-6, alpha 0.9, PyTorch's
non-centred RMSprop: v = alpha v + (1 - alpha) g^2, code -= lr g / (sqrt(v) + eps)) on MSE(G(code), x); the test loss
is the mean over images of the final MSE. During training it runs on the running-test images every
`--test-interval` iterations and picks the `best` snapshot; `python -m lis.final_test` runs it on the final-test images.

G: the original's G in eval mode with all modules. Ours is G_ema (the G a snapshot generates with), with all LIS
modules (G-LIS) or the plain G (R-iterative, whose original test optimises the code of its plain G), no truncation
and each layer's stored constant noise, so an image depends on its code alone.

MSE on images scaled to the original's [0, 1] ((x + 1) / 2), so the losses compare with the original's. All codes are
optimised as one batch on the sum of the per-image MSEs (= mean x N): each code's gradient is its own image's, and
RMSprop is elementwise, so this equals optimising every image alone. (The original optimises batches of 32 on the
batch mean, which scales each gradient by 1/32 and so acts like eps = 32e-6 on single images; it matters only for
gradients of order 1e-5.)
"""

import numpy as np
import tensorflow as tf

from lis.sampling import at_depth

TEST_LR, TEST_EPS, TEST_ALPHA = 0.01, 1e-6, 0.9


def rmsprop_update(code, v, grad, lr=TEST_LR, eps=TEST_EPS, alpha=TEST_ALPHA):
    """One step of PyTorch's RMSprop (alpha = rho, eps added after the square root): (new code, new v)."""
    v = alpha * v + (1.0 - alpha) * tf.square(grad)
    return code - lr * grad / (tf.sqrt(v) + eps), v


def mse_01(images, targets):
    """Per-image MSE [N] of images in [-1, 1], measured in [0, 1] (the original's range)."""
    return tf.reduce_mean(tf.square((images - targets) * 0.5), axis=[1, 2, 3])


def reconstruct(render, targets, z_dim, steps, lr=TEST_LR, batch=None):
    """(codes [N, z_dim], per-image MSE [N] of the final codes): `steps` RMSprop steps from code 0 on the sum of the
    per-image MSEs of render(codes) against targets [N,H,W,C] in [-1,1]. `render(codes, rows)` renders codes of
    the target rows `rows` (a slice); `batch` (None = all at once) only bounds memory: the result does not depend on
    it."""
    targets = np.asarray(targets, np.float32)
    n = len(targets)
    batch = batch or n
    codes, losses = [], []
    for start in range(0, n, batch):
        rows = slice(start, min(start + batch, n))
        x = tf.constant(targets[rows])
        code = tf.zeros([len(x), z_dim])
        v = tf.zeros_like(code)
        step = _compiled_step(render, rows, lr)
        for _ in range(steps):
            code, v = step(code, v, x)
        codes.append(code.numpy())
        losses.append(mse_01(render(code, rows), x).numpy())
    return np.concatenate(codes), np.concatenate(losses)


def _compiled_step(render, rows, lr):
    @tf.function(autograph=False)
    def step(code, v, x):
        with tf.GradientTape() as tape:
            tape.watch(code)
            loss = tf.reduce_sum(mse_01(render(code, rows), x))
        return rmsprop_update(code, v, tape.gradient(loss, code), lr)

    return step


def tested_generator(G, record):
    """The G the test optimises codes of: all LIS modules (G-LIS) or the plain G (R-iterative)."""
    return at_depth(G, record, record["depth"] if record["mode"] == "g_lis" else 0)


def make_render(G, record, labels=None):
    """render(codes, rows): the test G's images of codes, with the label rows `labels[rows]` when conditional."""
    G = tested_generator(G, record)

    def render(code, rows):
        c = None if labels is None else tf.constant(labels[rows])
        return G(code, c, truncation_psi=1.0, noise_mode="const")

    return render


def images_by_depth(G, record, codes, labels=None, batch=64):
    """[depth 0..N] of float32 images [n,H,W,C] of the codes (the original's test_*, r{j}_test_*, all_test_*)."""
    out = []
    for r in range(record["depth"] + 1):
        view = at_depth(G, record, r)
        images = []
        for start in range(0, len(codes), batch):
            sl = slice(start, start + batch)
            c = None if labels is None else labels[sl]
            images.append(np.asarray(view(codes[sl], c, truncation_psi=1.0, noise_mode="const")))
        out.append(np.concatenate(images))
    return out
