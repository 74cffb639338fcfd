"""Bias, activation and gain in one function, with NVIDIA's default gains (ADA `torch_utils/ops/bias_act.py`, TF1 `fused_bias_act`)."""

import collections
import math

from keras import ops

from stylegan2.ops.mixed import add_float32

Activation = collections.namedtuple("Activation", ["func", "def_alpha", "def_gain"])

# Gains are Python floats: a NumPy float64 times a Keras variable gives float64.
activation_funcs = {
    "linear": Activation(func=lambda x, alpha: x, def_alpha=None, def_gain=1.0),
    "relu": Activation(func=lambda x, alpha: ops.relu(x), def_alpha=None, def_gain=math.sqrt(2)),
    "lrelu": Activation(func=lambda x, alpha: ops.leaky_relu(x, negative_slope=alpha), def_alpha=0.2, def_gain=math.sqrt(2)),
    "tanh": Activation(func=lambda x, alpha: ops.tanh(x), def_alpha=None, def_gain=1.0),
    "sigmoid": Activation(func=lambda x, alpha: ops.sigmoid(x), def_alpha=None, def_gain=1.0),
}


# act(c * x) == c * act(x) for c > 0: the gain can be applied before the activation, to smaller tensors.
positively_homogeneous = ("linear", "relu", "lrelu")


def check_activation(act):
    """Raise a one-line ValueError unless `act` names an entry of `activation_funcs`."""
    if act not in activation_funcs:
        raise ValueError(f"Unknown activation {act!r}; valid: {', '.join(activation_funcs)}.")


def bias_act(x, b=None, act="linear", alpha=None, gain=None, clamp=None):
    """act(x + b) * gain, then clipped to [-clamp, clamp].

    x [..., C] (NHWC or [N,C]); b [C] or None (float32 when x is bfloat16 or float16: it is cast, see
    stylegan2.ops.mixed); alpha and gain None = the activation's defaults (`lrelu`: alpha 0.2, gain sqrt(2)); clamp
    None = no clipping. Computes in x's dtype.
    """
    check_activation(act)
    spec = activation_funcs[act]
    alpha = spec.def_alpha if alpha is None else float(alpha)
    gain = spec.def_gain if gain is None else float(gain)
    if b is not None:
        x = add_float32(x, b)
    x = spec.func(x, alpha)
    if gain != 1:
        x = x * gain
    if clamp is not None:
        x = ops.clip(x, -float(clamp), float(clamp))
    return x
