"""Equalized-learning-rate fully connected layer (ADA `FullyConnectedLayer`; TF1 `dense_layer` + `apply_bias_act`)."""

import math

import keras
from keras import ops

from stylegan2.ops.bias_act import (
    activation_funcs,
    bias_act,
    check_activation,
    positively_homogeneous,
)


@keras.saving.register_keras_serializable(package="stylegan2")
class FullyConnected(keras.layers.Layer):
    """Dense layer with equalized learning rate: [..., fan_in] -> [..., units].

    The weight is stored ~N(0, (init_mul / lr_multiplier)^2) and scaled at run time by lr_multiplier / sqrt(fan_in)
    (TF1 `get_weight`: init_std = 1 / lrmul, runtime_coef = he_std * lrmul). The bias is stored as
    bias_init / lr_multiplier and scaled by lr_multiplier, so it starts at bias_init and learns lr_multiplier times
    slower, like the weight.
    """

    def __init__(
        self,
        units,                  # Number of output features.
        activation="linear",    # Name in stylegan2.ops.bias_act.activation_funcs.
        lr_multiplier=1.0,      # Learning-rate multiplier (0.01 in the mapping network).
        bias=True,              # Add a learned bias?
        bias_init=0.0,          # Initial value of the effective bias (1 for the style affines).
        init_mul=1.0,           # InclusiveGAN's multiplier of the weight's initial std; 1 = NVIDIA.
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_activation(activation)
        self.units = units
        self.activation = activation
        self.lr_multiplier = float(lr_multiplier)
        self.use_bias = bias
        self.bias_init = float(bias_init)
        self.init_mul = float(init_mul)

    def build(self, input_shape):
        fan_in = input_shape[-1]
        self.weight = self.add_weight(
            name="weight",
            shape=(fan_in, self.units),
            initializer=keras.initializers.RandomNormal(stddev=self.init_mul / self.lr_multiplier),
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(self.units,),
                initializer=keras.initializers.Constant(self.bias_init / self.lr_multiplier),
            )
        self.weight_gain = self.lr_multiplier / math.sqrt(fan_in)

    def call(self, x):
        # act(x + b) * gain == act(x * gain + b * gain) for lrelu: the gain scales the weight, not the output.
        gain = activation_funcs[self.activation].def_gain if self.activation in positively_homogeneous else 1.0
        x = ops.matmul(x, self.weight * (self.weight_gain * gain))
        b = None if self.bias is None else self.bias * (self.lr_multiplier * gain)
        return bias_act(x, b, self.activation, gain=activation_funcs[self.activation].def_gain / gain)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update(
            units=self.units,
            activation=self.activation,
            lr_multiplier=self.lr_multiplier,
            bias=self.use_bias,
            bias_init=self.bias_init,
            init_mul=self.init_mul,
        )
        return config
