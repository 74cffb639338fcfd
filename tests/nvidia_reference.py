"""NVIDIA's StyleGAN2 forward passes transcribed to NumPy (float64, NCHW, the originals' weight layouts), for tests.

Independent of stylegan2/: written from NVlabs/stylegan2 `training/networks_stylegan2.py` and
`dnnlib/tflib/ops/upfirdn_2d.py` (TF1: weights [k,k,in,out], correlations, `upsample_conv_2d` as
`conv2d_transpose` of the flipped kernel, then FIR) and from NVlabs/stylegan2-ada-pytorch `training/networks.py`
and `torch_utils/ops/{conv2d_resample,upfirdn2d,bias_act}.py` (ADA: weights [out,in,k,k], `flip_weight = (up == 1)`,
the same fast paths ADA runs, conv_clamp, ADA's label conditioning). Each takes a dict {original key: array}.
Loops are plain: these run on 8-16 px networks with a few channels.
"""

import numpy as np

SQRT2 = np.sqrt(2.0)


def setup_kernel(k=(1, 3, 3, 1)):
    k = np.asarray(k, np.float64)
    k = np.outer(k, k)
    return k / k.sum()


def lrelu(x, gain=SQRT2):
    return np.where(x >= 0, x, 0.2 * x) * gain


def correlate(x, w, stride=1, pad=(0, 0, 0, 0)):
    """NCHW x, w [kh,kw,I,O] (TF layout), zero padding (x0, x1, y0, y1), VALID correlation with stride."""
    x0, x1, y0, y1 = pad
    x = np.pad(x, ((0, 0), (0, 0), (y0, y1), (x0, x1)))
    kh, kw = w.shape[:2]
    ho, wo = (x.shape[2] - kh) // stride + 1, (x.shape[3] - kw) // stride + 1
    out = np.zeros((x.shape[0], w.shape[3], ho, wo))
    for a in range(kh):
        for b in range(kw):
            patch = x[:, :, a:a + (ho - 1) * stride + 1:stride, b:b + (wo - 1) * stride + 1:stride]
            out += np.einsum("nihw,io->nohw", patch, w[a, b])
    return out


def upfirdn(x, k, up=1, down=1, pad=(0, 0, 0, 0)):
    """TF1 `_upfirdn_2d_ref` / ADA `_upfirdn2d_ref` in NCHW: insert zeros, pad (x0, x1, y0, y1), convolve with k
    (a correlation with the flipped k), keep every down-th pixel."""
    n, c, h, w = x.shape
    z = np.zeros((n, c, h * up, w * up))
    z[:, :, ::up, ::up] = x
    x0, x1, y0, y1 = pad
    z = np.pad(z, ((0, 0), (0, 0), (max(y0, 0), max(y1, 0)), (max(x0, 0), max(x1, 0))))
    z = z[:, :, max(-y0, 0):z.shape[2] - max(-y1, 0), max(-x0, 0):z.shape[3] - max(-x1, 0)]
    kf = k[::-1, ::-1]
    out = np.stack([correlate(z[:, i:i + 1], kf[:, :, None, None])[:, 0] for i in range(c)], axis=1)
    return out[:, :, ::down, ::down]


# === TF1 (NVlabs/stylegan2) ===


def tf1_conv2d_transpose(x, f, stride):
    """tf.nn.conv2d_transpose(x, f [kh,kw,O,I], VALID) in NCHW: out[o, s*q+a, s*r+b] += x[i,q,r] f[a,b,o,i]."""
    n, _, h, w = x.shape
    kh, kw, o, _ = f.shape
    out = np.zeros((n, o, (h - 1) * stride + kh, (w - 1) * stride + kw))
    for a in range(kh):
        for b in range(kw):
            out[:, :, a:a + (h - 1) * stride + 1:stride, b:b + (w - 1) * stride + 1:stride] += \
                np.einsum("nihw,oi->nohw", x, f[a, b])
    return out


def tf1_conv(x, w, up=False, down=False, k=(1, 3, 3, 1)):
    """conv2d_layer's convolution with an already scaled weight [k,k,I,O]."""
    kw = w.shape[1]
    if up:  # upsample_conv_2d
        kern = setup_kernel(k) * 4
        p = (kern.shape[0] - 2) - (kw - 1)
        f = w[::-1, ::-1].transpose(0, 1, 3, 2)
        y = tf1_conv2d_transpose(x, f, 2)
        return upfirdn(y, kern, pad=((p + 1) // 2 + 1, p // 2 + 1) * 2)
    if down:  # conv_downsample_2d
        kern = setup_kernel(k)
        p = (kern.shape[0] - 2) + (kw - 1)
        y = upfirdn(x, kern, pad=((p + 1) // 2, p // 2) * 2)
        return correlate(y, w, stride=2)
    return correlate(x, w, pad=(kw // 2,) * 4)  # SAME


def tf1_weight(w, lrmul=1.0):
    return w * (lrmul / np.sqrt(np.prod(w.shape[:-1])))


def tf1_dense(x, p, name, lrmul=1.0, act=None):
    x = x.reshape(len(x), -1) @ tf1_weight(p[name + "/weight"], lrmul) + p[name + "/bias"] * lrmul
    return lrelu(x) if act == "lrelu" else x


def tf1_modconv(x, y, p, name, up=False, demodulate=True):
    """modulated_conv2d_layer, fused form (per sample)."""
    w = tf1_weight(p[name + "/weight"])
    s = y @ tf1_weight(p[name + "/mod_weight"]) + p[name + "/mod_bias"] + 1  # [BI]
    out = []
    for b in range(len(x)):
        ww = w * s[b][None, None, :, None]
        if demodulate:
            ww = ww / np.sqrt(np.sum(ww**2, axis=(0, 1, 2)) + 1e-8)
        out.append(tf1_conv(x[b:b + 1], ww, up=up))
    return np.concatenate(out)


def tf1_mapping(p, z, labels=None, num_layers=2, lrmul=0.01):
    x = z
    if labels is not None:
        x = np.concatenate([x, labels @ p["mapping/LabelConcat/weight"]], axis=1)
    x = x / np.sqrt(np.mean(x**2, axis=1, keepdims=True) + 1e-8)
    for i in range(num_layers):
        x = tf1_dense(x, p, f"mapping/Dense{i}", lrmul, "lrelu")
    return x


def tf1_synthesis(p, ws, resolution, architecture="skip"):
    """G_synthesis_stylegan2 with randomize_noise=False (the noise variables)."""
    R = int(np.log2(resolution))

    def layer(x, idx, name, up=False):
        x = tf1_modconv(x, ws[:, idx], p, f"synthesis/{name}", up=up)
        x = x + p[f"synthesis/noise{idx}"] * p[f"synthesis/{name}/noise_strength"]
        return lrelu(x + p[f"synthesis/{name}/bias"][None, :, None, None])

    def torgb(x, y, r):
        name = f"synthesis/{2**r}x{2**r}/ToRGB"
        t = tf1_modconv(x, ws[:, 2 * r - 3], p, name, demodulate=False) + p[name + "/bias"][None, :, None, None]
        return t if y is None else y + t

    x = np.repeat(p["synthesis/4x4/Const/const"], len(ws), axis=0)
    x = layer(x, 0, "4x4/Conv")
    y = torgb(x, None, 2) if architecture == "skip" else None
    for r in range(3, R + 1):
        res = f"{2**r}x{2**r}"
        t = x
        x = layer(x, 2 * r - 5, f"{res}/Conv0_up", up=True)
        x = layer(x, 2 * r - 4, f"{res}/Conv1")
        if architecture == "resnet":
            x = (x + tf1_conv(t, tf1_weight(p[f"synthesis/{res}/Skip/weight"]), up=True)) / SQRT2
        if architecture == "skip":
            y = upfirdn(y, setup_kernel() * 4, up=2, pad=(2, 1, 2, 1))  # upsample_2d
        if architecture == "skip" or r == R:
            y = torgb(x, y, r)
    return y


def tf1_G(p, z, labels=None, resolution=8, architecture="skip", num_layers=2, psi=1.0):
    """G_main with truncation psi on every layer (truncation_cutoff None)."""
    w = tf1_mapping(p, z, labels, num_layers)
    ws = np.repeat(w[:, None], 2 * int(np.log2(resolution)) - 2, axis=1)
    ws = p["dlatent_avg"] + (ws - p["dlatent_avg"]) * psi
    return tf1_synthesis(p, ws, resolution, architecture)


def minibatch_std(x, group_size, num_features=1):
    """TF1 minibatch_stddev_layer (== ADA MinibatchStdLayer), NCHW."""
    n, c, h, w = x.shape
    g = min(group_size, n)
    y = x.reshape(g, -1, num_features, c // num_features, h, w)
    y = y - y.mean(axis=0)
    y = np.sqrt(np.mean(y**2, axis=0) + 1e-8)
    y = y.mean(axis=(2, 3, 4))  # [M, n]
    y = np.tile(y[:, :, None, None], (g, 1, h, w))
    return np.concatenate([x, y], axis=1)


def tf1_D(p, img, labels=None, architecture="resnet", mbstd_group_size=4, feature_output=False):
    """D_stylegan2 (feature_output: IG's D_stylegan2_feature, dense(1) and squeezed scores)."""
    R = int(np.log2(img.shape[2]))

    def conv(x, name, act=True, **kw):
        x = tf1_conv(x, tf1_weight(p[name + "/weight"]), **kw)
        return lrelu(x + p[name + "/bias"][None, :, None, None]) if act else x

    def fromrgb(x, y, r):
        t = conv(y, f"{2**r}x{2**r}/FromRGB")
        return t if x is None else x + t

    x, y = None, img
    for r in range(R, 2, -1):
        res = f"{2**r}x{2**r}"
        if architecture == "skip" or r == R:
            x = fromrgb(x, y, r)
        t = x
        x = conv(x, f"{res}/Conv0")
        x = conv(x, f"{res}/Conv1_down", down=True)
        if architecture == "resnet":
            x = (x + tf1_conv(t, tf1_weight(p[f"{res}/Skip/weight"]), down=True)) / SQRT2
        if architecture == "skip":
            y = upfirdn(y, setup_kernel(), down=2, pad=(1, 1, 1, 1))  # downsample_2d
    if architecture == "skip":
        x = fromrgb(x, y, 2)
    if mbstd_group_size > 1:
        x = minibatch_std(x, mbstd_group_size)
    x = conv(x, "4x4/Conv")
    x = tf1_dense(x, p, "4x4/Dense0", act="lrelu")  # flattens NCHW
    x = tf1_dense(x, p, "Output")
    if feature_output:
        return x[:, 0]
    if labels is not None and labels.shape[1] > 0:
        x = np.sum(x * labels, axis=1, keepdims=True)
    return x


# === ADA (NVlabs/stylegan2-ada-pytorch) ===


def torch_conv2d(x, w, stride=1, padding=0):
    """torch conv2d (a correlation), w [O,I,kh,kw]."""
    return correlate(x, w.transpose(2, 3, 1, 0), stride=stride, pad=(padding,) * 4)


def torch_conv_transpose2d(x, w, stride, padding=0):
    """torch conv_transpose2d, w [I,O,kh,kw]: out[o, s*q+a-p, s*r+b-p] += x[i,q,r] w[i,o,a,b]."""
    n, _, h, wd = x.shape
    _, o, kh, kw = w.shape
    out = np.zeros((n, o, (h - 1) * stride + kh, (wd - 1) * stride + kw))
    for a in range(kh):
        for b in range(kw):
            out[:, :, a:a + (h - 1) * stride + 1:stride, b:b + (wd - 1) * stride + 1:stride] += \
                np.einsum("nihw,io->nohw", x, w[:, :, a, b])
    return out[:, :, padding:out.shape[2] - padding, padding:out.shape[3] - padding]


def ada_conv2d_wrapper(x, w, stride=1, padding=0, transpose=False, flip_weight=True):
    if not flip_weight:
        w = w[:, :, ::-1, ::-1]
    if transpose:
        return torch_conv_transpose2d(x, w, stride, padding)
    return torch_conv2d(x, w, stride, padding)


def ada_conv2d_resample(x, w, f=None, up=1, down=1, padding=0, flip_weight=True):
    """torch_utils/ops/conv2d_resample.py, the path ADA takes for each case (groups=1)."""
    _, _, kh, kw = w.shape
    fw = fh = 1 if f is None else f.shape[0]
    px0 = px1 = py0 = py1 = padding
    if up > 1:
        px0 += (fw + up - 1) // 2
        px1 += (fw - up) // 2
        py0 += (fh + up - 1) // 2
        py1 += (fh - up) // 2
    if down > 1:
        px0 += (fw - down + 1) // 2
        px1 += (fw - down) // 2
        py0 += (fh - down + 1) // 2
        py1 += (fh - down) // 2
    if kw == 1 and kh == 1 and down > 1 and up == 1:
        x = upfirdn(x, f, down=down, pad=(px0, px1, py0, py1))
        return ada_conv2d_wrapper(x, w, flip_weight=flip_weight)
    if kw == 1 and kh == 1 and up > 1 and down == 1:
        x = ada_conv2d_wrapper(x, w, flip_weight=flip_weight)
        return upfirdn(x, f * up**2, up=up, pad=(px0, px1, py0, py1))
    if down > 1 and up == 1:
        x = upfirdn(x, f, pad=(px0, px1, py0, py1))
        return ada_conv2d_wrapper(x, w, stride=down, flip_weight=flip_weight)
    if up > 1:
        w = w.transpose(1, 0, 2, 3)
        px0 -= kw - 1
        px1 -= kw - up
        py0 -= kh - 1
        py1 -= kh - up
        pxt = max(min(-px0, -px1), 0)
        x = ada_conv2d_wrapper(x, w, stride=up, padding=pxt, transpose=True, flip_weight=not flip_weight)
        return upfirdn(x, f * up**2, pad=(px0 + pxt, px1 + pxt, py0 + pxt, py1 + pxt))
    return ada_conv2d_wrapper(x, w, padding=px0, flip_weight=flip_weight)


def bias_act(x, b, act="linear", gain=None, clamp=None):
    x = x + b[None, :, None, None] if x.ndim == 4 else x + b
    if act == "lrelu":
        x = np.where(x >= 0, x, 0.2 * x)
        gain = SQRT2 if gain is None else gain
    x = x * (1.0 if gain is None else gain)
    return x if clamp is None else np.clip(x, -clamp, clamp)


def ada_fc(x, p, name, lr=1.0, act="linear"):
    w = p[name + ".weight"]
    return bias_act(x @ (w * (lr / np.sqrt(w.shape[1]))).T, p[name + ".bias"] * lr, act)


def normalize_2nd_moment(x):
    return x / np.sqrt(np.mean(x**2, axis=1, keepdims=True) + 1e-8)


def ada_mapping(p, prefix, z, c, num_layers, lr=0.01):
    parts = []
    if z is not None:
        parts.append(normalize_2nd_moment(z))
    if c is not None:
        parts.append(normalize_2nd_moment(ada_fc(c, p, prefix + "embed")))
    x = np.concatenate(parts, axis=1)
    for i in range(num_layers):
        x = ada_fc(x, p, f"{prefix}fc{i}", lr, "lrelu")
    return x


def ada_modconv(x, weight, styles, up=1, padding=0, f=None, demodulate=True, flip_weight=True):
    """modulated_conv2d with fused_modconv=True (ADA's eval default in float32), one sample at a time."""
    out = []
    for b in range(len(x)):
        w = weight * styles[b][None, :, None, None]  # [OIkk]
        if demodulate:
            w = w / np.sqrt(np.sum(w**2, axis=(1, 2, 3)) + 1e-8)[:, None, None, None]
        out.append(ada_conv2d_resample(x[b:b + 1], w, f, up=up, padding=padding, flip_weight=flip_weight))
    return np.concatenate(out)


def ada_synthesis_layer(p, name, x, w, up=1, conv_clamp=None, gain=1.0, use_noise=True):
    styles = ada_fc(w, p, name + ".affine")
    weight = p[name + ".weight"]
    x = ada_modconv(x, weight, styles, up=up, padding=weight.shape[2] // 2, f=setup_kernel(),
                    flip_weight=(up == 1))
    if use_noise:
        x = x + p[name + ".noise_const"] * p[name + ".noise_strength"]
    return bias_act(x, p[name + ".bias"], "lrelu", gain=SQRT2 * gain,
                    clamp=None if conv_clamp is None else conv_clamp * gain)


def ada_torgb(p, name, x, w, conv_clamp=None):
    weight = p[name + ".weight"]
    styles = ada_fc(w, p, name + ".affine") * (1 / np.sqrt(np.prod(weight.shape[1:])))
    x = ada_modconv(x, weight, styles, demodulate=False)
    return bias_act(x, p[name + ".bias"], clamp=conv_clamp)


def ada_conv2d_layer(p, name, x, act="linear", up=1, down=1, conv_clamp=None, gain=1.0):
    """Conv2dLayer.forward."""
    weight = p[name + ".weight"]
    w = weight * (1 / np.sqrt(np.prod(weight.shape[1:])))
    x = ada_conv2d_resample(x, w, setup_kernel(), up=up, down=down, padding=weight.shape[2] // 2,
                            flip_weight=(up == 1))
    act_gain = (SQRT2 if act == "lrelu" else 1.0) * gain
    b = p.get(name + ".bias", np.zeros(x.shape[1]))
    return bias_act(x, b, act, gain=act_gain, clamp=None if conv_clamp is None else conv_clamp * gain)


def ada_G(p, z, c=None, resolution=8, architecture="skip", num_layers=2, psi=1.0, conv_clamp=None):
    """Generator.forward(z, c, truncation_psi=psi, noise_mode='const'), float32 path (force_fp32)."""
    w = ada_mapping(p, "mapping.", z, c, num_layers)
    R = int(np.log2(resolution))
    ws = np.repeat(w[:, None], 2 * R - 2, axis=1)
    ws = p["mapping.w_avg"] + (ws - p["mapping.w_avg"]) * psi
    x = img = None
    idx = 0
    for r in range(2, R + 1):
        b = f"synthesis.b{2**r}"
        is_last = r == R
        if r == 2:
            x = np.repeat(p[b + ".const"][None], len(z), axis=0)
            x = ada_synthesis_layer(p, b + ".conv1", x, ws[:, idx], conv_clamp=conv_clamp)
            num_conv = 1
        elif architecture == "resnet":
            y = ada_conv2d_layer(p, b + ".skip", x, up=2, gain=np.sqrt(0.5))
            x = ada_synthesis_layer(p, b + ".conv0", x, ws[:, idx], up=2, conv_clamp=conv_clamp)
            x = ada_synthesis_layer(p, b + ".conv1", x, ws[:, idx + 1], conv_clamp=conv_clamp, gain=np.sqrt(0.5))
            x = y + x
            num_conv = 2
        else:
            x = ada_synthesis_layer(p, b + ".conv0", x, ws[:, idx], up=2, conv_clamp=conv_clamp)
            x = ada_synthesis_layer(p, b + ".conv1", x, ws[:, idx + 1], conv_clamp=conv_clamp)
            num_conv = 2
        if img is not None:
            img = upfirdn(img, setup_kernel() * 4, up=2, pad=(2, 1, 2, 1))  # upsample2d
        if is_last or architecture == "skip":
            y = ada_torgb(p, b + ".torgb", x, ws[:, idx + num_conv], conv_clamp=conv_clamp)
            img = y if img is None else img + y
        idx += num_conv
    return img


def ada_D(p, img, c=None, architecture="resnet", mbstd_group_size=4, conv_clamp=None, mapping_layers=2):
    """Discriminator.forward(img, c)."""
    R = int(np.log2(img.shape[2]))
    x = None
    for r in range(R, 2, -1):
        b = f"b{2**r}"
        if r == R or architecture == "skip":
            y = ada_conv2d_layer(p, b + ".fromrgb", img, "lrelu", conv_clamp=conv_clamp)
            x = y if x is None else x + y
            img = upfirdn(img, setup_kernel(), down=2, pad=(1, 1, 1, 1)) if architecture == "skip" else None
        if architecture == "resnet":
            y = ada_conv2d_layer(p, b + ".skip", x, down=2, gain=np.sqrt(0.5))
            x = ada_conv2d_layer(p, b + ".conv0", x, "lrelu", conv_clamp=conv_clamp)
            x = ada_conv2d_layer(p, b + ".conv1", x, "lrelu", down=2, conv_clamp=conv_clamp, gain=np.sqrt(0.5))
            x = y + x
        else:
            x = ada_conv2d_layer(p, b + ".conv0", x, "lrelu", conv_clamp=conv_clamp)
            x = ada_conv2d_layer(p, b + ".conv1", x, "lrelu", down=2, conv_clamp=conv_clamp)
    if architecture == "skip":
        x = x + ada_conv2d_layer(p, "b4.fromrgb", img, "lrelu")
    if mbstd_group_size:
        x = minibatch_std(x, mbstd_group_size)
    x = ada_conv2d_layer(p, "b4.conv", x, "lrelu", conv_clamp=conv_clamp)
    x = ada_fc(x.reshape(len(x), -1), p, "b4.fc", act="lrelu")
    x = ada_fc(x, p, "b4.out")
    if c is not None:
        cmap = ada_mapping(p, "mapping.", None, c, mapping_layers)
        x = np.sum(x * cmap, axis=1, keepdims=True) / np.sqrt(cmap.shape[1])
    return x
