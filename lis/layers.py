"""The LIS module and its layers (Jung 2017, arXiv 1707.00768, Fig. 3; aleju/gan-error-avoidance common/model.py
`GeneratorLearnedInputSpace`, with the weight-normalised layers of stormraiser/GAN-weight-norm modules/).

    module(x) = x + FC2(act(FC1(x)))        width d = the latent's; no activation after FC2, no batch norm

`--lis-norm` picks the layers, as the original's `--norm`:

    weight          FC = weight-normalised, no scale, no bias      act = TPReLU (translated PReLU)
    weight-affine   FC = weight-normalised, learned scale and bias  act = PReLU
    none            FC = plain dense (PyTorch nn.Linear's init)     act = PReLU

Weight normalisation (WN-GAN `WeightNormalizedLinear`): W'[:, j] = W[:, j] / sqrt(sum_i W[i, j]^2 + 1e-6), times the
scale g_j when learned. Init: W (and the bias) ~ U(+-init_factor / sqrt(fan_in)), init_factor 0.01 for LIS (so the
1e-6 inside the square root matters at the start: the squared row norms are about 3e-5). With no scale the residual
branch is NOT ~0 at init: every output is a unit-norm projection of its input; only the similarity loss keeps the
module's output near its input.

Learning rate. Every parameter p is stored as p / lr_multiplier and multiplied by lr_multiplier at run time (the
equalized-learning-rate trick of StyleGAN2's mapping network, lr_multiplier 0.01 there): with the loop's Adam
(lr 0.002) the effective steps are lr_multiplier times smaller. See lis.method for the default.
"""

import math

import keras
from keras import ops

WN_EPS = 1e-6  # WN-GAN: weight.pow(2).sum(1).add(1e-6).sqrt()
LIS_INIT_FACTOR = 0.01  # original: WeightNormalizedLinear(..., init_factor=0.01) for every LIS linear layer
PRELU_INIT = 0.25  # nn.PReLU / TPReLU default slope
NORMS = ("weight", "weight-affine", "none")


def _uniform_stored(bound, lr_multiplier):
    """Initializer of a stored parameter whose effective value (stored x lr_multiplier) is ~U(-bound, bound)."""
    return keras.initializers.RandomUniform(-bound / lr_multiplier, bound / lr_multiplier)


def _constant_stored(value, lr_multiplier):
    return keras.initializers.Constant(value / lr_multiplier)


@keras.saving.register_keras_serializable(package="lis")
class LISDense(keras.layers.Layer):
    """[..., fan_in] -> [..., units]: weight-normalised (WN-GAN) or plain dense, see the module docstring."""

    def __init__(
        self,
        units,                  # Output features.
        weight_norm=True,       # Normalise each output's weight column to unit norm (eps 1e-6 inside the sqrt).
        scale=False,            # Learned per-output scale g (init 1); weight-norm only.
        bias=False,             # Learned bias (init U(+-init_factor / sqrt(fan_in))).
        init_factor=1.0,        # Init bound factor: U(+-init_factor / sqrt(fan_in)); 0.01 for LIS.
        lr_multiplier=1.0,      # Learning-rate multiplier of every parameter.
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = units
        self.weight_norm = bool(weight_norm)
        self.use_scale = bool(scale)
        self.use_bias = bool(bias)
        self.init_factor = float(init_factor)
        self.lr_multiplier = float(lr_multiplier)

    def build(self, input_shape):
        fan_in = input_shape[-1]
        bound = self.init_factor / math.sqrt(fan_in)
        lrmul = self.lr_multiplier
        self.weight = self.add_weight(name="weight", shape=(fan_in, self.units),
                                      initializer=_uniform_stored(bound, lrmul))
        self.scale = None
        if self.use_scale:
            self.scale = self.add_weight(name="scale", shape=(self.units,), initializer=_constant_stored(1.0, lrmul))
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(self.units,), initializer=_uniform_stored(bound, lrmul))

    def effective_weight(self):
        """The weight the layer applies, [fan_in, units]."""
        w = self.weight * self.lr_multiplier
        if self.weight_norm:
            w = w / ops.sqrt(ops.sum(ops.square(w), axis=0, keepdims=True) + WN_EPS)
            if self.scale is not None:
                w = w * (self.scale * self.lr_multiplier)
        return w

    def call(self, x):
        y = ops.matmul(x, self.effective_weight())
        if self.bias is not None:
            y = y + self.bias * self.lr_multiplier
        return y

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, weight_norm=self.weight_norm, scale=self.use_scale, bias=self.use_bias,
                      init_factor=self.init_factor, lr_multiplier=self.lr_multiplier)
        return config


@keras.saving.register_keras_serializable(package="lis")
class PReLU(keras.layers.Layer):
    """Per-channel PReLU, y = max(x, 0) + a min(x, 0) (a init 0.25), or with `translated` WN-GAN's TPReLU:
    y = PReLU_{clamp(a, 0, 1)}(x - b) + b with a learned translation b (init 0)."""

    def __init__(self, translated=False, lr_multiplier=1.0, **kwargs):
        super().__init__(**kwargs)
        self.translated = bool(translated)
        self.lr_multiplier = float(lr_multiplier)

    def build(self, input_shape):
        channels = input_shape[-1]
        self.slope = self.add_weight(name="slope", shape=(channels,),
                                     initializer=_constant_stored(PRELU_INIT, self.lr_multiplier))
        self.shift = None
        if self.translated:
            self.shift = self.add_weight(name="shift", shape=(channels,), initializer="zeros")

    def call(self, x):
        a = self.slope * self.lr_multiplier
        if self.shift is None:
            return ops.maximum(x, 0.0) + a * ops.minimum(x, 0.0)
        a = ops.clip(a, 0.0, 1.0)  # TPReLU: F.prelu(input - bias, weight.clamp(0, 1)) + bias
        b = self.shift * self.lr_multiplier
        t = x - b
        return ops.maximum(t, 0.0) + a * ops.minimum(t, 0.0) + b

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(translated=self.translated, lr_multiplier=self.lr_multiplier)
        return config


def norm_layers(norm):
    """(LISDense kwargs, translated activation?) of an original `--norm` value (common/model.py)."""
    if norm == "weight":
        return dict(weight_norm=True, scale=False, bias=False, init_factor=LIS_INIT_FACTOR), True
    if norm == "weight-affine":
        return dict(weight_norm=True, scale=True, bias=True, init_factor=LIS_INIT_FACTOR), False
    if norm == "none":
        # nn.Linear: kaiming_uniform(a=sqrt(5)) = U(+-1/sqrt(fan_in)), bias U(+-1/sqrt(fan_in)).
        return dict(weight_norm=False, scale=False, bias=True, init_factor=1.0), False
    raise ValueError(f"LIS: unknown norm {norm!r}; valid: {', '.join(NORMS)}.")


@keras.saving.register_keras_serializable(package="lis")
class LISModule(keras.layers.Layer):
    """One LIS module: x + fc2(act(fc1(x))), width d (original `lis.{i}-1.linear`, `lis.{i}-1.act`,
    `lis.{i}-2.linear`)."""

    def __init__(self, width, norm="weight", lr_multiplier=1.0, **kwargs):
        super().__init__(**kwargs)
        self.width = int(width)
        self.norm = norm
        self.lr_multiplier = float(lr_multiplier)
        dense_kwargs, translated = norm_layers(norm)
        layer_kwargs = dict(lr_multiplier=self.lr_multiplier, dtype=self.dtype_policy)
        self.fc1 = LISDense(self.width, name="fc1", **dense_kwargs, **layer_kwargs)
        self.act = PReLU(translated, name="act", **layer_kwargs)
        self.fc2 = LISDense(self.width, name="fc2", **dense_kwargs, **layer_kwargs)

    def build(self, input_shape=None):
        for layer in (self.fc1, self.act, self.fc2):
            layer.build((None, self.width))

    def call(self, x):
        return x + self.fc2(self.act(self.fc1(x)))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(width=self.width, norm=self.norm, lr_multiplier=self.lr_multiplier)
        return config
