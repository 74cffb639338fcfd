"""`--method lis` through the loop and the root scripts: the optimizer's step on the LIS modules (similarity loss, in
NumPy), 1 device == 2 replicas, exact resume, depth-r images identical in training grids, run_generator.py and
metrics, R-iterative, fine-tuning a StyleGAN2 snapshot, R-separate (train_r, resume, repair), broken10k and is50k
per depth, the samplers and plots, one-line errors."""

import json
import os

import keras
import numpy as np
import PIL.Image
import pytest
import tensorflow as tf

from lis import train_r
from lis.method import LISMethod
from lis.networks import ChainedGenerator, LISGenerator
from stylegan2 import generate
from stylegan2.dataset import ImageDataset
from stylegan2.errors import UserError
from stylegan2.images import to_uint8
from stylegan2.metrics import arithmetic
from stylegan2.metrics import cli as metrics_cli
from stylegan2.metrics.runner import MetricContext, run_metrics
from stylegan2.training import cli
from stylegan2.training.loop import TrainingLoop
from stylegan2.training.method import Draws
from stylegan2.training.snapshot import latest_snapshot, load_snapshot, open_for_sampling
from stylegan2.training.strategy import mirrored_strategy
from tests.fixtures import one_line_user_error, sgd_training_loop, write_random_dataset
from tests.test_lis_layers import np_module
from tests.test_metrics import STAND_INS, intensity_classifier

LR = 10.0  # SGD: a step's change / -LR is the gradient; large, so that float32 resolves it on weights of ~25
TINY = ["--config", "tiny", "--kimg-per-tick", "0.016", "--grid", "2x2"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """64 8x8 RGB images (no labels)."""
    return write_random_dataset(tmp_path_factory.mktemp("lis"), 64)


def argv(data_dir, tmp_path, *extra):
    return ["--method", "lis", "--data-dir", data_dir, "--dataset", "ds", *TINY, "--result-dir",
            str(tmp_path / "results"), *extra]


def weights(model):
    return [np.array(w) for w in model.weights]


# === The step the optimizer takes ===


def sgd_lis_loop(data_dir, tmp_path, *extra):
    options, _ = cli.build_options(argv(data_dir, tmp_path, "--batch", "8", *extra))
    return sgd_training_loop(options, LR)


@pytest.mark.parametrize("depth", [2, 0])
def test_g_step_on_lis_modules_is_the_similarity_gradient(data_dir, tmp_path, depth):
    """With D = 0 (all its weights zeroed) the adversarial term is constant, so the G step on the LIS modules is the
    gradient of sum_{i<=depth} 0.9^i MSE(z'_i, z), averaged over the batch: compared with central differences of the
    same loss in NumPy (from the stored weights), through the loop's compiled step with SGD."""
    loop = sgd_lis_loop(data_dir, tmp_path)
    for w in loop.D.weights:
        w.assign(tf.zeros_like(w))
    loop.method.draw_depth = lambda ctx: tf.constant(depth, tf.int32)
    loop._build_steps()
    mapping = loop.G.mapping
    seed = loop.rng.make_seeds(1)[:, 0]
    draws = Draws(seed, 8)  # g_main draws the fakes' label rows, then z
    draws.uniform([], 8, minval=0, maxval=64, dtype=tf.int64)
    z = np.asarray(draws.normal([loop.G.z_dim]), np.float64)
    probes = [(0, "fc1", "weight", (1, 2)), (1, "act", "slope", (3,)), (1, "fc2", "weight", (4, 0)),
              (2, "fc1", "weight", (0, 0))]
    variables = [getattr(getattr(mapping.lis[m], layer), name) for m, layer, name, _ in probes]
    synthesis_before = weights(loop.G.synthesis)
    before = [np.array(v, np.float64) for v in variables]

    def numpy_loss():
        x, total = z, 0.0
        for i, module in enumerate(mapping.lis[:depth], start=1):
            x = np_module(x, module)
            total += 0.9 ** i * np.mean((x - z) ** 2)
        return total

    expected = []
    for (m, layer, name, idx), var, value in zip(probes, variables, before):
        h = 1e-3 * max(abs(value[idx]), 1e-2)
        grads = []
        for sign in (1, -1):
            v = value.copy()
            v[idx] += sign * h
            var.assign(v)
            grads.append(numpy_loss())
        var.assign(value)
        expected.append((grads[0] - grads[1]) / (2 * h))
    loop.g_main_step(seed, *loop.method.phase_inputs("G_main", loop))
    for (m, layer, name, idx), var, value, want in zip(probes, variables, before, expected):
        got = (value[idx] - float(np.array(var, np.float64)[idx])) / LR
        if m >= depth:
            assert got == 0 and want == 0, (m, layer, name)
        else:
            np.testing.assert_allclose(got, want, rtol=2e-2, atol=1e-7, err_msg=f"lis{m}/{layer}/{name}")
    for a, b in zip(synthesis_before, weights(loop.G.synthesis)):  # the adversarial term moved nothing
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_one_device_equals_two_replicas(data_dir, tmp_path):
    """The depth is one draw for the global batch (ctx.draws.scalar), so 2 replicas take the 1-device step."""
    def three_steps(strategy):
        options, _ = cli.build_options(argv(data_dir, tmp_path, "--batch", "8"))
        options.network_overrides = {"D_kwargs": {"mbstd_group_size": 1}}
        loop = TrainingLoop(options, strategy=strategy)
        loop.prepare()
        return loop, [loop.train_iteration() for _ in range(3)]

    single, a_stats = three_steps(tf.distribute.get_strategy())
    double, b_stats = three_steps(mirrored_strategy(["/cpu:0", "/cpu:1"]))
    for a, b in zip(a_stats, b_stats):
        assert a.keys() == b.keys() and "Loss/lis/similarity" in a and "Loss/G/depth3" in a
        for name in a:
            assert a[name][1] == b[name][1], name
            np.testing.assert_allclose(a[name][0] / max(a[name][1], 1), b[name][0] / max(b[name][1], 1), rtol=1e-4,
                                       atol=1e-5, err_msg=name)
    for model in ("G", "D", "G_ema"):
        for wa, wb in zip(weights(getattr(single, model)), weights(getattr(double, model))):
            np.testing.assert_allclose(wa, wb, rtol=1e-4, atol=1e-4, err_msg=model)


# === Runs, resume, depth-r sampling ===


@pytest.fixture(scope="module")
def lis_run(data_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lisrun")
    return cli.main(argv(data_dir, tmp, "--total-kimg", "0.064", "--snapshot-ticks", "2")), tmp


@pytest.mark.slow
def test_resumed_run_equals_uninterrupted_run(data_dir, lis_run):
    full, tmp = lis_run
    part = cli.main(argv(data_dir, tmp / "b", "--total-kimg", "0.032", "--snapshot-ticks", "2"))
    assert cli.main(["--data-dir", data_dir, "--dataset", "ds", "--resume", part, "--total-kimg", "0.064"]) == part
    a, b = load_snapshot(full), load_snapshot(part)
    for name in ("G", "D", "G_ema"):
        for wa, wb in zip(weights(getattr(a, name)), weights(getattr(b, name))):
            np.testing.assert_allclose(wa, wb, rtol=1e-5, atol=1e-6, err_msg=name)


def test_run_writes_depth_grids_and_records_the_depth(lis_run):
    run_dir, _ = lis_run
    files = set(os.listdir(run_dir))
    for tag in ("_init", "000000.032", "000000.064"):
        assert {f"fakes{tag}-r{r}.png" for r in range(4)} | {f"chains{tag}.png"} <= files
    snap = load_snapshot(run_dir)
    assert snap.metadata["sampling"] == {"labels": "none",
                                         "lis": {"mode": "g_lis", "modules": 3, "space": "z", "depth": 3}}
    assert snap.metadata["method_options"]["lambda_r"] == 0.9
    log = open(os.path.join(run_dir, "log.txt")).read()
    assert "Loss/lis/r0" in log and "Loss/D/fake_depth0" in log and "LIS/depth" in log
    # Chains: 4 latents per row, each at depths 0..3 (8x8 images, grid 2x2 = 4 latents).
    assert PIL.Image.open(os.path.join(run_dir, "chains000000.064.png")).size == (4 * 4 * 8, 8)


def test_depth_r_images_agree_in_training_grids_run_generator_and_metrics(lis_run, tmp_path):
    run_dir, _ = lis_run
    snap = load_snapshot(run_dir)
    G = snap.G_ema
    options = json.load(open(os.path.join(run_dir, "training_options.json")))
    # The training grid: z and noise from RandomState(seed), as the loop's _setup_grid draws them.
    rnd = np.random.RandomState(options["seed"])
    grid_z = rnd.randn(4, G.z_dim).astype(np.float32)
    grid_noise = [rnd.randn(4, h, w, 1).astype(np.float32) for h, w in G.synthesis.noise_shapes]
    for r in (0, 2, 3):
        direct = G.synthesis(G.mapping(grid_z, depth=r), noise=grid_noise)
        grid = np.asarray(PIL.Image.open(os.path.join(run_dir, f"fakes000000.064-r{r}.png")))
        np.testing.assert_array_equal(grid[:8, :8], to_uint8(np.asarray(direct))[0])
        # run_generator.py generate-images --depth r (NVIDIA's seed -> z, stored noise).
        out = generate.run(["generate-images", f"--network={run_dir}", "--seeds=5", "--truncation-psi=1",
                            "--noise-mode=const", f"--depth={r}", f"--result-dir={tmp_path / str(r)}"])
        z5 = np.random.RandomState(5).randn(1, G.z_dim).astype(np.float32)
        want = to_uint8(np.asarray(G.synthesis(G.mapping(z5, depth=r), noise_mode="const")))[0]
        np.testing.assert_array_equal(np.asarray(PIL.Image.open(os.path.join(out, "seed0005.png"))), want)
        # Metrics: the images MetricContext generates at --depth r (noise strengths zeroed: metrics draw random
        # per-layer noise, which would differ from any direct call).
        _, G_r, sampling = open_for_sampling(run_dir, {"depth": r})
        for w in G_r.weights:
            if "noise_strength" in w.path:
                w.assign(tf.zeros_like(w))
        assert G_r.mapping.depth == r
        ctx = MetricContext(G_r, ImageDataset(snap.metadata["dataset"]), sampling=sampling, batch_size=4)
        z = np.random.RandomState(0).randn(4, G.z_dim).astype(np.float32)
        np.testing.assert_allclose(np.asarray(next(ctx.generated(4))),
                                   np.asarray(G_r.synthesis(G_r.mapping(z, depth=r))), atol=1e-5)


def test_bad_depth_and_flags_are_one_line(data_dir, lis_run, tmp_path):
    run_dir, _ = lis_run
    one_line_user_error(generate.run, ["generate-images", f"--network={run_dir}", "--seeds=1", "--depth=4",
                                       f"--result-dir={tmp_path}"], "--depth 4: this snapshot has 3 LIS modules")
    one_line_user_error(generate.run, ["generate-images", f"--network={run_dir}", "--seeds=1",
                                       f"--r-encoder={tmp_path / 'none.keras'}", f"--result-dir={tmp_path}"],
                        "--r-encoder", "file not found")
    for extra, fragment in ((["--r-iterations", "-1"], "--r-iterations -1"),
                            (["--lis-mode", "r_iterative", "--lis-space", "w"], "options of --lis-mode g_lis"),
                            (["--spatial-dropout-r", "0.1"], "an option of --lis-mode r_iterative"),
                            (["--lambda-r", "-1"], "--lambda-r -1.0: must be 0 or more"),
                            (["--lis-norm", "batch"], "invalid choice")):
        one_line_user_error(cli.build_options, argv(data_dir, tmp_path, *extra), fragment)


# === R-iterative ===


@pytest.mark.slow
def test_r_iterative_run_and_its_depth_r_chains(data_dir, tmp_path):
    run_dir = cli.main(argv(data_dir, tmp_path, "--lis-mode", "r_iterative", "--r-iterations", "2",
                            "--spatial-dropout-r", "0.1", "--total-kimg", "0.032"))
    assert os.path.basename(run_dir).endswith("-riter2")
    snap = load_snapshot(run_dir)
    G = snap.G_ema
    assert isinstance(G, LISGenerator) and G.reverser is not None and G.mapping.lis_modules == 0
    assert snap.metadata["sampling"]["lis"] == {"mode": "r_iterative", "iterations": 2, "depth": 2}
    log = open(os.path.join(run_dir, "log.txt")).read()
    assert "Loss/R/mse1" in log and "Loss/G/step2" in log and "Loss/D/fake_step0" in log
    out = generate.run(["generate-images", f"--network={run_dir}", "--seeds=3", "--truncation-psi=1",
                        "--noise-mode=const", "--depth=2", f"--result-dir={tmp_path / 'gen'}"])
    z = np.random.RandomState(3).randn(1, G.z_dim).astype(np.float32)
    for _ in range(2):  # z -> G(z) -> R -> z'
        z = G.reverser(G.synthesis(G.mapping(z), noise_mode="const"))
    want = to_uint8(np.asarray(G.synthesis(G.mapping(z), noise_mode="const")))[0]
    np.testing.assert_array_equal(np.asarray(PIL.Image.open(os.path.join(out, "seed0003.png"))), want)


def test_r_iterative_loss_combines_the_trained_steps(data_dir, tmp_path):
    """G main = sum over trained steps of softplus(-D(x_k)) + lambda^k MSE(z_k, z_0) (k >= 1); untrained steps add
    nothing; R gets (1 - lambda^k) of the adversarial gradient through z_k."""
    from lis.losses import scale_gradient

    loop = sgd_lis_loop(data_dir, tmp_path, "--lis-mode", "r_iterative", "--r-iterations", "2")
    method = loop.method
    trained = tf.constant([0.0, 1.0, 1.0])
    method.trained_steps = lambda ctx: trained
    from stylegan2.training.method import StepContext

    ctx = StepContext(loop, tf.constant([3, 4], tf.int64), 8)
    loss, stats = method.g_main(ctx)
    ctx = StepContext(loop, tf.constant([3, 4], tf.int64), 8)
    c, z0, steps = method.chain(ctx, 8)
    expected = np.zeros(8)
    for k, (z_k, images) in enumerate(steps):
        adv = np.log1p(np.exp(-np.asarray(loop.D(images), np.float64)[:, 0]))
        term = adv + (0.9 ** k * np.mean((np.asarray(z_k, np.float64) - np.asarray(z0)) ** 2, axis=1) if k else 0)
        expected += float(trained[k]) * term
        if k:
            np.testing.assert_allclose(stats[f"Loss/R/mse{k}"], np.mean((np.asarray(z_k) - np.asarray(z0)) ** 2, 1),
                                       rtol=1e-5)
    np.testing.assert_allclose(np.asarray(loss), expected, rtol=1e-4, atol=1e-5)
    assert stats["Loss/G/step0"].shape == (0,)  # step 0 not trained
    x = tf.constant([1.0, -2.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(scale_gradient(x, 0.19) * 3.0)
    np.testing.assert_allclose(np.asarray(scale_gradient(x, 0.19)), [1.0, -2.0])
    np.testing.assert_allclose(np.asarray(tape.gradient(y, x)), [0.57, 0.57], rtol=1e-6)


# === Fine-tuning a StyleGAN2 snapshot with LIS modules added ===


@pytest.mark.slow
def test_fine_tuning_a_stylegan2_snapshot_adds_modules(data_dir, tmp_path):
    plain = cli.main(["--method", "stylegan2", "--data-dir", data_dir, "--dataset", "ds", *TINY, "--total-kimg",
                      "0.016", "--result-dir", str(tmp_path / "plain")])
    snapshot = latest_snapshot(plain)
    options, _ = cli.build_options(argv(data_dir, tmp_path, "--resume", snapshot, "--total-kimg", "0.048"))
    loop = TrainingLoop(options)
    loop.prepare()
    source = load_snapshot(snapshot)
    for name in ("G", "D", "G_ema"):
        src = {w.path.split("/", 1)[1]: np.array(w) for w in getattr(source, name).weights}
        for w in getattr(loop, name).weights:
            key = w.path.split("/", 1)[1]
            if "/lis" in key:
                assert key not in src
            else:
                np.testing.assert_array_equal(np.array(w), src[key], err_msg=key)
    lis_g = [np.array(w) for w in loop.G.weights if "/lis" in w.path]
    lis_ema = [np.array(w) for w in loop.G_ema.weights if "/lis" in w.path]
    assert len(lis_g) == 12
    for a, b in zip(lis_g, lis_ema):  # the new modules start equal in G and G_ema
        np.testing.assert_array_equal(a, b)
    run_dir = cli.main(argv(data_dir, tmp_path / "ft", "--resume", snapshot, "--total-kimg", "0.048"))
    assert "Fine-tuning: 12 weights of this run are not in" in open(os.path.join(run_dir, "log.txt")).read()
    assert load_snapshot(run_dir).metadata["kimg"] == 0.048
    # Another configuration does not fit: one line.
    with pytest.raises(UserError, match="fine-tune from a snapshot of the same --config and dataset"):
        loop = TrainingLoop(cli.build_options(argv(data_dir, tmp_path, "--resume", snapshot, "--config", "small"))[0])
        loop.prepare()


# === R-separate ===


@pytest.mark.slow
def test_train_r_resumes_exactly_and_repairs(lis_run, tmp_path):
    run_dir, _ = lis_run
    common = ["--network", run_dir, "--batch-size", "4", "--log-interval", "2", "--vis-interval", "3",
              "--save-interval", "2"]
    full = train_r.main.__wrapped__(common + ["--niter", "6", "--result-dir", str(tmp_path / "a")])
    part = train_r.main.__wrapped__(common + ["--niter", "4", "--result-dir", str(tmp_path / "b")])
    assert train_r.main.__wrapped__(["--resume", part, "--niter", "6"]) == part
    a, b = (keras.saving.load_model(os.path.join(d, "encoder-last.keras")) for d in (full, part))
    for wa, wb in zip(a.weights, b.weights):
        np.testing.assert_allclose(np.array(wa), np.array(wb), rtol=1e-5, atol=1e-6)
    assert a.metadata["iterations"] == 6 and a.metadata["spatial_dropout_r"] == 0.1
    files = set(os.listdir(full))
    assert {"encoder-000002.keras", "encoder-000006.keras", "samples-000000.png", "samples_r-000003.png",
            "samples_both-000006.png", "log.txt", "options.json"} <= files
    assert "6 | loss: r:" in open(os.path.join(full, "log.txt")).read()
    # Repair through run_generator.py: G(R(G(z))) with both G calls at the requested depth.
    encoder = os.path.join(full, "encoder-last.keras")
    out = generate.run(["generate-images", f"--network={run_dir}", "--seeds=2", "--truncation-psi=1",
                        "--noise-mode=const", "--depth=1", f"--r-encoder={encoder}", f"--result-dir={tmp_path / 'g'}"])
    G = load_snapshot(run_dir).G_ema
    z = np.random.RandomState(2).randn(1, G.z_dim).astype(np.float32)
    z_fixed = a(G.synthesis(G.mapping(z, depth=1), noise_mode="const"))
    want = to_uint8(np.asarray(G.synthesis(G.mapping(z_fixed, depth=1), noise_mode="const")))[0]
    np.testing.assert_array_equal(np.asarray(PIL.Image.open(os.path.join(out, "seed0002.png"))), want)


# === Metrics ===


def test_broken_fraction_and_is_per_depth(lis_run, tmp_path, monkeypatch):
    run_dir, _ = lis_run
    snap = load_snapshot(run_dir)
    dataset = ImageDataset(snap.metadata["dataset"])
    classifier = intensity_classifier()
    for r in (0, 3):
        _, G, sampling = open_for_sampling(run_dir, {"depth": r})
        ctx = MetricContext(G, dataset, sampling=sampling, batch_size=8, num_images=24, classifier=classifier,
                            networks=STAND_INS, cache_dir=str(tmp_path))
        results = run_metrics(ctx, ["broken10k", "is50k"], log=lambda _: None)
        images = np.concatenate([b.numpy() for b in ctx.generated(24)])
        # The classifier reads each channel's central 28x28 of the image resized to 32x32 (digit_probabilities).
        x = tf.image.resize(tf.constant(images), [32, 32], method="bilinear")[:, 2:-2, 2:-2, :]
        digits = tf.reshape(tf.transpose((tf.clip_by_value(x, -1, 1) + 1) / 2, [0, 3, 1, 2]), [-1, 28, 28, 1])
        logits = np.asarray(classifier(digits), np.float64).reshape(24, 3, 10)
        probs = np.exp(logits - logits.max(-1, keepdims=True))
        probs /= probs.sum(-1, keepdims=True)
        confidence = probs.max(-1).min(-1)
        np.testing.assert_allclose(results["broken10k"], np.mean(confidence < 0.9))
        np.testing.assert_allclose(results["broken10k_confidence"], confidence.mean(), rtol=1e-5)
        classes = (probs.argmax(-1) * np.array([1, 10, 100])).sum(-1)
        np.testing.assert_allclose(results["broken10k_kl"], arithmetic.kl_to_uniform(classes, 1000), rtol=1e-9)
        feats = STAND_INS["inception"](tf.cast(tf.saturate_cast(images * 127.5 + 128, tf.uint8), tf.float32))
        score, _ = arithmetic.inception_score_from_logits(np.asarray(feats["logits"]), num_splits=10)
        np.testing.assert_allclose(results["is50k"], score, rtol=1e-4)
    # Through run_metrics.py with --depth and a classifier file.
    path = str(tmp_path / "clf.keras")
    classifier.save(path)
    _, results = metrics_cli.main.__wrapped__(["--metrics", "broken10k", "--network", latest_snapshot(run_dir),
                                               "--depth", "1", "--digit-classifier", path, "--metrics-num-images",
                                               "16", "--result-dir", str(tmp_path / "m")])
    assert set(next(iter(results.values()))) == {"broken10k", "broken10k_confidence", "broken10k_classes",
                                                 "broken10k_kl"}


# === Samplers and plots ===


@pytest.mark.slow
def test_samplers_write_their_sheets_and_plots(lis_run, tmp_path):
    from lis import sample_density, sample_images, sample_tsne

    run_dir, _ = lis_run
    out = sample_images.main.__wrapped__(["--network", run_dir, "--rounds", "1", "--result-dir", str(tmp_path)])
    sheet = PIL.Image.open(os.path.join(out, "sampled_images_r2", "r2_full_0000.png"))
    assert sheet.size == (16 * 8, 16 * 8)
    assert PIL.Image.open(os.path.join(out, "sampled_images_chains", "chain_small_0000.png")).size == (4 * 4 * 8, 4 * 8)
    assert PIL.Image.open(os.path.join(out, "sampled_images_interpolations_all", "interp_all_0000.png")).size == \
        (10 * 8, 4 * 8)
    out = sample_tsne.main.__wrapped__(["--network", run_dir, "--nb-points", "200", "--perplexity", "10",
                                        "--max-iter", "250", "--result-dir", str(tmp_path)])
    points = np.loadtxt(os.path.join(out, "embedded_points_r03.csv"), delimiter=",", comments="#")
    assert points.shape == (200, 2)
    assert PIL.Image.open(os.path.join(out, "tsne_all.png")).size == (4 * 520, 2 * 520)
    out = sample_density.main.__wrapped__(["--network", run_dir, "--nb-points", "2000", "--components", "3",
                                           "--result-dir", str(tmp_path)])
    hist = np.loadtxt(os.path.join(out, "density_r02_v001.csv"), delimiter=",", skiprows=1)
    assert hist.shape == (100, 2) and abs(hist[:, 1].sum() - 1) < 1e-4
    assert {"density_all_v002.png", "density_r03_v000.png", "density_grid.png"} <= set(os.listdir(out))


def test_chained_generator_is_a_sampler_generator(lis_run):
    G = load_snapshot(lis_run[0]).G_ema
    R = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(), keras.layers.Dense(G.z_dim)])
    chained = ChainedGenerator(G, R, 1)
    z = np.random.RandomState(0).randn(2, G.z_dim).astype(np.float32)
    assert (chained.z_dim, chained.num_ws, chained.img_resolution) == (G.z_dim, G.num_ws, G.img_resolution)
    inner = G.synthesis(G.mapping(z), noise_mode="const")
    np.testing.assert_allclose(np.asarray(chained(z, noise_mode="const")),
                               np.asarray(G(np.asarray(R(inner)), noise_mode="const")), atol=1e-5)
    assert LISMethod.name == "lis"
