"""NHWC tensor functions of StyleGAN2 in `keras.ops`: FIR resampling, bias + activation, modulated convolution."""

from stylegan2.ops.bias_act import activation_funcs, bias_act
from stylegan2.ops.conv2d_resample import conv2d_resample
from stylegan2.ops.modulated_conv import modulated_conv2d
from stylegan2.ops.upfirdn2d import downsample2d, setup_filter, upfirdn2d, upsample2d

__all__ = [
    "activation_funcs",
    "bias_act",
    "conv2d_resample",
    "downsample2d",
    "modulated_conv2d",
    "setup_filter",
    "upfirdn2d",
    "upsample2d",
]
