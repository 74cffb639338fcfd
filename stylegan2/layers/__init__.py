"""Keras layers of StyleGAN2 (NHWC, equalized learning rate), registered under the package name "stylegan2"."""

from stylegan2.layers.conv import Conv2dLayer
from stylegan2.layers.dense import FullyConnected
from stylegan2.layers.minibatch_std import MinibatchStdLayer
from stylegan2.layers.normalization import PixelNorm
from stylegan2.layers.synthesis import ConstantInput, SynthesisLayer, ToRGBLayer

__all__ = [
    "ConstantInput",
    "Conv2dLayer",
    "FullyConnected",
    "MinibatchStdLayer",
    "PixelNorm",
    "SynthesisLayer",
    "ToRGBLayer",
]
