"""2-D convolution fused with FIR up- or downsampling: NVIDIA's `upsample_conv_2d` / `conv_downsample_2d` in `keras.ops`.

Ported from TF1 `dnnlib/tflib/ops/upfirdn_2d.py`; ADA `torch_utils/ops/conv2d_resample.py` computes the same numbers.
"""

from keras import ops

from stylegan2.ops.upfirdn2d import _insert_zeros, _pad, upfirdn2d


def _transposed_conv(x, w, stride):
    """TF1's stride-`stride` transposed conv of `upsample_conv_2d`: [N,H,W,C] -> [N,(H-1)*stride+kh,(W-1)*stride+kw,O].

    TF1 flips w spatially and swaps in/out before `conv2d_transpose`; that equals inserting zeros between the
    pixels and then a "full" (padding k - 1) correlation with w, which is how the grouped case is computed.
    """
    kh, kw, in_channels, _ = w.shape
    if x.shape[-1] == in_channels:
        w = ops.transpose(ops.flip(w, axis=(0, 1)), (0, 1, 3, 2))  # [kkOI]
        return ops.conv_transpose(x, w, strides=stride, padding="valid", output_padding=0)
    # keras.ops.conv_transpose has no groups.
    x = _insert_zeros(x, stride)
    x = _pad(x, (kw - 1, kw - stride, kh - 1, kh - stride))
    return ops.conv(x, w, padding="valid")


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
        x = _transposed_conv(x, w, up)
        p = (f.shape[0] - up) - (kw - 1)
        pad0, pad1 = (p + 1) // 2 + up - 1, p // 2 + 1
        return upfirdn2d(x, f, padding=(pad0, pad1, pad0, pad1), gain=up**2)
    if down > 1:
        p = (f.shape[0] - down) + (kw - 1)
        pad0, pad1 = (p + 1) // 2, p // 2
        x = upfirdn2d(x, f, padding=(pad0, pad1, pad0, pad1))
        return ops.conv(x, w, strides=down, padding="valid")
    return ops.conv(x, w, padding="same")
