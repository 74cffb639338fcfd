"""2-D convolution fused with FIR up- or downsampling: NVIDIA's `upsample_conv_2d` / `conv_downsample_2d` in TensorFlow.

Ported from TF1 `dnnlib/tflib/ops/upfirdn_2d.py`; ADA `torch_utils/ops/conv2d_resample.py` computes the same numbers.

Speed on the CPU (bench/bench_stylegan2.py). TensorFlow's CPU `Conv2D` runs near the matmul peak; its
`Conv2DBackpropInput` (the forward of `conv2d_transpose`) and `Conv2DBackpropFilter` run slower, by how much
depending on the kernels (Eigen, or oneDNN with TF_ENABLE_ONEDNN_OPTS=1). So every convolution here is one of
three ops with custom gradients built from the fastest op for the active kernels, to any order (R1 and path
length differentiate the gradients):
- `_conv_same`: stride-1 "same" conv; input gradient = `_conv_same` of dy with the flipped, transposed kernel;
  kernel gradient = `_kernel_grad_same`;
- `_conv_strided`: stride-s VALID conv (after the FIR when downsampling); input gradient = `_transposed_conv`,
  kernel gradient = `_kernel_grad`;
- `_transposed_conv`: stride-s transposed conv (before the FIR when upsampling): oneDNN's deconvolution, or under
  Eigen one ordinary conv per output phase (polyphase); input gradient = `_conv_strided`.
Kernel gradients: under Eigen, a forward conv over the batch (stride 1) or TF's filter gradient; under oneDNN,
matrix products over shifted views of flat arrays where they add few zero products (`_kernel_grad_matmul`), else
TF's filter gradient.
A 1x1 conv with upsampling convolves first and then upsamples, and a 1x1 conv with downsampling filters with the
stride (ADA's fast paths), so the FIR never computes pixels that are thrown away. Grouped convs (the fused
modulated conv) and symbolic Keras tensors take the plain `keras.ops` path.
"""

import functools

import tensorflow as tf
from keras import ops

from stylegan2.ops.upfirdn2d import _insert_zeros, _pad, tensorflow_path, upfirdn2d


@functools.cache
def _kernels():
    """Which convolution kernels TensorFlow runs: 'gpu' (cuDNN) when a GPU is visible, else 'onednn' (its oneDNN
    CPU kernels: TF_ENABLE_ONEDNN_OPTS=1, see stylegan2.environment) or 'eigen'."""
    from tensorflow.python.util import _pywrap_util_port

    if tf.config.list_physical_devices("GPU"):
        return "gpu"
    return "onednn" if _pywrap_util_port.IsMklEnabled() else "eigen"


def _flip_transpose(w):
    """[kh,kw,I,O] -> [kh,kw,O,I] flipped spatially: the kernel of the input gradient of a conv with w."""
    return tf.reverse(tf.transpose(w, (0, 1, 3, 2)), [0, 1])


def _phase_outputs(k, size, stride):
    """Outputs per phase of a stride-`stride` transposed conv with k taps over `size` pixels: ceil(((size-1)*s+k)/s)."""
    return -(-((size - 1) * stride + k) // stride)


def _phases(k, size, stride):
    """Per output phase r of a stride-`stride` transposed conv with k taps along an axis of `size` input pixels:
    (first tap a0, pad before, pad after) such that phase r = VALID correlation of x, so padded, with w[a0::stride].

    Output p = stride * m + r of "insert zeros, pad (k-1, k-stride), correlate with w" is sum_j w[a0 + stride*j]
    x[m - q + j]; every phase gets ceil(out / stride) outputs (zeros past the end). None when some phase has no
    tap or a negative pad (k < stride).
    """
    outputs = _phase_outputs(k, size, stride)
    phases = []
    for r in range(stride):
        a0 = (k - 1 - r) % stride
        taps = len(range(a0, k, stride))
        q = (k - 1 - r - a0) // stride
        after = outputs + taps - 1 - size - q
        if taps == 0 or q < 0 or after < 0:
            return None
        phases.append((a0, q, after))
    return phases


def _conv_same(x, w):
    """Stride-1 conv, zero padding k // 2 (odd square k): [N,H,W,I] -> [N,H,W,O]."""

    @tf.custom_gradient
    def conv(x, w):
        def grad(dy):
            return _conv_same(dy, _flip_transpose(w)), _kernel_grad_same(x, dy, w.shape[0])

        return tf.nn.conv2d(x, w, 1, "SAME"), grad

    return conv(x, w)


def _kernel_grad_same(x, dy, k):
    """Gradient of `_conv_same` with respect to its kernel [k,k,I,O]: dw[a,b,i,o] = sum_{n,h,w} x_padded[n,h+a,w+b,i]
    dy[n,h,w,o]. With oneDNN or a GPU, `_kernel_grad` of the padded x; with Eigen, a VALID forward conv of
    x^T [I,H,W,N] by dy^T [H,W,N,O], which Eigen runs faster than its own filter gradient."""
    p = k // 2
    if _kernels() != "eigen":
        return _kernel_grad(tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]]) if p else x, dy, (k, k), 1)
    x_t, dy_t = tf.transpose(x, (3, 1, 2, 0)), tf.transpose(dy, (1, 2, 0, 3))
    dw = tf.nn.conv2d(x_t, dy_t, 1, [[0, 0], [p, p], [p, p], [0, 0]])
    return tf.transpose(dw, (1, 2, 0, 3))  # [I,k,k,O] -> [k,k,I,O]


# Under oneDNN, `_kernel_grad` uses matrix products when the zero rows and columns they add cost at most this share
# of extra products. Measured on a 2-core AVX2 CPU (3x3 kernels): 15-20% faster than Conv2DBackpropFilter at 32x32
# with 128 channels (stride 1, 13% extra) and at 16x16 stride 2, 2-3x faster at config-f's sizes (64x64 to
# 1024x1024); no faster at 16x16 stride 1 (27% extra), slower below.
MATMUL_KERNEL_GRAD_MAX_EXTRA = 0.2


def _kernel_grad(x, dy, kernel, stride):
    """Gradient with respect to the kernel [kh,kw,I,O] of the stride-`stride` VALID conv of x [N,Hx,Wx,I] that
    gave dy [N,Ho,Wo,O]: TF's filter gradient, or with oneDNN `_kernel_grad_matmul` (MATMUL_KERNEL_GRAD_MAX_EXTRA)."""
    kh, kw = kernel
    _, ho, wo, _ = dy.shape
    grid = (ho + (kh - 1) // stride) * (wo + (kw - 1) // stride)
    if _kernels() == "onednn" and grid <= (1 + MATMUL_KERNEL_GRAD_MAX_EXTRA) * ho * wo:
        return _kernel_grad_matmul(x, dy, kh, kw, stride)
    shape = [kh, kw, x.shape[-1], dy.shape[-1]]
    return tf.compat.v1.nn.conv2d_backprop_filter(x, shape, dy, [1, stride, stride, 1], "VALID")


def _kernel_grad_matmul(x, dy, kh, kw, s):
    """`_kernel_grad` as kh*kw matrix products [L,I]^T [L,O] whose operands are slices of two flat arrays.

    Split x into its s*s stride phases x_pq[n,u,v] = x[n,s*u+p,s*v+q], each padded or cropped to the grid
    [hp,wp] = [Ho+(kh-1)//s, Wo+(kw-1)//s] and flattened to L = N*hp*wp rows; place dy on the same grid (zeros past
    Ho, Wo). Then tap (a,b) reads phase (a%s, b%s) at flat offset (a//s)*wp + b//s from each row of dy:
    dw[a,b] = sum_j x_pq[j + offset]^T dy[j], and every operand is a contiguous run of rows, which TensorFlow
    slices without copying.
    """
    _, _, _, in_channels = x.shape
    _, ho, wo, out_channels = dy.shape
    mh, mw = (kh - 1) // s, (kw - 1) // s
    hp, wp = ho + mh, wo + mw
    x = _resize_bottom_right(x, s * hp, s * wp)  # rows and columns past these are never read
    if s > 1:
        x = tf.transpose(tf.reshape(x, [-1, hp, s, wp, s, in_channels]), (2, 4, 0, 1, 3, 5))  # [s,s,N,hp,wp,I]
    x = tf.reshape(x, [-1, in_channels])  # the phases one after another, L rows each
    length = x.shape[0] // (s * s)
    rows = length - (mh * wp + mw)  # the last nonzero row of dy is rows - 1; x is read up to length - 1
    dy = tf.slice(tf.reshape(tf.pad(dy, [[0, 0], [0, mh], [0, mw], [0, 0]]), [-1, out_channels]), [0, 0], [rows, -1])
    taps = []
    for a in range(kh):
        for b in range(kw):
            start = ((a % s) * s + b % s) * length + (a // s) * wp + b // s
            taps.append(tf.matmul(tf.slice(x, [start, 0], [rows, -1]), dy, transpose_a=True))  # [I,O]
    return tf.reshape(tf.stack(taps), [kh, kw, in_channels, out_channels])


def _resize_bottom_right(x, h, w):
    """Crop or zero-pad [N,H',W',C] at the bottom and right to [N,h,w,C] (tf.slice: its gradient is a Pad, which
    TensorFlow runs far faster than the StridedSliceGrad of a Python slice)."""
    _, h0, w0, _ = x.shape
    if h0 > h or w0 > w:
        x = tf.slice(x, [0, 0, 0, 0], [-1, min(h0, h), min(w0, w), -1])
    if h0 < h or w0 < w:
        x = tf.pad(x, [[0, 0], [0, max(h - h0, 0)], [0, max(w - w0, 0)], [0, 0]])
    return x


def _conv_strided(x, w, stride):
    """Stride-`stride` VALID conv: [N,H,W,I] -> [N,(H-kh)//s+1,(W-kw)//s+1,O]."""

    @tf.custom_gradient
    def conv(x, w):
        def grad(dy):
            _, h, wd, _ = x.shape
            dx = _transposed_conv_padded(dy, _flip_transpose(w), stride)  # >= the rows and columns the conv reads
            if dx is None:
                dx = tf.compat.v1.nn.conv2d_backprop_input(tf.shape(x), w, dy, [1, stride, stride, 1], "VALID")
            else:
                dx = _resize_bottom_right(dx, h, wd)
            return dx, _kernel_grad(x, dy, w.shape[:2], stride)

        return tf.nn.conv2d(x, w, stride, "VALID"), grad

    return conv(x, w)


def _transposed_conv_padded(x, w, stride):
    """Stride-`stride` transposed conv as in `_transposed_conv`, [N,H,W,I] -> [N,mh*s,mw*s,O] whose rows and
    columns past (H-1)*s+kh and (W-1)*s+kw are zeros (mh, mw: outputs per phase); None if not polyphase-able.
    A deconvolution (oneDNN, GPU) or one conv per output phase (Eigen)."""
    kh, kw, _, _ = w.shape
    phases_h, phases_w = _phases(kh, x.shape[1], stride), _phases(kw, x.shape[2], stride)
    if not (phases_h and phases_w):
        return None

    @tf.custom_gradient
    def transposed_conv(x, w):
        def grad(dy):
            # TF's gradient of conv2d_transpose for the flipped, transposed kernel wt [kkOI], which never reads the
            # trailing zeros: the input gradient is the stride-s conv of dy, the kernel gradient its filter gradient.
            wt = _flip_transpose(w)
            dx = _conv_strided(dy, wt, stride)
            return dx, _flip_transpose(_kernel_grad(dy, x, wt.shape[:2], stride))

        out_channels = w.shape[-1]
        if _kernels() != "eigen":
            # oneDNN's deconvolution (Conv2DBackpropInput) beats the phase convs by 20-25% (3x3, 128 channels); Eigen's
            # runs slower than them. Its output, sized like theirs, gets the same trailing zeros.
            shape = [_phase_outputs(kh, x.shape[1], stride) * stride, _phase_outputs(kw, x.shape[2], stride) * stride]
            y = tf.nn.conv2d_transpose(x, _flip_transpose(w), [tf.shape(x)[0], *shape, out_channels], stride, "VALID")
            return tf.ensure_shape(y, [None, *shape, out_channels]), grad
        rows = []
        for ay, top, bottom in phases_h:
            cols = [tf.nn.conv2d(x, w[ay::stride, ax::stride], 1, [[0, 0], [top, bottom], [left, right], [0, 0]])
                    for ax, left, right in phases_w]  # each [N,mh,mw,O]
            _, mh, mw, _ = cols[0].shape
            rows.append(tf.reshape(tf.stack(cols, axis=3), [-1, mh, mw * stride, out_channels]))
        return tf.reshape(tf.stack(rows, axis=2), [-1, mh * stride, mw * stride, out_channels]), grad

    return transposed_conv(x, w)


def _fast(x, w):
    """Whether the custom-gradient ops apply: TensorFlow tensors, one group, static spatial size."""
    return tensorflow_path(x) and x.shape[-1] == w.shape[2] and None not in x.shape[1:]


def _transposed_conv(x, w, stride):
    """TF1's stride-`stride` transposed conv of `upsample_conv_2d`: [N,H,W,C] -> [N,(H-1)*stride+kh,(W-1)*stride+kw,O],
    possibly followed by zero rows and columns: returns (y, extra rows, extra columns).

    TF1 flips w spatially and swaps in/out before `conv2d_transpose`; that equals inserting zeros between the
    pixels and then a "full" (padding k - 1) correlation with w, which is how the grouped case is computed.
    """
    kh, kw, in_channels, _ = w.shape
    if _fast(x, w):
        y = _transposed_conv_padded(tf.convert_to_tensor(x), tf.convert_to_tensor(w, x.dtype), stride)
        if y is not None:
            return y, y.shape[1] - ((x.shape[1] - 1) * stride + kh), y.shape[2] - ((x.shape[2] - 1) * stride + kw)
    if x.shape[-1] == in_channels:
        w = ops.transpose(ops.flip(w, axis=(0, 1)), (0, 1, 3, 2))  # [kkOI]
        return ops.conv_transpose(x, w, strides=stride, padding="valid", output_padding=0), 0, 0
    # keras.ops.conv_transpose has no groups.
    x = _insert_zeros(x, stride)
    x = _pad(x, (kw - 1, kw - stride, kh - 1, kh - stride))
    return ops.conv(x, w, padding="valid"), 0, 0


def _conv(x, w, stride=1):
    """conv2d "same" (stride 1, odd square kernel) or VALID (stride > 1), through the custom-gradient ops when they apply."""
    kh, kw = w.shape[:2]
    if _fast(x, w) and (stride > 1 or (kh == kw and kh % 2 == 1)):
        x, w = tf.convert_to_tensor(x), tf.convert_to_tensor(w, x.dtype)
        return _conv_same(x, w) if stride == 1 else _conv_strided(x, w, stride)
    return ops.conv(x, w, strides=stride, padding="same" if stride == 1 else "valid")


def conv2d_resample(x, w, f=None, up=1, down=1):
    """Convolve NHWC images with w [kh,kw,I,O] (already scaled), upsampling or downsampling by FIR filter `f`.

    up > 1: NVIDIA `upsample_conv_2d`, [N,H,W,C] -> [N,H*up,W*up,O]: transposed conv, then FIR with f * up**2.
    down > 1: NVIDIA `conv_downsample_2d`, -> [N,H/down,W/down,O]: FIR, then a stride-`down` VALID conv.
    Otherwise a "same" conv (padding k // 2) -> [N,H,W,O]. Kernels are square and of odd size.
    C = groups * I gives a grouped conv (as `keras.ops.conv` infers it): input channels [g*I, (g+1)*I) make outputs
    [g*O/groups, (g+1)*O/groups).
    """
    if up > 1 and down > 1:
        raise ValueError(f"conv2d_resample: up={up} and down={down}; at most one of them may exceed 1.")
    if (up > 1 or down > 1) and f is None:
        raise ValueError("conv2d_resample: resampling needs a FIR filter `f` (see setup_filter).")
    kw = w.shape[1]
    if up > 1:
        p = (f.shape[0] - up) - (kw - 1)
        pad0, pad1 = (p + 1) // 2 + up - 1, p // 2 + 1
        if kw == 1:
            # The transposed 1x1 conv is the 1x1 conv with up-1 zeros after each pixel, trailing ones dropped.
            x = _conv(x, w)
            return upfirdn2d(x, f, up=up, padding=(pad0, pad1 - (up - 1), pad0, pad1 - (up - 1)), gain=up**2)
        x, extra_h, extra_w = _transposed_conv(x, w, up)
        return upfirdn2d(x, f, padding=(pad0, pad1 - extra_w, pad0, pad1 - extra_h), gain=up**2)
    if down > 1:
        p = (f.shape[0] - down) + (kw - 1)
        pad0, pad1 = (p + 1) // 2, p // 2
        if kw == 1:
            # The stride-`down` 1x1 conv only reads every down-th filtered pixel: filter with the stride, then conv.
            return _conv(upfirdn2d(x, f, down=down, padding=(pad0, pad1, pad0, pad1)), w)
        return _conv(upfirdn2d(x, f, padding=(pad0, pad1, pad0, pad1)), w, stride=down)
    return _conv(x, w)
