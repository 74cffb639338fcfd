"""FIR resampling of NHWC images: NVIDIA's `upfirdn_2d` in TensorFlow.

Ported from the reference paths of TF1 `dnnlib/tflib/ops/upfirdn_2d.py` (`_upfirdn_2d_ref`, `upsample_2d`,
`downsample_2d`) and ADA `torch_utils/ops/upfirdn2d.py` (`_upfirdn2d_ref`). Filters are NumPy constants
(see `setup_filter`); spatial sizes must be static.

Speed on the CPU (bench/bench_stylegan2.py): the padding is folded into the depthwise convolution
(explicit padding, no Pad op), and a separable filter such as NVIDIA's [1,3,3,1] runs as two 1-D depthwise
passes (4 + 4 taps instead of 16) when there is no downsampling.
"""

import keras
import numpy as np
import tensorflow as tf
from keras import ops


def setup_filter(f=(1, 3, 3, 1), normalize=True, gain=1):
    """2-D float32 FIR filter: the outer product of 1-D taps `f` (or `f` itself if 2-D), summing to `gain` when normalized."""
    f = np.asarray(f, dtype=np.float32)
    if f.ndim == 1:
        f = np.outer(f, f)
    if normalize:
        f = f / f.sum()
    return (f * np.float32(gain)).astype(np.float32)


def _insert_zeros(x, up):
    """[N,H,W,C] -> [N,H*up,W*up,C], each pixel followed by up-1 zeros along H and W."""
    if up == 1:
        return x
    _, h, w, c = x.shape
    x = ops.reshape(x, (-1, h, 1, w, 1, c))
    x = ops.pad(x, ((0, 0), (0, 0), (0, up - 1), (0, 0), (0, up - 1), (0, 0)))
    return ops.reshape(x, (-1, h * up, w * up, c))


def _pad(x, padding):
    """Zero-pad H and W by `padding` = (x0, x1, y0, y1); negative values crop."""
    x0, x1, y0, y1 = padding
    x = ops.pad(x, ((0, 0), (max(y0, 0), max(y1, 0)), (max(x0, 0), max(x1, 0)), (0, 0)))
    if min(padding) < 0:
        _, h, w, _ = x.shape
        x = x[:, max(-y0, 0) : h - max(-y1, 0), max(-x0, 0) : w - max(-x1, 0), :]
    return x


def _crop(x, padding):
    """Apply the negative parts of `padding` = (x0, x1, y0, y1) (crops); returns x and the non-negative pads."""
    x0, x1, y0, y1 = padding
    if min(padding) < 0:
        _, h, w, _ = x.shape
        top, left = max(-y0, 0), max(-x0, 0)
        x = tf.slice(x, [0, top, left, 0], [-1, h - max(-y1, 0) - top, w - max(-x1, 0) - left, -1])
    return x, tuple(max(p, 0) for p in padding)


def separable_taps(f):
    """(fy, fx) float64 1-D taps with outer(fy, fx) == f [kh,kw], or None when f is not separable (rank > 1)."""
    f = np.asarray(f, dtype=np.float64)
    if f.ndim != 2 or not np.any(f):
        return None
    i, j = np.unravel_index(np.argmax(np.abs(f)), f.shape)
    fy, fx = f[:, j] / f[i, j], f[i, :]
    if not np.allclose(np.outer(fy, fx), f, rtol=1e-6, atol=1e-7 * np.abs(f).max()):
        return None
    return fy, fx


def _depthwise(x, kernel, down, pads):
    """Per-channel VALID correlation of x (zero-padded by pads = (x0, x1, y0, y1) >= 0) with kernel [kh,kw], stride down."""
    x0, x1, y0, y1 = pads
    kernel = np.tile(np.asarray(kernel, np.float32)[:, :, None, None], (1, 1, x.shape[-1], 1))  # [kh,kw,C,1]
    padding = [[0, 0], [y0, y1], [x0, x1], [0, 0]] if any(pads) else "VALID"
    return tf.nn.depthwise_conv2d(x, tf.constant(kernel, x.dtype), [1, down, down, 1], padding)


def tensorflow_path(x):
    """Whether `x` takes the TensorFlow fast paths: a concrete or traced TF tensor under the TensorFlow backend.
    Symbolic KerasTensors and the other Keras backends (JAX, PyTorch) take the plain `keras.ops` paths."""
    return keras.backend.backend() == "tensorflow" and not isinstance(x, keras.KerasTensor)


def _upfirdn2d_keras(x, f, up, down, padding, gain):
    """The 4 steps in `keras.ops` (symbolic KerasTensors, other backends)."""
    x = _insert_zeros(x, up)
    x = _pad(x, padding)
    kernel = np.asarray(f, dtype=np.float32)[::-1, ::-1] * np.float32(gain)  # [kh,kw] flipped
    kernel = np.tile(kernel[:, :, None, None], (1, 1, x.shape[-1], 1))  # [kh,kw,C,1]
    return ops.depthwise_conv(x, ops.cast(kernel, x.dtype), strides=down, padding="valid")


def upfirdn2d(x, f, up=1, down=1, padding=(0, 0, 0, 0), gain=1):
    """Upsample, pad, FIR-filter and downsample a batch of NHWC images, per channel.

    Exactly NVIDIA's reference (`_upfirdn_2d_ref` / `_upfirdn2d_ref`):
    1. upsample by inserting up-1 zeros after each pixel;
    2. pad with zeros by `padding` = (x0, x1, y0, y1) (negative values crop);
    3. convolve with `f` [kh,kw] (a true convolution: the filter is flipped), times `gain`;
    4. downsample by keeping every down-th pixel.

    Output size along H: (H * up + y0 + y1 - kh) // down + 1 (likewise W).
    """
    if not tensorflow_path(x):
        return _upfirdn2d_keras(x, f, up, down, padding, gain)
    return _upfirdn2d_tf(tf.convert_to_tensor(x), np.asarray(f, dtype=np.float64), up, down, tuple(padding), gain)


def _upfirdn2d_tf(x, f, up, down, padding, gain):
    """The TensorFlow path, whose gradient is again an upfirdn2d (ADA `Upfirdn2dCuda.backward`): the flipped filter
    with up and down swapped and the padding that restores the input size. TensorFlow's own gradient of a depthwise
    convolution (DepthwiseConv2dNativeBackpropInput) is slower than the forward op on the CPU."""

    @tf.custom_gradient
    def op(x):
        y = _upfirdn2d_forward(x, f, up, down, padding, gain)

        def grad(dy):
            (fh, fw), (x0, _, y0, _) = f.shape, padding
            (in_h, in_w), (out_h, out_w) = x.shape[1:3], y.shape[1:3]
            p = (fw - x0 - 1, in_w * up - out_w * down + x0 - up + 1,
                 fh - y0 - 1, in_h * up - out_h * down + y0 - up + 1)
            return _upfirdn2d_tf(dy, f[::-1, ::-1], down, up, p, gain)

        return y, grad

    return op(x)


def _upfirdn2d_forward(x, f, up, down, padding, gain):
    # 1. Upsample by inserting zeros.
    x = _insert_zeros(x, up)
    # 2. Pad (negative pads crop now; positive pads are the convolution's explicit padding).
    x, (x0, x1, y0, y1) = _crop(x, padding)
    # 3. Convolve with the flipped filter (a correlation), times gain; 4. keep every down-th pixel.
    taps = separable_taps(f) if down == 1 else None
    if taps is None:
        return _depthwise(x, f[::-1, ::-1] * gain, down, (x0, x1, y0, y1))
    fy, fx = taps
    x = _depthwise(x, (fy[::-1] * gain)[:, None], 1, (0, 0, y0, y1))  # along H
    return _depthwise(x, fx[::-1][None, :], 1, (x0, x1, 0, 0))  # along W


def upsample2d(x, f, up=2):
    """Upsample NHWC images by `up` with the FIR filter `f` (NVIDIA `upsample_2d`): [N,H,W,C] -> [N,H*up,W*up,C]."""
    p = f.shape[0] - up
    pad0, pad1 = (p + 1) // 2 + up - 1, p // 2
    return upfirdn2d(x, f, up=up, padding=(pad0, pad1, pad0, pad1), gain=up**2)


def downsample2d(x, f, down=2):
    """Downsample NHWC images by `down` with the FIR filter `f` (NVIDIA `downsample_2d`): [N,H,W,C] -> [N,H/down,W/down,C]."""
    p = f.shape[0] - down
    pad0, pad1 = (p + 1) // 2, p // 2
    return upfirdn2d(x, f, down=down, padding=(pad0, pad1, pad0, pad1))
