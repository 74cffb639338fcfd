"""LIS loss terms, per sample (the loop averages over the global batch, which gives the original's MSE over batch
and dimensions).

G-LIS similarity (g_lis/main.py): after a G call that ran k modules,

    L_R = sum_{i=1..k} lambda_r^i * MSE(z'_i, z)

with z'_i the output of module i and z the ORIGINAL input of the chain (not the previous module's output); only the
executed modules count. R-iterative's encoder term (r_iterative/main.py) at chain step k >= 1 is
lambda_r^k * MSE(z_k, z_0) + (1 - lambda_r^k) * adversarial, z_0 the first latent of the chain.
"""

import tensorflow as tf


def mse_per_sample(a, b):
    """mean over dimensions of (a - b)^2, [N]."""
    return tf.reduce_mean(tf.square(a - b), axis=1)


def similarity_terms(base, codes, depth, lambda_r):
    """(total [N], [term_i [N] for i = 1..len(codes)]): term_i = lambda_r^i MSE(codes[i-1], base) if module i ran
    (i <= depth), else 0. `depth` is an int or a scalar int tensor."""
    terms = []
    for i, code in enumerate(codes, start=1):
        ran = tf.cast(tf.less_equal(i, depth), code.dtype)
        terms.append(ran * (lambda_r ** i) * mse_per_sample(code, base))
    total = tf.add_n(terms) if terms else tf.zeros_like(base[:, 0])
    return total, terms


def scale_gradient(x, factor):
    """x in value; its gradient multiplied by `factor` (R-iterative: R gets (1 - lambda_r^k) of the adversarial
    gradient that G gets in full from the same image)."""
    return tf.stop_gradient(x) + factor * (x - tf.stop_gradient(x))


def where_mask(values, condition):
    """The entries of `values` [N] when `condition` (a scalar bool tensor) holds, else an empty vector: a stat
    averaged only over the steps where it applies (e.g. the G loss of depth k)."""
    return tf.boolean_mask(values, tf.fill(tf.shape(values), condition))
