"""Minibatch standard deviation (TF1 `minibatch_stddev_layer`, ADA `MinibatchStdLayer`), NHWC."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="stylegan2")
class MinibatchStdLayer(keras.layers.Layer):
    """Append the mean standard deviation over groups of samples as extra channels: [N,H,W,C] -> [N,H,W,C+num_channels].

    Sample i belongs to group i mod (N / G), G = min(group_size, N), as in NVIDIA's reshape to [G, -1, ...].
    """

    def __init__(
        self,
        group_size=4,       # Samples per group, None = the whole minibatch; N must be divisible by min(group_size, N).
        num_channels=1,     # Channels appended: C is split into this many groups, each with its own std.
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.group_size = group_size
        self.num_channels = num_channels

    def build(self, input_shape):
        if input_shape[-1] % self.num_channels:
            raise ValueError(
                f"MinibatchStdLayer: {input_shape[-1]} channels cannot be split into num_channels={self.num_channels} groups."
            )

    def _group_size(self, x, group_size):
        """G: a Python int, or a tensor when the batch size is unknown while tracing (the reshape then checks it)."""
        n = x.shape[0]
        if n is None:
            return ops.shape(x)[0] if group_size is None else ops.minimum(group_size, ops.shape(x)[0])
        G = n if group_size is None else min(group_size, n)
        if n % G:
            raise ValueError(
                f"MinibatchStdLayer: batch size {n} is not divisible by the group size {G}; "
                f"use a batch size that is a multiple of {G}, or change group_size."
            )
        return G

    def call(self, x, group_size=0):
        """group_size: this call's group size instead of the layer's (0 = the layer's; 1 = each sample alone, so
        its output does not depend on the rest of the batch: the std channel is then the constant sqrt(1e-8))."""
        _, H, W, C = x.shape
        G = self._group_size(x, self.group_size if group_size == 0 else group_size)
        F = self.num_channels
        c = C // F
        y = ops.reshape(x, (G, -1, H, W, F, c))     # [GnHWFc] Split N into n groups of size G, C into F groups of size c.
        y = y - ops.mean(y, axis=0)                 # [GnHWFc] Subtract mean over group.
        y = ops.mean(ops.square(y), axis=0)         # [nHWFc]  Variance over group.
        y = ops.sqrt(y + 1e-8)                      # [nHWFc]  Stddev over group.
        y = ops.mean(y, axis=(1, 2, 4))             # [nF]     Average over pixels and channels.
        y = ops.reshape(y, (-1, 1, 1, F))           # [n11F]
        y = ops.tile(y, (G, H, W, 1))               # [NHWF]   Replicate over group and pixels.
        return ops.concatenate([x, y], axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (input_shape[-1] + self.num_channels,)

    def get_config(self):
        config = super().get_config()
        config.update(group_size=self.group_size, num_channels=self.num_channels)
        return config
