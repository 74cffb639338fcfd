"""Layers of the StyleGAN2 synthesis network: learned constant, modulated conv layer, ToRGB.

TF1 `training/networks_stylegan2.py` (`G_synthesis_stylegan2`: `layer()`, `torgb()`), ADA `training/networks.py`
(`SynthesisLayer`, `ToRGBLayer`, `SynthesisBlock.const`).
"""

import math

import keras
from keras import ops

from stylegan2.layers.dense import FullyConnected
from stylegan2.ops.bias_act import (
    activation_funcs,
    bias_act,
    check_activation,
    positively_homogeneous,
)
from stylegan2.ops.mixed import add_float32
from stylegan2.ops.modulated_conv import modulated_conv2d
from stylegan2.ops.upfirdn2d import setup_filter
from stylegan2.precision import cast_to

NOISE_MODES = ("random", "const", "none")


def _check_noise_mode(noise_mode):
    if noise_mode not in NOISE_MODES:
        raise ValueError(f"Unknown noise_mode {noise_mode!r}; valid: {', '.join(NOISE_MODES)}.")


@keras.saving.register_keras_serializable(package="stylegan2")
class ConstantInput(keras.layers.Layer):
    """The learned 4x4 input of the synthesis network, ~N(0, 1), tiled over the batch of its input: -> [N,size,size,channels]."""

    def __init__(
        self,
        channels,   # Number of channels.
        size=4,     # Width and height.
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.channels = channels
        self.size = size

    def build(self, input_shape):
        self.const = self.add_weight(
            name="const",
            shape=(self.size, self.size, self.channels),
            initializer=keras.initializers.RandomNormal(stddev=1.0),
        )

    def call(self, x):
        """x: any tensor whose first axis is the batch, e.g. the latents w [N,w_dim]."""
        return ops.tile(ops.expand_dims(self.const, 0), (ops.shape(x)[0], 1, 1, 1))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.size, self.size, self.channels)

    def get_config(self):
        config = super().get_config()
        config.update(channels=self.channels, size=self.size)
        return config


@keras.saving.register_keras_serializable(package="stylegan2")
class SynthesisLayer(keras.layers.Layer):
    """Modulated conv, + noise * noise_strength, bias and activation: x [N,H,W,I], w [N,w_dim] -> [N,resolution,resolution,filters].

    The style affine starts at 1 (bias_init=1, TF1's `+ 1`); noise_strength starts at 0.
    Noise [N,H,W,1]: 'random' = fresh N(0, 1) on every call from this layer's `keras.random.SeedGenerator(seed)`
    (`noise_seed`), 'const' = the stored non-trainable `noise_const`, 'none' = no noise. An explicit `noise`
    passed to `call` replaces it. Pass it when training under `tf.distribute` (a SeedGenerator gives the same
    noise on every replica; a `tf.random.Generator` created in the strategy scope does not) or when a resume
    must be exact (neither `.keras` nor `tf.train.Checkpoint` stores the SeedGenerator's state).

    Precision (stylegan2.precision): the convolution runs in the layer's compute dtype (bfloat16 or float16 in a
    reduced-precision block); the styles (from the float32 affine), the demodulation coefficients and the scaled
    noise are computed in float32 and cast, as ADA's SynthesisLayer does.
    """

    def __init__(
        self,
        filters,                        # Number of output channels.
        w_dim,                          # Dimensionality of the intermediate latent w.
        resolution,                     # Output width and height.
        kernel_size=3,                  # Width and height of the (odd, square) kernel.
        up=1,                           # Integer upsampling factor (TF1 `Conv0_up`: 2).
        activation="lrelu",             # Name in stylegan2.ops.bias_act.activation_funcs.
        noise_mode="random",            # Default noise: 'random', 'const' or 'none'; `call` can override it.
        resample_filter=(1, 3, 3, 1),   # 1-D taps of the FIR filter used when upsampling.
        fused_modconv=False,            # Default modulated-conv form (see modulated_conv2d); `call` can override it.
        init_mul=1.0,                   # InclusiveGAN's multiplier of the initial std of the weight and affine; 1 = NVIDIA.
        clamp=None,                     # Clip the output to [-clamp, clamp], None = no clipping.
        seed=None,                      # Seed of the random noise, None = drawn from Python's `random`.
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_activation(activation)
        _check_noise_mode(noise_mode)
        self.filters = filters
        self.w_dim = w_dim
        self.resolution = resolution
        self.kernel_size = kernel_size
        self.up = up
        self.activation = activation
        self.noise_mode = noise_mode
        self.resample_filter = tuple(resample_filter)
        self.fused_modconv = fused_modconv
        self.init_mul = float(init_mul)
        self.clamp = clamp
        self.seed = seed
        self._filter = setup_filter(self.resample_filter)

    def build(self, x_shape, w_shape):
        if w_shape[-1] != self.w_dim:
            raise ValueError(f"SynthesisLayer {self.name}: w has {w_shape[-1]} features, expected w_dim={self.w_dim}.")
        if x_shape[1] is not None and x_shape[1] * self.up != self.resolution:
            raise ValueError(
                f"SynthesisLayer {self.name}: input {x_shape[1]}x{x_shape[2]} with up={self.up} does not give resolution={self.resolution}."
            )
        in_channels = x_shape[-1]
        self.seed_generator = keras.random.SeedGenerator(self.seed, name="noise_seed")
        self.affine = FullyConnected(in_channels, bias_init=1.0, init_mul=self.init_mul, name="affine", dtype=self.dtype_policy)
        self.affine.build(w_shape)
        self.weight = self.add_weight(
            name="weight",
            shape=(self.kernel_size, self.kernel_size, in_channels, self.filters),
            initializer=keras.initializers.RandomNormal(stddev=self.init_mul),
            autocast=False,  # cast explicitly in call (stylegan2.precision)
        )
        self.noise_strength = self.add_weight(name="noise_strength", shape=(), initializer="zeros", autocast=False)
        self.noise_const = self.add_weight(
            name="noise_const",
            shape=(self.resolution, self.resolution),
            initializer=keras.initializers.RandomNormal(stddev=1.0),
            trainable=False,
            autocast=False,
        )
        self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros", autocast=False)
        self.weight_gain = 1.0 / math.sqrt(self.kernel_size * self.kernel_size * in_channels)

    def _noise(self, batch_size, noise_mode):
        """[N,H,W,1] float32 noise (or [1,H,W,1] for 'const'), None for 'none'."""
        _check_noise_mode(noise_mode)
        shape = (batch_size, self.resolution, self.resolution, 1)
        if noise_mode == "random":
            return keras.random.normal(shape, dtype="float32", seed=self.seed_generator)
        if noise_mode == "const":
            return ops.reshape(self.noise_const, (1,) + shape[1:])
        return None

    def call(self, x, w, noise_mode=None, fused_modconv=None, noise=None):
        """noise_mode, fused_modconv: None = the constructor's; noise: explicit [N,H,W,1] noise, overrides noise_mode."""
        styles = self.affine(w)  # [NI] float32
        x = cast_to(x, self.compute_dtype)
        fused = self.fused_modconv if fused_modconv is None else fused_modconv
        # act(x + noise + b) * gain == act(x * gain + noise * gain + b * gain) for lrelu: the gain scales the
        # demodulation coefficients, the noise strength and the bias, not the output.
        gain = activation_funcs[self.activation].def_gain if self.activation in positively_homogeneous else 1.0
        x = modulated_conv2d(x, self.weight * self.weight_gain, styles, up=self.up, resample_filter=self._filter,
                             fused=fused, gain=gain)
        if noise is None:
            noise = self._noise(ops.shape(x)[0], self.noise_mode if noise_mode is None else noise_mode)
        if noise is not None:
            x = add_float32(x, noise * (self.noise_strength * gain))
        return bias_act(x, self.bias * gain, self.activation, gain=activation_funcs[self.activation].def_gain / gain,
                        clamp=self.clamp)

    def compute_output_shape(self, x_shape, w_shape):
        return (x_shape[0], self.resolution, self.resolution, self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters,
            w_dim=self.w_dim,
            resolution=self.resolution,
            kernel_size=self.kernel_size,
            up=self.up,
            activation=self.activation,
            noise_mode=self.noise_mode,
            resample_filter=list(self.resample_filter),
            fused_modconv=self.fused_modconv,
            init_mul=self.init_mul,
            clamp=self.clamp,
            seed=self.seed,
        )
        return config


@keras.saving.register_keras_serializable(package="stylegan2")
class ToRGBLayer(keras.layers.Layer):
    """Modulated conv without demodulation, then bias (linear): x [N,H,W,I], w [N,w_dim] -> [N,H,W,channels]."""

    def __init__(
        self,
        channels,               # Number of output (image) channels.
        w_dim,                  # Dimensionality of the intermediate latent w.
        kernel_size=1,          # Width and height of the (odd, square) kernel.
        fused_modconv=False,    # Default modulated-conv form (see modulated_conv2d); `call` can override it.
        init_mul=1.0,           # InclusiveGAN's multiplier of the initial std of the weight and affine; 1 = NVIDIA.
        clamp=None,             # Clip the output to [-clamp, clamp], None = no clipping.
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.channels = channels
        self.w_dim = w_dim
        self.kernel_size = kernel_size
        self.fused_modconv = fused_modconv
        self.init_mul = float(init_mul)
        self.clamp = clamp

    def build(self, x_shape, w_shape):
        if w_shape[-1] != self.w_dim:
            raise ValueError(f"ToRGBLayer {self.name}: w has {w_shape[-1]} features, expected w_dim={self.w_dim}.")
        in_channels = x_shape[-1]
        self.affine = FullyConnected(in_channels, bias_init=1.0, init_mul=self.init_mul, name="affine", dtype=self.dtype_policy)
        self.affine.build(w_shape)
        self.weight = self.add_weight(
            name="weight",
            shape=(self.kernel_size, self.kernel_size, in_channels, self.channels),
            initializer=keras.initializers.RandomNormal(stddev=self.init_mul),
            autocast=False,  # cast explicitly in call (stylegan2.precision)
        )
        self.bias = self.add_weight(name="bias", shape=(self.channels,), initializer="zeros", autocast=False)
        self.weight_gain = 1.0 / math.sqrt(self.kernel_size * self.kernel_size * in_channels)

    def call(self, x, w, fused_modconv=None):
        """fused_modconv: None = the constructor's. The output is in the layer's compute dtype."""
        styles = self.affine(w)  # [NI] float32
        x = cast_to(x, self.compute_dtype)
        fused = self.fused_modconv if fused_modconv is None else fused_modconv
        x = modulated_conv2d(x, self.weight * self.weight_gain, styles, demodulate=False, fused=fused)
        return bias_act(x, self.bias, clamp=self.clamp)

    def compute_output_shape(self, x_shape, w_shape):
        return tuple(x_shape[:-1]) + (self.channels,)

    def get_config(self):
        config = super().get_config()
        config.update(
            channels=self.channels,
            w_dim=self.w_dim,
            kernel_size=self.kernel_size,
            fused_modconv=self.fused_modconv,
            init_mul=self.init_mul,
            clamp=self.clamp,
        )
        return config
