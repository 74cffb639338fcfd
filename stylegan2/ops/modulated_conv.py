"""StyleGAN2's modulated convolution (TF1 `training/networks_stylegan2.py` `modulated_conv2d_layer`, ADA
`training/networks.py` `modulated_conv2d`), NHWC in `keras.ops`."""

import keras
from keras import ops

from stylegan2.ops.conv2d_resample import conv2d_resample
from stylegan2.ops.mixed import multiply_float32
from stylegan2.precision import cast_to


def modulated_conv2d(x, weight, styles, demodulate=True, up=1, down=1, resample_filter=None, fused=False, gain=1):
    """Convolve each image with its own weights, weight * styles, demodulated per output channel.

    x [N,H,W,I]; weight [kh,kw,I,O], already scaled by its runtime gain; styles [N,I]; resample_filter a
    `setup_filter` array, needed when up or down exceeds 1. Returns [N,H*up/down,W*up/down,O], times `gain`
    (folded into the demodulation coefficients [N,O] or the weight, so it costs no pass over the output).

    fused=False scales the activations around one shared convolution (NVIDIA `fused_modconv=False`): fast,
    and the only form whose gradient runs on the CPU in TensorFlow. fused=True folds the batch into the
    groups of one grouped convolution (NVIDIA `fused_modconv=True`); it needs a static batch size, and on
    the CPU TensorFlow runs it through XLA and cannot differentiate it: use it for inference only.

    Mixed precision (stylegan2.precision): weight and styles are float32 and so are the demodulation coefficients;
    the convolution runs in x's dtype (bfloat16 or float16 in a reduced-precision block), as in ADA.
    """
    kh, kw, in_channels, out_channels = weight.shape
    dtype = keras.backend.standardize_dtype(x.dtype)
    if demodulate and dtype == "float16":
        # Pre-normalize inputs to avoid FP16 overflow (ADA): max |w| per output channel to 1/sqrt(fan_in), max |s| per
        # sample to 1; demodulation cancels both scales.
        weight = weight * ((1.0 / (kh * kw * in_channels) ** 0.5) /
                           ops.max(ops.abs(weight), axis=(0, 1, 2), keepdims=True))  # [kkIO]
        styles = styles / ops.max(ops.abs(styles), axis=1, keepdims=True)  # [NI]
    if demodulate:
        # d = rsqrt(sum_{kh,kw,I} (w * s)^2 + 1e-8), the sum written as s^2 @ sum_{kh,kw} w^2.
        dcoefs = ops.rsqrt(ops.matmul(ops.square(styles), ops.sum(ops.square(weight), axis=(0, 1))) + 1e-8)  # [NO]
        if gain != 1:
            dcoefs = dcoefs * gain
    elif gain != 1:
        weight = weight * gain

    if not fused and kh == kw == 1 and up == down == 1 and not isinstance(x, keras.KerasTensor) and None not in x.shape[1:]:
        # 1x1 (ToRGB): per-sample weights [N,I,O] and one batched matmul; no pass over x for the styles.
        w = ops.expand_dims(weight[0, 0], 0) * ops.expand_dims(styles, 2)  # [NIO]
        if demodulate:
            w = w * ops.expand_dims(dcoefs, 1)
        _, height, width, _ = x.shape
        x = ops.matmul(ops.reshape(x, (-1, height * width, in_channels)), ops.cast(w, x.dtype))  # [N,HW,O]
        return ops.reshape(x, (-1, height, width, out_channels))

    if not fused:
        x = multiply_float32(x, ops.reshape(styles, (-1, 1, 1, in_channels)))  # [NHWI]
        x = conv2d_resample(x, cast_to(weight, dtype), resample_filter, up=up, down=down)  # [NHWO]
        if demodulate:
            x = multiply_float32(x, ops.reshape(dcoefs, (-1, 1, 1, out_channels)))
        return x

    batch_size, height, width, _ = x.shape
    if batch_size is None:
        raise ValueError("modulated_conv2d: fused=True needs a static batch size; use fused=False.")
    w = ops.expand_dims(weight, 0) * ops.reshape(styles, (-1, 1, 1, in_channels, 1))  # [NkkIO]
    if demodulate:
        w = w * ops.reshape(dcoefs, (-1, 1, 1, 1, out_channels))
    w = ops.reshape(ops.transpose(w, (1, 2, 3, 0, 4)), (kh, kw, in_channels, batch_size * out_channels))  # [kkI(NO)]
    x = ops.reshape(ops.transpose(x, (1, 2, 0, 3)), (1, height, width, batch_size * in_channels))  # [1HW(NI)]
    x = conv2d_resample(x, cast_to(w, dtype), resample_filter, up=up, down=down)  # [1HW(NO)], groups = N
    x = ops.reshape(x, (x.shape[1], x.shape[2], batch_size, out_channels))  # [HWNO]
    return ops.transpose(x, (2, 0, 1, 3))  # [NHWO]
