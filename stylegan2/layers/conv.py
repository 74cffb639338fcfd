"""Equalized-learning-rate 2-D convolution with optional FIR resampling (ADA `Conv2dLayer`; TF1 `conv2d_layer` + `apply_bias_act`)."""

import math

import keras

from stylegan2.ops.bias_act import (
    activation_funcs,
    bias_act,
    check_activation,
    positively_homogeneous,
)
from stylegan2.ops.conv2d_resample import conv2d_resample
from stylegan2.ops.upfirdn2d import setup_filter
from stylegan2.precision import cast_to


@keras.saving.register_keras_serializable(package="stylegan2")
class Conv2dLayer(keras.layers.Layer):
    """Conv of NHWC images: [N,H,W,I] -> [N,H*up/down,W*up/down,filters].

    Serves as FromRGB (1x1, lrelu), the discriminator's convs (3x3, lrelu, down=2) and the resnet skips
    (1x1, no bias, linear, up or down). Weight ~N(0, (init_mul / lr_multiplier)^2), scaled at run time by
    lr_multiplier / sqrt(kernel_size^2 * I); bias starts at 0 and is scaled by lr_multiplier. Computes in its
    compute dtype (stylegan2.precision: float32, or bfloat16/float16 in a reduced-precision block), weights float32.
    """

    def __init__(
        self,
        filters,                        # Number of output channels.
        kernel_size,                    # Width and height of the (odd, square) kernel.
        activation="linear",            # Name in stylegan2.ops.bias_act.activation_funcs.
        bias=True,                      # Add a learned bias?
        up=1,                           # Integer upsampling factor (TF1 `up=True` is 2).
        down=1,                         # Integer downsampling factor (TF1 `down=True` is 2).
        resample_filter=(1, 3, 3, 1),   # 1-D taps of the FIR filter used when resampling.
        lr_multiplier=1.0,              # Learning-rate multiplier.
        init_mul=1.0,                   # InclusiveGAN's multiplier of the weight's initial std; 1 = NVIDIA.
        clamp=None,                     # Clip the output to [-clamp, clamp], None = no clipping.
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_activation(activation)
        self.filters = filters
        self.kernel_size = kernel_size
        self.activation = activation
        self.use_bias = bias
        self.up = up
        self.down = down
        self.resample_filter = tuple(resample_filter)
        self.lr_multiplier = float(lr_multiplier)
        self.init_mul = float(init_mul)
        self.clamp = clamp
        self._filter = setup_filter(self.resample_filter)

    def build(self, input_shape):
        in_channels = input_shape[-1]
        self.weight = self.add_weight(
            name="weight",
            shape=(self.kernel_size, self.kernel_size, in_channels, self.filters),
            initializer=keras.initializers.RandomNormal(stddev=self.init_mul / self.lr_multiplier),
            autocast=False,  # cast explicitly in call (stylegan2.precision)
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros", autocast=False)
        self.weight_gain = self.lr_multiplier / math.sqrt(self.kernel_size * self.kernel_size * in_channels)

    def call(self, x):
        dtype = self.compute_dtype
        x = cast_to(x, dtype)
        # act(x + b) * gain == act(x * gain + b * gain) for lrelu: the gain scales the weight, not the output.
        gain = activation_funcs[self.activation].def_gain if self.activation in positively_homogeneous else 1.0
        w = cast_to(self.weight * (self.weight_gain * gain), dtype)
        x = conv2d_resample(x, w, self._filter, up=self.up, down=self.down)
        b = None if self.bias is None else self.bias * (self.lr_multiplier * gain)
        return bias_act(x, b, self.activation, gain=activation_funcs[self.activation].def_gain / gain, clamp=self.clamp)

    def compute_output_shape(self, input_shape):
        n, h, w, _ = input_shape
        h, w = (None if size is None else size * self.up // self.down for size in (h, w))
        return (n, h, w, self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters,
            kernel_size=self.kernel_size,
            activation=self.activation,
            bias=self.use_bias,
            up=self.up,
            down=self.down,
            resample_filter=list(self.resample_filter),
            lr_multiplier=self.lr_multiplier,
            init_mul=self.init_mul,
            clamp=self.clamp,
        )
        return config
