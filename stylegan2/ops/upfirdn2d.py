"""FIR resampling of NHWC images: NVIDIA's `upfirdn_2d` in `keras.ops`.

Ported from the reference paths of TF1 `dnnlib/tflib/ops/upfirdn_2d.py` (`_upfirdn_2d_ref`, `upsample_2d`,
`downsample_2d`) and ADA `torch_utils/ops/upfirdn2d.py` (`_upfirdn2d_ref`). Filters are NumPy constants
(see `setup_filter`); spatial sizes must be static.
"""

import numpy as np
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


def upfirdn2d(x, f, up=1, down=1, padding=(0, 0, 0, 0), gain=1):
    """Upsample, pad, FIR-filter and downsample a batch of NHWC images, per channel.

    Exactly NVIDIA's reference (`_upfirdn_2d_ref` / `_upfirdn2d_ref`):
    1. upsample by inserting up-1 zeros after each pixel;
    2. pad with zeros by `padding` = (x0, x1, y0, y1) (negative values crop);
    3. convolve with `f` [kh,kw] (a true convolution: the filter is flipped), times `gain`;
    4. downsample by keeping every down-th pixel.

    Output size along H: (H * up + y0 + y1 - kh) // down + 1 (likewise W).
    """
    x = _insert_zeros(x, up)
    x = _pad(x, padding)
    kernel = np.asarray(f, dtype=np.float32)[::-1, ::-1] * np.float32(gain)  # [kh,kw] flipped
    kernel = np.tile(kernel[:, :, None, None], (1, 1, x.shape[-1], 1))  # [kh,kw,C,1]
    return ops.depthwise_conv(x, ops.cast(kernel, x.dtype), strides=down, padding="valid")


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
