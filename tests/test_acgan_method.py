"""`--method acgan` on the training loop: the original's flags, the phases' losses and the optimizer's step against
NumPy, R1 on the source head only, fake-label sampling, 1 device == 2 replicas, and a CIFAR-10-format fixture
trained end to end (both architectures), resumed exactly, sampled per class and scored (per-class IS)."""

import json
import os

import keras
import numpy as np
import PIL.Image
import pytest
import tensorflow as tf

from acgan.method import ACGANMethod
from stylegan2.dataset import ImageDataset
from stylegan2.dataset_tool.cli import run as dataset_tool
from stylegan2.errors import UserError
from stylegan2.generate import run as run_generator
from stylegan2.metrics import arithmetic
from stylegan2.metrics.runner import MetricContext, run_metrics, to_uint8_range
from stylegan2.tfrecords import TFRecordExporter
from stylegan2.training import cli
from stylegan2.training.loop import TrainingLoop
from stylegan2.training.method import StepContext, register_method
from stylegan2.training.snapshot import load_snapshot, read_metadata
from stylegan2.training.strategy import mirrored_strategy
from tests.fixtures import make_cifar10_dir, sgd_training_loop

LR = 0.1  # large enough that a step is far above float32 rounding of the weights
CLASS_COUNTS = (20, 6, 4, 2)  # the 'digits' fixture's images per class (imbalanced, for --fake-labels dataset)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """'digits': 32 16x16x1 images in 4 classes (CLASS_COUNTS); 'cifar': the CIFAR-10 python pickles written in their
    real format and converted by dataset_tool.py create_cifar10 (30 32x32x3 images, 10 classes); 'unlabelled' and
    'attributes' (two 0/1 columns per image) for the errors."""
    root = tmp_path_factory.mktemp("acgan")
    rnd = np.random.RandomState(0)
    classes = np.repeat(np.arange(4), CLASS_COUNTS)
    images = (rnd.rand(32, 1, 16, 16) * 255).astype(np.uint8)
    with TFRecordExporter(str(root / "digits"), 32, progress=False) as tfr:
        tfr.add_images(images)
        tfr.add_labels(np.eye(4)[classes], label_kind="onehot")
    with TFRecordExporter(str(root / "unlabelled"), 32, progress=False) as tfr:
        tfr.add_images(images)
    with TFRecordExporter(str(root / "attributes"), 32, progress=False) as tfr:
        tfr.add_images(images)
        tfr.add_labels(rnd.randint(0, 2, size=(32, 2)).astype(np.float32))
    dataset_tool(["create_cifar10", str(root / "cifar"), make_cifar10_dir(str(root / "src"), per_batch=6)])
    return str(root)


def build(data_dir, tmp_path, *extra, dataset="digits"):
    options, _ = cli.build_options(["--method", "acgan", "--data-dir", data_dir, "--dataset", dataset,
                                    "--result-dir", str(tmp_path / "results"), "--grid", "2x2",
                                    "--kimg-per-tick", "0.016", *extra])
    return options


# === Flags ===


def test_the_originals_flags_map_onto_the_projects_options(data_dir, tmp_path):
    o = build(data_dir, tmp_path, "--arch", "acgan_dcgan", "--niter", "3", dataset="cifar")
    h = o.hparams
    assert o.config == "acgan_dcgan" and o.conditional and o.batch == 100 and o.batch_gpu is None
    assert o.total_kimg == pytest.approx(3 * 30 / 1000)  # epochs of the dataset's 30 images
    assert (h["lr"], tuple(h["betas"]), h["eps"]) == (2e-4, (0.5, 0.999), 1e-8)  # main.py's Adam
    assert (h["r1_gamma"], h["pl_weight"], h["style_mixing_prob"], h["ema_kimg"]) == (0, 0, 0, 0)
    assert (h["G_reg_interval"], h["D_reg_interval"]) == (0, 0)  # no lazy-regularization correction of Adam
    o = build(data_dir, tmp_path, "--arch", "acgan_dcgan", "--batchSize", "64", "--lr", "0.001", "--beta1", "0.3",
              "--manualSeed", "7", "--nz", "120", "--imageSize", "32", "--num_classes", "10", "--gamma", "1",
              dataset="cifar")
    assert (o.batch, o.hparams["lr"], tuple(o.hparams["betas"]), o.seed) == (64, 0.001, (0.3, 0.999), 7)
    assert o.method_options["nz"] == 120 and o.hparams["r1_gamma"] == 1 and o.hparams["D_reg_interval"] == 16
    o = build(data_dir, tmp_path, "--config", "tiny", "--lr", "0.01")
    assert o.config == "tiny" and o.hparams["lr"] == 0.01 and tuple(o.hparams["betas"]) == (0.0, 0.99)
    assert o.total_kimg == pytest.approx(25 * 32 / 1000)  # the original's 25 epochs by default
    assert o.method_options["aux_weight"] == 1.0 and o.method_options["fake_labels"] == "uniform"
    assert build(data_dir, tmp_path, "--config", "tiny", "--total-kimg", "5").total_kimg == 5


def test_ada_cifar_sets_adas_cifar_choices_and_the_discriminators_group(data_dir, tmp_path):
    o = build(data_dir, tmp_path, "--config", "tiny", "--batch", "32")
    assert (o.hparams["pl_weight"], o.hparams["style_mixing_prob"], o.hparams["mbstd_group_size"]) == (2.0, 0.9, 4)
    o = build(data_dir, tmp_path, "--config", "tiny", "--batch", "32", "--ada-cifar", "true", "--gamma", "0.5")
    h = o.hparams
    assert (h["pl_weight"], h["style_mixing_prob"], h["mbstd_group_size"]) == (0, 0, 32)
    assert (h["ema_kimg"], h["ema_rampup"], h["r1_gamma"], h["G_reg_interval"]) == (500, 0.05, 0.5, 4)
    G, D = ACGANMethod(o).build_networks(ImageDataset(os.path.join(data_dir, "digits")))
    assert D.mbstd_group_size == 32 and D.mbstd.group_size == 32
    assert D(np.zeros([32, 16, 16, 1], np.float32))[1].shape == (32, 4)


@pytest.mark.parametrize("argv, fragment", [
    (["--batchSize", "8", "--batch", "8"], "--batchSize and --batch/--minibatch-gpu: give one of them"),
    (["--niter", "2", "--total-kimg", "1"], "--niter and --total-kimg: give one of them"),
    (["--arch", "acgan_dcgan", "--config", "tiny"], "--config tiny: --arch acgan_dcgan trains the original's"),
    (["--imageSize", "32"], "--imageSize 32: "),
    (["--num_classes", "10"], "--num_classes 10: "),
    (["--aux-weight", "-1"], "--aux-weight -1.0: must be non-negative"),
    (["--aux-weight-g", "-1"], "--aux-weight-g -1.0: must be non-negative"),
    (["--lr", "0"], "--lr 0: must be positive"),
    (["--beta1", "1"], "--beta1 1.0: must be in [0, 1)"),
    (["--niter", "0"], "--niter 0: must be at least 1"),
    (["--fake-labels", "random"], "argument --fake-labels: invalid choice"),
    (["--legacy-softmax-nll", "maybe"], "argument --legacy-softmax-nll: expected a boolean"),
    (["--arch", "biggan"], "argument --arch: invalid choice"),
    (["--arch", "acgan_dcgan", "--ada-cifar", "true"], "--ada-cifar: sets StyleGAN2 training choices; drop it"),
])
def test_bad_flags_give_one_line(data_dir, tmp_path, argv, fragment):
    with pytest.raises(UserError) as info:
        build(data_dir, tmp_path, "--config", "tiny", *argv)
    assert fragment in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("dataset, argv, fragment", [
    ("unlabelled", [], "no labels; AC-GAN needs a class-labelled dataset"),
    ("attributes", [], "labels are not one class per image"),
    ("digits", ["--arch", "acgan_dcgan"], "32x32 (CIFAR-10) or 128x128 (ImageNet) images; this dataset is 16x16"),
])
def test_bad_datasets_give_one_line(data_dir, tmp_path, dataset, argv, fragment):
    config = [] if argv else ["--config", "tiny"]
    with pytest.raises(UserError) as info:
        TrainingLoop(build(data_dir, tmp_path, *config, *argv, dataset=dataset))
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_help_lists_the_flags_under_the_method():
    text = cli.build_parser().format_help()
    assert "AC-GAN (Odena et al. 2017): class-conditional G, auxiliary classifier in D (--method acgan):" in text
    for option in ("--arch", "--aux-weight", "--fake-labels", "--legacy-softmax-nll", "--nz", "--niter",
                   "--beta1", "--batchSize", "--imageSize", "--num_classes", "--manualSeed"):
        assert option in text, option


# === Losses of the phases, on the tiny StyleGAN2 networks ===


def np_softplus(x):
    return np.logaddexp(0.0, np.asarray(x, np.float64))


def np_softmax(logits):
    logits = np.asarray(logits, np.float64)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def np_cross_entropy(logits, onehot):
    return -np.log((np_softmax(logits) * onehot).sum(axis=1))


@pytest.mark.parametrize("legacy", [False, True])
def test_phase_losses_equal_numpy_on_d_outputs(data_dir, tmp_path, legacy):
    options = build(data_dir, tmp_path, "--config", "tiny", "--batch", "8", "--aux-weight", "0.5",
                    "--aux-weight-d-fake", "2", "--aux-weight-g", "3", "--legacy-softmax-nll", str(legacy))
    options.hparams["style_mixing_prob"] = 0.0
    loop = TrainingLoop(options)
    loop.prepare()
    method, D = loop.method, loop.D
    seed = tf.constant([4, 2], tf.int64)
    reals, labels, indices = (np.asarray(t) for t in method.phase_inputs("D_main", loop))
    loss, stats = method.d_main(StepContext(loop, seed, 8), tf.constant(reals), tf.constant(labels), indices)
    fakes, c = method.generate(StepContext(loop, seed, 8))  # the same draws as d_main's
    (s_f, l_f), (s_r, l_r) = D(fakes), D(reals)
    s_f, s_r = np.asarray(s_f, np.float64)[:, 0], np.asarray(s_r, np.float64)[:, 0]

    def class_term(logits, onehot):  # legacy: the original's NLLLoss on softmax probabilities, -p_y
        return -(np_softmax(logits) * onehot).sum(1) if legacy else np_cross_entropy(logits, onehot)

    expected = (np_softplus(-s_r) + np_softplus(s_f) + 0.5 * class_term(l_r, labels)
                + 2.0 * class_term(l_f, np.asarray(c)))
    np.testing.assert_allclose(loss, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(stats["Acc/real"], np.argmax(l_r, 1) == np.argmax(labels, 1))
    np.testing.assert_allclose(stats["Acc/fake"], np.argmax(l_f, 1) == np.argmax(c, 1))

    loss, stats = method.g_main(StepContext(loop, seed, 8))
    fakes, c = method.generate(StepContext(loop, seed, 8))
    s, logits = D(fakes)
    expected = np_softplus(-np.asarray(s, np.float64)[:, 0]) + 3.0 * class_term(logits, np.asarray(c))
    np.testing.assert_allclose(loss, expected, rtol=1e-4, atol=1e-5)


# === The optimizer's step (plain SGD swapped in), on linear stand-ins ===


@keras.saving.register_keras_serializable(package="acgan_tests")
class LinearAuxD(keras.Model):
    """s(x) = <v, x> + b, l(x) = x W + a: the two heads of AC-GAN's D on the flattened image."""

    def __init__(self, size, classes, **kwargs):
        super().__init__(**kwargs)
        self.size, self.classes = size, classes

    def build(self, input_shape=None):
        init = keras.initializers.RandomNormal(stddev=0.05, seed=3)
        self.v = self.add_weight(name="v", shape=(self.size,), initializer=init)
        self.b = self.add_weight(name="b", shape=(), initializer="zeros")
        self.W = self.add_weight(name="W", shape=(self.size, self.classes), initializer=init)
        self.a = self.add_weight(name="a", shape=(self.classes,), initializer="zeros")
        self.built = True

    def call(self, images, c=None):
        flat = tf.reshape(images, [tf.shape(images)[0], -1])
        return tf.reduce_sum(flat * self.v, axis=1, keepdims=True) + self.b, flat @ self.W + self.a

    def get_config(self):
        return {**super().get_config(), "size": self.size, "classes": self.classes}


class _LinearMapping(keras.layers.Layer):
    def __init__(self, z_dim, c_dim, w_dim, **kwargs):
        super().__init__(**kwargs)
        self.M = self.add_weight(name="M", shape=(z_dim + c_dim, w_dim),
                                 initializer=keras.initializers.RandomNormal(stddev=0.3, seed=4))

    def call(self, z, c):
        return tf.concat([z, c], axis=1)[:, None, :] @ self.M


class _LinearSynthesis(keras.layers.Layer):
    def __init__(self, w_dim, shape, **kwargs):
        super().__init__(**kwargs)
        self.shape_hwc, self.img_resolution, self.noise_shapes = shape, shape[0], []
        self.A = self.add_weight(name="A", shape=(w_dim, int(np.prod(shape))),
                                 initializer=keras.initializers.RandomNormal(stddev=0.3, seed=5))

    def call(self, ws, noise=None, noise_mode=None):
        return tf.reshape(ws[:, 0] @ self.A, [-1, *self.shape_hwc])


@keras.saving.register_keras_serializable(package="acgan_tests")
class LinearG(keras.Model):
    """The generator interface with linear maps: ws = [z, c] M (num_ws 1), image = w A."""

    def __init__(self, z_dim, c_dim, w_dim, shape, **kwargs):
        super().__init__(**kwargs)
        self.z_dim, self.c_dim, self.w_dim, self.num_ws, self.shape_hwc = z_dim, c_dim, w_dim, 1, list(shape)
        self.mapping = _LinearMapping(z_dim, c_dim, w_dim, name="mapping")
        self.synthesis = _LinearSynthesis(w_dim, list(shape), name="synthesis")

    def build(self, input_shape=None):
        self.built = True

    def update_w_avg(self, ws):
        pass

    def call(self, z, c=None, truncation_psi=1.0, noise=None):
        return self.synthesis(self.mapping(z, c))

    def get_config(self):
        return {**super().get_config(), "z_dim": self.z_dim, "c_dim": self.c_dim, "w_dim": self.w_dim,
                "shape": self.shape_hwc}


@register_method
class LinearACGAN(ACGANMethod):
    """AC-GAN's phases on the linear stand-ins (run with --method acgan's options: its flags are not redeclared)."""
    name = "test-acgan-linear"
    flags = ()

    def build_networks(self, dataset):
        self.c_dim = dataset.label_dim
        G = LinearG(6, self.c_dim, 5, dataset.shape, name="generator")
        D = LinearAuxD(int(np.prod(dataset.shape)), self.c_dim, name="discriminator")
        G.build()
        D.build()
        return G, D


def sgd_loop(data_dir, tmp_path, *extra):
    options, _ = cli.build_options(["--method", "acgan", "--data-dir", data_dir, "--dataset", "digits",
                                    "--config", "tiny", "--batch", "8", "--result-dir", str(tmp_path), *extra])
    options.method = LinearACGAN.name
    options.hparams["style_mixing_prob"] = 0.0
    return sgd_training_loop(options, LR)


def values(*variables):
    return [np.array(v, np.float64) for v in variables]


def class_grad(logits, onehot, legacy):
    """d(class term)/d(logits) per sample: CE's softmax - onehot; the original's -p_y: p_y (softmax - onehot)."""
    p = np_softmax(logits)
    return (p * onehot).sum(1, keepdims=True) * (p - onehot) if legacy else p - onehot


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


@pytest.mark.parametrize("legacy", [False, True])
def test_d_main_step_equals_the_numpy_gradient(data_dir, tmp_path, legacy):
    loop = sgd_loop(data_dir, tmp_path, "--aux-weight", "0.5", "--aux-weight-d-fake", "2",
                    "--legacy-softmax-nll", str(legacy))
    D = loop.D
    v, b, W, a = before = values(D.v, D.b, D.W, D.a)
    reals = loop.method.phase_inputs("D_main", loop)
    seed = loop.rng.make_seeds(1)[:, 0]
    fakes, c = loop.method.generate(StepContext(loop, seed, 8))  # the fakes of this step (same draws)
    x_r, y = np.asarray(reals[0], np.float64).reshape(8, -1), np.asarray(reals[1], np.float64)
    x_f, c = np.asarray(fakes, np.float64).reshape(8, -1), np.asarray(c, np.float64)
    loop.d_main_step(seed, *reals)
    grads = [(old - new) / LR for old, new in zip(before, values(D.v, D.b, D.W, D.a))]
    # loss = mean softplus(-s_r) + softplus(s_f) + 0.5 class(l_r, y) + 2 class(l_f, c)
    g_r, g_f = -sigmoid(-(x_r @ v + b)), sigmoid(x_f @ v + b)  # d/ds
    h_r, h_f = 0.5 * class_grad(x_r @ W + a, y, legacy), 2.0 * class_grad(x_f @ W + a, c, legacy)  # d/dl
    expected = [(g_r[:, None] * x_r + g_f[:, None] * x_f).mean(0), (g_r + g_f).mean(),
                (x_r.T @ h_r + x_f.T @ h_f) / 8, (h_r + h_f).mean(0)]
    for name, got, want in zip("vbWa", grads, expected):
        np.testing.assert_allclose(got, want, rtol=2e-3, atol=2e-5, err_msg=name)


def test_g_main_step_equals_the_numpy_gradient(data_dir, tmp_path):
    loop = sgd_loop(data_dir, tmp_path, "--aux-weight-g", "3")
    G, D = loop.G, loop.D
    A = values(G.synthesis.A)[0]
    v, b, W, a = values(D.v, D.b, D.W, D.a)
    seed = loop.rng.make_seeds(1)[:, 0]
    ws, c, _ = loop.method.sample_ws(StepContext(loop, seed, 8))  # the latents and classes of this step
    h, c = np.asarray(ws, np.float64)[:, 0], np.asarray(c, np.float64)
    loop.g_main_step(seed)
    grad = (A - values(G.synthesis.A)[0]) / LR
    x = h @ A
    # loss = mean softplus(-s(x)) + 3 CE(l(x), c); d/dx = -sigmoid(-s) v + 3 W (softmax - c); d/dA = h^T d/dx / 8
    dx = -sigmoid(-(x @ v + b))[:, None] * v[None, :] + 3.0 * (np_softmax(x @ W + a) - c) @ W.T
    np.testing.assert_allclose(grad, h.T @ dx / 8, rtol=2e-3, atol=2e-5)
    np.testing.assert_array_equal(values(D.v)[0], v)  # G's step leaves D alone


def test_r1_step_is_on_the_source_head_only(data_dir, tmp_path):
    """R1 = ||ds/dx||^2 = ||v||^2 on the linear D: the step is D_reg_interval x gamma x v for v, and exactly zero for
    the class head (W, a) and the bias."""
    loop = sgd_loop(data_dir, tmp_path, "--gamma", "2")
    D = loop.D
    before = values(D.v, D.b, D.W, D.a)
    loop.d_reg_step(loop.rng.make_seeds(1)[:, 0], *loop.method.phase_inputs("D_reg", loop))
    grads = [(old - new) / LR for old, new in zip(before, values(D.v, D.b, D.W, D.a))]
    np.testing.assert_allclose(grads[0], 16 * 2.0 * before[0], rtol=2e-3, atol=1e-6)
    assert np.all(grads[1] == 0) and np.all(grads[2] == 0) and np.all(grads[3] == 0)


def test_r1_on_the_stylegan2_discriminator_reads_the_source_logit_only(data_dir, tmp_path):
    options = build(data_dir, tmp_path, "--config", "tiny", "--batch", "8", "--gamma", "1")
    loop = TrainingLoop(options)
    loop.prepare()
    reals, labels, indices = loop.method.phase_inputs("D_reg", loop)
    loss, stats = loop.method.d_reg(StepContext(loop, tf.constant([1, 1], tf.int64), 8), reals, labels, indices)
    x = tf.constant(reals)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        source, classes = loop.D(x)
        both = tf.reduce_sum(source) + tf.reduce_sum(classes)
        source = tf.reduce_sum(source)
    np.testing.assert_allclose(stats["Loss/r1_penalty"],
                               tf.reduce_sum(tf.square(tape.gradient(source, x)), axis=[1, 2, 3]), rtol=1e-5)
    assert not np.allclose(stats["Loss/r1_penalty"],
                           tf.reduce_sum(tf.square(tape.gradient(both, x)), axis=[1, 2, 3]), rtol=1e-3)
    cls = [np.array(w) for w in loop.D.cls.weights]
    loop.d_reg_step(loop.rng.make_seeds(1)[:, 0], reals, labels, indices)
    for before, w in zip(cls, loop.D.cls.weights):
        np.testing.assert_array_equal(before, np.array(w))  # Adam moves nothing with a zero gradient


# === Fake labels ===


@pytest.mark.parametrize("kind", ["uniform", "dataset"])
def test_fake_labels_are_uniform_or_the_datasets_distribution(data_dir, tmp_path, kind):
    loop = TrainingLoop(build(data_dir, tmp_path, "--config", "tiny", "--fake-labels", kind))
    c = np.asarray(loop.method.fake_labels(StepContext(loop, tf.constant([3, 9], tf.int64), 8000), 8000))
    assert c.shape == (8000, 4) and np.all(c.sum(1) == 1)
    freq = c.mean(0)
    dataset_freq = np.array(CLASS_COUNTS) / sum(CLASS_COUNTS)
    np.testing.assert_allclose(freq, 0.25 if kind == "uniform" else dataset_freq, atol=0.02)
    meta = loop.method.sampling_metadata(loop)
    if kind == "uniform":
        assert meta == {"labels": "uniform"}
    else:
        assert meta["labels"] == "empirical"
        np.testing.assert_allclose(meta["probs"], dataset_freq)


# === 1 device == 2 replicas ===


def _two_steps(data_dir, tmp_path, strategy, *extra):
    options = build(data_dir, tmp_path, "--batch", "8", *extra, dataset="cifar")
    if options.config != "acgan_dcgan":
        options.network_overrides = {"D_kwargs": {"mbstd_group_size": 1}}  # NVIDIA's grouping is per device
    loop = TrainingLoop(options, strategy=strategy)
    loop.prepare()
    return loop, [loop.train_iteration() for _ in range(2)]


@pytest.mark.slow
@pytest.mark.parametrize("extra", [("--config", "tiny", "--gamma", "1"), ("--arch", "acgan_dcgan")])
def test_one_device_equals_two_replicas(data_dir, tmp_path, extra):
    """Labels, z and D's dropout uniforms are drawn for the global batch and sliced; the DCGAN's batch norm is
    synchronized over the replicas."""
    single, single_stats = _two_steps(data_dir, tmp_path, tf.distribute.get_strategy(), *extra)
    double, double_stats = _two_steps(data_dir, tmp_path, mirrored_strategy(["/cpu:0", "/cpu:1"]), *extra)
    for a, b in zip(single_stats, double_stats):
        assert a.keys() == b.keys() and {"Acc/real", "Acc/fake", "Loss/D/aux_fake"} <= a.keys()
        for name in a:
            np.testing.assert_allclose(a[name][0] / a[name][1], b[name][0] / b[name][1], rtol=1e-4, atol=1e-4,
                                       err_msg=name)
    for model in ("G", "D"):
        for wa, wb in zip(getattr(single, model).weights, getattr(double, model).weights):
            np.testing.assert_allclose(np.asarray(wa), np.asarray(wb), rtol=1e-4, atol=1e-4, err_msg=wa.path)


# === End to end on the CIFAR-10-format fixture ===


class StandInInception:
    """[N,H,W,3] in [0,255] -> {'logits': [N,10]}: a fixed random linear map of the 4x4-resized image."""

    name = "stand-in-inception"
    comparable = False

    def __init__(self):
        self.v = tf.constant(np.random.RandomState(0).randn(48, 10).astype(np.float32))

    def __call__(self, images):
        x = tf.reshape(tf.image.resize(tf.cast(images, tf.float32) / 255.0, [4, 4]), [-1, 48])
        return {"logits": x @ self.v, "pool": x}


def train(data_dir, result_dir, total_kimg, *extra):
    return cli.main(["--method", "acgan", "--data-dir", data_dir, "--dataset", "cifar", "--batch", "8",
                     "--total-kimg", str(total_kimg), "--kimg-per-tick", "0.016", "--snapshot-ticks", "1",
                     "--grid", "4x2", "--result-dir", str(result_dir), *extra])


def assert_same_weights(run_a, run_b):
    a, b = load_snapshot(run_a), load_snapshot(run_b)
    assert a.metadata["kimg"] == b.metadata["kimg"]
    for name in ("G", "D", "G_ema"):
        for wa, wb in zip(getattr(a, name).weights, getattr(b, name).weights):
            np.testing.assert_allclose(np.asarray(wa), np.asarray(wb), rtol=1e-5, atol=1e-6, err_msg=wa.path)
    return b


@pytest.mark.slow
@pytest.mark.parametrize("extra", [("--config", "tiny"), ("--arch", "acgan_dcgan")])
def test_cifar10_fixture_trains_resumes_exactly_generates_per_class_and_scores(data_dir, tmp_path, extra):
    full = train(data_dir, tmp_path / "a", 0.032, *extra)
    part = train(data_dir, tmp_path / "b", 0.016, *extra)
    assert cli.main(["--data-dir", data_dir, "--dataset", "cifar", "--resume", part, "--total-kimg", "0.032"]) == part
    assert "Resumed from the checkpoint at kimg 0.0 (iteration 2)" in open(os.path.join(part, "log.txt")).read()
    snap = assert_same_weights(full, part)

    # Outputs: per-tick accuracies, the per-class grid (a row per class), the sampling record.
    files = set(os.listdir(full))
    assert {"reals.png", "fakes_init.png", "fakes-classes_init.png", "fakes-classes000000.016.png",
            "fakes-classes000000.032.png", "fakes000000.032.png"} <= files
    assert PIL.Image.open(os.path.join(full, "fakes-classes000000.032.png")).size == (10 * 32, 10 * 32)
    ticks = [line for line in open(os.path.join(full, "log.txt")).read().splitlines() if line.startswith("tick ")]
    assert len(ticks) == 2 and all("Acc/real" in t and "Acc/fake" in t for t in ticks)
    meta = read_metadata(os.path.join(full, "network-snapshot-000000.032.keras"))
    assert meta["method"] == "acgan" and meta["sampling"] == {"labels": "uniform"}
    options = json.load(open(os.path.join(full, "training_options.json")))
    assert options["conditional"] and options["method_options"]["arch"] == ("acgan_dcgan" if "--arch" in extra
                                                                            else "stylegan2")

    # run_generator.py generate-images --class: the class's one-hot reaches G.
    G = snap.G_ema
    out = {k: run_generator(["generate-images", f"--network={full}", "--seeds=5", f"--class={k}",
                             "--truncation-psi=1", "--noise-mode=const", f"--result-dir={tmp_path / 'gen'}"])
           for k in (2, 7)}
    z = np.random.RandomState(5).randn(1, G.z_dim).astype(np.float32)
    for k, outdir in out.items():
        image = np.asarray(PIL.Image.open(os.path.join(outdir, "seed0005.png")), np.float64)
        expected = G.synthesis(G.mapping(z, np.eye(10, dtype=np.float32)[[k]]), noise_mode="const")
        np.testing.assert_allclose(image, np.rint(np.clip(np.asarray(expected[0]) * 127.5 + 127.5, 0, 255)),
                                   atol=1.0)
    assert not np.array_equal(*(np.asarray(PIL.Image.open(os.path.join(d, "seed0005.png"))) for d in out.values()))

    # Inception Score per class and overall (a stand-in feature network: comparable numbers need the 2015 graph).
    dataset = ImageDataset(os.path.join(data_dir, "cifar"))
    ctx = MetricContext(G, dataset, networks={"inception": StandInInception()}, batch_size=8, num_images=40,
                        sampling=ACGANMethod.sampling(snap), snapshot=snap)
    results = run_metrics(ctx, ["is50k_classes"], log=lambda _: None)
    inception = StandInInception()
    logits = []
    for k in range(10):  # 4 fakes of class k from RandomState(k): z for a batch of 8, the first 4 kept
        zk = np.random.RandomState(k).randn(8, G.z_dim).astype(np.float32)
        images = G(zk, np.eye(10, dtype=np.float32)[[k] * 8], truncation_psi=1.0)[:4]
        logits.append(np.asarray(inception(to_uint8_range(images))["logits"]))
        score, _ = arithmetic.inception_score_from_logits(logits[-1], num_splits=4)
        np.testing.assert_allclose(results[f"is50k_classes_class{k}"], score, rtol=1e-4)
    logits = np.concatenate(logits)[np.random.RandomState(0).permutation(40)]
    np.testing.assert_allclose(results["is50k_classes"], arithmetic.inception_score_from_logits(logits, 10)[0],
                               rtol=1e-4)
