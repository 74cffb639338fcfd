"""StyleGAN2 loss terms against direct computations; lazy regularization pattern; corrected Adam."""

import numpy as np
import pytest
import tensorflow as tf

from stylegan2 import losses


def test_logistic_losses():
    fake = tf.constant([[-1.0], [2.0]])
    real = tf.constant([[0.5], [-3.0]])
    np.testing.assert_allclose(losses.g_nonsaturating(fake), np.log1p(np.exp([1.0, -2.0])), rtol=1e-6)
    expected = np.log1p(np.exp([-1.0, 2.0])) + np.log1p(np.exp([-0.5, 3.0]))
    np.testing.assert_allclose(losses.d_logistic(real, fake), expected, rtol=1e-6)


def test_r1_penalty_matches_the_analytic_gradient():
    # D(x) = sum(w * x^2) + sum(c): dD/dx = 2 w x, so R1 = sum((2 w x)^2) per sample.
    rnd = np.random.RandomState(0)
    w = rnd.randn(4, 4, 3).astype(np.float32)
    x = rnd.randn(5, 4, 4, 3).astype(np.float32)
    c = rnd.randn(5, 2).astype(np.float32)

    def discriminate(images, labels):
        return tf.reduce_sum(w * images**2, axis=[1, 2, 3])[:, None] + tf.reduce_sum(labels, axis=1, keepdims=True)

    penalty, logits = losses.r1_penalty(discriminate, tf.constant(x), tf.constant(c))
    np.testing.assert_allclose(penalty, np.sum((2 * w * x) ** 2, axis=(1, 2, 3)), rtol=1e-5)
    assert logits.shape == (5, 1)


def test_r1_penalty_on_a_real_discriminator_matches_finite_differences():
    from stylegan2.presets import build_networks

    _, D = build_networks("tiny", 8, 3, D_kwargs=dict(mbstd_group_size=1))
    x = tf.constant(np.random.RandomState(1).randn(2, 8, 8, 3).astype(np.float32))
    penalty, _ = losses.r1_penalty(lambda images, labels: D(images, labels), x, tf.zeros([2, 0]))
    # finite differences of sum(D) along a random direction: (dD . v) for each sample
    v = np.random.RandomState(2).randn(2, 8, 8, 3).astype(np.float32)
    v /= np.sqrt(np.sum(v**2, axis=(1, 2, 3), keepdims=True))  # unit steps: stay clear of lrelu kinks
    with tf.GradientTape() as tape:
        tape.watch(x)
        total = tf.reduce_sum(D(x, tf.zeros([2, 0])))
    grad = tape.gradient(total, x).numpy()
    eps = 1e-3
    numeric = (np.asarray(D(x + eps * v, tf.zeros([2, 0]))) - np.asarray(D(x - eps * v, tf.zeros([2, 0])))) / (2 * eps)
    np.testing.assert_allclose(numeric[:, 0], np.sum(grad * v, axis=(1, 2, 3)), rtol=2e-2, atol=1e-3)
    np.testing.assert_allclose(penalty, np.sum(grad**2, axis=(1, 2, 3)), rtol=1e-5)


def test_path_lengths_match_a_linear_synthesis():
    # images = ws (flattened) @ M: J^T y = M y', so length = sqrt(mean_L(sum_w (M y')^2)) with y' = y / sqrt(H W).
    rnd = np.random.RandomState(0)
    n, num_ws, w_dim, res, ch = 3, 4, 5, 4, 2
    M = rnd.randn(num_ws * w_dim, res * res * ch).astype(np.float32)
    ws = rnd.randn(n, num_ws, w_dim).astype(np.float32)
    y = rnd.randn(n, res, res, ch).astype(np.float32)

    def synthesize(w):
        return tf.reshape(tf.reshape(w, [n, -1]) @ M, [n, res, res, ch])

    lengths, _ = losses.path_lengths(synthesize, tf.constant(ws), tf.constant(y))
    jt_y = (y.reshape(n, -1) / np.sqrt(res * res)) @ M.T  # [n, num_ws * w_dim]
    expected = np.sqrt(np.mean(np.sum(jt_y.reshape(n, num_ws, w_dim) ** 2, axis=2), axis=1))
    np.testing.assert_allclose(lengths, expected, rtol=1e-5)


def test_path_length_penalty_and_running_mean():
    lengths = tf.constant([1.0, 2.0, 4.0])
    penalty, new_mean = losses.path_length_penalty(lengths, tf.constant(0.5), tf.reduce_mean(lengths), 0.01)
    a = 0.5 + 0.01 * (7 / 3 - 0.5)
    np.testing.assert_allclose(new_mean, a, rtol=1e-6)
    np.testing.assert_allclose(penalty, (np.array([1, 2, 4]) - a) ** 2, rtol=1e-6)


@pytest.fixture(scope="module")
def tiny_loop(tmp_path_factory):
    import fixtures
    from stylegan2.training.cli import build_options
    from stylegan2.training.loop import TrainingLoop

    root = fixtures.write_random_dataset(tmp_path_factory.mktemp("loop"), 32)
    options, _ = build_options(["--data-dir", root, "--dataset", "ds", "--config", "tiny"])
    return TrainingLoop(options)


def test_lazy_regularization_pattern(tiny_loop):
    pattern = [tiny_loop.phases(step) for step in range(33)]
    assert [s for s, p in enumerate(pattern) if "G_reg" in p] == [0, 4, 8, 12, 16, 20, 24, 28, 32]
    assert [s for s, p in enumerate(pattern) if "D_reg" in p] == [0, 16, 32]
    assert pattern[0] == ["G_main", "G_reg", "D_main", "D_reg"] and pattern[1] == ["G_main", "D_main"]


def test_adam_hyper_parameters_are_corrected_for_lazy_regularization(tiny_loop):
    # NV: c = interval / (interval + 1); lr *= c, beta1 **= c, beta2 **= c (G: 0.0016, 0.991992; D: 0.0018824, 0.990585)
    G_opt, D_opt = tiny_loop.G_opt, tiny_loop.D_opt
    np.testing.assert_allclose(float(G_opt.learning_rate), 0.002 * 4 / 5, rtol=1e-6)
    np.testing.assert_allclose(G_opt.beta_2, 0.99 ** 0.8, rtol=1e-7)
    np.testing.assert_allclose(float(D_opt.learning_rate), 0.002 * 16 / 17, rtol=1e-6)
    np.testing.assert_allclose(D_opt.beta_2, 0.99 ** (16 / 17), rtol=1e-7)
    assert G_opt.beta_1 == 0.0 and D_opt.beta_1 == 0.0 and G_opt.epsilon == 1e-8
    # G_ema half-life of 10 kimg at the global batch (tiny: 8): beta = 0.5 ** (8 / 10000)
    np.testing.assert_allclose(tiny_loop.ema_beta(), 0.5 ** (8 / 10000), rtol=1e-12)
