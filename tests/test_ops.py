"""stylegan2.ops against independent NumPy/SciPy references written from NVIDIA's TF1 definitions."""

import math
import sys

import numpy as np
import pytest
import scipy.signal
import tensorflow as tf
from keras import ops

from stylegan2.ops import (
    activation_funcs,
    bias_act,
    conv2d_resample,
    downsample2d,
    modulated_conv2d,
    setup_filter,
    upfirdn2d,
    upsample2d,
)

RNG = np.random.default_rng(0)


def randn(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def close(actual, expected, atol=1e-5):
    np.testing.assert_allclose(np.asarray(actual), expected, rtol=1e-5, atol=atol)


# === NumPy references ===


def np_upfirdn2d(x, f, up=1, down=1, padding=(0, 0, 0, 0), gain=1):
    """The 4 steps of TF1 `_upfirdn_2d_ref`, literally, on [N,H,W,C]."""
    x0, x1, y0, y1 = padding
    n, h, w, c = x.shape
    # 1. Upsample by inserting zeros.
    u = np.zeros((n, h * up, w * up, c))
    u[:, ::up, ::up] = x
    # 2. Pad (negative pads crop).
    u = np.pad(u, ((0, 0), (max(y0, 0), max(y1, 0)), (max(x0, 0), max(x1, 0)), (0, 0)))
    u = u[:, max(-y0, 0) : u.shape[1] - max(-y1, 0), max(-x0, 0) : u.shape[2] - max(-x1, 0)]
    # 3. True convolution: out[i, j] = sum_ab u[i + a, j + b] * f[kh - 1 - a, kw - 1 - b].
    kh, kw = f.shape
    oh, ow = u.shape[1] - kh + 1, u.shape[2] - kw + 1
    out = np.zeros((n, oh, ow, c))
    for a in range(kh):
        for b in range(kw):
            out += u[:, a : a + oh, b : b + ow] * f[kh - 1 - a, kw - 1 - b]
    # 4. Downsample by throwing away pixels.
    return out[:, ::down, ::down] * gain


def scipy_upfirdn2d(x, hy, hx, up=1, down=1, padding=(0, 0, 0, 0), gain=1):
    """upfirdn2d with the separable filter outer(hy, hx), from `scipy.signal.upfirdn` along H, then W."""

    def along(x, h, axis, pad0, pad1):
        full = scipy.signal.upfirdn(h, x, up=up, axis=axis)  # full convolution, (L - 1) * up + len(h)
        length = x.shape[axis] * up + pad0 + pad1 - len(h) + 1
        idx = np.arange(length) + len(h) - 1 - pad0  # index in `full` of each output before downsampling
        inside = (idx >= 0) & (idx < full.shape[axis])
        out = np.take(full, np.clip(idx, 0, full.shape[axis] - 1), axis=axis)
        out = out * np.expand_dims(inside, [d for d in range(x.ndim) if d != axis])
        return np.take(out, np.arange(0, length, down), axis=axis)

    x0, x1, y0, y1 = padding
    return along(along(x, hy, 1, y0, y1), hx, 2, x0, x1) * gain


def np_conv(x, w, stride=1):
    """VALID correlation of [N,H,W,I] with [kh,kw,I,O], as tf.nn.conv2d."""
    kh, kw = w.shape[:2]
    oh, ow = (x.shape[1] - kh) // stride + 1, (x.shape[2] - kw) // stride + 1
    out = 0
    for a in range(kh):
        for b in range(kw):
            patch = x[:, a : a + stride * (oh - 1) + 1 : stride, b : b + stride * (ow - 1) + 1 : stride]
            out = out + np.einsum("nhwi,io->nhwo", patch, w[a, b])
    return out


def np_conv_same(x, w):
    p = w.shape[0] // 2
    return np_conv(np.pad(x, ((0, 0), (p, p), (p, p), (0, 0))), w)


def np_conv2d_transpose(x, w_t, stride):
    """tf.nn.conv2d_transpose, VALID, filter [kh,kw,O,I]: each input pixel adds x[i,j] . w_t[a,b] at (stride*i + a, stride*j + b)."""
    kh, kw, o, _ = w_t.shape
    n, h, w, _ = x.shape
    out = np.zeros((n, (h - 1) * stride + kh, (w - 1) * stride + kw, o))
    for a in range(kh):
        for b in range(kw):
            out[:, a : a + stride * (h - 1) + 1 : stride, b : b + stride * (w - 1) + 1 : stride] += np.einsum(
                "nhwi,oi->nhwo", x, w_t[a, b]
            )
    return out


def np_upsample_conv_2d(x, w, f):
    """TF1 `upsample_conv_2d`, factor 2."""
    w_t = w[::-1, ::-1].transpose(0, 1, 3, 2)
    x = np_conv2d_transpose(x, w_t, 2)
    p = (f.shape[0] - 2) - (w.shape[1] - 1)
    pad0, pad1 = (p + 1) // 2 + 1, p // 2 + 1
    return np_upfirdn2d(x, f, padding=(pad0, pad1, pad0, pad1), gain=4)


def np_conv_downsample_2d(x, w, f):
    """TF1 `conv_downsample_2d`, factor 2."""
    p = (f.shape[0] - 2) + (w.shape[1] - 1)
    pad0, pad1 = (p + 1) // 2, p // 2
    return np_conv(np_upfirdn2d(x, f, padding=(pad0, pad1, pad0, pad1)), w, stride=2)


def np_conv2d_resample(x, w, f, up, down):
    if up == 2:
        return np_upsample_conv_2d(x, w, f)
    if down == 2:
        return np_conv_downsample_2d(x, w, f)
    return np_conv_same(x, w)


def np_modulated_conv2d(x, weight, styles, demodulate, up, down, f):
    """TF1 `modulated_conv2d_layer`: per-sample weights w * s, demodulated, then the conv."""
    out = []
    for n in range(x.shape[0]):
        w = weight.astype(np.float64) * styles[n][None, None, :, None]  # [kkIO]
        if demodulate:
            w = w / np.sqrt(np.sum(w**2, axis=(0, 1, 2)) + 1e-8)
        out.append(np_conv2d_resample(x[n : n + 1], w, f, up, down))
    return np.concatenate(out)


# === setup_filter, upfirdn2d ===


def test_setup_filter():
    f = setup_filter([1, 3, 3, 1])
    assert f.dtype == np.float32 and f.shape == (4, 4)
    close(f, np.outer([1, 3, 3, 1], [1, 3, 3, 1]) / 64)
    close(setup_filter([1, 2], gain=4), np.outer([1, 2], [1, 2]) / 9 * 4)
    close(setup_filter([1, 2], normalize=False), [[1, 2], [2, 4]])


UPFIRDN_CASES = [  # up, down, padding (x0, x1, y0, y1), gain
    (1, 1, (0, 0, 0, 0), 1),
    (2, 1, (2, 1, 2, 1), 4),
    (1, 2, (1, 1, 1, 1), 1),
    (2, 2, (1, 2, 0, 3), 1),
    (3, 1, (-1, 2, 1, -2), 1.5),
    (1, 3, (2, -1, 0, 1), 1),
    (2, 1, (-2, -1, 3, 0), 1),
]


@pytest.mark.parametrize("up, down, padding, gain", UPFIRDN_CASES)
def test_upfirdn2d_matches_scipy(up, down, padding, gain):
    hy, hx = np.array([1.0, 2.0, 5.0]), np.array([3.0, 1.0, 0.5, 2.0])  # asymmetric: catches a missing flip or swapped axes
    x = randn(2, 7, 6, 3)
    y = upfirdn2d(x, np.outer(hy, hx), up=up, down=down, padding=padding, gain=gain)
    close(y, scipy_upfirdn2d(x, hy, hx, up=up, down=down, padding=padding, gain=gain), atol=1e-4)


@pytest.mark.parametrize("up, down, padding, gain", UPFIRDN_CASES)
def test_upfirdn2d_matches_numpy_steps(up, down, padding, gain):
    f = randn(3, 4)  # not separable, not symmetric
    x = randn(2, 6, 5, 2)
    close(upfirdn2d(x, f, up=up, down=down, padding=padding, gain=gain), np_upfirdn2d(x, f, up, down, padding, gain))


def test_upfirdn2d_impulse_is_flipped_filter():
    x = np.zeros((1, 5, 5, 1), np.float32)
    x[0, 2, 2, 0] = 1
    f = np.arange(9, dtype=np.float32).reshape(3, 3)
    # A true convolution of an impulse reproduces the filter itself (a correlation would flip it).
    close(upfirdn2d(x, f, padding=(1, 1, 1, 1))[0, 1:4, 1:4, 0], f)


# === upsample2d, downsample2d ===

FILTERS = {"box": [1, 1], "default": [1, 3, 3, 1], "binomial6": [1, 5, 10, 10, 5, 1]}


@pytest.mark.parametrize("taps", FILTERS.values(), ids=FILTERS.keys())
def test_resample_output_sizes(taps):
    x = randn(2, 8, 8, 3)
    assert upsample2d(x, setup_filter(taps)).shape == (2, 16, 16, 3)
    assert downsample2d(x, setup_filter(taps)).shape == (2, 4, 4, 3)


def test_upsample2d_impulse():
    # NVIDIA's pads (2, 1) put the response of pixel i on rows 2i-1 .. 2i+2: centred on 2i + 0.5, as pixel centres move.
    x = np.zeros((1, 4, 4, 1), np.float32)
    x[0, 2, 1, 0] = 1
    taps = np.array([1, 3, 3, 1]) / 8 * 2  # normalized 1-D taps times the per-axis gain `up`
    expected = np.zeros((8, 8))
    expected[3:7, 1:5] = np.outer(taps, taps)
    close(upsample2d(x, setup_filter([1, 3, 3, 1]))[0, :, :, 0], expected)


def test_downsample2d_impulse():
    # Output pixel m averages input pixels 2m-1 .. 2m+2 with weights [1, 3, 3, 1] / 8.
    x = np.zeros((1, 8, 8, 1), np.float32)
    x[0, 4, 3, 0] = 1  # even row 2a (a = 2) -> rows 1 (1/8), 2 (3/8); odd column 2b+1 (b = 1) -> columns 1 (3/8), 2 (1/8)
    expected = np.zeros((4, 4))
    expected[1:3, 1:3] = np.outer([1 / 8, 3 / 8], [3 / 8, 1 / 8])
    close(downsample2d(x, setup_filter([1, 3, 3, 1]))[0, :, :, 0], expected)


def test_box_filter_is_nearest_upsampling_and_average_pooling():
    x = randn(2, 4, 4, 3)
    f = setup_filter([1, 1])
    close(upsample2d(x, f), x.repeat(2, axis=1).repeat(2, axis=2))
    close(downsample2d(x, f), x.reshape(2, 2, 2, 2, 2, 3).mean(axis=(2, 4)))


def test_resampling_preserves_constant_images():
    x = np.full((1, 8, 8, 2), 3.0, np.float32)
    f = setup_filter([1, 3, 3, 1])
    close(upsample2d(x, f)[:, 2:-2, 2:-2], 3.0)
    close(downsample2d(x, f)[:, 1:-1, 1:-1], 3.0)


# === conv2d_resample ===


@pytest.mark.parametrize("kernel_size", [1, 3])
@pytest.mark.parametrize("up, down", [(1, 1), (2, 1), (1, 2)])
def test_conv2d_resample_matches_tf1_definition(kernel_size, up, down):
    f = setup_filter([1, 3, 3, 1])
    x = randn(2, 6, 6, 3)
    w = randn(kernel_size, kernel_size, 3, 4)
    y = conv2d_resample(x, w, f, up=up, down=down)
    assert y.shape == (2, 6 * up // down, 6 * up // down, 4)
    close(y, np_conv2d_resample(x, w, f, up, down), atol=1e-4)


@pytest.mark.parametrize("up, down", [(1, 1), (2, 1), (1, 2)])
def test_conv2d_resample_grouped(up, down):
    """Two groups (C = 2 * I): the grouped path (zero insertion for up) equals two separate convs."""
    f = setup_filter([1, 3, 3, 1])
    x = randn(1, 6, 6, 6)
    w = randn(3, 3, 3, 4)
    y = np.asarray(conv2d_resample(x, w, f, up=up, down=down))
    close(y[..., :2], np_conv2d_resample(x[..., :3], w[..., :2], f, up, down), atol=1e-4)
    close(y[..., 2:], np_conv2d_resample(x[..., 3:], w[..., 2:], f, up, down), atol=1e-4)


def _first_and_second_order(fn, x, w, r):
    """d/dx, d/dw of <fn(x, w), r>, and d/dw of ||d<fn, r>/dx||^2 (the R1 / path-length pattern)."""
    x, w = tf.constant(x), tf.constant(w)
    with tf.GradientTape() as outer:
        outer.watch(w)
        with tf.GradientTape() as inner:
            inner.watch([x, w])
            loss = tf.reduce_sum(fn(x, w) * r)
        dx, dw = inner.gradient(loss, [x, w])
        penalty = tf.reduce_sum(tf.square(dx))
    return dx.numpy(), dw.numpy(), outer.gradient(penalty, w).numpy()


@pytest.mark.parametrize("kernel_size, size", [(1, 6), (3, 6), (3, 5)])
@pytest.mark.parametrize("up, down", [(1, 1), (2, 1), (1, 2)])
@pytest.mark.parametrize("kernel_grad", ["conv over the batch", "filter gradient", "matmuls"])
def test_conv2d_resample_fast_gradients_match_keras_ops(monkeypatch, kernel_size, size, up, down, kernel_grad):
    """The TensorFlow fast paths (custom gradients that are forward convolutions, polyphase transposed conv,
    separable FIR) give the same values, gradients and second-order gradients as the plain keras.ops path; with
    every kernel-gradient formulation (Eigen: a forward conv over the batch; oneDNN: TF's filter gradient, or matrix
    products over flat views, chosen by MATMUL_KERNEL_GRAD_MAX_EXTRA)."""
    cr_module, fir_module = (sys.modules[f"stylegan2.ops.{name}"] for name in ("conv2d_resample", "upfirdn2d"))
    monkeypatch.setattr(cr_module, "_kernels", lambda: "eigen" if kernel_grad == "conv over the batch" else "onednn")
    monkeypatch.setattr(cr_module, "MATMUL_KERNEL_GRAD_MAX_EXTRA", 10**6 if kernel_grad == "matmuls" else -1)
    f = setup_filter([1, 3, 3, 1])
    x, w = randn(2, size, size, 3), randn(kernel_size, kernel_size, 3, 4)
    fn = lambda x, w: conv2d_resample(x, w, f, up=up, down=down)
    r = tf.constant(randn(*fn(x, w).shape))
    fast_y, fast = np.asarray(fn(x, w)), _first_and_second_order(fn, x, w, r)
    monkeypatch.setattr(cr_module, "tensorflow_path", lambda x: False)
    monkeypatch.setattr(fir_module, "tensorflow_path", lambda x: False)
    close(fast_y, np.asarray(fn(x, w)), atol=1e-4)
    for got, expected in zip(fast, _first_and_second_order(fn, x, w, r)):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-3 * np.abs(expected).max())


@pytest.mark.parametrize("kh, kw, stride, height, width", [
    (3, 3, 1, 6, 5), (3, 3, 2, 9, 8), (1, 1, 1, 4, 4), (2, 3, 2, 7, 10), (3, 1, 3, 11, 7), (4, 4, 2, 6, 6),
])
def test_kernel_grad_matmul_matches_numpy(kh, kw, stride, height, width):
    """The oneDNN kernel gradient as matrix products over flat views equals
    dw[a,b,i,o] = sum_{n,h,w} x[n,s*h+a,s*w+b,i] dy[n,h,w,o], with rows and columns past the last tap unread."""
    cr_module = sys.modules["stylegan2.ops.conv2d_resample"]
    x = randn(2, height, width, 3)
    ho, wo = (height - kh) // stride + 1, (width - kw) // stride + 1
    dy = randn(2, ho, wo, 4)
    expected = np.zeros((kh, kw, 3, 4))
    for a in range(kh):
        for b in range(kw):
            patch = x[:, a:a + stride * (ho - 1) + 1:stride, b:b + stride * (wo - 1) + 1:stride]  # [N,Ho,Wo,I]
            expected[a, b] = np.einsum("nhwi,nhwo->io", patch, dy)
    got = cr_module._kernel_grad_matmul(tf.constant(x), tf.constant(dy), kh, kw, stride).numpy()
    close(got, expected, atol=1e-4)


@pytest.mark.parametrize("up, down, padding, f, gain", [
    (1, 1, (1, 2, 2, 1), [1, 3, 3, 1], 1),
    (2, 1, (2, 1, 2, 1), [1, 3, 3, 1], 4),
    (1, 2, (1, 1, 1, 1), [1, 3, 3, 1], 1),
    (1, 1, (-1, 2, 0, -2), [1, 2, 1], 1),  # negative padding crops
    (2, 1, (1, 0, -1, 2), "random 3x3", 2),  # a filter that is not separable
    (1, 2, (2, -1, 1, 0), "random 4x4", 1),
])
def test_upfirdn2d_custom_gradient_matches_keras_ops(monkeypatch, up, down, padding, f, gain):
    """The TF path's gradient (ADA's: upfirdn2d with the flipped filter, up and down swapped, restoring padding) and
    the gradient of that gradient equal automatic differentiation of the plain keras.ops path."""
    f = setup_filter(f) if isinstance(f, list) else np.random.RandomState(len(f)).randn(int(f[-1]), int(f[-1]))
    x = randn(2, 7, 6, 3)  # not square: the H and W paddings must not be swapped
    fn = lambda x: upfirdn2d(x, f, up=up, down=down, padding=padding, gain=gain)
    r, s = randn(*fn(x).shape), randn(*x.shape)

    def run():
        x_, r_ = tf.constant(x), tf.constant(r)
        with tf.GradientTape() as outer:
            outer.watch(r_)
            with tf.GradientTape() as inner:
                inner.watch(x_)
                y = fn(x_)
                loss = tf.reduce_sum(y * r_)
            dx = inner.gradient(loss, x_)
            second = tf.reduce_sum(dx * s)  # <FIR^T r, s>: its gradient in r runs the gradient's gradient
        return y.numpy(), dx.numpy(), outer.gradient(second, r_).numpy()

    fast = run()
    monkeypatch.setattr(sys.modules["stylegan2.ops.upfirdn2d"], "tensorflow_path", lambda x: False)
    for got, expected in zip(fast, run()):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())


def test_keras_conv_infers_groups():
    """modulated_conv2d(fused=True) relies on keras.ops.conv treating in_ch = groups * kernel_in_ch as a grouped conv."""
    x = randn(1, 5, 5, 4)
    w = randn(3, 3, 2, 6)
    y = np.asarray(ops.conv(x, w, padding="same"))
    close(y, np.concatenate([np_conv_same(x[..., :2], w[..., :3]), np_conv_same(x[..., 2:], w[..., 3:])], -1), atol=1e-4)


def test_conv2d_resample_rejects_bad_arguments():
    x, w = randn(1, 4, 4, 2), randn(3, 3, 2, 2)
    with pytest.raises(ValueError, match="at most one"):
        conv2d_resample(x, w, setup_filter(), up=2, down=2)
    with pytest.raises(ValueError, match="FIR filter"):
        conv2d_resample(x, w, None, up=2)


# === bias_act ===


def test_activation_table_gains():
    assert activation_funcs["linear"].def_gain == 1 and activation_funcs["lrelu"].def_alpha == 0.2
    for name in ("lrelu", "relu"):
        assert activation_funcs[name].def_gain == math.sqrt(2)
    assert all(type(spec.def_gain) is float for spec in activation_funcs.values())


def test_bias_act():
    x = np.array([[-2.0, -0.5], [0.25, 1.5]], np.float32)  # [N,C]
    b = np.array([0.5, -0.25], np.float32)
    z = x + b
    close(bias_act(x, b), z)
    close(bias_act(x, b, "lrelu"), np.where(z > 0, z, 0.2 * z) * math.sqrt(2))
    close(bias_act(x, b, "relu"), np.maximum(z, 0) * math.sqrt(2))
    close(bias_act(x, b, "tanh"), np.tanh(z))
    close(bias_act(x, b, "sigmoid"), 1 / (1 + np.exp(-z)))
    close(bias_act(x, b, "lrelu", alpha=0.1, gain=3), np.where(z > 0, z, 0.1 * z) * 3)
    close(bias_act(x, b, "lrelu", clamp=0.5), np.clip(np.where(z > 0, z, 0.2 * z) * math.sqrt(2), -0.5, 0.5))
    close(bias_act(x), x)


def test_bias_act_nhwc_bias_and_dtype():
    import keras

    x = randn(2, 3, 3, 4)
    b = keras.Variable(randn(4))
    y = bias_act(x, b, "lrelu")
    assert y.dtype == tf.float32
    close(y, np.where(x + b.numpy() > 0, 1, 0.2) * (x + b.numpy()) * math.sqrt(2))
    with pytest.raises(ValueError, match="Unknown activation"):
        bias_act(x, act="swish")


# === modulated_conv2d ===


def test_demodulated_weights_have_unit_norm():
    """Read each sample's effective weights off impulse responses; each output channel's weights have norm 1."""
    n, k, i, o = 2, 3, 3, 4
    weight, styles = randn(k, k, i, o), randn(n, i) + 1
    ww = np.zeros((n, k, k, i, o))
    for c in range(i):
        x = np.zeros((n, 5, 5, i), np.float32)
        x[:, 2, 2, c] = 1
        y = np.asarray(modulated_conv2d(x, weight, styles))
        ww[:, :, :, c, :] = y[:, 3:0:-1, 3:0:-1, :]  # correlation: out[2 - a + 1] = w[a]
    close(np.sum(ww**2, axis=(1, 2, 3)), np.ones((n, o)), atol=1e-5)


@pytest.mark.parametrize("demodulate", [True, False])
@pytest.mark.parametrize("kernel_size, up, down", [(3, 1, 1), (3, 2, 1), (1, 2, 1), (3, 1, 2)])
def test_modulated_conv2d_matches_numpy_and_fused(demodulate, kernel_size, up, down):
    f = setup_filter([1, 3, 3, 1])
    x, weight, styles = randn(3, 4, 4, 5), randn(kernel_size, kernel_size, 5, 6) * 0.2, randn(3, 5) + 1
    y = modulated_conv2d(x, weight, styles, demodulate=demodulate, up=up, down=down, resample_filter=f)
    y_fused = modulated_conv2d(x, weight, styles, demodulate=demodulate, up=up, down=down, resample_filter=f, fused=True)
    assert y.shape == (3, 4 * up // down, 4 * up // down, 6)
    close(y_fused, np.asarray(y), atol=1e-5)
    close(y, np_modulated_conv2d(x, weight, styles, demodulate, up, down, f), atol=1e-4)


def test_fused_needs_static_batch():
    import keras

    with pytest.raises(ValueError, match="static batch size"):
        modulated_conv2d(keras.Input((4, 4, 2)), randn(3, 3, 2, 2), keras.Input((2,)), fused=True)


@pytest.mark.parametrize("up, down", [(1, 1), (2, 1), (1, 2)])
def test_modulated_conv2d_gradients_on_cpu(up, down):
    f = setup_filter([1, 3, 3, 1])
    x, weight, styles = tf.constant(randn(2, 4, 4, 3)), tf.Variable(randn(3, 3, 3, 4)), tf.constant(randn(2, 3))

    @tf.function
    def grads():
        with tf.GradientTape() as tape:
            tape.watch([x, styles])
            y = modulated_conv2d(x, weight, styles, up=up, down=down, resample_filter=f)
            loss = tf.reduce_sum(tf.square(y))
        return tape.gradient(loss, [x, weight, styles])

    for g in grads():
        assert g is not None and np.all(np.isfinite(g)) and np.any(g != 0)
