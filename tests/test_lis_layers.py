"""LIS maths against independent NumPy: weight-normalised dense (init, eps 1e-6), TPReLU/PReLU, the residual module,
the chain at every depth on z and on w, the stochastic-depth and R-iterative gate probabilities, and the similarity
loss."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from lis import depth as lis_depth
from lis.layers import LISDense, LISModule, PReLU
from lis.losses import similarity_terms
from lis.networks import Encoder, LISGenerator, LISMappingNetwork

RND = np.random.RandomState(0)


# === NumPy reference (written from the original's formulas, not from lis/) ===


def np_wn_dense(x, weight, scale=None, bias=None):
    """WN-GAN WeightNormalizedLinear: weight [out, in] as torch; W / sqrt(sum_in W^2 + 1e-6) per output row."""
    norm = np.sqrt((weight ** 2).sum(axis=1, keepdims=True) + 1e-6)
    w = weight / norm
    if scale is not None:
        w = w * scale[:, None]
    y = x @ w.T
    return y if bias is None else y + bias


def np_tprelu(x, a, b):
    a = np.clip(a, 0, 1)
    t = x - b
    return np.where(t > 0, t, a * t) + b


def np_prelu(x, a):
    return np.where(x > 0, x, a * x)


def effective(layer_weight, lrmul):
    return np.asarray(layer_weight, np.float64) * lrmul


def np_module(x, module):
    """x + fc2(act(fc1(x))) from a LISModule's stored weights (torch layout: weight.T)."""
    m = module.lr_multiplier

    def dense(layer, v):
        w = effective(layer.weight, m).T
        if layer.weight_norm:
            scale = effective(layer.scale, m) if layer.scale is not None else None
            bias = effective(layer.bias, m) if layer.bias is not None else None
            return np_wn_dense(v, w, scale, bias)
        return v @ w.T + effective(layer.bias, m)

    h = dense(module.fc1, x)
    a = effective(module.act.slope, m)
    h = np_tprelu(h, a, effective(module.act.shift, m)) if module.act.translated else np_prelu(h, a)
    return x + dense(module.fc2, h)


# === Layers ===


@pytest.mark.parametrize("lrmul", [1.0, 0.01])
@pytest.mark.parametrize("scale,bias", [(False, False), (True, True)])
def test_weight_norm_dense_matches_wn_gan(lrmul, scale, bias):
    layer = LISDense(7, weight_norm=True, scale=scale, bias=bias, init_factor=0.01, lr_multiplier=lrmul)
    layer.build((None, 5))
    w = effective(layer.weight, lrmul)
    assert np.abs(w).max() <= 0.01 / np.sqrt(5) + 1e-9 and np.abs(w).max() > 0.5 * 0.01 / np.sqrt(5)
    if scale:
        layer.scale.assign(RND.uniform(0.5, 2, 7) / lrmul)
        layer.bias.assign(RND.uniform(-1, 1, 7) / lrmul)
    x = RND.randn(4, 5)
    expected = np_wn_dense(x, w.T, effective(layer.scale, lrmul) if scale else None,
                           effective(layer.bias, lrmul) if bias else None)
    np.testing.assert_allclose(np.asarray(layer(x.astype(np.float32))), expected, rtol=1e-4, atol=1e-6)
    # At init the eps matters: the rows' squared norms (~3e-5 on average) are not >> 1e-6.
    without_eps = x @ (w / np.sqrt((w ** 2).sum(axis=0, keepdims=True)))
    if not scale:
        assert np.abs(without_eps - expected).max() > 1e-3


def test_plain_dense_has_pytorch_linear_init():
    layer = LISDense(64, weight_norm=False, bias=True, init_factor=1.0, lr_multiplier=0.01)
    layer.build((None, 100))
    for w in (effective(layer.weight, 0.01), effective(layer.bias, 0.01)):
        assert np.abs(w).max() <= 0.1 + 1e-7 and np.abs(w).max() > 0.09  # U(+-1/sqrt(100))
    x = RND.randn(3, 100)
    np.testing.assert_allclose(np.asarray(layer(x.astype(np.float32))),
                               x @ effective(layer.weight, 0.01) + effective(layer.bias, 0.01), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("lrmul", [1.0, 0.01])
def test_tprelu_and_prelu_match_numpy(lrmul):
    x = RND.randn(6, 4).astype(np.float32) * 2
    t = PReLU(translated=True, lr_multiplier=lrmul)
    t.build((None, 4))
    np.testing.assert_allclose(effective(t.slope, lrmul), 0.25)
    np.testing.assert_allclose(np.asarray(t(x)), np_tprelu(x, 0.25, 0.0), rtol=1e-6)
    a, b = np.array([1.5, -0.3, 0.6, 0.0]), np.array([0.4, -1.0, 0.0, 2.0])  # slopes outside [0,1] are clamped
    t.slope.assign(a / lrmul)
    t.shift.assign(b / lrmul)
    np.testing.assert_allclose(np.asarray(t(x)), np_tprelu(x, a, b), rtol=1e-5, atol=1e-6)
    p = PReLU(translated=False, lr_multiplier=lrmul)
    p.build((None, 4))
    p.slope.assign(a / lrmul)  # no clamp, no shift
    np.testing.assert_allclose(np.asarray(p(x)), np_prelu(x, a), rtol=1e-5, atol=1e-6)
    assert p.shift is None and len(p.weights) == 1


@pytest.mark.parametrize("norm", ["weight", "weight-affine", "none"])
def test_module_is_residual_fc_act_fc(norm):
    module = LISModule(8, norm, lr_multiplier=0.01)
    module.build()
    counts = {"weight": 4, "weight-affine": 7, "none": 5}  # fc1, act (slope[, shift]), fc2 (+ scale, bias)
    assert len(module.weights) == counts[norm]
    assert module.act.translated == (norm == "weight")
    for w in module.weights:  # give every parameter a non-trivial value
        w.assign(np.asarray(w) * RND.uniform(0.5, 1.5, w.shape) + RND.randn(*w.shape) * 0.1 / 0.01 ** 0)
    x = RND.randn(5, 8)
    np.testing.assert_allclose(np.asarray(module(x.astype(np.float32))), np_module(x, module), rtol=2e-4, atol=2e-5)


def test_weight_norm_module_residual_is_not_zero_at_init():
    """The original's quirk: with WN and no scale, each residual output is a unit-norm projection of its input."""
    module = LISModule(64, "weight", 0.01)
    module.build()
    x = RND.randn(256, 64).astype(np.float32)
    residual = np.asarray(module(x)) - x
    assert 0.2 < residual.std() < 2.0


# === The chain in the mapping network ===


def tiny_generator(space="z", modules=3, **mapping):
    G = LISGenerator(z_dim=8, w_dim=8, img_resolution=8, img_channels=1, name="generator",
                     mapping_kwargs=dict(num_layers=2, lis_modules=modules, lis_space=space, **mapping),
                     synthesis_kwargs=dict(fmap_base=64, fmap_max=8))
    G.build()
    return G


def plain_mapping(G, x, c=None):
    """StyleGAN2's mapping of x without LIS (the parent class's call on the same weights)."""
    from stylegan2.networks import MappingNetwork

    return np.asarray(MappingNetwork.call(G.mapping, tf.constant(x, tf.float32), c))


@pytest.mark.parametrize("space", ["z", "w"])
def test_chain_at_every_depth_matches_numpy(space):
    G = tiny_generator(space)
    z = RND.randn(6, 8).astype(np.float32)
    base = z.astype(np.float64) if space == "z" else plain_mapping(G, z)[:, 0].astype(np.float64)
    expected = [base]
    for module in G.mapping.lis:
        expected.append(np_module(expected[-1], module))
    for depth in range(4):
        ws, got_base, codes = G.mapping.map_with_codes(z, None, depth)
        assert len(codes) == depth
        np.testing.assert_allclose(np.asarray(got_base), base, rtol=1e-4, atol=1e-5)
        for got, want in zip(codes, expected[1:]):
            np.testing.assert_allclose(np.asarray(got), want, rtol=1e-3, atol=1e-4)
        if space == "z":
            want_ws = plain_mapping(G, expected[depth].astype(np.float32))
        else:
            want_ws = np.repeat(expected[depth][:, None], G.num_ws, axis=1)
        np.testing.assert_allclose(np.asarray(ws), want_ws, rtol=1e-3, atol=1e-4)
        # The training path (a tensor depth: every module runs, the output after `depth` of them is used) agrees.
        ws_t, _, codes_t = G.mapping.map_with_codes(z, None, tf.constant(depth))
        assert len(codes_t) == 3
        np.testing.assert_allclose(np.asarray(ws_t), np.asarray(ws), rtol=1e-6, atol=1e-6)
        # call() with depth, and the generation setting mapping.depth.
        np.testing.assert_allclose(np.asarray(G.mapping(z, depth=depth)), np.asarray(ws), rtol=1e-6, atol=1e-6)
        G.mapping.depth = depth
        np.testing.assert_allclose(np.asarray(G.mapping(z)), np.asarray(ws), rtol=1e-6, atol=1e-6)
    G.mapping.depth = 3
    with pytest.raises(ValueError, match="depth 4 outside 0..3"):
        G.mapping(z, depth=4)


def test_generator_round_trips_through_keras_files(tmp_path):
    G = tiny_generator("w", 2, lis_norm="weight-affine")
    path = str(tmp_path / "g.keras")
    G.save(path)
    H = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(H, LISGenerator) and isinstance(H.mapping, LISMappingNetwork)
    assert H.mapping.lis_space == "w" and H.mapping.lis_norm == "weight-affine" and H.mapping.depth == 2
    z = RND.randn(3, 8).astype(np.float32)
    np.testing.assert_allclose(np.asarray(H(z, noise_mode="const")), np.asarray(G(z, noise_mode="const")), atol=1e-6)
    assert [w.path for w in H.weights] == [w.path for w in G.weights]


def test_encoder_spatial_dropout_zeroes_whole_channels():
    R = Encoder(z_dim=6, img_resolution=16, img_channels=1, fmap_base=64, fmap_max=8, spatial_dropout=0.5)
    R.build()
    assert R.dropout_channels == [8, 8]  # after b8 (not the first block, b16) and after the 4x4 conv
    img = RND.randn(4, 16, 16, 1).astype(np.float32)
    # A channel is kept when u >= p, scaled by 1 / (1 - p); all of a sample's pixels share it (Dropout2d).
    x = RND.randn(4, 3, 3, 8).astype(np.float32)
    u = RND.uniform(size=(4, 1, 1, 8)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(R._dropout(x, u)), x * (u >= 0.5) / 0.5, rtol=1e-6)
    # Without noise (inference, the original's R.eval()) there is no dropout and no scaling.
    keep = [np.ones([4, 1, 1, 8], np.float32) for _ in range(2)]
    assert not np.allclose(np.asarray(R(img)), np.asarray(R(img, dropout_noise=keep)))
    drop_all = [np.ones([4, 1, 1, 8], np.float32), np.zeros([4, 1, 1, 8], np.float32)]
    zeroed = np.asarray(R(img, dropout_noise=drop_all))  # every channel after the 4x4 conv dropped
    np.testing.assert_allclose(zeroed, np.repeat(zeroed[:1], 4, axis=0), atol=1e-6)  # the image no longer matters
    with pytest.raises(ValueError, match="1 dropout noise tensors, expected 2"):
        R(img, dropout_noise=keep[:1])


# === Stochastic depth, the R-iterative gate, the similarity loss ===


def test_depth_probabilities_are_the_originals():
    np.testing.assert_allclose(lis_depth.break_probabilities(3), [1 / 8, 1 / 4, 1 / 2])
    np.testing.assert_allclose(lis_depth.depth_distribution(3), [1 / 8, 7 / 32, 21 / 64, 21 / 64])
    np.testing.assert_allclose(lis_depth.depth_distribution(1), [1 / 2, 1 / 2])
    for n in range(6):
        assert abs(lis_depth.depth_distribution(n).sum() - 1) < 1e-12


def test_depth_from_uniforms_is_the_first_break():
    """The original's loop: for module i, `if random.random() < p_i: break`; depth = modules run."""
    rnd = np.random.RandomState(1)
    p = lis_depth.break_probabilities(3)
    for _ in range(200):
        u = rnd.uniform(size=3)
        depth = next((i for i in range(3) if u[i] < p[i]), 3)
        assert int(lis_depth.depth_from_uniforms([tf.constant(v, tf.float32) for v in u], 3)) == depth


def test_drawn_depths_follow_the_distribution():
    from stylegan2.training.method import Draws

    counts = np.zeros(4)
    n = 4000
    for s in range(n):
        draws = Draws(tf.constant([s, 7], tf.int64), 8)
        counts[int(lis_depth.depth_from_uniforms([draws.scalar() for _ in range(3)], 3))] += 1
    expected = lis_depth.depth_distribution(3)
    assert np.all(np.abs(counts / n - expected) < 4 * np.sqrt(expected * (1 - expected) / n))


def test_r_iterative_gate():
    np.testing.assert_allclose(lis_depth.gate_probabilities(3), [1 / 4, 2 / 4, 3 / 4, 1])
    np.testing.assert_allclose(lis_depth.first_trained_distribution(3), [1 / 4, 3 / 8, 9 / 32, 3 / 32])
    rnd = np.random.RandomState(2)
    for _ in range(100):
        u = rnd.uniform(size=4)
        trained, last = [], False  # r_iterative/main.py, step by step
        for k in range(4):
            last = last or k == 3 or u[k] <= (k + 1) / 4
            trained.append(float(last))
        got = lis_depth.trained_steps_from_uniforms([tf.constant(v, tf.float32) for v in u])
        np.testing.assert_array_equal(np.asarray(got), trained)


@pytest.mark.parametrize("depth", [0, 1, 3])
def test_similarity_loss_sums_the_executed_modules_against_the_original_z(depth):
    z = RND.randn(5, 6)
    codes = [z + RND.randn(5, 6) * s for s in (0.5, 1.0, 2.0)]
    total, terms = similarity_terms(tf.constant(z, tf.float32), [tf.constant(c, tf.float32) for c in codes],
                                    tf.constant(depth), 0.9)
    # sum_{i=1..k} 0.9^i * mean over dims of (z'_i - z)^2, per sample (the loop's batch mean gives nn.MSELoss)
    expected = sum(0.9 ** i * ((codes[i - 1] - z) ** 2).mean(axis=1) for i in range(1, depth + 1)) + np.zeros(5)
    np.testing.assert_allclose(np.asarray(total), expected, rtol=1e-5, atol=1e-7)
    for i, t in enumerate(terms, start=1):
        assert (np.asarray(t) == 0).all() == (i > depth)
