"""The step the optimizer takes, end to end through the loop (not only each loss term): lazy regularization's
interval gain, R1's gamma / 2, path length's weight, and style mixing.

The optimizers are swapped for plain SGD, so a phase's weight change divided by -lr IS the gradient handed to the
optimizer; it is compared with a gradient computed independently in NumPy.
"""

import fixtures
import keras
import numpy as np
import pytest
import tensorflow as tf

from stylegan2.training import cli
from stylegan2.training.method import StepContext, register_method
from stylegan2.training.stylegan2_method import StyleGAN2Method

LR = 1e-3


@keras.saving.register_keras_serializable(package="stylegan2_tests")
class LinearD(keras.Model):
    """D(x) = <v, x> + b: its input gradient is v for every image, so R1 per sample is ||v||^2 exactly."""

    def __init__(self, size, **kwargs):
        super().__init__(**kwargs)
        self.size = size

    def build(self, input_shape=None):
        self.v = self.add_weight(name="v", shape=(self.size,), initializer=keras.initializers.RandomNormal(seed=3))
        self.b = self.add_weight(name="b", shape=(), initializer="zeros")
        self.built = True

    def call(self, images, c=None):
        flat = tf.reshape(images, [tf.shape(images)[0], -1])
        return tf.reduce_sum(flat * self.v, axis=1, keepdims=True) + self.b

    def get_config(self):
        return {**super().get_config(), "size": self.size}


@register_method
class LinearDMethod(StyleGAN2Method):
    name = "test-linear-d"

    def build_networks(self, dataset):
        G, _ = super().build_networks(dataset)
        D = LinearD(int(np.prod(dataset.shape)), name="discriminator")
        D.build()
        return G, D


@register_method
class QuadraticGReg(StyleGAN2Method):
    """G's regularization phase with a penalty known in closed form: 0.5 * ||const||^2 per sample, times pl_weight."""
    name = "test-quadratic-greg"

    def g_reg(self, ctx):
        const = next(w for w in ctx.G.trainable_weights if "const" in w.path)
        penalty = 0.5 * tf.reduce_sum(tf.square(const)) * tf.ones([ctx.local_batch])
        return penalty * ctx.options.hparams["pl_weight"], {"Loss/pl_penalty": penalty}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return fixtures.write_random_dataset(tmp_path_factory.mktemp("step"), 16, seed=0)


def sgd_loop(data_dir, tmp_path, *extra):
    options, _ = cli.build_options(["--data-dir", data_dir, "--dataset", "ds", "--config", "tiny", "--batch", "8",
                                    "--result-dir", str(tmp_path), *extra])
    return fixtures.sgd_training_loop(options, LR)


def gradient_of_step(loop, step, phase, variable):
    """-(change of `variable`) / lr over one run of a phase's compiled step: the gradient the optimizer received."""
    before = np.array(variable, np.float64)
    step(loop.rng.make_seeds(1)[:, 0], *loop.method.phase_inputs(phase, loop))
    return (before - np.array(variable, np.float64)) / LR


@pytest.mark.parametrize("gamma", [3.0, 0.5])
def test_r1_step_is_interval_times_gamma_over_two_times_the_penalty_gradient(data_dir, tmp_path, gamma):
    loop = sgd_loop(data_dir, tmp_path, "--method", "test-linear-d", "--gamma", str(gamma))
    v = np.array(loop.D.v, np.float64)
    grad = gradient_of_step(loop, loop.d_reg_step, "D_reg", loop.D.v)
    # R1 per sample = ||dD/dx||^2 = ||v||^2; loss = gamma / 2 * ||v||^2; d/dv = gamma * v; NV's gain: x D_reg_interval.
    expected = loop.options.hparams["D_reg_interval"] * gamma * v
    assert loop.options.hparams["D_reg_interval"] == 16
    np.testing.assert_allclose(grad, expected, rtol=2e-3, atol=1e-6)


def test_d_main_step_has_no_gain(data_dir, tmp_path):
    """The main phase is not scaled: D_main's gradient on a linear D is the logistic loss's, in NumPy."""
    loop = sgd_loop(data_dir, tmp_path, "--method", "test-linear-d")
    reals = loop.method.phase_inputs("D_main", loop)
    v, b = np.array(loop.D.v, np.float64), float(loop.D.b)
    seed = loop.rng.make_seeds(1)[:, 0]
    # The fakes of this step, from the same seed, as D_main draws them.
    ctx = StepContext(loop, seed, loop.batch)
    fakes, _ = loop.method.generate(ctx)
    x_real = np.asarray(reals[0], np.float64).reshape(8, -1)
    x_fake = np.asarray(fakes, np.float64).reshape(8, -1)
    sigmoid = lambda t: 1 / (1 + np.exp(-t))  # noqa: E731
    # loss = mean softplus(D(fake)) + softplus(-D(real)); d/dv = mean sigmoid(D(f)) f - sigmoid(-D(r)) r
    expected = (sigmoid(x_fake @ v + b)[:, None] * x_fake - sigmoid(-(x_real @ v + b))[:, None] * x_real).mean(0)
    before = np.array(loop.D.v, np.float64)
    loop.d_main_step(seed, *reals)
    grad = (before - np.array(loop.D.v, np.float64)) / LR
    np.testing.assert_allclose(grad, expected, rtol=2e-3, atol=1e-5)


@pytest.mark.parametrize("pl_weight", [2.0, 0.25])
def test_g_reg_step_is_interval_times_weight_times_the_penalty_gradient(data_dir, tmp_path, pl_weight):
    loop = sgd_loop(data_dir, tmp_path, "--method", "test-quadratic-greg")
    loop.options.hparams["pl_weight"] = pl_weight
    loop._build_steps()
    const = next(w for w in loop.G.trainable_weights if "const" in w.path)
    c = np.array(const, np.float64)
    grad = gradient_of_step(loop, loop.g_reg_step, "G_reg", const)
    # mean over the batch of pl_weight * 0.5 * ||c||^2 -> pl_weight * c; NV's gain: x G_reg_interval (4).
    np.testing.assert_allclose(grad, 4 * pl_weight * c, rtol=2e-3, atol=1e-6)


def test_path_length_phase_loss_is_weight_times_penalty(data_dir, tmp_path):
    loop = sgd_loop(data_dir, tmp_path)
    stats = {k: float(s) / float(n) for k, (s, n) in loop.g_reg_step(loop.rng.make_seeds(1)[:, 0]).items()}
    assert stats["Loss/pl_penalty"] > 0
    np.testing.assert_allclose(stats["Loss/G/reg"], loop.options.hparams["pl_weight"] * stats["Loss/pl_penalty"],
                               rtol=1e-5)


@pytest.mark.parametrize("prob", [1.0, 0.0])
def test_style_mixing_mixes_two_latents_at_one_cutoff(data_dir, tmp_path, prob):
    loop = sgd_loop(data_dir, tmp_path)
    loop.options.hparams["style_mixing_prob"] = prob
    G, b = loop.G, 6
    ctx = StepContext(loop, tf.constant([5, 7], tf.int64), b)
    z = tf.random.normal([b, G.z_dim], seed=1)
    ws, _ = loop.method.training_styles(ctx, z, tf.zeros([b, 0]), b)
    ws = np.array(ws)
    own = np.array(G.mapping(z, tf.zeros([b, 0])))
    same = np.all(np.isclose(ws, own, atol=1e-6), axis=(0, 2))  # per layer: all samples equal their own w
    if prob == 0:
        assert same.all()
        return
    cutoff = int(np.argmin(same))
    assert 1 <= cutoff < G.num_ws and same[:cutoff].all() and not same[cutoff:].any()
    # The mixed layers hold one other latent's w for every layer after the cutoff.
    np.testing.assert_allclose(ws[:, cutoff:], np.repeat(ws[:, cutoff:cutoff + 1], G.num_ws - cutoff, axis=1),
                               atol=1e-6)
