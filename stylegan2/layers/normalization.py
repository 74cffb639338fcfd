"""Pixelwise feature normalization of the latents (TF1 `G_mapping` `normalize_latents`, ADA `normalize_2nd_moment`)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="stylegan2")
class PixelNorm(keras.layers.Layer):
    """x * rsqrt(mean(x^2 over the last axis) + 1e-8): unit second moment per sample (and pixel)."""

    def call(self, x):
        return x * ops.rsqrt(ops.mean(ops.square(x), axis=-1, keepdims=True) + 1e-8)

    def compute_output_shape(self, input_shape):
        return input_shape
