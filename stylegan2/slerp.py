"""Spherical linear interpolation on the unit sphere, shared by the PPL metric and Inclusive GAN."""

import tensorflow as tf


def _normalize_tf(v):
    return v / tf.sqrt(tf.reduce_sum(tf.square(v), axis=-1, keepdims=True))


def slerp_tf(a, b, t):
    """Spherical interpolation of normalised vectors, unit-norm output (TensorFlow, usable in tf.function): IG
    tflib.slerp (the IMLE perturbation and interpolation) and NV perceptual_path_length.py slerp (PPL in z).
    Guards: the cosine is clipped to [-1, 1] and parallel inputs give `a` instead of NaN."""
    a = _normalize_tf(a)
    b = _normalize_tf(b)
    d = tf.clip_by_value(tf.reduce_sum(a * b, axis=-1, keepdims=True), -1.0, 1.0)
    p = t * tf.math.acos(d)
    c = b - d * a
    n = tf.sqrt(tf.reduce_sum(tf.square(c), axis=-1, keepdims=True))
    c = tf.math.divide_no_nan(c, n)
    return _normalize_tf(a * tf.math.cos(p) + c * tf.math.sin(p))
